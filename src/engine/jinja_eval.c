/*
 * jinja_eval.c - renders a parsed template: scopes, statements, expressions, calls.
 *
 * Scoping follows Jinja: the template's top level is one frame (the variables passed
 * in live in a frame above it), every for loop, macro call and call-block body gets a
 * frame of its own, and `set` always writes the innermost frame, so a `set` inside a
 * loop is not seen after it (which is why templates use namespace()). if blocks share
 * their enclosing frame.
 *
 * Every node evaluated, loop iteration and piece of bulk work counts against the step
 * limit; recursion (nested expressions, blocks, macro calls) is bounded; strings and
 * the output are bounded by the output limit; all memory comes from the render's
 * arena, whose budget is the memory limit.
 */
#include "jinja_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* C recursion guard for evaluation, independent of the macro depth limit. */
#define MAX_EVAL_DEPTH 1000

enum { EX_OK = 0, EX_BREAK = 1, EX_CONTINUE = 2, EX_ERR = -1 };

static int eval(jrender *r, const jnode *n, jv *out);
static int exec(jrender *r, const jnode *n);

/* ---- scopes ---- */

static jframe *frame_new(jrender *r, const jnode *at, jframe *parent)
{
    jframe *f = jr_alloc(r, at, sizeof *f);
    if (f) memset(f, 0, sizeof *f);
    if (f) f->parent = parent;
    return f;
}

static jv *frame_find(jframe *f, const char *name)
{
    for (; f; f = f->parent)
        for (size_t i = 0; i < f->n; i++)
            if (!strcmp(f->names[i], name)) return &f->vals[i];
    return NULL;
}

static int frame_set(jrender *r, const jnode *at, jframe *f, const char *name, jv v)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->names[i], name)) {
            f->vals[i] = v;
            return 0;
        }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        const char **nn = jr_alloc(r, at, cap * sizeof *nn);
        jv *nv = jr_alloc(r, at, cap * sizeof *nv);
        if (!nn || !nv) return -1;
        if (f->n) {
            memcpy(nn, f->names, f->n * sizeof *nn);
            memcpy(nv, f->vals, f->n * sizeof *nv);
        }
        f->names = nn;
        f->vals = nv;
        f->cap = cap;
    }
    f->names[f->n] = name;
    f->vals[f->n] = v;
    f->n++;
    return 0;
}

static int emit(jrender *r, const jnode *at, jv v)
{
    return jv_write_str(r, at, r->out, v);
}

/* ---- attribute, item, iteration ---- */

static int loop_attr(jrender *r, const jnode *at, const jloop *lp, const char *name, jv *out)
{
    size_t n = lp->items->n, i = lp->index0;
    if (!strcmp(name, "index"))
        *out = jv_int((int64_t)i + 1);
    else if (!strcmp(name, "index0"))
        *out = jv_int((int64_t)i);
    else if (!strcmp(name, "revindex"))
        *out = jv_int((int64_t)(n - i));
    else if (!strcmp(name, "revindex0"))
        *out = jv_int((int64_t)(n - i - 1));
    else if (!strcmp(name, "first"))
        *out = jv_bool(i == 0);
    else if (!strcmp(name, "last"))
        *out = jv_bool(i + 1 == n);
    else if (!strcmp(name, "length"))
        *out = jv_int((int64_t)n);
    else if (!strcmp(name, "depth"))
        *out = jv_int(1);
    else if (!strcmp(name, "depth0"))
        *out = jv_int(0);
    else if (!strcmp(name, "previtem"))
        *out = i > 0 ? lp->items->v[i - 1] : jv_undef("previtem");
    else if (!strcmp(name, "nextitem"))
        *out = i + 1 < n ? lp->items->v[i + 1] : jv_undef("nextitem");
    else
        *out = jv_undef(name);
    (void)r;
    (void)at;
    return 0;
}

int je_getattr(jrender *r, const jnode *at, jv obj, const char *name, jv *out)
{
    switch (obj.k) {
    case JV_DICT: {
        jv *v = jd_get_str(obj.u.d, name, strlen(name));
        *out = v ? *v : jv_undef(name);
        return 0;
    }
    case JV_LOOP: return loop_attr(r, at, obj.u.loop, name, out);
    default:
        /* a missing attribute, also of undefined, is undefined (tests use `is defined`) */
        *out = jv_undef(name);
        return 0;
    }
}

int je_getitem(jrender *r, const jnode *at, jv obj, jv key, jv *out)
{
    if (key.k == JV_BOOL) key = jv_int(key.u.b);
    switch (obj.k) {
    case JV_LIST:
        if (key.k == JV_INT) {
            int64_t i = key.u.i, n = (int64_t)obj.u.l->n;
            if (i < 0) i += n;
            *out = i >= 0 && i < n ? obj.u.l->v[i] : jv_undef("");
            return 0;
        }
        break;
    case JV_STR:
        if (key.k == JV_INT) {
            int64_t i = key.u.i, n = (int64_t)ju_len(obj.u.s);
            if (jr_step(r, at, obj.u.s.n / 64)) return -1;
            if (i < 0) i += n;
            if (i < 0 || i >= n) {
                *out = jv_undef("");
                return 0;
            }
            size_t a = ju_offset(obj.u.s, (size_t)i);
            jstr rest = {obj.u.s.p + a, obj.u.s.n - a};
            *out = jv_str(rest.p, ju_offset(rest, 1));
            return 0;
        }
        break;
    case JV_DICT: {
        jv *v = jd_get(obj.u.d, key);
        *out = v ? *v : jv_undef(key.k == JV_STR ? "" : "");
        if (!v && key.k == JV_STR) out->u.s = key.u.s;
        return 0;
    }
    case JV_LOOP:
        if (key.k == JV_STR) {
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)(key.u.s.n < 31 ? key.u.s.n : 31), key.u.s.p);
            return loop_attr(r, at, obj.u.loop, name, out);
        }
        break;
    default: break;
    }
    *out = jv_undef("");
    return 0;
}

int je_iterate(jrender *r, const jnode *at, jv v, jlist **out)
{
    switch (v.k) {
    case JV_LIST: {
        /* a snapshot of the length: appending inside the loop does not extend it */
        jlist *l = jr_alloc(r, at, sizeof *l);
        if (!l) return -1;
        *l = *v.u.l;
        *out = l;
        return 0;
    }
    case JV_UNDEF: *out = jl_new(r, at, 0); return *out ? 0 : -1;
    case JV_DICT: {
        jlist *l = jl_new(r, at, v.u.d->n);
        if (!l) return -1;
        memcpy(l->v, v.u.d->keys, v.u.d->n * sizeof(jv));
        l->n = v.u.d->n;
        *out = l;
        return jr_step(r, at, l->n);
    }
    case JV_STR: {
        size_t n = ju_len(v.u.s);
        jlist *l = jl_new(r, at, n);
        if (!l) return -1;
        jstr s = v.u.s;
        for (size_t i = 0; i < n; i++) {
            size_t len = ju_offset(s, 1);
            l->v[l->n++] = jv_str(s.p, len);
            s.p += len;
            s.n -= len;
        }
        *out = l;
        return jr_step(r, at, n);
    }
    default:
        return jr_fail(r, at, TA_EINVAL, "'%s' object is not iterable",
                       v.k == JV_NONE ? "NoneType" : jv_kind_name(v));
    }
}

/* ---- calls ---- */

static int render_body(jrender *r, const jnode *body, jframe *scope, jv *out);

static int call_macro(jrender *r, const jnode *at, const jfunc *fn, const jargs *a,
                      const jfunc *caller, jv *out)
{
    const jnode *m = fn->macro;
    if (++r->macro_depth > r->max_macro_depth) {
        r->macro_depth--;
        return jr_fail(r, at, TA_ETOOBIG, "macro calls nested too deeply (more than %d)",
                       r->max_macro_depth);
    }
    int rc = -1;
    jframe *f = frame_new(r, at, fn->scope);
    if (!f) goto done;
    size_t npos = 0;
    for (size_t i = 0; i < a->n; i++)
        if (!a->kw[i]) npos++;
    if (npos > m->n_names) {
        jr_fail(r, at, TA_EINVAL, "macro '%s' takes not more than %zu argument(s)", fn->name,
                m->n_names);
        goto done;
    }
    for (size_t p = 0, ai = 0; p < m->n_names; p++) {
        jv v;
        bool have = false;
        while (ai < a->n && a->kw[ai])
            ai++;
        if (p < npos && ai < a->n) {
            v = a->v[ai++];
            have = true;
        }
        for (size_t k = 0; k < a->n; k++)
            if (a->kw[k] && !strcmp(a->kw[k], m->names[p])) {
                v = a->v[k];
                have = true;
            }
        if (!have) {
            if (m->kids[p]) {
                /* defaults see the parameters bound before them */
                jframe *saved = r->scope;
                r->scope = f;
                int erc = eval(r, m->kids[p], &v);
                r->scope = saved;
                if (erc) goto done;
            } else {
                v = jv_undef(m->names[p]);
            }
        }
        if (frame_set(r, at, f, m->names[p], v)) goto done;
    }
    for (size_t k = 0; k < a->n; k++) {
        if (!a->kw[k]) continue;
        bool known = false;
        for (size_t p = 0; p < m->n_names; p++)
            known |= !strcmp(a->kw[k], m->names[p]);
        if (!known) {
            jr_fail(r, at, TA_EINVAL, "macro '%s' has no argument '%s'", fn->name, a->kw[k]);
            goto done;
        }
    }
    if (caller) {
        jv cv = {JV_FUNC, {.fn = (jfunc *)caller}};
        if (frame_set(r, at, f, "caller", cv)) goto done;
    }
    rc = render_body(r, m->b, f, out);
done:
    r->macro_depth--;
    return rc;
}

int je_call(jrender *r, const jnode *at, jv fn, const jargs *a, jv *out)
{
    const jfunc *caller = r->pending_caller;
    r->pending_caller = NULL;
    if (fn.k == JV_UNDEF)
        return jr_fail(r, at, TA_EINVAL, "'%.*s' is undefined and cannot be called",
                       (int)(fn.u.s.n > 100 ? 100 : fn.u.s.n), fn.u.s.p);
    if (fn.k != JV_FUNC)
        return jr_fail(r, at, TA_EINVAL, "'%s' object is not callable", jv_kind_name(fn));
    if (fn.u.fn->builtin) return fn.u.fn->builtin(r, a, out);
    return call_macro(r, at, fn.u.fn, a, caller, out);
}

/* Evaluates the arguments of a call, filter or test node. */
static int eval_args(jrender *r, const jnode *n, jargs *a)
{
    a->n = n->n;
    a->at = n;
    a->kw = n->names;
    a->v = NULL;
    if (!n->n) return 0;
    a->v = jr_alloc(r, n, n->n * sizeof(jv));
    if (!a->v) return -1;
    for (size_t i = 0; i < n->n; i++)
        if (eval(r, n->kids[i], &a->v[i])) return -1;
    return 0;
}

static int eval_call(jrender *r, const jnode *n, const jfunc *caller, jv *out)
{
    jargs a;
    if (n->a->kind == E_ATTR) {
        /* obj.method(...): str, dict, list and loop methods */
        jv obj;
        if (eval(r, n->a->a, &obj) || eval_args(r, n, &a)) return -1;
        bool found = false;
        if (jb_method(r, n, obj, n->a->name, &a, out, &found)) return -1;
        if (found) return 0;
        jv fn;
        if (je_getattr(r, n, obj, n->a->name, &fn)) return -1;
        r->pending_caller = caller;
        return je_call(r, n, fn, &a, out);
    }
    jv fn;
    if (eval(r, n->a, &fn) || eval_args(r, n, &a)) return -1;
    r->pending_caller = caller;
    return je_call(r, n, fn, &a, out);
}

/* ---- operators ---- */

static bool is_numeric(jv v)
{
    return v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL;
}

static double as_f(jv v)
{
    return v.k == JV_FLOAT ? v.u.f : v.k == JV_INT ? (double)v.u.i : (double)v.u.b;
}

static int64_t as_i(jv v)
{
    return v.k == JV_INT ? v.u.i : (int64_t)v.u.b;
}

static const char *py_type(jv v)
{
    switch (v.k) {
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return "list";
    case JV_DICT: return "dict";
    default: return jv_kind_name(v);
    }
}

static const char *op_name(int op)
{
    switch (op) {
    case OP_FLOORDIV: return "//";
    case OP_POW: return "**";
    case OP_EQ: return "==";
    case OP_NE: return "!=";
    case OP_LE: return "<=";
    case OP_GE: return ">=";
    case OP_IN: return "in";
    case OP_NOTIN: return "not in";
    case '+': return "+";
    case '-': return "-";
    case '*': return "*";
    case '/': return "/";
    case '%': return "%";
    case '<': return "<";
    case '>': return ">";
    default: return "?";
    }
}

static int undefined_error(jrender *r, const jnode *at, jv v)
{
    if (v.u.s.n)
        return jr_fail(r, at, TA_EINVAL, "'%.*s' is undefined",
                       (int)(v.u.s.n > 100 ? 100 : v.u.s.n), v.u.s.p);
    return jr_fail(r, at, TA_EINVAL, "an undefined value was used in an operation");
}

static int repeat(jrender *r, const jnode *at, jv seq, int64_t times, jv *out)
{
    if (times < 0) times = 0;
    if (seq.k == JV_STR) {
        if (seq.u.s.n && (uint64_t)times > r->max_output / seq.u.s.n)
            return jr_fail(r, at, TA_ETOOBIG, "string longer than the output limit (%zu bytes)",
                           r->max_output);
        size_t total = seq.u.s.n * (size_t)times;
        char *s = jr_alloc(r, at, total + 1);
        if (!s || jr_step(r, at, total / 64)) return -1;
        for (int64_t i = 0; i < times; i++)
            memcpy(s + (size_t)i * seq.u.s.n, seq.u.s.p, seq.u.s.n);
        s[total] = '\0';
        *out = jv_str(s, total);
        return 0;
    }
    size_t n = seq.u.l->n;
    if (n && (uint64_t)times > (r->max_steps + 1) / n)
        return jr_fail(r, at, TA_ETOOBIG, "list repetition too large");
    jlist *l = jl_new(r, at, n * (size_t)times);
    if (!l || jr_step(r, at, n * (size_t)times)) return -1;
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < n; k++)
            l->v[l->n++] = seq.u.l->v[k];
    out->k = JV_LIST;
    out->u.l = l;
    return 0;
}

static int contains(jrender *r, const jnode *at, jv item, jv seq, bool *out)
{
    switch (seq.k) {
    case JV_STR:
        if (item.k != JV_STR)
            return jr_fail(r, at, TA_EINVAL, "'in <string>' requires a string on the left, not %s",
                           py_type(item));
        *out = item.u.s.n == 0 || memmem(seq.u.s.p, seq.u.s.n, item.u.s.p, item.u.s.n);
        return jr_step(r, at, seq.u.s.n / 64);
    case JV_LIST:
        *out = false;
        for (size_t i = 0; i < seq.u.l->n && !*out; i++)
            *out = jv_equal(item, seq.u.l->v[i]);
        return jr_step(r, at, seq.u.l->n);
    case JV_DICT: *out = jd_get(seq.u.d, item) != NULL; return jr_step(r, at, seq.u.d->n);
    case JV_UNDEF: *out = false; return 0; /* iterates as empty */
    default:
        return jr_fail(r, at, TA_EINVAL, "argument of type '%s' is not iterable", py_type(seq));
    }
}

static int binop(jrender *r, const jnode *n, int op, jv a, jv b, jv *out)
{
    if (op == OP_EQ || op == OP_NE) {
        bool eq = jv_equal(a, b);
        *out = jv_bool(op == OP_EQ ? eq : !eq);
        return 0;
    }
    if (op == OP_IN || op == OP_NOTIN) {
        bool in = false;
        if (contains(r, n, a, b, &in)) return -1;
        *out = jv_bool(op == OP_IN ? in : !in);
        return 0;
    }
    if (a.k == JV_UNDEF) return undefined_error(r, n, a);
    if (b.k == JV_UNDEF) return undefined_error(r, n, b);
    if (op == '<' || op == '>' || op == OP_LE || op == OP_GE) {
        bool ok;
        int c = jv_compare(a, b, &ok);
        if (!ok)
            return jr_fail(r, n, TA_EINVAL, "'%s' not supported between instances of '%s' and '%s'",
                           op_name(op), py_type(a), py_type(b));
        *out = jv_bool(op == '<' ? c < 0 : op == '>' ? c > 0 : op == OP_LE ? c <= 0 : c >= 0);
        return 0;
    }
    if (op == '+' && a.k == JV_STR && b.k == JV_STR) return js_cat(r, n, a.u.s, b.u.s, out);
    if (op == '+' && a.k == JV_LIST && b.k == JV_LIST) {
        jlist *l = jl_new(r, n, a.u.l->n + b.u.l->n);
        if (!l || jr_step(r, n, a.u.l->n + b.u.l->n)) return -1;
        memcpy(l->v, a.u.l->v, a.u.l->n * sizeof(jv));
        memcpy(l->v + a.u.l->n, b.u.l->v, b.u.l->n * sizeof(jv));
        l->n = a.u.l->n + b.u.l->n;
        out->k = JV_LIST;
        out->u.l = l;
        return 0;
    }
    if (op == '*' && (a.k == JV_STR || a.k == JV_LIST) && (b.k == JV_INT || b.k == JV_BOOL))
        return repeat(r, n, a, as_i(b), out);
    if (op == '*' && (b.k == JV_STR || b.k == JV_LIST) && (a.k == JV_INT || a.k == JV_BOOL))
        return repeat(r, n, b, as_i(a), out);
    if (!is_numeric(a) || !is_numeric(b))
        return jr_fail(r, n, TA_EINVAL, "unsupported operand type(s) for %s: '%s' and '%s'",
                       op_name(op), py_type(a), py_type(b));
    bool ints = a.k != JV_FLOAT && b.k != JV_FLOAT;
    if (ints && op != '/') {
        int64_t x = as_i(a), y = as_i(b), z = 0;
        bool overflow = false;
        switch (op) {
        case '+': overflow = __builtin_add_overflow(x, y, &z); break;
        case '-': overflow = __builtin_sub_overflow(x, y, &z); break;
        case '*': overflow = __builtin_mul_overflow(x, y, &z); break;
        case OP_FLOORDIV:
        case '%':
            if (y == 0) return jr_fail(r, n, TA_EINVAL, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) {
                overflow = op == OP_FLOORDIV;
                z = 0;
                break;
            }
            if (op == OP_FLOORDIV) {
                z = x / y;
                if ((x % y != 0) && ((x < 0) != (y < 0))) z--;
            } else {
                z = x % y;
                if (z != 0 && ((z < 0) != (y < 0))) z += y;
            }
            break;
        case OP_POW:
            if (y < 0) {
                *out = jv_float(pow((double)x, (double)y));
                return 0;
            }
            z = 1;
            for (int64_t base = x, e = y; e > 0 && !overflow; e >>= 1) {
                if ((e & 1) && __builtin_mul_overflow(z, base, &z)) overflow = true;
                if (e > 1 && __builtin_mul_overflow(base, base, &base)) overflow = true;
            }
            break;
        default: return jr_fail(r, n, TA_EINTERNAL, "unknown operator");
        }
        if (overflow) return jr_fail(r, n, TA_EINVAL, "integer overflow in '%s'", op_name(op));
        *out = jv_int(z);
        return 0;
    }
    double x = as_f(a), y = as_f(b);
    switch (op) {
    case '+': *out = jv_float(x + y); return 0;
    case '-': *out = jv_float(x - y); return 0;
    case '*': *out = jv_float(x * y); return 0;
    case '/':
        if (y == 0) return jr_fail(r, n, TA_EINVAL, "division by zero");
        *out = jv_float(x / y);
        return 0;
    case OP_FLOORDIV:
        if (y == 0) return jr_fail(r, n, TA_EINVAL, "float floor division by zero");
        *out = jv_float(floor(x / y));
        return 0;
    case '%': {
        if (y == 0) return jr_fail(r, n, TA_EINVAL, "float modulo by zero");
        double m = fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        *out = jv_float(m);
        return 0;
    }
    case OP_POW: *out = jv_float(pow(x, y)); return 0;
    }
    return jr_fail(r, n, TA_EINTERNAL, "unknown operator");
}

/* Slice indices as Python computes them for a sequence of length len. */
static int slice(jrender *r, const jnode *n, jv obj, jv *out)
{
    int64_t idx[3] = {0, 0, 1};
    bool given[3] = {false, false, false};
    const jnode *parts[3] = {n->b, n->c, n->d};
    for (int k = 0; k < 3; k++) {
        if (!parts[k]) continue;
        jv v;
        if (eval(r, parts[k], &v)) return -1;
        if (v.k == JV_NONE || v.k == JV_UNDEF) continue;
        if (v.k != JV_INT && v.k != JV_BOOL)
            return jr_fail(r, n, TA_EINVAL, "slice indices must be integers or none");
        idx[k] = as_i(v);
        given[k] = true;
    }
    int64_t step = idx[2];
    if (step == 0) return jr_fail(r, n, TA_EINVAL, "slice step cannot be zero");
    if (obj.k != JV_LIST && obj.k != JV_STR) {
        if (obj.k == JV_UNDEF) return undefined_error(r, n, obj);
        return jr_fail(r, n, TA_EINVAL, "'%s' object is not subscriptable by a slice",
                       py_type(obj));
    }
    int64_t len = obj.k == JV_LIST ? (int64_t)obj.u.l->n : (int64_t)ju_len(obj.u.s);
    int64_t lo = step < 0 ? -1 : 0, hi = step < 0 ? len - 1 : len;
    int64_t start, stop;
    if (!given[0])
        start = step < 0 ? hi : lo;
    else {
        start = idx[0] < 0 ? idx[0] + len : idx[0];
        start = start < lo ? lo : start > hi ? hi : start;
    }
    if (!given[1])
        stop = step < 0 ? lo : hi;
    else {
        stop = idx[1] < 0 ? idx[1] + len : idx[1];
        stop = stop < lo ? lo : stop > hi ? hi : stop;
    }
    if (jr_step(r, n, (uint64_t)len)) return -1;
    if (obj.k == JV_LIST) {
        jlist *l = jl_new(r, n, 0);
        if (!l) return -1;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
            if (jl_push(r, n, l, obj.u.l->v[i])) return -1;
        out->k = JV_LIST;
        out->u.l = l;
        return 0;
    }
    /* strings by code point: offsets of every code point first */
    size_t *off = jr_alloc(r, n, ((size_t)len + 1) * sizeof *off);
    if (!off) return -1;
    size_t o = 0;
    for (int64_t i = 0; i <= len; i++) {
        off[i] = o;
        if (o < obj.u.s.n) o += ju_offset((jstr){obj.u.s.p + o, obj.u.s.n - o}, 1);
    }
    if (step == 1) {
        *out = jv_str(obj.u.s.p + off[start], start < stop ? off[stop] - off[start] : 0);
        return 0;
    }
    jbuf b = {0};
    int rc = 0;
    for (int64_t i = start; rc == 0 && (step > 0 ? i < stop : i > stop); i += step)
        if (!jb_put(&b, obj.u.s.p + off[i], off[i + 1] - off[i]))
            rc = jr_fail(r, n, TA_ENOMEM, "out of memory");
    if (!rc) rc = js_new(r, n, b.p ? b.p : "", b.n, out);
    free(b.p);
    return rc;
}

/* A filter chain node; `value` replaces the NULL innermost operand (filter blocks). */
static int eval_filter(jrender *r, const jnode *n, const jv *value, jv *out)
{
    jv in = jv_undef("");
    if (n->a) {
        if (n->a->kind == E_FILTER && !value) {
            if (eval(r, n->a, &in)) return -1;
        } else if (n->a->kind == E_FILTER) {
            if (eval_filter(r, n->a, value, &in)) return -1;
        } else if (eval(r, n->a, &in)) {
            return -1;
        }
    } else {
        in = value ? *value : jv_undef("");
    }
    jargs a;
    if (eval_args(r, n, &a)) return -1;
    return jb_filter(r, n, n->name, in, &a, out);
}

static int eval_inner(jrender *r, const jnode *n, jv *out)
{
    switch (n->kind) {
    case E_LIT: *out = n->lit; return 0;
    case E_NAME: {
        jv *v = frame_find(r->scope, n->name);
        if (v) {
            *out = *v;
            return 0;
        }
        jbuiltin_fn fn = jb_global(n->name);
        if (fn) {
            jfunc *f = jr_alloc(r, n, sizeof *f);
            if (!f) return -1;
            memset(f, 0, sizeof *f);
            f->name = n->name;
            f->builtin = fn;
            out->k = JV_FUNC;
            out->u.fn = f;
            return 0;
        }
        *out = jv_undef(n->name);
        return 0;
    }
    case E_LIST:
    case E_TUPLE: {
        jlist *l = jl_new(r, n, n->n);
        if (!l) return -1;
        l->tuple = n->kind == E_TUPLE;
        for (size_t i = 0; i < n->n; i++) {
            if (eval(r, n->kids[i], &l->v[i])) return -1;
            l->n++;
        }
        out->k = JV_LIST;
        out->u.l = l;
        return 0;
    }
    case E_DICT: {
        jdict *d = jd_new(r, n, n->n / 2);
        if (!d) return -1;
        for (size_t i = 0; i + 1 < n->n; i += 2) {
            jv k, v;
            if (eval(r, n->kids[i], &k) || eval(r, n->kids[i + 1], &v) || jd_set(r, n, d, k, v))
                return -1;
        }
        out->k = JV_DICT;
        out->u.d = d;
        return 0;
    }
    case E_ATTR: {
        jv obj;
        if (eval(r, n->a, &obj)) return -1;
        return je_getattr(r, n, obj, n->name, out);
    }
    case E_INDEX: {
        jv obj, key;
        if (eval(r, n->a, &obj) || eval(r, n->b, &key)) return -1;
        return je_getitem(r, n, obj, key, out);
    }
    case E_SLICE: {
        jv obj;
        if (eval(r, n->a, &obj)) return -1;
        return slice(r, n, obj, out);
    }
    case E_CALL: return eval_call(r, n, NULL, out);
    case E_FILTER: return eval_filter(r, n, NULL, out);
    case E_TEST: {
        jv in;
        jargs a;
        bool res;
        if (eval(r, n->a, &in) || eval_args(r, n, &a) || jb_test(r, n, n->name, in, &a, &res))
            return -1;
        *out = jv_bool(n->op ? !res : res);
        return 0;
    }
    case E_NOT: {
        jv v;
        if (eval(r, n->a, &v)) return -1;
        *out = jv_bool(!jv_truthy(v));
        return 0;
    }
    case E_NEG:
    case E_POS: {
        jv v;
        if (eval(r, n->a, &v)) return -1;
        if (v.k == JV_UNDEF) return undefined_error(r, n, v);
        if (v.k == JV_FLOAT)
            *out = jv_float(n->kind == E_NEG ? -v.u.f : v.u.f);
        else if (v.k == JV_INT || v.k == JV_BOOL) {
            int64_t i = as_i(v);
            if (n->kind == E_NEG && i == INT64_MIN)
                return jr_fail(r, n, TA_EINVAL, "integer overflow in '-'");
            *out = jv_int(n->kind == E_NEG ? -i : i);
        } else
            return jr_fail(r, n, TA_EINVAL, "bad operand type for unary %s: '%s'",
                           n->kind == E_NEG ? "-" : "+", py_type(v));
        return 0;
    }
    case E_AND:
    case E_OR: {
        if (eval(r, n->a, out)) return -1;
        bool t = jv_truthy(*out);
        if (n->kind == E_AND ? !t : t) return 0;
        return eval(r, n->b, out);
    }
    case E_COND: {
        jv c;
        if (eval(r, n->a, &c)) return -1;
        if (jv_truthy(c)) return eval(r, n->b, out);
        if (n->c) return eval(r, n->c, out);
        *out = jv_undef("");
        return 0;
    }
    case E_CONCAT: {
        jbuf b = {0};
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < n->n; i++) {
            jv v;
            rc = eval(r, n->kids[i], &v);
            if (!rc) rc = jv_write_str(r, n, &b, v);
        }
        if (!rc) rc = js_new(r, n, b.p ? b.p : "", b.n, out);
        free(b.p);
        return rc;
    }
    case E_BIN: {
        jv a, b;
        if (eval(r, n->a, &a) || eval(r, n->b, &b)) return -1;
        return binop(r, n, n->op, a, b, out);
    }
    default: return jr_fail(r, n, TA_EINTERNAL, "statement used as an expression");
    }
}

static int eval(jrender *r, const jnode *n, jv *out)
{
    if (++r->depth > MAX_EVAL_DEPTH) {
        r->depth--;
        return jr_fail(r, n, TA_ETOOBIG, "expression nested too deeply");
    }
    int rc = jr_step(r, n, 1);
    if (!rc) rc = eval_inner(r, n, out);
    r->depth--;
    return rc;
}

/* ---- statements ---- */

/* Renders body in scope into a new string value (macros, set blocks, filter blocks). */
static int render_body(jrender *r, const jnode *body, jframe *scope, jv *out)
{
    jbuf buf = {0}, *saved_out = r->out;
    jframe *saved_scope = r->scope;
    r->out = &buf;
    r->scope = scope;
    int rc = exec(r, body);
    r->out = saved_out;
    r->scope = saved_scope;
    if (rc > 0) rc = jr_fail(r, body, TA_EINVAL, "'break' or 'continue' outside of a loop");
    if (!rc) rc = js_new(r, body, buf.p ? buf.p : "", buf.n, out);
    free(buf.p);
    return rc;
}

/* Binds a loop item to the loop's target names (unpacking for several). */
static int bind_targets(jrender *r, const jnode *n, jframe *f, jv item)
{
    if (n->n_names == 1) return frame_set(r, n, f, n->names[0], item);
    if (item.k != JV_LIST || item.u.l->n != n->n_names)
        return jr_fail(r, n, TA_EINVAL, "cannot unpack a %s into %zu loop variables", py_type(item),
                       n->n_names);
    for (size_t i = 0; i < n->n_names; i++)
        if (frame_set(r, n, f, n->names[i], item.u.l->v[i])) return -1;
    return 0;
}

static int exec_for(jrender *r, const jnode *n)
{
    jv seq;
    jlist *items;
    if (eval(r, n->a, &seq) || je_iterate(r, n, seq, &items)) return EX_ERR;
    jframe *f = frame_new(r, n, r->scope), *saved = r->scope;
    if (!f) return EX_ERR;
    r->scope = f;
    int rc = EX_OK;
    if (n->d) { /* for x in xs if cond: filtered first, so loop.* counts what remains */
        jlist *kept = jl_new(r, n, 0);
        if (!kept) rc = EX_ERR;
        for (size_t i = 0; rc == EX_OK && i < items->n; i++) {
            jv c;
            if (bind_targets(r, n, f, items->v[i]) || eval(r, n->d, &c) ||
                (jv_truthy(c) && jl_push(r, n, kept, items->v[i])))
                rc = EX_ERR;
        }
        items = kept;
    }
    jloop *lp = rc == EX_OK ? jr_alloc(r, n, sizeof *lp) : NULL;
    if (!lp) rc = EX_ERR;
    if (rc == EX_OK) {
        lp->items = items;
        lp->index0 = 0;
        jv lv = {JV_LOOP, {.loop = lp}};
        if (frame_set(r, n, f, "loop", lv)) rc = EX_ERR;
    }
    size_t base = f->n; /* the targets and `loop` are bound by now */
    for (size_t i = 0; rc == EX_OK && i < items->n; i++) {
        lp->index0 = i;
        /* as in Jinja, what the body sets does not carry over to the next iteration */
        if (i) f->n = base;
        if (jr_step(r, n, 1) || bind_targets(r, n, f, items->v[i])) {
            rc = EX_ERR;
            break;
        }
        /* the body may rebind `loop` to something else; the loop goes on regardless */
        int brc = exec(r, n->b);
        if (brc == EX_BREAK) break;
        if (brc == EX_ERR) rc = EX_ERR;
    }
    if (rc == EX_OK && items->n == 0 && n->c) rc = exec(r, n->c);
    r->scope = saved;
    return rc;
}

static int assign(jrender *r, const jnode *target, jv v)
{
    switch (target->kind) {
    case E_NAME: return frame_set(r, target, r->scope, target->name, v);
    case E_ATTR: {
        jv obj;
        if (eval(r, target->a, &obj)) return -1;
        if (obj.k != JV_DICT || !obj.u.d->ns)
            return jr_fail(r, target, TA_EINVAL,
                           "cannot assign attribute '%s' on a non-namespace object", target->name);
        return jd_set(r, target, obj.u.d, jv_str(target->name, strlen(target->name)), v);
    }
    case E_TUPLE:
        if (v.k != JV_LIST || v.u.l->n != target->n_names)
            return jr_fail(r, target, TA_EINVAL, "cannot unpack a %s into %zu variables",
                           py_type(v), target->n_names);
        for (size_t i = 0; i < target->n_names; i++)
            if (frame_set(r, target, r->scope, target->names[i], v.u.l->v[i])) return -1;
        return 0;
    default: return jr_fail(r, target, TA_EINVAL, "cannot assign to this expression");
    }
}

static int exec_inner(jrender *r, const jnode *n)
{
    switch (n->kind) {
    case N_BODY:
        for (size_t i = 0; i < n->n; i++) {
            int rc = exec(r, n->kids[i]);
            if (rc) return rc;
        }
        return EX_OK;
    case N_TEXT: return emit(r, n, n->lit);
    case N_OUTPUT: {
        jv v;
        if (eval(r, n->a, &v)) return EX_ERR;
        return emit(r, n, v);
    }
    case N_IF: {
        jv c;
        if (eval(r, n->a, &c)) return EX_ERR;
        if (jv_truthy(c)) return exec(r, n->b);
        return n->c ? exec(r, n->c) : EX_OK;
    }
    case N_FOR: return exec_for(r, n);
    case N_SET: {
        jv v;
        if (eval(r, n->b, &v)) return EX_ERR;
        return assign(r, n->a, v);
    }
    case N_SET_BLOCK: {
        jv v;
        jframe *f = frame_new(r, n, r->scope);
        if (!f || render_body(r, n->b, f, &v)) return EX_ERR;
        if (n->c && eval_filter(r, n->c, &v, &v)) return EX_ERR;
        return assign(r, n->a, v);
    }
    case N_MACRO: {
        jfunc *fn = jr_alloc(r, n, sizeof *fn);
        if (!fn) return EX_ERR;
        memset(fn, 0, sizeof *fn);
        fn->name = n->name;
        fn->macro = n;
        fn->scope = r->scope;
        jv v = {JV_FUNC, {.fn = fn}};
        return frame_set(r, n, r->scope, n->name, v);
    }
    case N_CALL: {
        /* caller() renders the block body in a frame of its own under the call site,
         * with the block's parameters */
        jfunc *fn = jr_alloc(r, n, sizeof *fn);
        if (!fn) return EX_ERR;
        memset(fn, 0, sizeof *fn);
        fn->name = "caller";
        fn->macro = n;
        fn->scope = r->scope;
        jv v;
        if (eval_call(r, n->a, fn, &v)) return EX_ERR;
        return emit(r, n, v);
    }
    case N_FILTER: {
        jv v;
        jframe *f = frame_new(r, n, r->scope);
        if (!f || render_body(r, n->b, f, &v) || eval_filter(r, n->a, &v, &v)) return EX_ERR;
        return emit(r, n, v);
    }
    case N_BREAK: return EX_BREAK;
    case N_CONTINUE: return EX_CONTINUE;
    case N_DO: {
        jv v;
        return eval(r, n->a, &v);
    }
    default: return jr_fail(r, n, TA_EINTERNAL, "expression used as a statement");
    }
}

static int exec(jrender *r, const jnode *n)
{
    if (++r->depth > MAX_EVAL_DEPTH) {
        r->depth--;
        return jr_fail(r, n, TA_ETOOBIG, "template nested too deeply");
    }
    int rc = jr_step(r, n, 1);
    if (!rc) rc = exec_inner(r, n);
    r->depth--;
    return rc;
}

/* ---- public ---- */

ta_jinja *ta_jinja_parse(const char *src, size_t len, ta_error *err)
{
    if (!src) {
        ta_error_set(err, TA_EINVAL, "no template");
        return NULL;
    }
    if (len > TA_JINJA_MAX_SOURCE) {
        ta_error_set(err, TA_ETOOBIG, "template too large (%zu bytes, the limit is %u)", len,
                     TA_JINJA_MAX_SOURCE);
        return NULL;
    }
    ta_jinja *t = calloc(1, sizeof *t);
    if (!t) {
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    t->root = jp_parse(&t->arena, src, len, err);
    if (!t->root) {
        ta_jinja_free(t);
        return NULL;
    }
    return t;
}

void ta_jinja_free(ta_jinja *t)
{
    if (!t) return;
    ja_release(&t->arena);
    free(t);
}

int ta_jinja_render(const ta_jinja *t, const json_t *ctx, const ta_jinja_limits *lim, char **out,
                    size_t *out_len, ta_error *err)
{
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!t) return ta_error_set(err, TA_EINVAL, "no template");
    if (ctx && !json_is_object(ctx))
        return ta_error_set(err, TA_EINVAL, "template variables must be a JSON object");
    jrender r;
    memset(&r, 0, sizeof r);
    r.err = err;
    r.max_output = lim && lim->max_output ? lim->max_output : (size_t)16 << 20;
    r.max_steps = lim && lim->max_steps ? lim->max_steps : 10000000;
    r.arena.limit = lim && lim->max_memory ? lim->max_memory : (size_t)256 << 20;
    r.max_macro_depth = lim && lim->max_depth > 0 ? lim->max_depth : 256;
    jbuf buf = {0};
    r.out = &buf;
    int rc = 0;
    jframe *vars = frame_new(&r, NULL, NULL);
    r.globals = vars ? frame_new(&r, NULL, vars) : NULL;
    if (!r.globals) rc = -1;
    if (!rc && ctx) {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)ctx, key, val)
        {
            jv v;
            if (jv_from_json(&r, val, &v, 0) || frame_set(&r, NULL, vars, key, v)) {
                rc = -1;
                break;
            }
        }
    }
    if (!rc) {
        r.scope = r.globals;
        rc = exec(&r, t->root);
        if (rc > 0) rc = jr_fail(&r, t->root, TA_EINVAL, "'break' or 'continue' outside of a loop");
    }
    ja_release(&r.arena);
    if (rc) {
        free(buf.p);
        return r.code ? r.code : TA_EINTERNAL;
    }
    if (!buf.p && !jb_put(&buf, "", 0)) return ta_error_set(err, TA_ENOMEM, "out of memory");
    *out = buf.p;
    if (out_len) *out_len = buf.n;
    return 0;
}
