"""The committed tiny models (tests/data/llama/tiny: llama; tests/data/qwen/tiny:
qwen2, qwen3) are what make_tiny_llama writes from the options recorded in
each summary.json, byte for byte — so the llama.cpp logits recorded for them
stay tied to a generator in the repo — and gguf-py reads them with the
shapes those options imply.
"""
import json
import os
import pathlib
import shlex
import subprocess

import pytest
from gguf import GGUFReader

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"
CASES = [(family, name) for family in ("llama", "qwen")
         for name in sorted(json.loads((DATA / family / "summary.json").read_text())["tiny"])]


@pytest.mark.parametrize("family,name", CASES)
def test_tiny_model_reproducible(family, name, tmp_path):
    spec = json.loads((DATA / family / "summary.json").read_text())["tiny"][name]
    out = tmp_path / spec["file"]
    subprocess.run([os.environ["MAKE_TINY_LLAMA"], str(out), *shlex.split(spec["make_tiny_llama"])],
                   check=True, capture_output=True)
    assert out.read_bytes() == (DATA / family / "tiny" / spec["file"]).read_bytes()

    o = spec["options"]
    arch = o.get("arch", "llama")
    r = GGUFReader(out)
    assert r.fields["general.architecture"].contents() == arch
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in r.tensors}
    assert shapes["token_embd.weight"] == (o["n_embd"], o["n_vocab"])
    head_dim = o.get("head_dim", o["n_embd"] // o["n_head"])
    assert shapes["blk.0.attn_q.weight"] == (o["n_embd"], head_dim * o["n_head"])
    assert shapes["blk.0.attn_k.weight"] == (o["n_embd"], head_dim * o["n_head_kv"])
    assert shapes["blk.0.attn_output.weight"] == (head_dim * o["n_head"], o["n_embd"])
    assert shapes["blk.0.ffn_up.weight"] == (o["n_embd"], o["n_ff"])
    assert ("output.weight" in shapes) == (not o["tied"])
    # qwen2: q/k/v biases; qwen3: per-head RMSNorm weights on Q and K
    assert ("blk.0.attn_q.bias" in shapes) == (arch == "qwen2")
    if arch == "qwen2":
        assert shapes["blk.0.attn_k.bias"] == shapes["blk.0.attn_v.bias"] == (head_dim * o["n_head_kv"],)
    assert ("blk.0.attn_q_norm.weight" in shapes) == (arch == "qwen3")
    if arch == "qwen3":
        assert shapes["blk.0.attn_q_norm.weight"] == shapes["blk.0.attn_k_norm.weight"] == (head_dim,)
        assert r.fields["qwen3.attention.key_length"].contents() == head_dim
    if "rope_scaling" in o:
        assert r.fields[f"{arch}.rope.scaling.type"].contents() == o["rope_scaling"]
        assert r.fields[f"{arch}.rope.scaling.original_context_length"].contents() == o["rope_orig_ctx"]
