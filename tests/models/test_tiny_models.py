"""The committed tiny llama models (tests/data/llama/tiny) are what
make_tiny_llama writes from the options recorded in summary.json, byte for
byte — so the llama.cpp logits recorded for them stay tied to a generator
in the repo — and gguf-py reads them with the shapes those options imply.
"""
import json
import os
import pathlib
import shlex
import subprocess

import pytest
from gguf import GGUFReader

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "llama"
SUMMARY = json.loads((DATA / "summary.json").read_text())


@pytest.mark.parametrize("name", sorted(SUMMARY["tiny"]))
def test_tiny_model_reproducible(name, tmp_path):
    spec = SUMMARY["tiny"][name]
    out = tmp_path / spec["file"]
    subprocess.run([os.environ["MAKE_TINY_LLAMA"], str(out), *shlex.split(spec["make_tiny_llama"])],
                   check=True, capture_output=True)
    assert out.read_bytes() == (DATA / "tiny" / spec["file"]).read_bytes()

    o = spec["options"]
    r = GGUFReader(out)
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in r.tensors}
    assert shapes["token_embd.weight"] == (o["n_embd"], o["n_vocab"])
    head_dim = o["n_embd"] // o["n_head"]
    assert shapes["blk.0.attn_k.weight"] == (o["n_embd"], head_dim * o["n_head_kv"])
    assert shapes["blk.0.ffn_up.weight"] == (o["n_embd"], o["n_ff"])
    assert ("output.weight" in shapes) == (not o["tied"])
