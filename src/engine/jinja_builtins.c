/*
 * jinja_builtins.c - the filters, tests, methods and global functions of the Jinja
 * interpreter, with Jinja's (and Python's) semantics where chat templates can see
 * the difference: code-point string lengths and slicing, Unicode case mapping,
 * Python's split/strip rules, case-insensitive sort and unique by default, and
 * transformers' tojson (key order kept, non-ASCII unescaped).
 */
#include "jinja_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utf8proc.h>

typedef int (*filter_fn)(jrender *r, const jnode *at, jv in, const jargs *a, jv *out);
typedef int (*test_fn)(jrender *r, const jnode *at, jv in, const jargs *a, bool *out);

/* ---- argument helpers ---- */

/* Positional argument pos, or the keyword argument kw; NULL when neither was given. */
static const jv *arg(const jargs *a, size_t pos, const char *kw)
{
    if (kw)
        for (size_t i = 0; i < a->n; i++)
            if (a->kw[i] && !strcmp(a->kw[i], kw)) return &a->v[i];
    for (size_t i = 0, p = 0; i < a->n; i++)
        if (!a->kw[i] && p++ == pos) return &a->v[i];
    return NULL;
}

static size_t npositional(const jargs *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++)
        n += !a->kw[i];
    return n;
}

/* The arguments after the first skip positional ones (for map/select passing on). */
static jargs shift_args(const jargs *a, size_t skip)
{
    jargs s = *a;
    while (skip && s.n) {
        if (!s.kw[0]) skip--;
        s.v++;
        s.kw++;
        s.n--;
    }
    /* keyword arguments before the skipped positionals were dropped; chat templates
     * pass them last, as Python requires */
    return s;
}

static bool want_bool(const jv *v, bool dflt)
{
    return v ? jv_truthy(*v) : dflt;
}

static int want_int(jrender *r, const jnode *at, const jv *v, int64_t dflt, const char *what,
                    int64_t *out)
{
    *out = dflt;
    if (!v || v->k == JV_NONE)
        *out = dflt;
    else if (v->k == JV_INT)
        *out = v->u.i;
    else if (v->k == JV_BOOL)
        *out = v->u.b;
    else
        return jr_fail(r, at, TA_EINVAL, "%s must be an integer, not %s", what, jv_kind_name(*v));
    return 0;
}

static int want_str(jrender *r, const jnode *at, const jv *v, const char *what, jstr *out)
{
    out->p = "";
    out->n = 0;
    if (!v || v->k != JV_STR)
        return jr_fail(r, at, TA_EINVAL, "%s must be a string, not %s", what,
                       v ? jv_kind_name(*v) : "missing");
    *out = v->u.s;
    return 0;
}

static int mk_list(jv *out, jlist *l)
{
    if (!l) return -1;
    out->k = JV_LIST;
    out->u.l = l;
    return 0;
}

/* ---- Unicode helpers ---- */

/* Decodes one code point at s[i] (invalid bytes decode as themselves, one byte). */
static int32_t decode(jstr s, size_t i, size_t *len)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t n =
        utf8proc_iterate((const utf8proc_uint8_t *)s.p + i, (utf8proc_ssize_t)(s.n - i), &cp);
    if (n <= 0) {
        *len = 1;
        return (unsigned char)s.p[i];
    }
    *len = (size_t)n;
    return cp;
}

static bool is_space_cp(int32_t cp)
{
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F) || cp == 0x85)
        return true;
    if (cp < 0x80) return false;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

static bool is_cased_letter(int32_t cp)
{
    if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

enum { CASE_UPPER, CASE_LOWER, CASE_CAPITALIZE, CASE_TITLE_METHOD, CASE_TITLE_FILTER };

static bool title_sep(int32_t cp)
{
    return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || is_space_cp(cp);
}

static int case_map(jrender *r, const jnode *at, jstr s, int mode, jv *out)
{
    jbuf b = {0};
    bool start = true; /* at the start of a word */
    int rc = jr_step(r, at, s.n / 16);
    for (size_t i = 0; rc == 0 && i < s.n;) {
        size_t len;
        int32_t cp = decode(s, i, &len), m = cp;
        bool upper;
        switch (mode) {
        case CASE_UPPER: upper = true; break;
        case CASE_LOWER: upper = false; break;
        case CASE_CAPITALIZE: upper = i == 0; break;
        case CASE_TITLE_METHOD:
            upper = start;
            start = !is_cased_letter(cp);
            break;
        default:
            upper = start;
            start = title_sep(cp);
            break;
        }
        if (cp >= 0 && (len > 1 || cp < 0x80)) /* valid code point */
            m = upper ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
        utf8proc_uint8_t enc[8];
        if (m != cp && m >= 0) {
            utf8proc_ssize_t k = utf8proc_encode_char(m, enc);
            if (!jb_put(&b, (const char *)enc, (size_t)k)) rc = -1;
        } else if (!jb_put(&b, s.p + i, len)) {
            rc = -1;
        }
        i += len;
    }
    if (rc && !r->failed) jr_fail(r, at, TA_ENOMEM, "out of memory");
    if (!rc) rc = js_new(r, at, b.p ? b.p : "", b.n, out);
    free(b.p);
    return rc;
}

static bool in_set(jstr set, int32_t cp)
{
    for (size_t i = 0; i < set.n;) {
        size_t len;
        if (decode(set, i, &len) == cp) return true;
        i += len;
    }
    return false;
}

/* Python's strip/lstrip/rstrip; chars NULL: whitespace. */
static jstr strip(jstr s, const jstr *chars, bool left, bool right)
{
    size_t a = 0, z = s.n;
    while (left && a < z) {
        size_t len;
        int32_t cp = decode(s, a, &len);
        if (chars ? !in_set(*chars, cp) : !is_space_cp(cp)) break;
        a += len;
    }
    while (right && z > a) {
        size_t b = z - 1;
        while (b > a && ((unsigned char)s.p[b] & 0xC0) == 0x80)
            b--;
        size_t len;
        int32_t cp = decode(s, b, &len);
        if (b + len != z) len = 1, b = z - 1, cp = (unsigned char)s.p[b];
        if (chars ? !in_set(*chars, cp) : !is_space_cp(cp)) break;
        z = b;
    }
    return (jstr){s.p + a, z - a};
}

static int str_of(jrender *r, const jnode *at, jv v, jstr *out)
{
    jv s;
    if (jv_to_str(r, at, v, &s)) return -1;
    *out = s.u.s;
    return 0;
}

static int do_strip(jrender *r, const jnode *at, jv in, const jargs *a, bool left, bool right,
                    jv *out)
{
    jstr s, chars;
    if (str_of(r, at, in, &s)) return -1;
    const jv *c = arg(a, 0, "chars");
    if (c && c->k != JV_NONE && want_str(r, at, c, "strip characters", &chars)) return -1;
    jstr t = strip(s, c && c->k != JV_NONE ? &chars : NULL, left, right);
    *out = jv_str(t.p, t.n);
    return jr_step(r, at, s.n / 64);
}

static int do_replace(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jstr s, old, new_;
    int64_t count;
    if (str_of(r, at, in, &s) || want_str(r, at, arg(a, 0, "old"), "replace's old", &old) ||
        want_str(r, at, arg(a, 1, "new"), "replace's new", &new_) ||
        want_int(r, at, arg(a, 2, "count"), -1, "replace's count", &count))
        return -1;
    jbuf b = {0};
    int rc = 0;
    size_t i = 0;
    int64_t done = 0;
    while (rc == 0 && (count < 0 || done < count)) {
        const char *hit;
        if (old.n == 0) {
            /* Python inserts new before every code point and at the end */
            if (i > s.n) break;
            hit = s.p + i;
        } else {
            hit = i <= s.n ? memmem(s.p + i, s.n - i, old.p, old.n) : NULL;
            if (!hit) break;
        }
        size_t at_ = (size_t)(hit - s.p);
        if (!jb_put(&b, s.p + i, at_ - i) || !jb_put(&b, new_.p, new_.n)) rc = -1;
        if (b.n > r->max_output) rc = -2;
        if (old.n == 0) {
            if (i == s.n) {
                i++;
                done++;
                break;
            }
            size_t len = ju_offset((jstr){s.p + i, s.n - i}, 1);
            if (!jb_put(&b, s.p + i, len)) rc = -1;
            i += len;
        } else {
            i = at_ + old.n;
        }
        done++;
    }
    if (rc == 0 && i < s.n && !jb_put(&b, s.p + i, s.n - i)) rc = -1;
    if (rc == -1) jr_fail(r, at, TA_ENOMEM, "out of memory");
    if (rc == -2)
        rc = jr_fail(r, at, TA_ETOOBIG, "string longer than the output limit (%zu bytes)",
                     r->max_output);
    if (!rc) rc = jr_step(r, at, s.n / 64 + (uint64_t)done);
    if (!rc) rc = js_new(r, at, b.p ? b.p : "", b.n, out);
    free(b.p);
    return rc;
}

/* Python's str.split(sep=None, maxsplit=-1). */
static int do_split(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jstr s, sep = {0};
    int64_t maxsplit;
    if (str_of(r, at, in, &s)) return -1;
    const jv *sv = arg(a, 0, "sep");
    bool ws = !sv || sv->k == JV_NONE;
    if (!ws && want_str(r, at, sv, "split's separator", &sep)) return -1;
    if (want_int(r, at, arg(a, 1, "maxsplit"), -1, "maxsplit", &maxsplit)) return -1;
    if (!ws && sep.n == 0) return jr_fail(r, at, TA_EINVAL, "empty separator");
    jlist *l = jl_new(r, at, 0);
    if (!l || jr_step(r, at, s.n / 16)) return -1;
    size_t i = 0;
    if (ws) {
        for (;;) {
            while (i < s.n && is_space_cp((unsigned char)s.p[i]))
                i++;
            if (i >= s.n) break;
            size_t j = i;
            if (maxsplit >= 0 && (int64_t)l->n >= maxsplit) {
                j = s.n;
                jstr rest = strip((jstr){s.p + i, j - i}, NULL, false, true);
                if (jl_push(r, at, l, jv_str(rest.p, rest.n))) return -1;
                break;
            }
            while (j < s.n && !is_space_cp((unsigned char)s.p[j]))
                j++;
            if (jl_push(r, at, l, jv_str(s.p + i, j - i))) return -1;
            i = j;
        }
    } else {
        for (;;) {
            const char *hit = maxsplit >= 0 && (int64_t)l->n >= maxsplit
                                  ? NULL
                                  : memmem(s.p + i, s.n - i, sep.p, sep.n);
            size_t j = hit ? (size_t)(hit - s.p) : s.n;
            if (jl_push(r, at, l, jv_str(s.p + i, j - i))) return -1;
            if (!hit) break;
            i = j + sep.n;
        }
    }
    return mk_list(out, l);
}

static bool has_prefix(jstr s, jstr p, bool suffix)
{
    if (p.n > s.n) return false;
    return !memcmp(suffix ? s.p + s.n - p.n : s.p, p.p, p.n);
}

static int starts_ends(jrender *r, const jnode *at, jv in, const jargs *a, bool suffix, jv *out)
{
    jstr s;
    if (str_of(r, at, in, &s)) return -1;
    const jv *p = arg(a, 0, NULL);
    if (p && p->k == JV_LIST) { /* a tuple of prefixes */
        bool any = false;
        for (size_t i = 0; i < p->u.l->n; i++) {
            jstr x;
            if (want_str(r, at, &p->u.l->v[i], "prefix", &x)) return -1;
            any |= has_prefix(s, x, suffix);
        }
        *out = jv_bool(any);
        return 0;
    }
    jstr x;
    if (want_str(r, at, p, suffix ? "endswith's suffix" : "startswith's prefix", &x)) return -1;
    *out = jv_bool(has_prefix(s, x, suffix));
    return 0;
}

/* ---- filters ---- */

static int f_trim(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    return do_strip(r, at, in, a, true, true, out);
}

static int f_upper(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jstr s;
    (void)a;
    return str_of(r, at, in, &s) || case_map(r, at, s, CASE_UPPER, out) ? -1 : 0;
}

static int f_lower(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jstr s;
    (void)a;
    return str_of(r, at, in, &s) || case_map(r, at, s, CASE_LOWER, out) ? -1 : 0;
}

static int f_capitalize(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jstr s;
    (void)a;
    return str_of(r, at, in, &s) || case_map(r, at, s, CASE_CAPITALIZE, out) ? -1 : 0;
}

static int f_title(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jstr s;
    (void)a;
    return str_of(r, at, in, &s) || case_map(r, at, s, CASE_TITLE_FILTER, out) ? -1 : 0;
}

static int f_length(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    (void)a;
    switch (in.k) {
    case JV_STR: *out = jv_int((int64_t)ju_len(in.u.s)); return jr_step(r, at, in.u.s.n / 64);
    case JV_LIST: *out = jv_int((int64_t)in.u.l->n); return 0;
    case JV_DICT: *out = jv_int((int64_t)in.u.d->n); return 0;
    case JV_UNDEF: *out = jv_int(0); return 0;
    default:
        return jr_fail(r, at, TA_EINVAL, "object of type '%s' has no length", jv_kind_name(in));
    }
}

static int f_first_last(jrender *r, const jnode *at, jv in, bool last, jv *out)
{
    jlist *l;
    if (je_iterate(r, at, in, &l)) return -1;
    *out = l->n ? l->v[last ? l->n - 1 : 0] : jv_undef("");
    return 0;
}

static int f_first(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    (void)a;
    return f_first_last(r, at, in, false, out);
}

static int f_last(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    (void)a;
    return f_first_last(r, at, in, true, out);
}

/* Follows a dotted attribute path ("function.name", "0") as Jinja's attrgetter. */
static int attr_path(jrender *r, const jnode *at, jv v, jstr path, jv *out)
{
    size_t i = 0;
    while (i <= path.n) {
        const char *dot = memchr(path.p + i, '.', path.n - i);
        size_t j = dot ? (size_t)(dot - path.p) : path.n;
        jstr part = {path.p + i, j - i};
        bool digits = part.n > 0 && part.n < 18;
        for (size_t k = 0; k < part.n && digits; k++)
            digits = part.p[k] >= '0' && part.p[k] <= '9';
        jv key = digits ? jv_int(strtoll(part.p, NULL, 10)) : jv_str(part.p, part.n);
        if (je_getitem(r, at, v, key, &v)) return -1;
        i = j + 1;
    }
    *out = v;
    return 0;
}

static int f_join(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jlist *l;
    jstr sep = {"", 0}, attr;
    const jv *s = arg(a, 0, "d"), *at_ = arg(a, 1, "attribute");
    if (s && want_str(r, at, s, "join's separator", &sep)) return -1;
    if (at_ && want_str(r, at, at_, "join's attribute", &attr)) return -1;
    if (je_iterate(r, at, in, &l)) return -1;
    jbuf b = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        jv v = l->v[i];
        if (at_) rc = attr_path(r, at, v, attr, &v);
        if (!rc && i && !jb_put(&b, sep.p, sep.n)) rc = jr_fail(r, at, TA_ENOMEM, "out of memory");
        if (!rc) rc = jv_write_str(r, at, &b, v);
    }
    if (!rc) rc = js_new(r, at, b.p ? b.p : "", b.n, out);
    free(b.p);
    return rc;
}

static int f_default(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    (void)r;
    (void)at;
    const jv *d = arg(a, 0, "default_value");
    bool boolean = want_bool(arg(a, 1, "boolean"), false);
    if (in.k == JV_UNDEF || (boolean && !jv_truthy(in)))
        *out = d ? *d : jv_str("", 0);
    else
        *out = in;
    return 0;
}

static int f_tojson(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    int64_t indent;
    const jv *iv = arg(a, 0, "indent");
    if (want_int(r, at, iv, -1, "tojson's indent", &indent)) return -1;
    if (indent > 64) indent = 64;
    jbuf b = {0};
    int rc = jv_write_json(r, at, &b, in, (int)indent, 0);
    if (!rc) rc = js_new(r, at, b.p ? b.p : "", b.n, out);
    free(b.p);
    return rc;
}

static int f_string(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    (void)a;
    return jv_to_str(r, at, in, out);
}

static int f_int(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    const jv *d = arg(a, 0, "default");
    jv dflt = d ? *d : jv_int(0);
    switch (in.k) {
    case JV_INT: *out = in; return 0;
    case JV_BOOL: *out = jv_int(in.u.b); return 0;
    case JV_FLOAT:
        *out = isfinite(in.u.f) && fabs(in.u.f) < 9.2e18 ? jv_int((int64_t)in.u.f) : dflt;
        return 0;
    case JV_STR: {
        char buf[64];
        jstr s = strip(in.u.s, NULL, true, true);
        if (s.n == 0 || s.n >= sizeof buf) {
            *out = dflt;
            return 0;
        }
        memcpy(buf, s.p, s.n);
        buf[s.n] = '\0';
        char *end;
        long long v = strtoll(buf, &end, 10);
        if (*end == '\0') {
            *out = jv_int(v);
            return 0;
        }
        double f = strtod(buf, &end); /* Jinja falls back to int(float(s)) */
        *out = *end == '\0' && isfinite(f) && fabs(f) < 9.2e18 ? jv_int((int64_t)f) : dflt;
        return 0;
    }
    default:
        *out = dflt;
        (void)r;
        (void)at;
        return 0;
    }
}

static int f_float(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    (void)r;
    (void)at;
    const jv *d = arg(a, 0, "default");
    jv dflt = d ? *d : jv_float(0.0);
    switch (in.k) {
    case JV_INT: *out = jv_float((double)in.u.i); return 0;
    case JV_BOOL: *out = jv_float(in.u.b); return 0;
    case JV_FLOAT: *out = in; return 0;
    case JV_STR: {
        char buf[64];
        jstr s = strip(in.u.s, NULL, true, true);
        if (s.n == 0 || s.n >= sizeof buf) {
            *out = dflt;
            return 0;
        }
        memcpy(buf, s.p, s.n);
        buf[s.n] = '\0';
        char *end;
        double f = strtod(buf, &end);
        *out = *end == '\0' ? jv_float(f) : dflt;
        return 0;
    }
    default: *out = dflt; return 0;
    }
}

static int f_list(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    (void)a;
    jlist *l, *copy;
    if (je_iterate(r, at, in, &l) || !(copy = jl_new(r, at, l->n))) return -1;
    memcpy(copy->v, l->v, l->n * sizeof(jv));
    copy->n = l->n;
    return mk_list(out, copy);
}

/* dict.items() and the items filter: a list of [key, value] pairs. */
static int items_of(jrender *r, const jnode *at, jv in, jv *out)
{
    if (in.k == JV_UNDEF) return mk_list(out, jl_new(r, at, 0));
    if (in.k != JV_DICT)
        return jr_fail(r, at, TA_EINVAL, "items() needs a mapping, not %s", jv_kind_name(in));
    jlist *l = jl_new(r, at, in.u.d->n);
    if (!l || jr_step(r, at, in.u.d->n)) return -1;
    for (size_t i = 0; i < in.u.d->n; i++) {
        jlist *pair = jl_new(r, at, 2);
        if (!pair) return -1;
        pair->v[0] = in.u.d->keys[i];
        pair->v[1] = in.u.d->vals[i];
        pair->n = 2;
        pair->tuple = true;
        l->v[l->n].k = JV_LIST;
        l->v[l->n++].u.l = pair;
    }
    return mk_list(out, l);
}

static int f_items(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    (void)a;
    return items_of(r, at, in, out);
}

static int f_reverse(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    (void)a;
    jlist *l;
    if (je_iterate(r, at, in, &l)) return -1;
    if (in.k == JV_STR) {
        char *s = jr_alloc(r, at, in.u.s.n + 1);
        if (!s) return -1;
        size_t o = 0;
        for (size_t i = l->n; i-- > 0;) {
            memcpy(s + o, l->v[i].u.s.p, l->v[i].u.s.n);
            o += l->v[i].u.s.n;
        }
        s[o] = '\0';
        *out = jv_str(s, o);
        return 0;
    }
    jlist *rev = jl_new(r, at, l->n);
    if (!rev) return -1;
    for (size_t i = 0; i < l->n; i++)
        rev->v[i] = l->v[l->n - 1 - i];
    rev->n = l->n;
    return mk_list(out, rev);
}

static int f_replace(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    return do_replace(r, at, in, a, out);
}

/* select/reject/selectattr/rejectattr: keep items whose (attribute's) test result is
 * `want`; with no test name, the truth of the value. */
static int select_common(jrender *r, const jnode *at, jv in, const jargs *a, bool by_attr,
                         bool want, jv *out)
{
    jlist *l, *res;
    jstr attr = {0}, test = {0};
    size_t k = 0;
    if (by_attr && want_str(r, at, arg(a, k++, NULL), "the attribute name", &attr)) return -1;
    const jv *tv = arg(a, k++, NULL);
    if (tv && want_str(r, at, tv, "the test name", &test)) return -1;
    char tname[64];
    snprintf(tname, sizeof tname, "%.*s", (int)(test.n < 63 ? test.n : 63), test.p);
    if (tv && !jb_test_exists(tname)) return jr_fail(r, at, TA_EINVAL, "no test named '%s'", tname);
    jargs rest = shift_args(a, k);
    if (je_iterate(r, at, in, &l) || !(res = jl_new(r, at, 0)) || jr_step(r, at, l->n)) return -1;
    for (size_t i = 0; i < l->n; i++) {
        jv v = l->v[i];
        if (by_attr && attr_path(r, at, v, attr, &v)) return -1;
        bool ok;
        if (tv) {
            if (jb_test(r, at, tname, v, &rest, &ok)) return -1;
        } else {
            ok = jv_truthy(v);
        }
        if (ok == want && jl_push(r, at, res, l->v[i])) return -1;
    }
    return mk_list(out, res);
}

static int f_select(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    return select_common(r, at, in, a, false, true, out);
}

static int f_reject(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    return select_common(r, at, in, a, false, false, out);
}

static int f_selectattr(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    return select_common(r, at, in, a, true, true, out);
}

static int f_rejectattr(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    return select_common(r, at, in, a, true, false, out);
}

static int f_map(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jlist *l, *res;
    if (je_iterate(r, at, in, &l) || !(res = jl_new(r, at, l->n)) || jr_step(r, at, l->n))
        return -1;
    const jv *attr = arg(a, 0xffff, "attribute"), *dflt = arg(a, 0xffff, "default");
    jstr name;
    if (attr) {
        if (want_str(r, at, attr, "map's attribute", &name)) return -1;
    } else if (want_str(r, at, arg(a, 0, NULL), "map's filter name", &name)) {
        return -1;
    }
    char fname[64];
    snprintf(fname, sizeof fname, "%.*s", (int)(name.n < 63 ? name.n : 63), name.p);
    if (!attr && !jb_filter_exists(fname))
        return jr_fail(r, at, TA_EINVAL, "no filter named '%s'", fname);
    jargs rest = shift_args(a, 1);
    for (size_t i = 0; i < l->n; i++) {
        jv v = l->v[i];
        if (attr) {
            if (attr_path(r, at, v, name, &v)) return -1;
            if (v.k == JV_UNDEF && dflt) v = *dflt;
        } else if (jb_filter(r, at, fname, v, &rest, &v)) {
            return -1;
        }
        res->v[res->n++] = v;
    }
    return mk_list(out, res);
}

/* Sort key: the attribute if given, strings lowercased unless case-sensitive. */
static int sort_key(jrender *r, const jnode *at, jv v, const jstr *attr, bool cs, jv *key)
{
    if (attr && attr_path(r, at, v, *attr, &v)) return -1;
    if (!cs && v.k == JV_STR) return case_map(r, at, v.u.s, CASE_LOWER, key);
    *key = v;
    return 0;
}

/* A stable merge sort of items by keys; fails on keys that cannot be ordered. */
static int sort_items(jrender *r, const jnode *at, jv *items, jv *keys, size_t n, bool reverse)
{
    jv *ti = jr_alloc(r, at, (n + 1) * sizeof(jv)), *tk = jr_alloc(r, at, (n + 1) * sizeof(jv));
    if (!ti || !tk) return -1;
    for (size_t w = 1; w < n; w *= 2) {
        if (jr_step(r, at, n)) return -1;
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid || j < hi) {
                bool take_right = false;
                if (i < mid && j < hi) {
                    bool ok;
                    int c = jv_compare(keys[j], keys[i], &ok);
                    if (!ok)
                        return jr_fail(r, at, TA_EINVAL,
                                       "cannot sort: '<' not supported between "
                                       "%s and %s",
                                       jv_kind_name(keys[j]), jv_kind_name(keys[i]));
                    take_right = reverse ? c > 0 : c < 0;
                } else {
                    take_right = i >= mid;
                }
                size_t s = take_right ? j++ : i++;
                ti[o] = items[s];
                tk[o++] = keys[s];
            }
        }
        memcpy(items, ti, n * sizeof(jv));
        memcpy(keys, tk, n * sizeof(jv));
    }
    return 0;
}

static int f_sort(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jlist *l, *res;
    bool reverse = want_bool(arg(a, 0, "reverse"), false);
    bool cs = want_bool(arg(a, 1, "case_sensitive"), false);
    const jv *av = arg(a, 2, "attribute");
    jstr attr;
    if (av && want_str(r, at, av, "sort's attribute", &attr)) return -1;
    if (je_iterate(r, at, in, &l) || !(res = jl_new(r, at, l->n))) return -1;
    jv *keys = jr_alloc(r, at, (l->n + 1) * sizeof(jv));
    if (!keys) return -1;
    for (size_t i = 0; i < l->n; i++) {
        res->v[i] = l->v[i];
        if (sort_key(r, at, l->v[i], av ? &attr : NULL, cs, &keys[i])) return -1;
    }
    res->n = l->n;
    if (sort_items(r, at, res->v, keys, res->n, reverse)) return -1;
    return mk_list(out, res);
}

static int f_dictsort(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    bool cs = want_bool(arg(a, 0, "case_sensitive"), false);
    const jv *by = arg(a, 1, "by");
    bool reverse = want_bool(arg(a, 2, "reverse"), false);
    bool by_value = by && by->k == JV_STR && by->u.s.n == 5 && !memcmp(by->u.s.p, "value", 5);
    jv items;
    if (items_of(r, at, in, &items)) return -1;
    jlist *l = items.u.l;
    jv *keys = jr_alloc(r, at, (l->n + 1) * sizeof(jv));
    if (!keys) return -1;
    for (size_t i = 0; i < l->n; i++)
        if (sort_key(r, at, l->v[i].u.l->v[by_value ? 1 : 0], NULL, cs, &keys[i])) return -1;
    if (sort_items(r, at, l->v, keys, l->n, reverse)) return -1;
    *out = items;
    return 0;
}

static int f_unique(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jlist *l, *res;
    bool cs = want_bool(arg(a, 0, "case_sensitive"), false);
    const jv *av = arg(a, 1, "attribute");
    jstr attr;
    if (av && want_str(r, at, av, "unique's attribute", &attr)) return -1;
    if (je_iterate(r, at, in, &l) || !(res = jl_new(r, at, 0))) return -1;
    jv *seen = jr_alloc(r, at, (l->n + 1) * sizeof(jv));
    if (!seen) return -1;
    size_t nseen = 0;
    for (size_t i = 0; i < l->n; i++) {
        jv key;
        if (sort_key(r, at, l->v[i], av ? &attr : NULL, cs, &key) || jr_step(r, at, nseen))
            return -1;
        bool dup = false;
        for (size_t k = 0; k < nseen && !dup; k++)
            dup = jv_equal(seen[k], key);
        if (dup) continue;
        seen[nseen++] = key;
        if (jl_push(r, at, res, l->v[i])) return -1;
    }
    return mk_list(out, res);
}

static int f_indent(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jstr s, pad = {"    ", 4};
    const jv *w = arg(a, 0, "width");
    char spaces[256];
    if (w && w->k == JV_STR) {
        pad = w->u.s;
    } else if (w) {
        int64_t n;
        if (want_int(r, at, w, 4, "indent's width", &n)) return -1;
        if (n < 0) n = 0;
        if (n > 255) n = 255;
        memset(spaces, ' ', (size_t)n);
        pad = (jstr){spaces, (size_t)n};
    }
    bool first = want_bool(arg(a, 1, "first"), false);
    bool blank = want_bool(arg(a, 2, "blank"), false);
    if (str_of(r, at, in, &s)) return -1;
    jbuf b = {0};
    int rc = jr_step(r, at, s.n / 16);
    size_t i = 0;
    bool line_start = true, first_line = true;
    while (rc == 0 && i < s.n) {
        const char *nl = memchr(s.p + i, '\n', s.n - i);
        size_t e = nl ? (size_t)(nl - s.p) : s.n;
        bool empty = e == i;
        bool pad_it = line_start && (first_line ? first : true) && (blank || !empty);
        if ((pad_it && !jb_put(&b, pad.p, pad.n)) || !jb_put(&b, s.p + i, e - i) ||
            (nl && !jb_put(&b, "\n", 1)))
            rc = jr_fail(r, at, TA_ENOMEM, "out of memory");
        if (b.n > r->max_output)
            rc = jr_fail(r, at, TA_ETOOBIG, "string longer than the output limit");
        first_line = false;
        i = nl ? e + 1 : s.n;
    }
    if (!rc) rc = js_new(r, at, b.p ? b.p : "", b.n, out);
    free(b.p);
    return rc;
}

static int f_safe(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    (void)r;
    (void)at;
    (void)a;
    *out = in;
    return 0;
}

static int f_escape(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    (void)a;
    jstr s;
    if (str_of(r, at, in, &s)) return -1;
    jbuf b = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s.n; i++) {
        const char *rep = NULL;
        switch (s.p[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&#34;"; break;
        case '\'': rep = "&#39;"; break;
        }
        if (!(rep ? jb_put(&b, rep, strlen(rep)) : jb_put(&b, s.p + i, 1))) rc = -1;
    }
    if (rc) jr_fail(r, at, TA_ENOMEM, "out of memory");
    if (!rc) rc = js_new(r, at, b.p ? b.p : "", b.n, out);
    free(b.p);
    return rc;
}

static int want_number(jrender *r, const jnode *at, jv in, const char *what)
{
    if (in.k == JV_INT || in.k == JV_FLOAT || in.k == JV_BOOL) return 0;
    return jr_fail(r, at, TA_EINVAL, "%s needs a number, not %s", what, jv_kind_name(in));
}

static int f_round(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    int64_t prec;
    jstr method = {"common", 6};
    const jv *m = arg(a, 1, "method");
    if (want_number(r, at, in, "round") ||
        want_int(r, at, arg(a, 0, "precision"), 0, "round's precision", &prec) ||
        (m && want_str(r, at, m, "round's method", &method)))
        return -1;
    double x = in.k == JV_FLOAT ? in.u.f : in.k == JV_INT ? (double)in.u.i : in.u.b;
    if (prec > 300) prec = 300;
    if (prec < -300) prec = -300;
    double scale = pow(10.0, (double)prec), y = x * scale;
    if (method.n == 5 && !memcmp(method.p, "floor", 5))
        y = floor(y);
    else if (method.n == 4 && !memcmp(method.p, "ceil", 4))
        y = ceil(y);
    else
        y = nearbyint(y); /* Python rounds halves to even */
    *out = jv_float(isfinite(y) ? y / scale : x);
    return 0;
}

static int f_abs(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    (void)a;
    if (want_number(r, at, in, "abs")) return -1;
    if (in.k == JV_FLOAT)
        *out = jv_float(fabs(in.u.f));
    else if (in.k == JV_BOOL)
        *out = jv_int(in.u.b);
    else if (in.u.i == INT64_MIN)
        return jr_fail(r, at, TA_EINVAL, "integer overflow in abs");
    else
        *out = jv_int(in.u.i < 0 ? -in.u.i : in.u.i);
    return 0;
}

static int f_sum(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jlist *l;
    const jv *av = arg(a, 0, "attribute"), *st = arg(a, 1, "start");
    jstr attr;
    if (av && want_str(r, at, av, "sum's attribute", &attr)) return -1;
    if (je_iterate(r, at, in, &l)) return -1;
    jv acc = st ? *st : jv_int(0);
    for (size_t i = 0; i < l->n; i++) {
        jv v = l->v[i];
        if (av && attr_path(r, at, v, attr, &v)) return -1;
        if (want_number(r, at, v, "sum") || want_number(r, at, acc, "sum")) return -1;
        if (acc.k == JV_FLOAT || v.k == JV_FLOAT) {
            double x = acc.k == JV_FLOAT ? acc.u.f : acc.k == JV_INT ? (double)acc.u.i : acc.u.b;
            double y = v.k == JV_FLOAT ? v.u.f : v.k == JV_INT ? (double)v.u.i : v.u.b;
            acc = jv_float(x + y);
        } else {
            int64_t z, x = acc.k == JV_INT ? acc.u.i : acc.u.b, y = v.k == JV_INT ? v.u.i : v.u.b;
            if (__builtin_add_overflow(x, y, &z))
                return jr_fail(r, at, TA_EINVAL, "integer overflow in sum");
            acc = jv_int(z);
        }
    }
    *out = acc;
    return 0;
}

static int min_max(jrender *r, const jnode *at, jv in, const jargs *a, bool max, jv *out)
{
    jlist *l;
    bool cs = want_bool(arg(a, 0, "case_sensitive"), false);
    const jv *av = arg(a, 1, "attribute");
    jstr attr;
    if (av && want_str(r, at, av, "the attribute", &attr)) return -1;
    if (je_iterate(r, at, in, &l)) return -1;
    *out = jv_undef("");
    jv best_key = jv_undef("");
    for (size_t i = 0; i < l->n; i++) {
        jv key;
        if (sort_key(r, at, l->v[i], av ? &attr : NULL, cs, &key)) return -1;
        if (i) {
            bool ok;
            int c = jv_compare(key, best_key, &ok);
            if (!ok)
                return jr_fail(r, at, TA_EINVAL, "cannot compare %s and %s", jv_kind_name(key),
                               jv_kind_name(best_key));
            if (max ? c <= 0 : c >= 0) continue;
        }
        best_key = key;
        *out = l->v[i];
    }
    return 0;
}

static int f_min(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    return min_max(r, at, in, a, false, out);
}

static int f_max(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    return min_max(r, at, in, a, true, out);
}

static int f_attr(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jstr name;
    if (want_str(r, at, arg(a, 0, "name"), "attr's name", &name)) return -1;
    /* attributes only: a dict's keys are items, not attributes */
    if (in.k != JV_LOOP) {
        *out = jv_undef("");
        return 0;
    }
    return je_getitem(r, at, in, jv_str(name.p, name.n), out);
}

static int f_wordcount(jrender *r, const jnode *at, jv in, const jargs *a, jv *out)
{
    jstr s;
    (void)a;
    if (str_of(r, at, in, &s)) return -1;
    int64_t n = 0;
    bool in_word = false;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        bool w = c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                 (c >= 'A' && c <= 'Z');
        if (w && !in_word) n++;
        in_word = w;
    }
    *out = jv_int(n);
    return 0;
}

static const struct {
    const char *name;
    filter_fn fn;
} filters[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"capitalize", f_capitalize},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"first", f_first},
    {"float", f_float},
    {"forceescape", f_escape},
    {"indent", f_indent},
    {"int", f_int},
    {"items", f_items},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_lower},
    {"map", f_map},
    {"max", f_max},
    {"min", f_min},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"selectattr", f_selectattr},
    {"sort", f_sort},
    {"string", f_string},
    {"sum", f_sum},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"unique", f_unique},
    {"upper", f_upper},
    {"wordcount", f_wordcount},
};

static filter_fn find_filter(const char *name)
{
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        if (!strcmp(filters[i].name, name)) return filters[i].fn;
    return NULL;
}

bool jb_filter_exists(const char *name)
{
    return find_filter(name) != NULL;
}

int jb_filter(jrender *r, const jnode *at, const char *name, jv in, const jargs *a, jv *out)
{
    filter_fn fn = find_filter(name);
    if (!fn) return jr_fail(r, at, TA_EINVAL, "no filter named '%s'", name);
    return fn(r, at, in, a, out);
}

/* ---- tests ---- */

#define TEST_KIND(fname, expr)                                                                     \
    static int fname(jrender *r, const jnode *at, jv in, const jargs *a, bool *out)                \
    {                                                                                              \
        (void)r;                                                                                   \
        (void)at;                                                                                  \
        (void)a;                                                                                   \
        (void)in;                                                                                  \
        *out = (expr);                                                                             \
        return 0;                                                                                  \
    }

TEST_KIND(t_defined, in.k != JV_UNDEF)
TEST_KIND(t_undefined, in.k == JV_UNDEF)
TEST_KIND(t_none, in.k == JV_NONE)
TEST_KIND(t_string, in.k == JV_STR)
TEST_KIND(t_number, in.k == JV_INT || in.k == JV_FLOAT || in.k == JV_BOOL)
TEST_KIND(t_integer, in.k == JV_INT)
TEST_KIND(t_float, in.k == JV_FLOAT)
TEST_KIND(t_mapping, in.k == JV_DICT)
TEST_KIND(t_iterable, in.k == JV_STR || in.k == JV_LIST || in.k == JV_DICT || in.k == JV_UNDEF)
TEST_KIND(t_sequence, in.k == JV_STR || in.k == JV_LIST || in.k == JV_DICT)
TEST_KIND(t_boolean, in.k == JV_BOOL)
TEST_KIND(t_true, in.k == JV_BOOL && in.u.b)
TEST_KIND(t_false, in.k == JV_BOOL && !in.u.b)
TEST_KIND(t_callable, in.k == JV_FUNC)
TEST_KIND(t_escaped, false)

static int int_arg_test(jrender *r, const jnode *at, jv in, const char *what, int64_t *out)
{
    *out = 0;
    if (in.k == JV_INT || in.k == JV_BOOL) {
        *out = in.k == JV_INT ? in.u.i : in.u.b;
        return 0;
    }
    if (in.k == JV_UNDEF) return jr_fail(r, at, TA_EINVAL, "'%s' test on an undefined value", what);
    return jr_fail(r, at, TA_EINVAL, "'%s' test needs an integer, not %s", what, jv_kind_name(in));
}

static int t_odd(jrender *r, const jnode *at, jv in, const jargs *a, bool *out)
{
    (void)a;
    int64_t i;
    if (int_arg_test(r, at, in, "odd", &i)) return -1;
    *out = i % 2 != 0;
    return 0;
}

static int t_even(jrender *r, const jnode *at, jv in, const jargs *a, bool *out)
{
    (void)a;
    int64_t i;
    if (int_arg_test(r, at, in, "even", &i)) return -1;
    *out = i % 2 == 0;
    return 0;
}

static int t_divisibleby(jrender *r, const jnode *at, jv in, const jargs *a, bool *out)
{
    int64_t i, d;
    if (int_arg_test(r, at, in, "divisibleby", &i) ||
        want_int(r, at, arg(a, 0, "num"), 0, "divisibleby's argument", &d))
        return -1;
    if (d == 0) return jr_fail(r, at, TA_EINVAL, "divisibleby 0");
    *out = d == -1 || i % d == 0;
    return 0;
}

static int compare_test(jrender *r, const jnode *at, jv in, const jargs *a, int op, bool *out)
{
    const jv *o = arg(a, 0, NULL);
    jv other = o ? *o : jv_undef("");
    if (op == OP_EQ || op == OP_NE) {
        *out = jv_equal(in, other) == (op == OP_EQ);
        return 0;
    }
    bool ok;
    int c = jv_compare(in, other, &ok);
    if (!ok)
        return jr_fail(r, at, TA_EINVAL, "cannot compare %s and %s", jv_kind_name(in),
                       jv_kind_name(other));
    *out = op == '<' ? c < 0 : op == '>' ? c > 0 : op == OP_LE ? c <= 0 : c >= 0;
    return 0;
}

#define TEST_CMP(fname, op)                                                                        \
    static int fname(jrender *r, const jnode *at, jv in, const jargs *a, bool *out)                \
    {                                                                                              \
        return compare_test(r, at, in, a, op, out);                                                \
    }
TEST_CMP(t_eq, OP_EQ)
TEST_CMP(t_ne, OP_NE)
TEST_CMP(t_lt, '<')
TEST_CMP(t_gt, '>')
TEST_CMP(t_le, OP_LE)
TEST_CMP(t_ge, OP_GE)

static int t_sameas(jrender *r, const jnode *at, jv in, const jargs *a, bool *out)
{
    (void)r;
    (void)at;
    const jv *o = arg(a, 0, NULL);
    jv other = o ? *o : jv_undef("");
    /* identity: singletons compare by kind and value, containers by pointer */
    if (in.k != other.k)
        *out = false;
    else if (in.k == JV_LIST)
        *out = in.u.l == other.u.l;
    else if (in.k == JV_DICT)
        *out = in.u.d == other.u.d;
    else
        *out = jv_equal(in, other);
    return 0;
}

static int t_in(jrender *r, const jnode *at, jv in, const jargs *a, bool *out)
{
    const jv *o = arg(a, 0, NULL);
    if (!o) return jr_fail(r, at, TA_EINVAL, "'in' test needs a container");
    jlist *l;
    if (o->k == JV_STR && in.k == JV_STR) {
        *out = in.u.s.n == 0 || memmem(o->u.s.p, o->u.s.n, in.u.s.p, in.u.s.n);
        return 0;
    }
    if (o->k == JV_DICT) {
        *out = jd_get(o->u.d, in) != NULL;
        return 0;
    }
    if (je_iterate(r, at, *o, &l)) return -1;
    *out = false;
    for (size_t i = 0; i < l->n && !*out; i++)
        *out = jv_equal(in, l->v[i]);
    return 0;
}

static int t_case(jrender *r, const jnode *at, jv in, bool upper, bool *out)
{
    jv m;
    if (in.k != JV_STR) {
        *out = false;
        return 0;
    }
    if (case_map(r, at, in.u.s, upper ? CASE_UPPER : CASE_LOWER, &m)) return -1;
    *out = jv_equal(in, m);
    return 0;
}

static int t_lower(jrender *r, const jnode *at, jv in, const jargs *a, bool *out)
{
    (void)a;
    return t_case(r, at, in, false, out);
}

static int t_upper(jrender *r, const jnode *at, jv in, const jargs *a, bool *out)
{
    (void)a;
    return t_case(r, at, in, true, out);
}

static int t_filter(jrender *r, const jnode *at, jv in, const jargs *a, bool *out)
{
    (void)r;
    (void)at;
    (void)a;
    *out = in.k == JV_STR && in.u.s.n < 64 && find_filter(in.u.s.p) != NULL;
    return 0;
}

static const struct {
    const char *name;
    test_fn fn;
} tests[] = {
    {"!=", t_ne},
    {"<", t_lt},
    {"<=", t_le},
    {"==", t_eq},
    {">", t_gt},
    {">=", t_ge},
    {"boolean", t_boolean},
    {"callable", t_callable},
    {"defined", t_defined},
    {"divisibleby", t_divisibleby},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"escaped", t_escaped},
    {"even", t_even},
    {"false", t_false},
    {"filter", t_filter},
    {"float", t_float},
    {"ge", t_ge},
    {"greaterthan", t_gt},
    {"gt", t_gt},
    {"in", t_in},
    {"integer", t_integer},
    {"iterable", t_iterable},
    {"le", t_le},
    {"lessthan", t_lt},
    {"lower", t_lower},
    {"lt", t_lt},
    {"mapping", t_mapping},
    {"ne", t_ne},
    {"none", t_none},
    {"number", t_number},
    {"odd", t_odd},
    {"sameas", t_sameas},
    {"sequence", t_sequence},
    {"string", t_string},
    {"true", t_true},
    {"undefined", t_undefined},
    {"upper", t_upper},
};

static test_fn find_test(const char *name)
{
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (!strcmp(tests[i].name, name)) return tests[i].fn;
    return NULL;
}

bool jb_test_exists(const char *name)
{
    return find_test(name) != NULL;
}

int jb_test(jrender *r, const jnode *at, const char *name, jv in, const jargs *a, bool *out)
{
    test_fn fn = find_test(name);
    if (!fn) return jr_fail(r, at, TA_EINVAL, "no test named '%s'", name);
    return fn(r, at, in, a, out);
}

/* ---- methods ---- */

static bool is(const char *name, const char *s)
{
    return !strcmp(name, s);
}

static int str_method(jrender *r, const jnode *at, jv s, const char *name, const jargs *a, jv *out,
                      bool *found)
{
    *found = true;
    if (is(name, "strip")) return do_strip(r, at, s, a, true, true, out);
    if (is(name, "lstrip")) return do_strip(r, at, s, a, true, false, out);
    if (is(name, "rstrip")) return do_strip(r, at, s, a, false, true, out);
    if (is(name, "startswith")) return starts_ends(r, at, s, a, false, out);
    if (is(name, "endswith")) return starts_ends(r, at, s, a, true, out);
    if (is(name, "split")) return do_split(r, at, s, a, out);
    if (is(name, "upper")) return case_map(r, at, s.u.s, CASE_UPPER, out);
    if (is(name, "lower")) return case_map(r, at, s.u.s, CASE_LOWER, out);
    if (is(name, "capitalize")) return case_map(r, at, s.u.s, CASE_CAPITALIZE, out);
    if (is(name, "title")) return case_map(r, at, s.u.s, CASE_TITLE_METHOD, out);
    if (is(name, "replace")) return do_replace(r, at, s, a, out);
    if (is(name, "find") || is(name, "count")) {
        jstr sub;
        if (want_str(r, at, arg(a, 0, NULL), name, &sub) || jr_step(r, at, s.u.s.n / 64)) return -1;
        if (is(name, "find")) {
            const char *hit = memmem(s.u.s.p, s.u.s.n, sub.p, sub.n);
            *out = jv_int(hit ? (int64_t)ju_len((jstr){s.u.s.p, (size_t)(hit - s.u.s.p)}) : -1);
            return 0;
        }
        int64_t n = 0;
        if (sub.n == 0) n = (int64_t)ju_len(s.u.s) + 1;
        for (size_t i = 0; sub.n && i + sub.n <= s.u.s.n;) {
            const char *hit = memmem(s.u.s.p + i, s.u.s.n - i, sub.p, sub.n);
            if (!hit) break;
            n++;
            i = (size_t)(hit - s.u.s.p) + sub.n;
        }
        *out = jv_int(n);
        return 0;
    }
    if (is(name, "join")) {
        jargs ja = {1, &s, (const char *[]){NULL}, at};
        const jv *items = arg(a, 0, NULL);
        if (!items) return jr_fail(r, at, TA_EINVAL, "join() needs an iterable");
        return f_join(r, at, *items, &ja, out);
    }
    if (is(name, "splitlines")) {
        jlist *l = jl_new(r, at, 0);
        if (!l) return -1;
        size_t i = 0;
        while (i < s.u.s.n) {
            size_t j = i;
            while (j < s.u.s.n && s.u.s.p[j] != '\n' && s.u.s.p[j] != '\r')
                j++;
            if (jl_push(r, at, l, jv_str(s.u.s.p + i, j - i))) return -1;
            if (j + 1 < s.u.s.n && s.u.s.p[j] == '\r' && s.u.s.p[j + 1] == '\n') j++;
            i = j + 1;
        }
        return mk_list(out, l);
    }
    if (is(name, "isdigit") || is(name, "isspace") || is(name, "isalpha")) {
        bool ok = s.u.s.n > 0;
        for (size_t i = 0; i < s.u.s.n && ok; i++) {
            unsigned char c = (unsigned char)s.u.s.p[i];
            ok = is(name, "isdigit")   ? (c >= '0' && c <= '9')
                 : is(name, "isspace") ? is_space_cp(c)
                                       : ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80;
        }
        *out = jv_bool(ok);
        return 0;
    }
    *found = false;
    return 0;
}

static int dict_method(jrender *r, const jnode *at, jv d, const char *name, const jargs *a, jv *out,
                       bool *found)
{
    *found = true;
    if (is(name, "items")) return items_of(r, at, d, out);
    if (is(name, "keys") || is(name, "values")) {
        jlist *l = jl_new(r, at, d.u.d->n);
        if (!l || jr_step(r, at, d.u.d->n)) return -1;
        memcpy(l->v, is(name, "keys") ? d.u.d->keys : d.u.d->vals, d.u.d->n * sizeof(jv));
        l->n = d.u.d->n;
        return mk_list(out, l);
    }
    if (is(name, "get")) {
        const jv *k = arg(a, 0, NULL), *dflt = arg(a, 1, NULL);
        if (!k) return jr_fail(r, at, TA_EINVAL, "get() needs a key");
        jv *v = jd_get(d.u.d, *k);
        *out = v ? *v : dflt ? *dflt : jv_none();
        return 0;
    }
    if (is(name, "update")) {
        const jv *o = arg(a, 0, NULL);
        if (o && o->k == JV_DICT)
            for (size_t i = 0; i < o->u.d->n; i++)
                if (jd_set(r, at, d.u.d, o->u.d->keys[i], o->u.d->vals[i])) return -1;
        for (size_t i = 0; i < a->n; i++)
            if (a->kw[i] && jd_set(r, at, d.u.d, jv_str(a->kw[i], strlen(a->kw[i])), a->v[i]))
                return -1;
        *out = jv_none();
        return 0;
    }
    *found = false;
    return 0;
}

static int list_method(jrender *r, const jnode *at, jv l, const char *name, const jargs *a, jv *out,
                       bool *found)
{
    *found = true;
    if (is(name, "append")) {
        const jv *v = arg(a, 0, NULL);
        if (!v) return jr_fail(r, at, TA_EINVAL, "append() needs an argument");
        *out = jv_none();
        return jl_push(r, at, l.u.l, *v);
    }
    if (is(name, "extend")) {
        jlist *src;
        const jv *v = arg(a, 0, NULL);
        if (!v || je_iterate(r, at, *v, &src))
            return v ? -1 : jr_fail(r, at, TA_EINVAL, "extend() needs an iterable");
        for (size_t i = 0; i < src->n; i++)
            if (jl_push(r, at, l.u.l, src->v[i])) return -1;
        *out = jv_none();
        return 0;
    }
    if (is(name, "pop")) {
        int64_t i;
        if (want_int(r, at, arg(a, 0, NULL), -1, "pop's index", &i)) return -1;
        int64_t n = (int64_t)l.u.l->n;
        if (i < 0) i += n;
        if (i < 0 || i >= n) return jr_fail(r, at, TA_EINVAL, "pop index out of range");
        *out = l.u.l->v[i];
        memmove(&l.u.l->v[i], &l.u.l->v[i + 1], (size_t)(n - i - 1) * sizeof(jv));
        l.u.l->n--;
        return 0;
    }
    if (is(name, "index")) {
        const jv *v = arg(a, 0, NULL);
        for (size_t i = 0; v && i < l.u.l->n; i++)
            if (jv_equal(l.u.l->v[i], *v)) {
                *out = jv_int((int64_t)i);
                return 0;
            }
        return jr_fail(r, at, TA_EINVAL, "index(): value is not in the list");
    }
    *found = false;
    return 0;
}

int jb_method(jrender *r, const jnode *at, jv obj, const char *name, const jargs *a, jv *out,
              bool *found)
{
    *found = false;
    switch (obj.k) {
    case JV_STR: return str_method(r, at, obj, name, a, out, found);
    case JV_DICT:
        /* a namespace's attributes shadow nothing: ns.items is the attribute when set */
        if (obj.u.d->ns && jd_get_str(obj.u.d, name, strlen(name))) return 0;
        return dict_method(r, at, obj, name, a, out, found);
    case JV_LIST: return list_method(r, at, obj, name, a, out, found);
    case JV_LOOP:
        if (is(name, "cycle")) {
            *found = true;
            size_t n = npositional(a);
            if (!n) return jr_fail(r, at, TA_EINVAL, "loop.cycle() needs at least one value");
            *out = *arg(a, obj.u.loop->index0 % n, NULL);
            return 0;
        }
        return 0;
    default: return 0;
    }
}

/* ---- global functions ---- */

static int g_range(jrender *r, const jargs *a, jv *out)
{
    int64_t lo = 0, hi, step = 1;
    size_t n = npositional(a);
    if (n == 0 || n > 3) return jr_fail(r, a->at, TA_EINVAL, "range() takes 1 to 3 arguments");
    if (n == 1) {
        if (want_int(r, a->at, arg(a, 0, NULL), 0, "range's stop", &hi)) return -1;
    } else if (want_int(r, a->at, arg(a, 0, NULL), 0, "range's start", &lo) ||
               want_int(r, a->at, arg(a, 1, NULL), 0, "range's stop", &hi) ||
               want_int(r, a->at, arg(a, 2, NULL), 1, "range's step", &step)) {
        return -1;
    }
    if (step == 0) return jr_fail(r, a->at, TA_EINVAL, "range() step must not be zero");
    /* the count, computed without overflow */
    uint64_t count = 0;
    if (step > 0 && hi > lo) count = ((uint64_t)hi - (uint64_t)lo - 1) / (uint64_t)step + 1;
    if (step < 0 && lo > hi)
        count = ((uint64_t)lo - (uint64_t)hi - 1) / ((uint64_t)0 - (uint64_t)step) + 1;
    /* the steps are charged before anything is built: range(10**9) fails at once */
    if (jr_step(r, a->at, count)) return -1;
    jlist *l = jl_new(r, a->at, (size_t)count);
    if (!l) return -1;
    for (uint64_t i = 0; i < count; i++)
        l->v[l->n++] = jv_int((int64_t)((uint64_t)lo + i * (uint64_t)step));
    return mk_list(out, l);
}

static int make_dict(jrender *r, const jargs *a, bool ns, jv *out)
{
    jdict *d = jd_new(r, a->at, a->n);
    if (!d) return -1;
    d->ns = ns;
    for (size_t i = 0; i < a->n; i++) {
        if (!a->kw[i]) {
            if (a->v[i].k != JV_DICT)
                return jr_fail(r, a->at, TA_EINVAL, "%s() takes keyword arguments or a mapping",
                               ns ? "namespace" : "dict");
            for (size_t k = 0; k < a->v[i].u.d->n; k++)
                if (jd_set(r, a->at, d, a->v[i].u.d->keys[k], a->v[i].u.d->vals[k])) return -1;
        } else if (jd_set(r, a->at, d, jv_str(a->kw[i], strlen(a->kw[i])), a->v[i])) {
            return -1;
        }
    }
    out->k = JV_DICT;
    out->u.d = d;
    return 0;
}

static int g_namespace(jrender *r, const jargs *a, jv *out)
{
    return make_dict(r, a, true, out);
}

static int g_dict(jrender *r, const jargs *a, jv *out)
{
    return make_dict(r, a, false, out);
}

static int g_raise_exception(jrender *r, const jargs *a, jv *out)
{
    (void)out;
    const jv *m = arg(a, 0, NULL);
    jstr s = {"raise_exception() called", 24};
    if (m && m->k == JV_STR) s = m->u.s;
    return jr_fail(r, a->at, TA_EINVAL, "%.*s", (int)(s.n > 400 ? 400 : s.n), s.p);
}

static int g_strftime_now(jrender *r, const jargs *a, jv *out)
{
    jstr fmt;
    if (want_str(r, a->at, arg(a, 0, NULL), "strftime_now's format", &fmt)) return -1;
    char f[256], buf[512];
    if (fmt.n >= sizeof f) return jr_fail(r, a->at, TA_EINVAL, "strftime_now: format too long");
    memcpy(f, fmt.p, fmt.n);
    f[fmt.n] = '\0';
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    /* the format comes from the template: strftime only reads it */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    size_t n = fmt.n ? strftime(buf, sizeof buf, f, &tm) : 0;
#pragma GCC diagnostic pop
    return js_new(r, a->at, buf, n, out);
}

jbuiltin_fn jb_global(const char *name)
{
    if (is(name, "range")) return g_range;
    if (is(name, "namespace")) return g_namespace;
    if (is(name, "dict")) return g_dict;
    if (is(name, "raise_exception")) return g_raise_exception;
    if (is(name, "strftime_now")) return g_strftime_now;
    return NULL;
}
