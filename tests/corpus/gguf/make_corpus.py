#!/usr/bin/env python3
"""
make_corpus.py — writes the GGUF regression corpus byte by byte.

  valid/  well-formed files: seeds for the fuzzer, and files every reader
          must open.
  bad/    malformed files, one defect each, plus bad/MANIFEST.tsv:
            filename <TAB> status <TAB> message substring <TAB> class / CVE
          tests/gguf/test_corpus.c opens each file and checks that the reader
          fails with `status` and a message containing the substring (which is
          chosen to prove that the check meant for the defect fired).

The generated files are tracked in git; this script regenerates them
(deterministically: same bytes on every run) with Python's standard library
only. Run it from anywhere: `python3 tests/corpus/gguf/make_corpus.py`.

Layout written (all little-endian, GGUF v3 unless stated):
  header   magic "GGUF", u32 version, u64 n_tensors, u64 n_kv
  kv       u64 key length, key bytes, u32 value type, value
  tensor   u64 name length, name, u32 n_dims, n_dims x u64 ne, u32 type,
           u64 offset (from the start of the data section)
  padding  zeros up to general.alignment (default 32)
  data
Every bad file starts from a valid layout and breaks exactly one thing, so
that the expected message is unambiguous.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ALIGN = 32
U64_MAX = 2**64 - 1

# GGUF metadata value types.
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)

# ggml tensor types used here: name -> (id, block size, bytes per block).
GGML = {
    "F32": (0, 1, 4),
    "F16": (1, 1, 2),
    "Q4_0": (2, 32, 18),
    "Q8_0": (8, 32, 34),
    "F64": (28, 1, 8),
}

SCALAR_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i",
              F32: "<f", BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}


# ------------------------------------------------------------ encoders

def u32(x):
    return struct.pack("<I", x)


def u64(x):
    return struct.pack("<Q", x & U64_MAX)  # negative dims written as two's complement


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return u64(len(b)) + b


def value(t, v):
    """Payload of a value of type t (without the type id)."""
    if t == STR:
        return gstr(v)
    if t == ARR:
        elem, items = v
        return u32(elem) + u64(len(items)) + b"".join(value(elem, x) for x in items)
    return struct.pack(SCALAR_FMT[t], v)


def kv(key, t, v):
    return gstr(key) + u32(t) + value(t, v)


def kv_raw(key, t, payload):
    """A KV whose value bytes are given verbatim (for broken values)."""
    return gstr(key) + u32(t) + payload


def tinfo(name, ne, ttype, offset):
    tid = GGML[ttype][0] if isinstance(ttype, str) else ttype
    return gstr(name) + u32(len(ne)) + b"".join(u64(n) for n in ne) + u32(tid) + u64(offset)


def header(n_tensors, n_kv, version=3, magic=b"GGUF"):
    return magic + u32(version) + u64(n_tensors) + u64(n_kv)


def pad(buf, align=ALIGN):
    return buf + b"\0" * (-len(buf) % align)


def nbytes(ttype, ne):
    _, blck, size = GGML[ttype]
    n = 1
    for d in ne:
        n *= d
    assert ne[0] % blck == 0
    return n // blck * size


def fill(n, seed=0):
    """Deterministic, non-constant tensor bytes."""
    return bytes((i * 31 + seed * 17 + 7) & 0xFF for i in range(n))


def gguf(kvs, tinfos, data=b"", align=ALIGN, version=3, n_kv=None, n_tensors=None):
    """A whole file from encoded KVs and tensor infos; counts default to the
    real ones and may be overridden to lie."""
    n_kv = len(kvs) if n_kv is None else n_kv
    n_tensors = len(tinfos) if n_tensors is None else n_tensors
    head = header(n_tensors, n_kv, version) + b"".join(kvs) + b"".join(tinfos)
    return pad(head, align) + data


def model(tensors, kvs=(), align=ALIGN):
    """A valid file holding `tensors` [(name, type, ne)], laid out in order,
    each at an offset aligned to `align`."""
    infos, data = [], b""
    for i, (name, ttype, ne) in enumerate(tensors):
        data = pad(data, align)
        infos.append(tinfo(name, ne, ttype, len(data)))
        data += fill(nbytes(ttype, ne), i)
    return gguf(list(kvs), infos, data, align)


ARCH = kv("general.architecture", STR, "llama")


def one_tensor(info, data_len=64, kvs=(ARCH,)):
    """A file with one (possibly broken) tensor info and data_len data bytes."""
    return gguf(list(kvs), [info], fill(data_len))


def one_kv(raw_kv):
    """A file whose only metadata is ARCH and one (possibly broken) KV."""
    return gguf([ARCH, raw_kv], [])


# ------------------------------------------------------------ valid seeds

def valid_files():
    all_types = [
        ARCH,
        kv("t.u8", U8, 200), kv("t.i8", I8, -100),
        kv("t.u16", U16, 60000), kv("t.i16", I16, -30000),
        kv("t.u32", U32, 4000000000), kv("t.i32", I32, -2000000000),
        kv("t.f32", F32, 1.5), kv("t.bool.true", BOOL, 1), kv("t.bool.false", BOOL, 0),
        kv("t.str", STR, "hello, GGUF"), kv("t.str.empty", STR, ""),
        kv("t.str.bytes", STR, b"a\0b\xff\xfe"),  # values may hold any bytes
        kv("t.str.utf8", STR, "Grüße, 世界"),
        kv("t.u64", U64, U64_MAX), kv("t.i64", I64, -2**63), kv("t.f64", F64, -0.25),
        kv("t.arr.u8", ARR, (U8, [0, 1, 255])),
        kv("t.arr.i8", ARR, (I8, [-128, 0, 127])),
        kv("t.arr.u16", ARR, (U16, [1, 65535])),
        kv("t.arr.i16", ARR, (I16, [-32768, 32767])),
        kv("t.arr.u32", ARR, (U32, [1, 2, 3])),
        kv("t.arr.i32", ARR, (I32, [-1, 0, 1])),
        kv("t.arr.f32", ARR, (F32, [0.5, -2.0])),
        kv("t.arr.bool", ARR, (BOOL, [1, 0, 1])),
        kv("t.arr.u64", ARR, (U64, [U64_MAX, 0])),
        kv("t.arr.i64", ARR, (I64, [-2**63, 2**63 - 1])),
        kv("t.arr.f64", ARR, (F64, [3.25])),
        kv("t.arr.str", ARR, (STR, ["<s>", "</s>", "", "▁the", "a\0b"])),
        kv("t.arr.empty", ARR, (U32, [])),
        kv("t.arr.str.empty", ARR, (STR, [])),
        kv("tokenizer.ggml.tokens", ARR, (STR, ["<unk>", "<s>", "</s>", "hi"])),
        kv("tokenizer.ggml.scores", ARR, (F32, [0.0, -1.0, -2.0, -3.0])),
    ]
    return {
        # Smallest useful file: one key, no tensors.
        "no_tensors.gguf": gguf([ARCH, kv("general.name", STR, "empty")], []),
        # No metadata at all, no tensors.
        "minimal.gguf": gguf([], []),
        # Tensors of 1..4 dimensions, float and quantized.
        "f32_q8_0.gguf": model([
            ("token_embd.weight", "F32", [8, 4]),
            ("blk.0.attn_q.weight", "Q8_0", [64, 2]),
            ("blk.0.attn_norm.weight", "F32", [8]),
            ("blk.0.ffn_up.weight", "Q4_0", [32, 2, 2]),
            ("blk.0.x.weight", "F16", [2, 3, 2, 2]),
            ("output.weight", "Q8_0", [32, 3]),
        ], [ARCH, kv("general.name", STR, "tiny"), kv("llama.block_count", U32, 1)]),
        # Metadata of every value type, arrays of every element type.
        "all_types.gguf": model([("t", "F32", [4])], all_types),
        # A custom alignment: tensors start at multiples of 64.
        "align64.gguf": model([
            ("a", "F32", [3]),
            ("b", "Q8_0", [32]),
            ("c", "F16", [5]),
        ], [ARCH, kv("general.alignment", U32, 64)], align=64),
        # GGUF v2 has the same layout as v3.
        "v2.gguf": gguf([ARCH], [tinfo("t", [4], "F32", 0)], fill(16), version=2),
        # The longest legal tensor name (63 bytes + NUL = TS_MAX_NAME).
        "name_63.gguf": model([("n" * 63, "F32", [2])], [ARCH]),
    }


# ------------------------------------------------------------ bad files

def nested(depth):
    """Array nested `depth` levels deep, the innermost an empty u8 array."""
    return (u32(ARR) + u64(1)) * depth + u32(U8) + u64(0)


def bad_files():
    """[(name, bytes, status, substring, class)]"""
    good = model([("t", "F32", [4])], [ARCH, kv("general.name", STR, "cut")])
    # Offsets into `good`, for the truncations: the header is 24 bytes, then
    # ARCH (8+20 key, 4 type, 8+5 value = 45 bytes), then general.name.
    kv2_at = 24 + len(ARCH)
    ti_at = kv2_at + len(kv("general.name", STR, "cut"))
    split = lambda no, count: [ARCH, kv("split.no", U16, no), kv("split.count", U16, count),
                               kv("split.tensors.count", I32, 1)]
    B = []

    def add(name, data, status, substr, cls):
        B.append((name, data, status, substr, cls))

    # --- header
    add("truncated_header.gguf", b"GGUF" + u32(3) + u32(0),
        "FORMAT", "header.n_tensors at offset 8: needs 8 bytes",
        "truncated header (12 of 24 bytes)")
    add("truncated_header_empty.gguf", b"",
        "FORMAT", "is empty, not a GGUF file",
        "truncated header (empty file)")
    add("bad_magic.gguf", b"GGML" + good[4:],
        "FORMAT", "magic at offset 0 is 'GGML'",
        "bad magic")
    add("version_1.gguf", b"GGUF" + u32(1) + u32(0) + u32(1) + kv("a", U32, 1),
        "UNSUPPORTED", "GGUF version 1 at offset 4 is not supported",
        "GGUF v1 (32-bit counts)")
    add("big_endian.gguf",
        b"GGUF" + struct.pack(">IQQ", 3, 0, 1) + struct.pack(">Q", 1) + b"a"
        + struct.pack(">II", U32, 7),
        "UNSUPPORTED", "big-endian GGUF file (version 3 byte-swapped at offset 4)",
        "big-endian file (version bytes swapped)")
    add("version_unknown.gguf", b"GGUF" + u32(4) + good[8:],
        "UNSUPPORTED", "unknown GGUF version 4",
        "unknown version")
    add("n_kv_huge.gguf", header(0, 0x1000000000000001) + ARCH,
        "FORMAT", "header.n_kv at offset 16: 1152921504606846977 entries cannot fit",
        "CVE-2024-23605: n_kv * sizeof(kv) overflows")
    add("n_tensors_huge.gguf", header(0x0400000000000001, 1) + ARCH + tinfo("t", [4], "F32", 0),
        "FORMAT", "header.n_tensors at offset 8: 288230376151711745 tensors cannot fit",
        "CVE-2024-21836: n_tensors * sizeof(info) overflows")

    # --- keys and values
    add("key_len_huge.gguf", one_kv(u64(U64_MAX) + b"general.name" + u32(U32) + u32(1)),
        "FORMAT", "key of metadata entry 1 at offset 69: string length 18446744073709551615",
        "key length 2^64-1")
    add("str_len_huge.gguf", one_kv(kv_raw("general.name", STR, u64(U64_MAX) + b"abc")),
        "FORMAT", "value of key 'general.name' at offset 93: string length 18446744073709551615 runs past",
        "CVE-2024-23496: string length 2^64-1 (length+1 wraps to 0)")
    add("str_len_past_eof.gguf", one_kv(kv_raw("general.name", STR, u64(4000) + b"abc")),
        "FORMAT", "value of key 'general.name' at offset 93: string length 4000 runs past the end",
        "string length past the end of the file")
    add("arr_str_count_huge.gguf",
        one_kv(kv_raw("tokenizer.ggml.tokens", ARR, u32(STR) + u64(0x1000000000000001) + gstr("a"))),
        "FORMAT", "array of 1152921504606846977 strings cannot fit",
        "CVE-2024-21825: array of strings with a huge count")
    add("arr_u64_count_overflow.gguf",
        one_kv(kv_raw("t.arr", ARR, u32(U64) + u64(0x2000000000000001) + u64(1))),
        "FORMAT", "array of 2305843009213693953 uint64 elements runs past the end",
        "array of u64 whose count*8 overflows (wraps to 8)")
    add("arr_nested.gguf",
        one_kv(kv_raw("t.arr", ARR, u32(ARR) + u64(1) + u32(U8) + u64(1) + b"\5")),
        "UNSUPPORTED", "key 't.arr' at offset 86: nested arrays",
        "array of arrays")
    add("arr_nested_deep.gguf", one_kv(kv_raw("t.arr", ARR, nested(256))),
        "UNSUPPORTED", "key 't.arr' at offset 86: nested arrays",
        "arrays nested 256 deep (stack exhaustion)")
    add("arr_elem_type_unknown.gguf", one_kv(kv_raw("t.arr", ARR, u32(13) + u64(1) + u32(0))),
        "FORMAT", "unknown array element type 13",
        "unknown array element type 13")
    add("value_type_unknown.gguf", one_kv(kv_raw("t.x", 13, u32(0))),
        "FORMAT", "key 't.x' at offset 80: unknown value type 13",
        "unknown value type 13")
    add("value_type_huge.gguf", one_kv(kv_raw("t.x", 0xFFFFFFFF, u32(0))),
        "FORMAT", "unknown value type 4294967295",
        "unknown value type 2^32-1")
    add("bool_invalid.gguf", one_kv(kv_raw("t.flag", BOOL, b"\2")),
        "FORMAT", "key 't.flag' at offset 87: bool value 2 is not 0 or 1",
        "bool byte not 0/1")
    add("bool_arr_invalid.gguf", one_kv(kv_raw("t.flags", ARR, u32(BOOL) + u64(3) + b"\1\0\7")),
        "FORMAT", "key 't.flags' at offset 88: bool value 7 is not 0 or 1",
        "bool array element not 0/1")
    add("key_empty.gguf", one_kv(kv("", U32, 1)),
        "FORMAT", "key of metadata entry 1 at offset 69 is empty",
        "empty key")
    add("key_nul.gguf", one_kv(kv("general\0.name", STR, "x")),
        "FORMAT", "key of metadata entry 1 at offset 69 contains a NUL byte",
        "key with a NUL byte")
    add("key_duplicate.gguf",
        gguf([ARCH, kv("general.name", STR, "a"), kv("general.name", STR, "b")], []),
        "FORMAT", "key 'general.name' at offset 102 is a duplicate of entry 1",
        "duplicate key")
    add("alignment_zero.gguf", model([("t", "F32", [4])], [ARCH, kv("general.alignment", U32, 0)]),
        "FORMAT", "key 'general.alignment' at offset 98: 0 is not a power of two",
        "general.alignment = 0")
    add("alignment_3.gguf", model([("t", "F32", [4])], [ARCH, kv("general.alignment", U32, 3)]),
        "FORMAT", "key 'general.alignment' at offset 98: 3 is not a power of two",
        "general.alignment = 3 (not a power of two)")
    add("alignment_string.gguf",
        model([("t", "F32", [4])], [ARCH, kv("general.alignment", STR, "32")]),
        "FORMAT", "key 'general.alignment' at offset 98 has type string, expected uint32",
        "general.alignment of type string")
    add("arch_not_string.gguf", gguf([kv("general.architecture", U32, 1)], []),
        "FORMAT", "key 'general.architecture' at offset 56 has type uint32, expected string",
        "general.architecture not a string")
    add("truncated_kv.gguf", good[:kv2_at + 33],
        "FORMAT",
        "value of key 'general.name' at offset 93: string length 3 runs past the end of the file (1 bytes left)",
        "truncated inside a KV")

    # --- tensor infos
    add("tensor_name_duplicate.gguf",
        gguf([ARCH], [tinfo("t", [4], "F32", 0), tinfo("t", [4], "F32", 32)], fill(64)),
        "FORMAT", "tensor 't' at offset 102 is a duplicate of tensor 0",
        "duplicate tensor name")
    add("tensor_name_64.gguf", one_tensor(tinfo("n" * 64, [4], "F32", 0)),
        "FORMAT", "name of tensor 0 at offset 69 is 64 bytes long (at most 63)",
        "tensor name of 64 bytes (limit 63)")
    add("tensor_name_len_huge.gguf",
        one_tensor(u64(U64_MAX) + b"t" + u32(1) + u64(4) + u32(0) + u64(0)),
        "FORMAT", "name of tensor 0 at offset 69: string length 18446744073709551615",
        "tensor name length 2^64-1")
    add("tensor_name_nul.gguf", one_tensor(tinfo("a\0b", [4], "F32", 0)),
        "FORMAT", "name of tensor 0 at offset 69 contains a NUL byte",
        "tensor name with a NUL byte")
    add("n_dims_5.gguf", one_tensor(tinfo("t", [4, 1, 1, 1, 1], "F32", 0)),
        "FORMAT", "tensor 't' at offset 69: n_dims 5 exceeds 4",
        "n_dims = 5")
    add("n_dims_huge.gguf",
        one_tensor(u64(1) + b"t" + u32(0xFFFFFFFF) + u64(4) * 4 + u32(0) + u64(0)),
        "FORMAT", "tensor 't' at offset 69: n_dims 4294967295 exceeds 4",
        "CVE-2024-21802: n_dims = 2^32-1")
    add("dim_negative.gguf", one_tensor(tinfo("t", [-1], "F32", 0)),
        "FORMAT", "tensor 't' at offset 69: dimension 0 is negative (-1)",
        "dimension -1 when read as int64")
    add("dim_negative_pair.gguf", one_tensor(tinfo("t", [4, -1, -1], "F32", 0)),
        "FORMAT", "tensor 't' at offset 69: dimension 1 is negative (-1)",
        "two negative dimensions whose product is positive")
    add("dims_product_overflow.gguf", one_tensor(tinfo("t", [2**32, 2**31], "F32", 0)),
        "FORMAT", "element count overflows 64 bits",
        "element count 2^63 overflows int64")
    add("dims_product_wrap.gguf", one_tensor(tinfo("t", [2**32, 2**32, 1, 1], "F32", 0)),
        "FORMAT", "element count overflows 64 bits",
        "element count 2^64 wraps to 0")
    add("f32_nbytes_wrap.gguf", one_tensor(tinfo("t", [2**31, 2**31], "F32", 0)),
        "FORMAT", "byte size overflows 64 bits",
        "byte size 4 * 2^62 wraps to 0")
    add("row_nbytes_overflow.gguf", one_tensor(tinfo("t", [2**61], "F64", 0)),
        "FORMAT", "tensor 't' at offset 69: row size overflows 64 bits",
        "F64 row of 2^61 elements: 8 * 2^61 bytes wraps to 0")
    add("quant_size_exabytes.gguf", one_tensor(tinfo("t", [2**40, 2**20], "Q4_0", 0)),
        "FORMAT", "of 648518346341351424 bytes runs past the end",
        "CVE-2026-33298: Q4_0 tensor of 2^60 elements (650 PB)")
    add("quant_nbytes_int64.gguf", one_tensor(tinfo("t", [32 * 31 * 2**53], "Q8_0", 0)),
        "FORMAT", "of 9493588014497005568 bytes runs past the end",
        "Q8_0 byte size > 2^63 (elements fit int64, bytes do not)")
    for tid in (4, 31, 99, 2**31):
        add(f"tensor_type_unknown_{tid}.gguf", one_tensor(tinfo("t", [4], tid, 0)),
            "UNSUPPORTED", f"type id {tid} is not a known GGML type",
            f"unknown tensor type id {tid}")
    add("row_not_block_multiple.gguf", one_tensor(tinfo("t", [33, 1], "Q4_0", 0)),
        "FORMAT", "row of 33 elements is not a multiple of the Q4_0 block size 32",
        "Q4_0 row of 33 elements (block size 32)")
    add("offset_unaligned.gguf", one_tensor(tinfo("t", [4], "F32", 4)),
        "FORMAT", "data offset 4 is not a multiple of the alignment 32",
        "tensor offset 4 with alignment 32")
    add("tensor_past_eof.gguf", one_tensor(tinfo("t", [1024], "F32", 0), data_len=16),
        "FORMAT",
        "data at offset 0 of 4096 bytes runs past the end of the file (data section holds 16 bytes)",
        "CVE-2026-7482 (Ollama): tensor data past the end of the file")
    add("offset_wrap.gguf", one_tensor(tinfo("t", [16], "F32", 2**64 - 32)),
        "FORMAT", "data at offset 18446744073709551584 of 64 bytes runs past the end",
        "CVE-2025-53630 / CVE-2026-27940: offset near 2^64, offset+size wraps")
    add("tensors_overlap.gguf",
        gguf([ARCH], [tinfo("a", [16], "F32", 0), tinfo("b", [16], "F32", 32)], fill(96)),
        "FORMAT", "tensors 'a' and 'b' overlap at data offset 32",
        "two overlapping tensors")
    add("tensors_overlap_reverse.gguf",
        gguf([ARCH], [tinfo("a", [16], "F32", 32), tinfo("b", [16], "F32", 0)], fill(96)),
        "FORMAT", "tensors 'b' and 'a' overlap at data offset 32",
        "overlapping tensors listed out of offset order")
    add("tensors_overlap_contained.gguf",
        gguf([ARCH], [tinfo("a", [32], "F32", 0), tinfo("b", [4], "F32", 64)], fill(128)),
        "FORMAT", "tensors 'a' and 'b' overlap at data offset 64",
        "a tensor inside another")
    add("truncated_tensor_info.gguf", good[:ti_at + 30],
        "FORMAT", "tensor offset at offset 129: needs 8 bytes but the file ends after 5",
        "truncated inside a tensor info")
    add("data_start_past_eof.gguf", header(1, 1) + ARCH + tinfo("t", [4], "F32", 0),
        "FORMAT", "data section would start at offset 128, past the end of the file (102 bytes)",
        "file ends before the (aligned) data section starts")

    # --- split keys
    add("split_no_ge_count.gguf", model([("t", "F32", [4])], split(5, 3)),
        "FORMAT", "key 'split.no' at offset 89: part 5 of 3 is impossible",
        "split.no = 5 >= split.count = 3")
    add("split_count_zero.gguf", model([("t", "F32", [4])], split(0, 0)),
        "FORMAT", "key 'split.count' at offset 114: a split model of 0 parts",
        "split.count = 0")
    add("split_count_wrong_type.gguf",
        model([("t", "F32", [4])], [ARCH, kv("split.no", U16, 0), kv("split.count", STR, "3"),
                                    kv("split.tensors.count", I32, 1)]),
        "FORMAT", "key 'split.count' at offset 114 has type string, expected uint16",
        "split.count of type string")
    return B


# ------------------------------------------------------------ main

def write_dir(sub, files):
    d = os.path.join(HERE, sub)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):  # drop stale outputs so the set stays exact
        if f.endswith(".gguf"):
            os.remove(os.path.join(d, f))
    for name, data in files:
        assert len(data) < 4096, name
        with open(os.path.join(d, name), "wb") as fp:
            fp.write(data)


def main():
    valid = valid_files()
    bad = bad_files()
    names = [b[0] for b in bad]
    assert len(set(names)) == len(names), "duplicate bad file name"
    write_dir("valid", sorted(valid.items()))
    write_dir("bad", [(b[0], b[1]) for b in bad])
    with open(os.path.join(HERE, "bad", "MANIFEST.tsv"), "w", newline="\n") as fp:
        fp.write("# file\tstatus\texpected message substring\tclass / CVE\n")
        fp.write("# generated by ../make_corpus.py; edit it there\n")
        for name, _, status, substr, cls in bad:
            assert status in ("FORMAT", "UNSUPPORTED", "IO") and "\t" not in substr + cls
            fp.write(f"{name}\t{status}\t{substr}\t{cls}\n")
    print(f"wrote {len(valid)} valid and {len(bad)} bad files under {HERE}", file=sys.stderr)


if __name__ == "__main__":
    main()
