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
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import llama_ref as R  # noqa: E402
import logits_util as U  # noqa: E402

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


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def data():
    return np.load(SMOL / "logits.npz")


@pytest.fixture(scope="module")
def prompts():
    with gzip.open(SMOL / "prompts.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def runs(smollm2_path, data, prompts):
    """Per prompt: what the checks need of Tessera's logits (one batch,
    THREADS threads); the full logits of DETERMINISM_PROMPT."""
    out = {}
    for p in prompts:
        name = p["name"]
        got = U.run_tool(smollm2_path, data[f"{name}.ids"], N_VOCAB, "--threads", THREADS)
        out[name] = {
            "top32": np.take_along_axis(got, data[f"{name}.top_ids"], axis=1),
            "argmax": got.argmax(axis=1),
            "rows": got[data[f"{name}.row_pos"]],
            "full": got if name == DETERMINISM_PROMPT else None,
        }
    return out


# ------------------------------------------------------------------ tests

def test_teacher_forcing(data, prompts, runs):
    s = U.teacher_forcing(data, prompts, runs, GAP_EXCUSE)
    assert not s["failures"], "; ".join(s["failures"])
    assert s["n_differ"] <= MAX_TOP1_DIFFER, (
        f"top-1 differs at {s['n_differ']} positions > {MAX_TOP1_DIFFER}")
    assert s["max_d"] <= MAX_ABS_DLOGIT, f"max |Δlogit| {s['max_d']:.3f} > {MAX_ABS_DLOGIT}"
    assert s["mean_d"] <= MEAN_ABS_DLOGIT, f"mean |Δlogit| {s['mean_d']:.3f} > {MEAN_ABS_DLOGIT}"
    assert s["max_kl"] <= MAX_KL, f"max KL {s['max_kl']:.4f} > {MAX_KL}"
    assert s["mean_kl"] <= MEAN_KL, f"mean KL {s['mean_kl']:.4f} > {MEAN_KL}"


def test_deterministic(smollm2_path, data, runs):
    """Bitwise: THREADS threads vs 1, one batch vs token by token."""
    ids = data[f"{DETERMINISM_PROMPT}.ids"]
    base = runs[DETERMINISM_PROMPT]["full"]
    other = "1" if THREADS != "1" else "2"
    for label, args in ((f"{other} thread(s)", ("--threads", other)),
                        ("token by token", ("--threads", THREADS, "--mode", "single"))):
        got = U.run_tool(smollm2_path, ids, N_VOCAB, *args)
        assert got.tobytes() == base.tobytes(), (
            f"{DETERMINISM_PROMPT}: {label} differs from one batch on {THREADS} threads at rows "
            f"{np.unique(np.argwhere(got != base)[:, 0])[:10].tolist()}")
