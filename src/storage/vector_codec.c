/*
 * vector_codec.c - how an embedding is stored in emb_vectors.data:
 *   f32  dim little-endian IEEE floats (4 bytes each)
 *   f16  dim IEEE half floats (2 bytes each), rounded to nearest even: half the space,
 *        about 3 significant digits
 *   i8   a float scale, then dim signed bytes q with x = q * scale, scale = max|x| / 127:
 *        a quarter of the space, within scale / 2 of each value
 * (this project targets little-endian machines, as its model loader does).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "storage_internal.h"

static uint16_t to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, mant = x & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0)); /* inf, nan */
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u); /* too big: inf */
    if (e <= 0) {                                   /* subnormal or zero */
        if (e < -10) return (uint16_t)sign;
        mant |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = mant >> shift, rest = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (mant >> 13), rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1))) half++; /* may carry into exp */
    return (uint16_t)(sign | half);
}

static float from_half(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    uint32_t x;
    if (exp == 0) {
        if (!mant) {
            x = sign;
        } else { /* subnormal: normalize */
            int e = -1;
            do {
                mant <<= 1;
                e++;
            } while (!(mant & 0x400u));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000u | (mant << 13);
    } else {
        x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

int ta_vec_kind(const char *name)
{
    if (!name || !strcmp(name, "f32")) return TA_VEC_KIND_F32;
    if (!strcmp(name, "f16")) return TA_VEC_KIND_F16;
    if (!strcmp(name, "i8")) return TA_VEC_KIND_I8;
    return -1;
}

const char *ta_vec_kind_name(int kind)
{
    return kind == TA_VEC_KIND_F16 ? "f16" : kind == TA_VEC_KIND_I8 ? "i8" : "f32";
}

size_t ta_vec_bytes(int kind, uint32_t dim)
{
    return kind == TA_VEC_KIND_F16  ? (size_t)dim * 2
           : kind == TA_VEC_KIND_I8 ? sizeof(float) + dim
                                    : (size_t)dim * sizeof(float);
}

void ta_vec_encode(int kind, const float *v, uint32_t dim, void *out)
{
    if (kind == TA_VEC_KIND_F16) {
        uint16_t *h = out;
        for (uint32_t i = 0; i < dim; i++)
            h[i] = to_half(v[i]);
    } else if (kind == TA_VEC_KIND_I8) {
        float amax = 0;
        for (uint32_t i = 0; i < dim; i++)
            amax = fabsf(v[i]) > amax ? fabsf(v[i]) : amax;
        float scale = amax / 127.0f;
        memcpy(out, &scale, sizeof scale);
        int8_t *q = (int8_t *)out + sizeof scale;
        for (uint32_t i = 0; i < dim; i++)
            q[i] = scale > 0 ? (int8_t)lrintf(v[i] / scale) : 0;
    } else {
        memcpy(out, v, (size_t)dim * sizeof(float));
    }
}

bool ta_vec_decode(const char *kind_name, const void *blob, size_t bytes, uint32_t dim, float *out)
{
    int kind = ta_vec_kind(kind_name);
    if (kind < 0 || !blob || bytes != ta_vec_bytes(kind, dim)) return false;
    if (kind == TA_VEC_KIND_F16) {
        const uint16_t *h = blob;
        for (uint32_t i = 0; i < dim; i++)
            out[i] = from_half(h[i]);
    } else if (kind == TA_VEC_KIND_I8) {
        float scale;
        memcpy(&scale, blob, sizeof scale);
        const int8_t *q = (const int8_t *)blob + sizeof scale;
        for (uint32_t i = 0; i < dim; i++)
            out[i] = (float)q[i] * scale;
    } else {
        memcpy(out, blob, (size_t)dim * sizeof(float));
    }
    for (uint32_t i = 0; i < dim; i++)
        if (!isfinite(out[i])) return false;
    return true;
}

const float *ta_vec_row(ta_vec_buf *b, sqlite3_stmt *st, int kind_col, int data_col, uint32_t dim)
{
    if (!dim || dim > (1u << 20)) return NULL;
    if (dim > b->cap) {
        float *v = realloc(b->v, dim * sizeof *v);
        if (!v) {
            b->oom = true;
            return NULL;
        }
        b->v = v, b->cap = dim;
    }
    const void *blob = sqlite3_column_blob(st, data_col);
    size_t bytes = (size_t)sqlite3_column_bytes(st, data_col);
    return ta_vec_decode((const char *)sqlite3_column_text(st, kind_col), blob, bytes, dim, b->v)
               ? b->v
               : NULL;
}
