"""`tessera tokenize` against llama.cpp's golden ids (tests/data/tokenizer).

Uses the committed vocab-only files (SmolLM2: byte-level BPE, adds no BOS;
Gemma 3: SentencePiece, adds BOS), so no real model is needed. The expected
ids are read from golden-<vocab>.json.gz (llama.cpp's tokenize with
add_special=true and parse_special=false, and with parse_special=true as
`ids_sp`).
"""
import base64
import gzip
import json
import pathlib
import subprocess

import pytest

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "tokenizer"
SMOLLM2 = DATA / "smollm2.gguf"
GEMMA3 = DATA / "gemma3.gguf"

TEXTS = [
    "Hello world",
    "a\tb",
    "你好，世界！",
    "def foo(x):\n    return x + 1\n",
    "😀",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
]


def golden_case(vocab, text):
    corpus = json.loads((DATA / "corpus.json").read_text(encoding="utf-8"))["strings"]
    index = [s.get("text") for s in corpus].index(text)
    with gzip.open(DATA / f"golden-{vocab}.json.gz") as f:
        return json.load(f)["cases"][index]


def ids_of(proc):
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().split("\n")
    assert len(lines) == 2 and lines[1] == "", proc.stdout
    return [int(x) for x in lines[0].split()]


def one_error_line(proc, code):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.decode()
    first = err.split("\n")[0]
    assert first.startswith("tessera: "), err
    return err


# ------------------------------------------------------------------ ids


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("vocab", ["smollm2", "gemma3"])
def test_ids_match_llama_cpp(tessera, vocab, text):
    case = golden_case(vocab, text)
    path = DATA / f"{vocab}.gguf"
    assert ids_of(tessera("tokenize", "-m", path, "--ids", text)) == case["ids"]
    sp = ids_of(tessera("tokenize", "-m", path, "--ids", "--parse-special", text))
    assert sp == case.get("ids_sp", case["ids"])


def test_stdin_equals_argument(tessera_bin):
    text = TEXTS[3]
    arg = subprocess.run([tessera_bin, "tokenize", "-m", str(SMOLLM2), "--ids", text],
                         capture_output=True, timeout=60, check=False)
    stdin = subprocess.run([tessera_bin, "tokenize", "-m", str(SMOLLM2), "--ids"],
                           input=text.encode(), capture_output=True, timeout=60, check=False)
    assert ids_of(arg) == ids_of(stdin) == golden_case("smollm2", text)["ids"]
    # stdin is taken byte for byte, invalid UTF-8 included
    raw = subprocess.run([tessera_bin, "tokenize", "-m", str(GEMMA3), "--ids"],
                         input=b"hello\xffworld", capture_output=True, timeout=60, check=False)
    corpus = json.loads((DATA / "corpus.json").read_text(encoding="utf-8"))["strings"]
    index = [base64.b64decode(s["b64"]) for s in corpus].index(b"hello\xffworld")
    with gzip.open(DATA / "golden-gemma3.json.gz") as f:
        assert ids_of(raw) == json.load(f)["cases"][index]["ids"]


def test_no_special(tessera):
    with_bos = ids_of(tessera("tokenize", "-m", GEMMA3, "--ids", "Hello world"))
    without = ids_of(tessera("tokenize", "-m", GEMMA3, "--ids", "--no-special", "Hello world"))
    assert with_bos == golden_case("gemma3", "Hello world")["ids"]
    assert with_bos[0] == 2 and without == with_bos[1:]
    # empty text: only what the file adds
    assert ids_of(tessera("tokenize", "-m", GEMMA3, "--ids", "")) == [2]
    assert ids_of(tessera("tokenize", "-m", GEMMA3, "--ids", "--no-special", "")) == []


# ----------------------------------------------------------- output forms


def test_table_and_pieces(tessera):
    text = "Hello\tworld\n"
    ids = ids_of(tessera("tokenize", "-m", SMOLLM2, "--ids", text))
    table = tessera("tokenize", "-m", SMOLLM2, text)
    assert table.returncode == 0, table.stderr
    rows = table.stdout.decode().split("\n")
    assert rows[-1] == "" and len(rows) == len(ids) + 1
    pieces = [row.split("\t", 1) for row in rows[:-1]]
    assert [int(i) for i, _ in pieces] == ids
    # pieces are escaped: the tab and newline of the text show as \t and \n
    assert "".join(p for _, p in pieces) == "Hello\\tworld\\n"
    only = tessera("tokenize", "-m", SMOLLM2, "--pieces", text)
    assert only.returncode == 0
    assert only.stdout.decode().split("\n")[:-1] == [p for _, p in pieces]


def test_pieces_render_control_tokens_and_bytes(tessera):
    proc = tessera("tokenize", "-m", GEMMA3, "--parse-special", "<start_of_turn>\xe4")
    assert proc.returncode == 0, proc.stderr
    rows = [r.split("\t", 1) for r in proc.stdout.decode().split("\n")[:-1]]
    assert rows[0] == ["2", "<bos>"]
    assert rows[1] == ["105", "<start_of_turn>"]
    # "ä" (U+00E4) is one piece; a byte token alone would print as \xHH
    assert "".join(p for _, p in rows[2:]) == "\u00e4"


def test_help(tessera):
    proc = tessera("tokenize", "--help")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    assert "--no-special" in out and "do not add BOS/EOS" in out
    assert "--parse-special" in out
    assert tessera("help", "tokenize").stdout == proc.stdout


# ----------------------------------------------------------------- errors


def test_missing_model_is_exit_1(tessera, tmp_path):
    err = one_error_line(tessera("tokenize", "-m", tmp_path / "nope.gguf", "hi"), 1)
    assert err.count("\n") == 1


def test_not_gguf_is_exit_1(tessera, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    err = one_error_line(tessera("tokenize", "-m", bad, "hi"), 1)
    assert err.count("\n") == 1


def test_no_tokenizer_is_exit_1(tessera):
    corpus = pathlib.Path(__file__).resolve().parent.parent / "corpus" / "gguf" / "valid"
    err = one_error_line(tessera("tokenize", "-m", corpus / "minimal.gguf", "hi"), 1)
    assert err.count("\n") == 1


@pytest.mark.parametrize("args", [
    [],                                        # no model
    ["hi"],                                    # no model
    ["-m"],                                    # -m without a value
    ["-m", SMOLLM2, "--bogus", "hi"],          # unknown option
    ["-m", SMOLLM2, "one", "two"],             # two texts
    ["-m", SMOLLM2, "--ids", "--pieces", "x"],  # two output forms
])
def test_usage_errors_are_exit_2(tessera, args):
    proc = tessera("tokenize", *args)
    one_error_line(proc, 2)
    assert "usage: tessera tokenize" in proc.stderr.decode()
    assert proc.stdout == b""
