#!/usr/bin/env python3
"""
make_corpus.py — writes the model-loading corpus (fuzz_model's seeds and
known-bad files) with gguf-py's GGUFWriter. Deterministic: same bytes on
every run. Run from anywhere: `python3 tests/corpus/model/make_corpus.py`.

  seed/  tiny, complete llama / qwen2 / qwen3 models (F32, 1-2 layers)
  bad/   one defect each, every one refused by ts_model_load with a message
         (tests/engine/test_engine.c checks the messages of the same
         defect classes); the fuzz target replays them under ASan+UBSan.
"""
import os

import numpy as np
from gguf import GGUFWriter

HERE = os.path.dirname(os.path.abspath(__file__))

# n_embd 8, 2 heads of 4, 1 KV head, n_ff 16, vocabulary 16
D, H, G, K, F, V = 8, 2, 1, 4, 16, 16


def tensors(arch, n_layer, rng):
    """name -> float32 array in numpy order (ggml's ne reversed)."""
    t = {"token_embd.weight": (V, D), "output_norm.weight": (D,)}
    for i in range(n_layer):
        b = f"blk.{i}."
        t.update({b + "attn_norm.weight": (D,), b + "attn_q.weight": (H * K, D),
                  b + "attn_k.weight": (G * K, D), b + "attn_v.weight": (G * K, D),
                  b + "attn_output.weight": (D, H * K), b + "ffn_norm.weight": (D,),
                  b + "ffn_gate.weight": (F, D), b + "ffn_up.weight": (F, D),
                  b + "ffn_down.weight": (D, F)})
        if arch == "qwen2":
            t.update({b + "attn_q.bias": (H * K,), b + "attn_k.bias": (G * K,),
                      b + "attn_v.bias": (G * K,)})
        if arch == "qwen3":
            t.update({b + "attn_q_norm.weight": (K,), b + "attn_k_norm.weight": (K,)})
    return {k: rng.uniform(-0.5, 0.5, s).astype(np.float32) for k, s in t.items()}


def write(path, arch="llama", n_layer=1, kv=None, drop=(), replace=None, arch_name=None):
    rng = np.random.RandomState(len(path))
    w = GGUFWriter(path, arch_name or arch)
    keys = {"context_length": 64, "embedding_length": D, "block_count": n_layer,
            "feed_forward_length": F, "attention.head_count": H,
            "attention.head_count_kv": G, "attention.layer_norm_rms_epsilon": 1e-5,
            "rope.freq_base": 10000.0}
    keys.update(kv or {})
    a = arch_name or arch
    for k, v in keys.items():
        if v is None:
            continue
        if isinstance(v, str):
            w.add_string(f"{a}.{k}", v)
        elif isinstance(v, float):
            w.add_float32(f"{a}.{k}", v)
        else:
            w.add_uint32(f"{a}.{k}", v)
    t = tensors(arch, n_layer, rng)
    for name, arr in t.items():
        if name in drop:
            continue
        if replace and name in replace:
            arr = replace[name](arr)
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    seed, bad = os.path.join(HERE, "seed"), os.path.join(HERE, "bad")
    os.makedirs(seed, exist_ok=True)
    os.makedirs(bad, exist_ok=True)
    write(os.path.join(seed, "llama.gguf"), n_layer=2)
    write(os.path.join(seed, "qwen2.gguf"), "qwen2")
    write(os.path.join(seed, "qwen3.gguf"), "qwen3", kv={"attention.key_length": K,
                                                         "attention.value_length": K})
    write(os.path.join(seed, "llama-yarn.gguf"), kv={"rope.scaling.type": "yarn",
                                                     "rope.scaling.factor": 4.0,
                                                     "rope.scaling.original_context_length": 16})
    B = lambda name: os.path.join(bad, name)
    write(B("arch-unsupported.gguf"), arch_name="mamba")
    write(B("missing-block-count.gguf"), kv={"block_count": None})
    write(B("block-count-huge.gguf"), kv={"block_count": 1 << 30})
    write(B("block-count-beyond-tensors.gguf"), kv={"block_count": 3})
    write(B("head-count-zero.gguf"), kv={"attention.head_count": 0})
    write(B("heads-not-divisible.gguf"), kv={"attention.head_count_kv": 3})
    write(B("eps-negative.gguf"), kv={"attention.layer_norm_rms_epsilon": -1.0})
    write(B("rope-dims-odd.gguf"), kv={"rope.dimension_count": 3})
    write(B("rope-dims-too-many.gguf"), kv={"rope.dimension_count": 64})
    write(B("rope-scaling-unknown.gguf"), kv={"rope.scaling.type": "longrope"})
    write(B("rope-base-zero.gguf"), kv={"rope.freq_base": 0.0})
    write(B("key-length-mismatch.gguf"), kv={"attention.key_length": 4,
                                             "attention.value_length": 8})
    write(B("embedding-huge.gguf"), kv={"embedding_length": 1 << 24})
    write(B("missing-tensor.gguf"), drop=("blk.0.ffn_up.weight",))
    write(B("missing-embeddings.gguf"), drop=("token_embd.weight",))
    write(B("wrong-shape.gguf"), replace={"blk.0.ffn_up.weight": lambda a: a.T.copy()})
    write(B("norm-f16.gguf"), replace={"blk.0.attn_norm.weight": lambda a: a.astype(np.float16)})
    write(B("matrix-i32.gguf"), replace={"blk.0.ffn_down.weight": lambda a: a.astype(np.int32)})
    write(B("qwen2-missing-bias.gguf"), "qwen2", drop=("blk.0.attn_k.bias",))
    write(B("qwen3-norm-shape.gguf"), "qwen3",
          replace={"blk.0.attn_q_norm.weight": lambda a: np.zeros(8, np.float32)})


if __name__ == "__main__":
    main()
