/*
 * jinja_value.c - the arena and the value model of the Jinja interpreter: lists,
 * ordered dicts, strings, JSON in, and the three ways a value is written out (str as
 * Jinja prints it, repr inside containers, JSON as transformers' tojson).
 */
#include "jinja_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

struct jblock {
    jblock *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define JA_BLOCK 65536u

void *ja_alloc(jarena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    jblock *b = a->head;
    if (b && b->cap - b->used >= n) {
        void *p = b->data + b->used;
        b->used += n;
        return p;
    }
    size_t cap = n > JA_BLOCK / 4 ? n : JA_BLOCK;
    if (cap > SIZE_MAX - sizeof(jblock)) return NULL;
    if (a->limit && (a->used + cap + sizeof(jblock) > a->limit)) return NULL;
    jblock *nb = malloc(sizeof(jblock) + cap);
    if (!nb) return NULL;
    a->used += cap + sizeof(jblock);
    nb->cap = cap;
    nb->used = n;
    /* a big one-off block goes behind the head, so the head keeps its free room */
    if (b && cap != JA_BLOCK) {
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        a->head = nb;
    }
    return nb->data;
}

void *ja_zalloc(jarena *a, size_t n)
{
    void *p = ja_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

void ja_release(jarena *a)
{
    jblock *b = a->head;
    while (b) {
        jblock *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
}

/* ---- render errors and budgets ---- */

int jr_fail(jrender *r, const jnode *at, int code, const char *fmt, ...)
{
    if (r->failed) return -1; /* the first error is the one that explains */
    r->failed = true;
    r->code = code;
    char msg[TA_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at)
        ta_error_set(r->err, code, "line %d, column %d: %s", at->line, at->col, msg);
    else
        ta_error_set(r->err, code, "%s", msg);
    return -1;
}

int jr_step(jrender *r, const jnode *at, uint64_t n)
{
    r->steps += n;
    if (r->steps > r->max_steps)
        return jr_fail(r, at, TA_ETOOBIG,
                       "template exceeded its step limit (%llu steps); does it loop forever?",
                       (unsigned long long)r->max_steps);
    return 0;
}

void *jr_alloc(jrender *r, const jnode *at, size_t n)
{
    void *p = ja_alloc(&r->arena, n);
    if (!p)
        jr_fail(r, at, TA_ETOOBIG, "template used more than its memory limit (%zu bytes)",
                r->arena.limit);
    return p;
}

/* ---- lists and dicts ---- */

jlist *jl_new(jrender *r, const jnode *at, size_t cap)
{
    jlist *l = jr_alloc(r, at, sizeof *l);
    if (!l) return NULL;
    l->n = 0;
    l->cap = cap;
    l->v = NULL;
    l->tuple = false;
    /* never a NULL array, even when empty: memcpy of zero items from it is defined */
    if (cap == 0) cap = 1;
    l->cap = cap;
    if (!(l->v = jr_alloc(r, at, cap * sizeof(jv)))) return NULL;
    return l;
}

int jl_push(jrender *r, const jnode *at, jlist *l, jv v)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        if (cap > SIZE_MAX / sizeof(jv)) return jr_fail(r, at, TA_ETOOBIG, "list too long");
        jv *nv = jr_alloc(r, at, cap * sizeof(jv));
        if (!nv) return -1;
        if (l->n) memcpy(nv, l->v, l->n * sizeof(jv));
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

jdict *jd_new(jrender *r, const jnode *at, size_t cap)
{
    jdict *d = jr_alloc(r, at, sizeof *d);
    if (!d) return NULL;
    memset(d, 0, sizeof *d);
    if (cap == 0) cap = 1; /* as for lists: no NULL arrays */
    d->keys = jr_alloc(r, at, cap * sizeof(jv));
    d->vals = jr_alloc(r, at, cap * sizeof(jv));
    if (!d->keys || !d->vals) return NULL;
    d->cap = cap;
    return d;
}

jv *jd_get(const jdict *d, jv key)
{
    if (key.k == JV_STR) return jd_get_str(d, key.u.s.p, key.u.s.n);
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->keys[i], key)) return &d->vals[i];
    return NULL;
}

jv *jd_get_str(const jdict *d, const char *key, size_t n)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].k == JV_STR && d->keys[i].u.s.n == n && !memcmp(d->keys[i].u.s.p, key, n))
            return &d->vals[i];
    return NULL;
}

int jd_set(jrender *r, const jnode *at, jdict *d, jv key, jv val)
{
    jv *slot = jd_get(d, key);
    if (slot) {
        *slot = val;
        return 0;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        if (cap > SIZE_MAX / sizeof(jv)) return jr_fail(r, at, TA_ETOOBIG, "dict too large");
        jv *nk = jr_alloc(r, at, cap * sizeof(jv)), *nv = jr_alloc(r, at, cap * sizeof(jv));
        if (!nk || !nv) return -1;
        if (d->n) {
            memcpy(nk, d->keys, d->n * sizeof(jv));
            memcpy(nv, d->vals, d->n * sizeof(jv));
        }
        d->keys = nk;
        d->vals = nv;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
    return 0;
}

/* ---- strings ---- */

int js_new(jrender *r, const jnode *at, const char *p, size_t n, jv *out)
{
    if (n > r->max_output)
        return jr_fail(r, at, TA_ETOOBIG, "string longer than the output limit (%zu bytes)",
                       r->max_output);
    char *s = jr_alloc(r, at, n + 1);
    if (!s) return -1;
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    *out = jv_str(s, n);
    return 0;
}

int js_cat(jrender *r, const jnode *at, jstr a, jstr b, jv *out)
{
    if (a.n > r->max_output || b.n > r->max_output - a.n)
        return jr_fail(r, at, TA_ETOOBIG, "string longer than the output limit (%zu bytes)",
                       r->max_output);
    char *s = jr_alloc(r, at, a.n + b.n + 1);
    if (!s) return -1;
    if (a.n) memcpy(s, a.p, a.n);
    if (b.n) memcpy(s + a.n, b.p, b.n);
    s[a.n + b.n] = '\0';
    *out = jv_str(s, a.n + b.n);
    return jr_step(r, at, (a.n + b.n) / 256);
}

/* A code point starts at every byte that is not a continuation byte; invalid UTF-8
 * then counts byte by byte, consistently in both helpers. */
size_t ju_len(jstr s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++)
        n += ((unsigned char)s.p[i] & 0xC0) != 0x80;
    return n;
}

size_t ju_offset(jstr s, size_t i)
{
    size_t off = 0;
    while (off < s.n && i > 0) {
        off++;
        while (off < s.n && ((unsigned char)s.p[off] & 0xC0) == 0x80)
            off++;
        i--;
    }
    return off;
}

/* ---- comparisons ---- */

bool jv_truthy(jv v)
{
    switch (v.k) {
    case JV_UNDEF:
    case JV_NONE: return false;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.u.s.n != 0;
    case JV_LIST: return v.u.l->n != 0;
    case JV_DICT: return v.u.d->n != 0;
    default: return true;
    }
}

static bool is_num(jv v)
{
    return v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL;
}

static double num_f(jv v)
{
    return v.k == JV_FLOAT ? v.u.f : v.k == JV_INT ? (double)v.u.i : (double)v.u.b;
}

static int64_t num_i(jv v)
{
    return v.k == JV_INT ? v.u.i : (int64_t)v.u.b;
}

bool jv_equal(jv a, jv b)
{
    if (is_num(a) && is_num(b)) {
        if (a.k == JV_FLOAT || b.k == JV_FLOAT) return num_f(a) == num_f(b);
        return num_i(a) == num_i(b);
    }
    if (a.k != b.k) return false;
    switch (a.k) {
    case JV_UNDEF:
    case JV_NONE: return true;
    case JV_STR: return a.u.s.n == b.u.s.n && !memcmp(a.u.s.p, b.u.s.p, a.u.s.n);
    case JV_LIST:
        if (a.u.l->n != b.u.l->n) return false;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_equal(a.u.l->v[i], b.u.l->v[i])) return false;
        return true;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n) return false;
        for (size_t i = 0; i < a.u.d->n; i++) {
            jv *o = jd_get(b.u.d, a.u.d->keys[i]);
            if (!o || !jv_equal(a.u.d->vals[i], *o)) return false;
        }
        return true;
    case JV_FUNC: return a.u.fn == b.u.fn;
    case JV_LOOP: return a.u.loop == b.u.loop;
    default: return false;
    }
}

int jv_compare(jv a, jv b, bool *ok)
{
    *ok = true;
    if (is_num(a) && is_num(b)) {
        if (a.k == JV_FLOAT || b.k == JV_FLOAT) {
            double x = num_f(a), y = num_f(b);
            return x < y ? -1 : x > y;
        }
        int64_t x = num_i(a), y = num_i(b);
        return x < y ? -1 : x > y;
    }
    if (a.k == JV_STR && b.k == JV_STR) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int c = n ? memcmp(a.u.s.p, b.u.s.p, n) : 0;
        if (c) return c < 0 ? -1 : 1;
        return a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
    }
    if (a.k == JV_LIST && b.k == JV_LIST) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            int c = jv_compare(a.u.l->v[i], b.u.l->v[i], ok);
            if (!*ok || c) return c;
        }
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
    }
    *ok = false;
    return 0;
}

const char *jv_kind_name(jv v)
{
    static const char *const names[] = {"undefined", "none", "boolean", "integer",  "float",
                                        "string",    "list", "dict",    "function", "loop"};
    return names[v.k];
}

/* ---- JSON in ---- */

int jv_from_json(jrender *r, const json_t *j, jv *out, int depth)
{
    if (depth > 1000) return jr_fail(r, NULL, TA_EINVAL, "template variables nested too deeply");
    switch (json_typeof(j)) {
    case JSON_NULL: *out = jv_none(); return 0;
    case JSON_TRUE: *out = jv_bool(true); return 0;
    case JSON_FALSE: *out = jv_bool(false); return 0;
    case JSON_INTEGER: *out = jv_int((int64_t)json_integer_value(j)); return 0;
    case JSON_REAL: *out = jv_float(json_real_value(j)); return 0;
    case JSON_STRING: *out = jv_str(json_string_value(j), json_string_length(j)); return 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        jlist *l = jl_new(r, NULL, n);
        if (!l) return -1;
        for (size_t i = 0; i < n; i++) {
            if (jv_from_json(r, json_array_get(j, i), &l->v[i], depth + 1)) return -1;
            l->n++;
        }
        out->k = JV_LIST;
        out->u.l = l;
        return jr_step(r, NULL, n);
    }
    case JSON_OBJECT: {
        jdict *d = jd_new(r, NULL, json_object_size(j));
        if (!d) return -1;
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)j, key, val)
        {
            jv v;
            if (jv_from_json(r, val, &v, depth + 1)) return -1;
            /* keys are unique in a JSON object: append without the lookup */
            d->keys[d->n] = jv_str(key, strlen(key));
            d->vals[d->n] = v;
            d->n++;
        }
        out->k = JV_DICT;
        out->u.d = d;
        return jr_step(r, NULL, d->n);
    }
    }
    *out = jv_none();
    return 0;
}

/* ---- writing values ---- */

bool jb_put(jbuf *b, const char *p, size_t n)
{
    if (b->cap - b->n < n + 1) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n + 1) {
            if (cap > SIZE_MAX / 2) return false;
            cap *= 2;
        }
        char *np = realloc(b->p, cap);
        if (!np) return false;
        b->p = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return true;
}

static int put(jrender *r, const jnode *at, jbuf *b, const char *p, size_t n)
{
    if (n > r->max_output || b->n > r->max_output - n)
        return jr_fail(r, at, TA_ETOOBIG, "output longer than the limit (%zu bytes)",
                       r->max_output);
    if (!jb_put(b, p, n)) return jr_fail(r, at, TA_ENOMEM, "out of memory");
    return 0;
}

static int puts_(jrender *r, const jnode *at, jbuf *b, const char *s)
{
    return put(r, at, b, s, strlen(s));
}

/* Python's repr(float): the shortest digits that read back the same, positional
 * notation for exponents in [-4, 16), else d.ddde+XX. */
static void format_float(double f, char *out, size_t cap, bool json)
{
    if (isnan(f)) {
        snprintf(out, cap, "%s", json ? "NaN" : "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(out, cap, "%s%s", f < 0 ? "-" : "", json ? "Infinity" : "inf");
        return;
    }
    char tmp[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp is [-]d[.ddd]e[+-]XX */
    char digits[24];
    size_t nd = 0;
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.' && nd < sizeof digits - 1) digits[nd++] = *p;
    digits[nd] = '\0';
    int e = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = '\0';
    char *o = out;
    char *end = out + cap - 1;
#define EMIT(c)                                                                                    \
    do {                                                                                           \
        if (o < end) *o++ = (c);                                                                   \
    } while (0)
    if (neg) EMIT('-');
    if (e >= -4 && e < 16) {
        if (e < 0) {
            EMIT('0');
            EMIT('.');
            for (int i = 0; i < -e - 1; i++)
                EMIT('0');
            for (size_t i = 0; i < nd; i++)
                EMIT(digits[i]);
        } else {
            for (int i = 0; i <= e; i++)
                EMIT((size_t)i < nd ? digits[i] : '0');
            EMIT('.');
            if ((size_t)e + 1 < nd)
                for (size_t i = (size_t)e + 1; i < nd; i++)
                    EMIT(digits[i]);
            else
                EMIT('0');
        }
    } else {
        EMIT(digits[0]);
        if (nd > 1) {
            EMIT('.');
            for (size_t i = 1; i < nd; i++)
                EMIT(digits[i]);
        }
        char ex[8];
        snprintf(ex, sizeof ex, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
        for (char *q = ex; *q; q++)
            EMIT(*q);
    }
#undef EMIT
    *o = '\0';
}

int jv_write_str(jrender *r, const jnode *at, jbuf *b, jv v)
{
    char tmp[64];
    switch (v.k) {
    case JV_UNDEF: return 0;
    case JV_NONE: return puts_(r, at, b, "None");
    case JV_BOOL: return puts_(r, at, b, v.u.b ? "True" : "False");
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i); return puts_(r, at, b, tmp);
    case JV_FLOAT: format_float(v.u.f, tmp, sizeof tmp, false); return puts_(r, at, b, tmp);
    case JV_STR: return put(r, at, b, v.u.s.p, v.u.s.n);
    case JV_LIST:
    case JV_DICT: return jv_write_repr(r, at, b, v, 0);
    case JV_FUNC:
        snprintf(tmp, sizeof tmp, "<function %.40s>", v.u.fn->name);
        return puts_(r, at, b, tmp);
    case JV_LOOP: return puts_(r, at, b, "<LoopContext>");
    }
    return 0;
}

static int write_repr_str(jrender *r, const jnode *at, jbuf *b, jstr s)
{
    bool has_sq = memchr(s.p, '\'', s.n) != NULL, has_dq = memchr(s.p, '"', s.n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    if (put(r, at, b, &q, 1)) return -1;
    size_t start = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        char esc[8];
        if (c == '\\' || c == (unsigned char)q)
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (c == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (c == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (c < 0x20 || c == 0x7f)
            snprintf(esc, sizeof esc, "\\x%02x", c);
        else
            continue;
        if (put(r, at, b, s.p + start, i - start) || puts_(r, at, b, esc)) return -1;
        start = i + 1;
    }
    if (put(r, at, b, s.p + start, s.n - start)) return -1;
    return put(r, at, b, &q, 1);
}

int jv_write_repr(jrender *r, const jnode *at, jbuf *b, jv v, int depth)
{
    if (depth > 200) return jr_fail(r, at, TA_EINVAL, "value nested too deeply to print");
    if (jr_step(r, at, 1)) return -1;
    switch (v.k) {
    case JV_UNDEF: return 0;
    case JV_STR: return write_repr_str(r, at, b, v.u.s);
    case JV_LIST:
        if (puts_(r, at, b, v.u.l->tuple ? "(" : "[")) return -1;
        for (size_t i = 0; i < v.u.l->n; i++)
            if ((i && puts_(r, at, b, ", ")) || jv_write_repr(r, at, b, v.u.l->v[i], depth + 1))
                return -1;
        if (v.u.l->tuple) return puts_(r, at, b, v.u.l->n == 1 ? ",)" : ")");
        return puts_(r, at, b, "]");
    case JV_DICT:
        if (puts_(r, at, b, "{")) return -1;
        for (size_t i = 0; i < v.u.d->n; i++)
            if ((i && puts_(r, at, b, ", ")) ||
                jv_write_repr(r, at, b, v.u.d->keys[i], depth + 1) || puts_(r, at, b, ": ") ||
                jv_write_repr(r, at, b, v.u.d->vals[i], depth + 1))
                return -1;
        return puts_(r, at, b, "}");
    default: return jv_write_str(r, at, b, v);
    }
}

static int write_json_str(jrender *r, const jnode *at, jbuf *b, const char *p, size_t n)
{
    if (puts_(r, at, b, "\"")) return -1;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (c == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (c == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (c == '\b')
            snprintf(esc, sizeof esc, "\\b");
        else if (c == '\f')
            snprintf(esc, sizeof esc, "\\f");
        else if (c < 0x20)
            snprintf(esc, sizeof esc, "\\u%04x", c);
        else
            continue;
        if (put(r, at, b, p + start, i - start) || puts_(r, at, b, esc)) return -1;
        start = i + 1;
    }
    if (put(r, at, b, p + start, n - start)) return -1;
    return puts_(r, at, b, "\"");
}

static int json_newline(jrender *r, const jnode *at, jbuf *b, int indent, int level)
{
    if (puts_(r, at, b, "\n")) return -1;
    for (int i = 0; i < indent * level; i++)
        if (puts_(r, at, b, " ")) return -1;
    return 0;
}

int jv_write_json(jrender *r, const jnode *at, jbuf *b, jv v, int indent, int level)
{
    if (level > 200) return jr_fail(r, at, TA_EINVAL, "value nested too deeply for tojson");
    if (jr_step(r, at, 1)) return -1;
    char tmp[64];
    /* Python's separators: ", " without indent, "," + newline with it */
    const char *item_sep = indent >= 0 ? "," : ", ";
    switch (v.k) {
    case JV_NONE: return puts_(r, at, b, "null");
    case JV_BOOL: return puts_(r, at, b, v.u.b ? "true" : "false");
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i); return puts_(r, at, b, tmp);
    case JV_FLOAT: format_float(v.u.f, tmp, sizeof tmp, true); return puts_(r, at, b, tmp);
    case JV_STR: return write_json_str(r, at, b, v.u.s.p, v.u.s.n);
    case JV_LIST:
        if (!v.u.l->n) return puts_(r, at, b, "[]");
        if (puts_(r, at, b, "[")) return -1;
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i && puts_(r, at, b, item_sep)) return -1;
            if (indent >= 0 && json_newline(r, at, b, indent, level + 1)) return -1;
            if (jv_write_json(r, at, b, v.u.l->v[i], indent, level + 1)) return -1;
        }
        if (indent >= 0 && json_newline(r, at, b, indent, level)) return -1;
        return puts_(r, at, b, "]");
    case JV_DICT:
        if (!v.u.d->n) return puts_(r, at, b, "{}");
        if (puts_(r, at, b, "{")) return -1;
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i && puts_(r, at, b, item_sep)) return -1;
            if (indent >= 0 && json_newline(r, at, b, indent, level + 1)) return -1;
            jv k = v.u.d->keys[i];
            if (k.k == JV_STR) {
                if (write_json_str(r, at, b, k.u.s.p, k.u.s.n)) return -1;
            } else if (k.k == JV_INT || k.k == JV_FLOAT || k.k == JV_BOOL || k.k == JV_NONE) {
                /* json.dumps turns such keys into strings */
                jbuf kb = {0};
                int rc = jv_write_json(r, at, &kb, k, -1, level + 1);
                if (!rc) rc = write_json_str(r, at, b, kb.p, kb.n);
                free(kb.p);
                if (rc) return -1;
            } else {
                return jr_fail(r, at, TA_EINVAL, "tojson: keys must be strings, not %s",
                               jv_kind_name(k));
            }
            if (puts_(r, at, b, ": ") || jv_write_json(r, at, b, v.u.d->vals[i], indent, level + 1))
                return -1;
        }
        if (indent >= 0 && json_newline(r, at, b, indent, level)) return -1;
        return puts_(r, at, b, "}");
    default:
        return jr_fail(r, at, TA_EINVAL, "tojson: a value of type %s is not JSON serializable",
                       jv_kind_name(v));
    }
}

int jv_to_str(jrender *r, const jnode *at, jv v, jv *out)
{
    if (v.k == JV_STR) {
        *out = v;
        return 0;
    }
    jbuf b = {0};
    int rc = jv_write_str(r, at, &b, v);
    if (!rc) rc = js_new(r, at, b.p ? b.p : "", b.n, out);
    free(b.p);
    return rc;
}
