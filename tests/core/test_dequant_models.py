"""The reference dequantizers on every tensor of two real models, against
gguf-py's `gguf.quants.dequantize` (gguf==0.19.0).

dequant_digest (env DEQUANT_DIGEST, set by ctest) prints, per tensor, the
SHA-256 of ts_dequantize_row's float32 output; the test computes the same
digest of gguf-py's output. Equal digests mean bit-identical values. Where
they differ, the tensor's values are compared element by element, and a
difference of at most 1 ulp is accepted only for the types listed in
GGUF_PY_ULP_TYPES below, each with the proof that the difference is
gguf-py's rounding and not ours; any other difference fails, naming the
first mismatching element. Where llama-cpp-python is installed, the same
digests are also compared with llama.cpp's own dequantize_row_* (through
ctypes from its libggml-base), bit for bit: that is the reference; gguf-py
is what CI has.

Models: SmolLM2-135M-Instruct Q4_1 (Q4_1, Q8_0, F32) and Gemma 3 270M Q4_K_M
(Q8_0, Q5_0, Q4_K, Q6_K, F32). Paths: env TESSERA_MODEL_SMOLLM2 /
TESSERA_MODEL_GEMMA3, else ${TESSERA_CACHE:-~/.cache/tessera}/models/<name>;
a missing file fails, telling to run scripts/fetch-model.sh (it skips with
TESSERA_SKIP_MODEL_TESTS=1).
"""
import ctypes
import hashlib
import os
import pathlib
import subprocess
import tempfile

import gguf
import numpy as np
import pytest
from conftest import model_path

# Types whose values may differ from gguf-py's by 1 ulp (fused multiply-add
# or evaluation order in numpy), with where and why. Empty: on both models
# gguf-py 0.19.0 equals llama.cpp's dequantize_row_* bit for bit for every
# type here (checked with llama-cpp-python 0.3.x's libggml-base). Add a type
# only with proof that gguf-py rounds differently from llama.cpp while we
# equal llama.cpp.
GGUF_PY_ULP_TYPES = {}

MODELS = {
    "smollm2": {
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "types": {"F32": 61, "Q4_1": 210, "Q8_0": 1},
    },
    "gemma3": {
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "types": {"F32": 109, "Q8_0": 10, "Q5_0": 81, "Q4_K": 27, "Q6_K": 9},
    },
}

CHUNK_BYTES = 16 << 20  # float32 output produced per gguf-py call

# ------------------------------------------------------------- fixtures



@pytest.fixture(scope="session")
def dequant_digest():
    path = os.environ.get("DEQUANT_DIGEST")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("DEQUANT_DIGEST must name the built dequant_digest executable "
                    "(ctest sets it)")
    return path


class Model:
    """One model file: gguf-py's view of it and dequant_digest's digests."""

    def __init__(self, name, path, tool):
        self.name, self.path, self.tool = name, path, tool
        with open(path, "rb") as f:
            sha = hashlib.file_digest(f, "sha256").hexdigest()
        assert sha == MODELS[name]["sha256"], f"{path} is not the expected file"
        self.reader = gguf.GGUFReader(path)
        r = subprocess.run([tool, str(path)], capture_output=True, text=True, check=False,
                           timeout=600)
        assert r.returncode == 0, r.stderr
        self.digests = {}
        for line in r.stdout.splitlines():
            tensor_name, type_name, hexdigest = line.split("\t")
            self.digests[tensor_name] = (type_name, hexdigest)

    def tensors(self, type_name):
        return [t for t in self.reader.tensors if t.tensor_type.name == type_name]

    def values(self, tensor):
        """dequant_digest's values of one tensor, flat float32."""
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "values.f32"
            subprocess.run([self.tool, str(self.path), tensor.name, str(out)], check=True,
                           timeout=600)
            return np.fromfile(out, dtype="<f4")


@pytest.fixture(scope="session")
def models(dequant_digest):
    """models(name) -> Model, loaded (and digested) once per session."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = Model(name, model_path(name), dequant_digest)
        return cache[name]
    return get


# (model, type) for every type each model holds
CASES = [(m, t) for m in MODELS for t in MODELS[m]["types"]]

# ------------------------------------------------------------- reference


def row_chunks(tensor):
    """(rows, values): the tensor's rows as stored (bytes, or elements of a
    float type) in contiguous chunks of about CHUNK_BYTES of float32 output,
    and the number of values they hold."""
    data = tensor.data
    rows = data.reshape(-1, data.shape[-1]) if data.ndim else data.reshape(1, 1)
    row_values = int(tensor.n_elements) // rows.shape[0]
    step = max(1, CHUNK_BYTES // (4 * row_values))
    for i in range(0, rows.shape[0], step):
        chunk = rows[i:i + step]
        yield chunk, chunk.shape[0] * row_values


def gguf_py_chunks(tensor):
    """gguf-py's float32 values of `tensor`, in row chunks (row-major)."""
    for rows, _ in row_chunks(tensor):
        y = gguf.quants.dequantize(rows, tensor.tensor_type)
        yield np.ascontiguousarray(y, dtype="<f4").reshape(-1)


def llama_cpp_lib():
    """llama.cpp's libggml-base from llama-cpp-python, or None. A
    development-time reference, not a CI dependency."""
    try:
        import llama_cpp
    except ImportError:
        return None
    return ctypes.CDLL(str(pathlib.Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))


def llama_cpp_chunks(lib, tensor):
    """llama.cpp's float32 values of `tensor` (its dequantize_row_<type>;
    F32 is a copy), in row chunks."""
    name = tensor.tensor_type.name
    fn = None
    if name != "F32":
        fn = getattr(lib, "dequantize_row_" + name.lower().replace("_k", "_K"))
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn.restype = None
    for rows, n in row_chunks(tensor):
        if fn is None:
            yield np.ascontiguousarray(rows, dtype="<f4").reshape(-1)
            continue
        rows = np.ascontiguousarray(rows)
        y = np.empty(n, dtype="<f4")
        fn(rows.ctypes.data, y.ctypes.data, n)
        yield y


def digest(chunks):
    h = hashlib.sha256()
    for y in chunks:
        h.update(memoryview(y).cast("B"))
    return h.hexdigest()


def ordered(bits):
    """float32 bit patterns (as int32) mapped to integers whose difference
    counts the floats between them (ulps)."""
    bits = bits.astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def compare_values(ours, chunks, tensor, ref_name):
    """(elements differing, max ulp distance, first mismatch description)."""
    n_diff, max_ulp, first, start = 0, 0, None, 0
    row_len = int(tensor.shape[0]) if len(tensor.shape) else 1  # ne0
    for ref in chunks:
        got = ours[start:start + ref.size]
        assert got.size == ref.size, f"{tensor.name}: dequant_digest wrote too few values"
        same = (got.view(np.int32) == ref.view(np.int32)) | (np.isnan(got) & np.isnan(ref))
        if not same.all():
            ulp = np.abs(ordered(got.view(np.int32)) - ordered(ref.view(np.int32)))
            ulp[same] = 0
            ulp[np.isnan(got) | np.isnan(ref)] = 2**32  # NaN against a number
            n_diff += int((~same).sum())
            max_ulp = max(max_ulp, int(ulp.max()))
            if first is None:
                i = start + int(np.argmin(same))
                first = (f"element {i} (row {i // row_len}, column {i % row_len}): "
                         f"ours {ours[i]!r}, {ref_name} {ref[i - start]!r}")
        start += ref.size
    assert start == ours.size, f"{tensor.name}: dequant_digest wrote too many values"
    return n_diff, max_ulp, first

# ----------------------------------------------------------------- tests


@pytest.mark.parametrize("model_name", list(MODELS))
def test_model_types(models, model_name):
    """The models hold the types the per-type tests cover, no others."""
    model = models(model_name)
    counts = {}
    for t in model.reader.tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    assert counts == MODELS[model.name]["types"]
    assert list(model.digests) == [t.name for t in model.reader.tensors]
    for t in model.reader.tensors:
        assert model.digests[t.name][0] == t.tensor_type.name, t.name


def check_type(model, type_name, ref_name, ref_chunks, ulp_types):
    """Every tensor of the type: digest, else values within 1 ulp when the
    type is in ulp_types."""
    tensors = model.tensors(type_name)
    assert tensors, f"{model.name} holds no {type_name} tensor"
    failures = []
    for t in tensors:
        if model.digests[t.name][1] == digest(ref_chunks(t)):
            continue
        n_diff, max_ulp, first = compare_values(model.values(t), ref_chunks(t), t, ref_name)
        if n_diff == 0:
            continue  # only NaN payloads differ
        if type_name in ulp_types and max_ulp <= 1:
            continue
        failures.append(f"{t.name}: {n_diff} of {int(t.n_elements)} values differ from "
                        f"{ref_name}, up to {max_ulp} ulp; first at {first}")
    assert not failures, f"{model.name} {type_name}:\n" + "\n".join(failures)


@pytest.mark.parametrize("model_name,type_name", CASES)
def test_dequantize_matches_gguf_py(models, model_name, type_name):
    check_type(models(model_name), type_name, "gguf-py", gguf_py_chunks, GGUF_PY_ULP_TYPES)


@pytest.mark.parametrize("model_name,type_name", CASES)
def test_dequantize_matches_llama_cpp(models, model_name, type_name):
    """Bit for bit against llama.cpp's own dequantize_row_* (skipped where
    llama-cpp-python is not installed)."""
    lib = llama_cpp_lib()
    if lib is None:
        pytest.skip("llama-cpp-python is not installed (development-time reference)")
    check_type(models(model_name), type_name, "llama.cpp", lambda t: llama_cpp_chunks(lib, t), set())
