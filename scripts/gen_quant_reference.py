#!/usr/bin/env python3
"""Generate the committed quantization reference data in tests/data/quant.

Development-time only (CI never runs it): needs llama-cpp-python (the
reference: llama.cpp's own quantizer, llama_model_quantize) and gguf-py,
plus quant_tool from a Tessera build (its `write-f32-model` writes the
source file with libtessera's GGUF writer, so the data also shows that
llama.cpp loads our files).

  python3 scripts/gen_quant_reference.py --quant-tool BUILD/tests/quant_tool

Writes
  source-f32.gguf   ROWS x COLS seeded float rows as the F32 weights of a
                    one-layer `llama` model (9 tensors, ROWS/9 rows each)
  ref-<TYPE>.gguf   llama.cpp's quantization of it, every weight in TYPE
  rows.json         what each source row is (kind, tensor, row)
  README.md         versions, parameters and this command

Row set: synthetic distributions (normal at several scales, uniform, one-
sided, heavy-tailed, tiny and large scales, zero, constant, sparse,
outliers, exact rounding ties, per-block mixtures) and real weights
dequantized from SmolLM2-135M-Instruct.Q4_1.gguf (its Q8_0 token
embeddings, Q4_1 matrices and F32 norm vectors).
"""
import argparse
import ctypes
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as QT
from gguf import GGUFReader
from gguf.quants import dequantize

COLS = 512  # a multiple of 256, so every K-quant block is whole
ROWS_PER_TENSOR = 16
TENSORS = [  # quant_tool write-f32-model's order
    "token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
    "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_gate.weight",
    "blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "output.weight",
]
SEED = 20240611

# Output type name -> (llama_ftype, the ggml type every weight must get).
# With pure=True the K "S" mixtures collapse to their base type.
FTYPES = {
    "Q4_0": ("LLAMA_FTYPE_MOSTLY_Q4_0", QT.Q4_0),
    "Q4_1": ("LLAMA_FTYPE_MOSTLY_Q4_1", QT.Q4_1),
    "Q5_0": ("LLAMA_FTYPE_MOSTLY_Q5_0", QT.Q5_0),
    "Q5_1": ("LLAMA_FTYPE_MOSTLY_Q5_1", QT.Q5_1),
    "Q8_0": ("LLAMA_FTYPE_MOSTLY_Q8_0", QT.Q8_0),
    "Q2_K": ("LLAMA_FTYPE_MOSTLY_Q2_K", QT.Q2_K),
    "Q3_K": ("LLAMA_FTYPE_MOSTLY_Q3_K_S", QT.Q3_K),
    "Q4_K": ("LLAMA_FTYPE_MOSTLY_Q4_K_S", QT.Q4_K),
    "Q5_K": ("LLAMA_FTYPE_MOSTLY_Q5_K_S", QT.Q5_K),
    "Q6_K": ("LLAMA_FTYPE_MOSTLY_Q6_K", QT.Q6_K),
    "IQ4_NL": ("LLAMA_FTYPE_MOSTLY_IQ4_NL", QT.IQ4_NL),
}

# ------------------------------------------------------------ row kinds


def _normal(rng, scale=1.0, mean=0.0):
    return rng.normal(mean, scale, COLS)


def _block_scaled(rng, lo, hi):
    """Normal values whose scale changes per 32-block, log-uniform in [lo, hi]."""
    s = np.exp(rng.uniform(np.log(lo), np.log(hi), COLS // 32)).repeat(32)
    return rng.normal(0, 1, COLS) * s


def _sparse(rng, density):
    x = np.zeros(COLS)
    idx = rng.random(COLS) < density
    x[idx] = rng.normal(0, 1, idx.sum())
    return x


def _outliers(rng, frac, mag):
    x = rng.normal(0, 1, COLS)
    idx = rng.random(COLS) < frac
    x[idx] *= mag
    return x


def _one_hot(rng):
    """One nonzero value per 32-block, at a random place and sign."""
    x = np.zeros(COLS)
    pos = np.arange(0, COLS, 32) + rng.integers(0, 32, COLS // 32)
    x[pos] = rng.normal(0, 2, COLS // 32)
    return x


def _half_ties(rng, amax):
    """Half-integers with -amax first in every block: for Q4_0 (amax 8) and
    Q8_0 (amax 127) d = 1 exactly, so x/d + offset lands on rounding ties."""
    x = (rng.integers(-amax, amax, COLS) + 0.5).astype(np.float64)
    x[::32] = -amax
    return x


def _zero_blocks(rng):
    x = rng.normal(0, 1, COLS)
    x.reshape(-1, 32)[rng.random(COLS // 32) < 0.5] = 0
    return x


SYNTHETIC = {
    "token_embd.weight": [
        ("normal(0,1)", 4, lambda r: _normal(r)),
        ("normal(0,0.02)", 4, lambda r: _normal(r, 0.02)),
        ("normal(0.5,3)", 4, lambda r: _normal(r, 3.0, 0.5)),
        ("normal, per-block scale 1e-3..1e2", 4, lambda r: _block_scaled(r, 1e-3, 1e2)),
    ],
    "blk.0.attn_q.weight": [
        ("uniform(-1,1)", 4, lambda r: r.uniform(-1, 1, COLS)),
        ("uniform(0,1) (all positive)", 4, lambda r: r.uniform(0, 1, COLS)),
        ("uniform(-3,-1) (all negative)", 4, lambda r: r.uniform(-3, -1, COLS)),
        ("ramp", 4, lambda r: np.linspace(r.uniform(-5, 0), r.uniform(0, 5), COLS)),
    ],
    "blk.0.attn_k.weight": [
        ("student-t df=2", 4, lambda r: r.standard_t(2, COLS)),
        ("laplace", 4, lambda r: r.laplace(0, 1, COLS)),
        ("cauchy clipped to 1e3", 4, lambda r: np.clip(r.standard_cauchy(COLS), -1e3, 1e3)),
        ("signed lognormal", 4, lambda r: r.lognormal(0, 1.5, COLS) * r.choice([-1, 1], COLS)),
    ],
    "blk.0.attn_v.weight": [
        ("normal * 1e-8", 4, lambda r: _normal(r, 1e-8)),
        ("normal * 1e-20 (scales underflow half)", 2, lambda r: _normal(r, 1e-20)),
        ("normal * 1e4", 4, lambda r: _normal(r, 1e4)),
        ("uniform(-3e4,3e4)", 2, lambda r: r.uniform(-3e4, 3e4, COLS)),
        ("normal, per-block scale 1e-6..1e3", 4, lambda r: _block_scaled(r, 1e-6, 1e3)),
    ],
    "blk.0.attn_output.weight": [
        ("all zero", 2, lambda r: np.zeros(COLS)),
        ("constant 1", 1, lambda r: np.ones(COLS)),
        ("constant -0.5", 1, lambda r: np.full(COLS, -0.5)),
        ("constant pi", 1, lambda r: np.full(COLS, np.pi)),
        ("constant 1e-3", 1, lambda r: np.full(COLS, 1e-3)),
        ("normal with half the blocks zero", 2, _zero_blocks),
        ("one nonzero per block", 2, _one_hot),
        ("integers -8..7", 2, lambda r: r.integers(-8, 8, COLS).astype(np.float64)),
        ("integers -2..2", 2, lambda r: r.integers(-2, 3, COLS).astype(np.float64)),
        ("alternating +-1", 2, lambda r: np.tile([1.0, -1.0], COLS // 2) * r.choice([-1, 1])),
    ],
    "blk.0.ffn_gate.weight": [
        ("sparse 10%", 4, lambda r: _sparse(r, 0.1)),
        ("sparse 1%", 2, lambda r: _sparse(r, 0.01)),
        ("normal with 1% outliers x100", 4, lambda r: _outliers(r, 0.01, 100)),
        ("normal with 0.2% outliers x1000", 2, lambda r: _outliers(r, 0.002, 1000)),
        ("half-integer ties, block max -8", 2, lambda r: _half_ties(r, 8)),
        ("half-integer ties, block max -127", 2, lambda r: _half_ties(r, 127)),
    ],
}


def _mixed_row(rng):
    """Every 32-block drawn from a random synthetic kind."""
    kinds = [f for sets in SYNTHETIC.values() for _, _, f in sets]
    blocks = [kinds[rng.integers(len(kinds))](rng)[:32] for _ in range(COLS // 32)]
    return np.concatenate(blocks)


def real_rows(model):
    """32 rows of SmolLM2 weights: 16 for ffn_up, 16 for ffn_down."""
    r = GGUFReader(model)
    t = {x.name: x for x in r.tensors}
    rng = np.random.default_rng(SEED + 1)

    def deq(name):
        x = t[name]
        return dequantize(x.data, x.tensor_type).reshape(-1)

    emb = deq("token_embd.weight").reshape(-1, 576)  # Q8_0 in this file
    up = [(f"SmolLM2 token_embd (Q8_0) row {i}", emb[i, :COLS])
          for i in sorted(rng.choice(len(emb), 16, replace=False))]
    down = []
    for layer in (0, 7, 15, 29):
        w = deq(f"blk.{layer}.ffn_down.weight").reshape(-1, COLS)  # Q4_1
        for i in (0, 1):
            down.append((f"SmolLM2 blk.{layer}.ffn_down (Q4_1) chunk {i}", w[i]))
    q = deq("blk.3.attn_q.weight").reshape(-1, 576)
    down += [(f"SmolLM2 blk.3.attn_q (Q4_1) row {i}", q[i, :COLS]) for i in (0, 100, 300, 575)]
    norms = np.concatenate([deq(f"blk.{i}.{n}_norm.weight") for i in range(30)
                            for n in ("attn", "ffn")]).reshape(-1)
    down += [(f"SmolLM2 norm weights (F32) chunk {i}", norms[i * COLS:(i + 1) * COLS])
             for i in (0, 10, 40, 60)]
    assert len(up) == 16 and len(down) == 16
    return up, down


def build_rows(model):
    rng = np.random.default_rng(SEED)
    up, down = real_rows(model)
    rows = []  # (kind, values)
    for name in TENSORS:
        if name in SYNTHETIC:
            for kind, count, f in SYNTHETIC[name]:
                rows += [(kind, f(rng)) for _ in range(count)]
        elif name == "blk.0.ffn_up.weight":
            rows += up
        elif name == "blk.0.ffn_down.weight":
            rows += down
        else:
            rows += [("mixed per-block kinds", _mixed_row(rng)) for _ in range(ROWS_PER_TENSOR)]
        assert len(rows) % ROWS_PER_TENSOR == 0, name
    assert len(rows) == ROWS_PER_TENSOR * len(TENSORS)
    x = np.stack([v for _, v in rows]).astype(np.float32)
    assert np.isfinite(x).all()
    return x, [k for k, _ in rows]


# ------------------------------------------------------------ llama.cpp


def quantize_llama(llama_cpp, src, dst, ftype_name):
    p = llama_cpp.llama_model_quantize_default_params()
    p.nthread = 1
    p.ftype = getattr(llama_cpp, ftype_name)
    p.pure = True  # every 2-D weight gets the ftype's base type
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(p))
    if rc != 0:
        sys.exit(f"llama_model_quantize({ftype_name}) failed: {rc}")
    return p


def check_output(path, qtype):
    r = GGUFReader(path)
    got = {t.name: t for t in r.tensors}
    assert sorted(got) == sorted(TENSORS), sorted(got)
    for name in TENSORS:
        t = got[name]
        if t.tensor_type != qtype:
            sys.exit(f"{path}: {name} is {t.tensor_type.name}, expected {qtype.name}")
        assert list(t.shape) == [COLS, ROWS_PER_TENSOR], (name, t.shape)


def versions():
    import importlib.metadata as md

    import llama_cpp
    lib = pathlib.Path(llama_cpp.__file__).parent / "lib"
    ggml = ctypes.CDLL(str(lib / "libggml-base.so"))
    ggml.ggml_commit.restype = ctypes.c_char_p
    ggml.ggml_version.restype = ctypes.c_char_p
    cfg = (lib.parent.parent / "lib" / "cmake" / "llama" / "llama-config.cmake")
    commit = "unknown"
    if cfg.exists():  # the llama.cpp commit llama-cpp-python vendors
        for line in cfg.read_text().splitlines():
            if line.startswith("set(LLAMA_BUILD_COMMIT"):
                commit = line.split()[1].rstrip(")")
    return {
        "llama-cpp-python": md.version("llama_cpp_python"),
        "llama.cpp commit (LLAMA_BUILD_COMMIT)": commit,
        "ggml commit (ggml_commit(); -dirty: the vendored tree of the sdist)":
            ggml.ggml_commit().decode(),
        "ggml version": ggml.ggml_version().decode(),
        "gguf-py": md.version("gguf"),
        "numpy": np.__version__,
    }


README = """\
# Quantization reference data (llama.cpp)

Made by `scripts/gen_quant_reference.py`; read by
`tests/core/test_quant_reference.py` (ctest `test_quant_reference`, label
`fast`, needs only numpy and gguf-py). Do not edit by hand; regenerate with

    cmake -B build && cmake --build build --target quant_tool
    python3 scripts/gen_quant_reference.py --quant-tool build/tests/quant_tool

## Files

- `source-f32.gguf` — {rows} rows of {cols} floats (seed {seed}), written by
  libtessera's GGUF writer (`quant_tool write-f32-model`) as the F32
  weights of a one-layer `llama` model: {ntensors} 2-D tensors of
  ({per}, {cols}) in this order:
  {tensors}.
- `ref-<TYPE>.gguf` — llama.cpp's quantization of that file with every
  weight in TYPE, for TYPE in {types}.
- `rows.json` — what each source row is (tensor, row, kind); the kinds are
  synthetic distributions (normal at several scales, uniform, one-sided,
  heavy-tailed, scale 1e-8 and 1e-20, scale 1e4, zero, constant, sparse,
  outliers, exact rounding ties, per-block mixtures) and real SmolLM2-135M
  weights (Q8_0 embeddings, Q4_1 matrices, F32 norms, dequantized).

## Reference

{versions}

Each file comes from `llama_cpp.llama_model_quantize(source, out, params)`
with `llama_model_quantize_default_params()` and

    nthread = 1, pure = True, ftype = (per type)
{ftypes}
No importance matrix, so llama.cpp uses its reference quantizers
(`quantize_row_*_ref`, and for IQ4_NL `quantize_iq4_nl` without weights).
The generator checks with gguf-py that every weight came out in the
requested type. These quantizers live in libggml-base, which is built
without FMA contraction (as are Tessera's, -ffp-contract=off): gguf-py's
float32 numpy quantizers, which have no FMA either, give the same bytes
for Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 on every block here.

## How llama.cpp accepts the file

`llama_model_quantize` loads the architecture and hyperparameters
(`llama.block_count` = 1, `llama.context_length`, `llama.embedding_length`,
`llama.feed_forward_length`, `llama.attention.head_count[_kv]`,
`llama.attention.layer_norm_rms_epsilon`, `llama.rope.dimension_count`)
and counts the `attn_v` tensors against the layer count. A missing key
fails the call ("key not found in model: llama.context_length"). It
needs no tokenizer and does not check tensor shapes against the
hyperparameters, so every weight can be a ({per}, {cols}) slice of the row
set. Output tensors may come in another order than the source's; compare
by name.
"""


def write_readme(out, x, params):
    v = versions()
    vtext = "\n".join(f"- {k}: {val}" for k, val in v.items())
    ftext = "\n".join(f"    {t:7s} {f} ({FTYPES[t][1].name})" for t, f in params.items())
    (out / "README.md").write_text(README.format(
        rows=x.shape[0], cols=COLS, seed=SEED, ntensors=len(TENSORS), per=ROWS_PER_TENSOR,
        tensors=",\n  ".join(f"`{t}`" for t in TENSORS), types=", ".join(FTYPES),
        versions=vtext, ftypes=ftext))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quant-tool", required=True, help="path to a built quant_tool")
    ap.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent
                                         / "tests" / "data" / "quant"))
    ap.add_argument("--model", default="/root/.cache/tessera/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    args = ap.parse_args()
    import llama_cpp

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x, kinds = build_rows(args.model)

    with tempfile.TemporaryDirectory() as tmp:
        raw = pathlib.Path(tmp) / "rows.f32"
        x.tofile(raw)
        src = out / "source-f32.gguf"
        subprocess.run([args.quant_tool, "write-f32-model", str(src), str(raw),
                        str(x.shape[0]), str(COLS)], check=True)
    written = {t.name: np.array(t.data) for t in GGUFReader(src).tensors}
    for i, name in enumerate(TENSORS):
        assert np.array_equal(written[name].view(np.uint32),
                              x[i * ROWS_PER_TENSOR:(i + 1) * ROWS_PER_TENSOR].view(np.uint32)), name

    params = {}
    for tname, (ftype, qtype) in FTYPES.items():
        dst = out / f"ref-{tname}.gguf"
        quantize_llama(llama_cpp, src, dst, ftype)
        check_output(dst, qtype)
        params[tname] = ftype

    manifest = [{"tensor": TENSORS[i // ROWS_PER_TENSOR], "row": i % ROWS_PER_TENSOR, "kind": k}
                for i, k in enumerate(kinds)]
    (out / "rows.json").write_text(
        "[\n" + ",\n".join(json.dumps(m) for m in manifest) + "\n]\n")
    write_readme(out, x, params)
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {out} ({total} bytes)")


if __name__ == "__main__":
    main()
