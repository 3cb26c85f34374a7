"""`tessera template`: options, inputs, errors and exit codes.

Uses the committed vocab-only files: tests/data/tokenizer/smollm2.gguf and
qwen2.gguf carry their models' chat templates, gemma3.gguf carries none
(ChatML fallback). Expected prompts come from tests/data/templates/golden.json
(jinja2's renders, with the same BOS/EOS texts as these files).
"""
import json
import os
import pathlib
import re
import subprocess

import pytest

TESTS = pathlib.Path(__file__).resolve().parent.parent
TOKENIZER = TESTS / "data" / "tokenizer"
TEMPLATES = TESTS / "data" / "templates"
SMOLLM2 = TOKENIZER / "smollm2.gguf"
QWEN2 = TOKENIZER / "qwen2.gguf"
GEMMA3 = TOKENIZER / "gemma3.gguf"
DATE = "2025-03-05"

GOLDEN = json.loads((TEMPLATES / "golden.json").read_text(encoding="utf-8"))
CONVERSATIONS = {c["name"]: c for c in json.loads(
    (TEMPLATES / "conversations.json").read_text(encoding="utf-8"))["conversations"]}

HELLO = [{"role": "user", "content": "Hello"}]


def golden(template, conversation, add_generation_prompt=True):
    for c in GOLDEN["cases"]:
        if (c["template"], c["conversation"], c["add_generation_prompt"]) == (
                template, conversation, add_generation_prompt):
            return c["output"].encode("utf-8")
    raise KeyError((template, conversation))


def write_json(tmp_path, doc, name="messages.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def write_template(tmp_path, text, name="t.jinja"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def ok(proc):
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    return proc.stdout


def one_error_line(proc, code):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.decode("utf-8", "replace")
    first = err.split("\n")[0]
    assert first.startswith("tessera: "), err
    if code == 1:
        assert err.count("\n") == 1, f"expected one line: {err!r}"
    return err


def render(tessera, tmp_path, text, messages=HELLO, *args):
    """Render template text (no model) with messages; the CompletedProcess."""
    return tessera("template", "--template", write_template(tmp_path, text),
                   write_json(tmp_path, messages), *args)


# ------------------------------------------------------------ model files


@pytest.mark.parametrize("conversation,gen", [("user", True), ("system-multi-turn", False),
                                              ("unicode", True), ("think-history", True)])
def test_smollm2_template_from_model(tessera, tmp_path, conversation, gen):
    msgs = write_json(tmp_path, CONVERSATIONS[conversation]["messages"])
    args = ["template", "-m", SMOLLM2, msgs] + ([] if gen else ["--no-generation-prompt"])
    assert ok(tessera(*args)) == golden("smollm2-135m-instruct", conversation, gen)


def test_qwen2_tools_from_object(tessera, tmp_path):
    conv = CONVERSATIONS["tool-call"]
    msgs = write_json(tmp_path, {"messages": conv["messages"], "tools": conv["tools"]})
    out = ok(tessera("template", "-m", QWEN2, msgs))
    assert out == golden("qwen2.5-coder-0.5b-instruct", "tool-call")
    assert "température actuelle 🌡".encode() in out  # tojson keeps non-ASCII


def test_messages_from_stdin(tessera_bin):
    proc = subprocess.run([tessera_bin, "template", "-m", SMOLLM2, "-"],
                          input=json.dumps(CONVERSATIONS["user"]["messages"]).encode(),
                          capture_output=True, timeout=60, check=False)
    assert ok(proc) == golden("smollm2-135m-instruct", "user")


def test_model_without_template_gets_chatml(tessera, tmp_path):
    msgs = write_json(tmp_path, [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": "Hi"}])
    proc = tessera("template", "-m", GEMMA3, msgs)
    assert ok(proc) == (b"<|im_start|>system\nBe brief.<|im_end|>\n"
                        b"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    err = proc.stderr.decode()
    assert "ChatML" in err and "gemma3.gguf" in err, err
    proc = tessera("template", "-m", GEMMA3, msgs, "--no-generation-prompt")
    assert ok(proc).endswith(b"<|im_start|>user\nHi<|im_end|>\n")


def test_template_file_overrides_model(tessera, tmp_path):
    t = write_template(tmp_path, "[{{ bos_token }}|{{ eos_token }}|{{ messages[0].content }}]")
    assert ok(tessera("template", "-m", GEMMA3, "--template", t,
                      write_json(tmp_path, HELLO))) == b"[<bos>|<eos>|Hello]"
    # without a model the tokens are undefined, which prints as nothing
    assert ok(tessera("template", "--template", t, write_json(tmp_path, HELLO))) == b"[||Hello]"


# ------------------------------------------------------------- variables


def test_context_variables(tessera, tmp_path):
    t = ("{{ add_generation_prompt }} {{ tools is none }} {{ documents is none }} "
         "{{ messages | length }}")
    assert ok(render(tessera, tmp_path, t)) == b"True True True 1"
    assert ok(render(tessera, tmp_path, t, HELLO, "--no-generation-prompt")) == b"False True True 1"
    assert ok(render(tessera, tmp_path, t, {"messages": HELLO, "tools": []})) == b"True False True 1"


def test_object_keys_and_vars(tessera, tmp_path):
    t = "{{ a }}|{{ b }}|{{ c | tojson }}|{{ d }}"
    doc = {"messages": HELLO, "a": "from-file", "b": 1, "c": {"k": [1, 2.5, None, True]}}
    assert ok(render(tessera, tmp_path, t, doc)) == b'from-file|1|{"k": [1, 2.5, null, true]}|'
    assert ok(render(tessera, tmp_path, t, doc, "--var", 'a="from-var"', "--var", "d=false",
                     "--var", "d=null")) == b'from-var|1|{"k": [1, 2.5, null, true]}|None'


def test_var_overrides_model_tokens(tessera, tmp_path):
    t = write_template(tmp_path, "{{ bos_token }}{{ messages[0].content }}")
    msgs = write_json(tmp_path, HELLO)
    assert ok(tessera("template", "-m", SMOLLM2, "--template", t, msgs)) == b"<|im_start|>Hello"
    assert ok(tessera("template", "-m", SMOLLM2, "--template", t, msgs,
                      "--var", 'bos_token="<s>"')) == b"<s>Hello"


def test_unicode_and_nul_in_content(tessera, tmp_path):
    msgs = [{"role": "user", "content": "a\u0000b ünï 🌍"}]
    out = ok(render(tessera, tmp_path, "{{ messages[0].content }}|{{ messages[0].content | length }}",
                    msgs))
    assert out == "a\u0000b ünï 🌍|9".encode()


@pytest.mark.parametrize("date,fmt,want", [
    ("2024-02-29", "%Y-%m-%d", "2024-02-29"),
    ("2025-03-05", "%d %b %Y", "05 Mar 2025"),
    ("1999-12-31", "%A %B %d %H:%M:%S", "Friday December 31 00:00:00"),
])
def test_date(tessera, tmp_path, date, fmt, want):
    t = "{{ strftime_now('%s') }}" % fmt
    assert ok(render(tessera, tmp_path, t, HELLO, "--date", date)) == want.encode()


def test_date_defaults_to_now(tessera, tmp_path):
    out = ok(render(tessera, tmp_path, "{{ strftime_now('%Y') }}"))
    assert re.fullmatch(rb"20\d\d", out), out


# --------------------------------------------------------------- errors


def test_raise_exception(tessera, tmp_path):
    err = one_error_line(render(tessera, tmp_path, "{{ raise_exception('Roles must alternate!') }}"), 1)
    assert "Roles must alternate!" in err


def test_real_template_refusal(tessera, tmp_path):
    msgs = write_json(tmp_path, CONVERSATIONS["not-alternating"]["messages"])
    proc = tessera("template", "--template", TEMPLATES / "gemma-3-it.jinja", msgs)
    assert "Conversation roles must alternate" in one_error_line(proc, 1)


def test_syntax_error_names_line_and_column(tessera, tmp_path):
    err = one_error_line(render(tessera, tmp_path, "ok\n{% for m in messages %}\n{{ m.role }}"), 1)
    assert re.search(r"line \d+", err), err


def test_type_error(tessera, tmp_path):
    one_error_line(render(tessera, tmp_path, "{{ 'a' + 1 }}"), 1)


@pytest.mark.parametrize("text", [
    "{% for i in range(1000000000) %}{% endfor %}",                       # range over jinja2's cap
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",  # 10^10 steps
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",             # unbounded recursion
    "{{ 'x' * 1000000000 }}",                                             # output explosion
    "{% set s = namespace(v='x') %}{% for i in range(64) %}{% set s.v = s.v ~ s.v %}{% endfor %}{{ s.v }}",
    # shared sub-lists: 2^60 leaves behind 60 list headers, serialized / compared
    "{% set s = namespace(v=[1]) %}{% for i in range(60) %}{% set s.v = [s.v, s.v] %}{% endfor %}"
    "{{ s.v | tojson | length }}",
    "{% set s = namespace(a=[1], b=[1]) %}{% for i in range(60) %}{% set s.a = [s.a, s.a] %}"
    "{% set s.b = [s.b, s.b] %}{% endfor %}{{ s.a == s.b }}",
])
def test_runaway_templates_are_stopped(tessera_bin, tmp_path, text):
    msgs = write_json(tmp_path, HELLO)
    proc = subprocess.run([tessera_bin, "template", "--template", write_template(tmp_path, text), msgs],
                          capture_output=True, timeout=60, check=False)
    err = one_error_line(proc, 1)
    assert proc.stdout == b""
    assert re.search(r"max_(steps|output|depth)|limit|too (big|large|long|deep)", err), err


@pytest.mark.parametrize("text", [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ messages.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ raise_exception.__globals__ }}",
    "{{ open('/etc/passwd').read() }}",
    "{{ config.items() }}",
    "{{ request.application }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ ''|attr('__class__') }}",
    "{{ messages[0]['__class__'] }}",
])
def test_sandbox_refuses_reflection(tessera, tmp_path, text):
    proc = render(tessera, tmp_path, text)
    if proc.returncode == 0:  # undefined prints as nothing, as in jinja2
        assert not re.search(rb"class|module|function|built-?in|root:|uid=|<", proc.stdout), proc.stdout
    else:
        one_error_line(proc, 1)


@pytest.mark.parametrize("content,match", [
    (b"[{\"role\": \"user\", \"content\": \"x\"}", r"line \d+, column \d+"),  # truncated JSON
    (b"{\"role\": \"user\"}", r"messages"),                                   # object without messages
    (b"\"just a string\"", r"array"),
    (b"{\"messages\": [], \"tools\": 3}", r"tools"),
])
def test_bad_messages_file(tessera, tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    err = one_error_line(tessera("template", "-m", SMOLLM2, path), 1)
    assert re.search(match, err), err


def test_missing_files(tessera, tmp_path):
    msgs = write_json(tmp_path, HELLO)
    one_error_line(tessera("template", "-m", tmp_path / "nope.gguf", msgs), 1)
    one_error_line(tessera("template", "-m", SMOLLM2, tmp_path / "nope.json"), 1)
    one_error_line(tessera("template", "--template", tmp_path / "nope.jinja", msgs), 1)


def test_not_a_gguf(tessera, tmp_path):
    msgs = write_json(tmp_path, HELLO)
    one_error_line(tessera("template", "-m", msgs, msgs), 1)


# ---------------------------------------------------------------- usage


@pytest.mark.parametrize("args", [
    [],
    ["-m", SMOLLM2],                                   # no MESSAGES.json
    ["MSGS"],                                          # neither -m nor --template
    ["-m", SMOLLM2, "MSGS", "MSGS"],                   # two MESSAGES.json
    ["-m", SMOLLM2, "MSGS", "--bogus"],
    ["-m", SMOLLM2, "MSGS", "--var", "novalue"],
    ["-m", SMOLLM2, "MSGS", "--var", "=1"],
    ["-m", SMOLLM2, "MSGS", "--var", "x=unquoted text"],
    ["-m", SMOLLM2, "MSGS", "--date", "2023-02-29"],
    ["-m", SMOLLM2, "MSGS", "--date", "2024-13-01"],
    ["-m", SMOLLM2, "MSGS", "--date", "2024-1-01"],
    ["-m", SMOLLM2, "MSGS", "--date"],
    ["--template", "-", "-"],                          # both from stdin
])
def test_usage_errors(tessera, tmp_path, args):
    msgs = str(write_json(tmp_path, HELLO))
    args = [msgs if a == "MSGS" else a for a in args]
    err = one_error_line(tessera("template", *args), 2)
    assert "usage: tessera template" in err


def test_help(tessera):
    for args in (["template", "--help"], ["help", "template"]):
        proc = tessera(*args)
        assert proc.returncode == 0 and b"usage: tessera template" in proc.stdout


def test_listed_in_commands(tessera):
    assert b"template" in tessera("--help").stdout


# ------------------------------------------------------------- terminal


def test_terminal_output_is_escaped(tessera_bin, tmp_path):
    """Raw bytes in a pipe; on a terminal, control characters are escaped."""
    t = write_template(tmp_path, "a\x1b[31mred\nline2\u202e")
    msgs = write_json(tmp_path, HELLO)
    raw = ok(subprocess.run([tessera_bin, "template", "--template", t, msgs],
                            capture_output=True, timeout=60, check=False))
    assert raw == "a\x1b[31mred\nline2\u202e".encode()
    master, slave = os.openpty()
    try:
        proc = subprocess.run([tessera_bin, "template", "--template", t, msgs],
                              stdout=slave, stderr=subprocess.PIPE, timeout=60, check=False)
        os.close(slave)
        slave = None
        assert proc.returncode == 0, proc.stderr
        shown = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    assert b"\x1b" not in shown and b"\xe2\x80\xae" not in shown, shown
    assert b"\\x1b[31mred" in shown.lower() and b"\\u202e" in shown.lower(), shown
