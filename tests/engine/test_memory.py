"""Memory of a real generation: SmolLM2-135M-Instruct Q4_1 (98 MB file),
default context parameters (what a user gets: n_ctx = min(training
context, 4096) = 4096 cells, F16 KV, n_ubatch 512), the long-500 prompt
(578 tokens) decoded in one call, then 64 tokens generated greedily one
per call. logits_tool --report prints /proc/self/status figures before and
after the model load and at the end, and the context's stats.

- The weights are mapped, not copied: loading the model adds less than
  LOAD_ANON_MAX of anonymous memory (the numeric metadata arrays are
  copied; 98 MB of tensors are not).
- At the end, anonymous memory is bounded by what the context reserved:
  RssAnon <= kv_bytes + arena_bytes + weight_copy_bytes + 64 MiB (the
  logits, staging buffers, libc, the tool itself). weight_copy_bytes are
  the CPU backend's repacked weights (an ISA path with row-interleaved
  kernels; 0 on the scalar path), never more than the weights themselves.
- The repacked weights replace their file pages instead of adding to
  them: at the end RssFile + weight_copy_bytes <= 1.1 × weight_bytes + 8
  MiB, and the peak (VmHWM) stays within the model file + KV + arena +
  10% (the file's pages are released tensor by tensor as each is
  repacked).
"""
import gzip
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "models"))
import llama_ref as R  # noqa: E402

MIB = 1 << 20
SLACK = 64 * MIB
LOAD_ANON_MAX = 16 * MIB
PROMPT = "long-500"
N_GENERATE = 64


def test_generation_memory(smollm2_path, tmp_path):
    tool = os.environ.get("TS_LOGITS_TOOL")
    if not tool:
        pytest.fail("TS_LOGITS_TOOL is not set (run through ctest, or point it at logits_tool)")
    z = np.load(R.DATA / "smollm2" / "logits.npz")
    with gzip.open(R.DATA / "smollm2" / "prompts.json.gz", "rt", encoding="utf-8") as f:
        n_prompt = {p["name"]: p["n_prompt"] for p in json.load(f)}[PROMPT]
    ids_path = tmp_path / "prompt.i32"
    z[f"{PROMPT}.ids"][:n_prompt].astype("<i4").tofile(ids_path)
    r = subprocess.run([tool, str(smollm2_path), "--ids", str(ids_path), "--generate",
                        str(N_GENERATE), "--threads", os.environ.get("TS_TEST_THREADS", "2"),
                        "--report"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr.strip()
    rep = {}
    for line in r.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            rep[key] = float(value)
        elif line.startswith("generated:"):
            generated = line.split()[1:]
    assert len(generated) == N_GENERATE
    llama_cpp = z[f"{PROMPT}.ids"][n_prompt:].tolist()  # llama.cpp's greedy tokens
    same = next((i for i, (a, b) in enumerate(zip(map(int, generated), llama_cpp)) if a != b),
                N_GENERATE)
    assert rep["n_tokens"] == n_prompt + N_GENERATE - 1  # the last token is never decoded

    def mib(x):
        return f"{x / MIB:7.1f} MiB"

    load_anon = rep["after_load.RssAnon"] - rep["before_load.RssAnon"]
    copies = rep["weight_copy_bytes"]
    bound = rep["kv_bytes"] + rep["arena_bytes"] + copies + SLACK
    peak_bound = 1.1 * (smollm2_path.stat().st_size + rep["kv_bytes"] + rep["arena_bytes"])
    print(f"\nSmolLM2 {PROMPT}: {n_prompt} prompt + {N_GENERATE} generated tokens, "
          f"n_ctx {rep['n_ctx']:.0f}, n_ubatch {rep['n_ubatch']:.0f}")
    note = ""
    if same < N_GENERATE:
        top = z[f"{PROMPT}.top_logits"][n_prompt - 1 + same]
        note = (f" (llama.cpp's top-1 − top-2 gap at that step, teacher-forced: "
                f"{top[0] - top[1]:.3f})")
    print(f"  generated tokens equal to llama.cpp's greedy generation: the first {same} of "
          f"{N_GENERATE}{note}")
    print(f"  model file weights {mib(rep['weight_bytes'])}")
    print(f"  RssAnon added by ts_model_load {mib(load_anon)} (bound {mib(LOAD_ANON_MAX)})")
    print(f"  kv_bytes {mib(rep['kv_bytes'])}, arena_bytes {mib(rep['arena_bytes'])}, "
          f"weight_copy_bytes {mib(copies)}")
    print(f"  peak (VmHWM) {mib(rep['end.VmHWM'])} (bound {mib(peak_bound)})")
    print(f"  at the end: RssAnon {mib(rep['end.RssAnon'])} (bound {mib(bound)}), "
          f"RssFile {mib(rep['end.RssFile'])}, VmRSS {mib(rep['end.VmRSS'])}")
    assert load_anon < LOAD_ANON_MAX, "loading the model copied data into anonymous memory"
    assert load_anon < rep["weight_bytes"] / 8
    assert rep["end.RssAnon"] <= bound
    assert copies <= rep["weight_bytes"]
    assert rep["end.RssAnon"] - copies < rep["weight_bytes"] / 2
    # the weights are read through the mapping or from their repacked copy,
    # never both: a copy's file pages were released
    assert rep["end.RssFile"] + copies <= rep["weight_bytes"] * 1.1 + 8 * MIB
    assert rep["end.RssFile"] + copies >= rep["weight_bytes"] * 0.9
    assert rep["end.VmHWM"] <= peak_bound
