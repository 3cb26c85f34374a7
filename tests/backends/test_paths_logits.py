"""Every CPU path computes the same logits, bit for bit (the reduction-order
contract, docs/ARCHITECTURE.md): for each path this CPU runs
(TESSERA_CPU=avx2, avx512), at 1 and 2 threads, with the prompt decoded in
one batch and token by token, the logits_tool output must be byte-identical
to the scalar path's (1 thread, one batch).

- test_tiny_paths (fast): every committed tiny model (tests/data/llama/tiny,
  tests/data/qwen/tiny: F32, F16, Q8_0, Q4_0 weights, F16 tied output, GQA,
  MQA, YaRN, qwen2 biases, qwen3 norms).
- test_tiny_types_paths (fast): a tiny llama of every other weight type
  (BF16, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K … Q6_K), written by make_tiny_llama
  into a temporary folder: n_embd 256 for the K-quants' blocks, 72 vocab
  rows (a partial 16-row group), every other one with a tied output (its
  embedding rows unpacked from the repacked copy).
- test_smollm2_paths (model): SmolLM2-135M-Instruct Q4_1 (repacked Q4_1 and
  Q8_0 kernels), 64 tokens of the long-500 prompt.
- test_qwen_coder_paths (model-large, skipped without the file):
  Qwen2.5-Coder-0.5B Q4_K_M (Q5_0, Q4_K, Q6_K, Q8_0).

A path the CPU lacks is skipped (logits_tool says why and exits 1).
"""
import os
import pathlib
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = sorted((ROOT / "data" / "llama" / "tiny").glob("*.gguf")) + sorted(
    (ROOT / "data" / "qwen" / "tiny").glob("*.gguf"))
PATHS = ["avx2", "avx512"]
RUNS = [(t, mode) for t in (1, 2) for mode in ("batch", "single")]


def logits(model, ids, path, threads, mode, out):
    tool = os.environ["TS_LOGITS_TOOL"]
    env = dict(os.environ, TESSERA_CPU=path)
    r = subprocess.run([tool, str(model), "--ids", str(ids), "--out", str(out), "--threads",
                        str(threads), "--mode", mode], env=env, capture_output=True, text=True)
    if r.returncode != 0 and "lacks" in r.stderr:
        pytest.skip(f"TESSERA_CPU={path}: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def check_paths(model, ids, tmp_path):
    want = logits(model, ids, "scalar", 1, "batch", tmp_path / "scalar.f32")
    for path in PATHS:
        for threads, mode in RUNS:
            got = logits(model, ids, path, threads, mode, tmp_path / f"{path}.f32")
            if got != want:
                a, b = np.frombuffer(want, "<f4"), np.frombuffer(got, "<f4")
                pytest.fail(f"{model.name} {path} {threads} threads {mode}: {int((a != b).sum())} "
                            f"logits differ from the scalar path's, max |Δ| {np.abs(a - b).max():.3g}")
        print(f"{model.name}: {path} bitwise equal to scalar ({len(want) // 4} logits, "
              f"1 and 2 threads, batch and token by token)")


def write_ids(tmp_path, ids):
    path = tmp_path / "ids.i32"
    np.asarray(ids, "<i4").tofile(path)
    return path


@pytest.mark.parametrize("model", TINY, ids=[m.name for m in TINY])
def test_tiny_paths(model, tmp_path):
    ids = write_ids(tmp_path, [(7 * i + 3) % 64 for i in range(40)])  # every tiny vocab has 64
    check_paths(model, ids, tmp_path)


TYPES = ["BF16", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]


@pytest.mark.parametrize("wtype", TYPES)
def test_tiny_types_paths(wtype, tmp_path):
    model = tmp_path / f"tiny-{wtype}.gguf"
    tied = TYPES.index(wtype) % 2
    subprocess.run([os.environ["MAKE_TINY_LLAMA"], str(model), "--n-layer", "1", "--n-embd", "256",
                    "--n-head", "4", "--n-head-kv", "2", "--n-ff", "512", "--n-vocab", "72",
                    "--n-ctx", "64", "--seed", str(10 + TYPES.index(wtype)), "--type", wtype,
                    "--tied", str(tied)], check=True, capture_output=True)
    ids = write_ids(tmp_path, [(7 * i + 3) % 72 for i in range(40)])
    check_paths(model, ids, tmp_path)


def test_smollm2_paths(smollm2_path, tmp_path):
    z = np.load(ROOT / "data" / "llama" / "smollm2" / "logits.npz")
    check_paths(smollm2_path, write_ids(tmp_path, z["long-500.ids"][:64]), tmp_path)


def test_qwen_coder_paths(tmp_path):
    cache = os.environ.get("TESSERA_CACHE") or os.path.expanduser("~/.cache/tessera")
    model = pathlib.Path(cache) / "models" / "Qwen2.5-Coder-0.5B-Instruct-AWQ.Q4_K_M.gguf"
    if not model.is_file():
        pytest.skip(f"{model} is missing: scripts/fetch-model.sh qwen2.5-coder")
    z = np.load(ROOT / "data" / "qwen" / "qwen2.5-coder" / "logits.npz")
    key = next(k for k in z.files if k.endswith(".ids"))
    check_paths(model, write_ids(tmp_path, z[key][:48]), tmp_path)
