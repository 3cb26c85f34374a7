"""llama_ref.py — a plain float64 numpy forward pass of a `llama` GGUF.

The outside reference for Tessera's llama graph that does not come from
llama.cpp: weights are read with gguf-py's GGUFReader and dequantized with
gguf.quants.dequantize (so quantized weights are used exactly as stored),
everything else is float64:

    x = token_embd[ids]
    per layer:  h = x + Wo · attn(rope(Wq·n), rope(Wk·n), Wv·n),  n = rmsnorm(x)·w
                x = h + Wdown · (silu(Wgate·m) * Wup·m),          m = rmsnorm(h)·w
    logits = output · (rmsnorm(x)·w)         (output = token_embd when tied)

Attention is causal over positions 0..n-1 of one sequence, grouped-query
(query head j reads KV head j // (n_head / n_head_kv)), scaled by
1/sqrt(head_dim); RoPE is llama's NORMAL layout: adjacent pairs
(x[2i], x[2i+1]) rotated by pos · base^(-2i/n_dims).

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
  Accumulation stays float64.

Letters: n tokens, d n_embd, k head dim, h heads, g KV heads, f n_ff,
V vocabulary. Arrays are numpy row-major: a weight of ggml shape (in, out)
is (out, in) here, activations are (n, d).

Command line: `python3 llama_ref.py` compares the reference with llama.cpp's
committed logits for the tiny models (tests/data/llama/tiny) and prints the
differences.
"""
import pathlib
import sys

import numpy as np
from gguf import GGMLQuantizationType as QT
from gguf import GGUFReader
from gguf.quants import dequantize, quantize

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "llama"
TINY_MODELS = ["gqa-odd-f32", "tied-f16", "gqa4-q8_0", "mqa-q4_0-tied"]  # README table order


class LlamaModel:
    """Hyperparameters and float64 weights of a llama GGUF."""

    def __init__(self, path):
        r = GGUFReader(str(path))
        fields = {f.name: f for f in r.fields.values()}

        def scalar(key, default=None):
            if key not in fields:
                if default is None:
                    raise KeyError(f"{path}: metadata key {key} is missing")
                return default
            return fields[key].contents()

        arch = scalar("general.architecture")
        if arch != "llama":
            raise ValueError(f"{path}: architecture {arch!r}, expected 'llama'")
        self.n_layer = int(scalar("llama.block_count"))
        self.n_embd = int(scalar("llama.embedding_length"))
        self.n_head = int(scalar("llama.attention.head_count"))
        self.n_head_kv = int(scalar("llama.attention.head_count_kv", self.n_head))
        self.head_dim = self.n_embd // self.n_head
        self.n_rot = int(scalar("llama.rope.dimension_count", self.head_dim))
        self.rope_base = float(scalar("llama.rope.freq_base", 10000.0))
        self.eps = float(scalar("llama.attention.layer_norm_rms_epsilon"))
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


# ================================================================ forward

def rms_norm(x, w, eps):
    """x (n, d) / sqrt(mean(x²) + eps) · w (d)."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope_normal(x, pos, n_rot, base):
    """Rotate adjacent pairs of the first n_rot dims. x (n, heads, k), pos (n)."""
    i = np.arange(n_rot // 2, dtype=np.float64)
    theta = pos[:, None].astype(np.float64) * base ** (-2.0 * i / n_rot)  # (n, n_rot/2)
    c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    out = x.copy()
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


def forward(m, ids, kv_f16=False, act_quant=False):
    """Logits (n, V) float64 of every position of ids (one sequence, 0..n-1)."""
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    pos = np.arange(n)
    w = m.w

    def mm(x, name):  # x (n, in) · W (out, in)ᵀ → (n, out)
        if act_quant:
            x = ACT_ROUND[m.types[name]](x)
        return x @ w[name].T

    x = w["token_embd.weight"][ids]  # (n, d)
    for il in range(m.n_layer):
        p = f"blk.{il}."
        cur = rms_norm(x, w[p + "attn_norm.weight"], m.eps)
        q = mm(cur, p + "attn_q.weight").reshape(n, m.n_head, m.head_dim)
        k = mm(cur, p + "attn_k.weight").reshape(n, m.n_head_kv, m.head_dim)
        v = mm(cur, p + "attn_v.weight").reshape(n, m.n_head_kv, m.head_dim)
        q = rope_normal(q, pos, m.n_rot, m.rope_base)
        k = rope_normal(k, pos, m.n_rot, m.rope_base)
        x = x + mm(attention(m, q, k, v, kv_f16), p + "attn_output.weight")
        cur = rms_norm(x, w[p + "ffn_norm.weight"], m.eps)
        gate = mm(cur, p + "ffn_gate.weight")
        up = mm(cur, p + "ffn_up.weight")
        # PyTorch: w2(silu(w1(x)) * w3(x))
        x = x + mm(gate / (1.0 + np.exp(-gate)) * up, p + "ffn_down.weight")
    x = rms_norm(x, w["output_norm.weight"], m.eps)
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


VARIANTS = {"f64": {}, "kv16": {"kv_f16": True}, "kv16+act": {"kv_f16": True, "act_quant": True}}


def main():
    z = np.load(DATA / "tiny" / "logits.npz")
    print(f"{'model':14} {'reference':9} {'max|Δ| vs llama.cpp':>20} {'mean|Δ|':>10} {'max KL':>10} top-1")
    for name in TINY_MODELS:
        m = LlamaModel(DATA / "tiny" / f"{name}.gguf")
        ids, ref = z[f"{name}.ids"], z[f"{name}.logits"].astype(np.float64)
        for label, kw in VARIANTS.items():
            out = forward(m, ids, **kw)
            d = np.abs(out - ref)
            agree = int((out.argmax(-1) == ref.argmax(-1)).sum())
            print(f"{name:14} {label:9} {d.max():20.3e} {d.mean():10.3e} {kl(ref, out).max():10.3e} "
                  f"{agree}/{len(ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
