#!/usr/bin/env python3
"""Generate the committed llama.cpp logits reference data in tests/data/qwen
(architectures qwen2 and qwen3), the same way as tests/data/llama: the
machinery is scripts/gen_llama_reference.py's, only the models differ.

Needs llama-cpp-python (0.3.36 was used), numpy and gguf-py; the tiny models
are written by tests/models/make_tiny_llama.c (--arch qwen2|qwen3):

  gcc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc tests/models/make_tiny_llama.c \\
      $(find src/core src/gguf -name '*.c') -lm -o /tmp/make_tiny_llama
  python3 scripts/gen_qwen_reference.py --make-tiny /tmp/make_tiny_llama \\
      --qwen2 "$(scripts/fetch-model.sh qwen2.5-coder)"

See tests/data/qwen/README.md for what the files hold.
"""
import argparse
import collections
import hashlib
import json
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gen_llama_reference as ref  # noqa: E402

OUT = ref.ROOT / "tests" / "data" / "qwen"
QWEN2_FILE = "Qwen2.5-Coder-0.5B-Instruct-AWQ.Q4_K_M.gguf"

# name -> make_tiny_llama options (the order is the random-id seed order)
TINY = {
    "qwen2-gqa-odd-f32": dict(arch="qwen2", n_layer=2, n_embd=72, n_head=6, n_head_kv=2, n_ff=200,
                              n_vocab=96, n_ctx=128, rope_base=1000000, rms_eps=1e-6, seed=11,
                              type="F32", tied=0),
    "qwen2-yarn-q8_0-tied": dict(arch="qwen2", n_layer=2, n_embd=64, n_head=4, n_head_kv=2, n_ff=96,
                                 n_vocab=128, n_ctx=128, rope_base=10000, rms_eps=1e-6, seed=12,
                                 type="Q8_0", tied=1, rope_scaling="yarn", rope_scaling_factor=4,
                                 rope_orig_ctx=32),
    "qwen2-yarn-f32": dict(arch="qwen2", n_layer=1, n_embd=32, n_head=2, n_head_kv=1, n_ff=64,
                           n_vocab=64, n_ctx=128, rope_base=10000, rms_eps=1e-6, seed=13,
                           type="F32", tied=0, rope_scaling="yarn", rope_scaling_factor=4,
                           rope_orig_ctx=16),
    "qwen3-hd32-f32": dict(arch="qwen3", n_layer=2, n_embd=64, n_head=4, n_head_kv=1, head_dim=32,
                           n_ff=128, n_vocab=96, n_ctx=128, rope_base=1000000, rms_eps=1e-6,
                           seed=14, type="F32", tied=0),
    "qwen3-tied-f16": dict(arch="qwen3", n_layer=3, n_embd=48, n_head=4, n_head_kv=2, n_ff=136,
                           n_vocab=300, n_ctx=128, rope_base=1000000, rms_eps=1e-6, seed=15,
                           type="F16", tied=1),
}

# The file's own chat template (tokenizer.chat_template) rendered with
# messages = [{"role": "user", "content": USER}] and add_generation_prompt =
# true (no tools, so the template's default system message).
def chat(user):
    return ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
            "assistant.<|im_end|>\n<|im_start|>user\n" + user +
            "<|im_end|>\n<|im_start|>assistant\n")


CHAT_USER = "Write a Python function that returns the n-th prime number."
# The plain long-500 prompt makes this instruct model stop at once
# (<|endoftext|>), so the long text is also asked as a chat turn.
PROMPTS = ref.PROMPTS + [("chat-en", chat(CHAT_USER)), ("chat-long", chat(ref.LONG))]
SPECIAL = {"chat-en", "chat-long"}  # tokenized with special=True (the markers are special tokens)
N_CTX = 1024


def rows_for(pi, name, n_prompt, n_gen):
    """Full logit rows kept (151,936 floats each, ~0.55 MB compressed)."""
    return {"en-story": [0],                          # first token alone (no BOS)
            "zh-intro": [n_prompt - 1],
            "code-python": [n_prompt + n_gen // 2],   # inside the generation
            "chat-en": [n_prompt - 1],                # after the chat markers
            "chat-long": [n_prompt + n_gen // 2]}.get(name, [])  # ~position 640


def describe(path):
    """Size, SHA-256, metadata (less the vocabulary) and tensor types of a GGUF."""
    from gguf import GGUFReader
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    r = GGUFReader(str(path))
    meta = {}
    for k, f in r.fields.items():
        if k.startswith("GGUF."):
            continue
        if k in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"):
            meta[k] = f"array of {len(f.data)}"
        elif k == "tokenizer.chat_template":
            text = f.contents()
            meta[k] = f"{len(text)} characters, SHA-256 {hashlib.sha256(text.encode()).hexdigest()}"
        else:
            meta[k] = f.contents()
    counts = collections.Counter(t.tensor_type.name for t in r.tensors)
    per_name = collections.defaultdict(set)
    for t in r.tensors:
        per_name[re.sub(r"^blk\.\d+\.", "blk.N.", t.name)].add(t.tensor_type.name)
    shapes = {t.name: [int(x) for x in t.shape] for t in r.tensors if not t.name.startswith("blk.")
              or t.name.startswith("blk.0.")}
    return {"file": pathlib.Path(path).name, "bytes": pathlib.Path(path).stat().st_size,
            "sha256": h.hexdigest(), "n_tensors": len(r.tensors), "metadata": meta,
            "tensor_types": dict(sorted(counts.items())),
            "tensor_types_by_name": {k: sorted(v) for k, v in sorted(per_name.items())},
            "shapes_outside_blocks_and_block_0": shapes}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-tiny", default="/tmp/make_tiny_llama")
    ap.add_argument("--qwen2", default=str(pathlib.Path.home() / ".cache/tessera/models" / QWEN2_FILE))
    ap.add_argument("--skip-qwen2", action="store_true", help="only the tiny models")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"versions": ref.versions(),
               "settings": {"kv_type": "F16 (type_k = type_v = default)",
                            "flash_attn": "disabled (llama-cpp-python default)",
                            "rope_scaling": "from the file (llama-cpp-python defaults: "
                                            "rope_scaling_type unspecified, yarn_ext_factor -1, "
                                            "yarn_attn_factor 1, yarn_beta_fast 32, "
                                            "yarn_beta_slow 1, yarn_orig_ctx 0)",
                            "reference_run": "n_threads=1, n_batch=n_ubatch=512, logits_all",
                            "variants": {v: {"n_threads": t, "n_batch": b, "n_ubatch": b}
                                         for v, t, b in ref.VARIANTS},
                            "qwen2.5-coder_n_ctx": N_CTX, "n_gen": ref.N_GEN, "topk": ref.TOPK}}
    summary["tiny"] = ref.gen_tiny(args.make_tiny, TINY, out)
    if not args.skip_qwen2:
        summary["qwen2.5-coder_file"] = describe(args.qwen2)
        prompts, spread = ref.gen_real(args.qwen2, out / "qwen2.5-coder", PROMPTS, N_CTX,
                                       rows_for, SPECIAL)
        summary["qwen2.5-coder_spread_all_prompts"] = spread
        summary["qwen2.5-coder_prompts"] = [
            {k: p[k] for k in ("name", "n_prompt", "n_generated", "stopped_at_eos", "min_top2_gap")}
            for p in prompts]
    (out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(summary.get("qwen2.5-coder_spread_all_prompts"), indent=1))


if __name__ == "__main__":
    sys.exit(main())
