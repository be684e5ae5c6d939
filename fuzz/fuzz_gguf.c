/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader: any bytes through
 * ta_gguf_open_memory, and when they are accepted, every accessor over every key, array
 * element and tensor, touching the first and last byte of each string and of each
 * tensor's data (ASan turns any over-read into a crash). It also checks the reader's
 * promises: lookups find what iteration lists, shapes agree with sizes, and the writer
 * accepts every tensor and key the reader accepted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static volatile uint64_t sink;

static void touch(const void *p, uint64_t len)
{
    if (!len) return;
    const uint8_t *b = p;
    sink += b[0] + b[len - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ta_error err;
    ta_gguf *g = ta_gguf_open_memory(data, size, &err);
    if (!g) {
        if (err.code != TA_EINVAL || !err.message[0]) abort();
        return 0;
    }
    size_t align = ta_gguf_alignment(g);
    if (!align || (align & (align - 1)) || ta_gguf_file_size(g) != size) abort();
    uint32_t version = ta_gguf_version(g);
    if (version != 2 && version != 3) abort();

    for (size_t i = 0; i < ta_gguf_kv_count(g); i++) {
        const char *key = ta_gguf_kv_key(g, i);
        if (!key || !key[0] || ta_gguf_find(g, key) != (int64_t)i) abort();
        ta_gguf_vtype type = ta_gguf_kv_type(g, i);
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        float f;
        bool b;
        ta_gguf_str s;
        sink += ta_gguf_get_u32(g, key, &u32) ? u32 : 0;
        sink += ta_gguf_get_u64(g, key, &u64) ? u64 : 0;
        sink += ta_gguf_get_i64(g, key, &i64) ? (uint64_t)i64 : 0;
        sink += ta_gguf_get_f32(g, key, &f) ? (f == f) : 0;
        sink += ta_gguf_get_bool(g, key, &b) ? b : 0;
        if (ta_gguf_get_str(g, key, &s) != (type == TA_GGUF_STRING)) abort();
        if (type == TA_GGUF_STRING) touch(s.ptr, s.len);
        ta_gguf_vtype et;
        uint64_t count;
        if (ta_gguf_get_array(g, key, &et, &count) != (type == TA_GGUF_ARRAY)) abort();
        if (type != TA_GGUF_ARRAY) continue;
        if (count > size) abort(); /* every element takes at least one byte */
        for (uint64_t j = 0; j < count; j++) {
            double d;
            if (ta_gguf_array_str(g, key, j, &s) != (et == TA_GGUF_STRING)) abort();
            if (et == TA_GGUF_STRING) touch(s.ptr, s.len);
            sink += ta_gguf_array_i64(g, key, j, &i64) ? (uint64_t)i64 : 0;
            if (ta_gguf_array_f64(g, key, j, &d) != (et == TA_GGUF_F32 || et == TA_GGUF_F64))
                abort();
        }
        if (ta_gguf_array_str(g, key, count, &s) || ta_gguf_array_i64(g, key, count, &i64)) abort();
    }

    ta_gguf_writer *w = ta_gguf_writer_new();
    if (!w || ta_gguf_writer_copy_kv(w, g, "")) abort();
    for (size_t i = 0; i < ta_gguf_tensor_count(g); i++) {
        const ta_gguf_tensor *t = ta_gguf_tensor_at(g, i);
        if (!t || ta_gguf_tensor_find(g, t->name) != t) abort();
        if (t->n_dims < 1 || t->n_dims > TA_GGUF_MAX_DIMS || t->offset % align) abort();
        uint64_t n = 1;
        for (uint32_t d = 0; d < TA_GGUF_MAX_DIMS; d++)
            n *= t->ne[d];
        if (n != t->n_elems) abort();
        if (t->size > size || (const uint8_t *)t->data < data ||
            (const uint8_t *)t->data + t->size > data + size)
            abort();
        touch(t->data, t->size);
        if (ta_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->size))
            abort();
    }
    ta_gguf_writer_free(w);
    if (ta_gguf_tensor_at(g, ta_gguf_tensor_count(g))) abort();
    ta_gguf_close(g);
    return 0;
}
