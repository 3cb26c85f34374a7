"""`tessera inspect` against the `gguf` Python package's GGUFReader.

Every metadata key, type and value (arrays element by element, strings
decoded as UTF-8 with errors="replace", floats exactly) and every tensor's
name, type, shape, data offset and size must match what GGUFReader reads,
in file order — on the real SmolLM2 file and on tiny files written here with
GGUFWriter that hold every value type and the awkward cases (invalid UTF-8,
terminal control bytes, NaN, the extreme integers).
"""
import hashlib
import json
import math
import os
import re

import gguf
import numpy as np
import pytest

T = gguf.GGUFValueType
PSEUDO_FIELDS = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"}
INT_TYPES = {T.UINT8, T.INT8, T.UINT16, T.INT16, T.UINT32, T.INT32, T.UINT64, T.INT64}
FLOAT_TYPES = {T.FLOAT32, T.FLOAT64}
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

# ------------------------------------------------------------- reference


def py_scalar(x, vtype):
    if vtype in FLOAT_TYPES:
        return float(x)  # float32 -> double is exact
    if vtype == T.BOOL:
        return bool(x)
    return int(x)


def decode(part):
    return bytes(part).decode("utf-8", errors="replace")


def reader_value(field):
    """{"type", ["elem_type",] "value"} of a GGUFReader field."""
    vtype = field.types[0]
    if vtype == T.ARRAY:
        elem = T(int(field.parts[3][0]))  # parts: key len, key, type, elem type, count, ...
        if elem == T.STRING:
            values = [decode(field.parts[i]) for i in field.data]
        else:
            values = [py_scalar(field.parts[i][0], elem) for i in field.data]
        return {"type": "array", "elem_type": elem.name.lower(), "value": values}
    if vtype == T.STRING:
        return {"type": "string", "value": decode(field.parts[field.data[0]])}
    return {"type": vtype.name.lower(), "value": py_scalar(field.parts[field.data[0]][0], vtype)}


def reference(paths):
    """What inspect --json must say about the model made of `paths`."""
    readers = [gguf.GGUFReader(p) for p in paths]
    metadata = {k: reader_value(f) for k, f in readers[0].fields.items()
                if k not in PSEUDO_FIELDS and not k.startswith("split.")}
    tensors = [{"name": t.name, "type": t.tensor_type.name, "type_id": int(t.tensor_type),
                "shape": [int(n) for n in t.shape], "offset": int(t.data_offset) - int(r.data_offset),
                "bytes": int(t.n_bytes), "file": part}
               for part, r in enumerate(readers) for t in r.tensors]
    files = [{"size": os.path.getsize(p), "version": int(r.fields["GGUF.version"].parts[0][0]),
              "data_offset": int(r.data_offset)} for p, r in zip(paths, readers)]
    return {"metadata": metadata, "tensors": tensors, "files": files,
            "alignment": int(readers[0].alignment)}


def from_json(value, vtype):
    """A JSON value back to the Python value, checking its JSON type."""
    if vtype in FLOAT_TYPES:
        if isinstance(value, str):  # non-finite
            assert value in ("NaN", "Infinity", "-Infinity"), value
            return float(value)
        assert isinstance(value, float), value
        return value
    if vtype == T.BOOL:
        assert isinstance(value, bool), value
        return value
    if vtype in INT_TYPES:
        if isinstance(value, str):  # a uint64 beyond what jansson holds
            assert vtype == T.UINT64 and int(value) > 2**63 - 1, value
            return int(value)
        assert isinstance(value, int) and not isinstance(value, bool), value
        return value
    assert isinstance(value, str), value
    return value


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


def assert_value_matches(key, got, want):
    assert got["type"] == want["type"], key
    if want["type"] == "array":
        assert got["elem_type"] == want["elem_type"], key
        elem = T[want["elem_type"].upper()]
        assert len(got["value"]) == len(want["value"]), key
        for i, (g, w) in enumerate(zip(got["value"], want["value"])):
            assert same(from_json(g, elem), w), f"{key}[{i}]: {g!r} != {w!r}"
    else:
        g = from_json(got["value"], T[want["type"].upper()])
        assert same(g, want["value"]), f"{key}: {g!r} != {want['value']!r}"


def assert_matches_reference(doc, paths):
    ref = reference(paths)
    assert list(doc["metadata"]) == list(ref["metadata"])
    for key, want in ref["metadata"].items():
        assert_value_matches(key, doc["metadata"][key], want)
    assert doc["tensors"] == ref["tensors"]
    assert doc["alignment"] == ref["alignment"]
    assert len(doc["files"]) == len(paths)
    for got, want, path in zip(doc["files"], ref["files"], paths):
        assert os.path.samefile(got["path"], path)
        assert {k: got[k] for k in want} == want
    arch = ref["metadata"].get("general.architecture", {}).get("value")
    assert doc["architecture"] == arch


def assert_totals_consistent(doc):
    readers_params = sum(math.prod(t["shape"]) for t in doc["tensors"])
    assert doc["n_params"] == readers_params
    per_type = {}
    for t in doc["tensors"]:
        s = per_type.setdefault(t["type"], {"tensors": 0, "elements": 0, "bytes": 0})
        s["tensors"] += 1
        s["elements"] += math.prod(t["shape"])
        s["bytes"] += t["bytes"]
    assert doc["bytes_per_type"] == per_type
    sizes = [s["bytes"] for s in doc["bytes_per_type"].values()]
    assert sizes == sorted(sizes, reverse=True)


def inspect_json(tessera, path, *extra):
    r = tessera("inspect", path, "--json", *extra)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return json.loads(r.stdout.decode("utf-8"))  # strict: the output is valid UTF-8


def inspect_text(tessera, path, *extra):
    r = tessera("inspect", path, *extra)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout.decode("utf-8")  # strict: every file byte was escaped

# ------------------------------------------------------------ tiny models


LONG_STRING = "x" * 300
EVIL_STRING = "\x1b[31mred\x1b[0m\n\ttab \u202eevil\u202c \x07 \x7f \u009b"
INVALID_UTF8 = b"bad \xff\xfe trunc \xe2\x82 end \xed\xa0\x80 surrogate \xf0\x9f \xc0\xaf x"
TOKENS = ["<unk>", "<s>", "</s>", "\u0120the", INVALID_UTF8]


def add_metadata(w):
    w.add_uint32("llama.block_count", 2)
    w.add_uint32("llama.context_length", 64)
    w.add_uint32("llama.embedding_length", 32)
    w.add_uint32("llama.attention.head_count", 4)
    w.add_uint32("llama.attention.head_count_kv", 2)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    for name, vtype, value in [
            ("u8", T.UINT8, 255), ("i8", T.INT8, -128), ("u16", T.UINT16, 65535),
            ("i16", T.INT16, -32768), ("u32", T.UINT32, 2**32 - 1), ("i32", T.INT32, -2**31),
            ("u64", T.UINT64, 2**64 - 1), ("u64.small", T.UINT64, 7), ("i64", T.INT64, -2**63),
            ("f32", T.FLOAT32, 0.1), ("f32.neg_zero", T.FLOAT32, -0.0),
            ("f32.inf", T.FLOAT32, math.inf), ("f32.ninf", T.FLOAT32, -math.inf),
            ("f32.nan", T.FLOAT32, math.nan), ("f64", T.FLOAT64, 0.1),
            ("f64.denormal", T.FLOAT64, 5e-324), ("f64.big", T.FLOAT64, 1.7976931348623157e308),
            ("bool.true", T.BOOL, True), ("bool.false", T.BOOL, False),
            ("str.plain", T.STRING, "plain"), ("str.empty", T.STRING, ""),
            ("str.unicode", T.STRING, "h\u00e9llo \u2713 \U0001f642"),
            ("str.evil", T.STRING, EVIL_STRING), ("str.invalid", T.STRING, INVALID_UTF8),
            ("str.long", T.STRING, LONG_STRING)]:
        w.add_key_value("test." + name, value, vtype)
    for vtype, values in [
            (T.UINT8, [0, 255]), (T.INT8, [-128, 127]), (T.UINT16, [0, 65535]),
            (T.INT16, [-32768, 32767]), (T.UINT32, [0, 2**32 - 1]), (T.INT32, [-2**31, 2**31 - 1]),
            (T.UINT64, [0, 2**63, 2**64 - 1]), (T.INT64, [-2**63, 2**63 - 1]),
            (T.FLOAT32, [0.1, -2.5, math.inf, math.nan, 1e-45]), (T.FLOAT64, [0.1, -0.0, 1e300]),
            (T.BOOL, [True, False, True]), (T.STRING, ["a", EVIL_STRING, INVALID_UTF8, ""])]:
        w.add_key_value("test.arr." + vtype.name.lower(), values, T.ARRAY, sub_type=vtype)
    w.add_key_value("test.arr.long", list(range(100)), T.ARRAY, sub_type=T.INT32)
    # random bytes, mostly >= 0x80: exercises every ill-formed UTF-8 case
    rng = np.random.default_rng(1)
    noise = [bytes(rng.integers(0x70, 0x100, size=int(rng.integers(0, 12)), dtype=np.uint8))
             for _ in range(500)]
    w.add_key_value("test.arr.noise", noise, T.ARRAY, sub_type=T.STRING)
    w.add_key_value("tokenizer.ggml.tokens", TOKENS, T.ARRAY, sub_type=T.STRING)


def add_tensors(w):
    rng = np.random.default_rng(0)
    w.add_tensor("token_embd.weight", rng.standard_normal((5, 32), dtype=np.float32))
    w.add_tensor("blk.0.attn_norm.weight", rng.standard_normal(32).astype(np.float16))
    q = gguf.quants.quantize(rng.standard_normal((32, 64), dtype=np.float32),
                             gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_q.weight", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.1.ffn_up.weight", rng.standard_normal((2, 3, 4), dtype=np.float32))
    w.add_tensor("rope_freqs.weight", np.arange(7, dtype=np.int32))


def write_tiny_model(path, split_max_tensors=0):
    w = gguf.GGUFWriter(path, "llama", split_max_tensors=split_max_tensors)
    add_metadata(w)
    add_tensors(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny.gguf"
    write_tiny_model(path)
    return path

# ------------------------------------------------------------ real model


def test_smollm2_json_matches_gguf_reader(tessera, smollm2_path):
    doc = inspect_json(tessera, smollm2_path)
    assert_matches_reference(doc, [smollm2_path])
    assert_totals_consistent(doc)
    assert doc["architecture"] == "llama"
    assert len(doc["metadata"]["tokenizer.ggml.tokens"]["value"]) == 49152


def test_smollm2_text(tessera, smollm2_path):
    out = inspect_text(tessera, smollm2_path)
    assert "llama: 30 blocks," in out
    assert "vocabulary 49152" in out
    assert "GGUF v3" in out
    for t in gguf.GGUFReader(smollm2_path).tensors:
        assert re.search(rf"\s{re.escape(t.name)}\s", out), t.name
    assert "... (49152 elements)" in out  # arrays abbreviated by default


def test_smollm2_sha256(tessera, smollm2_path):
    r = tessera("inspect", smollm2_path, "--sha256")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    digest = hashlib.sha256(smollm2_path.read_bytes()).hexdigest()
    assert digest == SMOLLM2_SHA256, "the SmolLM2 file is not the expected one"
    assert f"sha256 {digest}" in r.stdout.decode()
    # 94 MiB is over the progress threshold: a few lines when stderr is a pipe
    progress = r.stderr.decode().splitlines()
    assert progress and progress[-1].endswith("100%") and len(progress) <= 5

# ----------------------------------------------------------- tiny models


def test_tiny_json_matches_gguf_reader(tessera, tiny_model):
    doc = inspect_json(tessera, tiny_model)
    assert_matches_reference(doc, [tiny_model])
    assert_totals_consistent(doc)
    meta = doc["metadata"]
    assert meta["test.u64"]["value"] == str(2**64 - 1)
    assert meta["test.i64"]["value"] == -2**63
    assert meta["test.str.invalid"]["value"] == INVALID_UTF8.decode("utf-8", "replace")
    assert {t["type"] for t in doc["tensors"]} == {"F32", "F16", "Q8_0", "I32"}


def test_tiny_text(tessera, tiny_model):
    out = inspect_text(tessera, tiny_model)
    assert "llama: 2 blocks, vocabulary 5, context 64, embedding 32, heads 4/2" in out
    for byte in "\x1b\x07\x7f\u009b\u202e\r":
        assert byte not in out, repr(byte)
    assert r"\x1B[31mred\x1B[0m\n\ttab \u202Eevil\u202C \x07 \x7F \u009B" in out
    assert r"bad \xFF\xFE trunc \xE2\x82 end \xED\xA0\x80" in out
    assert "... (100 elements)" in out and "99" not in out.split("test.arr.long")[1].split("\n")[0]
    assert '"' + "x" * 100 + '"... (300 bytes)' in out
    assert "-0" in out and "inf" in out and "nan" in out
    for t in ("token_embd.weight", "blk.0.attn_q.weight", "rope_freqs.weight"):
        assert t in out
    assert "32 x 5" in out and "4 x 3 x 2" in out


def test_tiny_text_full(tessera, tiny_model):
    out = inspect_text(tessera, tiny_model, "--full")
    long_line = next(line for line in out.splitlines() if "test.arr.long" in line)
    assert long_line.rstrip().endswith(", 98, 99]")
    assert '"' + LONG_STRING + '"' in out


def test_tiny_sha256(tessera, tiny_model):
    doc = inspect_json(tessera, tiny_model, "--sha256")
    assert doc["files"][0]["sha256"] == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    r = tessera("inspect", "--sha256", tiny_model)
    assert r.stderr == b""  # small files show no progress


def test_split_model_reads_as_one(tessera, tmp_path):
    write_tiny_model(tmp_path / "split.gguf", split_max_tensors=2)
    parts = sorted(tmp_path.glob("split-*-of-*.gguf"))
    assert len(parts) == 3
    doc = inspect_json(tessera, parts[0])
    assert_matches_reference(doc, parts)
    assert [t["file"] for t in doc["tensors"]] == [0, 0, 1, 1, 2]
    out = inspect_text(tessera, parts[0])
    assert "file 3/3" in out and "part" in out

def test_no_architecture_no_tensors(tessera, tmp_path):
    path = tmp_path / "bare.gguf"
    w = gguf.GGUFWriter(path, "unused")
    del w.kv_data[0]["general.architecture"]
    w.add_uint32("some.key", 1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    doc = inspect_json(tessera, path)
    assert_matches_reference(doc, [path])
    assert doc["architecture"] is None and doc["tensors"] == [] and doc["n_params"] == 0
    out = inspect_text(tessera, path)
    assert "general.architecture not set" in out and "tensors (0)" in out

# ---------------------------------------------------------------- errors


def one_line_error(r):
    err = r.stderr.decode()
    assert err.startswith("tessera: ") and err.count("\n") == 1, err
    assert r.stdout == b""
    return err


def test_missing_file(tessera, tmp_path):
    path = tmp_path / "no-such-model.gguf"
    r = tessera("inspect", path)
    assert r.returncode == 1
    assert str(path) in one_line_error(r)


def test_not_a_gguf(tessera, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some text, long enough to hold a GGUF header\n" * 4)
    r = tessera("inspect", path)
    assert r.returncode == 1
    assert re.search(r"magic|not a GGUF", one_line_error(r))


def test_truncated_gguf(tessera, tiny_model, tmp_path):
    path = tmp_path / "truncated.gguf"
    path.write_bytes(tiny_model.read_bytes()[:200])
    r = tessera("inspect", path, "--json")
    assert r.returncode == 1
    one_line_error(r)


def test_directory(tessera, tmp_path):
    r = tessera("inspect", tmp_path)
    assert r.returncode == 1
    one_line_error(r)


@pytest.mark.parametrize("args", [["inspect"], ["inspect", "--bogus", "x.gguf"],
                                  ["inspect", "a.gguf", "b.gguf"], ["no-such-command"], []])
def test_usage_errors(tessera, args):
    r = tessera(*args)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert err.startswith("tessera: ") and "usage: tessera" in err
    assert r.stdout == b""


def test_help_and_version(tessera):
    for args in (["--help"], ["help"], ["help", "inspect"], ["inspect", "--help"]):
        r = tessera(*args)
        assert r.returncode == 0 and r.stdout.startswith(b"usage: tessera"), args
    out = tessera("--help").stdout.decode()
    assert "inspect" in out and "2  usage error" in out
    r = tessera("--version")
    assert r.returncode == 0 and re.fullmatch(rb"tessera \d+\.\d+\.\d+\n", r.stdout)

# ------------------------------------------------------------------ dump


def dump(tessera, path, name, *extra):
    """`inspect PATH --dump NAME EXTRA...` -> (header, values (rows, ne0))."""
    r = tessera("inspect", path, "--dump", name, *extra)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stderr == b""
    header, *lines = r.stdout.decode("utf-8").splitlines()
    rows = []
    for i, line in enumerate(lines):
        index, sep, values = line.partition(": ")
        assert sep and int(index) == i, line[:80]
        rows.append([np.float32(float(v)) for v in values.split()])
    return header, np.array(rows, dtype=np.float32).reshape(len(rows), -1)


def reader_rows(path, name):
    """gguf-py's dequantized values of tensor `name` as (rows, ne0)."""
    t = next(t for t in gguf.GGUFReader(path).tensors if t.name == name)
    values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
    return values.reshape(-1, int(t.shape[0]))


def assert_same_floats(got, want):
    assert got.shape == want.shape
    assert np.array_equal(got.view(np.int32), want.view(np.int32)), \
        f"first difference at {np.argwhere(got.view(np.int32) != want.view(np.int32))[0]}"


@pytest.mark.parametrize("name,header", [
    ("token_embd.weight", "token_embd.weight  F32  32 x 5  (all 5 rows)"),
    ("blk.0.attn_norm.weight", "blk.0.attn_norm.weight  F16  32  (all 1 row)"),
    ("blk.0.attn_q.weight", "blk.0.attn_q.weight  Q8_0  64 x 32  (all 32 rows)"),
    ("blk.1.ffn_up.weight", "blk.1.ffn_up.weight  F32  4 x 3 x 2  (all 6 rows)")])
def test_dump_tiny_matches_numpy(tessera, tiny_model, name, header):
    got_header, got = dump(tessera, tiny_model, name, "--rows", "all")
    assert got_header == header
    assert_same_floats(got, reader_rows(tiny_model, name))  # printed values read back exactly


def test_dump_rows(tessera, tiny_model):
    want = reader_rows(tiny_model, "blk.0.attn_q.weight")
    header, got = dump(tessera, tiny_model, "blk.0.attn_q.weight")
    assert header.endswith("(first 4 of 32 rows)")  # the default
    assert_same_floats(got, want[:4])
    header, got = dump(tessera, tiny_model, "blk.0.attn_q.weight", "--rows", "1")
    assert header.endswith("(first 1 of 32 rows)")
    assert_same_floats(got, want[:1])
    for rows in ("0", "all", "32", "1000"):
        header, got = dump(tessera, tiny_model, "blk.0.attn_q.weight", "--rows", rows)
        assert header.endswith("(all 32 rows)"), rows
        assert_same_floats(got, want)


def test_dump_split_model(tessera, tmp_path):
    write_tiny_model(tmp_path / "split.gguf", split_max_tensors=2)
    first = tmp_path / "split-00001-of-00003.gguf"
    for name, part in [("token_embd.weight", 1), ("blk.1.ffn_up.weight", 2)]:
        _, got = dump(tessera, first, name, "--rows", "all")
        assert_same_floats(got, reader_rows(tmp_path / f"split-0000{part}-of-00003.gguf", name))


def test_dump_smollm2_q4_1(tessera, smollm2_path):
    name = "blk.0.attn_q.weight"
    header, got = dump(tessera, smollm2_path, name, "--rows", "3")
    assert header == f"{name}  Q4_1  576 x 576  (first 3 of 576 rows)"
    t = next(t for t in gguf.GGUFReader(smollm2_path).tensors if t.name == name)
    assert t.tensor_type == gguf.GGMLQuantizationType.Q4_1
    want = gguf.quants.dequantize(t.data[:3], t.tensor_type).astype(np.float32)
    assert_same_floats(got, want)


def test_dump_unknown_tensor(tessera, tiny_model):
    r = tessera("inspect", tiny_model, "--dump", "blk.0.attn_k.weight")
    assert r.returncode == 1
    err = one_line_error(r)
    assert "no tensor named 'blk.0.attn_k.weight'" in err
    assert "close names: 'blk.0.attn_q.weight'" in err
    r = tessera("inspect", tiny_model, "--dump", "weight")  # a part of many names
    assert r.returncode == 1
    # shortest names first, then file order
    assert "close names: 'token_embd.weight', 'rope_freqs.weight', 'blk.0.attn_q" in one_line_error(r)
    r = tessera("inspect", tiny_model, "--dump", "nothing-like-it")
    assert r.returncode == 1
    assert f"see `tessera inspect {tiny_model}` for the list" in one_line_error(r)


def test_dump_unknown_tensor_many_close(tessera, smollm2_path):
    r = tessera("inspect", smollm2_path, "--dump", "attn_q")
    assert r.returncode == 1
    err = one_line_error(r)
    # the closest few by name, then how many more there are
    assert "close names: 'blk.0.attn_q.weight', 'blk.1.attn_q.weight', " in err
    assert re.search(r"'blk\.4\.attn_q\.weight' and \d+ more$", err.rstrip())


def test_dump_type_without_kernels(tessera, tiny_model):
    r = tessera("inspect", tiny_model, "--dump", "rope_freqs.weight")
    assert r.returncode == 1
    err = one_line_error(r)
    assert "rope_freqs.weight: type I32 is not supported" in err and "Q8_0" in err


@pytest.mark.parametrize("args", [["--rows", "2"], ["--dump"], ["--dump", "x", "--rows"],
                                  ["--dump", "x", "--rows", "-1"], ["--dump", "x", "--rows", "2x"],
                                  ["--dump", "x", "--rows", "some"], ["--dump", "x", "--json"],
                                  ["--dump", "x", "--sha256"], ["--dump", "x", "--full"]])
def test_dump_usage_errors(tessera, tiny_model, args):
    r = tessera("inspect", tiny_model, *args)
    assert r.returncode == 2, args
    err = r.stderr.decode()
    assert err.startswith("tessera: inspect: ") and "usage: tessera inspect" in err
    assert r.stdout == b""


def test_dump_help(tessera):
    out = tessera("inspect", "--help").stdout.decode()
    assert "--dump NAME" in out and "--rows R" in out and "(default 4)" in out
