"""llama_ref.py — a plain float64 numpy forward pass of a `llama`, `qwen2`
or `qwen3` GGUF (the llama-family decoder with per-architecture switches).

The outside reference for Tessera's decoder graph that does not come from
llama.cpp: weights are read with gguf-py's GGUFReader and dequantized with
gguf.quants.dequantize (so quantized weights are used exactly as stored),
everything else is float64:

    x = token_embd[ids]
    per layer:  h = x + Wo · attn(rope(Wq·n), rope(Wk·n), Wv·n),  n = rmsnorm(x)·w
                x = h + Wdown · (silu(Wgate·m) * Wup·m),          m = rmsnorm(h)·w
    logits = output · (rmsnorm(x)·w)         (output = token_embd when tied)

Attention is causal over positions 0..n-1 of one sequence, grouped-query
(query head j reads KV head j // (n_head / n_head_kv)), scaled by
1/sqrt(head_dim). Pair i of the first n_rot dims rotates by the angle
pos · base^(-2i/n_rot). Per architecture (Model.arch):

- llama: NORMAL RoPE layout, adjacent pairs (x[2i], x[2i+1]);
- qwen2: biases added to the Q, K and V projections; NEOX layout, pairs
  (x[i], x[i + n_rot/2]); YaRN when rope.scaling.type = yarn (below);
- qwen3: NEOX; every query and key head RMS-normalized with its own
  weight (attn_q_norm / attn_k_norm, length head_dim) before RoPE; the head
  dim is attention.key_length (may differ from n_embd / n_head).

YaRN is ggml's rope_yarn (ggml-cpu ops.cpp; ggml_rope_yarn_corr_dims in
ggml.c) with llama.cpp's defaults for a file that says yarn: freq_scale =
1/rope.scaling.factor, ext_factor 1, attn_factor 1, beta_fast 32,
beta_slow 1, n_ctx_orig = rope.scaling.original_context_length. For pair i
(i0 = 2i), θ = pos · base^(-2i/n_rot):

    corr_dim(β) = n_rot · ln(n_ctx_orig / (β·2π)) / (2 ln base)
    low = max(0, floor(corr_dim(beta_fast))), high = min(n_rot − 1, ceil(corr_dim(beta_slow)))
    ramp = 1 − clamp((i − low) / max(0.001, high − low), 0, 1)
    angle = freq_scale·θ·(1 − ramp) + θ·ramp          (extrapolate the fast dims)
    cos, sin = cos(angle)·mscale, sin(angle)·mscale,  mscale = 1 + 0.1·ln(1/freq_scale)

`rope.scaling.type = linear` is the angle freq_scale·θ alone (mscale 1).

Two optional roundings model what llama.cpp (and Tessera) do on the CPU, so
that a test can tell an engine's own error from the roundings it shares
with llama.cpp. Both are off by default (the plain float64 pass):

- `kv_f16=True`: K (after RoPE) and V rounded to half precision, as an F16
  KV cache stores them; Q rounded to F16 for Q·K and the softmax output
  rounded to F16 for ·V, as ggml's F16 dot product converts its right-hand
  side (flash attention off);
- `act_quant=True`: before every matrix product the activations are
  rounded to the weight's dot-product type: F32 for F32 weights, F16 for
  F16, Q8_0 (gguf-py's quantizer, dequantized) for Q8_0 / Q4_0 / IQ4_NL,
  Q8_1 for Q4_1 (computed here: gguf-py has no Q8_1 quantizer).
  Accumulation stays float64. `act_quant="x86"` quantizes to Q8_0 as
  llama.cpp's x86 build does at run time (ggml-cpu arch/x86
  quantize_row_q8_0, AVX2 path: x · (127/amax), rounded half to even)
  instead of ggml's reference quantizer (x · (1/(amax/127)), rounded half
  away from zero), which Tessera and gguf-py implement: the two differ
  only where x·scale falls within a float32 ulp of a half integer.

`forward(..., trace=f)` calls f(name, array) with the intermediate values,
for finding where two engines part: "blk.N.attn_norm", "blk.N.q" …
(names in forward, llama.cpp's where it has one) and, for every matrix
product, "<weight name>:in", its input before the activation rounding.

Letters: n tokens, d n_embd, k head dim, h heads, g KV heads, f n_ff,
V vocabulary. Arrays are numpy row-major: a weight of ggml shape (in, out)
is (out, in) here, activations are (n, d).

Command line: `python3 llama_ref.py [llama|qwen]` compares the reference
with llama.cpp's committed logits for the tiny models (tests/data/llama/tiny,
tests/data/qwen/tiny) and prints the differences.
"""
import math
import pathlib
import sys

import numpy as np
from gguf import GGMLQuantizationType as QT
from gguf import GGUFReader
from gguf.quants import dequantize, quantize

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "llama"
TINY_MODELS = ["gqa-odd-f32", "tied-f16", "gqa4-q8_0", "mqa-q4_0-tied"]  # README table order
QWEN_DATA = DATA.parent / "qwen"
QWEN_TINY_MODELS = ["qwen2-gqa-odd-f32", "qwen2-yarn-q8_0-tied", "qwen2-yarn-f32",
                    "qwen3-hd32-f32", "qwen3-tied-f16"]  # summary.json order
ARCHS = ("llama", "qwen2", "qwen3")


class Model:
    """Hyperparameters and float64 weights of a llama / qwen2 / qwen3 GGUF."""

    def __init__(self, path):
        r = GGUFReader(str(path))
        fields = {f.name: f for f in r.fields.values()}

        def scalar(key, default=None):
            if key not in fields:
                if default is None:
                    raise KeyError(f"{path}: metadata key {key} is missing")
                return default
            return fields[key].contents()

        arch = self.arch = scalar("general.architecture")
        if arch not in ARCHS:
            raise ValueError(f"{path}: architecture {arch!r}, expected one of {ARCHS}")
        self.n_layer = int(scalar(f"{arch}.block_count"))
        self.n_embd = int(scalar(f"{arch}.embedding_length"))
        self.n_head = int(scalar(f"{arch}.attention.head_count"))
        self.n_head_kv = int(scalar(f"{arch}.attention.head_count_kv", self.n_head))
        self.head_dim = int(scalar(f"{arch}.attention.key_length", self.n_embd // self.n_head))
        self.n_rot = int(scalar(f"{arch}.rope.dimension_count", self.head_dim))
        self.rope_neox = arch != "llama"
        self.rope_base = float(scalar(f"{arch}.rope.freq_base", 10000.0))
        self.eps = float(scalar(f"{arch}.attention.layer_norm_rms_epsilon"))
        scaling = scalar(f"{arch}.rope.scaling.type", "none")
        if scaling not in ("none", "linear", "yarn"):
            raise ValueError(f"{path}: rope.scaling.type {scaling!r} is not modelled")
        factor = float(scalar(f"{arch}.rope.scaling.factor", 0.0)) or 1.0
        self.freq_scale = 1.0 / factor
        self.yarn = scaling == "yarn"
        self.n_ctx_orig = int(scalar(f"{arch}.rope.scaling.original_context_length",
                                     scalar(f"{arch}.context_length")))
        self.w, self.types = {}, {}
        for t in r.tensors:
            a = dequantize(t.data, t.tensor_type).astype(np.float64)
            # numpy's shape is ggml's reversed: (ne1, ne0) = (out, in)
            self.w[t.name] = a.reshape([int(x) for x in reversed(t.shape)])
            self.types[t.name] = t.tensor_type
        if "output.weight" not in self.w:  # tied output
            self.w["output.weight"] = self.w["token_embd.weight"]
            self.types["output.weight"] = self.types["token_embd.weight"]
        self.n_vocab = self.w["token_embd.weight"].shape[0]


# ============================================================== roundings

def f16(x):
    return x.astype(np.float16).astype(np.float64)


def q8_0(x):
    """Rows rounded to Q8_0 (blocks of 32: d = amax/127, q = round(x/d)) and back."""
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    return dequantize(quantize(x32, QT.Q8_0), QT.Q8_0).astype(np.float64)


def q8_0_x86(x):
    """Rows rounded to Q8_0 as ggml-cpu's x86 quantize_row_q8_0 does (AVX2
    path) and back."""
    q, d = q8_0_levels(x, x86=True)
    return (q.astype(np.float64) * f16(d.astype(np.float64))).reshape(x.shape)


def q8_0_levels(x, x86=False):
    """The Q8_0 levels (blocks, 32) int and scales (blocks, 1) float32 of rows x.
    Reference quantizer: q = roundf(x · (1/d)), d = amax/127 (gguf-py's; ggml's
    quantize_row_q8_0_ref). x86: q = x · (127/amax) rounded half to even."""
    b = np.asarray(x, dtype=np.float32).reshape(-1, 32)
    amax = np.abs(b).max(axis=1, keepdims=True)
    d = amax / np.float32(127)
    if not x86:
        raw = quantize(np.ascontiguousarray(b), QT.Q8_0).reshape(-1, 34)
        return raw[:, 2:].view(np.int8).astype(np.int64), d
    iden = np.where(amax > 0, np.float32(127) / np.where(amax > 0, amax, np.float32(1)),
                    np.float32(0)).astype(np.float32)
    return np.rint(b * iden).astype(np.int64), d  # rint: halves to even (_MM_ROUND_NEAREST)


def q8_1(x):
    """Rows rounded to Q8_1 and back: ggml's reference quantizer (as Q8_0,
    roundf), then q · d with d stored as F16 — what Q4_1 · Q8_1 multiplies."""
    b = np.asarray(x, dtype=np.float32).reshape(-1, 32)
    d = np.abs(b).max(axis=1, keepdims=True) / np.float32(127)
    inv = np.where(d > 0, np.float32(1) / np.where(d > 0, d, np.float32(1)), np.float32(0))
    y = (b * inv.astype(np.float32)).astype(np.float32)
    q = np.trunc(y + np.copysign(np.float32(0.5), y))  # roundf: halves away from zero
    return (q.astype(np.float64) * f16(d.astype(np.float64))).reshape(x.shape)


# activations are rounded to this before a product with a weight of the type
ACT_ROUND = {
    QT.F32: lambda x: x.astype(np.float32).astype(np.float64),
    QT.F16: f16,
    QT.Q8_0: q8_0,
    QT.Q4_0: q8_0,
    QT.IQ4_NL: q8_0,
    QT.Q4_1: q8_1,
}
ACT_ROUND_X86 = {**ACT_ROUND, QT.Q8_0: q8_0_x86, QT.Q4_0: q8_0_x86, QT.IQ4_NL: q8_0_x86}


# ================================================================ forward

def rms_norm(x, w, eps):
    """x (n, d) / sqrt(mean(x²) + eps) · w (d)."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def yarn_corr_dims(m):
    """ggml_rope_yarn_corr_dims: the pair indices where the YaRN ramp starts and ends."""
    def corr_dim(beta):
        return m.n_rot * math.log(m.n_ctx_orig / (beta * 2 * math.pi)) / (2 * math.log(m.rope_base))
    return max(0.0, math.floor(corr_dim(32.0))), min(m.n_rot - 1.0, math.ceil(corr_dim(1.0)))


def rope(m, x, pos):
    """Rotate the first n_rot dims of x (n, heads, k) at positions pos (n)."""
    n_rot = m.n_rot
    i = np.arange(n_rot // 2, dtype=np.float64)
    theta = pos[:, None].astype(np.float64) * m.rope_base ** (-2.0 * i / n_rot)  # (n, n_rot/2)
    angle, mscale = m.freq_scale * theta, 1.0
    if m.yarn:  # ggml rope_yarn with ext_factor 1
        low, high = yarn_corr_dims(m)
        ramp = 1.0 - np.clip((i - low) / max(0.001, high - low), 0.0, 1.0)  # (n_rot/2)
        angle = angle * (1.0 - ramp) + theta * ramp
        mscale = 1.0 + 0.1 * math.log(1.0 / m.freq_scale)
    c = (np.cos(angle) * mscale)[:, None, :]
    s = (np.sin(angle) * mscale)[:, None, :]
    out = x.copy()
    if m.rope_neox:  # pairs (x[i], x[i + n_rot/2])
        x0, x1 = x[..., : n_rot // 2], x[..., n_rot // 2 : n_rot]
        out[..., : n_rot // 2] = x0 * c - x1 * s
        out[..., n_rot // 2 : n_rot] = x0 * s + x1 * c
    else:  # adjacent pairs (x[2i], x[2i+1])
        x0, x1 = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        out[..., 0:n_rot:2] = x0 * c - x1 * s
        out[..., 1:n_rot:2] = x0 * s + x1 * c
    return out


def attention(m, q, k, v, kv_f16=False):
    """Causal GQA. q (n, h, k), k/v (n, g, k) → (n, h·k)."""
    n = q.shape[0]
    if kv_f16:
        q, k, v = f16(q), f16(k), f16(v)
    rep = m.n_head // m.n_head_kv
    k = np.repeat(k, rep, axis=1)  # (n, h, k)
    v = np.repeat(v, rep, axis=1)
    scores = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(m.head_dim)  # (h, n, n)
    scores = np.where(np.tril(np.ones((n, n), dtype=bool))[None], scores, -np.inf)
    scores -= scores.max(axis=-1, keepdims=True)  # subtract the max for stability
    p = np.exp(scores)
    p /= p.sum(axis=-1, keepdims=True)
    if kv_f16:
        p = f16(p)
    return np.einsum("hij,jhd->ihd", p, v).reshape(n, -1)


def forward(m, ids, kv_f16=False, act_quant=False, trace=None):
    """Logits (n, V) float64 of every position of ids (one sequence, 0..n-1).
    act_quant: False, True (reference quantizers) or "x86" (module doc)."""
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    pos = np.arange(n)
    w = m.w
    act_round = ACT_ROUND_X86 if act_quant == "x86" else ACT_ROUND
    show = trace or (lambda name, a: None)

    def mm(x, name):  # x (n, in) · W (out, in)ᵀ (+ bias) → (n, out)
        show(name + ":in", x)
        if act_quant:
            x = act_round[m.types[name]](x)
        y = x @ w[name].T
        bias = name.replace(".weight", ".bias")
        return y + w[bias] if bias in w else y

    x = w["token_embd.weight"][ids]  # (n, d)
    for il in range(m.n_layer):
        p = f"blk.{il}."
        cur = rms_norm(x, w[p + "attn_norm.weight"], m.eps)
        show(p + "attn_norm", cur)
        q = mm(cur, p + "attn_q.weight").reshape(n, m.n_head, m.head_dim)
        k = mm(cur, p + "attn_k.weight").reshape(n, m.n_head_kv, m.head_dim)
        v = mm(cur, p + "attn_v.weight").reshape(n, m.n_head_kv, m.head_dim)
        show(p + "q", q), show(p + "k", k), show(p + "v", v)
        if p + "attn_q_norm.weight" in w:  # qwen3: RMSNorm of every head
            q = rms_norm(q, w[p + "attn_q_norm.weight"], m.eps)
            k = rms_norm(k, w[p + "attn_k_norm.weight"], m.eps)
            show(p + "q_normed", q), show(p + "k_normed", k)
        q, k = rope(m, q, pos), rope(m, k, pos)
        show(p + "q_rope", q), show(p + "k_rope", k)
        a = attention(m, q, k, v, kv_f16)
        show(p + "kqv_out", a)
        x = x + mm(a, p + "attn_output.weight")
        show(p + "ffn_inp", x)
        cur = rms_norm(x, w[p + "ffn_norm.weight"], m.eps)
        show(p + "ffn_norm", cur)
        gate = mm(cur, p + "ffn_gate.weight")
        up = mm(cur, p + "ffn_up.weight")
        # PyTorch: w2(silu(w1(x)) * w3(x))
        x = x + mm(gate / (1.0 + np.exp(-gate)) * up, p + "ffn_down.weight")
        show(p + "l_out", x)
    x = rms_norm(x, w["output_norm.weight"], m.eps)
    show("result_norm", x)
    return mm(x, "output.weight")


# ================================================================ metrics

def log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def kl(p_logits, q_logits):
    """KL(p ‖ q) in nats per row, from logits, in float64."""
    lp, lq = log_softmax(p_logits), log_softmax(q_logits)
    return (np.exp(lp) * (lp - lq)).sum(axis=-1)


def top2_gap(logits):
    """Top-1 minus top-2 logit per row."""
    s = np.sort(np.asarray(logits, dtype=np.float64), axis=-1)
    return s[..., -1] - s[..., -2]


VARIANTS = {"f64": {}, "kv16": {"kv_f16": True}, "kv16+act": {"kv_f16": True, "act_quant": True},
            "kv16+x86": {"kv_f16": True, "act_quant": "x86"}}


def main(argv):
    sets = {"llama": (DATA, TINY_MODELS), "qwen": (QWEN_DATA, QWEN_TINY_MODELS)}
    print(f"{'model':22} {'reference':9} {'max|Δ| vs llama.cpp':>20} {'mean|Δ|':>10} "
          f"{'max KL':>10} top-1")
    for which in argv[1:] or sets:
        data, names = sets[which]
        z = np.load(data / "tiny" / "logits.npz")
        for name in names:
            m = Model(data / "tiny" / f"{name}.gguf")
            ids, ref = z[f"{name}.ids"], z[f"{name}.logits"].astype(np.float64)
            for label, kw in VARIANTS.items():
                out = forward(m, ids, **kw)
                d = np.abs(out - ref)
                agree = int((out.argmax(-1) == ref.argmax(-1)).sum())
                print(f"{name:22} {label:9} {d.max():20.3e} {d.mean():10.3e} "
                      f"{kl(ref, out).max():10.3e} {agree}/{len(ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
