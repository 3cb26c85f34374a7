"""Every CPU path computes the same logits, bit for bit (the reduction-order
contract, docs/ARCHITECTURE.md): for each path (TESSERA_CPU=avx2, avx512 on
x86-64; neon, dotprod on ARM64), at 1 and 2 threads, with the prompt decoded
in one batch and token by token, the logits_tool output must be
byte-identical to the scalar path's (1 thread, one batch) on this machine.

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

The ARM64 paths run on an x86-64 machine through TS_LOGITS_TOOL_ARM64, a
command line running a cross-built logits_tool under an emulator (`make
neon-check` sets it: qemu-aarch64 -cpu max); they are then compared with
this machine's scalar logits, and so is the ARM64 build's own scalar path
("arm64-scalar": the reference gives the same bytes on both architectures).
A path this machine cannot run is skipped with the reason: one the CPU
lacks or that is not built for it (logits_tool says why and exits 1), or an
ARM64 path without TS_LOGITS_TOOL_ARM64.
"""
import os
import pathlib
import platform
import shlex
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = sorted((ROOT / "data" / "llama" / "tiny").glob("*.gguf")) + sorted(
    (ROOT / "data" / "qwen" / "tiny").glob("*.gguf"))
# (case, TESSERA_CPU, an ARM64 path)
PATHS = [("avx2", "avx2", False), ("avx512", "avx512", False),
         ("arm64-scalar", "scalar", True), ("neon", "neon", True), ("dotprod", "dotprod", True)]
RUNS = [(t, mode) for t in (1, 2) for mode in ("batch", "single")]
NATIVE_ARM64 = platform.machine() in ("aarch64", "arm64")


def tool_for(case, arm):
    """The logits_tool command line that runs `case`; skips when there is none."""
    if not arm or NATIVE_ARM64:
        if case == "arm64-scalar":
            pytest.skip("arm64-scalar: this machine's scalar path is the ARM64 one")
        return [os.environ["TS_LOGITS_TOOL"]]
    tool = os.environ.get("TS_LOGITS_TOOL_ARM64")
    if not tool:
        pytest.skip(f"{case}: an ARM64 path, and TS_LOGITS_TOOL_ARM64 is unset "
                    "(`make neon-check` runs it under qemu)")
    return shlex.split(tool)


def logits(tool, model, ids, path, threads, mode, out):
    env = dict(os.environ, TESSERA_CPU=path)
    r = subprocess.run(tool + [str(model), "--ids", str(ids), "--out", str(out), "--threads",
                               str(threads), "--mode", mode], env=env, capture_output=True,
                       text=True)
    if r.returncode != 0 and ("lacks" in r.stderr or "is not a CPU path" in r.stderr):
        pytest.skip(f"TESSERA_CPU={path}: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def check_path(model, ids, case, tmp_path):
    name, path, arm = case
    tool = tool_for(name, arm)
    want = logits([os.environ["TS_LOGITS_TOOL"]], model, ids, "scalar", 1, "batch",
                  tmp_path / "scalar.f32")
    for threads, mode in RUNS:
        got = logits(tool, model, ids, path, threads, mode, tmp_path / f"{name}.f32")
        if got != want:
            a, b = np.frombuffer(want, "<f4"), np.frombuffer(got, "<f4")
            pytest.fail(f"{model.name} {name} {threads} threads {mode}: {int((a != b).sum())} "
                        f"logits differ from the scalar path's, max |Δ| {np.abs(a - b).max():.3g}")
    print(f"{model.name}: {name} bitwise equal to scalar ({len(want) // 4} logits, "
          f"1 and 2 threads, batch and token by token)")


def write_ids(tmp_path, ids):
    path = tmp_path / "ids.i32"
    np.asarray(ids, "<i4").tofile(path)
    return path


CASES = pytest.mark.parametrize("case", PATHS, ids=[c[0] for c in PATHS])


@CASES
@pytest.mark.parametrize("model", TINY, ids=[m.name for m in TINY])
def test_tiny_paths(model, case, tmp_path):
    ids = write_ids(tmp_path, [(7 * i + 3) % 64 for i in range(40)])  # every tiny vocab has 64
    check_path(model, ids, case, tmp_path)


TYPES = ["BF16", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]


@pytest.mark.parametrize("wtype", TYPES)
@CASES
def test_tiny_types_paths(wtype, case, tmp_path):
    model = tmp_path / f"tiny-{wtype}.gguf"
    tied = TYPES.index(wtype) % 2
    subprocess.run([os.environ["MAKE_TINY_LLAMA"], str(model), "--n-layer", "1", "--n-embd", "256",
                    "--n-head", "4", "--n-head-kv", "2", "--n-ff", "512", "--n-vocab", "72",
                    "--n-ctx", "64", "--seed", str(10 + TYPES.index(wtype)), "--type", wtype,
                    "--tied", str(tied)], check=True, capture_output=True)
    ids = write_ids(tmp_path, [(7 * i + 3) % 72 for i in range(40)])
    check_path(model, ids, case, tmp_path)


@CASES
def test_smollm2_paths(smollm2_path, case, tmp_path):
    z = np.load(ROOT / "data" / "llama" / "smollm2" / "logits.npz")
    check_path(smollm2_path, write_ids(tmp_path, z["long-500.ids"][:64]), case, tmp_path)


@CASES
def test_qwen_coder_paths(case, tmp_path):
    cache = os.environ.get("TESSERA_CACHE") or os.path.expanduser("~/.cache/tessera")
    model = pathlib.Path(cache) / "models" / "Qwen2.5-Coder-0.5B-Instruct-AWQ.Q4_K_M.gguf"
    if not model.is_file():
        pytest.skip(f"{model} is missing: scripts/fetch-model.sh qwen2.5-coder")
    z = np.load(ROOT / "data" / "qwen" / "qwen2.5-coder" / "logits.npz")
    key = next(k for k in z.files if k.endswith(".ids"))
    check_path(model, write_ids(tmp_path, z[key][:48]), case, tmp_path)
