"""Tessera on the real SmolLM2-135M-Instruct Q4_1 file against llama.cpp's
teacher-forced logits (tests/data/llama/smollm2; see its README).

Every one of the 11 streams (prompt + 64 generated ids) is decoded in one
batch and compared at every position with llama.cpp's reference run (one
thread, one micro-batch, F16 KV): top-1, |Δlogit| over the reference's top
32 ids, and KL(reference ‖ Tessera) on the full rows the data keeps. A
table per prompt is printed (ctest -V, or pytest -s).

Tolerances come from llama.cpp's own spread on the same data: its
token-by-token run (t1_b1) against its batched run differs by up to 1.871
in a logit (mean 0.149), KL up to 0.0442 (mean 0.00288), and flips the
top-1 at 42 of 1489 positions — 30 layers of Q4_1 weights with activations
re-quantized to Q8_1 before every product amplify float32 rounding
differences that much. Tessera computes the same math in another order, so
it can be expected to land anywhere within that spread, not closer.
"""
import gzip
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import llama_ref as R  # noqa: E402

SMOL = R.DATA / "smollm2"
N_VOCAB = 49152

# ------------------------------------------------------------- tolerances
# llama.cpp's t1_b1 spread (README / summary.json) and, in the comments,
# what Tessera measured when this test was written.
MAX_ABS_DLOGIT = 2.8   # 1.5 × llama.cpp's 1.871; measured 1.861 (long-500)
MEAN_ABS_DLOGIT = 0.3  # 2 × llama.cpp's 0.149 (whole rows); measured 0.16 over the top 32
MAX_KL = 0.0442        # llama.cpp's max; measured 0.0067 (17 full rows)
MEAN_KL = 0.0058       # 2 × llama.cpp's 0.00288; measured 0.0028
# Top-1 may differ only where the reference's top-1 − top-2 gap is below
# GAP_EXCUSE: the README's reading of llama.cpp's spread (a fixed ~0.5;
# per-position |Δ| of 0.2-1 moves two logits apart by up to twice that).
# Measured: the largest gap at a Tessera top-1 difference is 0.42
# (long-500 position 193). And no more disagreements in all than twice
# llama.cpp's own 42: measured 59 (of 1489).
GAP_EXCUSE = 0.5
MAX_TOP1_DIFFER = 84

THREADS = os.environ.get("TS_TEST_THREADS", "2")
DETERMINISM_PROMPT = "en-fact"  # 5 prompt + 64 generated tokens


# ---------------------------------------------------------------- helpers

def tool():
    path = os.environ.get("TS_LOGITS_TOOL")
    if not path:
        pytest.fail("TS_LOGITS_TOOL is not set (run through ctest, or point it at logits_tool)")
    return path


def run_tool(model, ids, tmp_path, *args):
    """Tessera's (n, V) float32 logits of ids, decoded with logits_tool args."""
    stem = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    ids_path, out_path = stem.with_suffix(".i32"), stem.with_suffix(".f32")
    np.asarray(ids).astype("<i4").tofile(ids_path)
    r = subprocess.run([tool(), str(model), "--ids", str(ids_path), "--out", str(out_path),
                        *args], capture_output=True, text=True)
    assert r.returncode == 0, f"logits_tool {args}: {r.stderr.strip()}"
    out = np.fromfile(out_path, dtype="<f4")
    out_path.unlink()
    ids_path.unlink()
    assert out.size == len(ids) * N_VOCAB
    return out.reshape(len(ids), N_VOCAB)


@pytest.fixture(scope="module")
def data():
    return np.load(SMOL / "logits.npz")


@pytest.fixture(scope="module")
def prompts():
    with gzip.open(SMOL / "prompts.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def runs(smollm2_path, data, prompts, tmp_path_factory):
    """Per prompt: what the checks need of Tessera's logits (one batch,
    THREADS threads); the full logits of DETERMINISM_PROMPT."""
    tmp = tmp_path_factory.mktemp("smollm2")
    out = {}
    for p in prompts:
        name = p["name"]
        got = run_tool(smollm2_path, data[f"{name}.ids"], tmp, "--threads", THREADS)
        out[name] = {
            "top32": np.take_along_axis(got, data[f"{name}.top_ids"], axis=1),
            "argmax": got.argmax(axis=1),
            "rows": got[data[f"{name}.row_pos"]],
            "full": got if name == DETERMINISM_PROMPT else None,
        }
    return out


# ------------------------------------------------------------------ tests

def test_teacher_forcing(data, prompts, runs):
    print(f"\n{'prompt':14} {'n':>4} {'max|Δ|':>7} {'mean|Δ|':>8} {'max KL':>8} {'top-1':>9}  "
          "excused positions (reference top-2 gap)")
    all_d, kls, failures, n_differ, n_total = [], [], [], 0, 0
    for p in prompts:
        name = p["name"]
        ref_top = data[f"{name}.top_logits"].astype(np.float64)  # (n, 32)
        ref_ids = data[f"{name}.top_ids"]
        got = runs[name]
        d = np.abs(got["top32"].astype(np.float64) - ref_top)
        gap = ref_top[:, 0] - ref_top[:, 1]
        differ = np.flatnonzero(got["argmax"] != ref_ids[:, 0])
        row_kl = R.kl(data[f"{name}.rows"], got["rows"])
        all_d.append(d)
        kls.extend(row_kl.tolist())
        n_differ += len(differ)
        n_total += len(gap)
        excused = ", ".join(f"{i} ({gap[i]:.3f})" for i in differ)
        print(f"{name:14} {len(gap):4} {d.max():7.3f} {d.mean():8.3f} {row_kl.max():8.4f} "
              f"{len(gap) - len(differ):4}/{len(gap):<4}  {excused or '-'}")
        failures += [f"{name} position {i}: top-1 {got['argmax'][i]} vs reference {ref_ids[i, 0]}, "
                     f"gap {gap[i]:.3f} >= {GAP_EXCUSE}" for i in differ if gap[i] >= GAP_EXCUSE]
    d = np.concatenate(all_d)
    print(f"{'all':14} {n_total:4} {d.max():7.3f} {d.mean():8.3f} {max(kls):8.4f} "
          f"{n_total - n_differ:4}/{n_total:<4}  mean KL {np.mean(kls):.4f} over {len(kls)} full rows")
    assert not failures, "; ".join(failures)
    assert n_differ <= MAX_TOP1_DIFFER, f"top-1 differs at {n_differ} positions > {MAX_TOP1_DIFFER}"
    assert d.max() <= MAX_ABS_DLOGIT, f"max |Δlogit| {d.max():.3f} > {MAX_ABS_DLOGIT}"
    assert d.mean() <= MEAN_ABS_DLOGIT, f"mean |Δlogit| {d.mean():.3f} > {MEAN_ABS_DLOGIT}"
    assert max(kls) <= MAX_KL, f"max KL {max(kls):.4f} > {MAX_KL}"
    assert np.mean(kls) <= MEAN_KL, f"mean KL {np.mean(kls):.4f} > {MEAN_KL}"


def test_deterministic(smollm2_path, data, runs, tmp_path):
    """Bitwise: THREADS threads vs 1, one batch vs token by token."""
    ids = data[f"{DETERMINISM_PROMPT}.ids"]
    base = runs[DETERMINISM_PROMPT]["full"]
    other = "1" if THREADS != "1" else "2"
    for label, args in ((f"{other} thread(s)", ("--threads", other)),
                        ("token by token", ("--threads", THREADS, "--mode", "single"))):
        got = run_tool(smollm2_path, ids, tmp_path, *args)
        assert got.tobytes() == base.tobytes(), (
            f"{DETERMINISM_PROMPT}: {label} differs from one batch on {THREADS} threads at rows "
            f"{np.unique(np.argwhere(got != base)[:, 0])[:10].tolist()}")
