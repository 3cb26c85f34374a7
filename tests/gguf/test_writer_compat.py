"""Files written by libtessera's writer are read by other GGUF readers:
the `gguf` Python package (always) and llama.cpp's own gguf reader (through
the libggml-base shipped with llama-cpp-python, when it is installed — it is
a development-time reference, not a CI dependency).

The writer's output comes from tests/gguf/write_fixture.c (env
TS_WRITE_FIXTURE): the tiny model of tests/testutil.c, whole and split in
3 parts, alignment 64.
"""
import ctypes
import os
import pathlib
import subprocess

import numpy as np
import pytest
from gguf import GGUFReader, GGUFValueType

N_TENSORS = 12
TYPES = [0, 1, 8, 12]  # F32, F16, Q8_0, Q4_K (cycling, as in testutil.c)
SHAPES = [(64, 3), (8, 5), (32, 4), (256, 2)]
ROW_BYTES = {0: lambda n: 4 * n, 1: lambda n: 2 * n, 8: lambda n: n // 32 * 34,
             12: lambda n: n // 256 * 144}


def fill(n, seed):
    """testutil.c's xorshift byte stream."""
    x = (seed * 2654435761 + 1) & 0xFFFFFFFF
    out = bytearray(n)
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x & 0xFF
    return bytes(out)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("writer")
    subprocess.run([os.environ["TS_WRITE_FIXTURE"], str(out)], check=True)
    return out


def field_value(f):
    t = f.types[0]
    if t == GGUFValueType.ARRAY:
        if len(f.types) > 1 and f.types[1] == GGUFValueType.STRING:  # [] has no elem type
            return [bytes(f.parts[i]) for i in f.data]
        return [f.parts[i][0].item() for i in f.data]
    if t == GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]])
    return f.parts[f.data[0]][0].item()


def test_gguf_py_reads_whole_file(files):
    r = GGUFReader(files / "tiny.gguf")
    fields = {k: field_value(f) for k, f in r.fields.items() if not k.startswith("GGUF.")}
    assert fields["general.architecture"] == b"llama"
    assert fields["general.alignment"] == 64
    assert fields["test.u64"] == 2**64 - 1
    assert fields["test.i64"] == -(2**63)
    assert fields["test.f64"] == -1e300
    assert fields["test.f32"] == float(np.float32(0.1))
    assert fields["test.bool"] is True
    assert fields["test.arr_i32"] == [-1, 0, 7, 2**31 - 1]
    assert fields["test.arr_empty"] == []
    assert fields["tokenizer.ggml.tokens"] == [b"<s>", b"he\0llo", "中".encode()]
    assert len(r.tensors) == N_TENSORS
    for i, t in enumerate(r.tensors):
        assert t.name == f"blk.{i}.weight"
        assert int(t.tensor_type) == TYPES[i % 4]
        assert tuple(int(d) for d in t.shape) == SHAPES[i % 4]
        ne0, ne1 = SHAPES[i % 4]
        nbytes = ROW_BYTES[TYPES[i % 4]](ne0) * ne1
        assert t.n_bytes == nbytes
        assert t.data_offset % 64 == 0
        assert bytes(t.data.tobytes()) == fill(nbytes, i + 1)


def test_gguf_py_reads_split_parts(files):
    whole = GGUFReader(files / "tiny.gguf")
    names, datas = [], []
    for i in range(3):
        r = GGUFReader(files / f"tiny-{i + 1:05d}-of-00003.gguf")
        assert field_value(r.fields["split.no"]) == i
        assert field_value(r.fields["split.count"]) == 3
        assert field_value(r.fields["split.tensors.count"]) == N_TENSORS
        assert ("general.architecture" in r.fields) == (i == 0)
        names += [t.name for t in r.tensors]
        datas += [t.data.tobytes() for t in r.tensors]
    assert names == [t.name for t in whole.tensors]
    assert datas == [t.data.tobytes() for t in whole.tensors]


def ggml_base():
    try:
        import llama_cpp
    except ImportError:
        pytest.skip("llama-cpp-python is not installed (development-time reference)")
    lib = ctypes.CDLL(str(pathlib.Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))

    class Params(ctypes.Structure):
        _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.c_void_p)]

    lib.gguf_init_from_file.argtypes = [ctypes.c_char_p, Params]
    lib.gguf_init_from_file.restype = ctypes.c_void_p
    for name, res in [("gguf_get_n_kv", ctypes.c_int64), ("gguf_get_n_tensors", ctypes.c_int64),
                      ("gguf_get_data_offset", ctypes.c_size_t)]:
        getattr(lib, name).argtypes = [ctypes.c_void_p]
        getattr(lib, name).restype = res
    for name, res in [("gguf_get_tensor_name", ctypes.c_char_p),
                      ("gguf_get_tensor_offset", ctypes.c_size_t),
                      ("gguf_get_tensor_size", ctypes.c_size_t),
                      ("gguf_get_tensor_type", ctypes.c_int),
                      ("gguf_get_key", ctypes.c_char_p)]:
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_int64]
        getattr(lib, name).restype = res
    lib.gguf_free.argtypes = [ctypes.c_void_p]
    return lib, Params


@pytest.mark.parametrize("name", ["tiny.gguf"] + [f"tiny-{i:05d}-of-00003.gguf" for i in (1, 2, 3)])
def test_llama_cpp_reads(files, name):
    lib, Params = ggml_base()
    ctx = lib.gguf_init_from_file(str(files / name).encode(), Params(True, None))
    assert ctx, f"llama.cpp's gguf reader refused {name}"
    try:
        py = GGUFReader(files / name)
        keys = [lib.gguf_get_key(ctx, i).decode() for i in range(lib.gguf_get_n_kv(ctx))]
        assert keys == [k for k in py.fields if not k.startswith("GGUF.")]
        n = lib.gguf_get_n_tensors(ctx)
        assert n == len(py.tensors)
        base = lib.gguf_get_data_offset(ctx)
        for i, t in enumerate(py.tensors):
            assert lib.gguf_get_tensor_name(ctx, i).decode() == t.name
            assert lib.gguf_get_tensor_type(ctx, i) == int(t.tensor_type)
            assert lib.gguf_get_tensor_size(ctx, i) == t.n_bytes
            assert base + lib.gguf_get_tensor_offset(ctx, i) == t.data_offset
    finally:
        lib.gguf_free(ctx)
