/*
 * test_gguf.c - the GGUF reader and writer.
 *
 * Round trips of every metadata value type (scalars, arrays, string arrays with NUL
 * bytes and empty strings, nested arrays) and of tensors of several types and
 * alignments; the real model and vocabulary files from ../shared; and untrusted input:
 * a table of corrupt files, each refused with its own message, truncation at every byte
 * of a small file, and random byte flips (run under ASan to catch any over-read).
 *
 * Files are built two ways: with the writer, and byte by byte with the small builder
 * below (for what the writer cannot or must not produce). With TA_GGUF_SEED_DIR set in
 * the environment, the test also saves a few of these small files there; that is how
 * fuzz/seeds/gguf/ was made.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gguf/gguf.h"

#define SHARED_DIR TA_SOURCE_DIR "/../shared"

/* ---- a byte builder for hand-made files ---- */

typedef struct bb {
    uint8_t *p;
    size_t n, cap;
} bb;

static void bb_put(bb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void bb_u8(bb *b, uint8_t v)
{
    bb_put(b, &v, 1);
}

static void bb_u16(bb *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    bb_put(b, x, 2);
}

static void bb_u32(bb *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    bb_put(b, x, 4);
}

static void bb_u64(bb *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    bb_put(b, x, 8);
}

static void bb_f32(bb *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    bb_u32(b, u);
}

static void bb_f64(bb *b, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    bb_u64(b, u);
}

static void bb_strn(bb *b, const char *s, size_t n)
{
    bb_u64(b, n);
    bb_put(b, s, n);
}

static void bb_str(bb *b, const char *s)
{
    bb_strn(b, s, strlen(s));
}

static void bb_zeros(bb *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bb_u8(b, 0);
}

static void bb_pad(bb *b, size_t align)
{
    while (b->n % align)
        bb_u8(b, 0);
}

static void bb_hdr(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    bb_put(b, "GGUF", 4);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}

static void bb_key(bb *b, const char *key, uint32_t type)
{
    bb_str(b, key);
    bb_u32(b, type);
}

/* One tensor info with up to four dimensions. */
static void bb_tensor(bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                      uint64_t offset)
{
    bb_str(b, name);
    bb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        bb_u64(b, ne[d]);
    bb_u32(b, type);
    bb_u64(b, offset);
}

/* ---- helpers ---- */

static char tmp_dir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/test_gguf.XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    DIR *d = opendir(tmp_dir);
    if (!d) return 0;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", tmp_dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(tmp_dir);
    return 0;
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp_dir, name);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n ? (size_t)n : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Saves a seed file for the fuzzer when TA_GGUF_SEED_DIR is set. */
static void maybe_save_seed(const char *name, const void *buf, size_t len)
{
    const char *dir = getenv("TA_GGUF_SEED_DIR");
    if (!dir || !*dir) return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static bool str_eq(ta_gguf_str s, const char *want, size_t want_len)
{
    return s.len == want_len && (want_len == 0 || !memcmp(s.ptr, want, want_len));
}

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Touches everything a handle exposes, as a consumer would; under ASan this proves the
 * accessors stay inside the buffer. Returns a checksum so nothing is optimized away. */
static uint64_t walk(const ta_gguf *g)
{
    uint64_t sum = ta_gguf_version(g) + ta_gguf_alignment(g);
    for (size_t i = 0; i < ta_gguf_kv_count(g); i++) {
        const char *key = ta_gguf_kv_key(g, i);
        assert_non_null(key);
        assert_int_equal(ta_gguf_find(g, key), (int64_t)i);
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        float f;
        bool b;
        ta_gguf_str s;
        sum += ta_gguf_get_u32(g, key, &u32) ? u32 : 0;
        sum += ta_gguf_get_u64(g, key, &u64) ? u64 : 0;
        sum += ta_gguf_get_i64(g, key, &i64) ? (uint64_t)i64 : 0;
        sum += ta_gguf_get_f32(g, key, &f) ? (uint64_t)(f == f) : 0;
        sum += ta_gguf_get_bool(g, key, &b) ? b : 0;
        if (ta_gguf_get_str(g, key, &s) && s.len)
            sum += (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1];
        ta_gguf_vtype et;
        uint64_t count;
        if (ta_gguf_get_array(g, key, &et, &count)) {
            for (uint64_t j = 0; j < count; j++) {
                double d;
                if (ta_gguf_array_str(g, key, j, &s) && s.len)
                    sum += (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1];
                sum += ta_gguf_array_i64(g, key, j, &i64) ? (uint64_t)i64 : 0;
                sum += ta_gguf_array_f64(g, key, j, &d) ? (uint64_t)(d == d) : 0;
            }
            assert_false(ta_gguf_array_str(g, key, count, &s));
            assert_false(ta_gguf_array_i64(g, key, count, &i64));
        }
    }
    for (size_t i = 0; i < ta_gguf_tensor_count(g); i++) {
        const ta_gguf_tensor *t = ta_gguf_tensor_at(g, i);
        assert_non_null(t);
        assert_ptr_equal(ta_gguf_tensor_find(g, t->name), t);
        if (t->size) {
            const uint8_t *d = t->data;
            sum += d[0] + d[t->size - 1];
        }
    }
    return sum;
}

/* ---- round trips ---- */

static void test_roundtrip_values(void **state)
{
    (void)state;
    ta_gguf_writer *w = ta_gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(ta_gguf_writer_set_u32(w, "replaced", 1), 0);
    assert_int_equal(ta_gguf_writer_set_u32(w, "u32", 4000000000u), 0);
    assert_int_equal(ta_gguf_writer_set_i32(w, "i32", -7), 0);
    assert_int_equal(ta_gguf_writer_set_u64(w, "u64", 1ull << 60), 0);
    assert_int_equal(ta_gguf_writer_set_f32(w, "f32", 3.25f), 0);
    assert_int_equal(ta_gguf_writer_set_bool(w, "bool.t", true), 0);
    assert_int_equal(ta_gguf_writer_set_bool(w, "bool.f", false), 0);
    assert_int_equal(ta_gguf_writer_set_str(w, "str", "a\0b", 3), 0);
    assert_int_equal(ta_gguf_writer_set_str(w, "str.empty", "", 0), 0);

    const uint8_t a_u8[] = {0, 255};
    const int8_t a_i8[] = {-128, 127};
    const uint16_t a_u16[] = {0, 65535};
    const int16_t a_i16[] = {-32768, 32767};
    const uint32_t a_u32[] = {0, UINT32_MAX};
    const int32_t a_i32[] = {INT32_MIN, INT32_MAX};
    const float a_f32[] = {1.5f, -2.0f};
    const uint8_t a_bool[] = {1, 0, 1};
    const uint64_t a_u64[] = {0, UINT64_MAX};
    const int64_t a_i64[] = {INT64_MIN, INT64_MAX};
    const double a_f64[] = {1e300, -0.5};
    assert_int_equal(ta_gguf_writer_set_array(w, "a.u8", TA_GGUF_U8, a_u8, 2), 0);
    assert_int_equal(ta_gguf_writer_set_array(w, "a.i8", TA_GGUF_I8, a_i8, 2), 0);
    assert_int_equal(ta_gguf_writer_set_array(w, "a.u16", TA_GGUF_U16, a_u16, 2), 0);
    assert_int_equal(ta_gguf_writer_set_array(w, "a.i16", TA_GGUF_I16, a_i16, 2), 0);
    assert_int_equal(ta_gguf_writer_set_array(w, "a.u32", TA_GGUF_U32, a_u32, 2), 0);
    assert_int_equal(ta_gguf_writer_set_array(w, "a.i32", TA_GGUF_I32, a_i32, 2), 0);
    assert_int_equal(ta_gguf_writer_set_array(w, "a.f32", TA_GGUF_F32, a_f32, 2), 0);
    assert_int_equal(ta_gguf_writer_set_array(w, "a.bool", TA_GGUF_BOOL, a_bool, 3), 0);
    assert_int_equal(ta_gguf_writer_set_array(w, "a.u64", TA_GGUF_U64, a_u64, 2), 0);
    assert_int_equal(ta_gguf_writer_set_array(w, "a.i64", TA_GGUF_I64, a_i64, 2), 0);
    assert_int_equal(ta_gguf_writer_set_array(w, "a.f64", TA_GGUF_F64, a_f64, 2), 0);
    assert_int_equal(ta_gguf_writer_set_array(w, "a.empty", TA_GGUF_U8, NULL, 0), 0);
    const char *strs[] = {"", "a\0b", "hello", ""};
    const size_t lens[] = {0, 3, 5, 0};
    assert_int_equal(ta_gguf_writer_set_str_array(w, "s.lens", strs, lens, 4), 0);
    const char *cstrs[] = {"x", "yz"};
    assert_int_equal(ta_gguf_writer_set_str_array(w, "s.cstr", cstrs, NULL, 2), 0);
    assert_int_equal(ta_gguf_writer_set_str_array(w, "s.empty", NULL, NULL, 0), 0);
    /* Replacing keeps the first position and takes the new type. */
    assert_int_equal(ta_gguf_writer_set_str(w, "replaced", "new", 3), 0);

    char path[256];
    tmp_path(path, sizeof path, "values.gguf");
    ta_error err;
    assert_int_equal(ta_gguf_writer_write(w, path, &err), 0);
    ta_gguf_writer_free(w);

    ta_gguf *g = ta_gguf_open(path, &err);
    assert_non_null(g);
    assert_int_equal(ta_gguf_version(g), 3);
    assert_int_equal(ta_gguf_alignment(g), 32);
    assert_int_equal(ta_gguf_tensor_count(g), 0);
    assert_int_equal(ta_gguf_kv_count(g), 24);
    assert_string_equal(ta_gguf_kv_key(g, 0), "replaced");
    assert_int_equal(ta_gguf_kv_type(g, 0), TA_GGUF_STRING);
    assert_string_equal(ta_gguf_kv_key(g, 1), "u32");
    assert_string_equal(ta_gguf_kv_key(g, 23), "s.empty");
    assert_null(ta_gguf_kv_key(g, 24));
    assert_int_equal(ta_gguf_find(g, "a.f64"), 19);
    assert_int_equal(ta_gguf_find(g, "nope"), -1);

    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f;
    double d;
    bool b;
    ta_gguf_str s;
    assert_true(ta_gguf_get_str(g, "replaced", &s) && str_eq(s, "new", 3));
    assert_true(ta_gguf_get_u32(g, "u32", &u32));
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(ta_gguf_kv_type(g, 1), TA_GGUF_U32);
    assert_true(ta_gguf_get_i64(g, "i32", &i64));
    assert_int_equal(i64, -7);
    assert_int_equal(ta_gguf_kv_type(g, 2), TA_GGUF_I32);
    assert_false(ta_gguf_get_u32(g, "i32", &u32)); /* negative */
    assert_false(ta_gguf_get_u64(g, "i32", &u64));
    assert_true(ta_gguf_get_u64(g, "u64", &u64));
    assert_true(u64 == 1ull << 60);
    assert_false(ta_gguf_get_u32(g, "u64", &u32)); /* out of range */
    assert_true(ta_gguf_get_f32(g, "f32", &f));
    assert_true(f == 3.25f);
    assert_false(ta_gguf_get_f32(g, "u32", &f));
    assert_true(ta_gguf_get_bool(g, "bool.t", &b) && b);
    assert_true(ta_gguf_get_bool(g, "bool.f", &b) && !b);
    assert_false(ta_gguf_get_bool(g, "u32", &b));
    assert_true(ta_gguf_get_str(g, "str", &s) && str_eq(s, "a\0b", 3));
    assert_true(ta_gguf_get_str(g, "str.empty", &s) && s.len == 0);
    assert_false(ta_gguf_get_str(g, "u32", &s));
    assert_false(ta_gguf_get_u32(g, "str", &u32));
    assert_false(ta_gguf_get_u32(g, "missing", &u32));

    ta_gguf_vtype et;
    uint64_t count;
    struct {
        const char *key;
        ta_gguf_vtype type;
        int64_t v0, v1;
    } ints[] = {
        {"a.u8", TA_GGUF_U8, 0, 255},
        {"a.i8", TA_GGUF_I8, -128, 127},
        {"a.u16", TA_GGUF_U16, 0, 65535},
        {"a.i16", TA_GGUF_I16, -32768, 32767},
        {"a.u32", TA_GGUF_U32, 0, UINT32_MAX},
        {"a.i32", TA_GGUF_I32, INT32_MIN, INT32_MAX},
        {"a.i64", TA_GGUF_I64, INT64_MIN, INT64_MAX},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        assert_true(ta_gguf_get_array(g, ints[i].key, &et, &count));
        assert_int_equal(et, ints[i].type);
        assert_int_equal(count, 2);
        assert_true(ta_gguf_array_i64(g, ints[i].key, 0, &i64));
        assert_true(i64 == ints[i].v0);
        assert_true(ta_gguf_array_i64(g, ints[i].key, 1, &i64));
        assert_true(i64 == ints[i].v1);
        assert_false(ta_gguf_array_i64(g, ints[i].key, 2, &i64));
        assert_false(ta_gguf_array_f64(g, ints[i].key, 0, &d));
        assert_false(ta_gguf_array_str(g, ints[i].key, 0, &s));
    }
    assert_true(ta_gguf_get_array(g, "a.u64", &et, &count) && et == TA_GGUF_U64 && count == 2);
    assert_true(ta_gguf_array_i64(g, "a.u64", 0, &i64) && i64 == 0);
    assert_false(ta_gguf_array_i64(g, "a.u64", 1, &i64)); /* UINT64_MAX does not fit */
    assert_true(ta_gguf_get_array(g, "a.bool", &et, &count) && et == TA_GGUF_BOOL && count == 3);
    assert_true(ta_gguf_array_i64(g, "a.bool", 0, &i64) && i64 == 1);
    assert_true(ta_gguf_array_i64(g, "a.bool", 1, &i64) && i64 == 0);
    assert_true(ta_gguf_get_array(g, "a.f32", &et, &count) && et == TA_GGUF_F32 && count == 2);
    assert_true(ta_gguf_array_f64(g, "a.f32", 0, &d) && d == 1.5);
    assert_true(ta_gguf_array_f64(g, "a.f32", 1, &d) && d == -2.0);
    assert_false(ta_gguf_array_i64(g, "a.f32", 0, &i64));
    assert_true(ta_gguf_get_array(g, "a.f64", &et, &count) && et == TA_GGUF_F64 && count == 2);
    assert_true(ta_gguf_array_f64(g, "a.f64", 0, &d) && d == 1e300);
    assert_true(ta_gguf_array_f64(g, "a.f64", 1, &d) && d == -0.5);
    assert_true(ta_gguf_get_array(g, "a.empty", &et, &count) && et == TA_GGUF_U8 && count == 0);
    assert_false(ta_gguf_array_i64(g, "a.empty", 0, &i64));
    assert_false(ta_gguf_get_array(g, "u32", &et, &count));

    assert_true(ta_gguf_get_array(g, "s.lens", &et, &count) && et == TA_GGUF_STRING);
    assert_int_equal(count, 4);
    for (uint64_t i = 0; i < 4; i++) {
        assert_true(ta_gguf_array_str(g, "s.lens", i, &s));
        assert_true(str_eq(s, strs[i], lens[i]));
    }
    assert_false(ta_gguf_array_str(g, "s.lens", 4, &s));
    assert_false(ta_gguf_array_i64(g, "s.lens", 0, &i64));
    assert_true(ta_gguf_array_str(g, "s.cstr", 1, &s) && str_eq(s, "yz", 2));
    assert_true(ta_gguf_get_array(g, "s.empty", &et, &count) && et == TA_GGUF_STRING);
    assert_int_equal(count, 0);
    assert_false(ta_gguf_array_str(g, "s.empty", 0, &s));
    walk(g);
    ta_gguf_close(g);
}

/* Every scalar type (the writer has setters for only some) and nested arrays, built by
 * hand; then copied through the writer with copy_kv, which must reproduce the bytes. */
static void build_all_types(bb *b)
{
    bb_hdr(b, 3, 0, 17);
    bb_key(b, "t.u8", TA_GGUF_U8), bb_u8(b, 200);
    bb_key(b, "t.i8", TA_GGUF_I8), bb_u8(b, (uint8_t)-5);
    bb_key(b, "t.u16", TA_GGUF_U16), bb_u16(b, 60000);
    bb_key(b, "t.i16", TA_GGUF_I16), bb_u16(b, (uint16_t)-300);
    bb_key(b, "t.u32", TA_GGUF_U32), bb_u32(b, 123456789);
    bb_key(b, "t.i32", TA_GGUF_I32), bb_u32(b, (uint32_t)-123456789);
    bb_key(b, "t.f32", TA_GGUF_F32), bb_f32(b, 0.125f);
    bb_key(b, "t.bool", TA_GGUF_BOOL), bb_u8(b, 1);
    bb_key(b, "t.str", TA_GGUF_STRING), bb_strn(b, "x\0y", 3);
    bb_key(b, "t.u64", TA_GGUF_U64), bb_u64(b, UINT64_MAX);
    bb_key(b, "t.i64", TA_GGUF_I64), bb_u64(b, (uint64_t)(-(1ll << 40)));
    bb_key(b, "t.f64", TA_GGUF_F64), bb_f64(b, -1e-300);
    /* [[1, 2], [3]] of u8 */
    bb_key(b, "n.u8", TA_GGUF_ARRAY), bb_u32(b, TA_GGUF_ARRAY), bb_u64(b, 2);
    bb_u32(b, TA_GGUF_U8), bb_u64(b, 2), bb_u8(b, 1), bb_u8(b, 2);
    bb_u32(b, TA_GGUF_U8), bb_u64(b, 1), bb_u8(b, 3);
    /* [["a", ""], []] of strings */
    bb_key(b, "n.str", TA_GGUF_ARRAY), bb_u32(b, TA_GGUF_ARRAY), bb_u64(b, 2);
    bb_u32(b, TA_GGUF_STRING), bb_u64(b, 2), bb_str(b, "a"), bb_str(b, "");
    bb_u32(b, TA_GGUF_STRING), bb_u64(b, 0);
    /* an empty array of arrays */
    bb_key(b, "n.empty", TA_GGUF_ARRAY), bb_u32(b, TA_GGUF_ARRAY), bb_u64(b, 0);
    /* bool arrays and nested bool arrays */
    bb_key(b, "n.bool", TA_GGUF_ARRAY), bb_u32(b, TA_GGUF_ARRAY), bb_u64(b, 1);
    bb_u32(b, TA_GGUF_BOOL), bb_u64(b, 2), bb_u8(b, 0), bb_u8(b, 1);
    bb_key(b, "tokenizer.x", TA_GGUF_STRING), bb_str(b, "tok");
}

static void test_all_types_and_copy(void **state)
{
    (void)state;
    bb b = {0};
    build_all_types(&b);
    maybe_save_seed("all_types.gguf", b.p, b.n);
    ta_error err;
    ta_gguf *g = ta_gguf_open_memory(b.p, b.n, &err);
    if (!g) fail_msg("%s", err.message);
    assert_int_equal(ta_gguf_kv_count(g), 17);
    static const ta_gguf_vtype types[] = {
        TA_GGUF_U8,    TA_GGUF_I8,    TA_GGUF_U16,    TA_GGUF_I16,   TA_GGUF_U32,   TA_GGUF_I32,
        TA_GGUF_F32,   TA_GGUF_BOOL,  TA_GGUF_STRING, TA_GGUF_U64,   TA_GGUF_I64,   TA_GGUF_F64,
        TA_GGUF_ARRAY, TA_GGUF_ARRAY, TA_GGUF_ARRAY,  TA_GGUF_ARRAY, TA_GGUF_STRING};
    for (size_t i = 0; i < 17; i++)
        assert_int_equal(ta_gguf_kv_type(g, i), types[i]);

    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f;
    bool bo;
    ta_gguf_str s;
    /* Integer getters convert any integer type that fits. */
    assert_true(ta_gguf_get_u32(g, "t.u8", &u32) && u32 == 200);
    assert_true(ta_gguf_get_i64(g, "t.i8", &i64) && i64 == -5);
    assert_false(ta_gguf_get_u32(g, "t.i8", &u32));
    assert_true(ta_gguf_get_u32(g, "t.u16", &u32) && u32 == 60000);
    assert_true(ta_gguf_get_i64(g, "t.i16", &i64) && i64 == -300);
    assert_true(ta_gguf_get_u64(g, "t.u32", &u64) && u64 == 123456789);
    assert_true(ta_gguf_get_i64(g, "t.i32", &i64) && i64 == -123456789);
    assert_true(ta_gguf_get_f32(g, "t.f32", &f) && f == 0.125f);
    assert_false(ta_gguf_get_i64(g, "t.f32", &i64));
    assert_true(ta_gguf_get_bool(g, "t.bool", &bo) && bo);
    assert_false(ta_gguf_get_u32(g, "t.bool", &u32));
    assert_true(ta_gguf_get_str(g, "t.str", &s) && str_eq(s, "x\0y", 3));
    assert_true(ta_gguf_get_u64(g, "t.u64", &u64) && u64 == UINT64_MAX);
    assert_false(ta_gguf_get_i64(g, "t.u64", &i64)); /* above INT64_MAX */
    assert_false(ta_gguf_get_u32(g, "t.u64", &u32));
    assert_true(ta_gguf_get_i64(g, "t.i64", &i64) && i64 == -(1ll << 40));
    assert_false(ta_gguf_get_u64(g, "t.i64", &u64));
    assert_true(ta_gguf_get_f32(g, "t.f64", &f) && f == (float)-1e-300);

    ta_gguf_vtype et;
    uint64_t count;
    assert_true(ta_gguf_get_array(g, "n.u8", &et, &count));
    assert_int_equal(et, TA_GGUF_ARRAY);
    assert_int_equal(count, 2);
    assert_false(ta_gguf_array_i64(g, "n.u8", 0, &i64)); /* nested: not element-wise */
    assert_false(ta_gguf_array_str(g, "n.str", 0, &s));
    assert_true(ta_gguf_get_array(g, "n.empty", &et, &count) && et == TA_GGUF_ARRAY && !count);
    walk(g);

    /* copy_kv with a prefix, then everything. */
    ta_gguf_writer *w = ta_gguf_writer_new();
    assert_int_equal(ta_gguf_writer_copy_kv(w, g, "tokenizer."), 0);
    char path[256];
    tmp_path(path, sizeof path, "prefix.gguf");
    assert_int_equal(ta_gguf_writer_write(w, path, &err), 0);
    ta_gguf_writer_free(w);
    ta_gguf *g2 = ta_gguf_open(path, &err);
    assert_non_null(g2);
    assert_int_equal(ta_gguf_kv_count(g2), 1);
    assert_true(ta_gguf_get_str(g2, "tokenizer.x", &s) && str_eq(s, "tok", 3));
    ta_gguf_close(g2);

    w = ta_gguf_writer_new();
    assert_int_equal(ta_gguf_writer_copy_kv(w, g, ""), 0);
    tmp_path(path, sizeof path, "copy.gguf");
    assert_int_equal(ta_gguf_writer_write(w, path, &err), 0);
    ta_gguf_writer_free(w);
    size_t len;
    uint8_t *copy = read_file(path, &len);
    /* Same header and metadata bytes, then zero padding to the default alignment. */
    assert_int_equal(len, (b.n + 31) / 32 * 32);
    assert_memory_equal(copy, b.p, b.n);
    for (size_t i = b.n; i < len; i++)
        assert_int_equal(copy[i], 0);
    free(copy);
    ta_gguf_close(g);
    free(b.p);
}

/* Deterministic bytes for tensor data. */
static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    rng_state = seed | 1;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rng();
}

static void check_tensors_roundtrip(uint32_t align)
{
    struct {
        const char *name;
        uint32_t type, n_dims;
        uint64_t ne[4];
        size_t size;
    } ts[] = {
        {"f32", TA_TYPE_F32, 2, {5, 3}, 60},    {"f16", TA_TYPE_F16, 1, {7}, 14},
        {"q4_0", TA_TYPE_Q4_0, 2, {64, 2}, 72}, {"q8_0", TA_TYPE_Q8_0, 4, {32, 1, 1, 3}, 102},
        {"empty", TA_TYPE_F32, 2, {0, 4}, 0},   {"q4_k", TA_TYPE_Q4_K, 2, {256, 2}, 288},
        {"q6_k", TA_TYPE_Q6_K, 1, {256}, 210},  {"blk.0.i8", TA_TYPE_I8, 3, {3, 2, 2}, 12},
    };
    size_t n = sizeof ts / sizeof ts[0];
    uint8_t *data[8];
    ta_gguf_writer *w = ta_gguf_writer_new();
    assert_int_equal(ta_gguf_writer_set_str(w, "general.architecture", "test", 4), 0);
    if (align) assert_int_equal(ta_gguf_writer_set_u32(w, "general.alignment", align), 0);
    for (size_t i = 0; i < n; i++) {
        size_t want = ta_type_row_bytes(ts[i].type, ts[i].ne[0]);
        for (uint32_t d = 1; d < ts[i].n_dims; d++)
            want *= ts[i].ne[d];
        assert_int_equal(want, ts[i].size);
        data[i] = malloc(ts[i].size + 1);
        fill(data[i], ts[i].size, (uint32_t)i + 7);
        assert_int_equal(ta_gguf_writer_add_tensor(w, ts[i].name, ts[i].type, ts[i].n_dims,
                                                   ts[i].ne, data[i], ts[i].size),
                         0);
    }
    char path[256];
    tmp_path(path, sizeof path, "tensors.gguf");
    ta_error err;
    assert_int_equal(ta_gguf_writer_write(w, path, &err), 0);
    ta_gguf_writer_free(w);

    ta_gguf *g = ta_gguf_open(path, &err);
    if (!g) fail_msg("%s", err.message);
    size_t a = align ? align : 32;
    assert_int_equal(ta_gguf_alignment(g), a);
    assert_int_equal(ta_gguf_file_size(g) % a, 0);
    assert_int_equal(ta_gguf_tensor_count(g), n);
    uint64_t prev_end = 0;
    for (size_t i = 0; i < n; i++) {
        const ta_gguf_tensor *t = ta_gguf_tensor_at(g, i);
        assert_non_null(t);
        assert_string_equal(t->name, ts[i].name);
        assert_int_equal(t->type, ts[i].type);
        assert_int_equal(t->n_dims, ts[i].n_dims);
        uint64_t elems = 1;
        for (uint32_t d = 0; d < 4; d++) {
            uint64_t want = d < ts[i].n_dims ? ts[i].ne[d] : 1;
            assert_int_equal(t->ne[d], want);
            elems *= want;
        }
        assert_int_equal(t->n_elems, elems);
        assert_int_equal(t->size, ts[i].size);
        /* Laid out in insertion order, each at an aligned offset; the mapping is
         * page-aligned, so the data pointer itself is aligned too. */
        assert_int_equal(t->offset % a, 0);
        assert_true(t->offset >= prev_end);
        prev_end = t->offset + t->size;
        assert_int_equal((uintptr_t)t->data % a, 0);
        if (t->size) assert_memory_equal(t->data, data[i], ts[i].size);
        assert_ptr_equal(ta_gguf_tensor_find(g, ts[i].name), t);
        free(data[i]);
    }
    assert_null(ta_gguf_tensor_at(g, n));
    assert_null(ta_gguf_tensor_find(g, "missing"));
    ta_gguf_close(g);
}

static void test_roundtrip_tensors(void **state)
{
    (void)state;
    check_tensors_roundtrip(0); /* default 32 */
    check_tensors_roundtrip(64);
    check_tensors_roundtrip(1);
    check_tensors_roundtrip(4096);
}

static void test_writer_rejects(void **state)
{
    (void)state;
    ta_gguf_writer *w = ta_gguf_writer_new();
    float four[4] = {0};
    uint64_t ne4[] = {4}, ne33[] = {33};
    uint8_t q[18 * 2] = {0};
    assert_int_equal(ta_gguf_writer_set_u32(w, "general.alignment", 48), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_set_u32(w, "general.alignment", 0), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_set_u32(w, "", 1), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_set_u32(w, NULL, 1), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_set_str(w, "s", NULL, 3), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_set_array(w, "a", TA_GGUF_STRING, four, 1), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_set_array(w, "a", TA_GGUF_ARRAY, four, 1), TA_EINVAL);
    uint8_t bad_bool[] = {0, 2};
    assert_int_equal(ta_gguf_writer_set_array(w, "a", TA_GGUF_BOOL, bad_bool, 2), TA_EINVAL);
    char *long_key = malloc(65537);
    memset(long_key, 'k', 65536);
    long_key[65536] = '\0';
    assert_int_equal(ta_gguf_writer_set_u32(w, long_key, 1), TA_EINVAL);
    long_key[65535] = '\0';
    assert_int_equal(ta_gguf_writer_set_u32(w, long_key, 1), 0); /* exactly the limit */
    free(long_key);

    assert_int_equal(ta_gguf_writer_add_tensor(w, "t", TA_TYPE_F32, 1, ne4, four, 16), 0);
    assert_int_equal(ta_gguf_writer_add_tensor(w, "t", TA_TYPE_F32, 1, ne4, four, 16), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_add_tensor(w, "", TA_TYPE_F32, 1, ne4, four, 16), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_add_tensor(w, "u", TA_TYPE_F32, 1, ne4, four, 12), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_add_tensor(w, "u", 77, 1, ne4, four, 16), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_add_tensor(w, "u", TA_TYPE_F32, 0, ne4, four, 16), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_add_tensor(w, "u", TA_TYPE_F32, 5, ne4, four, 16), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_add_tensor(w, "u", TA_TYPE_Q4_0, 1, ne33, q, 18), TA_EINVAL);
    assert_int_equal(ta_gguf_writer_add_tensor(w, "u", TA_TYPE_F32, 1, ne4, NULL, 16), TA_EINVAL);
    /* Many tensors: the name index grows and still finds duplicates. */
    for (int i = 0; i < 200; i++) {
        char name[32];
        snprintf(name, sizeof name, "many.%d", i);
        assert_int_equal(ta_gguf_writer_add_tensor(w, name, TA_TYPE_F32, 1, ne4, four, 16), 0);
    }
    assert_int_equal(ta_gguf_writer_add_tensor(w, "many.17", TA_TYPE_F32, 1, ne4, four, 16),
                     TA_EINVAL);

    /* A general.alignment of the wrong type is refused at write time. */
    assert_int_equal(ta_gguf_writer_set_u64(w, "general.alignment", 64), 0);
    char path[256];
    tmp_path(path, sizeof path, "rejected.gguf");
    ta_error err;
    assert_int_equal(ta_gguf_writer_write(w, path, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "general.alignment must be a u32 power of two"));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(ta_gguf_writer_set_u32(w, "general.alignment", 64), 0);
    /* An unwritable place: TA_EIO, and no temporary file left behind. */
    assert_int_equal(ta_gguf_writer_write(w, "/nonexistent-dir/x.gguf", &err), TA_EIO);
    assert_non_null(strstr(err.message, "/nonexistent-dir/x.gguf"));
    assert_int_equal(ta_gguf_writer_write(w, path, &err), 0);
    ta_gguf_writer_free(w);
    ta_gguf *g = ta_gguf_open(path, &err);
    assert_non_null(g);
    assert_int_equal(ta_gguf_tensor_count(g), 201);
    assert_int_equal(ta_gguf_alignment(g), 64);
    ta_gguf_close(g);
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    while ((e = readdir(d)))
        assert_null(strstr(e->d_name, ".tmp."));
    closedir(d);
}

static void test_open_errors(void **state)
{
    (void)state;
    ta_error err;
    char path[256];
    tmp_path(path, sizeof path, "missing.gguf");
    assert_null(ta_gguf_open(path, &err));
    assert_int_equal(err.code, TA_ENOTFOUND);
    assert_non_null(strstr(err.message, "missing.gguf"));

    assert_null(ta_gguf_open(tmp_dir, &err));
    assert_int_equal(err.code, TA_EINVAL);
    assert_non_null(strstr(err.message, "not a regular file"));

    tmp_path(path, sizeof path, "empty.gguf");
    FILE *f = fopen(path, "wb");
    fclose(f);
    assert_null(ta_gguf_open(path, &err));
    assert_int_equal(err.code, TA_EINVAL);
    assert_non_null(strstr(err.message, "empty.gguf: "));
    assert_non_null(strstr(err.message, "too small for a GGUF header"));

    tmp_path(path, sizeof path, "bad.gguf");
    f = fopen(path, "wb");
    static const char v1[] = "GGUF\1\0\0\0 and then some more bytes";
    fwrite(v1, 1, sizeof v1 - 1, f);
    fclose(f);
    assert_null(ta_gguf_open(path, &err));
    assert_int_equal(err.code, TA_EINVAL);
    assert_non_null(strstr(err.message, "bad.gguf: "));
    assert_non_null(strstr(err.message, "GGUF version 1 is not supported"));

    assert_null(ta_gguf_open_memory(NULL, 0, &err));
    assert_int_equal(err.code, TA_EINVAL);
    /* NULL handles are harmless. */
    ta_gguf_close(NULL);
    assert_int_equal(ta_gguf_kv_count(NULL), 0);
    assert_int_equal(ta_gguf_find(NULL, "x"), -1);
    assert_null(ta_gguf_tensor_find(NULL, "x"));
}

/* ---- real files ---- */

static ta_gguf *open_shared(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", SHARED_DIR, rel);
    if (access(path, R_OK)) fail_msg("missing reference file %s (see ../shared/README.md)", path);
    ta_error err;
    ta_gguf *g = ta_gguf_open(path, &err);
    if (!g) fail_msg("%s", err.message);
    return g;
}

static void test_real_model(void **state)
{
    (void)state;
    ta_gguf *g = open_shared("models/stories260K.gguf");
    ta_gguf_str s;
    assert_int_equal(ta_gguf_version(g), 3);
    assert_int_equal(ta_gguf_file_size(g), 1185376);
    assert_int_equal(ta_gguf_kv_count(g), 19);
    assert_true(ta_gguf_get_str(g, "general.architecture", &s) && str_eq(s, "llama", 5));
    uint32_t u32;
    assert_true(ta_gguf_get_u32(g, "llama.embedding_length", &u32) && u32 == 64);
    assert_true(ta_gguf_get_u32(g, "llama.block_count", &u32) && u32 == 5);
    assert_true(ta_gguf_get_u32(g, "tokenizer.ggml.seperator_token_id", &u32));
    assert_int_equal(u32, UINT32_MAX);
    float eps;
    assert_true(ta_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps));
    assert_true(fabsf(eps - 1e-5f) < 1e-9f);
    ta_gguf_vtype et;
    uint64_t count;
    assert_true(ta_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &count));
    assert_int_equal(et, TA_GGUF_STRING);
    assert_int_equal(count, 512);
    assert_true(ta_gguf_array_str(g, "tokenizer.ggml.tokens", 1, &s) && str_eq(s, "<s>", 3));
    assert_true(ta_gguf_get_array(g, "tokenizer.ggml.scores", &et, &count));
    assert_int_equal(et, TA_GGUF_F32);
    assert_int_equal(count, 512);
    int64_t tt;
    assert_true(ta_gguf_array_i64(g, "tokenizer.ggml.token_type", 0, &tt) && tt == 2);

    assert_int_equal(ta_gguf_tensor_count(g), 48);
    const ta_gguf_tensor *t = ta_gguf_tensor_find(g, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->type, TA_TYPE_F32);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_int_equal(t->offset, 0);
    assert_int_equal(t->size, 64 * 512 * 4);
    /* The data section starts at byte 14176: these are bytes 14176.. of the file. */
    static const uint8_t first[] = {0x50, 0xe9, 0x96, 0xbe, 0x64, 0xd8, 0x0f, 0x3f};
    assert_memory_equal(t->data, first, 8);
    t = ta_gguf_tensor_find(g, "output_norm.weight");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->offset, 131072);
    static const uint8_t norm[] = {0xef, 0x54, 0x1d, 0x40, 0x6e, 0x04, 0xaf, 0x3f};
    assert_memory_equal(t->data, norm, 8);
    assert_non_null(ta_gguf_tensor_find(g, "blk.4.ffn_down.weight"));
    /* The last tensor ends exactly at the end of the file. */
    uint64_t end = 0;
    for (size_t i = 0; i < ta_gguf_tensor_count(g); i++) {
        const ta_gguf_tensor *x = ta_gguf_tensor_at(g, i);
        if (x->offset + x->size > end) end = x->offset + x->size;
    }
    assert_int_equal(14176 + end, ta_gguf_file_size(g));
    walk(g);
    ta_gguf_close(g);
}

static void test_real_vocab(void **state)
{
    (void)state;
    ta_gguf *g = open_shared("vocab/ggml-vocab-llama-spm.gguf");
    ta_gguf_str s;
    assert_true(ta_gguf_get_str(g, "general.architecture", &s) && str_eq(s, "llama", 5));
    assert_true(ta_gguf_get_str(g, "tokenizer.ggml.pre", &s) && str_eq(s, "default", 7));
    uint32_t n;
    assert_true(ta_gguf_get_u32(g, "llama.vocab_size", &n) && n == 32000);
    ta_gguf_vtype et;
    uint64_t count;
    const char *arrays[] = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                            "tokenizer.ggml.token_type"};
    const ta_gguf_vtype types[] = {TA_GGUF_STRING, TA_GGUF_F32, TA_GGUF_I32};
    for (int i = 0; i < 3; i++) {
        assert_true(ta_gguf_get_array(g, arrays[i], &et, &count));
        assert_int_equal(et, types[i]);
        assert_int_equal(count, 32000);
    }
    assert_true(ta_gguf_array_str(g, "tokenizer.ggml.tokens", 0, &s) && str_eq(s, "<unk>", 5));
    assert_true(ta_gguf_array_str(g, "tokenizer.ggml.tokens", 31999, &s) && s.len > 0);
    bool add_bos;
    assert_true(ta_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos) && add_bos);
    /* No tensors, and the file ends right after the metadata (no padding). */
    assert_int_equal(ta_gguf_tensor_count(g), 0);
    walk(g);

    /* A tokenizer copied into a new file comes back element for element. */
    ta_gguf_writer *w = ta_gguf_writer_new();
    assert_int_equal(ta_gguf_writer_copy_kv(w, g, "tokenizer."), 0);
    char path[256];
    tmp_path(path, sizeof path, "vocab-copy.gguf");
    ta_error err;
    assert_int_equal(ta_gguf_writer_write(w, path, &err), 0);
    ta_gguf_writer_free(w);
    ta_gguf *c = ta_gguf_open(path, &err);
    assert_non_null(c);
    assert_int_equal(ta_gguf_find(c, "general.architecture"), -1);
    for (uint64_t i = 0; i < 32000; i++) {
        ta_gguf_str a, b;
        assert_true(ta_gguf_array_str(g, "tokenizer.ggml.tokens", i, &a));
        assert_true(ta_gguf_array_str(c, "tokenizer.ggml.tokens", i, &b));
        assert_true(a.len == b.len && !memcmp(a.ptr, b.ptr, a.len));
    }
    ta_gguf_close(c);
    ta_gguf_close(g);
}

/* A 151k-token vocabulary plus 151k merges: parse time must be milliseconds. */
static void test_large_vocab_speed(void **state)
{
    (void)state;
    double t0 = now_s();
    ta_gguf *g = open_shared("vocab/ggml-vocab-qwen2.gguf");
    double open_s = now_s() - t0;
    uint64_t count;
    ta_gguf_vtype et;
    assert_true(ta_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &count));
    assert_int_equal(count, 151936);
    assert_true(ta_gguf_get_array(g, "tokenizer.ggml.merges", &et, &count));
    assert_int_equal(count, 151387);
    /* Random access is O(1): a million lookups take well under a second. */
    t0 = now_s();
    uint64_t sum = 0;
    ta_gguf_str s;
    for (uint64_t i = 0; i < 1000000; i++) {
        assert_true(ta_gguf_array_str(g, "tokenizer.ggml.tokens", (i * 7919) % 151936, &s));
        sum += s.len;
    }
    double lookup_s = now_s() - t0;
    print_message("qwen2 vocab: open %.1f ms, 1M token lookups %.1f ms (sum %llu)\n", open_s * 1e3,
                  lookup_s * 1e3, (unsigned long long)sum);
    assert_true(open_s < 0.5); /* typically a few ms; generous for sanitizer builds */
    assert_true(lookup_s < 2.0);
    ta_gguf_close(g);
}

/* ---- corrupt files ---- */

/* The valid base: 2 keys, tensors 'w' and 'b' (8 floats each), default alignment. Its
 * layout: infos end at byte 152, data at 160..224. */
static void base_file(bb *b, uint64_t w_ne0, uint64_t b_off, uint32_t b_type)
{
    uint64_t ne_w[] = {w_ne0}, ne_b[] = {8};
    bb_hdr(b, 3, 2, 2);
    bb_key(b, "general.architecture", TA_GGUF_STRING), bb_str(b, "llama");
    bb_key(b, "a", TA_GGUF_U32), bb_u32(b, 7);
    bb_tensor(b, "w", 1, ne_w, TA_TYPE_F32, 0);
    bb_tensor(b, "b", 1, ne_b, b_type, b_off);
    bb_pad(b, 32);
    bb_zeros(b, 64);
}

static void c_valid(bb *b)
{
    base_file(b, 8, 32, TA_TYPE_F32);
}

static void c_short(bb *b)
{
    bb_put(b, "GGUF\3\0\0\0", 8);
}

static void c_magic(bb *b)
{
    c_valid(b);
    memcpy(b->p, "GGML", 4);
}

static void c_version1(bb *b)
{
    c_valid(b);
    b->p[4] = 1;
}

static void c_version4(bb *b)
{
    c_valid(b);
    b->p[4] = 4;
}

static void c_big_endian(bb *b)
{
    c_valid(b);
    memcpy(b->p + 4, "\0\0\0\3", 4);
}

static void c_kv_count_huge(bb *b)
{
    bb_hdr(b, 3, 0, 1ull << 63);
    bb_zeros(b, 64);
}

static void c_tensor_count_huge(bb *b)
{
    bb_hdr(b, 3, 1ull << 40, 0);
    bb_zeros(b, 64);
}

static void c_counts_together(bb *b)
{
    bb_hdr(b, 3, 2, 2); /* 2*14 + 2*33 = 94 > 80 */
    bb_zeros(b, 80);
}

static void c_key_len_past_end(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_u64(b, 1000);
    bb_put(b, "abcdefgh", 8);
}

static void c_key_empty(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "", TA_GGUF_U32), bb_u32(b, 1);
    bb_zeros(b, 4);
}

static void c_key_nul(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_strn(b, "ab\0c", 4), bb_u32(b, TA_GGUF_U32), bb_u32(b, 1);
}

static void c_key_too_long(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_u64(b, 65536);
    for (int i = 0; i < 65536; i++)
        bb_u8(b, 'k');
    bb_u32(b, TA_GGUF_U8), bb_u8(b, 1);
}

static void c_key_duplicate(bb *b)
{
    bb_hdr(b, 3, 0, 2);
    bb_key(b, "a", TA_GGUF_U32), bb_u32(b, 1);
    bb_key(b, "a", TA_GGUF_U32), bb_u32(b, 2);
}

static void c_value_type_unknown(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "a", 13), bb_u32(b, 1);
}

static void c_string_past_end(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "s", TA_GGUF_STRING), bb_u64(b, 1000), bb_put(b, "abc", 3);
}

static void c_scalar_truncated(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "x", TA_GGUF_U64), bb_put(b, "abc", 3);
}

static void c_bool_bad(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "flag", TA_GGUF_BOOL), bb_u8(b, 2);
}

static void c_array_count_huge(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "a", TA_GGUF_ARRAY), bb_u32(b, TA_GGUF_U32), bb_u64(b, 1ull << 60);
    bb_zeros(b, 16);
}

static void c_array_elem_type_unknown(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "a", TA_GGUF_ARRAY), bb_u32(b, 42), bb_u64(b, 1);
    bb_zeros(b, 16);
}

static void c_str_array_count_huge(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "tok", TA_GGUF_ARRAY), bb_u32(b, TA_GGUF_STRING), bb_u64(b, 1ull << 62);
    bb_str(b, "a");
}

static void c_str_array_elem_past_end(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "tok", TA_GGUF_ARRAY), bb_u32(b, TA_GGUF_STRING), bb_u64(b, 3);
    bb_str(b, "a"), bb_u64(b, 500), bb_put(b, "bcdefghijklmnop", 15);
}

static void c_str_array_elem_truncated(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "tok", TA_GGUF_ARRAY), bb_u32(b, TA_GGUF_STRING), bb_u64(b, 2);
    bb_strn(b, "abcdefg", 7), bb_put(b, "\1\0\0", 3); /* 10 bytes after the count */
}

static void c_bool_array_bad(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "flags", TA_GGUF_ARRAY), bb_u32(b, TA_GGUF_BOOL), bb_u64(b, 3);
    bb_u8(b, 1), bb_u8(b, 0), bb_u8(b, 7);
}

/* levels arrays nested inside each other, the innermost holding one u8. */
static void nest(bb *b, int levels)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "deep", TA_GGUF_ARRAY);
    for (int i = 1; i < levels; i++)
        bb_u32(b, TA_GGUF_ARRAY), bb_u64(b, 1);
    bb_u32(b, TA_GGUF_U8), bb_u64(b, 1), bb_u8(b, 9);
}

static void c_nested_8(bb *b)
{
    nest(b, 8);
}

static void c_nested_9(bb *b)
{
    nest(b, 9);
}

static void c_nested_bad_string(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "n", TA_GGUF_ARRAY), bb_u32(b, TA_GGUF_ARRAY), bb_u64(b, 1);
    bb_u32(b, TA_GGUF_STRING), bb_u64(b, 1), bb_u64(b, 99), bb_put(b, "ab", 2);
}

static void alignment_file(bb *b, uint32_t type, uint64_t value)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "general.alignment", type);
    if (type == TA_GGUF_U64)
        bb_u64(b, value);
    else
        bb_u32(b, (uint32_t)value);
}

static void c_align_48(bb *b)
{
    alignment_file(b, TA_GGUF_U32, 48);
}

static void c_align_0(bb *b)
{
    alignment_file(b, TA_GGUF_U32, 0);
}

static void c_align_u64(bb *b)
{
    alignment_file(b, TA_GGUF_U64, 64);
}

/* One tensor with the given info fields after a 1-key header. */
static void one_tensor(bb *b, const char *name, size_t name_len, uint32_t n_dims,
                       const uint64_t *ne, uint32_t type, uint64_t offset)
{
    bb_hdr(b, 3, 1, 0);
    bb_strn(b, name, name_len);
    bb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        bb_u64(b, ne[d]);
    bb_u32(b, type);
    bb_u64(b, offset);
    bb_pad(b, 32);
    bb_zeros(b, 128);
}

static const uint64_t ne8[] = {8, 1, 1, 1, 1};

static void c_tname_empty(bb *b)
{
    one_tensor(b, "", 0, 1, ne8, TA_TYPE_F32, 0);
}

static void c_tname_nul(bb *b)
{
    one_tensor(b, "w\0x", 3, 1, ne8, TA_TYPE_F32, 0);
}

static void c_tname_duplicate(bb *b)
{
    bb_hdr(b, 3, 2, 0);
    bb_tensor(b, "w", 1, ne8, TA_TYPE_F32, 0);
    bb_tensor(b, "w", 1, ne8, TA_TYPE_F32, 32);
    bb_pad(b, 32);
    bb_zeros(b, 64);
}

static void c_ndims_0(bb *b)
{
    one_tensor(b, "w", 1, 0, ne8, TA_TYPE_F32, 0);
    bb_zeros(b, 8);
}

static void c_ndims_5(bb *b)
{
    one_tensor(b, "w", 1, 5, ne8, TA_TYPE_F32, 0);
}

static void c_dim_huge(bb *b)
{
    const uint64_t ne[] = {1ull << 63};
    one_tensor(b, "w", 1, 1, ne, TA_TYPE_F32, 0);
}

static void c_elems_overflow(bb *b)
{
    const uint64_t ne[] = {1ull << 32, 1ull << 32};
    one_tensor(b, "w", 1, 2, ne, TA_TYPE_F32, 0);
}

static void c_type_unknown(bb *b)
{
    one_tensor(b, "w", 1, 1, ne8, 77, 0);
}

static void c_type_removed(bb *b)
{
    one_tensor(b, "w", 1, 1, ne8, 4, 0);
}

static void c_row_not_blocks(bb *b)
{
    const uint64_t ne[] = {33, 2};
    one_tensor(b, "blk.0.attn_q.weight", 19, 2, ne, TA_TYPE_Q4_0, 0);
}

static void c_size_overflow(bb *b)
{
    const uint64_t ne[] = {1ull << 62};
    one_tensor(b, "w", 1, 1, ne, TA_TYPE_F32, 0);
}

static void c_misaligned(bb *b)
{
    base_file(b, 8, 16, TA_TYPE_F32);
}

static void c_offset_past_end(bb *b)
{
    base_file(b, 8, 1 << 20, TA_TYPE_F32);
}

static void c_extends_past_end(bb *b)
{
    base_file(b, 8, 32, TA_TYPE_F64); /* 64 bytes at data offset 32 */
}

static void c_huge_extent(bb *b)
{
    const uint64_t ne[] = {1ull << 40};
    one_tensor(b, "w", 1, 1, ne, TA_TYPE_F32, 0);
}

static void c_overlap_same(bb *b)
{
    base_file(b, 8, 0, TA_TYPE_F32);
}

static void c_overlap_partial(bb *b)
{
    base_file(b, 16, 32, TA_TYPE_F32); /* 'w' is [0, 64), 'b' [32, 64) */
    bb_zeros(b, 32);
}

static void c_data_start_past_end(bb *b)
{
    c_valid(b);
    b->n = 152; /* cut right after the tensor infos */
}

static void c_info_truncated(bb *b)
{
    c_valid(b);
    b->n = 148; /* in the middle of the last offset */
}

static void c_zero_size_tensor(bb *b)
{
    const uint64_t ne[] = {0, 4};
    one_tensor(b, "empty", 5, 2, ne, TA_TYPE_Q4_K, 0);
}

static void c_no_tensors_no_padding(bb *b)
{
    bb_hdr(b, 3, 0, 1);
    bb_key(b, "k", TA_GGUF_U8), bb_u8(b, 1); /* 38 bytes: not a multiple of 32 */
}

static void c_trailing_bytes(bb *b)
{
    c_valid(b);
    bb_zeros(b, 100);
}

static void c_version2(bb *b)
{
    c_valid(b);
    b->p[4] = 2;
}

static void c_nonprintable_name(bb *b)
{
    one_tensor(b, "w\n\x01'", 4, 1, ne8, 99, 0);
}

typedef struct corrupt_case {
    const char *name;
    void (*build)(bb *b);
    const char *expect; /* NULL: must open */
} corrupt_case;

static const corrupt_case cases[] = {
    {"valid", c_valid, NULL},
    {"version 2", c_version2, NULL},
    {"8 nested arrays", c_nested_8, NULL},
    {"zero-size tensor", c_zero_size_tensor, NULL},
    {"no tensors, no padding", c_no_tensors_no_padding, NULL},
    {"trailing bytes", c_trailing_bytes, NULL},
    {"short", c_short, "file is 8 bytes, too small for a GGUF header (24 bytes)"},
    {"magic", c_magic, "not a GGUF file (it starts with 'GGML', not 'GGUF') (at byte 0)"},
    {"version 1", c_version1, "GGUF version 1 is not supported"},
    {"version 4", c_version4, "unsupported GGUF version 4 (this reader handles versions 2 and 3)"},
    {"big-endian", c_big_endian, "big-endian GGUF files are not supported"},
    {"kv_count 2^63", c_kv_count_huge,
     "kv_count 9223372036854775808 is impossible: each key-value pair needs at least 14 bytes "
     "and only 64 bytes follow the header (at byte 16)"},
    {"tensor_count 2^40", c_tensor_count_huge, "tensor_count 1099511627776 is impossible"},
    {"counts together", c_counts_together,
     "tensor_count 2 and kv_count 2 need more than the 80 bytes"},
    {"key past end", c_key_len_past_end,
     "key #0 at byte 24: key: length 1000 runs past the end of the file (8 bytes left) (at byte "
     "24)"},
    {"key empty", c_key_empty, "key #0 at byte 24: key is empty (at byte 24)"},
    {"key NUL", c_key_nul, "key #0 at byte 24: key contains a NUL byte at position 2"},
    {"key too long", c_key_too_long, "key is 65536 bytes long (the limit is 65535)"},
    {"key duplicate", c_key_duplicate,
     "key 'a' at byte 41: duplicate key (first defined at byte 24) (at byte 41)"},
    {"value type", c_value_type_unknown,
     "key 'a' at byte 24: unknown value type 13 (known types are 0 to 12) (at byte 37)"},
    {"string past end", c_string_past_end,
     "key 's' at byte 24: string: length 1000 runs past the end of the file (3 bytes left)"},
    {"scalar truncated", c_scalar_truncated,
     "key 'x' at byte 24: truncated: u64 needs 8 bytes but the file ends 3 bytes later (at byte "
     "37)"},
    {"bool 2", c_bool_bad, "key 'flag' at byte 24: bool value is 2, not 0 or 1 (at byte 40)"},
    {"array count", c_array_count_huge,
     "key 'a' at byte 24: array of 1152921504606846976 u32 elements cannot fit in the 16 bytes "
     "left in the file (each needs at least 4)"},
    {"array elem type", c_array_elem_type_unknown,
     "array of unknown element type 42 (known types are 0 to 12)"},
    {"string array count", c_str_array_count_huge,
     "key 'tok' at byte 24: array of 4611686018427387904 string elements cannot fit"},
    {"string array element", c_str_array_elem_past_end,
     "key 'tok' at byte 24: array element 1: string length 500 runs past the end of the file (15 "
     "bytes left)"},
    {"string array truncated", c_str_array_elem_truncated,
     "truncated: string length needs 8 bytes but the file ends 3 bytes later"},
    {"bool array", c_bool_array_bad,
     "key 'flags' at byte 24: array element 2: bool value is 7, not 0 or 1"},
    {"9 nested arrays", c_nested_9, "key 'deep' at byte 24: arrays nested deeper than 8 levels"},
    {"nested string", c_nested_bad_string,
     "key 'n' at byte 24: array element 0: string length 99 runs past the end of the file (2 "
     "bytes left)"},
    {"alignment 48", c_align_48,
     "key 'general.alignment' at byte 24: alignment 48 is not a power of two"},
    {"alignment 0", c_align_0, "alignment 0 is not a power of two"},
    {"alignment u64", c_align_u64, "key 'general.alignment' at byte 24: must be a u32, not a u64"},
    {"tensor name empty", c_tname_empty, "tensor info #0 at byte 24: tensor name is empty"},
    {"tensor name NUL", c_tname_nul, "tensor name contains a NUL byte at position 1"},
    {"tensor name duplicate", c_tname_duplicate,
     "tensor 'w' (info at byte 57): duplicate tensor name (first defined at byte 24)"},
    {"n_dims 0", c_ndims_0, "tensor 'w' (info at byte 24): n_dims is 0; it must be 1 to 4"},
    {"n_dims 5", c_ndims_5, "n_dims is 5; it must be 1 to 4"},
    {"dimension 2^63", c_dim_huge, "dimension 0 is 9223372036854775808, larger than 2^63 - 1"},
    {"element overflow", c_elems_overflow,
     "element count overflows: ne = [4294967296, 4294967296, 1, 1]"},
    {"tensor type 77", c_type_unknown, "tensor 'w' (info at byte 24): unknown tensor type 77"},
    {"tensor type 4", c_type_removed, "unknown tensor type 4"},
    {"row not blocks", c_row_not_blocks,
     "tensor 'blk.0.attn_q.weight' (info at byte 24): row length ne[0] = 33 is not a multiple of "
     "the Q4_0 block size 32"},
    {"size overflow", c_size_overflow,
     "size in bytes of 4611686018427387904 F32 elements overflows"},
    {"misaligned", c_misaligned,
     "tensor 'b': data offset 16 is not a multiple of the alignment 32"},
    {"offset past end", c_offset_past_end,
     "tensor 'b': data offset 1048576 is past the end of the file (the data section holds 64 "
     "bytes from byte 160)"},
    {"extends past end", c_extends_past_end,
     "tensor 'b': data [192, 256) extends past the end of the file (224 bytes)"},
    {"huge extent", c_huge_extent, "tensor 'w': data [64, 4398046511168) extends past the end"},
    {"overlap same", c_overlap_same, "tensor 'b': data [160, 192) overlaps tensor 'w' [160, 192)"},
    {"overlap partial", c_overlap_partial,
     "tensor 'b': data [192, 224) overlaps tensor 'w' [160, 224)"},
    {"data start past end", c_data_start_past_end,
     "the data section would start at byte 160 (the end of the tensor infos padded to 32), past "
     "the end of the file (152 bytes)"},
    {"info truncated", c_info_truncated,
     "tensor 'b' (info at byte 119): truncated: tensor data offset needs 8 bytes but the file "
     "ends 4 bytes later (at byte 144)"},
    {"non-printable name", c_nonprintable_name, "tensor 'w\\x0a\\x01\\x27' (info at byte 24)"},
};

static void test_corrupt_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bb b = {0};
        cases[i].build(&b);
        /* An exact-size heap copy: any over-read is an ASan error. */
        uint8_t *buf = malloc(b.n);
        memcpy(buf, b.p, b.n);
        ta_error err;
        ta_error_clear(&err);
        ta_gguf *g = ta_gguf_open_memory(buf, b.n, &err);
        if (!cases[i].expect) {
            if (!g) fail_msg("case '%s' should open: %s", cases[i].name, err.message);
            walk(g);
            ta_gguf_close(g);
        } else {
            if (g) fail_msg("case '%s' should fail", cases[i].name);
            assert_int_equal(err.code, TA_EINVAL);
            if (!strstr(err.message, cases[i].expect))
                fail_msg("case '%s': message\n  %s\nlacks\n  %s", cases[i].name, err.message,
                         cases[i].expect);
        }
        free(buf);
        free(b.p);
    }
}

/* Counts that fit the bytes but exceed the reader's limits (1 << 20 of each). */
static void test_count_limits(void **state)
{
    (void)state;
    size_t len = 24 + ((1u << 20) + 1) * 33;
    uint8_t *buf = calloc(1, len);
    assert_non_null(buf);
    bb b = {0};
    bb_hdr(&b, 3, 0, (1u << 20) + 1);
    memcpy(buf, b.p, b.n);
    ta_error err;
    assert_null(ta_gguf_open_memory(buf, len, &err));
    assert_non_null(strstr(err.message, "kv_count 1048577 is more than this reader accepts"));
    b.n = 0;
    bb_hdr(&b, 3, (1u << 20) + 1, 0);
    memcpy(buf, b.p, b.n);
    assert_null(ta_gguf_open_memory(buf, len, &err));
    assert_non_null(strstr(err.message, "tensor_count 1048577 is more than this reader accepts"));
    free(b.p);
    free(buf);
}

/* A writer-made file whose last tensor ends at the last byte: every proper prefix must
 * be refused cleanly. */
static uint8_t *small_file(size_t *len)
{
    ta_gguf_writer *w = ta_gguf_writer_new();
    ta_gguf_writer_set_str(w, "general.architecture", "llama", 5);
    ta_gguf_writer_set_u32(w, "llama.block_count", 1);
    const char *toks[] = {"<unk>", "", "a\0b", "hello"};
    const size_t lens[] = {5, 0, 3, 5};
    ta_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", toks, lens, 4);
    const float scores[] = {0, -1, -2, -3};
    ta_gguf_writer_set_array(w, "tokenizer.ggml.scores", TA_GGUF_F32, scores, 4);
    ta_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    uint8_t data[64];
    fill(data, sizeof data, 99);
    const uint64_t ne_a[] = {8, 2}, ne_b[] = {32}, ne_c[] = {16};
    assert_int_equal(ta_gguf_writer_add_tensor(w, "a", TA_TYPE_F32, 2, ne_a, data, 64), 0);
    assert_int_equal(ta_gguf_writer_add_tensor(w, "b", TA_TYPE_Q8_0, 1, ne_b, data, 34), 0);
    assert_int_equal(ta_gguf_writer_add_tensor(w, "c", TA_TYPE_F16, 1, ne_c, data, 32), 0);
    char path[256];
    tmp_path(path, sizeof path, "small.gguf");
    ta_error err;
    assert_int_equal(ta_gguf_writer_write(w, path, &err), 0);
    ta_gguf_writer_free(w);
    return read_file(path, len);
}

static void test_truncation_every_byte(void **state)
{
    (void)state;
    size_t len;
    uint8_t *file = small_file(&len);
    maybe_save_seed("small.gguf", file, len);
    ta_error err;
    ta_gguf *g = ta_gguf_open_memory(file, len, &err);
    assert_non_null(g);
    const ta_gguf_tensor *c = ta_gguf_tensor_find(g, "c");
    assert_ptr_equal((const uint8_t *)c->data + c->size, file + len); /* no tail padding */
    ta_gguf_close(g);
    for (size_t n = 0; n < len; n++) {
        uint8_t *buf = malloc(n ? n : 1);
        memcpy(buf, file, n);
        ta_error_clear(&err);
        g = ta_gguf_open_memory(buf, n, &err);
        if (g) fail_msg("prefix of %zu bytes (of %zu) was accepted", n, len);
        assert_int_equal(err.code, TA_EINVAL);
        assert_true(strlen(err.message) > 10);
        free(buf);
    }
    free(file);
}

/* Random byte changes: each result is either refused with TA_EINVAL or fully walkable. */
static void test_random_mutations(void **state)
{
    (void)state;
    size_t len;
    uint8_t *file = small_file(&len);
    uint8_t *buf = malloc(len);
    int opened = 0;
    rng_state = 2024;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, file, len);
        int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; k++) {
            size_t at = rng() % len;
            uint32_t how = rng() % 3;
            buf[at] = how == 0 ? (uint8_t)rng() : how == 1 ? (uint8_t)(buf[at] ^ 0x80) : 0xff;
        }
        size_t n = rng() % 8 == 0 ? rng() % len : len;
        ta_error err;
        ta_gguf *g = ta_gguf_open_memory(buf, n, &err);
        if (g) {
            opened++;
            walk(g);
            ta_gguf_close(g);
        } else {
            assert_int_equal(err.code, TA_EINVAL);
        }
    }
    print_message("random mutations: %d of 20000 still valid\n", opened);
    free(buf);
    free(file);
}

/* Seeds for fuzz/fuzz_gguf.c (only when TA_GGUF_SEED_DIR is set). */
static void test_save_more_seeds(void **state)
{
    (void)state;
    if (!getenv("TA_GGUF_SEED_DIR")) skip();
    const char *names[] = {"valid.gguf", "nested8.gguf", "zero_tensor.gguf", "no_padding.gguf"};
    void (*builders[])(bb *) = {c_valid, c_nested_8, c_zero_size_tensor, c_no_tensors_no_padding};
    for (int i = 0; i < 4; i++) {
        bb b = {0};
        builders[i](&b);
        maybe_save_seed(names[i], b.p, b.n);
        free(b.p);
    }
    /* A file with alignment 64 and a K-quant tensor. */
    ta_gguf_writer *w = ta_gguf_writer_new();
    ta_gguf_writer_set_u32(w, "general.alignment", 64);
    ta_gguf_writer_set_str(w, "general.architecture", "qwen2", 5);
    const int32_t types[] = {1, 1, 3};
    ta_gguf_writer_set_array(w, "tokenizer.ggml.token_type", TA_GGUF_I32, types, 3);
    uint8_t q[144];
    fill(q, sizeof q, 5);
    const uint64_t ne[] = {256};
    ta_gguf_writer_add_tensor(w, "q4k", TA_TYPE_Q4_K, 1, ne, q, sizeof q);
    ta_gguf_writer_add_tensor(w, "bias", TA_TYPE_F32, 1, (const uint64_t[]){4}, q, 16);
    char path[256];
    tmp_path(path, sizeof path, "align64.gguf");
    ta_error err;
    assert_int_equal(ta_gguf_writer_write(w, path, &err), 0);
    ta_gguf_writer_free(w);
    size_t len;
    uint8_t *file = read_file(path, &len);
    maybe_save_seed("align64.gguf", file, len);
    free(file);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_values),
        cmocka_unit_test(test_all_types_and_copy),
        cmocka_unit_test(test_roundtrip_tensors),
        cmocka_unit_test(test_writer_rejects),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_real_model),
        cmocka_unit_test(test_real_vocab),
        cmocka_unit_test(test_large_vocab_speed),
        cmocka_unit_test(test_corrupt_table),
        cmocka_unit_test(test_count_limits),
        cmocka_unit_test(test_truncation_every_byte),
        cmocka_unit_test(test_random_mutations),
        cmocka_unit_test(test_save_more_seeds),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
