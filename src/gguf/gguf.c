/*
 * gguf.c - the GGUF reader and writer declared in gguf.h.
 *
 * Reading happens once, up front. A cursor walks the header, every key-value pair and
 * every tensor info; each read is checked against the bytes that remain, each count is
 * checked against the smallest number of bytes its elements could occupy before any
 * allocation is sized by it, and all offset arithmetic is done in uint64_t with explicit
 * overflow tests. What the accessors need later is recorded on the way:
 *
 *   - for every key: the byte range of its value, so scalars are read in place and
 *     ta_gguf_writer_copy_kv can copy any value (nested arrays included) verbatim;
 *   - for every array of strings: a table with the file offset of each element, so
 *     ta_gguf_array_str is O(1) (a 150k-token vocabulary is one pass at open time);
 *   - hash indexes over keys and tensor names, which also reject duplicates.
 *
 * Then the tensor infos are checked against each other and the file: known type, whole
 * blocks per row, element count and byte size without overflow, aligned offset, data
 * inside the file, no two tensors sharing bytes.
 *
 * The writer keeps every value as its serialized bytes (little-endian, exactly as in a
 * file), which makes replacement and copying from a reader trivial; tensors are laid out
 * in insertion order, each at an offset that is a multiple of the alignment.
 *
 * All multi-byte numbers are little-endian in the file and are assembled byte by byte,
 * so the code is correct on any host; tensor data itself is handed out untouched.
 */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GGUF_MAGIC       "GGUF"
#define HEADER_BYTES     24u    /* magic, version, tensor_count, kv_count */
#define MAX_NAME_BYTES   65535u /* longest key or tensor name accepted */
#define MAX_ARRAY_DEPTH  8      /* an array inside an array ... at most this deep */
#define MIN_KV_BYTES     14u    /* 8 (key length) + 1 (key) + 4 (type) + 1 (u8 value) */
#define MIN_TENSOR_BYTES 33u    /* 8 + 1 (name) + 4 (n_dims) + 8 (one ne) + 4 (type) + 8 */
#define NUM_VTYPES       13u
/* Real files have tens of keys and at most some thousands of tensors. The per-entry
 * tables cost ~100 bytes each, so these limits keep a hostile file that is nothing but
 * tiny entries from turning a few megabytes into gigabytes of tables. */
#define MAX_KV_COUNT     (1u << 20)
#define MAX_TENSOR_COUNT (1u << 20)

/* ------------------------------------------------------------------------------------ */
/* Small helpers shared by reader and writer                                            */
/* ------------------------------------------------------------------------------------ */

static uint16_t ld16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] | (unsigned)p[1] << 8);
}

static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ld64(const uint8_t *p)
{
    return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static void st32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void st64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Bytes of one fixed-size value; 0 for strings, arrays and unknown types. */
static size_t vtype_size(uint32_t t)
{
    static const uint8_t sizes[NUM_VTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < NUM_VTYPES ? sizes[t] : 0;
}

/* Fewest bytes one element of type t can occupy in a file: what bounds a count. */
static size_t vtype_min_size(uint32_t t)
{
    if (t == TA_GGUF_STRING) return 8;    /* the length alone */
    if (t == TA_GGUF_ARRAY) return 4 + 8; /* element type + count of an empty array */
    return vtype_size(t);
}

static const char *vtype_name(uint32_t t)
{
    static const char *const names[NUM_VTYPES] = {"u8",  "i8",  "u16",  "i16",    "u32",
                                                  "i32", "f32", "bool", "string", "array",
                                                  "u64", "i64", "f64"};
    return t < NUM_VTYPES ? names[t] : "unknown";
}

static bool vtype_is_int(uint32_t t)
{
    return t <= TA_GGUF_I32 || t == TA_GGUF_U64 || t == TA_GGUF_I64;
}

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

/* Rounds v up to a multiple of the power of two a; false on overflow. */
static bool align_up(uint64_t v, uint64_t a, uint64_t *out)
{
    if (v > UINT64_MAX - (a - 1)) return false;
    *out = (v + a - 1) & ~(a - 1);
    return true;
}

/* FNV-1a from a random starting state, then a final mix so the low bits (the table
 * slot) depend on every bit. The seed keeps a hostile file from precomputing names that
 * all land in one cluster and making the open quadratic. */
static uint64_t hash_bytes(uint64_t seed, const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t random_seed(const void *salt)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed) return seed;
    struct timespec ts; /* no entropy yet (early boot): still differs per process and call */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)salt ^
           (uint64_t)getpid() << 32;
}

/* Writes a name into out for a message: printable ASCII kept, other bytes as \xNN,
 * long names cut with "...". out always ends up NUL-terminated. */
static void fmt_name(char *out, size_t cap, const char *s, size_t len)
{
    size_t o = 0, max_in = 64;
    for (size_t i = 0; i < len && i < max_in && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    if (len > max_in && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/* ------------------------------------------------------------------------------------ */
/* Name index: open addressing over (pointer, length) names, storing element indexes     */
/* ------------------------------------------------------------------------------------ */

typedef struct slot {
    uint64_t hash;
    const char *name; /* into the file (reader) */
    size_t len;
    size_t idx; /* SIZE_MAX = empty */
} slot;

typedef struct name_index {
    slot *slots;
    size_t mask;
    uint64_t seed;
} name_index;

static int index_init(name_index *ix, size_t n)
{
    size_t cap = 8;
    while (cap < 2 * n)
        cap *= 2; /* n is bounded by the file size, so this cannot overflow */
    ix->slots = malloc(cap * sizeof *ix->slots);
    if (!ix->slots) return TA_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        ix->slots[i].idx = SIZE_MAX;
    ix->mask = cap - 1;
    ix->seed = random_seed(ix);
    return 0;
}

/* The slot holding name, or the empty slot where it would go. */
static slot *index_probe(const name_index *ix, const char *name, size_t len, uint64_t h)
{
    for (size_t i = (size_t)h & ix->mask;; i = (i + 1) & ix->mask) {
        slot *s = &ix->slots[i];
        if (s->idx == SIZE_MAX) return s;
        if (s->hash == h && s->len == len && !memcmp(s->name, name, len)) return s;
    }
}

/* Adds name -> idx; returns the index of an earlier equal name, or SIZE_MAX when new. */
static size_t index_add(name_index *ix, const char *name, size_t len, size_t idx)
{
    uint64_t h = hash_bytes(ix->seed, name, len);
    slot *s = index_probe(ix, name, len, h);
    if (s->idx != SIZE_MAX) return s->idx;
    s->hash = h;
    s->name = name;
    s->len = len;
    s->idx = idx;
    return SIZE_MAX;
}

static size_t index_get(const name_index *ix, const char *name, size_t len)
{
    if (!ix->slots) return SIZE_MAX;
    return index_probe(ix, name, len, hash_bytes(ix->seed, name, len))->idx;
}

/* ------------------------------------------------------------------------------------ */
/* Reader                                                                                */
/* ------------------------------------------------------------------------------------ */

typedef struct gkv {
    const char *key;     /* NUL-terminated copy in the names arena */
    const char *key_raw; /* the key's bytes in the file */
    size_t key_len;
    uint32_t type;
    uint64_t entry_off; /* where the key-value pair starts (for messages) */
    uint64_t val_off;   /* first byte of the value (after its type) */
    uint64_t val_end;   /* one past its last byte */
    /* arrays only */
    uint32_t elem_type;
    uint64_t count;
    uint64_t elems_off; /* first element */
    uint64_t *str_offs; /* string arrays: file offset of each element's length field */
} gkv;

typedef struct gtensor {
    ta_gguf_tensor pub; /* first, so &t->pub is what ta_gguf_tensor_at returns */
    const char *name_raw;
    size_t name_len;
    uint64_t info_off;
} gtensor;

struct ta_gguf {
    const uint8_t *base;
    size_t len;
    void *map; /* NULL for ta_gguf_open_memory */
    uint32_t version;
    size_t alignment;
    uint64_t data_start;
    size_t n_kv;
    gkv *kv;
    name_index kv_index;
    size_t n_tensors;
    gtensor *tensors;
    name_index tensor_index;
    char *names; /* NUL-terminated keys and tensor names */
};

typedef struct parser {
    const uint8_t *base;
    size_t len;
    size_t pos;
    ta_error *err;
    char where[200]; /* what is being read, for messages: "key 'general.name' at byte 40" */
} parser;

/* Fails with "<where>: <problem> (at byte <at>)". */
static int perr(parser *p, uint64_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(parser *p, uint64_t at, const char *fmt, ...)
{
    char msg[TA_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ta_error_set(p->err, TA_EINVAL, "%s%s%s (at byte %llu)", p->where,
                        p->where[0] ? ": " : "", msg, (unsigned long long)at);
}

static int need(parser *p, uint64_t n, const char *what)
{
    if (n <= p->len - p->pos) return 0;
    return perr(p, p->pos, "truncated: %s needs %llu bytes but the file ends %zu bytes later", what,
                (unsigned long long)n, p->len - p->pos);
}

static int rd_u32(parser *p, uint32_t *v, const char *what)
{
    int rc = need(p, 4, what);
    if (rc) return rc;
    *v = ld32(p->base + p->pos);
    p->pos += 4;
    return 0;
}

static int rd_u64(parser *p, uint64_t *v, const char *what)
{
    int rc = need(p, 8, what);
    if (rc) return rc;
    *v = ld64(p->base + p->pos);
    p->pos += 8;
    return 0;
}

/* A gguf string: u64 length + bytes. Leaves the bytes at base + *off. */
static int rd_str(parser *p, uint64_t *off, uint64_t *len, const char *what)
{
    size_t at = p->pos;
    int rc = rd_u64(p, len, what);
    if (rc) return rc;
    if (*len > p->len - p->pos)
        return perr(p, at, "%s: length %llu runs past the end of the file (%zu bytes left)", what,
                    (unsigned long long)*len, p->len - p->pos);
    *off = p->pos;
    p->pos += (size_t)*len;
    return 0;
}

/* A key or tensor name: non-empty, no NUL bytes, at most MAX_NAME_BYTES. */
static int rd_name(parser *p, const char **name, size_t *len, const char *what)
{
    size_t at = p->pos;
    uint64_t off = 0, n = 0;
    int rc = rd_str(p, &off, &n, what);
    if (rc) return rc;
    if (n == 0) return perr(p, at, "%s is empty", what);
    if (n > MAX_NAME_BYTES)
        return perr(p, at, "%s is %llu bytes long (the limit is %u)", what, (unsigned long long)n,
                    MAX_NAME_BYTES);
    const char *s = (const char *)p->base + off;
    const char *nul = memchr(s, 0, (size_t)n);
    if (nul) return perr(p, at, "%s contains a NUL byte at position %td", what, nul - s);
    *name = s;
    *len = (size_t)n;
    return 0;
}

/* Parses one value of type t at the cursor. depth counts the arrays around it. kv is the
 * top-level entry being filled (arrays record their shape there), or NULL inside arrays. */
static int parse_value(parser *p, uint32_t t, int depth, gkv *kv)
{
    size_t at = p->pos;
    if (t >= NUM_VTYPES)
        return perr(p, at, "unknown value type %u (known types are 0 to %u)", t, NUM_VTYPES - 1);
    if (t == TA_GGUF_STRING) {
        uint64_t off, len;
        return rd_str(p, &off, &len, "string");
    }
    if (t != TA_GGUF_ARRAY) {
        int rc = need(p, vtype_size(t), vtype_name(t));
        if (rc) return rc;
        if (t == TA_GGUF_BOOL && p->base[p->pos] > 1)
            return perr(p, at, "bool value is %u, not 0 or 1", p->base[p->pos]);
        p->pos += vtype_size(t);
        return 0;
    }

    if (depth >= MAX_ARRAY_DEPTH)
        return perr(p, at, "arrays nested deeper than %d levels", MAX_ARRAY_DEPTH);
    uint32_t et;
    uint64_t count;
    int rc = rd_u32(p, &et, "array element type");
    if (!rc) rc = rd_u64(p, &count, "array count");
    if (rc) return rc;
    if (et >= NUM_VTYPES)
        return perr(p, at, "array of unknown element type %u (known types are 0 to %u)", et,
                    NUM_VTYPES - 1);
    size_t left = p->len - p->pos, min = vtype_min_size(et);
    if (count > left / min)
        return perr(p, at,
                    "array of %llu %s elements cannot fit in the %zu bytes left in the file "
                    "(each needs at least %zu)",
                    (unsigned long long)count, vtype_name(et), left, min);
    if (kv) {
        kv->elem_type = et;
        kv->count = count;
        kv->elems_off = p->pos;
    }

    if (et == TA_GGUF_STRING) {
        /* The offset table costs 8 bytes per element, and each element takes at least
         * 8 bytes of the file: memory stays proportional to the file. */
        if (kv && count) {
            kv->str_offs = malloc((size_t)count * sizeof *kv->str_offs);
            if (!kv->str_offs) return ta_error_set(p->err, TA_ENOMEM, "out of memory");
        }
        for (uint64_t i = 0; i < count; i++) {
            size_t el = p->pos;
            if (p->len - el < 8) return need(p, 8, "string length");
            uint64_t len = ld64(p->base + el);
            if (len > p->len - el - 8)
                return perr(p, el,
                            "array element %llu: string length %llu runs past the end of the "
                            "file (%zu bytes left)",
                            (unsigned long long)i, (unsigned long long)len, p->len - el - 8);
            if (kv) kv->str_offs[i] = el;
            p->pos = el + 8 + (size_t)len;
        }
    } else if (et == TA_GGUF_ARRAY) {
        for (uint64_t i = 0; i < count; i++) {
            rc = parse_value(p, TA_GGUF_ARRAY, depth + 1, NULL);
            if (rc) return rc;
        }
    } else if (et == TA_GGUF_BOOL) {
        const uint8_t *b = p->base + p->pos;
        for (uint64_t i = 0; i < count; i++)
            if (b[i] > 1)
                return perr(p, p->pos + i, "array element %llu: bool value is %u, not 0 or 1",
                            (unsigned long long)i, b[i]);
        p->pos += (size_t)count;
    } else {
        p->pos += (size_t)count * min; /* count <= left / min */
    }
    return 0;
}

static int parse_header(parser *p, ta_gguf *g, uint64_t *n_tensors, uint64_t *n_kv)
{
    if (p->len >= 4 && memcmp(p->base, GGUF_MAGIC, 4)) {
        char magic[32];
        fmt_name(magic, sizeof magic, (const char *)p->base, 4);
        return perr(p, 0, "not a GGUF file (it starts with '%s', not 'GGUF')", magic);
    }
    if (p->len < HEADER_BYTES)
        return perr(p, 0, "file is %zu bytes, too small for a GGUF header (%u bytes)", p->len,
                    HEADER_BYTES);
    uint32_t v = ld32(p->base + 4);
    if (v == 1)
        return perr(p, 4,
                    "GGUF version 1 is not supported (it uses 32-bit counts and lengths); "
                    "convert the file with a current tool");
    if (!(v & 0xffffff) && (v >> 24) >= 1 && (v >> 24) <= 3)
        return perr(p, 4, "big-endian GGUF files are not supported (version field %u)", v >> 24);
    if (v != 2 && v != 3)
        return perr(p, 4, "unsupported GGUF version %u (this reader handles versions 2 and 3)", v);
    g->version = v;
    *n_tensors = ld64(p->base + 8);
    *n_kv = ld64(p->base + 16);
    p->pos = HEADER_BYTES;

    size_t left = p->len - p->pos;
    if (*n_kv > left / MIN_KV_BYTES)
        return perr(p, 16,
                    "kv_count %llu is impossible: each key-value pair needs at least %u bytes "
                    "and only %zu bytes follow the header",
                    (unsigned long long)*n_kv, MIN_KV_BYTES, left);
    if (*n_tensors > left / MIN_TENSOR_BYTES)
        return perr(p, 8,
                    "tensor_count %llu is impossible: each tensor info needs at least %u bytes "
                    "and only %zu bytes follow the header",
                    (unsigned long long)*n_tensors, MIN_TENSOR_BYTES, left);
    if (*n_kv * MIN_KV_BYTES + *n_tensors * MIN_TENSOR_BYTES > left) /* each term <= left */
        return perr(p, 8,
                    "tensor_count %llu and kv_count %llu need more than the %zu bytes that "
                    "follow the header",
                    (unsigned long long)*n_tensors, (unsigned long long)*n_kv, left);
    if (*n_kv > MAX_KV_COUNT)
        return perr(p, 16, "kv_count %llu is more than this reader accepts (%u)",
                    (unsigned long long)*n_kv, MAX_KV_COUNT);
    if (*n_tensors > MAX_TENSOR_COUNT)
        return perr(p, 8, "tensor_count %llu is more than this reader accepts (%u)",
                    (unsigned long long)*n_tensors, MAX_TENSOR_COUNT);
    return 0;
}

static int parse_kvs(parser *p, ta_gguf *g, uint64_t n)
{
    g->kv = calloc(n ? (size_t)n : 1, sizeof *g->kv);
    if (!g->kv || index_init(&g->kv_index, (size_t)n))
        return ta_error_set(p->err, TA_ENOMEM, "out of memory");
    g->n_kv = (size_t)n; /* entries not reached yet stay zero: safe to free */
    for (uint64_t i = 0; i < n; i++) {
        gkv *kv = &g->kv[i];
        kv->entry_off = p->pos;
        snprintf(p->where, sizeof p->where, "key #%llu at byte %zu", (unsigned long long)i, p->pos);
        int rc = rd_name(p, &kv->key_raw, &kv->key_len, "key");
        if (rc) return rc;
        char name[300];
        fmt_name(name, sizeof name, kv->key_raw, kv->key_len);
        snprintf(p->where, sizeof p->where, "key '%s' at byte %llu", name,
                 (unsigned long long)kv->entry_off);
        size_t first = index_add(&g->kv_index, kv->key_raw, kv->key_len, (size_t)i);
        if (first != SIZE_MAX)
            return perr(p, kv->entry_off, "duplicate key (first defined at byte %llu)",
                        (unsigned long long)g->kv[first].entry_off);
        rc = rd_u32(p, &kv->type, "value type");
        if (rc) return rc;
        kv->val_off = p->pos;
        rc = parse_value(p, kv->type, 0, kv);
        if (rc) return rc;
        kv->val_end = p->pos;
    }
    p->where[0] = '\0';
    return 0;
}

static int parse_alignment(parser *p, ta_gguf *g)
{
    g->alignment = TA_GGUF_DEFAULT_ALIGNMENT;
    size_t i = index_get(&g->kv_index, "general.alignment", 17);
    if (i == SIZE_MAX) return 0;
    const gkv *kv = &g->kv[i];
    snprintf(p->where, sizeof p->where, "key 'general.alignment' at byte %llu",
             (unsigned long long)kv->entry_off);
    if (kv->type != TA_GGUF_U32)
        return perr(p, kv->entry_off, "must be a u32, not a %s", vtype_name(kv->type));
    uint32_t a = ld32(p->base + kv->val_off);
    if (!is_pow2(a)) return perr(p, kv->val_off, "alignment %u is not a power of two", a);
    g->alignment = a;
    p->where[0] = '\0';
    return 0;
}

static int parse_tensor_infos(parser *p, ta_gguf *g, uint64_t n)
{
    g->tensors = calloc(n ? (size_t)n : 1, sizeof *g->tensors);
    if (!g->tensors || index_init(&g->tensor_index, (size_t)n))
        return ta_error_set(p->err, TA_ENOMEM, "out of memory");
    g->n_tensors = (size_t)n;
    for (uint64_t i = 0; i < n; i++) {
        gtensor *t = &g->tensors[i];
        ta_gguf_tensor *pt = &t->pub;
        t->info_off = p->pos;
        snprintf(p->where, sizeof p->where, "tensor info #%llu at byte %zu", (unsigned long long)i,
                 p->pos);
        int rc = rd_name(p, &t->name_raw, &t->name_len, "tensor name");
        if (rc) return rc;
        char name[300];
        fmt_name(name, sizeof name, t->name_raw, t->name_len);
        snprintf(p->where, sizeof p->where, "tensor '%s' (info at byte %llu)", name,
                 (unsigned long long)t->info_off);
        size_t first = index_add(&g->tensor_index, t->name_raw, t->name_len, (size_t)i);
        if (first != SIZE_MAX)
            return perr(p, t->info_off, "duplicate tensor name (first defined at byte %llu)",
                        (unsigned long long)g->tensors[first].info_off);

        size_t dims_at = p->pos;
        rc = rd_u32(p, &pt->n_dims, "n_dims");
        if (rc) return rc;
        if (pt->n_dims < 1 || pt->n_dims > TA_GGUF_MAX_DIMS)
            return perr(p, dims_at, "n_dims is %u; it must be 1 to %d", pt->n_dims,
                        TA_GGUF_MAX_DIMS);
        uint64_t n_elems = 1;
        bool zero = false, overflow = false;
        for (uint32_t d = 0; d < TA_GGUF_MAX_DIMS; d++) {
            pt->ne[d] = 1;
            if (d >= pt->n_dims) continue;
            size_t ne_at = p->pos;
            rc = rd_u64(p, &pt->ne[d], "dimension");
            if (rc) return rc;
            if (pt->ne[d] > INT64_MAX)
                return perr(p, ne_at, "dimension %u is %llu, larger than 2^63 - 1", d,
                            (unsigned long long)pt->ne[d]);
            /* A zero dimension anywhere makes the tensor empty, whatever the others. */
            if (!pt->ne[d])
                zero = true;
            else if (n_elems > INT64_MAX / pt->ne[d])
                overflow = true;
            else
                n_elems *= pt->ne[d];
        }
        if (zero)
            n_elems = 0;
        else if (overflow)
            return perr(p, dims_at,
                        "element count overflows: ne = [%llu, %llu, %llu, %llu] is more than "
                        "2^63 - 1 elements",
                        (unsigned long long)pt->ne[0], (unsigned long long)pt->ne[1],
                        (unsigned long long)pt->ne[2], (unsigned long long)pt->ne[3]);
        pt->n_elems = n_elems;

        size_t type_at = p->pos;
        rc = rd_u32(p, &pt->type, "tensor type");
        if (rc) return rc;
        const ta_type_traits *tt = ta_type_get(pt->type);
        if (!tt->block_bytes) return perr(p, type_at, "unknown tensor type %u", pt->type);
        if (pt->ne[0] % tt->block_elems)
            return perr(p, dims_at,
                        "row length ne[0] = %llu is not a multiple of the %s block size %u",
                        (unsigned long long)pt->ne[0], tt->name, tt->block_elems);
        uint64_t blocks = n_elems / tt->block_elems;
        if (blocks > UINT64_MAX / tt->block_bytes || blocks * tt->block_bytes > SIZE_MAX)
            return perr(p, dims_at, "size in bytes of %llu %s elements overflows",
                        (unsigned long long)n_elems, tt->name);
        pt->size = (size_t)(blocks * tt->block_bytes);

        rc = rd_u64(p, &pt->offset, "tensor data offset");
        if (rc) return rc;
    }
    p->where[0] = '\0';
    return 0;
}

static int cmp_by_offset(const void *a, const void *b)
{
    const ta_gguf_tensor *x = *(const ta_gguf_tensor *const *)a;
    const ta_gguf_tensor *y = *(const ta_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Places every tensor's data: aligned, inside the file, not shared with another. */
static int check_tensor_data(ta_gguf *g, ta_error *err)
{
    if (!g->n_tensors) return 0;
    if (g->data_start > g->len)
        return ta_error_set(err, TA_EINVAL,
                            "the data section would start at byte %llu (the end of the tensor "
                            "infos padded to %zu), past the end of the file (%zu bytes)",
                            (unsigned long long)g->data_start, g->alignment, g->len);
    uint64_t data_len = g->len - g->data_start;
    char name[300];
    for (size_t i = 0; i < g->n_tensors; i++) {
        ta_gguf_tensor *t = &g->tensors[i].pub;
        fmt_name(name, sizeof name, g->tensors[i].name_raw, g->tensors[i].name_len);
        if (t->offset % g->alignment)
            return ta_error_set(err, TA_EINVAL,
                                "tensor '%s': data offset %llu is not a multiple of the "
                                "alignment %zu",
                                name, (unsigned long long)t->offset, g->alignment);
        if (t->offset > data_len)
            return ta_error_set(err, TA_EINVAL,
                                "tensor '%s': data offset %llu is past the end of the file (the "
                                "data section holds %llu bytes from byte %llu)",
                                name, (unsigned long long)t->offset, (unsigned long long)data_len,
                                (unsigned long long)g->data_start);
        uint64_t start = g->data_start + t->offset;
        if (t->size > data_len - t->offset) {
            if (t->size > UINT64_MAX - start)
                return ta_error_set(err, TA_EINVAL,
                                    "tensor '%s': data of %zu bytes at byte %llu extends past "
                                    "the end of the file (%zu bytes)",
                                    name, t->size, (unsigned long long)start, g->len);
            return ta_error_set(err, TA_EINVAL,
                                "tensor '%s': data [%llu, %llu) extends past the end of the file "
                                "(%zu bytes)",
                                name, (unsigned long long)start,
                                (unsigned long long)(start + t->size), g->len);
        }
        t->data = g->base + start;
    }

    /* Overlaps: sort the tensors that own bytes by offset and compare neighbours. */
    const ta_gguf_tensor **order = malloc(g->n_tensors * sizeof *order);
    if (!order) return ta_error_set(err, TA_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].pub.size) order[n++] = &g->tensors[i].pub;
    qsort(order, n, sizeof *order, cmp_by_offset);
    int rc = 0;
    for (size_t i = 1; i < n && !rc; i++) {
        const ta_gguf_tensor *a = order[i - 1], *b = order[i];
        if (a->offset + a->size <= b->offset) continue;
        /* Name the one that appears later in the file's list as the offender. */
        const gtensor *ga = (const gtensor *)a, *gb = (const gtensor *)b;
        if (ga > gb) {
            const gtensor *tmp = ga;
            ga = gb;
            gb = tmp;
        }
        char other[300];
        fmt_name(name, sizeof name, gb->name_raw, gb->name_len);
        fmt_name(other, sizeof other, ga->name_raw, ga->name_len);
        rc = ta_error_set(err, TA_EINVAL,
                          "tensor '%s': data [%llu, %llu) overlaps tensor '%s' [%llu, %llu)", name,
                          (unsigned long long)(g->data_start + gb->pub.offset),
                          (unsigned long long)(g->data_start + gb->pub.offset + gb->pub.size),
                          other, (unsigned long long)(g->data_start + ga->pub.offset),
                          (unsigned long long)(g->data_start + ga->pub.offset + ga->pub.size));
    }
    free(order);
    return rc;
}

/* NUL-terminated copies of every key and tensor name, in one allocation. */
static int copy_names(ta_gguf *g, ta_error *err)
{
    size_t total = 1; /* each name is at most the file size; the sum of all fits too */
    for (size_t i = 0; i < g->n_kv; i++)
        total += g->kv[i].key_len + 1;
    for (size_t i = 0; i < g->n_tensors; i++)
        total += g->tensors[i].name_len + 1;
    char *s = g->names = malloc(total);
    if (!s) return ta_error_set(err, TA_ENOMEM, "out of memory");
    for (size_t i = 0; i < g->n_kv; i++) {
        memcpy(s, g->kv[i].key_raw, g->kv[i].key_len);
        s[g->kv[i].key_len] = '\0';
        g->kv[i].key = s;
        s += g->kv[i].key_len + 1;
    }
    for (size_t i = 0; i < g->n_tensors; i++) {
        memcpy(s, g->tensors[i].name_raw, g->tensors[i].name_len);
        s[g->tensors[i].name_len] = '\0';
        g->tensors[i].pub.name = s;
        s += g->tensors[i].name_len + 1;
    }
    return 0;
}

static int parse(ta_gguf *g, ta_error *err)
{
    parser p = {.base = g->base, .len = g->len, .err = err};
    uint64_t n_tensors = 0, n_kv = 0;
    int rc = parse_header(&p, g, &n_tensors, &n_kv);
    if (!rc) rc = parse_kvs(&p, g, n_kv);
    if (!rc) rc = parse_alignment(&p, g);
    if (!rc) rc = parse_tensor_infos(&p, g, n_tensors);
    if (rc) return rc;
    if (!align_up(p.pos, g->alignment, &g->data_start)) /* p.pos <= len: cannot fail */
        return ta_error_set(err, TA_EINVAL, "data section offset overflows");
    rc = check_tensor_data(g, err);
    if (!rc) rc = copy_names(g, err);
    return rc;
}

void ta_gguf_close(ta_gguf *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n_kv; i++)
        free(g->kv[i].str_offs);
    free(g->kv);
    free(g->kv_index.slots);
    free(g->tensors);
    free(g->tensor_index.slots);
    free(g->names);
    if (g->map) munmap(g->map, g->len);
    free(g);
}

ta_gguf *ta_gguf_open_memory(const void *buf, size_t len, ta_error *err)
{
    if (!buf && len) {
        ta_error_set(err, TA_EINVAL, "no buffer");
        return NULL;
    }
    ta_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    static const uint8_t empty[1];
    g->base = buf ? buf : empty;
    g->len = len;
    if (parse(g, err)) {
        ta_gguf_close(g);
        return NULL;
    }
    return g;
}

ta_gguf *ta_gguf_open(const char *path, ta_error *err)
{
    if (!path) {
        ta_error_set(err, TA_EINVAL, "no path");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        ta_error_set(err, e == ENOENT ? TA_ENOTFOUND : TA_EIO, "%s: cannot open: %s", path,
                     strerror(e));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        ta_error_set(err, TA_EIO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        ta_error_set(err, TA_EINVAL, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        ta_error_set(err, TA_EINVAL, "%s: file too large to map", path);
        close(fd);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    if (len == 0) { /* mmap refuses length 0; the parser gives the message */
        close(fd);
        ta_gguf *g = ta_gguf_open_memory("", 0, err);
        if (!g) ta_error_prefix(err, "%s: ", path);
        return g;
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) {
        ta_error_set(err, TA_EIO, "%s: cannot map %zu bytes: %s", path, len, strerror(map_errno));
        return NULL;
    }
    ta_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        munmap(map, len);
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    g->base = map;
    g->len = len;
    g->map = map;
    if (parse(g, err)) {
        ta_error_prefix(err, "%s: ", path);
        ta_gguf_close(g);
        return NULL;
    }
    return g;
}

void ta_gguf_prefetch(ta_gguf *g)
{
    if (g && g->map) madvise(g->map, g->len, MADV_WILLNEED);
}

int ta_gguf_lock(ta_gguf *g, ta_error *err)
{
    if (!g || !g->map) return TA_OK;
    if (mlock(g->map, g->len) != 0)
        return ta_error_set(err, TA_EIO, "cannot lock %zu bytes of model in memory: %s", g->len,
                            strerror(errno));
    return TA_OK;
}

uint32_t ta_gguf_version(const ta_gguf *g)
{
    return g ? g->version : 0;
}

size_t ta_gguf_alignment(const ta_gguf *g)
{
    return g ? g->alignment : 0;
}

size_t ta_gguf_file_size(const ta_gguf *g)
{
    return g ? g->len : 0;
}

/* ---- metadata ---- */

size_t ta_gguf_kv_count(const ta_gguf *g)
{
    return g ? g->n_kv : 0;
}

const char *ta_gguf_kv_key(const ta_gguf *g, size_t i)
{
    return g && i < g->n_kv ? g->kv[i].key : NULL;
}

ta_gguf_vtype ta_gguf_kv_type(const ta_gguf *g, size_t i)
{
    /* Out of range gives a number no type has; callers should not ask. */
    return g && i < g->n_kv ? (ta_gguf_vtype)g->kv[i].type : (ta_gguf_vtype)NUM_VTYPES;
}

int64_t ta_gguf_find(const ta_gguf *g, const char *key)
{
    if (!g || !key) return -1;
    size_t i = index_get(&g->kv_index, key, strlen(key));
    return i == SIZE_MAX ? -1 : (int64_t)i;
}

static const gkv *find_kv(const ta_gguf *g, const char *key)
{
    int64_t i = ta_gguf_find(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

/* A fixed-size integer value at p of type t, as a signed or unsigned 64-bit number.
 * *neg is set for negative values (then *v holds them as int64 two's complement). */
static void load_int(const uint8_t *p, uint32_t t, uint64_t *v, bool *neg)
{
    int64_t s = 0;
    *neg = false;
    switch (t) {
    case TA_GGUF_U8: *v = p[0]; return;
    case TA_GGUF_U16: *v = ld16(p); return;
    case TA_GGUF_U32: *v = ld32(p); return;
    case TA_GGUF_U64: *v = ld64(p); return;
    case TA_GGUF_I8: s = (int8_t)p[0]; break;
    case TA_GGUF_I16: s = (int16_t)ld16(p); break;
    case TA_GGUF_I32: s = (int32_t)ld32(p); break;
    case TA_GGUF_I64: s = (int64_t)ld64(p); break;
    default: *v = 0; return;
    }
    *neg = s < 0;
    *v = (uint64_t)s;
}

static bool get_int(const ta_gguf *g, const char *key, uint64_t *v, bool *neg)
{
    const gkv *kv = find_kv(g, key);
    if (!kv || !vtype_is_int(kv->type)) return false;
    load_int(g->base + kv->val_off, kv->type, v, neg);
    return true;
}

bool ta_gguf_get_u32(const ta_gguf *g, const char *key, uint32_t *out)
{
    uint64_t v;
    bool neg;
    if (!get_int(g, key, &v, &neg) || neg || v > UINT32_MAX) return false;
    if (out) *out = (uint32_t)v;
    return true;
}

bool ta_gguf_get_u64(const ta_gguf *g, const char *key, uint64_t *out)
{
    uint64_t v;
    bool neg;
    if (!get_int(g, key, &v, &neg) || neg) return false;
    if (out) *out = v;
    return true;
}

bool ta_gguf_get_i64(const ta_gguf *g, const char *key, int64_t *out)
{
    uint64_t v;
    bool neg;
    if (!get_int(g, key, &v, &neg) || (!neg && v > INT64_MAX)) return false;
    if (out) *out = (int64_t)v;
    return true;
}

static float ldf32(const uint8_t *p)
{
    uint32_t u = ld32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double ldf64(const uint8_t *p)
{
    uint64_t u = ld64(p);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

bool ta_gguf_get_f32(const ta_gguf *g, const char *key, float *out)
{
    const gkv *kv = find_kv(g, key);
    if (!kv) return false;
    float f;
    if (kv->type == TA_GGUF_F32)
        f = ldf32(g->base + kv->val_off);
    else if (kv->type == TA_GGUF_F64)
        f = (float)ldf64(g->base + kv->val_off);
    else
        return false;
    if (out) *out = f;
    return true;
}

bool ta_gguf_get_bool(const ta_gguf *g, const char *key, bool *out)
{
    const gkv *kv = find_kv(g, key);
    if (!kv || kv->type != TA_GGUF_BOOL) return false;
    if (out) *out = g->base[kv->val_off] != 0;
    return true;
}

bool ta_gguf_get_str(const ta_gguf *g, const char *key, ta_gguf_str *out)
{
    const gkv *kv = find_kv(g, key);
    if (!kv || kv->type != TA_GGUF_STRING) return false;
    if (out) {
        out->len = ld64(g->base + kv->val_off);
        out->ptr = (const char *)g->base + kv->val_off + 8;
    }
    return true;
}

bool ta_gguf_get_array(const ta_gguf *g, const char *key, ta_gguf_vtype *elem_type, uint64_t *count)
{
    const gkv *kv = find_kv(g, key);
    if (!kv || kv->type != TA_GGUF_ARRAY) return false;
    if (elem_type) *elem_type = (ta_gguf_vtype)kv->elem_type;
    if (count) *count = kv->count;
    return true;
}

static const gkv *find_array(const ta_gguf *g, const char *key, uint64_t i)
{
    const gkv *kv = find_kv(g, key);
    return kv && kv->type == TA_GGUF_ARRAY && i < kv->count ? kv : NULL;
}

bool ta_gguf_array_str(const ta_gguf *g, const char *key, uint64_t i, ta_gguf_str *out)
{
    const gkv *kv = find_array(g, key, i);
    if (!kv || kv->elem_type != TA_GGUF_STRING) return false;
    if (out) {
        const uint8_t *p = g->base + kv->str_offs[i];
        out->len = ld64(p);
        out->ptr = (const char *)p + 8;
    }
    return true;
}

bool ta_gguf_array_i64(const ta_gguf *g, const char *key, uint64_t i, int64_t *out)
{
    const gkv *kv = find_array(g, key, i);
    if (!kv) return false;
    const uint8_t *p = g->base + kv->elems_off + i * vtype_size(kv->elem_type);
    int64_t r;
    if (kv->elem_type == TA_GGUF_BOOL) {
        r = p[0]; /* 0 or 1, checked at open */
    } else if (vtype_is_int(kv->elem_type)) {
        uint64_t v;
        bool neg;
        load_int(p, kv->elem_type, &v, &neg);
        if (!neg && v > INT64_MAX) return false;
        r = (int64_t)v;
    } else {
        return false;
    }
    if (out) *out = r;
    return true;
}

bool ta_gguf_array_f64(const ta_gguf *g, const char *key, uint64_t i, double *out)
{
    const gkv *kv = find_array(g, key, i);
    if (!kv) return false;
    double d;
    if (kv->elem_type == TA_GGUF_F32)
        d = ldf32(g->base + kv->elems_off + i * 4);
    else if (kv->elem_type == TA_GGUF_F64)
        d = ldf64(g->base + kv->elems_off + i * 8);
    else
        return false;
    if (out) *out = d;
    return true;
}

/* ---- tensors ---- */

size_t ta_gguf_tensor_count(const ta_gguf *g)
{
    return g ? g->n_tensors : 0;
}

const ta_gguf_tensor *ta_gguf_tensor_at(const ta_gguf *g, size_t i)
{
    return g && i < g->n_tensors ? &g->tensors[i].pub : NULL;
}

const ta_gguf_tensor *ta_gguf_tensor_find(const ta_gguf *g, const char *name)
{
    if (!g || !name) return NULL;
    size_t i = index_get(&g->tensor_index, name, strlen(name));
    return i == SIZE_MAX ? NULL : &g->tensors[i].pub;
}

/* ------------------------------------------------------------------------------------ */
/* Writer                                                                                */
/* ------------------------------------------------------------------------------------ */

typedef struct wkv {
    char *key;
    size_t key_len;
    uint32_t type;
    uint8_t *raw; /* the value exactly as it goes in the file (after the type) */
    size_t raw_len;
} wkv;

typedef struct wtensor {
    char *name;
    size_t name_len;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[TA_GGUF_MAX_DIMS];
    void *data;
    size_t size;
    uint64_t offset; /* assigned by ta_gguf_writer_write */
} wtensor;

struct ta_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    name_index t_index; /* tensor names, to refuse duplicates quickly */
};

ta_gguf_writer *ta_gguf_writer_new(void)
{
    return calloc(1, sizeof(ta_gguf_writer));
}

void ta_gguf_writer_free(ta_gguf_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].raw);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->kv);
    free(w->t);
    free(w->t_index.slots);
    free(w);
}

static bool name_ok(const char *s)
{
    if (!s || !s[0]) return false;
    return strnlen(s, MAX_NAME_BYTES + 1) <= MAX_NAME_BYTES;
}

/* Stores (key, type, raw value) - replacing an earlier value of the same key in place -
 * taking ownership of raw. */
static int set_raw_owned(ta_gguf_writer *w, const char *key, uint32_t type, uint8_t *raw,
                         size_t raw_len)
{
    if (!w || !name_ok(key)) {
        free(raw);
        return TA_EINVAL;
    }
    size_t key_len = strlen(key);
    for (size_t i = 0; i < w->n_kv; i++) {
        wkv *kv = &w->kv[i];
        if (kv->key_len == key_len && !memcmp(kv->key, key, key_len)) {
            free(kv->raw);
            kv->type = type;
            kv->raw = raw;
            kv->raw_len = raw_len;
            return 0;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *n = realloc(w->kv, cap * sizeof *n);
        if (!n) {
            free(raw);
            return TA_ENOMEM;
        }
        w->kv = n;
        w->cap_kv = cap;
    }
    char *k = malloc(key_len + 1);
    if (!k) {
        free(raw);
        return TA_ENOMEM;
    }
    memcpy(k, key, key_len + 1);
    w->kv[w->n_kv++] = (wkv){k, key_len, type, raw, raw_len};
    return 0;
}

static int set_raw(ta_gguf_writer *w, const char *key, uint32_t type, const void *raw,
                   size_t raw_len)
{
    uint8_t *copy = malloc(raw_len ? raw_len : 1);
    if (!copy) return TA_ENOMEM;
    if (raw_len) memcpy(copy, raw, raw_len);
    return set_raw_owned(w, key, type, copy, raw_len);
}

int ta_gguf_writer_set_u32(ta_gguf_writer *w, const char *key, uint32_t v)
{
    /* Refuse an alignment the reader would refuse, at the call that sets it. */
    if (key && !strcmp(key, "general.alignment") && !is_pow2(v)) return TA_EINVAL;
    uint8_t b[4];
    st32(b, v);
    return set_raw(w, key, TA_GGUF_U32, b, 4);
}

int ta_gguf_writer_set_i32(ta_gguf_writer *w, const char *key, int32_t v)
{
    uint8_t b[4];
    st32(b, (uint32_t)v);
    return set_raw(w, key, TA_GGUF_I32, b, 4);
}

int ta_gguf_writer_set_u64(ta_gguf_writer *w, const char *key, uint64_t v)
{
    uint8_t b[8];
    st64(b, v);
    return set_raw(w, key, TA_GGUF_U64, b, 8);
}

int ta_gguf_writer_set_f32(ta_gguf_writer *w, const char *key, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    uint8_t b[4];
    st32(b, u);
    return set_raw(w, key, TA_GGUF_F32, b, 4);
}

int ta_gguf_writer_set_bool(ta_gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v ? 1 : 0;
    return set_raw(w, key, TA_GGUF_BOOL, &b, 1);
}

int ta_gguf_writer_set_str(ta_gguf_writer *w, const char *key, const char *s, size_t len)
{
    if (!s && len) return TA_EINVAL;
    if (len > SIZE_MAX - 8) return TA_EINVAL;
    uint8_t *raw = malloc(8 + len);
    if (!raw) return TA_ENOMEM;
    st64(raw, len);
    if (len) memcpy(raw + 8, s, len);
    return set_raw_owned(w, key, TA_GGUF_STRING, raw, 8 + len);
}

int ta_gguf_writer_set_array(ta_gguf_writer *w, const char *key, ta_gguf_vtype elem_type,
                             const void *data, uint64_t count)
{
    size_t es = vtype_size((uint32_t)elem_type);
    if (!es) return TA_EINVAL; /* strings: set_str_array; nested arrays: not here */
    if (count > (SIZE_MAX - 12) / es || (!data && count)) return TA_EINVAL;
    size_t bytes = (size_t)count * es;
    if (elem_type == TA_GGUF_BOOL)
        for (size_t i = 0; i < bytes; i++)
            if (((const uint8_t *)data)[i] > 1) return TA_EINVAL;
    uint8_t *raw = malloc(12 + bytes);
    if (!raw) return TA_ENOMEM;
    st32(raw, (uint32_t)elem_type);
    st64(raw + 4, count);
    /* Elements are already little-endian (the header says "packed little-endian"). */
    if (bytes) memcpy(raw + 12, data, bytes);
    return set_raw_owned(w, key, TA_GGUF_ARRAY, raw, 12 + bytes);
}

int ta_gguf_writer_set_str_array(ta_gguf_writer *w, const char *key, const char *const *strs,
                                 const size_t *lens, uint64_t count)
{
    if (count && !strs) return TA_EINVAL;
    if (count > (SIZE_MAX - 12) / 8) return TA_EINVAL;
    size_t total = 12;
    for (uint64_t i = 0; i < count; i++) {
        if (!strs[i] && (!lens || lens[i])) return TA_EINVAL;
        size_t len = lens ? lens[i] : strlen(strs[i]);
        if (len > SIZE_MAX - 8 - total) return TA_EINVAL;
        total += 8 + len;
    }
    uint8_t *raw = malloc(total), *p = raw + 12;
    if (!raw) return TA_ENOMEM;
    st32(raw, TA_GGUF_STRING);
    st64(raw + 4, count);
    for (uint64_t i = 0; i < count; i++) {
        size_t len = lens ? lens[i] : strlen(strs[i]);
        st64(p, len);
        if (len) memcpy(p + 8, strs[i], len);
        p += 8 + len;
    }
    return set_raw_owned(w, key, TA_GGUF_ARRAY, raw, total);
}

int ta_gguf_writer_copy_kv(ta_gguf_writer *w, const ta_gguf *g, const char *prefix)
{
    if (!w || !g) return TA_EINVAL;
    size_t plen = prefix ? strlen(prefix) : 0;
    for (size_t i = 0; i < g->n_kv; i++) {
        const gkv *kv = &g->kv[i];
        if (plen && (kv->key_len < plen || memcmp(kv->key, prefix, plen))) continue;
        /* The value bytes were validated at open; copying them keeps every type,
         * string arrays and nested arrays included, exactly as they were. */
        int rc = set_raw(w, kv->key, kv->type, g->base + kv->val_off,
                         (size_t)(kv->val_end - kv->val_off));
        if (rc) return rc;
    }
    return 0;
}

int ta_gguf_writer_add_tensor(ta_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                              const uint64_t *ne, const void *data, size_t size)
{
    if (!w || !name_ok(name) || !ne || n_dims < 1 || n_dims > TA_GGUF_MAX_DIMS) return TA_EINVAL;
    const ta_type_traits *tt = ta_type_get(type);
    if (!tt->block_bytes || ne[0] % tt->block_elems) return TA_EINVAL;
    uint64_t n = 1;
    bool zero = false, overflow = false;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] > INT64_MAX) return TA_EINVAL;
        if (!ne[d])
            zero = true;
        else if (n > INT64_MAX / ne[d])
            overflow = true;
        else
            n *= ne[d];
    }
    if (zero)
        n = 0;
    else if (overflow)
        return TA_EINVAL;
    uint64_t blocks = n / tt->block_elems;
    if (blocks > SIZE_MAX / tt->block_bytes || size != blocks * tt->block_bytes) return TA_EINVAL;
    if (size && !data) return TA_EINVAL;

    size_t name_len = strlen(name);
    if (!w->t_index.slots || 2 * (w->n_t + 1) > w->t_index.mask + 1) {
        /* Grow the index (it points at the writer's own name copies, so rebuild). */
        name_index bigger;
        if (index_init(&bigger, 2 * (w->n_t + 1))) return TA_ENOMEM;
        for (size_t i = 0; i < w->n_t; i++)
            index_add(&bigger, w->t[i].name, w->t[i].name_len, i);
        free(w->t_index.slots);
        w->t_index = bigger;
    }
    if (index_get(&w->t_index, name, name_len) != SIZE_MAX) return TA_EINVAL;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 16;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) return TA_ENOMEM;
        w->t = nt;
        w->cap_t = cap;
    }
    wtensor t = {.type = type, .n_dims = n_dims, .size = size, .name_len = name_len};
    for (uint32_t d = 0; d < TA_GGUF_MAX_DIMS; d++)
        t.ne[d] = d < n_dims ? ne[d] : 1;
    t.name = malloc(name_len + 1);
    t.data = malloc(size ? size : 1);
    if (!t.name || !t.data) {
        free(t.name);
        free(t.data);
        return TA_ENOMEM;
    }
    memcpy(t.name, name, name_len + 1);
    if (size) memcpy(t.data, data, size);
    w->t[w->n_t] = t;
    index_add(&w->t_index, w->t[w->n_t].name, name_len, w->n_t);
    w->n_t++;
    return 0;
}

/* Buffered output to a file descriptor; the first error sticks. */
typedef struct out {
    int fd;
    int err; /* errno of the first failure, 0 when fine */
    uint8_t buf[1 << 16];
    size_t n;
} out;

static void out_raw(out *o, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n && !o->err) {
        ssize_t k = write(o->fd, b, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            o->err = errno;
            return;
        }
        b += k;
        n -= (size_t)k;
    }
}

static void out_flush(out *o)
{
    out_raw(o, o->buf, o->n);
    o->n = 0;
}

static void out_bytes(out *o, const void *p, size_t n)
{
    if (n > sizeof o->buf - o->n) {
        out_flush(o);
        if (n >= sizeof o->buf) {
            out_raw(o, p, n);
            return;
        }
    }
    memcpy(o->buf + o->n, p, n);
    o->n += n;
}

static void out_u32(out *o, uint32_t v)
{
    uint8_t b[4];
    st32(b, v);
    out_bytes(o, b, 4);
}

static void out_u64(out *o, uint64_t v)
{
    uint8_t b[8];
    st64(b, v);
    out_bytes(o, b, 8);
}

static void out_zeros(out *o, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        out_bytes(o, zeros, k);
        n -= k;
    }
}

/* The alignment the writer will use: general.alignment when set, else the default. */
static int writer_alignment(const ta_gguf_writer *w, uint64_t *align, ta_error *err)
{
    *align = TA_GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment")) continue;
        uint32_t a = w->kv[i].type == TA_GGUF_U32 ? ld32(w->kv[i].raw) : 0;
        if (!is_pow2(a))
            return ta_error_set(err, TA_EINVAL,
                                "general.alignment must be a u32 power of two (it is a %s)",
                                vtype_name(w->kv[i].type));
        *align = a;
    }
    return 0;
}

static void write_all(ta_gguf_writer *w, out *o, uint64_t align, uint64_t header_bytes)
{
    out_bytes(o, GGUF_MAGIC, 4);
    out_u32(o, 3);
    out_u64(o, w->n_t);
    out_u64(o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        out_u64(o, w->kv[i].key_len);
        out_bytes(o, w->kv[i].key, w->kv[i].key_len);
        out_u32(o, w->kv[i].type);
        out_bytes(o, w->kv[i].raw, w->kv[i].raw_len);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        out_u64(o, t->name_len);
        out_bytes(o, t->name, t->name_len);
        out_u32(o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            out_u64(o, t->ne[d]);
        out_u32(o, t->type);
        out_u64(o, t->offset);
    }
    uint64_t pos = header_bytes, next;
    align_up(pos, align, &next); /* checked by the caller */
    out_zeros(o, next - pos);
    pos = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        out_zeros(o, t->offset - pos);
        out_bytes(o, t->data, t->size);
        pos = t->offset + t->size;
    }
    /* Pad the last tensor too, as other writers do, so the file ends aligned. */
    align_up(pos, align, &next);
    out_zeros(o, next - pos);
    out_flush(o);
}

int ta_gguf_writer_write(ta_gguf_writer *w, const char *path, ta_error *err)
{
    if (!w || !path) return ta_error_set(err, TA_EINVAL, "no writer or path");
    uint64_t align;
    int rc = writer_alignment(w, &align, err);
    if (rc) return rc;

    /* Lay out: header and infos, padding, then each tensor at an aligned offset. */
    uint64_t header = HEADER_BYTES, pos = 0;
    for (size_t i = 0; i < w->n_kv; i++)
        header += 8 + w->kv[i].key_len + 4 + w->kv[i].raw_len;
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        header += 8 + t->name_len + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
        t->offset = pos;
        if (t->size > UINT64_MAX - pos || !align_up(pos + t->size, align, &pos))
            return ta_error_set(err, TA_EINVAL, "tensor data too large");
    }
    uint64_t data_start;
    if (!align_up(header, align, &data_start) || pos > UINT64_MAX - data_start)
        return ta_error_set(err, TA_EINVAL, "file too large");

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    out *o = malloc(sizeof *o);
    if (!tmp || !o) {
        free(tmp);
        free(o);
        return ta_error_set(err, TA_ENOMEM, "out of memory");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = ta_error_set(err, TA_EIO, "%s: cannot create a temporary file: %s", path,
                          strerror(errno));
        goto done;
    }
    fchmod(fd, 0644); /* mkstemp makes 0600; a model file is not a secret */
    o->fd = fd;
    o->err = 0;
    o->n = 0;
    write_all(w, o, align, header);
    if (!o->err && fsync(fd) < 0) o->err = errno;
    if (close(fd) < 0 && !o->err) o->err = errno;
    if (!o->err && rename(tmp, path) < 0) o->err = errno;
    if (o->err) {
        rc = ta_error_set(err, TA_EIO, "%s: cannot write: %s", path, strerror(o->err));
        unlink(tmp);
        goto done;
    }
    /* Make the rename itself durable. */
    char *slash = strrchr(tmp, '/');
    const char *dir = ".";
    if (slash) {
        *slash = '\0';
        dir = slash == tmp ? "/" : tmp;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
done:
    free(tmp);
    free(o);
    return rc;
}
