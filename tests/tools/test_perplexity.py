"""`tessera perplexity`: its figure against llama.cpp's llama-perplexity, the
--logits-out file, and the exit codes.

Fast tests use the tiny random-weight model tests/data/llama/tiny/tied-f16.gguf
(every byte is one token whose id is the byte's value, BOS = 1 added; a
training context of 128) on texts of lowercase letters and spaces written
here, so that token i + 1 is byte i of the text. They recompute the figure
from the --logits-out rows with numpy, independently of the C code.
Model tests (named test_smollm2_*, which ctest runs apart with the label
`model`) compare SmolLM2 on the GPL-3 text with llama-perplexity's output
committed in tests/data/perplexity/smollm2.json.

Exit codes (tessera perplexity --help): 0 ok, 1 other failure (the text or
the logits file cannot be read or written), 2 usage, 3 model load, 4 the
text is shorter than one chunk, 5 decode, 130 SIGINT.
"""
import hashlib
import json
import pathlib
import random
import re
import struct
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
TINY = ROOT / "data" / "llama" / "tiny" / "tied-f16.gguf"
TINY_VOCAB, TINY_BOS, TINY_TRAIN = 300, 1, 128
REFERENCE = ROOT / "data" / "perplexity" / "smollm2.json"

EXIT_FAIL, EXIT_USAGE, EXIT_MODEL, EXIT_SHORT = 1, 2, 3, 4
HEADER = struct.Struct("<4sIIQ")  # magic, version, n_vocab, rows
FINAL = re.compile(r"^Final estimate: PPL = (\d+\.\d{4}) \+/- (\d+\.\d{5}|nan)$")
TEXT_LINE = re.compile(r"^text: (\d+) tokens, (\d+) full chunks of (\d+); scoring (\d+), "
                       r"(\d+) tokens each")
PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] PPL = \d+\.\d{4} \(\d+\.\d{2} s/chunk, ETA .+\)$")


def ok(proc):
    assert proc.returncode == 0, (proc.returncode, proc.stderr.decode())
    return proc


def final(proc):
    """(ppl, uncertainty) from stdout, which holds that one line only."""
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1, lines
    m = FINAL.match(lines[0])
    assert m, lines[0]
    return float(m.group(1)), float(m.group(2))


def text_line(proc):
    """(tokens, full chunks, c, chunks scored, tokens scored per chunk)."""
    for line in proc.stderr.decode().splitlines():
        m = TEXT_LINE.match(line)
        if m:
            return tuple(int(g) for g in m.groups())
    raise AssertionError(proc.stderr.decode())


def one_error_line(proc, code, *fragments):
    """The run failed with `code` and said why in one line."""
    err = proc.stderr.decode()
    assert proc.returncode == code, (proc.returncode, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tessera: perplexity: "), err
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
    assert proc.stdout == b""
    return lines[0]


def read_logits(path):
    """(n_vocab, rows as a float32 array (n_rows, n_vocab)), sizes checked."""
    data = path.read_bytes()
    magic, version, n_vocab, n_rows = HEADER.unpack_from(data)
    assert (magic, version) == (b"TSLG", 1)
    assert len(data) == HEADER.size + n_rows * n_vocab * 4
    rows = np.frombuffer(data, dtype="<f4", offset=HEADER.size).reshape(n_rows, n_vocab)
    return n_vocab, rows


def letters(n, seed):
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(n)).encode()


@pytest.fixture
def ppl(tessera):
    def go(*args, timeout=300):
        return tessera("perplexity", *args, timeout=timeout)
    return go


@pytest.fixture
def tiny_text(tmp_path):
    path = tmp_path / "text.txt"
    path.write_bytes(letters(300, seed=1))  # 301 tokens: 9 chunks of 32
    return path


# ---------------------------------------------------------- tiny model: figures

def test_logits_file_same_for_threads_and_batches(ppl, tiny_text, tmp_path):
    a, b, c = tmp_path / "a.bin", tmp_path / "b.bin", tmp_path / "c.bin"
    runs = [ok(ppl("-m", TINY, "-f", tiny_text, "-c", 32, "--chunks", 3, "-t", 1,
                   "--logits-out", a)),
            ok(ppl("-m", TINY, "-f", tiny_text, "-c", 32, "--chunks", 3, "-t", 2,
                   "--logits-out", b)),
            ok(ppl("-m", TINY, "-f", tiny_text, "-c", 32, "--chunks", 3, "-t", 2, "-b", 7,
                   "--logits-out", c))]
    assert a.read_bytes() == b.read_bytes() == c.read_bytes()
    rows = 3 * (32 - 1 - 16)
    assert a.stat().st_size == HEADER.size + rows * TINY_VOCAB * 4
    assert HEADER.unpack_from(a.read_bytes()) == (b"TSLG", 1, TINY_VOCAB, rows)
    assert len({r.stdout for r in runs}) == 1


def test_figure_is_llama_perplexity_formula(ppl, tiny_text, tmp_path):
    """PPL and its uncertainty recomputed from the logits rows: the rows of
    positions c/2 .. c-2 of each chunk predict the tokens after them."""
    c, n_chunks = 32, 4
    out = tmp_path / "logits.bin"
    proc = ok(ppl("-m", TINY, "-f", tiny_text, "-c", c, "--chunks", n_chunks,
                  "--logits-out", out))
    _, rows = read_logits(out)
    ids = [TINY_BOS] + list(tiny_text.read_bytes())
    first = c // 2
    targets = [ids[k * c + p + 1] for k in range(n_chunks) for p in range(first, c - 1)]
    x = rows.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    logp = x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    nll = -logp[np.arange(len(targets)), targets]
    n, mean = len(nll), nll.mean()
    var = (nll * nll).mean() - mean * mean  # llama.cpp: nll2/count - nll²
    want_ppl = np.exp(mean)
    want_err = np.sqrt(var / (n - 1)) * want_ppl
    got_ppl, got_err = final(proc)
    assert got_ppl == pytest.approx(want_ppl, abs=6e-5)
    assert got_err == pytest.approx(want_err, abs=6e-6)
    assert text_line(proc) == (301, 9, c, n_chunks, c - 1 - first)


def test_each_chunk_starts_with_bos(ppl, tiny_text, tmp_path):
    """Chunk k is decoded alone with its first token replaced by BOS: its rows
    are those of a one-chunk text holding the chunk's other tokens."""
    c, k = 32, 2
    whole, alone = tmp_path / "whole.bin", tmp_path / "alone.bin"
    ok(ppl("-m", TINY, "-f", tiny_text, "-c", c, "--chunks", 3, "--logits-out", whole))
    part = tmp_path / "part.txt"
    part.write_bytes(tiny_text.read_bytes()[k * c:k * c + c - 1])  # tokens k*c+1 .. k*c+c-1
    ok(ppl("-m", TINY, "-f", part, "-c", c, "--logits-out", alone))
    _, rows = read_logits(whole)
    _, rows_alone = read_logits(alone)
    r = c - 1 - c // 2
    assert rows_alone.tobytes() == rows[k * r:(k + 1) * r].tobytes()


def test_chunks_and_progress(ppl, tiny_text):
    for chunks, want in ((None, 9), (4, 4), (100, 9)):
        args = ["-m", TINY, "-f", tiny_text, "-c", 32] + (["--chunks", chunks] if chunks else [])
        proc = ok(ppl(*args))
        assert text_line(proc)[:4] == (301, 9, 32, want)
        progress = [PROGRESS.match(line) for line in proc.stderr.decode().splitlines()]
        assert [(int(m.group(1)), int(m.group(2))) for m in progress if m] == \
            [(i + 1, want) for i in range(want)]
        final(proc)


def test_one_trailing_newline_is_dropped(ppl, tmp_path):
    """As llama.cpp's -f: "abc\\n" is tokenized as "abc"; a second newline stays."""
    counts = []
    for tail in (b"", b"\n", b"\n\n"):
        path = tmp_path / "t.txt"
        path.write_bytes(letters(40, seed=2) + tail)
        counts.append(text_line(ok(ppl("-m", TINY, "-f", path, "-c", 8)))[0])
    assert counts == [41, 41, 42]


def test_stdin(ppl, tessera_bin, tiny_text):
    proc = subprocess.run([tessera_bin, "perplexity", "-m", TINY, "-f", "-", "-c", "32"],
                          input=tiny_text.read_bytes(), capture_output=True, timeout=120)
    assert final(ok(proc)) == final(ok(ppl("-m", TINY, "-f", tiny_text, "-c", 32)))


# ------------------------------------------------------------ errors

def test_text_too_short(ppl, tmp_path):
    path = tmp_path / "short.txt"
    path.write_bytes(letters(20, seed=3))
    one_error_line(ppl("-m", TINY, "-f", path, "-c", 32), EXIT_SHORT,
                   "has 21 tokens; one chunk of -c 32 needs 32")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    one_error_line(ppl("-m", TINY, "-f", empty, "-c", 3), EXIT_SHORT, "has 1 tokens")


@pytest.mark.parametrize("value", ["0", "2", "-5", "abc", "12x", "99999999999"])
def test_bad_ctx(ppl, tiny_text, value):
    one_error_line(ppl("-m", TINY, "-f", tiny_text, "-c", value), EXIT_USAGE,
                   "-c wants an integer in 3..", f"got '{value}'")


def test_ctx_above_training_context(ppl, tiny_text):
    one_error_line(ppl("-m", TINY, "-f", tiny_text, "-c", TINY_TRAIN + 1), EXIT_USAGE,
                   f"-c {TINY_TRAIN + 1} is above the model's training context of {TINY_TRAIN}")


@pytest.mark.parametrize("args, fragment", [
    ((), "no text given (-f TEXT)"),
    (("-f",), "-f needs a value"),
    (("--bogus", "1"), "unknown option '--bogus'"),
    (("stray",), "unexpected argument 'stray'"),
    (("--chunks", "0"), "--chunks wants an integer in 1.."),
    (("-t", "0"), "-t wants an integer in 1..1024"),
    (("-b", "0"), "-b wants an integer in 1.."),
])
def test_usage_errors(ppl, args, fragment):
    one_error_line(ppl("-m", TINY, *args), EXIT_USAGE, fragment)


def test_missing_text(ppl, tmp_path):
    missing = tmp_path / "nope.txt"
    one_error_line(ppl("-m", TINY, "-f", missing), EXIT_FAIL,
                   f"cannot open {missing}: No such file or directory")


def test_missing_model(ppl, tiny_text, tmp_path):
    proc = ppl("-m", tmp_path / "nope.gguf", "-f", tiny_text)
    assert proc.returncode == EXIT_MODEL, proc.stderr.decode()
    assert proc.stdout == b""


def test_logits_file_cannot_be_written(ppl, tiny_text, tmp_path):
    out = tmp_path / "no-such-dir" / "x.bin"
    err = ppl("-m", TINY, "-f", tiny_text, "-c", 32, "--logits-out", out)
    assert err.returncode == EXIT_FAIL and f"cannot write {out}" in err.stderr.decode()
    assert err.stdout == b"" and not out.exists()


def test_help(ppl):
    proc = ok(ppl("--help"))
    text = proc.stdout.decode()
    for fragment in ("-c, --ctx-size", "--chunks", "--logits-out", "TSLG", "exit status",
                     "4    the text has fewer tokens than one chunk"):
        assert fragment in text, fragment


# ------------------------------------------------------- SmolLM2 vs llama.cpp

@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text())


@pytest.fixture(scope="module")
def gpl3(reference):
    spec = reference["text"]
    path = pathlib.Path(spec["path"])
    if not path.is_file():
        pytest.fail(f"{path} is missing: it comes with Debian's base-files package")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == spec["sha256"], f"{path} is not the text the reference was made with"
    return path


def test_smollm2_matches_llama_perplexity(ppl, smollm2_path, gpl3, reference):
    s = reference["settings"]
    proc = ok(ppl("-m", smollm2_path, "-f", gpl3, "-c", s["n_ctx"], "--chunks", s["chunks"],
                  "-t", s["threads"], "-b", s["n_batch"]))
    n_tokens, full, c, chunks, _ = text_line(proc)
    assert (n_tokens, full, c, chunks) == \
        (reference["n_tokens"], reference["n_chunks_full"], s["n_ctx"], s["chunks"])
    got, err = final(proc)
    assert got == pytest.approx(reference["ppl"], rel=reference["tolerance"])
    assert err == pytest.approx(reference["ppl_uncertainty"], rel=5 * reference["tolerance"])


def test_smollm2_logits_file_same_across_threads(ppl, smollm2_path, gpl3, tmp_path):
    outs = [tmp_path / f"t{t}.bin" for t in (1, 2)]
    for t, out in zip((1, 2), outs):
        ok(ppl("-m", smollm2_path, "-f", gpl3, "-c", 128, "--chunks", 1, "-t", t,
               "--logits-out", out))
    assert outs[0].read_bytes() == outs[1].read_bytes()
    n_vocab, rows = read_logits(outs[0])
    assert (n_vocab, len(rows)) == (49152, 63)
    assert outs[0].stat().st_size == HEADER.size + 63 * 49152 * 4
