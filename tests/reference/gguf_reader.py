"""A minimal GGUF reader in pure Python (struct + NumPy), independent of the C code.

Written from the GGUF format description (ggml's docs/gguf.md): a little-endian header
(magic "GGUF", version, tensor count, key-value count), the key-value pairs, the tensor
infos (name, dimensions with ne[0] fastest, type, offset), padding to the alignment
(general.alignment, default 32), then the tensor data, each tensor at its offset from
the start of that data section.

Trusts its input: it reads files that `tabagent synth` or a converter wrote, for tests.
"""

import struct

import numpy as np

# Value types of metadata.
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_SCALAR = {
    U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i",
    F32: "<f", BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d",
}

# Tensor types: number -> (name, elements per block, bytes per block).
TYPES = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    30: ("BF16", 1, 2),
}


class Tensor:
    def __init__(self, name, ne, type_, raw):
        self.name = name
        self.ne = ne              # [ne0, ne1, ...], ne0 = row length
        self.type = type_
        self.type_name = TYPES[type_][0]
        self.raw = raw            # the bytes of the tensor (a NumPy uint8 view)

    @property
    def n_elems(self):
        n = 1
        for d in self.ne:
            n *= d
        return n


class GGUF:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        magic = self.buf[:4]
        if magic != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        self.pos = 4
        self.version = self._u("<I")
        if self.version not in (2, 3):
            raise ValueError(f"{path}: GGUF version {self.version}")
        n_tensors = self._u("<Q")
        n_kv = self._u("<Q")
        self.kv = {}
        for _ in range(n_kv):
            key = self._str()
            vtype = self._u("<I")
            self.kv[key] = self._value(vtype)
        infos = []
        for _ in range(n_tensors):
            name = self._str()
            n_dims = self._u("<I")
            ne = [self._u("<Q") for _ in range(n_dims)]
            ttype = self._u("<I")
            offset = self._u("<Q")
            infos.append((name, ne, ttype, offset))
        align = self.kv.get("general.alignment", 32)
        data_start = (self.pos + align - 1) // align * align
        data = np.frombuffer(self.buf, dtype=np.uint8)
        self.tensors = {}
        for name, ne, ttype, offset in infos:
            if ttype not in TYPES:
                raise ValueError(f"{name}: tensor type {ttype} is not known to the reference")
            _, blk, nbytes = TYPES[ttype]
            n = 1
            for d in ne:
                n *= d
            assert ne[0] % blk == 0, name
            size = n // blk * nbytes
            start = data_start + offset
            if start + size > len(self.buf):
                raise ValueError(f"{name}: data past the end of the file")
            self.tensors[name] = Tensor(name, ne, ttype, data[start:start + size])

    def _u(self, fmt):
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def _str(self):
        n = self._u("<Q")
        s = self.buf[self.pos:self.pos + n]
        self.pos += n
        return s.decode("utf-8", errors="surrogateescape")

    def _value(self, vtype):
        if vtype in _SCALAR:
            return self._u(_SCALAR[vtype])
        if vtype == STRING:
            return self._str()
        if vtype == ARRAY:
            etype = self._u("<I")
            count = self._u("<Q")
            if etype in _SCALAR:
                fmt = _SCALAR[etype]
                size = struct.calcsize(fmt)
                arr = np.frombuffer(self.buf, dtype=np.dtype(fmt), count=count, offset=self.pos)
                self.pos += size * count
                return arr
            return [self._value(etype) for _ in range(count)]
        raise ValueError(f"unknown metadata value type {vtype}")

    def get(self, key, default=None):
        return self.kv.get(key, default)
