"""Dequantization of GGUF tensor types in NumPy, written from the format definitions.

Each function takes the raw bytes of a tensor (uint8) and returns float64 values in
file order. The block layouts are those of ggml (ggml-common.h / ggml-quants.c and the
GGUF documentation); every multi-byte field is little-endian and every F16 scale is an
IEEE half. Vectorized over blocks: a tensor is reshaped to (n_blocks, block_bytes) and
each field is a column slice.

Notation: for the 32-element types a block holds one scale d (and a min m for the _1
types); for the K-quants a 256-element super-block holds F16 d (and dmin) and 8 or 16
sub-block scales.
"""

import numpy as np

QK = 32
QK_K = 256


def _f16(col):
    """Little-endian F16 bytes (n, 2) -> float64 (n,)."""
    return np.ascontiguousarray(col).view("<f2").astype(np.float64).reshape(-1)


def _blocks(raw, nbytes):
    return np.asarray(raw, dtype=np.uint8).reshape(-1, nbytes)


def f32(raw):
    return np.asarray(raw).view("<f4").astype(np.float64)


def f16(raw):
    return np.asarray(raw).view("<f2").astype(np.float64)


def bf16(raw):
    # BF16 is the top half of an F32.
    u = np.asarray(raw).view("<u2").astype(np.uint32) << 16
    return u.view("<f4").astype(np.float64)


def _nibbles32(qs):
    """16 bytes per block -> 32 4-bit values: element i < 16 is the low nibble of byte i,
    element i >= 16 the high nibble of byte i - 16."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int64)


def _fifth_bit32(qh):
    """4 bytes per block, read as a little-endian uint32: bit i is the fifth bit of
    element i."""
    h = np.ascontiguousarray(qh).view("<u4").astype(np.int64).reshape(-1, 1)
    return (h >> np.arange(32)) & 1


def q4_0(raw):
    b = _blocks(raw, 18)
    d = _f16(b[:, 0:2])
    q = _nibbles32(b[:, 2:18])
    return (d[:, None] * (q - 8)).reshape(-1)


def q4_1(raw):
    b = _blocks(raw, 20)
    d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    q = _nibbles32(b[:, 4:20])
    return (d[:, None] * q + m[:, None]).reshape(-1)


def q5_0(raw):
    b = _blocks(raw, 22)
    d = _f16(b[:, 0:2])
    q = _nibbles32(b[:, 6:22]) | (_fifth_bit32(b[:, 2:6]) << 4)
    return (d[:, None] * (q - 16)).reshape(-1)


def q5_1(raw):
    b = _blocks(raw, 24)
    d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    q = _nibbles32(b[:, 8:24]) | (_fifth_bit32(b[:, 4:8]) << 4)
    return (d[:, None] * q + m[:, None]).reshape(-1)


def q8_0(raw):
    b = _blocks(raw, 34)
    d = _f16(b[:, 0:2])
    q = b[:, 2:34].view(np.int8).astype(np.int64)
    return (d[:, None] * q).reshape(-1)


def _two_bit_halves(qs):
    """64 bytes per super-block holding 256 2-bit values in two 128-element halves:
    element 128h + 32k + l sits at bits 2k..2k+1 of byte 32h + l."""
    n = qs.shape[0]
    q = qs.reshape(n, 2, 1, 32).astype(np.int64)           # [block, h, -, l]
    shifts = (2 * np.arange(4)).reshape(1, 1, 4, 1)         # k
    return ((q >> shifts) & 3).reshape(n, 256)               # element 128h + 32k + l


def q2_k(raw):
    # scales[16] | qs[64] | d | dmin; sub-block j (16 elements) has scale lo(scales[j])
    # and min hi(scales[j]); x = d * sc * q - dmin * m.
    b = _blocks(raw, 84)
    sc = b[:, 0:16].astype(np.int64)
    q = _two_bit_halves(b[:, 16:80])
    d, dmin = _f16(b[:, 80:82]), _f16(b[:, 82:84])
    scale = np.repeat(d[:, None] * (sc & 15), 16, axis=1)
    mins = np.repeat(dmin[:, None] * (sc >> 4), 16, axis=1)
    return (scale * q - mins).reshape(-1)


def _q3_k_scales(s12):
    """12 bytes -> 16 signed 6-bit scales (stored with +32). Scale j: its low 4 bits are
    the low nibble of byte j (j < 8) or the high nibble of byte j - 8 (j >= 8); its top
    2 bits are bits 2*(j // 4) .. +1 of byte 8 + j % 4."""
    s12 = s12.astype(np.int64)
    j = np.arange(16)
    low = np.where(j < 8, s12[:, j % 8] & 15, s12[:, j % 8] >> 4)
    top = (s12[:, 8 + j % 4] >> (2 * (j // 4))) & 3
    return (low | (top << 4)) - 32


def q3_k(raw):
    # hmask[32] | qs[64] | scales[12] | d; x = d * s * (q - 4) where the third bit of q
    # for element e is bit e // 32 of hmask[e % 32] (q - 4 when that bit is clear).
    b = _blocks(raw, 110)
    hmask = b[:, 0:32].astype(np.int64)
    low = _two_bit_halves(b[:, 32:96])
    s = _q3_k_scales(b[:, 96:108])
    d = _f16(b[:, 108:110])
    e = np.arange(256)
    hbit = (hmask[:, e % 32] >> (e // 32)) & 1
    q = low + 4 * hbit - 4
    return (np.repeat(d[:, None] * s, 16, axis=1) * q).reshape(-1)


def _k4_scales_mins(s12):
    """The 12-byte field of Q4_K / Q5_K: 8 (scale, min) pairs of 6 bits.
    j < 4: scale = b[j] & 63, min = b[j + 4] & 63;
    j >= 4: scale = (b[j + 4] & 15) | (b[j - 4] >> 6) << 4,
            min   = (b[j + 4] >> 4) | (b[j] >> 6) << 4."""
    b = s12.astype(np.int64)
    sc = np.empty((b.shape[0], 8), np.int64)
    mn = np.empty((b.shape[0], 8), np.int64)
    sc[:, :4] = b[:, 0:4] & 63
    mn[:, :4] = b[:, 4:8] & 63
    sc[:, 4:] = (b[:, 8:12] & 15) | ((b[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (b[:, 8:12] >> 4) | ((b[:, 4:8] >> 6) << 4)
    return sc, mn


def _k4_nibbles(qs):
    """128 bytes -> 256 4-bit values in 64-element chunks c: element 64c + l is the low
    nibble of byte 32c + l, element 64c + 32 + l its high nibble."""
    n = qs.shape[0]
    q = qs.reshape(n, 4, 1, 32).astype(np.int64)
    return np.concatenate([q & 15, q >> 4], axis=2).reshape(n, 256)


def q4_k(raw):
    # d | dmin | scales[12] | qs[128]; sub-blocks of 32: x = d * sc * q - dmin * m.
    b = _blocks(raw, 144)
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    sc, mn = _k4_scales_mins(b[:, 4:16])
    q = _k4_nibbles(b[:, 16:144])
    scale = np.repeat(d[:, None] * sc, 32, axis=1)
    mins = np.repeat(dmin[:, None] * mn, 32, axis=1)
    return (scale * q - mins).reshape(-1)


def q5_k(raw):
    # d | dmin | scales[12] | qh[32] | qs[128]; bit 4 of element e is bit e // 32 of
    # qh[e % 32].
    b = _blocks(raw, 176)
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    sc, mn = _k4_scales_mins(b[:, 4:16])
    qh = b[:, 16:48].astype(np.int64)
    e = np.arange(256)
    q = _k4_nibbles(b[:, 48:176]) | (((qh[:, e % 32] >> (e // 32)) & 1) << 4)
    scale = np.repeat(d[:, None] * sc, 32, axis=1)
    mins = np.repeat(dmin[:, None] * mn, 32, axis=1)
    return (scale * q - mins).reshape(-1)


def q6_k(raw):
    # ql[128] | qh[64] | scales[16] (int8) | d; x = d * scales[e // 16] * (q - 32).
    # In half h, element 128h + 32k + l: low 4 bits in ql[64h + 32(k & 1) + l] (low
    # nibble for k < 2, high for k >= 2), top 2 bits at bits 2k of qh[32h + l].
    b = _blocks(raw, 210)
    n = b.shape[0]
    ql = b[:, 0:128].reshape(n, 2, 2, 32).astype(np.int64)   # [h, k & 1, l]
    qh = b[:, 128:192].reshape(n, 2, 1, 32).astype(np.int64)  # [h, -, l]
    sc = b[:, 192:208].view(np.int8).astype(np.int64)
    d = _f16(b[:, 208:210])
    lo = np.concatenate([ql & 15, ql >> 4], axis=2)  # k = 0, 1 low nibbles; 2, 3 high
    hi = (qh >> (2 * np.arange(4)).reshape(1, 1, 4, 1)) & 3
    q = (lo | (hi << 4)).reshape(n, 256) - 32
    return (np.repeat(d[:, None] * sc, 16, axis=1) * q).reshape(-1)


DEQUANT = {
    "F32": f32, "F16": f16, "BF16": bf16,
    "Q4_0": q4_0, "Q4_1": q4_1, "Q5_0": q5_0, "Q5_1": q5_1, "Q8_0": q8_0,
    "Q2_K": q2_k, "Q3_K": q3_k, "Q4_K": q4_k, "Q5_K": q5_k, "Q6_K": q6_k,
}


def dequantize(tensor):
    """A gguf_reader.Tensor -> float64 array of shape (rows, ne[0])."""
    vals = DEQUANT[tensor.type_name](tensor.raw)
    return vals.reshape(-1, tensor.ne[0])
