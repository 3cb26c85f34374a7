"""Tessera on the real Qwen2.5-Coder-0.5B-Instruct (AWQ) Q4_K_M file
(architecture qwen2: Q/K/V biases, NEOX RoPE; Q5_0 / Q8_0 / Q4_K / Q6_K
weights) against llama.cpp's teacher-forced logits (tests/data/qwen,
scripts/gen_qwen_reference.py).

OPT-IN (label model-large): the file is 491 MB and not fetched by `make
check`, and the run takes minutes (2,161 positions through the scalar
K-quant kernels). To run it:

    scripts/fetch-model.sh qwen2.5-coder
    cd build && ctest -L model-large -V

(or TESSERA_MODEL_QWEN25_CODER=/path/to/file.gguf). Without the file every
test here is SKIPPED with the command that fetches it.

Every one of the 13 streams (prompt + up to 64 generated ids) is decoded in
one batch and compared at every position with llama.cpp's reference run
(one thread, one micro-batch, F16 KV, n_ctx 1024): top-1, |Δlogit| over the
reference's top 32 ids, and KL(reference ‖ Tessera) on the 5 full rows the
data keeps. A table per prompt is printed (ctest -V, or pytest -s).

Tolerances come from llama.cpp's own spread on the same data
(summary.json, qwen2.5-coder_spread_all_prompts): its token-by-token run
(t1_b1) against its batched run differs by up to 1.755 in a logit (mean
0.058 over whole rows), KL up to 0.0362 (mean 0.00118), and flips the top-1
at 54 of 2,161 positions — 24 layers of 4-5-bit weights with activations
re-quantized (Q8_0 for Q5_0/Q8_0, Q8_K for Q4_K/Q6_K) before every product
amplify float32 rounding differences that much. Per position its max |Δ|
has median 0.336 and 99th percentile 0.609. Tessera computes the same math
in another order, so it can be expected to land anywhere within that
spread, not closer.
"""
import gzip
import json
import os
import pathlib
import sys
import time

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import llama_ref as R  # noqa: E402
import logits_util as U  # noqa: E402

CODER = R.QWEN_DATA / "qwen2.5-coder"
FILE = "Qwen2.5-Coder-0.5B-Instruct-AWQ.Q4_K_M.gguf"
N_VOCAB = 151936
N_CTX = "1024"  # as the reference run

# ------------------------------------------------------------- tolerances
# From llama.cpp's t1_b1 spread (above); in the comments what Tessera
# measured when this test was written (one batch, 2 threads, 2,161 positions).
#
# Max |Δlogit| per position, against llama.cpp's own spread AT THAT POSITION
# (b1_max_abs_dlogit in the data): at most max(SPREAD_FACTOR × that, FLOOR).
# One global bound does not fit this model: its first tokens carry massive
# activations (position 0 of every prompt reaches |x| of 800-2,200 in dim
# 62 of the residual by layer 10; position 1 of mixed-symbols ≈ 79 from layer
# 5 on), so a Q8_0 / Q8_K block holding one has a scale 50-100× that of its
# other elements, which are quantized to a few levels; a float32 rounding
# difference upstream then flips levels worth a few percent of the massive
# value. At mixed-symbols position 1, llama.cpp's own token-by-token run is
# 1.755 from its batched run (its largest spread anywhere) and Tessera 3.952
# (logit of id 474: 15.08 vs 19.04); dumping both engines' tensors there
# shows the kernels computing exactly their own inputs (Q5_0·Q8_0, Q4_K·Q8_K
# to float32 rounding) and the difference growing from Q8_0 level flips at
# layers 1-2 to 5.7% of the massive value at layer 5's feed-forward. A plain
# float64 pass (no activation rounding) is 0.30 from llama.cpp there, so
# llama.cpp is the lucky one. Everywhere else Tessera's per-position max is
# <= 0.617 (long-500), within llama.cpp's per-prompt maxima (0.44-0.76).
SPREAD_FACTOR = 4  # mixed-symbols position 1: 3.952 = 2.25 × 1.755
FLOOR = 1.0        # 3 × the median per-position spread, 0.336; measured <= 0.617 elsewhere
MEAN_ABS_DLOGIT = 0.12  # 2 × llama.cpp's 0.058 (whole rows); measured 0.063 over the top 32
MAX_KL = 0.0362         # llama.cpp's max; measured 0.0016 (5 full rows)
MEAN_KL = 0.0024        # 2 × llama.cpp's 0.00118; measured 0.0009
# Top-1 may differ only where the reference's top-1 − top-2 gap is below
# GAP_EXCUSE: two logits each off by llama.cpp's median per-position spread
# (0.336) can swap a pair 0.67 apart. Measured: the largest gap at a Tessera
# top-1 difference is 0.257 (long-500 position 545). And no more
# disagreements in all than twice llama.cpp's own 54: measured 56 (of 2,161).
GAP_EXCUSE = 0.67
MAX_TOP1_DIFFER = 108

THREADS = os.environ.get("TS_TEST_THREADS", "2")
DETERMINISM_PROMPT = "en-fact"  # 5 prompt + 64 generated tokens


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def model_path():
    cache = os.environ.get("TESSERA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                            "tessera")
    path = pathlib.Path(os.environ.get("TESSERA_MODEL_QWEN25_CODER") or
                        pathlib.Path(cache) / "models" / FILE)
    if not path.is_file():
        pytest.skip(f"opt-in test: {path} is missing; run scripts/fetch-model.sh qwen2.5-coder "
                    f"(491 MB) to fetch {FILE}, or set TESSERA_MODEL_QWEN25_CODER")
    return path


@pytest.fixture(scope="module")
def data():
    return np.load(CODER / "logits.npz")


@pytest.fixture(scope="module")
def prompts():
    with gzip.open(CODER / "prompts.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def runs(model_path, data, prompts):
    """Per prompt: what the checks need of Tessera's logits (one batch,
    THREADS threads) and the seconds it took; the full logits of
    DETERMINISM_PROMPT."""
    out = {}
    for p in prompts:
        name = p["name"]
        t0 = time.monotonic()
        got = U.run_tool(model_path, data[f"{name}.ids"], N_VOCAB, "--threads", THREADS,
                         "--n-ctx", N_CTX)
        out[name] = {
            "top32": np.take_along_axis(got, data[f"{name}.top_ids"], axis=1),
            "argmax": got.argmax(axis=1),
            "rows": got[data[f"{name}.row_pos"]],
            "full": got.copy() if name == DETERMINISM_PROMPT else None,
            "seconds": time.monotonic() - t0,
        }
    return out


# ------------------------------------------------------------------ tests

def test_teacher_forcing(data, prompts, runs):
    s = U.teacher_forcing(data, prompts, runs, GAP_EXCUSE)
    over, worst = [], (0.0, "", 0)
    for name, d in s["per_position"].items():
        spread = data[f"{name}.b1_max_abs_dlogit"].astype(np.float64)
        bound = np.maximum(SPREAD_FACTOR * spread, FLOOR)
        ratio = d / bound
        i = int(ratio.argmax())
        if ratio[i] > worst[0]:
            worst = (float(ratio[i]), name, i)
        over += [f"{name} position {i}: max |Δlogit| {d[i]:.3f} > {bound[i]:.3f} "
                 f"(llama.cpp's own spread there {spread[i]:.3f})"
                 for i in np.flatnonzero(d > bound)]
    r, name, i = worst
    print(f"closest to its per-position bound: {name} position {i}, max |Δ| "
          f"{s['per_position'][name][i]:.3f} = {r:.2f} × bound (llama.cpp's spread there "
          f"{data[f'{name}.b1_max_abs_dlogit'][i]:.3f})")
    assert not s["failures"], "; ".join(s["failures"])
    assert s["n_differ"] <= MAX_TOP1_DIFFER, (
        f"top-1 differs at {s['n_differ']} positions > {MAX_TOP1_DIFFER}")
    assert not over, "; ".join(over)
    assert s["mean_d"] <= MEAN_ABS_DLOGIT, f"mean |Δlogit| {s['mean_d']:.3f} > {MEAN_ABS_DLOGIT}"
    assert s["max_kl"] <= MAX_KL, f"max KL {s['max_kl']:.4f} > {MAX_KL}"
    assert s["mean_kl"] <= MEAN_KL, f"mean KL {s['mean_kl']:.4f} > {MEAN_KL}"


def test_deterministic(model_path, data, runs):
    """Bitwise: THREADS threads vs 1, one batch vs token by token."""
    ids = data[f"{DETERMINISM_PROMPT}.ids"]
    base = runs[DETERMINISM_PROMPT]["full"]
    other = "1" if THREADS != "1" else "2"
    for label, args in ((f"{other} thread(s)", ("--threads", other)),
                        ("token by token", ("--threads", THREADS, "--mode", "single"))):
        got = U.run_tool(model_path, ids, N_VOCAB, *args, "--n-ctx", N_CTX)
        assert got.tobytes() == base.tobytes(), (
            f"{DETERMINISM_PROMPT}: {label} differs from one batch on {THREADS} threads at rows "
            f"{np.unique(np.argwhere(got != base)[:, 0])[:10].tolist()}")
