/*
 * jinja_parse.c - the lexer and the recursive-descent parser of the Jinja subset.
 *
 * The lexer splits the source into text and tags and applies whitespace control the
 * way transformers configures Jinja: `{%-`/`-%}` (and the same on `{{ }}` and `{# #}`)
 * strip all whitespace on that side; trim_blocks drops the first newline after a
 * block or comment tag; lstrip_blocks drops spaces and tabs between the start of a
 * line and a block or comment tag (`{%+` turns it off for one tag, `+%}` turns off
 * trim_blocks). Inside tags it produces names, numbers, strings and operators.
 *
 * The parser follows Jinja's grammar and precedence: conditional expression < or <
 * and < not < comparisons and `in` < + - < ~ < * / // % < ** < unary - + < postfix
 * (.attr, [index], [slice], (call)) < filters and `is` tests. Unknown filters and
 * tests are syntax errors, as in Jinja. Nesting is bounded, so no input can exhaust
 * the C stack.
 */
#include "jinja_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NESTING 256

typedef enum {
    T_EOF,
    T_TEXT,
    T_VAR_BEGIN,
    T_VAR_END,
    T_BLOCK_BEGIN,
    T_BLOCK_END,
    T_NAME,
    T_STRING,
    T_INT,
    T_FLOAT,
    T_OP,
} jtok_kind;

typedef struct jtok {
    jtok_kind kind;
    int op;
    int line, col;
    const char *s; /* text, name or decoded string */
    size_t n;
    int64_t i;
    double f;
} jtok;

typedef struct lexer {
    jarena *a;
    const char *src;
    size_t len;
    size_t pos;
    size_t lc_pos; /* line and col are those of lc_pos */
    int line, col;
    jtok *toks;
    size_t n, cap;
    ta_error *err;
} lexer;

static void lx_where(lexer *L, size_t pos, int *line, int *col)
{
    if (pos < L->lc_pos) { /* an error about an earlier place: count again */
        L->lc_pos = 0;
        L->line = 1;
        L->col = 1;
    }
    while (L->lc_pos < pos) {
        if (L->src[L->lc_pos] == '\n') {
            L->line++;
            L->col = 1;
        } else if (((unsigned char)L->src[L->lc_pos] & 0xC0) != 0x80) {
            L->col++;
        }
        L->lc_pos++;
    }
    *line = L->line;
    *col = L->col;
}

static int lx_error(lexer *L, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int lx_error(lexer *L, size_t pos, const char *fmt, ...)
{
    int line, col;
    lx_where(L, pos, &line, &col);
    char msg[TA_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ta_error_set(L->err, TA_EINVAL, "line %d, column %d: %s", line, col, msg);
    return -1;
}

static jtok *lx_push(lexer *L, jtok_kind kind, size_t pos)
{
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        jtok *t = realloc(L->toks, cap * sizeof *t);
        if (!t) {
            ta_error_set(L->err, TA_ENOMEM, "out of memory parsing the template");
            return NULL;
        }
        L->toks = t;
        L->cap = cap;
    }
    jtok *t = &L->toks[L->n++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    lx_where(L, pos, &t->line, &t->col);
    return t;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string literal with Python's escapes; unknown escapes keep their backslash. */
static int lx_string(lexer *L, jtok *t)
{
    size_t start = L->pos;
    char q = L->src[L->pos++];
    size_t end = L->pos;
    while (end < L->len && L->src[end] != q) {
        if (L->src[end] == '\\') end++;
        end++;
    }
    if (end >= L->len) return lx_error(L, start, "unterminated string literal");
    char *o = ja_alloc(L->a, end - L->pos + 1);
    if (!o) return ta_error_set(L->err, TA_ENOMEM, "out of memory parsing the template");
    size_t n = 0;
    for (size_t i = L->pos; i < end; i++) {
        char c = L->src[i];
        if (c != '\\') {
            o[n++] = c;
            continue;
        }
        char e = L->src[++i];
        int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (digits) {
            uint32_t cp = 0;
            bool ok = i + (size_t)digits < end;
            for (int k = 1; ok && k <= digits; k++) {
                int h = hexval(L->src[i + (size_t)k]);
                if (h < 0) ok = false;
                cp = cp * 16 + (uint32_t)(h < 0 ? 0 : h);
            }
            if (!ok || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return lx_error(L, i - 1, "bad \\%c escape in a string literal", e);
            /* the escape is at least 4 bytes long, its UTF-8 at most 4 */
            n += put_utf8(o + n, cp);
            i += (size_t)digits;
            continue;
        }
        switch (e) {
        case 'n': o[n++] = '\n'; break;
        case 't': o[n++] = '\t'; break;
        case 'r': o[n++] = '\r'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'v': o[n++] = '\v'; break;
        case 'a': o[n++] = '\a'; break;
        case '0': o[n++] = '\0'; break;
        case '\\':
        case '\'':
        case '"': o[n++] = e; break;
        case '\n': break; /* line continuation */
        default: o[n++] = '\\'; o[n++] = e;
        }
    }
    o[n] = '\0';
    t->kind = T_STRING;
    t->s = o;
    t->n = n;
    L->pos = end + 1;
    return 0;
}

static int lx_number(lexer *L, jtok *t)
{
    char buf[128];
    size_t n = 0, p = L->pos;
    bool is_float = false;
    while (p < L->len && (is_digit(L->src[p]) || L->src[p] == '_')) {
        if (L->src[p] != '_' && n < sizeof buf - 1) buf[n++] = L->src[p];
        p++;
    }
    if (p + 1 < L->len && L->src[p] == '.' && is_digit(L->src[p + 1])) {
        is_float = true;
        buf[n < sizeof buf - 1 ? n++ : n] = '.';
        p++;
        while (p < L->len && (is_digit(L->src[p]) || L->src[p] == '_')) {
            if (L->src[p] != '_' && n < sizeof buf - 1) buf[n++] = L->src[p];
            p++;
        }
    }
    if (p < L->len && (L->src[p] == 'e' || L->src[p] == 'E')) {
        size_t q = p + 1;
        if (q < L->len && (L->src[q] == '+' || L->src[q] == '-')) q++;
        if (q < L->len && is_digit(L->src[q])) {
            is_float = true;
            if (n < sizeof buf - 1) buf[n++] = 'e';
            for (size_t k = p + 1; k < q; k++)
                if (n < sizeof buf - 1) buf[n++] = L->src[k];
            p = q;
            while (p < L->len && is_digit(L->src[p])) {
                if (n < sizeof buf - 1) buf[n++] = L->src[p];
                p++;
            }
        }
    }
    buf[n] = '\0';
    if (n >= sizeof buf - 1) return lx_error(L, L->pos, "number literal too long");
    if (is_float) {
        t->kind = T_FLOAT;
        t->f = strtod(buf, NULL);
    } else {
        t->kind = T_INT;
        char *end;
        unsigned long long v = strtoull(buf, &end, 10);
        if (v > INT64_MAX) return lx_error(L, L->pos, "integer literal too large");
        t->i = (int64_t)v;
    }
    L->pos = p;
    return 0;
}

static const struct {
    const char *s;
    int op;
} ops2[] = {{"//", OP_FLOORDIV}, {"**", OP_POW}, {"==", OP_EQ},
            {"!=", OP_NE},       {"<=", OP_LE},  {">=", OP_GE}};

/* Tokens inside a tag, up to and including its end. */
static int lx_tag(lexer *L, bool block, size_t tag_start)
{
    int depth = 0; /* open brackets: a `}}` inside a dict literal is not the end */
    for (;;) {
        while (L->pos < L->len && is_space(L->src[L->pos]))
            L->pos++;
        if (L->pos >= L->len)
            return lx_error(L, tag_start, "unterminated %s tag (missing '%s')",
                            block ? "block" : "expression", block ? "%}" : "}}");
        const char *s = L->src + L->pos;
        size_t left = L->len - L->pos;
        /* the end of the tag, with its whitespace control */
        char mod = 0;
        size_t elen = 0;
        if (block) {
            if (left >= 2 && s[0] == '%' && s[1] == '}')
                elen = 2;
            else if (left >= 3 && (s[0] == '-' || s[0] == '+') && s[1] == '%' && s[2] == '}')
                mod = s[0], elen = 3;
        } else if (depth == 0) {
            if (left >= 2 && s[0] == '}' && s[1] == '}')
                elen = 2;
            else if (left >= 3 && (s[0] == '-' || s[0] == '+') && s[1] == '}' && s[2] == '}')
                mod = s[0], elen = 3;
        }
        if (elen) {
            if (!lx_push(L, block ? T_BLOCK_END : T_VAR_END, L->pos)) return -1;
            L->pos += elen;
            if (mod == '-') {
                while (L->pos < L->len && is_space(L->src[L->pos]))
                    L->pos++;
            } else if (block && mod != '+' && L->pos < L->len && L->src[L->pos] == '\n') {
                L->pos++; /* trim_blocks */
            }
            return 0;
        }
        jtok *t = lx_push(L, T_OP, L->pos);
        if (!t) return -1;
        char c = *s;
        if (is_ident_start(c)) {
            size_t p = L->pos;
            while (p < L->len && (is_ident_start(L->src[p]) || is_digit(L->src[p])))
                p++;
            t->kind = T_NAME;
            t->s = s;
            t->n = p - L->pos;
            L->pos = p;
            continue;
        }
        if (is_digit(c)) {
            if (lx_number(L, t)) return -1;
            continue;
        }
        if (c == '\'' || c == '"') {
            if (lx_string(L, t)) return -1;
            continue;
        }
        t->op = 0;
        for (size_t k = 0; k < sizeof ops2 / sizeof ops2[0]; k++)
            if (left >= 2 && s[0] == ops2[k].s[0] && s[1] == ops2[k].s[1]) t->op = ops2[k].op;
        if (t->op) {
            L->pos += 2;
            continue;
        }
        if (!strchr("+-*/%~<>=()[]{},.:|", c) || c == '\0')
            return lx_error(L, L->pos, "unexpected character '%c' in a tag",
                            (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f ? c : '?');
        if (c == '(' || c == '[' || c == '{') depth++;
        if ((c == ')' || c == ']' || c == '}') && depth > 0) depth--;
        t->op = c;
        L->pos++;
    }
}

/* Text from L->pos to end, with whitespace control from the tag that follows. */
static int lx_text(lexer *L, size_t end, bool tag, char kind, char mod)
{
    size_t start = L->pos, stop = end;
    if (tag && mod == '-') {
        while (stop > start && is_space(L->src[stop - 1]))
            stop--;
    } else if (tag && kind != '{' && mod != '+') {
        /* lstrip_blocks: only spaces and tabs between the line start and the tag */
        size_t ls = stop;
        while (ls > start && (L->src[ls - 1] == ' ' || L->src[ls - 1] == '\t'))
            ls--;
        bool line_start = ls > start ? L->src[ls - 1] == '\n' : (ls == 0 || L->src[ls - 1] == '\n');
        if (line_start) stop = ls;
    }
    if (stop > start) {
        jtok *t = lx_push(L, T_TEXT, start);
        if (!t) return -1;
        t->s = L->src + start;
        t->n = stop - start;
    }
    L->pos = end;
    return 0;
}

static int lex(lexer *L)
{
    while (L->pos < L->len) {
        /* the next tag opening */
        size_t p = L->pos;
        const char *hit = NULL;
        while (p + 1 < L->len) {
            hit = memchr(L->src + p, '{', L->len - p - 1);
            if (!hit) break;
            char k = hit[1];
            if (k == '{' || k == '%' || k == '#') break;
            p = (size_t)(hit - L->src) + 1;
            hit = NULL;
        }
        if (!hit) return lx_text(L, L->len, false, 0, 0);
        size_t at = (size_t)(hit - L->src);
        char kind = hit[1];
        char mod = at + 2 < L->len && (hit[2] == '-' || hit[2] == '+') ? hit[2] : 0;
        if (lx_text(L, at, true, kind, mod)) return -1;
        L->pos = at + 2 + (mod ? 1 : 0);
        if (kind == '#') {
            const char *e = NULL;
            for (size_t q = L->pos; q + 1 < L->len; q++)
                if (L->src[q] == '#' && L->src[q + 1] == '}') {
                    e = L->src + q;
                    break;
                }
            if (!e) return lx_error(L, at, "unterminated comment (missing '#}')");
            size_t q = (size_t)(e - L->src);
            char emod = q > L->pos && (e[-1] == '-' || e[-1] == '+') ? e[-1] : 0;
            L->pos = q + 2;
            if (emod == '-') {
                while (L->pos < L->len && is_space(L->src[L->pos]))
                    L->pos++;
            } else if (emod != '+' && L->pos < L->len && L->src[L->pos] == '\n') {
                L->pos++;
            }
            continue;
        }
        bool block = kind == '%';
        if (!lx_push(L, block ? T_BLOCK_BEGIN : T_VAR_BEGIN, at)) return -1;
        if (lx_tag(L, block, at)) return -1;
    }
    return 0;
}

/* ---- parser ---- */

typedef struct parser {
    jarena *a;
    jtok *t;
    size_t n, i;
    int depth;
    ta_error *err;
    bool failed;
} parser;

static jnode *perr(parser *P, const jtok *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static jnode *perr(parser *P, const jtok *t, const char *fmt, ...)
{
    if (P->failed) return NULL;
    P->failed = true;
    char msg[TA_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ta_error_set(P->err, TA_EINVAL, "line %d, column %d: %s", t->line, t->col, msg);
    return NULL;
}

static jnode *oom(parser *P)
{
    if (!P->failed) {
        P->failed = true;
        ta_error_set(P->err, TA_ENOMEM, "out of memory parsing the template");
    }
    return NULL;
}

static const jtok *cur(parser *P)
{
    return &P->t[P->i];
}

static const jtok *peek(parser *P, size_t k)
{
    return P->i + k < P->n ? &P->t[P->i + k] : &P->t[P->n - 1];
}

static void next(parser *P)
{
    if (P->i + 1 < P->n) P->i++;
}

static bool is_op(const jtok *t, int op)
{
    return t->kind == T_OP && t->op == op;
}

static bool is_name(const jtok *t, const char *s)
{
    return t->kind == T_NAME && t->n == strlen(s) && !memcmp(t->s, s, t->n);
}

static const char *describe(const jtok *t, char *buf, size_t cap)
{
    switch (t->kind) {
    case T_EOF: return "end of template";
    case T_TEXT: return "text";
    case T_VAR_BEGIN: return "'{{'";
    case T_VAR_END: return "'}}'";
    case T_BLOCK_BEGIN: return "'{%'";
    case T_BLOCK_END: return "'%}'";
    case T_NAME: snprintf(buf, cap, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->s); return buf;
    case T_STRING: return "a string";
    case T_INT:
    case T_FLOAT: return "a number";
    case T_OP:
        for (size_t k = 0; k < sizeof ops2 / sizeof ops2[0]; k++)
            if (ops2[k].op == t->op) {
                snprintf(buf, cap, "'%s'", ops2[k].s);
                return buf;
            }
        snprintf(buf, cap, "'%c'", t->op);
        return buf;
    }
    return "?";
}

static bool expect_op(parser *P, int op)
{
    if (is_op(cur(P), op)) {
        next(P);
        return true;
    }
    char b1[64], b2[64];
    snprintf(b2, sizeof b2, "'%s'", op == OP_EQ ? "==" : (char[2]){(char)(op < 256 ? op : '?'), 0});
    perr(P, cur(P), "expected %s, found %s", b2, describe(cur(P), b1, sizeof b1));
    return false;
}

static bool expect_kind(parser *P, jtok_kind kind, const char *what)
{
    if (cur(P)->kind == kind) {
        next(P);
        return true;
    }
    char b[64];
    perr(P, cur(P), "expected %s, found %s", what, describe(cur(P), b, sizeof b));
    return false;
}

static jnode *mk(parser *P, jnode_kind kind, const jtok *at)
{
    jnode *n = ja_zalloc(P->a, sizeof *n);
    if (!n) return oom(P);
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

static const char *dup_name(parser *P, const jtok *t)
{
    char *s = ja_alloc(P->a, t->n + 1);
    if (!s) return oom(P), NULL;
    memcpy(s, t->s, t->n);
    s[t->n] = '\0';
    return s;
}

/* Appends a child (and its keyword name, when names is used). */
static bool add_kid(parser *P, jnode *n, jnode *kid, const char *name)
{
    if ((n->n & (n->n - 1)) == 0) { /* at powers of two the arrays grow */
        size_t cap = n->n ? n->n * 2 : 1;
        jnode **k = ja_alloc(P->a, cap * sizeof *k);
        const char **nm = ja_alloc(P->a, cap * sizeof *nm);
        if (!k || !nm) return oom(P), false;
        if (n->n) {
            memcpy(k, n->kids, n->n * sizeof *k);
            memcpy(nm, n->names, n->n * sizeof *nm);
        }
        n->kids = k;
        n->names = nm;
    }
    n->kids[n->n] = kid;
    n->names[n->n] = name;
    n->n++;
    n->n_names = n->n;
    return true;
}

static jnode *parse_expr(parser *P);
static jnode *parse_or(parser *P);
static jnode *parse_unary(parser *P, bool with_filter);
static jnode *parse_primary(parser *P);
static jnode *parse_postfix(parser *P, jnode *e);

#define ENTER(P)                                                                                   \
    do {                                                                                           \
        if (++(P)->depth > MAX_NESTING) {                                                          \
            (P)->depth--;                                                                          \
            return perr((P), cur(P), "template nested too deeply (more than %d levels)",           \
                        MAX_NESTING);                                                              \
        }                                                                                          \
    } while (0)

/* ( args ) with keyword arguments; the '(' is the current token. */
static bool parse_args(parser *P, jnode *call)
{
    next(P);
    while (!is_op(cur(P), ')')) {
        const char *kw = NULL;
        if (cur(P)->kind == T_NAME && is_op(peek(P, 1), '=')) {
            if (!(kw = dup_name(P, cur(P)))) return false;
            next(P);
            next(P);
        } else if (is_op(cur(P), '*') || is_op(cur(P), OP_POW)) {
            perr(P, cur(P), "*args and **kwargs in calls are not supported");
            return false;
        }
        jnode *e = parse_expr(P);
        if (!e || !add_kid(P, call, e, kw)) return false;
        if (!is_op(cur(P), ',')) break;
        next(P);
    }
    return expect_op(P, ')');
}

static jnode *parse_filter(parser *P, jnode *operand)
{
    const jtok *at = cur(P);
    next(P); /* '|' */
    if (cur(P)->kind != T_NAME) {
        char b[64];
        return perr(P, cur(P), "expected a filter name, found %s", describe(cur(P), b, sizeof b));
    }
    jnode *f = mk(P, E_FILTER, at);
    if (!f || !(f->name = dup_name(P, cur(P)))) return NULL;
    if (!jb_filter_exists(f->name)) return perr(P, cur(P), "no filter named '%s'", f->name);
    next(P);
    f->a = operand;
    if (is_op(cur(P), '(') && !parse_args(P, f)) return NULL;
    return f;
}

static jnode *parse_test(parser *P, jnode *operand)
{
    const jtok *at = cur(P);
    next(P); /* 'is' */
    jnode *t = mk(P, E_TEST, at);
    if (!t) return NULL;
    if (is_name(cur(P), "not")) {
        t->op = 1;
        next(P);
    }
    if (cur(P)->kind != T_NAME) {
        char b[64];
        return perr(P, cur(P), "expected a test name, found %s", describe(cur(P), b, sizeof b));
    }
    if (!(t->name = dup_name(P, cur(P)))) return NULL;
    if (!jb_test_exists(t->name)) return perr(P, cur(P), "no test named '%s'", t->name);
    next(P);
    t->a = operand;
    const jtok *c = cur(P);
    if (is_op(c, '(')) {
        if (!parse_args(P, t)) return NULL;
    } else if (c->kind == T_STRING || c->kind == T_INT || c->kind == T_FLOAT || is_op(c, '[') ||
               is_op(c, '{') ||
               (c->kind == T_NAME && !is_name(c, "else") && !is_name(c, "or") &&
                !is_name(c, "and") && !is_name(c, "if"))) {
        /* `x is divisibleby 3`: one argument without parentheses */
        jnode *arg = parse_primary(P);
        if (!arg || !(arg = parse_postfix(P, arg)) || !add_kid(P, t, arg, NULL)) return NULL;
    }
    return t;
}

static jnode *parse_postfix(parser *P, jnode *e)
{
    for (;;) {
        const jtok *at = cur(P);
        if (is_op(at, '.')) {
            next(P);
            if (cur(P)->kind == T_NAME) {
                jnode *n = mk(P, E_ATTR, at);
                if (!n || !(n->name = dup_name(P, cur(P)))) return NULL;
                n->a = e;
                e = n;
            } else if (cur(P)->kind == T_INT) { /* a.0 is a[0] */
                jnode *n = mk(P, E_INDEX, at), *k = mk(P, E_LIT, cur(P));
                if (!n || !k) return NULL;
                k->lit = jv_int(cur(P)->i);
                n->a = e;
                n->b = k;
                e = n;
            } else {
                char b[64];
                return perr(P, cur(P), "expected an attribute name after '.', found %s",
                            describe(cur(P), b, sizeof b));
            }
            next(P);
        } else if (is_op(at, '[')) {
            next(P);
            jnode *start = NULL;
            if (!is_op(cur(P), ':') && !(start = parse_expr(P))) return NULL;
            if (is_op(cur(P), ':')) {
                jnode *s = mk(P, E_SLICE, at);
                if (!s) return NULL;
                s->a = e;
                s->b = start;
                next(P);
                if (!is_op(cur(P), ':') && !is_op(cur(P), ']') && !(s->c = parse_expr(P)))
                    return NULL;
                if (is_op(cur(P), ':')) {
                    next(P);
                    if (!is_op(cur(P), ']') && !(s->d = parse_expr(P))) return NULL;
                }
                e = s;
            } else {
                jnode *n = mk(P, E_INDEX, at);
                if (!n) return NULL;
                n->a = e;
                n->b = start;
                e = n;
            }
            if (!expect_op(P, ']')) return NULL;
        } else if (is_op(at, '(')) {
            jnode *c = mk(P, E_CALL, at);
            if (!c) return NULL;
            c->line = e->line; /* errors point at what is called */
            c->col = e->col;
            c->a = e;
            if (!parse_args(P, c)) return NULL;
            e = c;
        } else {
            return e;
        }
    }
}

static jnode *parse_primary(parser *P)
{
    const jtok *t = cur(P);
    char b[64];
    switch (t->kind) {
    case T_NAME: {
        jnode *n = mk(P, E_LIT, t);
        if (!n) return NULL;
        if (is_name(t, "true") || is_name(t, "True"))
            n->lit = jv_bool(true);
        else if (is_name(t, "false") || is_name(t, "False"))
            n->lit = jv_bool(false);
        else if (is_name(t, "none") || is_name(t, "None"))
            n->lit = jv_none();
        else {
            n->kind = E_NAME;
            if (!(n->name = dup_name(P, t))) return NULL;
        }
        next(P);
        return n;
    }
    case T_STRING: {
        jnode *n = mk(P, E_LIT, t);
        if (!n) return NULL;
        /* adjacent literals are one string, as in Python */
        size_t len = 0, k = P->i;
        for (; k < P->n && P->t[k].kind == T_STRING; k++)
            len += P->t[k].n;
        char *s = ja_alloc(P->a, len + 1);
        if (!s) return oom(P);
        len = 0;
        for (; cur(P)->kind == T_STRING; next(P)) {
            memcpy(s + len, cur(P)->s, cur(P)->n);
            len += cur(P)->n;
        }
        s[len] = '\0';
        n->lit = jv_str(s, len);
        return n;
    }
    case T_INT:
    case T_FLOAT: {
        jnode *n = mk(P, E_LIT, t);
        if (!n) return NULL;
        n->lit = t->kind == T_INT ? jv_int(t->i) : jv_float(t->f);
        next(P);
        return n;
    }
    case T_OP:
        if (t->op == '(') {
            next(P);
            jnode *tup = mk(P, E_TUPLE, t);
            if (!tup) return NULL;
            if (is_op(cur(P), ')')) {
                next(P);
                return tup;
            }
            jnode *e = parse_expr(P);
            if (!e) return NULL;
            if (!is_op(cur(P), ',')) return expect_op(P, ')') ? e : NULL;
            if (!add_kid(P, tup, e, NULL)) return NULL;
            while (is_op(cur(P), ',')) {
                next(P);
                if (is_op(cur(P), ')')) break;
                if (!(e = parse_expr(P)) || !add_kid(P, tup, e, NULL)) return NULL;
            }
            return expect_op(P, ')') ? tup : NULL;
        }
        if (t->op == '[' || t->op == '{') {
            bool dict = t->op == '{';
            int close = dict ? '}' : ']';
            jnode *n = mk(P, dict ? E_DICT : E_LIST, t);
            if (!n) return NULL;
            next(P);
            while (!is_op(cur(P), close)) {
                jnode *e = parse_expr(P);
                if (!e || !add_kid(P, n, e, NULL)) return NULL;
                if (dict) {
                    if (!expect_op(P, ':') || !(e = parse_expr(P)) || !add_kid(P, n, e, NULL))
                        return NULL;
                }
                if (!is_op(cur(P), ',')) break;
                next(P);
            }
            return expect_op(P, close) ? n : NULL;
        }
        break;
    default: break;
    }
    return perr(P, t, "unexpected %s in an expression", describe(t, b, sizeof b));
}

static jnode *parse_unary(parser *P, bool with_filter)
{
    ENTER(P);
    const jtok *t = cur(P);
    jnode *e;
    if (is_op(t, '-') || is_op(t, '+')) {
        next(P);
        e = mk(P, is_op(t, '-') ? E_NEG : E_POS, t);
        if (e && !(e->a = parse_unary(P, false))) e = NULL;
    } else {
        e = parse_primary(P);
    }
    if (e) e = parse_postfix(P, e);
    while (e && with_filter) {
        if (is_op(cur(P), '|'))
            e = parse_filter(P, e);
        else if (is_name(cur(P), "is"))
            e = parse_test(P, e);
        else if (is_op(cur(P), '(')) {
            jnode *c = mk(P, E_CALL, cur(P));
            if (!c) return NULL;
            c->a = e;
            e = parse_args(P, c) ? c : NULL;
        } else
            break;
    }
    P->depth--;
    return e;
}

static jnode *binary(parser *P, jnode_kind kind, int op, const jtok *at, jnode *a, jnode *b)
{
    if (!b) return NULL;
    jnode *n = mk(P, kind, at);
    if (!n) return NULL;
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(parser *P)
{
    jnode *e = parse_unary(P, true);
    while (e && is_op(cur(P), OP_POW)) {
        const jtok *at = cur(P);
        next(P);
        e = binary(P, E_BIN, OP_POW, at, e, parse_unary(P, true));
    }
    return e;
}

static jnode *parse_math2(parser *P)
{
    jnode *e = parse_pow(P);
    while (e && (is_op(cur(P), '*') || is_op(cur(P), '/') || is_op(cur(P), OP_FLOORDIV) ||
                 is_op(cur(P), '%'))) {
        const jtok *at = cur(P);
        next(P);
        e = binary(P, E_BIN, at->op, at, e, parse_pow(P));
    }
    return e;
}

static jnode *parse_concat(parser *P)
{
    jnode *e = parse_math2(P);
    if (!e || !is_op(cur(P), '~')) return e;
    jnode *c = mk(P, E_CONCAT, cur(P));
    if (!c || !add_kid(P, c, e, NULL)) return NULL;
    while (is_op(cur(P), '~')) {
        next(P);
        if (!(e = parse_math2(P)) || !add_kid(P, c, e, NULL)) return NULL;
    }
    return c;
}

static jnode *parse_math1(parser *P)
{
    jnode *e = parse_concat(P);
    while (e && (is_op(cur(P), '+') || is_op(cur(P), '-'))) {
        const jtok *at = cur(P);
        next(P);
        e = binary(P, E_BIN, at->op, at, e, parse_concat(P));
    }
    return e;
}

static jnode *parse_compare(parser *P)
{
    jnode *e = parse_math1(P), *prev = e, *chain = NULL;
    while (e) {
        const jtok *at = cur(P);
        int op = 0;
        if (at->kind == T_OP && (at->op == OP_EQ || at->op == OP_NE || at->op == '<' ||
                                 at->op == '>' || at->op == OP_LE || at->op == OP_GE))
            op = at->op;
        else if (is_name(at, "in"))
            op = OP_IN;
        else if (is_name(at, "not") && is_name(peek(P, 1), "in"))
            op = OP_NOTIN;
        if (!op) break;
        next(P);
        if (op == OP_NOTIN) next(P);
        jnode *rhs = parse_math1(P);
        jnode *cmp = binary(P, E_BIN, op, at, prev, rhs);
        if (!cmp) return NULL;
        /* a < b < c is a < b and b < c */
        chain = chain ? binary(P, E_AND, 0, at, chain, cmp) : cmp;
        if (!chain) return NULL;
        prev = rhs;
    }
    return chain ? chain : e;
}

static jnode *parse_not(parser *P)
{
    if (is_name(cur(P), "not")) {
        ENTER(P);
        jnode *n = mk(P, E_NOT, cur(P));
        next(P);
        if (n && !(n->a = parse_not(P))) n = NULL;
        P->depth--;
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_and(parser *P)
{
    jnode *e = parse_not(P);
    while (e && is_name(cur(P), "and")) {
        const jtok *at = cur(P);
        next(P);
        e = binary(P, E_AND, 0, at, e, parse_not(P));
    }
    return e;
}

static jnode *parse_or(parser *P)
{
    jnode *e = parse_and(P);
    while (e && is_name(cur(P), "or")) {
        const jtok *at = cur(P);
        next(P);
        e = binary(P, E_OR, 0, at, e, parse_and(P));
    }
    return e;
}

static jnode *parse_expr(parser *P)
{
    ENTER(P);
    jnode *e = parse_or(P);
    while (e && is_name(cur(P), "if")) {
        jnode *c = mk(P, E_COND, cur(P));
        next(P);
        if (!c || !(c->a = parse_or(P))) {
            e = NULL;
            break;
        }
        c->b = e;
        if (is_name(cur(P), "else")) {
            next(P);
            if (!(c->c = parse_expr(P))) {
                e = NULL;
                break;
            }
        }
        e = c;
    }
    P->depth--;
    return e;
}

/* ---- statements ---- */

static jnode *parse_body(parser *P, const char *const *ends, const char **which);

static bool end_tag(parser *P)
{
    return expect_kind(P, T_BLOCK_END, "'%}'");
}

/* The rest of an if after its condition's '%}' (shared by elif). */
static jnode *parse_if_rest(parser *P, jnode *node)
{
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    const char *which = NULL;
    if (!end_tag(P) || !(node->b = parse_body(P, ends, &which))) return NULL;
    if (!strcmp(which, "elif")) {
        jnode *e = mk(P, N_IF, cur(P));
        if (!e || !(e->a = parse_expr(P)) || !parse_if_rest(P, e)) return NULL;
        node->c = e;
        return node;
    }
    if (!strcmp(which, "else")) {
        static const char *const endif[] = {"endif", NULL};
        if (!end_tag(P) || !(node->c = parse_body(P, endif, &which))) return NULL;
    }
    return end_tag(P) ? node : NULL;
}

static bool parse_name_list(parser *P, jnode *n)
{
    do {
        if (cur(P)->kind != T_NAME) {
            char b[64];
            perr(P, cur(P), "expected a variable name, found %s", describe(cur(P), b, sizeof b));
            return false;
        }
        const char *name = dup_name(P, cur(P));
        if (!name) return false;
        /* names[] holds them; kids[] is unused here */
        if (!add_kid(P, n, NULL, name)) return false;
        next(P);
    } while (is_op(cur(P), ',') && (next(P), true));
    return true;
}

static jnode *parse_for(parser *P, const jtok *at)
{
    jnode *n = mk(P, N_FOR, at);
    if (!n) return NULL;
    bool paren = is_op(cur(P), '(');
    if (paren) next(P);
    if (!parse_name_list(P, n)) return NULL;
    if (paren && !expect_op(P, ')')) return NULL;
    if (!is_name(cur(P), "in")) {
        char b[64];
        return perr(P, cur(P), "expected 'in' in a for loop, found %s",
                    describe(cur(P), b, sizeof b));
    }
    next(P);
    if (!(n->a = parse_or(P))) return NULL;
    if (is_name(cur(P), "if")) {
        next(P);
        if (!(n->d = parse_expr(P))) return NULL;
    }
    if (is_name(cur(P), "recursive")) return perr(P, cur(P), "recursive loops are not supported");
    static const char *const ends[] = {"else", "endfor", NULL};
    static const char *const endfor[] = {"endfor", NULL};
    const char *which = NULL;
    if (!end_tag(P) || !(n->b = parse_body(P, ends, &which))) return NULL;
    if (!strcmp(which, "else") && (!end_tag(P) || !(n->c = parse_body(P, endfor, &which))))
        return NULL;
    return end_tag(P) ? n : NULL;
}

/* A filter chain for filter blocks and set blocks: name(args) | name ... with a NULL
 * innermost operand. */
static jnode *parse_filter_chain(parser *P)
{
    jnode *f = NULL;
    do {
        if (cur(P)->kind != T_NAME) {
            char b[64];
            return perr(P, cur(P), "expected a filter name, found %s",
                        describe(cur(P), b, sizeof b));
        }
        jnode *g = mk(P, E_FILTER, cur(P));
        if (!g || !(g->name = dup_name(P, cur(P)))) return NULL;
        if (!jb_filter_exists(g->name)) return perr(P, cur(P), "no filter named '%s'", g->name);
        next(P);
        g->a = f;
        if (is_op(cur(P), '(') && !parse_args(P, g)) return NULL;
        f = g;
    } while (is_op(cur(P), '|') && (next(P), true));
    return f;
}

static jnode *parse_set(parser *P, const jtok *at)
{
    jnode *n = mk(P, N_SET, at);
    if (!n) return NULL;
    const jtok *t = cur(P);
    if (t->kind != T_NAME) {
        char b[64];
        return perr(P, t, "expected a variable name after 'set', found %s",
                    describe(t, b, sizeof b));
    }
    jnode *target;
    if (is_op(peek(P, 1), ',')) {
        target = mk(P, E_TUPLE, t);
        if (!target || !parse_name_list(P, target)) return NULL;
    } else {
        target = mk(P, E_NAME, t);
        if (!target || !(target->name = dup_name(P, t))) return NULL;
        next(P);
        if (is_op(cur(P), '.')) {
            next(P);
            if (cur(P)->kind != T_NAME) return perr(P, cur(P), "expected an attribute name");
            jnode *attr = mk(P, E_ATTR, cur(P));
            if (!attr || !(attr->name = dup_name(P, cur(P)))) return NULL;
            attr->a = target;
            target = attr;
            next(P);
        }
    }
    n->a = target;
    if (is_op(cur(P), '=')) {
        next(P);
        jnode *v = parse_expr(P);
        if (!v) return NULL;
        if (is_op(cur(P), ',')) { /* set a = 1, 2 */
            jnode *tup = mk(P, E_TUPLE, cur(P));
            if (!tup || !add_kid(P, tup, v, NULL)) return NULL;
            while (is_op(cur(P), ',')) {
                next(P);
                if (cur(P)->kind == T_BLOCK_END) break;
                if (!(v = parse_expr(P)) || !add_kid(P, tup, v, NULL)) return NULL;
            }
            v = tup;
        }
        n->b = v;
        return end_tag(P) ? n : NULL;
    }
    if (target->kind != E_NAME) return perr(P, cur(P), "expected '=' in set");
    n->kind = N_SET_BLOCK;
    if (is_op(cur(P), '|')) {
        next(P);
        if (!(n->c = parse_filter_chain(P))) return NULL;
    }
    static const char *const ends[] = {"endset", NULL};
    const char *which;
    if (!end_tag(P) || !(n->b = parse_body(P, ends, &which))) return NULL;
    return end_tag(P) ? n : NULL;
}

/* ( name [= default], ... ) for macros and call blocks. */
static bool parse_params(parser *P, jnode *n)
{
    if (!expect_op(P, '(')) return false;
    while (!is_op(cur(P), ')')) {
        if (cur(P)->kind != T_NAME) {
            char b[64];
            perr(P, cur(P), "expected a parameter name, found %s", describe(cur(P), b, sizeof b));
            return false;
        }
        const char *name = dup_name(P, cur(P));
        jnode *dflt = NULL;
        next(P);
        if (is_op(cur(P), '=')) {
            next(P);
            if (!(dflt = parse_expr(P))) return false;
        }
        if (!name || !add_kid(P, n, dflt, name)) return false;
        if (!is_op(cur(P), ',')) break;
        next(P);
    }
    return expect_op(P, ')');
}

static jnode *parse_macro(parser *P, const jtok *at)
{
    jnode *n = mk(P, N_MACRO, at);
    if (!n) return NULL;
    if (cur(P)->kind != T_NAME) return perr(P, cur(P), "expected a macro name");
    if (!(n->name = dup_name(P, cur(P)))) return NULL;
    next(P);
    static const char *const ends[] = {"endmacro", NULL};
    const char *which;
    if (!parse_params(P, n) || !end_tag(P) || !(n->b = parse_body(P, ends, &which))) return NULL;
    if (cur(P)->kind == T_NAME) next(P); /* {% endmacro name %} */
    return end_tag(P) ? n : NULL;
}

static jnode *parse_call_block(parser *P, const jtok *at)
{
    jnode *n = mk(P, N_CALL, at);
    if (!n) return NULL;
    if (is_op(cur(P), '(') && !parse_params(P, n)) return NULL;
    if (!(n->a = parse_expr(P))) return NULL;
    if (n->a->kind != E_CALL) return perr(P, at, "expected a macro call in a call block");
    static const char *const ends[] = {"endcall", NULL};
    const char *which;
    if (!end_tag(P) || !(n->b = parse_body(P, ends, &which))) return NULL;
    return end_tag(P) ? n : NULL;
}

static jnode *parse_stmt(parser *P)
{
    const jtok *at = cur(P);
    next(P); /* '{%' */
    const jtok *kw = cur(P);
    char b[64];
    if (kw->kind != T_NAME)
        return perr(P, kw, "expected a statement name, found %s", describe(kw, b, sizeof b));
    next(P);
    if (is_name(kw, "if")) {
        jnode *n = mk(P, N_IF, at);
        if (!n || !(n->a = parse_expr(P))) return NULL;
        return parse_if_rest(P, n);
    }
    if (is_name(kw, "for")) return parse_for(P, at);
    if (is_name(kw, "set")) return parse_set(P, at);
    if (is_name(kw, "macro")) return parse_macro(P, at);
    if (is_name(kw, "call")) return parse_call_block(P, at);
    if (is_name(kw, "break") || is_name(kw, "continue")) {
        jnode *n = mk(P, is_name(kw, "break") ? N_BREAK : N_CONTINUE, at);
        return n && end_tag(P) ? n : NULL;
    }
    if (is_name(kw, "do")) {
        jnode *n = mk(P, N_DO, at);
        if (!n || !(n->a = parse_expr(P))) return NULL;
        return end_tag(P) ? n : NULL;
    }
    if (is_name(kw, "filter")) {
        jnode *n = mk(P, N_FILTER, at);
        if (!n || !(n->a = parse_filter_chain(P))) return NULL;
        static const char *const ends[] = {"endfilter", NULL};
        const char *which;
        if (!end_tag(P) || !(n->b = parse_body(P, ends, &which))) return NULL;
        return end_tag(P) ? n : NULL;
    }
    if (is_name(kw, "generation")) {
        /* transformers' marker for assistant text: renders its body unchanged */
        static const char *const ends[] = {"endgeneration", NULL};
        const char *which;
        jnode *body;
        if (!end_tag(P) || !(body = parse_body(P, ends, &which))) return NULL;
        return end_tag(P) ? body : NULL;
    }
    if (kw->n > 3 && !memcmp(kw->s, "end", 3))
        return perr(P, kw, "unexpected '%.*s' (no open block to end)", (int)kw->n, kw->s);
    if (is_name(kw, "elif") || is_name(kw, "else"))
        return perr(P, kw, "unexpected '%.*s' outside of an if or for", (int)kw->n, kw->s);
    return perr(P, kw, "unknown statement '%s'", describe(kw, b, sizeof b));
}

/* Statements until one of ends (NULL: until the end of the template). On return the
 * current token is the tag's name... consumed: the caller continues after the name. */
static jnode *parse_body(parser *P, const char *const *ends, const char **which)
{
    ENTER(P);
    jnode *body = mk(P, N_BODY, cur(P));
    /* the tag that opened this body, for "unclosed block" */
    size_t o = P->i;
    while (o > 0 && P->t[o - 1].kind != T_BLOCK_BEGIN)
        o--;
    const jtok *open = o > 0 ? &P->t[o - 1] : cur(P);
    while (body) {
        const jtok *t = cur(P);
        if (t->kind == T_EOF) {
            if (ends) {
                int k = 0;
                while (ends[k + 1]) /* the closing tag is last in the list */
                    k++;
                body = perr(P, open,
                            "unclosed block: expected '{%% %s %%}' before the end of the template",
                            ends[k]);
            }
            break;
        }
        if (t->kind == T_TEXT) {
            jnode *n = mk(P, N_TEXT, t);
            if (!n) return NULL;
            n->lit = jv_str(t->s, t->n);
            if (!add_kid(P, body, n, NULL)) body = NULL;
            next(P);
            continue;
        }
        if (t->kind == T_VAR_BEGIN) {
            next(P);
            jnode *n = mk(P, N_OUTPUT, t);
            if (!n || !(n->a = parse_expr(P)) || !expect_kind(P, T_VAR_END, "'}}'") ||
                !add_kid(P, body, n, NULL))
                body = NULL;
            continue;
        }
        if (t->kind == T_BLOCK_BEGIN) {
            const jtok *kw = peek(P, 1);
            if (ends && kw->kind == T_NAME) {
                bool end = false;
                for (int k = 0; ends[k]; k++)
                    if (is_name(kw, ends[k])) {
                        *which = ends[k];
                        end = true;
                    }
                if (end) {
                    next(P);
                    next(P);
                    break;
                }
            }
            jnode *s = parse_stmt(P);
            if (!s || !add_kid(P, body, s, NULL)) body = NULL;
            continue;
        }
        char b[64];
        body = perr(P, t, "unexpected %s", describe(t, b, sizeof b));
    }
    P->depth--;
    return body;
}

jnode *jp_parse(jarena *a, const char *src, size_t len, ta_error *err)
{
    char *copy = ja_alloc(a, len + 1);
    if (!copy) {
        ta_error_set(err, TA_ENOMEM, "out of memory parsing the template");
        return NULL;
    }
    /* as Jinja: every line break becomes "\n", and one at the very end is dropped */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            if (i + 1 < len && src[i + 1] == '\n') i++;
            copy[n++] = '\n';
        } else {
            copy[n++] = src[i];
        }
    }
    if (n > 0 && copy[n - 1] == '\n') n--;
    copy[n] = '\0';
    len = n;
    lexer L = {.a = a, .src = copy, .len = len, .line = 1, .col = 1, .err = err};
    jnode *root = NULL;
    if (lex(&L) == 0 && lx_push(&L, T_EOF, len)) {
        parser P = {.a = a, .t = L.toks, .n = L.n, .err = err};
        root = parse_body(&P, NULL, NULL);
        if (P.failed) root = NULL;
    }
    free(L.toks);
    return root;
}
