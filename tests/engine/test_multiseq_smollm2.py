"""Batch invariance across sequences on the real SmolLM2-135M-Instruct Q4_1
file: test_multiseq (tests/engine/test_multiseq.c, env TS_TEST_MULTISEQ, set
by CTest) decodes three prompts of tests/data/llama/smollm2 interleaved in
one context, 16 greedy steps of one call each (the second prompt removed
after 8), and asserts every position's logits bitwise equal to each prompt
decoded alone, and one graph per micro-batch; then the tiny models'
script (a sequence started in freed cells, a seq_cp fork, trims) on the
same model. The prompts' ids are the first n_prompt ids of the reference
data (llama.cpp's tokenization). The shared context runs TS_TEST_THREADS
threads (default 2; the environment passes through), the solo runs one.
About 11 s on two idle cores.
"""
import gzip
import json
import os
import pathlib
import re
import subprocess
import time

import numpy as np
import pytest

SMOL = pathlib.Path(__file__).resolve().parent.parent / "data" / "llama" / "smollm2"
PROMPTS = ["en-fact", "zh-intro", "code-python"]  # 5, 26 and 18 tokens


def test_multiseq_smollm2(smollm2_path):
    binary = os.environ.get("TS_TEST_MULTISEQ")
    if not binary:
        pytest.fail("TS_TEST_MULTISEQ is not set (run through ctest, or point it at test_multiseq)")
    with gzip.open(SMOL / "prompts.json.gz", "rt", encoding="utf-8") as f:
        meta = {p["name"]: p for p in json.load(f)}
    data = np.load(SMOL / "logits.npz")
    args = []
    for name in PROMPTS:
        ids = data[f"{name}.ids"][: meta[name]["n_prompt"]]
        args.append(",".join(str(int(i)) for i in ids))
    t0 = time.monotonic()
    r = subprocess.run([binary, str(smollm2_path), *args], capture_output=True, text=True)
    print(r.stdout + r.stderr)
    print(f"test_multiseq on SmolLM2: {time.monotonic() - t0:.1f} s")
    assert r.returncode == 0, "test_multiseq failed (output above)"
    # For information only (bitwise invariance is the test): the greedy
    # tokens beside llama.cpp's greedy continuation of the same prompt.
    lines = re.findall(r"^(\w+) prompt \(seq \d+\): \d+ positions, \w+; ([\d ]+)$", r.stdout, re.M)
    for name, (_, gen) in zip(PROMPTS, lines):
        got = [int(x) for x in gen.split()]
        n_prompt = meta[name]["n_prompt"]
        ref = data[f"{name}.ids"][n_prompt: n_prompt + len(got)].tolist()
        agree = next((i for i, (a, b) in enumerate(zip(got, ref)) if a != b), len(got))
        print(f"{name}: {agree} of {len(got)} greedy tokens as llama.cpp's before the first difference")
