"""libtessera's quantization kernels against outside references.

  (a) quantize the committed source rows and compare with llama.cpp's own
      quantization of them (tests/data/quant/ref-<TYPE>.gguf, made by
      scripts/gen_quant_reference.py) byte for byte;
  (b) quantize seeded random rows and the source rows to Q4_0, Q4_1, Q5_0,
      Q5_1, Q8_0 and BF16 and compare with gguf-py's quantize byte for byte;
  (c) dequantize every reference block file (and random block bytes) and
      compare with gguf-py's dequantize bit for bit;
  (d) F16 conversion both ways against numpy (except NaN payloads);
  (e) row dot products against dequantize-then-dot, within a bound derived
      from the activation quantization.

Needs only numpy, gguf-py and the committed data; the kernels are reached
through quant_tool (env QUANT_TOOL). Shapes: rows x n, n = values per row.
"""
import json
import os
import pathlib
import subprocess

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGUFReader
from gguf import GGMLQuantizationType as QT
from gguf.quants import dequantize as gg_dequantize
from gguf.quants import quantize as gg_quantize

TOOL = os.environ.get("QUANT_TOOL")
DATA = pathlib.Path(os.environ.get(
    "TS_QUANT_DATA", pathlib.Path(__file__).resolve().parent.parent / "data" / "quant"))
REF_TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
             "IQ4_NL"]
DOT_TYPE = {  # tessera/quant.h: the activation type of each type's dot product
    "F32": "F32", "F16": "F16", "BF16": "BF16",
    "Q4_0": "Q8_0", "Q5_0": "Q8_0", "Q8_0": "Q8_0", "IQ4_NL": "Q8_0",
    "Q4_1": "Q8_1", "Q5_1": "Q8_1",
    "Q2_K": "Q8_K", "Q3_K": "Q8_K", "Q4_K": "Q8_K", "Q5_K": "Q8_K", "Q6_K": "Q8_K",
}
U = 2.0 ** -24  # unit roundoff of float

pytestmark = pytest.mark.skipif(not TOOL, reason="QUANT_TOOL not set (run through ctest)")

# ------------------------------------------------------------ quant_tool


def block_size(t):
    if t in ("Q8_1",):
        return 32
    if t == "Q8_K":
        return 256
    return GGML_QUANT_SIZES[QT[t]][0]


def row_bytes(t, n):
    if t == "Q8_1":
        return n // 32 * 36
    if t == "Q8_K":
        return n // 256 * 292
    bs, ts = GGML_QUANT_SIZES[QT[t]]
    return n // bs * ts


class Tool:
    """quant_tool on (rows, n) numpy arrays; files live in a temp dir."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.k = 0

    def _path(self, ext):
        self.k += 1
        return str(self.tmp / f"{self.k}.{ext}")

    def _run(self, *args):
        r = subprocess.run([TOOL, *map(str, args)], capture_output=True, text=True)
        assert r.returncode == 0, f"quant_tool {' '.join(map(str, args))}: {r.stderr}"
        return r.stdout

    def quantize(self, t, x):
        """x: (rows, n) float32 -> (rows, row_bytes) uint8"""
        src, dst = self._path("f32"), self._path("bin")
        np.ascontiguousarray(x, dtype="<f4").tofile(src)
        self._run("quantize", t, src, dst, x.shape[1])
        return np.fromfile(dst, dtype=np.uint8).reshape(x.shape[0], -1)

    def dequantize(self, t, q, n):
        """q: (rows, row_bytes) uint8 -> (rows, n) float32"""
        src, dst = self._path("bin"), self._path("f32")
        np.ascontiguousarray(q, dtype=np.uint8).tofile(src)
        self._run("dequantize", t, src, dst, n)
        return np.fromfile(dst, dtype="<f4").reshape(q.shape[0], n)

    def dot(self, t, xq, yq, n):
        """row-wise dots: xq rows of t, yq rows of t's dot type -> (rows,) float32"""
        xp, yp, out = self._path("bin"), self._path("bin"), self._path("f32")
        xq.tofile(xp)
        yq.tofile(yp)
        self._run("dot", t, xp, yp, n, out)
        return np.fromfile(out, dtype="<f4")

    def dot_type(self, t):
        return self._run("dot-type", t).strip()


@pytest.fixture(scope="module")
def tool(tmp_path_factory):
    return Tool(tmp_path_factory.mktemp("quant"))


# --------------------------------------------------------------- the data


def read_tensors(path):
    r = GGUFReader(path)
    return {t.name: t for t in r.tensors}


@pytest.fixture(scope="module")
def source():
    """The source rows (rows, n) float32 in rows.json's order, and the row kinds."""
    manifest = json.loads((DATA / "rows.json").read_text())
    tensors = read_tensors(DATA / "source-f32.gguf")
    names = list(dict.fromkeys(m["tensor"] for m in manifest))
    x = np.concatenate([np.array(tensors[n].data, dtype=np.float32) for n in names])
    assert x.shape[0] == len(manifest)
    return x, manifest, names


def reference(t, names):
    """llama.cpp's blocks for the source rows, (rows, row_bytes) uint8."""
    tensors = read_tensors(DATA / f"ref-{t}.gguf")
    for n in names:
        assert tensors[n].tensor_type == QT[t], f"ref-{t}.gguf: {n} is {tensors[n].tensor_type.name}"
    return np.concatenate([np.array(tensors[n].data, dtype=np.uint8) for n in names])


def test_data_is_complete():
    have = sorted(p.name[4:-5] for p in DATA.glob("ref-*.gguf"))
    assert have == sorted(REF_TYPES)


# ----------------------------------------------------- block comparisons


def first_mismatch(t, x, want, got, kinds=None):
    """None when equal, else a report of the first differing block: its row,
    the input floats, the expected and the obtained bytes."""
    n = x.shape[1]
    bs = block_size(t)
    nb = n // bs
    wb, gb = want.reshape(-1, nb, want.shape[1] // nb), got.reshape(-1, nb, got.shape[1] // nb)
    bad = (wb != gb).any(axis=2)
    if not bad.any():
        return None
    r, b = map(int, np.argwhere(bad)[0])
    kind = f" ({kinds[r]})" if kinds else ""
    vals = x[r, b * bs:(b + 1) * bs]
    return (f"{t}: {int(bad.sum())} of {bad.size} blocks differ; first: row {r}{kind}, "
            f"block {b}\n  input  = {[float(v) for v in vals]}\n"
            f"  input bits = {vals.view(np.uint32).tolist()}\n"
            f"  expected = {wb[r, b].tobytes().hex()}\n  got      = {gb[r, b].tobytes().hex()}")


# ------------------------------------------------ (a) llama.cpp quantize


@pytest.mark.parametrize("t", REF_TYPES)
def test_quantize_matches_llama_cpp(tool, source, t):
    x, manifest, names = source
    want = reference(t, names)
    got = tool.quantize(t, x)
    kinds = [f"{m['tensor']} row {m['row']}: {m['kind']}" for m in manifest]
    msg = first_mismatch(t, x, want, got, kinds)
    assert msg is None, msg


# ---------------------------------------------------- (b) gguf-py quantize


def random_rows(seed, n=512):
    """(rows, n) float32 from several distributions, finite."""
    rng = np.random.default_rng(seed)
    nb = n // 32
    scale = np.exp(rng.uniform(np.log(1e-7), np.log(1e4), (8, nb))).repeat(32, axis=1)
    rows = [
        rng.normal(0, 1, (8, n)),
        rng.uniform(-1, 1, (4, n)),
        rng.uniform(0.5, 2, (4, n)),  # one-sided: min > 0
        rng.standard_t(1.5, (4, n)),
        rng.normal(0, 1, (8, n)) * scale,  # per-block scales, f16 subnormal d
        rng.normal(0, 1e-30, (2, n)),  # d underflows half
        rng.normal(0, 3e4, (2, n)),  # min/d near the half range
        rng.integers(-8, 8, (4, n)) + 0.5 * rng.integers(0, 2, (4, n)),  # ties
        np.where(rng.random((4, n)) < 0.9, 0, rng.normal(0, 1, (4, n))),  # sparse
        np.zeros((1, n)),
        np.full((1, n), -2.5),
    ]
    return np.concatenate(rows).astype(np.float32)


def bf16_edge_rows(seed, n=512):
    """Random float bit patterns (NaN, inf, subnormals included) and values
    exactly halfway between bfloat16 neighbours."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, (4, n), dtype=np.uint64).astype(np.uint32)
    ties = (rng.integers(0, 2**16, (2, n), dtype=np.uint32) << 16) | np.uint32(0x8000)
    special = np.array([0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000,
                        0x7f800001, 0xffffffff, 0x00000001, 0x007fffff, 0x7f7fffff,
                        0x3f808000, 0x3f818000, 0x3f80ffff, 0x7f7f8000], dtype=np.uint32)
    return np.concatenate([bits, ties, np.resize(special, (1, n))]).view(np.float32)


GGUF_PY_QUANT = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "BF16"]


@pytest.mark.parametrize("t", GGUF_PY_QUANT)
def test_quantize_matches_gguf_py(tool, source, t):
    x_src = source[0]
    sets = {"random": random_rows(1), "random (seed 2)": random_rows(2), "source": x_src}
    if t == "BF16":
        sets["bit patterns"] = bf16_edge_rows(3)
    for what, x in sets.items():
        with np.errstate(over="ignore"):  # a Q4_1/Q5_1 minimum beyond the half range
            want = gg_quantize(x, QT[t]).reshape(x.shape[0], -1)
        got = tool.quantize(t, x)
        msg = first_mismatch(t, x, want, got)
        assert msg is None, f"{what} rows: {msg}"


# -------------------------------------------------- (c) gguf-py dequantize
#
# gguf-py's dequantizers evaluate the same float expressions, in the same
# order, as llama.cpp's dequantize_row_* (e.g. Q4_K: (d*sc)*q - dmin*m;
# Q6_K: (d*sc)*q), so no tolerance is needed: results must be bit-identical.


def assert_same_floats(what, want, got):
    """Bit-identical, except that a NaN only needs to be a NaN."""
    nan = np.isnan(want)
    assert np.array_equal(nan, np.isnan(got)), f"{what}: NaN positions differ"
    w, g = want[~nan].view(np.uint32), got[~nan].view(np.uint32)
    if not np.array_equal(w, g):
        i = int(np.argmax(w != g))
        flat = np.flatnonzero(~nan.reshape(-1))[i]
        raise AssertionError(f"{what}: {int((w != g).sum())} values differ; first at flat index "
                             f"{flat}: expected {want.reshape(-1)[flat]!r}, got {got.reshape(-1)[flat]!r}")


@pytest.mark.parametrize("t", REF_TYPES)
def test_dequantize_matches_gguf_py(tool, source, t):
    x, _, names = source
    n = x.shape[1]
    q = reference(t, names)
    want = gg_dequantize(q, QT[t]).reshape(q.shape[0], n)
    assert_same_floats(f"{t} reference blocks", want, tool.dequantize(t, q, n))


@pytest.mark.parametrize("t", REF_TYPES + ["BF16"])
def test_dequantize_random_blocks(tool, t):
    """Arbitrary block bytes reach every quant and scale code."""
    rng = np.random.default_rng(4)
    n = 1024
    q = rng.integers(0, 256, (16, row_bytes(t, n)), dtype=np.uint8)
    with np.errstate(invalid="ignore", over="ignore"):
        want = gg_dequantize(q, QT[t]).reshape(q.shape[0], n)
    assert_same_floats(f"{t} random blocks", want, tool.dequantize(t, q, n))


# ------------------------------------------------------------- (d) F16


def f16_edge_values():
    """Edge cases of float -> half: zeros, the half range limits, overflow,
    ties in the normal and subnormal range, float subnormals, inf, NaN."""
    v = [0.0, -0.0, 1.0, -1.0, 65504.0, -65504.0, 65519.99, 65520.0, -65520.0, 1e6,
         np.inf, -np.inf, 2.0**-14, 2.0**-24, 2.0**-25, 2.0**-25 * 1.0000001, 3 * 2.0**-26,
         2.0**-26, 5 * 2.0**-25, 2.0**-14 - 2.0**-25, 1e-45, 1e-40, -1e-40,
         3.4028235e38, 1 + 2.0**-11, 1 + 3 * 2.0**-11, 1 + 2.0**-11 + 2.0**-20, 0.1, 1 / 3]
    x = np.array(v, dtype=np.float32)
    # every half value plus/minus half an ulp (ties) and the values themselves
    h = np.arange(0, 0x7c00, dtype=np.uint16).view(np.float16).astype(np.float32)
    nxt = np.arange(1, 0x7c01, dtype=np.uint16).view(np.float16).astype(np.float32)
    mid = ((h.astype(np.float64) + nxt.astype(np.float64)) / 2).astype(np.float32)
    nan = np.array([0x7fc00000, 0x7f800001, 0xffc00001, 0x7fbfffff], dtype=np.uint32).view(np.float32)
    return np.concatenate([x, h, mid, -mid, np.nextafter(mid, np.float32(0)),
                           np.nextafter(mid, np.float32(np.inf)), nan])


def test_f16_quantize_matches_numpy(tool):
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2**32, 1 << 16, dtype=np.uint64).astype(np.uint32).view(np.float32)
    normalish = rng.normal(0, 1, 1 << 14).astype(np.float32) * np.float32(2.0) ** rng.integers(
        -30, 20, 1 << 14).astype(np.float32)
    x = np.concatenate([f16_edge_values(), bits, normalish])
    x = np.resize(x, (1, x.size))
    got = tool.quantize("F16", x).view(np.uint16).reshape(-1)
    with np.errstate(over="ignore"):
        want = x.reshape(-1).astype(np.float16).view(np.uint16)
    nan = np.isnan(x.reshape(-1))
    got_nan = ((got & 0x7c00) == 0x7c00) & ((got & 0x3ff) != 0)
    assert np.array_equal(got_nan, nan), "NaN inputs must give NaN, and only they"
    bad = np.flatnonzero((got != want) & ~nan)
    assert bad.size == 0, (f"{bad.size} F16 conversions differ; first: {x.reshape(-1)[bad[0]]!r} "
                           f"(bits {x.reshape(-1)[bad[0]:bad[0] + 1].view(np.uint32)[0]:#010x}): "
                           f"expected {want[bad[0]]:#06x}, got {got[bad[0]]:#06x}")


def test_f16_dequantize_matches_numpy(tool):
    q = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    want = q.view(np.float16).astype(np.float32)
    got = tool.dequantize("F16", q.view(np.uint8).reshape(1, -1), 1 << 16)
    assert_same_floats("F16 -> F32, all 65536 halves", want.reshape(1, -1), got)


# ------------------------------------------------------------- (e) dots
#
# With x̂ the dequantized weights, a the float activations and ŷ their
# quantization in the dot type, the kernel computes Σ x̂·ŷ up to float
# rounding (integer sums are exact), so
#   |dot - Σ x̂·a| <= Σ_blocks Σ_i |x̂_i|·e_blk + slack,
# where e_blk bounds |ŷ_i - a_i| in the activation block:
#   Q8_0, Q8_1: q = round(a/d) with d = amax/127 in float, stored as the
#     half d16, ŷ = q·d16: e = d16/2 (rounding to the grid) + 127·|d16 - d|
#     (the half rounding of d; <= d16·2^-11 or 2^-25 when subnormal)
#     + d16·2^-15 (float error of a·(1/d));
#   Q8_K: d is a float, e = |d|·(1/2 + 2^-15);
#   F16 / BF16: e = the half-ulp of the conversion; F32: e = 0.
# Q4_1 and Q5_1 take Σŷ of a block from the Q8_1 field s = half(d·Σq)
# rather than d16·Σq: that adds |m|·|s - d16·Σq| per block (m = the weight
# block's minimum), read from the blocks. The float slack allows n/8 + 16
# roundings (a reference kernel rounds a few times per 32-block, or per 8
# lanes of a 256-block; integer sums are exact), each of at most U times the
# sum of the magnitudes involved, Σ (|x̂_i| + 2·max|x̂| of its 32-group)·|ŷ_i|
# (the 2·max covers the separate min/offset terms of Q4_1, Q5_1, Q2_K, Q4_K,
# Q5_K). Observed errors stay below 1·U times that sum (the s term aside).


def act_blocks(t, yq, n):
    """ŷ (rows, n) float64 and per-value bound e on |ŷ - a|, from the blocks."""
    rows = yq.shape[0]
    if t == "Q8_0" or t == "Q8_1":
        bsz = 34 if t == "Q8_0" else 36
        b = yq.reshape(rows, n // 32, bsz)
        d = b[..., 0:2].copy().view(np.float16).astype(np.float64)  # (rows, nb, 1)
        q = b[..., bsz - 32:].copy().view(np.int8).astype(np.float64)  # (rows, nb, 32)
        d_err = np.maximum(np.abs(d) * 2.0**-11, 2.0**-25)
        e = np.abs(d) * (0.5 + 2.0**-15) + 127 * d_err
        yhat = d * q
        return yhat.reshape(rows, n), np.broadcast_to(e, q.shape).reshape(rows, n)
    if t == "Q8_K":
        b = yq.reshape(rows, n // 256, 292)
        d = b[..., 0:4].copy().view("<f4").astype(np.float64)
        q = b[..., 4:260].copy().view(np.int8).astype(np.float64)
        bsums = b[..., 260:292].copy().view("<i2")
        assert np.array_equal(bsums, q.reshape(rows, n // 256, 16, 16).sum(axis=-1)), "Q8_K bsums"
        e = np.abs(d) * (0.5 + 2.0**-15)
        return (d * q).reshape(rows, n), np.broadcast_to(e, q.shape).reshape(rows, n)
    raise AssertionError(t)


def s_term(t, xq, yq, n):
    """Q4_1/Q5_1: per row Σ_blocks |m|·|s - d16·Σq| (see above); else 0."""
    if t not in ("Q4_1", "Q5_1"):
        return np.zeros(xq.shape[0])
    rows, nb = xq.shape[0], n // 32
    m = xq.reshape(rows, nb, -1)[..., 2:4].copy().view(np.float16).astype(np.float64)[..., 0]
    y = yq.reshape(rows, nb, 36)
    d = y[..., 0:2].copy().view(np.float16).astype(np.float64)[..., 0]
    s = y[..., 2:4].copy().view(np.float16).astype(np.float64)[..., 0]
    sq = y[..., 4:].copy().view(np.int8).astype(np.float64).sum(axis=-1)
    return (np.abs(m) * np.abs(s - d * sq)).sum(axis=1)


def float_act(t, a, yq):
    """ŷ and e for the float dot types."""
    if t == "F32":
        return yq.view("<f4").astype(np.float64), np.zeros(a.shape)
    if t == "F16":
        yh = yq.view(np.float16).astype(np.float64)
        ulp = np.maximum(np.abs(a.astype(np.float64)) * 2.0**-11, 2.0**-25)
    else:
        yh = (yq.view(np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        ulp = np.maximum(np.abs(a.astype(np.float64)) * 2.0**-8, 2.0**-134)
    return yh, ulp


def dot_rows(seed, rows, n):
    rng = np.random.default_rng(seed)
    k = rows // 8
    sets = [rng.normal(0, 1, (3 * k, n)), rng.uniform(0, 1, (k, n)), rng.standard_t(2, (k, n)),
            np.where(rng.random((k, n)) < 0.8, 0, rng.normal(0, 3, (k, n))),
            rng.normal(0, 1e3, (k, n)), np.zeros((1, n)),
            np.full((k - 1, n), 0.75)]
    return np.concatenate(sets).astype(np.float32)


DOT_CASES = [(t, n) for t in DOT_TYPE for n in (32, 224, 256, 1024) if n % block_size(t) == 0]


@pytest.mark.parametrize("t,n", DOT_CASES, ids=[f"{t}-{n}" for t, n in DOT_CASES])
def test_vec_dot_bound(tool, t, n):
    at = DOT_TYPE[t]
    w, a = dot_rows(6, 48, n), dot_rows(7, 48, n)[::-1].copy()
    xq, yq = tool.quantize(t, w), tool.quantize(at, a)
    got = tool.dot(t, xq, yq, n).astype(np.float64)
    if t in ("F32", "F16", "BF16"):
        xhat = tool.dequantize(t, xq, n).astype(np.float64)
        yhat, e = float_act(t, a, yq)
    else:
        xhat = gg_dequantize(xq, QT[t]).reshape(xq.shape[0], n).astype(np.float64)
        yhat, e = act_blocks(at, yq, n)
        # our dequantize of the activation blocks reads them the same way
        # (q·d rounded to float)
        assert np.array_equal(tool.dequantize(at, yq, n), yhat.astype(np.float32))
    gmax = np.abs(xhat).reshape(xhat.shape[0], -1, 32).max(axis=2).repeat(32, axis=1)
    slack = U * (n / 8 + 16) * ((np.abs(xhat) + 2 * gmax) * np.abs(yhat)).sum(axis=1)
    st = s_term(t, xq, yq, n)
    # tight: the kernel against the dot of the dequantized blocks
    tight = got - (xhat * yhat).sum(axis=1)
    worst = np.argmax(np.abs(tight) - (st + slack))
    assert (np.abs(tight) <= st + slack).all(), (
        f"{t} n={n} row {worst}: dot {got[worst]!r}, dequantized blocks give "
        f"{(xhat * yhat).sum(axis=1)[worst]!r}, allowed {st[worst] + slack[worst]:.3g}")
    # the bound from the activation quantization, against the float activations
    exact = (xhat * a.astype(np.float64)).sum(axis=1)
    bound = (np.abs(xhat) * e).sum(axis=1) + st + slack
    worst = np.argmax(np.abs(got - exact) - bound)
    assert (np.abs(got - exact) <= bound).all(), (
        f"{t} n={n} row {worst}: dot {got[worst]!r}, exact {exact[worst]!r}, bound {bound[worst]:.3g}")


@pytest.mark.parametrize("t", list(DOT_TYPE))
def test_dot_type(tool, t):
    assert tool.dot_type(t) == DOT_TYPE[t]


# ---------------------------------------------------------- quant_tool


@pytest.mark.parametrize("args", [
    ["quantize", "Q9_9", "x", "y", "32"],  # unknown type
    ["quantize", "IQ2_XXS", "x", "y", "256"],  # a type without kernels
    ["dot", "Q8_K", "x", "y", "256", "z"],  # activation-only format
    ["quantize", "Q4_0", "x", "y", "48"],  # not a multiple of the block size
    ["quantize", "Q4_0", "/nonexistent/x.f32", "y", "32"],
    ["write-f32-model", "m.gguf", "x", "10", "32"],  # rows not a multiple of 9
    ["frobnicate", "Q4_0"],
])
def test_tool_errors(tmp_path, args):
    (tmp_path / "x").write_bytes(np.zeros(48 * 10, dtype=np.float32).tobytes())
    r = subprocess.run([TOOL, *args], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode != 0 and r.stderr and not r.stdout
