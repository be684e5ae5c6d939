/*
 * tok_util.c - the tokenizer's building blocks: a string table with a hash index (token
 * text -> id), a min-heap of symbol pairs, a byte buffer and UTF-8 helpers.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ---- hashing ---- */

/* 64-bit FNV-1a with a final avalanche; token texts are short, so byte-at-a-time is
 * fine, and the mix keeps the low bits (the slot index) well distributed. */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* ---- string table ---- */

void tok_strtab_free(tok_strtab *st)
{
    free(st->arena);
    free(st->off);
    free(st->len);
    free(st->slots);
    memset(st, 0, sizeof *st);
}

static bool strtab_equal(const tok_strtab *st, uint32_t id, const char *s, size_t n)
{
    return st->len[id] == n && memcmp(st->arena + st->off[id], s, n) == 0;
}

/* Rebuilds the index with twice the slots (kept at most half full). */
static int strtab_grow_index(tok_strtab *st)
{
    size_t nslots = st->slots ? ((size_t)st->mask + 1) * 2 : 1024;
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots) return TA_ENOMEM;
    uint32_t mask = (uint32_t)(nslots - 1);
    if (st->slots) {
        for (size_t i = 0; i <= st->mask; i++) {
            uint32_t v = st->slots[i];
            if (!v) continue;
            uint32_t id = v - 1;
            uint64_t h = hash_bytes(st->arena + st->off[id], st->len[id]);
            size_t j = h & mask;
            while (slots[j])
                j = (j + 1) & mask;
            slots[j] = v;
        }
    }
    free(st->slots);
    st->slots = slots;
    st->mask = mask;
    return 0;
}

/* Slot holding this text, or the empty slot where it would go. */
static size_t strtab_slot(const tok_strtab *st, const char *s, size_t n)
{
    size_t j = hash_bytes(s, n) & st->mask;
    for (;;) {
        uint32_t v = st->slots[j];
        if (!v || strtab_equal(st, v - 1, s, n)) return j;
        j = (j + 1) & st->mask;
    }
}

int32_t tok_strtab_find(const tok_strtab *st, const char *s, size_t n)
{
    if (!st->slots) return -1;
    uint32_t v = st->slots[strtab_slot(st, s, n)];
    return v ? (int32_t)(v - 1) : -1;
}

int32_t tok_strtab_push(tok_strtab *st, const char *s, size_t n)
{
    if (st->count >= INT32_MAX - 1 || n > UINT32_MAX) return -1;
    if (st->arena_len + n > UINT32_MAX) return -1; /* offsets are 32-bit */
    if (!st->slots || (size_t)(st->count + 1) * 2 > (size_t)st->mask + 1) {
        if (strtab_grow_index(st)) return -1;
    }
    if (st->count == st->cap) {
        uint32_t cap = st->cap ? st->cap * 2 : 1024;
        uint32_t *off = realloc(st->off, (size_t)cap * sizeof *off);
        if (!off) return -1;
        st->off = off;
        uint32_t *len = realloc(st->len, (size_t)cap * sizeof *len);
        if (!len) return -1;
        st->len = len;
        st->cap = cap;
    }
    if (st->arena_len + n > st->arena_cap) {
        size_t cap = st->arena_cap ? st->arena_cap : 65536;
        while (cap < st->arena_len + n)
            cap *= 2;
        char *a = realloc(st->arena, cap);
        if (!a) return -1;
        st->arena = a;
        st->arena_cap = cap;
    }
    if (n) memcpy(st->arena + st->arena_len, s, n);
    uint32_t id = st->count++;
    st->off[id] = (uint32_t)st->arena_len;
    st->len[id] = (uint32_t)n;
    st->arena_len += n;
    st->slots[strtab_slot(st, s, n)] = id + 1; /* a duplicate text now maps here */
    return (int32_t)id;
}

int32_t tok_strtab_intern(tok_strtab *st, const char *s, size_t n)
{
    int32_t id = tok_strtab_find(st, s, n);
    return id >= 0 ? id : tok_strtab_push(st, s, n);
}

/* ---- heap ---- */

#define HEAP_ARITY 8

int tok_heap_push(tok_heap *h, uint64_t key)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        uint64_t *v = realloc(h->v, cap * sizeof *v);
        if (!v) return TA_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->len++;
    while (i > 0) {
        size_t parent = (i - 1) / HEAP_ARITY;
        if (h->v[parent] <= key) break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = key;
    return 0;
}

uint64_t tok_heap_pop(tok_heap *h)
{
    /* Bottom-up: move the hole at the root down to a leaf along the smallest children,
     * then sift the last element up from there. The last element almost always belongs
     * near the bottom, so this saves most of the comparisons of a plain sift-down. */
    uint64_t top = h->v[0];
    size_t n = --h->len;
    if (n == 0) return top;
    uint64_t last = h->v[n];
    size_t i = 0;
    for (;;) {
        size_t c = HEAP_ARITY * i + 1;
        if (c >= n) break;
        size_t best = c, end = c + HEAP_ARITY < n ? c + HEAP_ARITY : n;
        for (size_t k = c + 1; k < end; k++)
            if (h->v[k] < h->v[best]) best = k;
        h->v[i] = h->v[best];
        i = best;
    }
    while (i > 0) {
        size_t parent = (i - 1) / HEAP_ARITY;
        if (h->v[parent] <= last) break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = last;
    return top;
}

/* ---- buffers ---- */

int tok_buf_reserve(tok_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len) return TA_ENOMEM;
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return TA_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int tok_buf_put(tok_buf *b, const void *s, size_t n)
{
    if (tok_buf_reserve(b, n)) return TA_ENOMEM;
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

int tok_ids_push(ta_tok_ids *v, int32_t id)
{
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->ids, cap * sizeof *p);
        if (!p) return TA_ENOMEM;
        v->ids = p;
        v->cap = cap;
    }
    v->ids[v->len++] = id;
    return 0;
}

void ta_tok_ids_free(ta_tok_ids *v)
{
    if (!v) return;
    free(v->ids);
    v->ids = NULL;
    v->len = v->cap = 0;
}

/* ---- UTF-8 ---- */

size_t tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

size_t tok_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int tok_utf8_sanitize(tok_buf *b, const char *s, size_t n)
{
    if (tok_buf_reserve(b, n)) return TA_ENOMEM;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* Copy runs of ASCII and valid sequences in one go. */
        size_t start = i;
        uint32_t cp;
        size_t k = 0;
        while (i < n && (u[i] < 0x80 || (k = tok_utf8_decode(u + i, n - i, &cp)) != 0))
            i += u[i] < 0x80 ? 1 : k;
        if (tok_buf_put(b, s + start, i - start)) return TA_ENOMEM;
        if (i < n) {
            if (tok_buf_put(b, "\xEF\xBF\xBD", 3)) return TA_ENOMEM;
            i++;
        }
    }
    return 0;
}

bool tok_is_whitespace(uint32_t cp)
{
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return cp >= 0x2000 && cp <= 0x200A;
    }
}
