"""`tessera chat`: a conversation kept in the KV cache, driven through a pipe
and through a pseudo-terminal (stdlib pty, as a user's terminal: echo,
line discipline, Ctrl-C as a signal from the terminal).

What a turn decodes is read from `--stats` (one line per turn on stderr:
turn=T prompt=P cached=C prefill=F generated=G kv=K stop=REASON), where F is
measured by the engine (ts_context_get_stats' n_tokens before and after the
prompt's decode) and P, C are what the chat computed: P tokens rendered, C of
them already in the cache. The SmolLM2 tests recompute P and C here, from
`tessera template` and `tessera tokenize`, and check F = P − C.

Fast tests use the tiny random-weight model tests/data/llama/tiny/tied-f16.gguf
(no chat template: ChatML; every byte is a token, so text that looks like a
control token is plain bytes). Model tests (SmolLM2; named test_smollm2_*,
which ctest runs apart with the label `model`) check the answers: turn 1 is
`tessera run --chat`'s answer, turn 2 llama.cpp's.
"""
import errno
import json
import os
import pathlib
import pty
import re
import select
import signal
import subprocess
import time

import pytest

TINY = pathlib.Path(__file__).resolve().parent.parent / "data" / "llama" / "tiny" / "tied-f16.gguf"

EXIT_USAGE, EXIT_MODEL, EXIT_INTERRUPT = 2, 3, 130

STATS = re.compile(rb"turn=(\d+) prompt=(\d+) cached=(\d+) prefill=(\d+) generated=(\d+) "
                   rb"kv=(\d+) stop=(\w+)")
FIELDS = ("turn", "prompt", "cached", "prefill", "generated", "kv")


def turns(err):
    """The --stats lines of stderr (bytes) as dicts."""
    out = []
    for m in STATS.finditer(err):
        t = {k: int(v) for k, v in zip(FIELDS, m.groups())}
        t["stop"] = m.group(7).decode()
        out.append(t)
    return out


def check_turn(t):
    """What holds for every turn: the measured prefill is the rendered tokens
    less those found in the cache, and the cache then holds the prompt and
    every generated token that was decoded (all but the last one when the
    length limit stopped it; all of them at an end-of-generation token)."""
    assert t["prefill"] == t["prompt"] - t["cached"], t
    if t["stop"] == "eog":
        assert t["kv"] == t["prompt"] + t["generated"], t
    elif t["stop"] == "length":
        assert t["kv"] == t["prompt"] + t["generated"] - 1, t


def ok(proc):
    assert proc.returncode == 0, (proc.returncode, proc.stderr.decode())
    return proc


@pytest.fixture
def chat(tessera_bin):
    """tessera chat ARGS... with `lines` on stdin (a pipe)."""
    def go(lines, *args, timeout=300, env=None):
        text = "".join(line + "\n" for line in lines).encode()
        return subprocess.run([tessera_bin, "chat", *map(str, args)], input=text,
                              capture_output=True, timeout=timeout, env=env)
    return go


class Terminal:
    """A process on a pseudo-terminal (pty.fork: the pty is its controlling
    terminal, so ^C reaches it as SIGINT). Output is kept with the time of
    each read; CR LF (the terminal's ONLCR) is read as LF."""

    def __init__(self, argv):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            try:
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        self.out = b""
        self.reads = []  # (time, offset in self.out after the read)
        self.pos = 0     # where the next expect() starts looking
        self.status = None

    def _read(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError as e:  # EIO: the child has gone and the pty is closed
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            return None
        self.out += data.replace(b"\r\n", b"\n")
        self.reads.append((time.monotonic(), len(self.out)))
        return True

    def expect(self, pattern, timeout=120):
        """Read until `pattern` (bytes regex) matches after the last match;
        returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.out, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} within {timeout} s; output: {self.out[-2000:]!r}"
            if self._read(min(left, 1.0)) is None:
                m = rx.search(self.out, self.pos)
                assert m, f"ended before {pattern!r}; output: {self.out[-2000:]!r}"

    def send(self, text):
        os.write(self.fd, text if isinstance(text, bytes) else text.encode())

    def wait(self, timeout=60):
        """The exit status (a signal gives 128 + its number), draining output."""
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                if self.status < 0:
                    self.status = 128 - self.status
                break
            assert time.monotonic() < deadline, f"still running; output: {self.out[-2000:]!r}"
            self._read(0.1)
        return self.status

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except ProcessLookupError:
                pass
        os.close(self.fd)


@pytest.fixture
def terminal(tessera_bin):
    opened = []

    def spawn(*args):
        t = Terminal([tessera_bin, "chat", *map(str, args)])
        opened.append(t)
        return t
    yield spawn
    for t in opened:
        t.close()


PROMPT = rb"(?m)^> "
TURN = rb"turn=(\d+) [^\n]*stop=\w+\n"


def answer_lines(term, sent):
    """After a message was sent: its echo, the answer (stdout), the --stats
    line, the next prompt. Returns (answer bytes, stats dict, reads that
    brought answer bytes)."""
    echo = term.expect(re.escape(sent.encode()) + rb"\n")
    stats = term.expect(TURN)
    start, end = echo.end(), stats.start()
    body = term.out[start:end]
    term.expect(PROMPT)
    n_reads = sum(1 for _, off in term.reads if start < off <= end)
    return body, turns(stats.group(0))[0], n_reads


# ---------------------------------------------------------- tiny: pipes


def test_turns_decode_only_what_is_new(chat):
    proc = ok(chat(["hello", "how are you", "/reset", "hello"],
                   "-m", TINY, "-c", 512, "-n", 8, "--temp", 0, "--stats"))
    t1, t2, t3 = turns(proc.stderr)
    for t in (t1, t2, t3):
        check_turn(t)
    assert [t["turn"] for t in (t1, t2, t3)] == [1, 2, 3]
    # turn 1 decodes its whole render; ChatML only appends, so turn 2 finds
    # at least turn 1's render (and its answer's tokens) in the cache
    assert t1["cached"] == 0 and t1["prefill"] == t1["prompt"]
    assert t2["cached"] >= t1["prompt"]
    assert t2["prefill"] <= t2["prompt"] - t1["prompt"]
    # /reset: the whole render again, with the same answer (greedy)
    assert t3["cached"] == 0 and t3["prefill"] == t3["prompt"] == t1["prompt"]
    one = ok(chat(["hello"], "-m", TINY, "-c", 512, "-n", 8, "--temp", 0)).stdout
    assert proc.stdout.startswith(one) and proc.stdout.endswith(one)
    assert b"> " not in proc.stderr  # no prompt when stdin is a pipe
    assert b"turn=" not in proc.stdout


def test_first_answer_is_run_chat(chat, tessera):
    args = ("-m", TINY, "-c", 512, "-n", 12, "--temp", 0.9, "--seed", 5)
    one = ok(tessera("run", "--chat", "-p", "hello there", *args)).stdout
    assert ok(chat(["hello there"], *args)).stdout == one + b"\n"


def test_verbose_figures(chat):
    proc = ok(chat(["hello", "again"], "-m", TINY, "-c", 512, "-n", 4, "--temp", 0,
                   "--verbose", "-t", 1))
    err = proc.stderr.decode()
    assert re.search(r"(?m)^load: \d+\.\d{3} s \(llama, .*context 512 tokens, 1 threads, "
                     r"cpu \w+\)$", err)
    prompts = re.findall(r"(?m)^prompt: (\d+) tokens in .*, (\d+) more from the cache$", err)
    assert len(prompts) == 2 and prompts[0][1] == "0" and int(prompts[1][1]) > 0
    assert len(re.findall(r"(?m)^generate: \d+ tokens in .*, stopped: ", err)) == 2


def test_blank_lines_and_commands(chat):
    proc = ok(chat(["", "   ", "/help", "/nope", "hello", "/exit", "never read"],
                   "-m", TINY, "-c", 512, "-n", 4, "--temp", 0, "--stats"))
    assert [t["turn"] for t in turns(proc.stderr)] == [1]
    err = proc.stderr.decode()
    assert "/reset" in err  # /help
    assert "unknown command '/nope'" in err


def test_a_message_is_a_line_even_with_a_slash(chat):
    proc = ok(chat(["/etc/passwd is a file"], "-m", TINY, "-c", 512, "-n", 2, "--temp", 0,
                   "--stats"))
    assert len(turns(proc.stderr)) == 1


def test_full_context_says_so_and_refuses_the_next_message(chat):
    # "hello" renders to 56 tokens: the answer fills the 64 cells, the next
    # message cannot fit; both are said on stderr, the chat goes on (exit 0)
    proc = ok(chat(["hello", "again"], "-m", TINY, "-c", 64, "--temp", 0,
                   "--repeat-penalty", 1.0, "--stats"))
    (t,) = turns(proc.stderr)
    err = proc.stderr.decode()
    if t["stop"] == "eog":
        pytest.skip("the tiny model ended its answer before the context was full")
    assert t["stop"] == "context" and t["kv"] == 64
    assert "context is full (64 tokens): /reset" in err
    assert re.search(r"would take \d+ tokens but the context holds 64: /reset", err)
    assert proc.stdout.endswith(b"\n\n")  # the refused message's empty answer


def test_reset_after_a_full_context_starts_again(chat):
    proc = ok(chat(["hello", "/reset", "hello"], "-m", TINY, "-c", 64, "--temp", 0,
                   "--stats"))
    t1, t2 = turns(proc.stderr)
    assert t2["cached"] == 0 and t2["prompt"] == t1["prompt"]


@pytest.mark.parametrize("args", [
    ("--bogus",), ("-p", "hi"), ("extra",), ("-n", "x"), ("-n",), ("-c", "0"),
    ("--temp", "nan"), ("--top-p", "0"), ("--seed", "-1"),
])
def test_bad_options(chat, args):
    proc = chat(["hi"], "-m", TINY, *args)
    assert proc.returncode == EXIT_USAGE, proc.stderr.decode()
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tessera: chat: "), lines
    assert proc.stdout == b""


def test_missing_model(chat, tmp_path):
    proc = chat(["hi"], "-m", tmp_path / "nope.gguf")
    assert proc.returncode == EXIT_MODEL and b"nope.gguf" in proc.stderr


def test_no_default_model_says_how_to_get_it(chat, tmp_path):
    env = dict(os.environ, TESSERA_CACHE=str(tmp_path), HOME=str(tmp_path))
    proc = chat(["hi"], env=env)
    assert proc.returncode == EXIT_MODEL
    err = proc.stderr.decode()
    assert "scripts/fetch-model.sh smollm2" in err and str(tmp_path) in err


def test_help(chat):
    text = ok(chat([], "--help")).stdout.decode()
    for word in ("/reset", "/exit", "--stats", "--system", "  130"):
        assert word in text


# ------------------------------------------------------- tiny: terminal


def test_terminal_prompt_answer_exit(terminal):
    term = terminal("-m", TINY, "-c", 512, "-n", 6, "--temp", 0, "--stats")
    term.expect(rb"chatting with .*tied-f16\.gguf")
    term.expect(PROMPT)
    term.send("hello\n")
    _, t1, _ = answer_lines(term, "hello")
    term.send("and you\n")
    _, t2, _ = answer_lines(term, "and you")
    check_turn(t1)
    check_turn(t2)
    assert t2["cached"] >= t1["prompt"]
    term.send("/exit\n")
    assert term.wait() == 0


def test_terminal_end_of_input(terminal):
    term = terminal("-m", TINY, "-c", 512, "-n", 2, "--temp", 0)
    term.expect(PROMPT)
    term.send(b"\x04")  # Ctrl-D on an empty line
    assert term.wait() == 0


def test_terminal_ctrl_c_stops_the_answer_then_exits_at_the_prompt(terminal):
    term = terminal("-m", TINY, "-c", 5100, "-n", 5000, "--temp", 0, "--stats", "-t", 1)
    term.expect(PROMPT)
    term.send("hello\n")
    term.expect(rb"hello\n")
    term.expect(rb".{40}", timeout=60)  # the answer is flowing
    term.send(b"\x03")  # Ctrl-C, through the terminal's line discipline
    stats = term.expect(TURN, timeout=60)
    (t1,) = turns(stats.group(0))
    assert t1["stop"] == "interrupted" and 0 < t1["generated"] < 5000
    check_turn(t1)
    term.expect(PROMPT)
    # the conversation goes on, with the partial answer in the cache
    term.send("more\n")
    term.expect(rb"more\n")
    term.expect(rb".{10}", timeout=60)
    term.send(b"\x03")
    (t2,) = turns(term.expect(TURN, timeout=60).group(0))
    assert t2["turn"] == 2 and t2["cached"] >= t1["prompt"]
    check_turn(t2)
    term.expect(PROMPT)
    term.send(b"\x03")  # at the prompt: the end
    assert term.wait() == EXIT_INTERRUPT


# ------------------------------------------------------------- SmolLM2

# llama.cpp's greedy answers (tests/tools/test_run.py gives the provenance of
# the first): Q1 alone, then Q2 after Q1 and A1, rendered by SmolLM2's
# template and decoded in one batch by llama.cpp 0c1e570 (llama-cpp-python
# 0.3.36, n_threads 1): 7 tokens then <|im_end|>, smallest top-1 − top-2 gap
# 0.119.
Q1 = "Explain in one sentence what a CPU does."
A1 = ("A CPU (Central Processing Unit) is the brain of a computer that executes "
      "instructions and performs calculations.")
Q2 = "What is the capital of France?"
A2 = "The capital of France is Paris."


def render_ids(tessera_bin, model, tmp_path, messages):
    """Token ids of a conversation as the chat renders it (`tessera template`,
    then `tessera tokenize --parse-special` of its bytes); of a plain text
    (no BOS, no control tokens) when messages is a str."""
    if isinstance(messages, str):
        text, args = messages.encode(), ["--no-special"]
    else:
        path = tmp_path / "conv.json"
        path.write_text(json.dumps(messages))
        proc = subprocess.run([tessera_bin, "template", "-m", str(model), str(path)],
                              capture_output=True, timeout=120)
        text, args = ok(proc).stdout, ["--parse-special"]
    proc = subprocess.run([tessera_bin, "tokenize", "-m", str(model), "--ids", *args],
                          input=text, capture_output=True, timeout=120)
    return [int(x) for x in ok(proc).stdout.split()]


def common_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_smollm2_terminal_two_turns_reset_exit(terminal, tessera_bin, smollm2_path, tmp_path):
    user1 = [{"role": "user", "content": Q1}]
    render1 = render_ids(tessera_bin, smollm2_path, tmp_path, user1)
    render2 = render_ids(tessera_bin, smollm2_path, tmp_path,
                         user1 + [{"role": "assistant", "content": A1},
                                  {"role": "user", "content": Q2}])
    # what the cache holds after turn 1: its render and the answer's tokens
    cache1 = render1 + render_ids(tessera_bin, smollm2_path, tmp_path, A1)
    lcp = common_prefix(cache1, render2)

    term = terminal("-m", smollm2_path, "--temp", 0, "-n", 64, "--stats")
    term.expect(PROMPT)
    term.send(Q1 + "\n")
    body, t1, n_reads = answer_lines(term, Q1)
    assert body == A1.encode() + b"\n"
    assert n_reads >= 3, "the answer came in one piece, not streamed"
    assert t1 == dict(turn=1, prompt=len(render1), cached=0, prefill=len(render1),
                      generated=20, kv=len(cache1), stop="eog")

    term.send(Q2 + "\n")
    body, t2, _ = answer_lines(term, Q2)
    assert body == A2.encode() + b"\n"
    check_turn(t2)
    assert t2["prompt"] == len(render2)
    assert t2["cached"] == lcp == len(cache1)  # the whole first turn was reused
    assert t2["prefill"] == len(render2) - lcp
    assert t2["prefill"] * 3 < t2["prompt"]
    print(f"\nturn 1: prompt {t1['prompt']}, prefill {t1['prefill']}; "
          f"turn 2: prompt {t2['prompt']}, cached {t2['cached']}, prefill {t2['prefill']}")

    term.send("/reset\n")
    term.expect(rb"\(new conversation\)\n")
    term.expect(PROMPT)
    term.send(Q1 + "\n")
    body, t3, _ = answer_lines(term, Q1)
    assert body == A1.encode() + b"\n"
    assert t3["cached"] == 0 and t3["prefill"] == t3["prompt"] == len(render1)

    term.send("/exit\n")
    assert term.wait() == 0


def test_smollm2_pipe_two_turns(chat, smollm2_path):
    proc = ok(chat([Q1, Q2], "-m", smollm2_path, "--temp", 0, "-n", 64, "--stats"))
    assert proc.stdout == (A1 + "\n" + A2 + "\n").encode()
    t1, t2 = turns(proc.stderr)
    check_turn(t1)
    check_turn(t2)
    assert t2["cached"] == t1["kv"]
    assert b"> " not in proc.stderr


def test_smollm2_first_turn_is_run_chat(chat, tessera, smollm2_path):
    """Same template, same tokens, same sampler: turn 1 is `run --chat`'s
    answer, greedy and sampled, with and without a system message."""
    for extra in ([], ["--temp", 0.8, "--seed", 7, "-n", 24], ["--system", "Answer briefly."]):
        args = ["-m", smollm2_path, "--temp", 0, *extra]
        one = ok(tessera("run", "--chat", "-p", Q1, *args)).stdout
        assert ok(chat([Q1], *args)).stdout == one + b"\n", extra
