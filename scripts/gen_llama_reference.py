#!/usr/bin/env python3
"""Generate the committed llama.cpp logits reference data in tests/data/llama.

Needs llama-cpp-python (0.3.36 was used) and numpy; the tiny models are
written by tests/models/make_tiny_llama.c (libtessera's GGUF writer):

  gcc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc tests/models/make_tiny_llama.c \\
      $(find src/core src/gguf -name '*.c') -lm -o /tmp/make_tiny_llama
  python3 scripts/gen_llama_reference.py --make-tiny /tmp/make_tiny_llama \\
      --smollm2 ~/.cache/tessera/models/SmolLM2-135M-Instruct.Q4_1.gguf

See tests/data/llama/README.md for what the files hold. `--out DIR` writes
elsewhere (to check that the committed data regenerates: the arrays, the
.gguf files, prompts.json.gz and summary.json come out equal).
scripts/gen_qwen_reference.py reuses this module for tests/data/qwen.
"""
import argparse
import ctypes
import gzip
import json
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "llama"

# name -> make_tiny_llama options
TINY = {
    "gqa-odd-f32": dict(n_layer=2, n_embd=72, n_head=6, n_head_kv=2, n_ff=200, n_vocab=96,
                        n_ctx=128, rope_base=10000, seed=1, type="F32", tied=0),
    "tied-f16": dict(n_layer=3, n_embd=48, n_head=4, n_head_kv=4, n_ff=136, n_vocab=300,
                     n_ctx=128, rope_base=500000, seed=2, type="F16", tied=1),
    "gqa4-q8_0": dict(n_layer=2, n_embd=64, n_head=8, n_head_kv=2, n_ff=96, n_vocab=128,
                      n_ctx=128, rope_base=10000, seed=3, type="Q8_0", tied=0),
    "mqa-q4_0-tied": dict(n_layer=1, n_embd=64, n_head=4, n_head_kv=1, n_ff=128, n_vocab=64,
                          n_ctx=64, rope_base=10000, seed=4, type="Q4_0", tied=1),
}
TINY_N_TOKENS = 40  # token 1 (BOS) then 39 ids drawn with numpy seed 1234 + index

LONG = (
    "The history of the lighthouse is, in many ways, the history of coastal trade itself. "
    "Long before electric lamps and automatic fog signals, sailors relied on bonfires lit on "
    "headlands to warn them of rocks and shallow water. The ancient Pharos of Alexandria, built "
    "in the third century BC on a small island off the Egyptian coast, was one of the tallest "
    "structures in the world for many centuries. Accounts from travellers describe a tower of "
    "three stages: a square base, an octagonal middle section and a cylindrical top where a fire "
    "burned at night and a mirror reflected sunlight by day. Earthquakes damaged the tower "
    "repeatedly, and by the fifteenth century its stones had been reused to build a fortress.\n\n"
    "In medieval Europe, lights were often kept by monks or by local guilds, and ships paid dues "
    "when they entered a harbour to fund the oil and the keeper's wages. The great change came "
    "in the eighteenth and nineteenth centuries. Engineers such as John Smeaton learned to build "
    "towers on wave-swept rocks using interlocking granite blocks and hydraulic lime that set "
    "under water. Augustin Fresnel, a French physicist, designed a lens made of concentric "
    "rings of glass prisms that could gather the light of a single lamp into a powerful beam "
    "visible for more than twenty miles. Each lighthouse was given its own pattern of flashes, "
    "so that a navigator who counted the seconds between them could tell exactly which light "
    "he was looking at and therefore where his ship was.\n\n"
    "Life for the keepers was demanding and often lonely. They trimmed wicks, polished brass "
    "and glass, wound the clockwork that turned the lens, and wrote the weather in a logbook "
    "every few hours. On isolated rock stations three keepers usually lived together for weeks "
    "at a time, and storms could delay the relief boat for many days. Some keepers became "
    "famous for rescues: Grace Darling and her father rowed through a gale in 1838 to save "
    "survivors of a wrecked steamer, and newspapers across Britain told the story.\n\n"
    "During the twentieth century electricity, radio beacons and finally satellite navigation "
    "reduced the importance of the lights. One by one the stations were automated, and the last "
    "keepers left their towers in the 1990s. Yet many lighthouses are still working today, "
    "maintained by remote monitoring and visited by technicians a few times a year. Others have "
    "become museums, guest houses or simply landmarks, photographed by tourists who may never "
    "have seen a ship steer by their beams. For the people who live along dangerous coasts, "
    "however, the sight of a familiar light sweeping across the water at dusk still carries a "
    "sense of safety that is hard to explain to anyone who has not been at sea on a dark night. "
    "Write a short summary of this text in three sentences, and then list the main inventions "
    "that it mentions, with one line for each of them."
)

PROMPTS = [
    ("en-story", "Once upon a time, in a small village by the sea,"),
    ("en-fact", "The capital of France is"),
    ("en-howto", "To bake a simple loaf of bread at home, you will need"),
    ("en-list", "Here are five tips for staying healthy:\n1."),
    ("zh-intro", "人工智能是计算机科学的一个分支，它"),
    ("zh-poem", "床前明月光，疑是地上霜。举头望明月，"),
    ("code-python", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"),
    ("code-c", "#include <stdio.h>\n\nint main(void) {\n    int i;\n    for (i = 0; i < 10; i++) {\n"),
    ("math", "Solve for x: 3x + 7 = 22. First, subtract 7 from both sides:"),
    ("mixed-symbols", "Price: $19.99 (20% off!) — email me at test@example.com 🙂 and"),
    ("long-500", LONG),
]
N_GEN = 64
TOPK = 32


def versions():
    import importlib.metadata as md

    import llama_cpp
    lib = pathlib.Path(llama_cpp.__file__).parent / "lib"
    ggml = ctypes.CDLL(str(lib / "libggml-base.so"))
    ggml.ggml_commit.restype = ctypes.c_char_p
    ggml.ggml_version.restype = ctypes.c_char_p
    cfg = lib.parent.parent / "lib" / "cmake" / "llama" / "llama-config.cmake"
    commit = "unknown"
    if cfg.exists():
        for line in cfg.read_text().splitlines():
            if line.startswith("set(LLAMA_BUILD_COMMIT"):
                commit = line.split()[1].rstrip(")")
    return {
        "llama-cpp-python": md.version("llama_cpp_python"),
        "llama.cpp commit (LLAMA_BUILD_COMMIT)": commit,
        "ggml commit": ggml.ggml_commit().decode(),
        "ggml version": ggml.ggml_version().decode(),
        "numpy": np.__version__,
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
    }


def load(path, n_ctx, n_batch, n_threads):
    from llama_cpp import Llama
    # KV cache F16 (the default type_k/type_v), flash attention off (the
    # llama-cpp-python default), n_ubatch = n_batch.
    return Llama(str(path), logits_all=True, n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch,
                 n_threads=n_threads, n_threads_batch=n_threads, verbose=False, seed=0)


def forced(m, ids):
    """Teacher-forced logits of every position, float32 (n, n_vocab)."""
    m.reset()
    m.eval(list(ids))
    return np.array(m.scores[: len(ids)], dtype=np.float32)


def log_softmax(x):
    x = x.astype(np.float64)
    mx = x.max(axis=-1, keepdims=True)
    return x - mx - np.log(np.exp(x - mx).sum(axis=-1, keepdims=True))


def compare(a, b, per_pos=None):
    """Spread of run b against run a (both (n, V))."""
    la, lb = log_softmax(a), log_softmax(b)
    kl = (np.exp(la) * (la - lb)).sum(axis=-1)  # KL(a || b) per position
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    if per_pos is not None:
        per_pos["max_abs_dlogit"] = d.max(axis=-1).astype(np.float32)
        per_pos["kl"] = kl.astype(np.float32)
    return {
        "max_abs_dlogit": float(d.max()),
        "mean_abs_dlogit": float(d.mean()),
        "max_kl": float(kl.max()),
        "mean_kl": float(kl.mean()),
        "top1_agree": int((a.argmax(-1) == b.argmax(-1)).sum()),
        "n_positions": int(a.shape[0]),
    }


def merge(stats):
    out = {
        "max_abs_dlogit": max(s["max_abs_dlogit"] for s in stats),
        "max_kl": max(s["max_kl"] for s in stats),
        "top1_agree": sum(s["top1_agree"] for s in stats),
        "n_positions": sum(s["n_positions"] for s in stats),
    }
    n = out["n_positions"]
    out["mean_kl"] = sum(s["mean_kl"] * s["n_positions"] for s in stats) / n
    out["mean_abs_dlogit"] = sum(s["mean_abs_dlogit"] * s["n_positions"] for s in stats) / n
    return out


VARIANTS = [("t2_b512", 2, 512), ("t1_b1", 1, 1), ("t2_b1", 2, 1), ("t1_b32", 1, 32)]


def gen_tiny(make_tiny, table=None, out=None):
    """Write the tiny models of `table` (name -> make_tiny_llama options, in
    order) into out/tiny with their reference logits; return their summary."""
    table = TINY if table is None else table
    d = (OUT if out is None else out) / "tiny"
    d.mkdir(parents=True, exist_ok=True)
    arrays, meta = {}, {}
    for idx, (name, c) in enumerate(table.items()):
        path = d / f"{name}.gguf"
        cmd = [str(make_tiny), str(path)]
        for k, v in c.items():
            cmd += ["--" + k.replace("_", "-"), str(v)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        rng = np.random.RandomState(1234 + idx)
        ids = [1] + [int(x) for x in rng.randint(3, c["n_vocab"], size=TINY_N_TOKENS - 1)]
        base = forced(load(path, c["n_ctx"], 512, 1), ids)
        spread = {}
        for vname, nt, nb in VARIANTS:
            spread[vname] = compare(base, forced(load(path, c["n_ctx"], nb, nt), ids))
        arrays[f"{name}.ids"] = np.array(ids, dtype=np.int32)
        arrays[f"{name}.logits"] = base
        meta[name] = {"options": c, "make_tiny_llama": " ".join(cmd[2:]),
                      "file": path.name, "bytes": path.stat().st_size,
                      "n_tokens": len(ids), "spread_vs_t1_b512": spread}
        print(f"tiny {name}: {path.stat().st_size} bytes; spread {spread}", flush=True)
    np.savez_compressed(d / "logits.npz", **arrays)
    return meta


def topk(logits, k):
    # descending logit, ties by ascending id
    order = np.lexsort((np.broadcast_to(np.arange(logits.shape[1]), logits.shape), -logits), axis=1)
    idx = order[:, :k].astype(np.int32)
    return idx, np.take_along_axis(logits, idx, axis=1).astype(np.float32)


def smollm2_rows(pi, name, n_prompt, n_gen):
    """Positions of the full rows kept for SmolLM2's prompt number pi."""
    rows = [n_prompt - 1]
    if pi == 0:
        rows = [0] + rows
    if pi % 3 == 0:
        rows.append(n_prompt + n_gen // 2)
    if name == "long-500":
        rows.append(n_prompt // 2)
    return rows


def gen_real(model, d, prompts, n_ctx, rows_for, special=()):
    """Greedy generation and teacher-forced reference logits of a real model
    for `prompts` [(name, text)] into d/logits.npz and d/prompts.json.gz.
    rows_for(index, name, n_prompt, n_generated) gives the positions whose
    full logit rows are kept; prompts named in `special` are tokenized with
    special-token parsing (chat-template text). One llama.cpp context at a
    time (the logits_all buffers of a 150k vocabulary are large).
    Returns (per-prompt records, spread over all prompts per variant)."""
    import llama_cpp
    from llama_cpp import Llama
    d.mkdir(parents=True, exist_ok=True)
    tok = Llama(str(model), vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(tok.model)
    base_m = load(model, n_ctx, 512, 1)
    arrays, records, bases = {}, [], []
    for pi, (name, text) in enumerate(prompts):
        pids = tok.tokenize(text.encode(), add_bos=True, special=name in special)
        # greedy generation (argmax of llama.cpp's logits; stop after an
        # end-of-generation token)
        base_m.reset()
        base_m.eval(pids)
        gen = []
        for _ in range(N_GEN):
            nxt = int(np.argmax(base_m.scores[base_m.n_tokens - 1]))
            gen.append(nxt)
            if llama_cpp.llama_vocab_is_eog(vocab, nxt):
                break
            base_m.eval([nxt])
        ids = pids + gen
        base = forced(base_m, ids)
        bases.append(base)
        # where the teacher-forced argmax differs from the generation
        tf_argmax = base[len(pids) - 1: len(ids) - 1].argmax(-1).tolist()
        srt = np.sort(base.astype(np.float64), axis=1)
        gap = srt[:, -1] - srt[:, -2]
        ti, tl = topk(base, TOPK)
        arrays[f"{name}.ids"] = np.array(ids, dtype=np.int32)
        arrays[f"{name}.top_ids"] = ti
        arrays[f"{name}.top_logits"] = tl
        rows = sorted(set(r for r in rows_for(pi, name, len(pids), len(gen)) if r < len(ids)))
        arrays[f"{name}.row_pos"] = np.array(rows, dtype=np.int32)
        arrays[f"{name}.rows"] = base[rows]
        records.append({
            "name": name, "text": text, "n_prompt": len(pids), "n_generated": len(gen),
            "stopped_at_eos": bool(gen and llama_cpp.llama_vocab_is_eog(vocab, gen[-1])),
            "generated_text": tok.detokenize(gen).decode("utf-8", "replace"),
            "tf_argmax_matches_generation": tf_argmax == gen,
            "positions_tf_argmax_differs_from_generation":
                [len(pids) - 1 + i for i, (x, y) in enumerate(zip(tf_argmax, gen)) if x != y],
            "min_top2_gap": float(gap.min()),
            "positions_top2_gap_below_0.05": [int(i) for i in np.nonzero(gap < 0.05)[0]],
            "full_row_positions": rows,
            "spread_vs_t1_b512": {},
        })
        if name in special:
            records[-1]["special"] = True
        print(f"{name}: {len(pids)}+{len(gen)} tokens, tf_match {tf_argmax == gen}, "
              f"min gap {gap.min():.4f}", flush=True)
    del base_m
    spread_all = {}
    for v, nt, nb in VARIANTS:
        m = load(model, n_ctx, nb, nt)
        stats = []
        for (name, _), rec, base in zip(prompts, records, bases):
            pp = {}
            s = compare(base, forced(m, arrays[f"{name}.ids"].tolist()), pp)
            if v == "t1_b1":
                arrays[f"{name}.b1_max_abs_dlogit"] = pp["max_abs_dlogit"]
                arrays[f"{name}.b1_kl"] = pp["kl"]
            rec["spread_vs_t1_b512"][v] = s
            stats.append(s)
        del m
        spread_all[v] = merge(stats)
        print(f"{v}: {json.dumps(spread_all[v])}", flush=True)
    # the npz keeps the key order the committed smollm2 data has (per prompt:
    # b1_max_abs_dlogit, b1_kl, ids, top_ids, top_logits, row_pos, rows)
    order = [f"{n}.{k}" for n, _ in prompts for k in ("b1_max_abs_dlogit", "b1_kl", "ids", "top_ids",
                                                       "top_logits", "row_pos", "rows")]
    np.savez_compressed(d / "logits.npz", **{k: arrays[k] for k in order})
    with gzip.open(d / "prompts.json.gz", "wt", encoding="utf-8") as f:
        json.dump(records, f, ensure_ascii=False, indent=1)
    return records, spread_all


def gen_smollm2(model, out=None):
    return gen_real(model, (OUT if out is None else out) / "smollm2", PROMPTS, 1024, smollm2_rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-tiny", default="/tmp/make_tiny_llama")
    ap.add_argument("--smollm2", default=str(pathlib.Path.home() / ".cache/tessera/models/"
                                              "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--skip-smollm2", action="store_true")
    ap.add_argument("--out", default=str(OUT),
                    help="output directory (default tests/data/llama; another one to check "
                         "that the committed data regenerates)")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"versions": versions(),
               "settings": {"kv_type": "F16 (type_k = type_v = default)",
                            "flash_attn": "disabled (llama-cpp-python default)",
                            "reference_run": "n_threads=1, n_batch=n_ubatch=512, logits_all",
                            "variants": {v: {"n_threads": t, "n_batch": b, "n_ubatch": b}
                                         for v, t, b in VARIANTS},
                            "smollm2_n_ctx": 1024, "n_gen": N_GEN, "topk": TOPK}}
    summary["tiny"] = gen_tiny(args.make_tiny, TINY, out)
    if not args.skip_smollm2:
        prompts, spread = gen_smollm2(args.smollm2, out)
        summary["smollm2_spread_all_prompts"] = spread
        summary["smollm2_prompts"] = [{k: p[k] for k in ("name", "n_prompt", "n_generated",
                                                         "stopped_at_eos", "min_top2_gap")}
                                      for p in prompts]
    (out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(summary.get("smollm2_spread_all_prompts"), indent=1))


if __name__ == "__main__":
    sys.exit(main())
