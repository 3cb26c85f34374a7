"""Detokenization against llama.cpp's, on the committed golden data.

For every golden vocabulary in tests/data/tokenizer (the SmolLM2, Qwen2 and
Gemma 3 files and the SmolLM2 copies with another tokenizer.ggml.pre, which
are rebuilt here with make_vocab and checked against the recorded SHA-256):

- decode: llama.cpp's ids of every corpus string, detokenized by us with
  TS_DETOK_REMOVE_SPECIAL, equal llama.cpp's llama_detokenize(remove_special,
  !unparse_special) bytes (`dec`, the string itself when absent); the ids
  with special tokens parsed, with TS_DETOK_RENDER_SPECIAL, equal `dec_sp`;
- pieces: every token's piece, plain and rendered, equals
  llama_token_to_piece's (pieces-<base>.json.gz);
- roundtrip: our own tokenize then detokenize of every corpus string gives
  what llama.cpp's gives (the string itself wherever llama.cpp is lossless);
- stream: for a sample of the id lists, under each flag set, streaming
  detokenization split at every point equals whole decoding (detok_tool's
  --stream check).

Environment (set by ctest): TS_DETOK_TOOL (tests/text/detok_tool.c),
TS_MAKE_VOCAB (tests/text/make_vocab.c).
"""
import base64
import gzip
import hashlib
import json
import os
import pathlib
import subprocess

import pytest

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "tokenizer"
GOLDEN = sorted(p.name[len("golden-"):-len(".json.gz")] for p in DATA.glob("golden-*.json.gz"))
REMOVE_SPECIAL, RENDER_SPECIAL = 1, 2
STREAM_EVERY = 8  # streaming is checked on every 8th case (and all of some categories)
STREAM_CATS = {"invalid_utf8", "emoji", "special", "combining", "edge"}


def tool_path(env):
    path = os.environ.get(env)
    if not path:
        pytest.fail(f"{env} is not set (ctest sets it)")
    return path


def run_tool(*args, stdin=b""):
    r = subprocess.run([tool_path("TS_DETOK_TOOL"), *map(str, args)], input=stdin,
                       capture_output=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout.decode().split("\n")[:-1]


@pytest.fixture(scope="module")
def corpus():
    doc = json.loads((DATA / "corpus.json").read_text(encoding="utf-8"))
    return [(s["cat"], base64.b64decode(s["b64"])) for s in doc["strings"]]


_golden_cache = {}


def golden(name):
    if name not in _golden_cache:
        with gzip.open(DATA / f"golden-{name}.json.gz") as f:
            _golden_cache[name] = json.load(f)
    return _golden_cache[name]


@pytest.fixture(scope="module")
def vocab_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("vocab")


def vocab_path(name, vocab_dir):
    """The GGUF the golden file was made from (rebuilt when it is a copy)."""
    spec = golden(name)["gguf"]
    if not spec.get("made_with"):
        path = DATA / spec["file"]
    else:
        path = vocab_dir / f"{name}.gguf"
        if not path.exists():
            cmd = [tool_path("TS_MAKE_VOCAB"), DATA / spec["file"], path]
            if spec.get("pre_override"):
                cmd += ["--pre", spec["pre_override"]]
            if spec.get("max_merges") is not None:
                cmd += ["--max-merges", str(spec["max_merges"])]
            subprocess.run(list(map(str, cmd)), check=True, timeout=120)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == spec["sha256"], f"{path} is not the file the golden data was made from"
    return path


def usable(case):
    return "abort" not in case


def b64(s):
    return base64.b64decode(s)


def ids_line(ids):
    return " ".join(map(str, ids)) + "\n"


def report(name, what, bad, total):
    shown = "\n".join(bad[:5])
    assert not bad, f"{name}: {len(bad)} of {total} {what} differ from llama.cpp, e.g.\n{shown}"


# ---------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", GOLDEN)
def test_decode(name, corpus, vocab_dir):
    path = vocab_path(name, vocab_dir)
    cases = golden(name)["cases"]
    for ids_key, dec_key, flags in (("ids", "dec", REMOVE_SPECIAL),
                                    ("ids_sp", "dec_sp", RENDER_SPECIAL)):
        sel = [(i, c) for i, c in enumerate(cases) if usable(c) and ids_key in c]
        out = run_tool(path, "decode", flags,
                       stdin="".join(ids_line(c[ids_key]) for _, c in sel).encode())
        assert len(out) == len(sel)
        bad = []
        for (i, c), got in zip(sel, out):
            want = b64(c[dec_key]) if dec_key in c else corpus[i][1]
            if got != want.hex():
                bad.append(f"  case {i} ({corpus[i][0]}) {c[ids_key][:12]}: want {want[:60]!r}, "
                           f"got {got[:120]}")
        report(name, f"{dec_key} decodings", bad, len(sel))


@pytest.mark.parametrize("base", sorted({golden(n)["pieces"][len("pieces-"):-len(".json.gz")]
                                         for n in GOLDEN}))
def test_pieces(base):
    with gzip.open(DATA / f"pieces-{base}.json.gz") as f:
        ref = json.load(f)
    out = run_tool(DATA / ref["gguf"], "pieces")
    assert len(out) == len(ref["piece"])
    bad = []
    for i, line in enumerate(out):
        plain = b64(ref["piece"][i])
        special = b64(ref["piece_special"].get(str(i), ref["piece"][i]))
        if line != f"{plain.hex()}\t{special.hex()}":
            bad.append(f"  token {i}: want {plain!r} / {special!r}, got {line[:120]}")
    report(base, "pieces", bad, len(out))


@pytest.mark.parametrize("name", GOLDEN)
def test_roundtrip(name, corpus, vocab_dir):
    path = vocab_path(name, vocab_dir)
    cases = golden(name)["cases"]
    sel = [i for i, c in enumerate(cases) if usable(c)]
    out = run_tool(path, "roundtrip", stdin="".join(corpus[i][1].hex() + "\n" for i in sel).encode())
    assert len(out) == len(sel)
    bad = []
    for i, got in zip(sel, out):
        want = b64(cases[i]["dec"]) if "dec" in cases[i] else corpus[i][1]
        if got != want.hex():
            bad.append(f"  case {i} ({corpus[i][0]}) {corpus[i][1][:40]!r}: want {want[:60]!r}, "
                       f"got {got[:120]}")
    report(name, "decode(encode(s))", bad, len(sel))


@pytest.mark.parametrize("name", GOLDEN)
def test_stream(name, corpus, vocab_dir):
    path = vocab_path(name, vocab_dir)
    cases = golden(name)["cases"]
    sel = [c for i, c in enumerate(cases)
           if usable(c) and (i % STREAM_EVERY == 0 or corpus[i][0] in STREAM_CATS)]
    lists = [c["ids"] for c in sel] + [c["ids_sp"] for c in sel if "ids_sp" in c]
    stdin = "".join(ids_line(ids) for ids in lists).encode()
    for flags in range(4):
        out = run_tool(path, "decode", flags, "--stream", stdin=stdin)
        assert len(out) == len(lists)
        bad = [f"  ids {ids[:12]} (flags {flags}): {line.split(chr(9))[-1]}"
               for ids, line in zip(lists, out) if not line.endswith("\tok")]
        report(name, "streamed decodings", bad, len(lists))
