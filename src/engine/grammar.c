/*
 * grammar.c - the GBNF parser and the matcher behind grammar-constrained sampling.
 *
 * Parsing turns the text into one flat array of elements. Each rule is its alternatives
 * back to back, separated by G_ALT and closed by G_END; an element is a rule reference,
 * a single character, a character class or "any character". Groups and repetitions
 * become synthesized rules ({m,n} expands to m copies and a chain of optional ones), so
 * the matcher only ever sees sequences, alternatives and references.
 *
 * Matching is the pushdown recognizer llama.cpp made popular: a state is a set of parse
 * stacks, each a list of element positions where the top is the next terminal to match
 * and the entries below are where to resume once the rule above finishes. Consuming a
 * code point keeps the stacks whose top accepts it, pops that top and expands rule
 * references at the new top into one stack per alternative (tail positions are not
 * pushed, so right recursion such as `ws ::= " " ws | ""` does not grow the stack).
 * Left recursion would expand forever, so the parser rejects it, and every step is
 * bounded in stacks, stack depth and expansion work.
 *
 * ta_grammar_state_accepts runs the same steps in scratch space on the C stack and only
 * falls back to the heap for unusually large states; for the last character of a piece
 * it checks the stack tops alone, since a matching top always leaves a live stack.
 */
#include "grammar.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------ */
/* The compiled grammar                                                                  */

enum { G_END, G_ALT, G_REF, G_CHAR, G_SET, G_ANY };

typedef struct {
    uint32_t type; /* G_* */
    uint32_t v;    /* rule id (G_REF), code point (G_CHAR), class index (G_SET) */
} gel;

typedef struct {
    uint64_t ascii[2]; /* membership of code points 0..127, negation already applied */
    uint32_t first, n; /* ranges [first, first + n) */
    bool neg;
} gclass;

struct ta_grammar {
    gel *el;
    uint32_t n_el;
    uint32_t n_rules;
    uint32_t *rule_alt; /* n_rules + 1 offsets into alts */
    uint32_t *alts;     /* position of the first element of each alternative */
    gclass *cls;
    uint32_t (*rng)[2];
    uint32_t root;
};

static inline bool is_term(uint32_t type)
{
    return type >= G_CHAR;
}

static inline bool ends_alt(uint32_t type)
{
    return type == G_END || type == G_ALT;
}

static bool cls_has(const ta_grammar *g, const gclass *c, uint32_t cp)
{
    if (cp < 128) return (c->ascii[cp >> 6] >> (cp & 63)) & 1;
    bool in = false;
    for (uint32_t i = 0; i < c->n; i++) {
        const uint32_t *r = g->rng[c->first + i];
        if (cp >= r[0] && cp <= r[1]) {
            in = true;
            break;
        }
    }
    return in != c->neg;
}

static inline bool el_match(const ta_grammar *g, uint32_t pos, uint32_t cp)
{
    gel e = g->el[pos];
    switch (e.type) {
    case G_CHAR: return e.v == cp;
    case G_SET: return cls_has(g, &g->cls[e.v], cp);
    case G_ANY: return true;
    default: return false;
    }
}

/* Whether the terminal at pos accepts some code point in [lo, hi] (for a partial UTF-8
 * character). For negated classes this is slightly generous: the range only counts as
 * excluded when one excluded range covers it. */
static bool el_match_range(const ta_grammar *g, uint32_t pos, uint32_t lo, uint32_t hi)
{
    gel e = g->el[pos];
    if (e.type == G_CHAR) return e.v >= lo && e.v <= hi;
    if (e.type == G_ANY) return true;
    if (e.type != G_SET) return false;
    const gclass *c = &g->cls[e.v];
    for (uint32_t i = 0; i < c->n; i++) {
        const uint32_t *r = g->rng[c->first + i];
        if (!c->neg && r[1] >= lo && r[0] <= hi) return true;
        if (c->neg && r[0] <= lo && r[1] >= hi) return false;
    }
    return c->neg;
}

void ta_grammar_free(ta_grammar *g)
{
    if (!g) return;
    free(g->el);
    free(g->rule_alt);
    free(g->alts);
    free(g->cls);
    free(g->rng);
    free(g);
}

/* memcpy/memmove that allow n == 0 with NULL pointers (empty buffers). */
static inline void copy_bytes(void *dst, const void *src, size_t n)
{
    if (n) memcpy(dst, src, n);
}

static inline void move_bytes(void *dst, const void *src, size_t n)
{
    if (n) memmove(dst, src, n);
}

/* ------------------------------------------------------------------------------------ */
/* Parser                                                                                */

typedef struct {
    gel *v;
    size_t n, cap;
} gvec;

typedef struct {
    char *name; /* NULL for a synthesized rule (group or repetition) */
    gel *body;  /* elements including the closing G_END; NULL until defined */
    size_t n;
    bool defined;
    size_t pos; /* definition (or first reference, until defined) in the text */
} prule;

typedef struct {
    const char *src;
    size_t len, pos;
    prule *rules;
    size_t n_rules, cap_rules;
    uint32_t *map; /* open addressing: name hash -> rule index + 1 (0 = empty) */
    size_t map_cap;
    gclass *cls;
    size_t n_cls, cap_cls;
    uint32_t (*rng)[2];
    size_t n_rng, cap_rng;
    size_t total; /* elements emitted, against TA_GRAMMAR_MAX_ELEMENTS */
    int depth;
    ta_error *err;
} parser;

static void line_col(const char *src, size_t at, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < at && src[i]; i++) {
        if (src[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)src[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

__attribute__((format(printf, 4, 5))) static int perr(parser *p, size_t at, int code,
                                                      const char *fmt, ...)
{
    char msg[TA_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    line_col(p->src, at, &line, &col);
    return ta_error_set(p->err, code, "grammar line %d, column %d: %s", line, col, msg);
}

static int oom(parser *p)
{
    return ta_error_set(p->err, TA_ENOMEM, "out of memory parsing the grammar");
}

static int grow(void **ptr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*ptr, nc * size);
    if (!np) return TA_ENOMEM;
    *ptr = np;
    *cap = nc;
    return 0;
}

static int emit(parser *p, gvec *v, uint32_t type, uint32_t val)
{
    if (++p->total > TA_GRAMMAR_MAX_ELEMENTS)
        return perr(p, p->pos, TA_ETOOBIG, "grammar too large (more than %u elements)",
                    TA_GRAMMAR_MAX_ELEMENTS);
    if (grow((void **)&v->v, &v->cap, v->n + 1, sizeof *v->v)) return oom(p);
    v->v[v->n++] = (gel){type, val};
    return 0;
}

static int emit_all(parser *p, gvec *v, const gel *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = emit(p, v, src[i].type, src[i].v);
        if (rc) return rc;
    }
    return 0;
}

static uint32_t hash_name(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int new_rule(parser *p, char *name, size_t pos, uint32_t *id)
{
    if (p->n_rules >= TA_GRAMMAR_MAX_ELEMENTS)
        return perr(p, pos, TA_ETOOBIG, "grammar has too many rules");
    if (grow((void **)&p->rules, &p->cap_rules, p->n_rules + 1, sizeof *p->rules)) {
        free(name);
        return oom(p);
    }
    p->rules[p->n_rules] = (prule){.name = name, .pos = pos};
    *id = (uint32_t)p->n_rules++;
    return 0;
}

/* Finds the named rule, adding an undefined one if it is new. */
static int rule_id(parser *p, const char *name, size_t n, size_t pos, uint32_t *id)
{
    if (p->n_rules * 2 + 2 > p->map_cap) {
        size_t nc = p->map_cap ? p->map_cap * 2 : 64;
        uint32_t *nm = calloc(nc, sizeof *nm);
        if (!nm) return oom(p);
        for (size_t i = 0; i < p->map_cap; i++) {
            uint32_t r = p->map[i];
            if (!r) continue;
            const char *nn = p->rules[r - 1].name;
            size_t j = hash_name(nn, strlen(nn)) & (nc - 1);
            while (nm[j])
                j = (j + 1) & (nc - 1);
            nm[j] = r;
        }
        free(p->map);
        p->map = nm;
        p->map_cap = nc;
    }
    size_t j = hash_name(name, n) & (p->map_cap - 1);
    while (p->map[j]) {
        const char *nn = p->rules[p->map[j] - 1].name;
        if (strlen(nn) == n && memcmp(nn, name, n) == 0) {
            *id = p->map[j] - 1;
            return 0;
        }
        j = (j + 1) & (p->map_cap - 1);
    }
    char *copy = malloc(n + 1);
    if (!copy) return oom(p);
    copy_bytes(copy, name, n);
    copy[n] = '\0';
    int rc = new_rule(p, copy, pos, id);
    if (rc) return rc;
    p->map[j] = *id + 1;
    return 0;
}

/* Makes v (plus a G_END) the body of rule id; v is consumed. */
static int set_body(parser *p, uint32_t id, gvec *v)
{
    int rc = emit(p, v, G_END, 0);
    if (rc) return rc;
    p->rules[id].body = v->v;
    p->rules[id].n = v->n;
    p->rules[id].defined = true;
    *v = (gvec){0};
    return 0;
}

static inline char cur(const parser *p)
{
    return p->pos < p->len ? p->src[p->pos] : '\0';
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Skips blanks and comments; newlines too when newline_ok (inside groups, after ::= and
 * |). At the top level a newline ends the rule. */
static void skip_space(parser *p, bool newline_ok)
{
    for (;;) {
        char c = cur(p);
        if (c == ' ' || c == '\t') {
            p->pos++;
        } else if ((c == '\n' || c == '\r') && newline_ok) {
            p->pos++;
        } else if (c == '#') {
            while (p->pos < p->len && p->src[p->pos] != '\n' && p->src[p->pos] != '\r')
                p->pos++;
        } else {
            return;
        }
    }
}

/* Decodes one UTF-8 character (see the matcher's decoder below). */
static int utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

static int hex_escape(parser *p, int digits, uint32_t *cp)
{
    uint32_t v = 0;
    for (int i = 0; i < digits; i++) {
        char c = cur(p);
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0) return perr(p, p->pos, TA_EINVAL, "expected %d hex digits in escape", digits);
        v = v * 16 + (uint32_t)d;
        p->pos++;
    }
    if (v > 0x10FFFF) return perr(p, p->pos, TA_EINVAL, "escape beyond U+10FFFF");
    *cp = v;
    return 0;
}

/* Reads one character of a literal or class: an escape or a UTF-8 character. */
static int read_char(parser *p, uint32_t *cp)
{
    size_t at = p->pos;
    char c = cur(p);
    if (c == '\\') {
        p->pos++;
        char e = cur(p);
        p->pos++;
        switch (e) {
        case 'n': *cp = '\n'; return 0;
        case 't': *cp = '\t'; return 0;
        case 'r': *cp = '\r'; return 0;
        case '0': *cp = 0; return 0;
        case '\\':
        case '"':
        case '\'':
        case '[':
        case ']':
        case '-':
        case '^':
        case '/': *cp = (uint32_t)e; return 0;
        case 'x': return hex_escape(p, 2, cp);
        case 'u': return hex_escape(p, 4, cp);
        case 'U': return hex_escape(p, 8, cp);
        default: p->pos = at; return perr(p, at, TA_EINVAL, "unknown escape '\\%c'", e ? e : '0');
        }
    }
    int n = utf8_decode((const uint8_t *)p->src + p->pos, p->len - p->pos, cp);
    if (n <= 0) return perr(p, at, TA_EINVAL, "invalid UTF-8");
    p->pos += (size_t)n;
    return 0;
}

static int parse_literal(parser *p, gvec *out)
{
    size_t start = p->pos++;
    for (;;) {
        char c = cur(p);
        if (c == '\0' || c == '\n' || c == '\r')
            return perr(p, start, TA_EINVAL, "unterminated literal");
        if (c == '"') {
            p->pos++;
            return 0;
        }
        uint32_t cp;
        int rc = read_char(p, &cp);
        if (!rc) rc = emit(p, out, G_CHAR, cp);
        if (rc) return rc;
    }
}

static int parse_class(parser *p, gvec *out)
{
    size_t start = p->pos++;
    gclass c = {.first = (uint32_t)p->n_rng};
    if (cur(p) == '^') {
        c.neg = true;
        p->pos++;
    }
    for (;;) {
        char ch = cur(p);
        if (ch == '\0' || ch == '\n' || ch == '\r')
            return perr(p, start, TA_EINVAL, "unterminated character class");
        if (ch == ']') {
            p->pos++;
            break;
        }
        size_t at = p->pos;
        uint32_t lo, hi;
        int rc = read_char(p, &lo);
        if (rc) return rc;
        hi = lo;
        if (cur(p) == '-' && p->pos + 1 < p->len && p->src[p->pos + 1] != ']') {
            p->pos++;
            if ((rc = read_char(p, &hi))) return rc;
            if (hi < lo) return perr(p, at, TA_EINVAL, "bad character class range (end < start)");
        }
        if (grow((void **)&p->rng, &p->cap_rng, p->n_rng + 1, sizeof *p->rng)) return oom(p);
        p->rng[p->n_rng][0] = lo;
        p->rng[p->n_rng][1] = hi;
        p->n_rng++;
        c.n++;
        if (++p->total > TA_GRAMMAR_MAX_ELEMENTS)
            return perr(p, at, TA_ETOOBIG, "grammar too large");
    }
    if (c.n == 0) return perr(p, start, TA_EINVAL, "empty character class");
    if (c.n == 1 && !c.neg && p->rng[c.first][0] == p->rng[c.first][1]) {
        uint32_t only = p->rng[c.first][0];
        p->n_rng--;
        return emit(p, out, G_CHAR, only);
    }
    for (uint32_t cp = 0; cp < 128; cp++) {
        bool in = false;
        for (uint32_t i = 0; i < c.n && !in; i++)
            in = cp >= p->rng[c.first + i][0] && cp <= p->rng[c.first + i][1];
        if (in != c.neg) c.ascii[cp >> 6] |= (uint64_t)1 << (cp & 63);
    }
    if (grow((void **)&p->cls, &p->cap_cls, p->n_cls + 1, sizeof *p->cls)) return oom(p);
    p->cls[p->n_cls] = c;
    return emit(p, out, G_SET, (uint32_t)p->n_cls++);
}

static int parse_uint(parser *p, uint32_t *v)
{
    size_t at = p->pos;
    uint64_t x = 0;
    if (cur(p) < '0' || cur(p) > '9')
        return perr(p, at, TA_EINVAL, "bad repetition: expected a number");
    while (cur(p) >= '0' && cur(p) <= '9') {
        x = x * 10 + (uint64_t)(cur(p) - '0');
        if (x > TA_GRAMMAR_MAX_REPEAT)
            return perr(p, at, TA_ETOOBIG, "bad repetition: count above %d", TA_GRAMMAR_MAX_REPEAT);
        p->pos++;
    }
    *v = (uint32_t)x;
    return 0;
}

#define REP_INF UINT32_MAX

/* Replaces the item out[last..] by its repetition min..max times. */
static int apply_repeat(parser *p, gvec *out, size_t last, uint32_t min, uint32_t max, size_t at)
{
    size_t n = out->n - last;
    gel *item = malloc((n ? n : 1) * sizeof *item);
    if (!item) return oom(p);
    copy_bytes(item, out->v + last, n * sizeof *item);
    out->n = last;
    int rc = 0;
    for (uint32_t i = 0; i < min && !rc; i++)
        rc = emit_all(p, out, item, n);
    if (!rc && max == REP_INF) {
        /* r ::= item r | "" */
        uint32_t r;
        gvec body = {0};
        rc = new_rule(p, NULL, at, &r);
        if (!rc) rc = emit_all(p, &body, item, n);
        if (!rc) rc = emit(p, &body, G_REF, r);
        if (!rc) rc = emit(p, &body, G_ALT, 0);
        if (!rc) rc = set_body(p, r, &body);
        if (!rc) rc = emit(p, out, G_REF, r);
        free(body.v);
    } else if (!rc && max > min) {
        /* r1 ::= item | "" ; rk ::= item r(k-1) | "" */
        uint32_t prev = REP_INF;
        for (uint32_t k = 0; k < max - min && !rc; k++) {
            uint32_t r;
            gvec body = {0};
            rc = new_rule(p, NULL, at, &r);
            if (!rc) rc = emit_all(p, &body, item, n);
            if (!rc && prev != REP_INF) rc = emit(p, &body, G_REF, prev);
            if (!rc) rc = emit(p, &body, G_ALT, 0);
            if (!rc) rc = set_body(p, r, &body);
            free(body.v);
            prev = r;
        }
        if (!rc) rc = emit(p, out, G_REF, prev);
    }
    free(item);
    return rc;
}

static int parse_alternatives(parser *p, gvec *out, bool nested);

static int parse_sequence(parser *p, gvec *out, bool nested)
{
    size_t last = SIZE_MAX; /* start of the last item, for a repetition */
    for (;;) {
        char c = cur(p);
        size_t at = p->pos;
        int rc = 0;
        if (c == '"') {
            last = out->n;
            rc = parse_literal(p, out);
        } else if (c == '[') {
            last = out->n;
            rc = parse_class(p, out);
        } else if (c == '.') {
            last = out->n;
            p->pos++;
            rc = emit(p, out, G_ANY, 0);
        } else if (is_name_char(c)) {
            last = out->n;
            size_t s = p->pos;
            while (is_name_char(cur(p)))
                p->pos++;
            uint32_t id;
            rc = rule_id(p, p->src + s, p->pos - s, s, &id);
            if (!rc) rc = emit(p, out, G_REF, id);
        } else if (c == '(') {
            last = out->n;
            if (++p->depth > TA_GRAMMAR_MAX_NESTING)
                return perr(p, at, TA_ETOOBIG, "groups nested too deeply");
            p->pos++;
            skip_space(p, true);
            gvec sub = {0};
            uint32_t id;
            rc = parse_alternatives(p, &sub, true);
            if (!rc && cur(p) != ')') rc = perr(p, p->pos, TA_EINVAL, "expected ')'");
            if (!rc) {
                p->pos++;
                rc = new_rule(p, NULL, at, &id);
            }
            if (!rc) rc = set_body(p, id, &sub);
            if (!rc) rc = emit(p, out, G_REF, id);
            free(sub.v);
            p->depth--;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (last == SIZE_MAX)
                return perr(p, at, TA_EINVAL, "bad repetition: '%c' without an item before it", c);
            uint32_t min = 0, max = REP_INF;
            p->pos++;
            if (c == '+') min = 1;
            if (c == '?') max = 1;
            if (c == '{') {
                skip_space(p, true);
                if ((rc = parse_uint(p, &min))) return rc;
                skip_space(p, true);
                max = min;
                if (cur(p) == ',') {
                    p->pos++;
                    skip_space(p, true);
                    max = REP_INF;
                    if (cur(p) != '}' && (rc = parse_uint(p, &max))) return rc;
                    skip_space(p, true);
                }
                if (cur(p) != '}')
                    return perr(p, p->pos, TA_EINVAL, "bad repetition: expected '}'");
                p->pos++;
                if (max < min) return perr(p, at, TA_EINVAL, "bad repetition: {%u,%u}", min, max);
            }
            rc = apply_repeat(p, out, last, min, max, at);
            last = SIZE_MAX;
        } else {
            return 0;
        }
        if (rc) return rc;
        skip_space(p, nested);
    }
}

static int parse_alternatives(parser *p, gvec *out, bool nested)
{
    int rc = parse_sequence(p, out, nested);
    while (!rc) {
        if (cur(p) != '|' && !nested) {
            /* At the top level an alternative may continue on a line starting with '|'. */
            size_t save = p->pos;
            skip_space(p, true);
            if (cur(p) != '|') {
                p->pos = save;
                return 0;
            }
        }
        if (cur(p) != '|') return 0;
        p->pos++;
        skip_space(p, true);
        rc = emit(p, out, G_ALT, 0);
        if (!rc) rc = parse_sequence(p, out, nested);
    }
    return rc;
}

static int parse_rule(parser *p)
{
    size_t start = p->pos;
    while (is_name_char(cur(p)))
        p->pos++;
    if (p->pos == start) return perr(p, start, TA_EINVAL, "expected a rule name");
    uint32_t id;
    int rc = rule_id(p, p->src + start, p->pos - start, start, &id);
    if (rc) return rc;
    skip_space(p, false);
    if (strncmp(p->src + p->pos, "::=", 3) != 0 || p->pos + 3 > p->len)
        return perr(p, p->pos, TA_EINVAL, "expected '::='");
    if (p->rules[id].defined)
        return perr(p, start, TA_EINVAL, "rule '%s' defined twice", p->rules[id].name);
    p->rules[id].pos = start;
    p->pos += 3;
    skip_space(p, true);
    gvec body = {0};
    rc = parse_alternatives(p, &body, false);
    if (!rc) rc = set_body(p, id, &body);
    free(body.v);
    if (rc) return rc;
    char c = cur(p);
    if (c != '\0' && c != '\n' && c != '\r')
        return perr(p, p->pos, TA_EINVAL, "unexpected character '%c'", c);
    return 0;
}

static void describe_rule(const parser *p, uint32_t r, char *buf, size_t n)
{
    int line, col;
    line_col(p->src, p->rules[r].pos, &line, &col);
    if (p->rules[r].name)
        snprintf(buf, n, "rule '%s'", p->rules[r].name);
    else
        snprintf(buf, n, "the group or repetition at line %d, column %d", line, col);
}

/* Rejects left recursion: a rule that can reach itself without consuming a character
 * (through references at the start of an alternative, or after nullable ones). The
 * matcher's expansion would never end on it. Linear time: nullable rules by a worklist,
 * then an iterative depth-first search over the "leftmost" reference graph. */
static int check_left_recursion(parser *p, const ta_grammar *g)
{
    uint32_t nr = g->n_rules, na = g->rule_alt[nr];
    int rc = 0;
    bool *nullable = calloc(nr ? nr : 1, sizeof *nullable);
    uint32_t *alt_rule = malloc((na ? na : 1) * sizeof *alt_rule);
    uint32_t *pending = malloc((na ? na : 1) * sizeof *pending);
    uint32_t *uses_off = calloc(nr + 1, sizeof *uses_off);
    uint32_t *uses = malloc((g->n_el ? g->n_el : 1) * sizeof *uses);
    uint32_t *queue = malloc((nr ? nr : 1) * sizeof *queue);
    uint32_t *edge_off = calloc(nr + 1, sizeof *edge_off);
    uint32_t *edges = malloc((g->n_el ? g->n_el : 1) * sizeof *edges);
    uint8_t *color = calloc(nr ? nr : 1, 1);
    uint32_t *dfs = malloc((nr ? nr : 1) * sizeof *dfs);
    uint32_t *dfs_i = malloc((nr ? nr : 1) * sizeof *dfs_i);
    if (!nullable || !alt_rule || !pending || !uses_off || !uses || !queue || !edge_off || !edges ||
        !color || !dfs || !dfs_i) {
        rc = oom(p);
        goto done;
    }
    /* Nullable rules. pending[a] = references left in alternative a before it is known
     * nullable (alternatives with a terminal never are). uses: rule -> alternatives. */
    uint32_t qn = 0;
    for (uint32_t r = 0; r < nr; r++) {
        for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++) {
            alt_rule[a] = r;
            pending[a] = 0;
            bool term = false;
            for (uint32_t e = g->alts[a]; !ends_alt(g->el[e].type); e++) {
                if (is_term(g->el[e].type)) term = true;
                pending[a]++;
            }
            if (term) {
                pending[a] = UINT32_MAX;
                continue;
            }
            for (uint32_t e = g->alts[a]; !ends_alt(g->el[e].type); e++)
                uses_off[g->el[e].v]++;
            if (pending[a] == 0 && !nullable[r]) {
                nullable[r] = true;
                queue[qn++] = r;
            }
        }
    }
    /* uses_off[t] counted t's uses; turn the counts into block starts (CSR), then fill
     * each block through a cursor (dfs_i is free until the search below). */
    for (uint32_t r = 0, sum = 0; r <= nr; r++) {
        uint32_t c = r < nr ? uses_off[r] : 0;
        uses_off[r] = sum;
        sum += c;
    }
    copy_bytes(dfs_i, uses_off, nr * sizeof *dfs_i);
    for (uint32_t a = 0; a < na; a++) {
        if (pending[a] == UINT32_MAX) continue;
        for (uint32_t e = g->alts[a]; !ends_alt(g->el[e].type); e++)
            uses[dfs_i[g->el[e].v]++] = a;
    }
    for (uint32_t qi = 0; qi < qn; qi++) {
        uint32_t t = queue[qi];
        for (uint32_t u = uses_off[t]; u < uses_off[t + 1]; u++) {
            uint32_t a = uses[u];
            if (--pending[a] == 0 && !nullable[alt_rule[a]]) {
                nullable[alt_rule[a]] = true;
                queue[qn++] = alt_rule[a];
            }
        }
    }
    /* Leftmost reference graph. */
    uint32_t ne = 0;
    for (uint32_t r = 0; r < nr; r++) {
        edge_off[r] = ne;
        for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++) {
            for (uint32_t e = g->alts[a]; !ends_alt(g->el[e].type); e++) {
                if (g->el[e].type != G_REF) break;
                edges[ne++] = g->el[e].v;
                if (!nullable[g->el[e].v]) break;
            }
        }
    }
    edge_off[nr] = ne;
    for (uint32_t s = 0; s < nr && !rc; s++) {
        if (color[s]) continue;
        uint32_t sp = 0;
        dfs[sp] = s;
        dfs_i[sp++] = edge_off[s];
        color[s] = 1;
        while (sp && !rc) {
            uint32_t r = dfs[sp - 1];
            if (dfs_i[sp - 1] == edge_off[r + 1]) {
                color[r] = 2;
                sp--;
                continue;
            }
            uint32_t t = edges[dfs_i[sp - 1]++];
            if (color[t] == 1) {
                char what[160];
                describe_rule(p, t, what, sizeof what);
                rc = perr(p, p->rules[t].pos, TA_EINVAL,
                          "%s is left-recursive (it can reach itself without matching a "
                          "character)",
                          what);
            } else if (color[t] == 0) {
                color[t] = 1;
                dfs[sp] = t;
                dfs_i[sp++] = edge_off[t];
            }
        }
    }
done:
    free(nullable);
    free(alt_rule);
    free(pending);
    free(uses_off);
    free(uses);
    free(queue);
    free(edge_off);
    free(edges);
    free(color);
    free(dfs);
    free(dfs_i);
    return rc;
}

static void parser_free(parser *p)
{
    for (size_t i = 0; i < p->n_rules; i++) {
        free(p->rules[i].name);
        free(p->rules[i].body);
    }
    free(p->rules);
    free(p->map);
    free(p->cls);
    free(p->rng);
}

ta_grammar *ta_grammar_parse(const char *gbnf, const char *root, ta_error *err)
{
    if (!root) root = "root";
    if (!gbnf) {
        ta_error_set(err, TA_EINVAL, "grammar line 1, column 1: empty grammar");
        return NULL;
    }
    size_t len = strlen(gbnf);
    if (len > TA_GRAMMAR_MAX_TEXT) {
        ta_error_set(err, TA_ETOOBIG, "grammar too large (%zu bytes, limit %u)", len,
                     TA_GRAMMAR_MAX_TEXT);
        return NULL;
    }
    parser p = {.src = gbnf, .len = len, .err = err};
    ta_grammar *g = NULL;
    int rc = 0;
    skip_space(&p, true);
    if (p.pos >= len) rc = perr(&p, p.pos, TA_EINVAL, "empty grammar");
    while (!rc && p.pos < len) {
        rc = parse_rule(&p);
        if (!rc) skip_space(&p, true);
    }
    for (size_t i = 0; !rc && i < p.n_rules; i++)
        if (!p.rules[i].defined)
            rc = perr(&p, p.rules[i].pos, TA_EINVAL, "undefined rule '%s'", p.rules[i].name);
    uint32_t root_id = 0;
    if (!rc) {
        bool found = false;
        for (size_t i = 0; i < p.n_rules && !found; i++) {
            if (p.rules[i].name && strcmp(p.rules[i].name, root) == 0) {
                root_id = (uint32_t)i;
                found = true;
            }
        }
        if (!found) rc = ta_error_set(err, TA_EINVAL, "grammar has no rule named '%s'", root);
    }
    if (rc) goto fail;

    /* Flatten the rules into one element array. */
    g = calloc(1, sizeof *g);
    if (!g) goto nomem;
    size_t n_el = 0, n_alt = 0;
    for (size_t i = 0; i < p.n_rules; i++) {
        n_el += p.rules[i].n;
        for (size_t j = 0; j < p.rules[i].n; j++)
            n_alt += ends_alt(p.rules[i].body[j].type);
    }
    g->n_rules = (uint32_t)p.n_rules;
    g->n_el = (uint32_t)n_el;
    g->root = root_id;
    g->el = malloc(n_el * sizeof *g->el);
    g->alts = malloc(n_alt * sizeof *g->alts);
    g->rule_alt = malloc((p.n_rules + 1) * sizeof *g->rule_alt);
    g->cls = malloc((p.n_cls ? p.n_cls : 1) * sizeof *g->cls);
    g->rng = malloc((p.n_rng ? p.n_rng : 1) * sizeof *g->rng);
    if (!g->el || !g->alts || !g->rule_alt || !g->cls || !g->rng) goto nomem;
    copy_bytes(g->cls, p.cls, p.n_cls * sizeof *g->cls);
    copy_bytes(g->rng, p.rng, p.n_rng * sizeof *g->rng);
    uint32_t e = 0, a = 0;
    for (size_t i = 0; i < p.n_rules; i++) {
        g->rule_alt[i] = a;
        g->alts[a++] = e;
        for (size_t j = 0; j < p.rules[i].n; j++) {
            g->el[e++] = p.rules[i].body[j];
            if (p.rules[i].body[j].type == G_ALT) g->alts[a++] = e;
        }
    }
    g->rule_alt[p.n_rules] = a;
    if ((rc = check_left_recursion(&p, g))) goto fail;
    parser_free(&p);
    return g;
nomem:
    ta_error_set(err, TA_ENOMEM, "out of memory parsing the grammar");
fail:
    ta_grammar_free(g);
    parser_free(&p);
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* UTF-8                                                                                 */

/* Decodes one character from s[0..n). Returns its length (1..4), 0 when s holds only a
 * valid beginning of a longer character, -1 when the bytes are not UTF-8 (overlong
 * forms, surrogates and code points beyond U+10FFFF are rejected). */
static int utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    if (n == 0) return 0;
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    int need;
    uint32_t v;
    uint8_t lo2 = 0x80, hi2 = 0xBF;
    if (b0 < 0xC2) return -1;
    if (b0 < 0xE0) {
        need = 2;
        v = b0 & 0x1F;
    } else if (b0 < 0xF0) {
        need = 3;
        v = b0 & 0x0F;
        if (b0 == 0xE0) lo2 = 0xA0;
        if (b0 == 0xED) hi2 = 0x9F;
    } else if (b0 < 0xF5) {
        need = 4;
        v = b0 & 0x07;
        if (b0 == 0xF0) lo2 = 0x90;
        if (b0 == 0xF4) hi2 = 0x8F;
    } else {
        return -1;
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n) return 0;
        uint8_t b = s[i];
        if (b < (i == 1 ? lo2 : 0x80) || b > (i == 1 ? hi2 : 0xBF)) return -1;
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return need;
}

/* The code points a valid incomplete character s[0..n) can still become. */
static void utf8_prefix_range(const uint8_t *s, size_t n, uint32_t *lo, uint32_t *hi)
{
    uint8_t b0 = s[0];
    int need = b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
    uint32_t v = b0 & (need == 2 ? 0x1F : need == 3 ? 0x0F : 0x07);
    for (size_t i = 1; i < n; i++)
        v = (v << 6) | (s[i] & 0x3F);
    int rem = 6 * (need - (int)n);
    uint32_t l = v << rem, h = l | ((1u << rem) - 1);
    uint32_t min = need == 2 ? 0x80 : need == 3 ? 0x800 : 0x10000;
    *lo = l < min ? min : l;
    *hi = h > 0x10FFFF ? 0x10FFFF : h;
}

/* ------------------------------------------------------------------------------------ */
/* Stack sets                                                                            */

/* A set of parse stacks stored back to back: stack i is el[off[i] .. end) where end is
 * off[i + 1] or n_el for the last. The buffers start in caller storage (scratch on the
 * C stack) or on the heap; growing moves them to the heap. */
typedef struct {
    uint32_t *el, *off, *hash;
    uint32_t n_el, cap_el, n, cap;
    bool heap_el, heap_off;
} sset;

#define STACK_NONE UINT32_MAX
#define MAX_WORK   (1u << 17) /* expansion steps per character */

static void sset_init(sset *s, uint32_t *el, uint32_t cap_el, uint32_t *off, uint32_t *hash,
                      uint32_t cap)
{
    *s = (sset){.el = el, .off = off, .hash = hash, .cap_el = cap_el, .cap = cap};
}

static void sset_release(sset *s)
{
    if (s->heap_el) free(s->el);
    if (s->heap_off) {
        free(s->off);
        free(s->hash);
    }
    memset(s, 0, sizeof *s);
}

static inline uint32_t sset_end(const sset *s, uint32_t i)
{
    return i + 1 < s->n ? s->off[i + 1] : s->n_el;
}

static int sset_reserve(sset *s, uint32_t more_el, uint32_t more_stacks)
{
    if ((uint64_t)s->n_el + more_el > s->cap_el) {
        uint64_t nc = s->cap_el ? (uint64_t)s->cap_el * 2 : 64;
        while (nc < (uint64_t)s->n_el + more_el)
            nc *= 2;
        if (nc > UINT32_MAX / 2) return TA_ETOOBIG;
        uint32_t *ne = s->heap_el ? realloc(s->el, nc * 4) : malloc(nc * 4);
        if (!ne) return TA_ENOMEM;
        if (!s->heap_el && s->n_el) copy_bytes(ne, s->el, (size_t)s->n_el * 4);
        s->el = ne;
        s->cap_el = (uint32_t)nc;
        s->heap_el = true;
    }
    if ((uint64_t)s->n + more_stacks > s->cap) {
        uint64_t nc = s->cap ? (uint64_t)s->cap * 2 : 16;
        while (nc < (uint64_t)s->n + more_stacks)
            nc *= 2;
        uint32_t *no = malloc(nc * 4), *nh = malloc(nc * 4);
        if (!no || !nh) {
            free(no);
            free(nh);
            return TA_ENOMEM;
        }
        if (s->n) {
            copy_bytes(no, s->off, (size_t)s->n * 4);
            copy_bytes(nh, s->hash, (size_t)s->n * 4);
        }
        if (s->heap_off) {
            free(s->off);
            free(s->hash);
        }
        s->off = no;
        s->hash = nh;
        s->cap = (uint32_t)nc;
        s->heap_off = true;
    }
    return 0;
}

static uint32_t stack_hash(const uint32_t *st, uint32_t n)
{
    uint32_t h = 2166136261u ^ n;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ st[i]) * 16777619u;
    return h;
}

/* Adds a stack unless an equal one is there. */
static int sset_add(sset *s, const uint32_t *st, uint32_t n)
{
    uint32_t h = stack_hash(st, n);
    for (uint32_t i = 0; i < s->n; i++) {
        if (s->hash[i] != h) continue;
        uint32_t o = s->off[i];
        if (sset_end(s, i) - o == n && memcmp(s->el + o, st, (size_t)n * 4) == 0) return 0;
    }
    if (s->n >= TA_GRAMMAR_MAX_STACKS) return TA_ETOOBIG;
    int rc = sset_reserve(s, n, 1);
    if (rc) return rc;
    s->off[s->n] = s->n_el;
    s->hash[s->n] = h;
    s->n++;
    copy_bytes(s->el + s->n_el, st, (size_t)n * 4);
    s->n_el += n;
    return 0;
}

static int sset_copy(sset *dst, const sset *src)
{
    dst->n = dst->n_el = 0;
    int rc = sset_reserve(dst, src->n_el, src->n);
    if (rc) return rc;
    copy_bytes(dst->el, src->el, (size_t)src->n_el * 4);
    copy_bytes(dst->off, src->off, (size_t)src->n * 4);
    copy_bytes(dst->hash, src->hash, (size_t)src->n * 4);
    dst->n = src->n;
    dst->n_el = src->n_el;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Matcher                                                                               */

#define SCRATCH_EL 1024
#define SCRATCH_ST 64

/* Working memory for one call: two stack sets that take turns as "current" and "next",
 * and the expansion work list. Starts on the C stack. */
typedef struct {
    sset set[2], work;
    uint32_t el[3][SCRATCH_EL], off[3][SCRATCH_ST], hash[3][SCRATCH_ST];
} scratch;

static void scratch_init(scratch *sc)
{
    for (int i = 0; i < 2; i++)
        sset_init(&sc->set[i], sc->el[i], SCRATCH_EL, sc->off[i], sc->hash[i], SCRATCH_ST);
    sset_init(&sc->work, sc->el[2], SCRATCH_EL, sc->off[2], sc->hash[2], SCRATCH_ST);
}

static void scratch_release(scratch *sc)
{
    sset_release(&sc->set[0]);
    sset_release(&sc->set[1]);
    sset_release(&sc->work);
}

/* Pushes onto the work list the stack w->el[base .. base + blen) plus up to two more
 * entries (STACK_NONE: none). base indexes w->el, which may move while growing. */
static int work_push(sset *w, uint32_t base, uint32_t blen, uint32_t x1, uint32_t x2)
{
    int rc = sset_reserve(w, blen + 2, 1);
    if (rc) return rc;
    w->off[w->n++] = w->n_el;
    move_bytes(w->el + w->n_el, w->el + base, (size_t)blen * 4);
    w->n_el += blen;
    if (x1 != STACK_NONE) w->el[w->n_el++] = x1;
    if (x2 != STACK_NONE) w->el[w->n_el++] = x2;
    return 0;
}

/* Expands every stack on the work list until its top is a terminal (or it is empty:
 * the start rule is complete) and adds those to out. */
static int expand(const ta_grammar *g, sset *w, sset *out, uint32_t *budget)
{
    while (w->n) {
        if (++*budget > MAX_WORK) return TA_ETOOBIG;
        uint32_t k = w->n - 1, so = w->off[k], len = w->n_el - so;
        w->n = k; /* popped; its entries stay at el[so ..] while the children are built */
        if (len == 0 || is_term(g->el[w->el[so + len - 1]].type)) {
            int rc = sset_add(out, w->el + so, len);
            w->n_el = so;
            if (rc) return rc;
            continue;
        }
        if (len + 1 > TA_GRAMMAR_MAX_DEPTH) return TA_ETOOBIG;
        uint32_t top = w->el[so + len - 1];
        uint32_t cont = ends_alt(g->el[top + 1].type) ? STACK_NONE : top + 1;
        uint32_t r = g->el[top].v, cstart = w->n_el, first = w->n;
        for (uint32_t a = g->rule_alt[r + 1]; a-- > g->rule_alt[r];) {
            uint32_t at = g->alts[a];
            int rc = work_push(w, so, len - 1, cont, ends_alt(g->el[at].type) ? STACK_NONE : at);
            if (rc) return rc;
        }
        /* Move the children down over the popped stack. */
        uint32_t shift = cstart - so;
        move_bytes(w->el + so, w->el + cstart, (size_t)(w->n_el - cstart) * 4);
        w->n_el -= shift;
        for (uint32_t i = first; i < w->n; i++)
            w->off[i] -= shift;
    }
    return 0;
}

/* next = the stacks of cur after consuming code point cp (none: TA_EINVAL). */
static int step(const ta_grammar *g, const sset *cur, uint32_t cp, sset *next, sset *w)
{
    uint32_t budget = 0;
    next->n = next->n_el = 0;
    w->n = w->n_el = 0;
    for (uint32_t i = 0; i < cur->n; i++) {
        uint32_t o = cur->off[i], len = sset_end(cur, i) - o;
        if (len == 0) continue;
        uint32_t top = cur->el[o + len - 1];
        if (!el_match(g, top, cp)) continue;
        int rc = sset_reserve(w, len, 1);
        if (rc) return rc;
        w->off[w->n++] = w->n_el;
        copy_bytes(w->el + w->n_el, cur->el + o, (size_t)(len - 1) * 4);
        w->n_el += len - 1;
        if (!ends_alt(g->el[top + 1].type)) w->el[w->n_el++] = top + 1;
        if ((rc = expand(g, w, next, &budget))) return rc;
    }
    return next->n ? 0 : TA_EINVAL;
}

static bool tops_match(const ta_grammar *g, const sset *s, uint32_t cp)
{
    for (uint32_t i = 0; i < s->n; i++) {
        uint32_t o = s->off[i], end = sset_end(s, i);
        if (end > o && el_match(g, s->el[end - 1], cp)) return true;
    }
    return false;
}

static bool tops_match_partial(const ta_grammar *g, const sset *s, const uint8_t *b, size_t n)
{
    uint32_t lo, hi;
    utf8_prefix_range(b, n, &lo, &hi);
    if (lo > hi) return false;
    for (uint32_t i = 0; i < s->n; i++) {
        uint32_t o = s->off[i], end = sset_end(s, i);
        if (end > o && el_match_range(g, s->el[end - 1], lo, hi)) return true;
    }
    return false;
}

struct ta_grammar_state {
    const ta_grammar *g;
    sset stacks; /* on the heap */
    uint8_t pend[4];
    uint8_t n_pend; /* bytes of an incomplete trailing character */
};

/* Runs bytes through the state. With check_only, the last complete character is only
 * tested against the stack tops. Returns 1 (accepted), 0 (rejected) or a negative
 * code. On acceptance without check_only, *final is the resulting set (s->stacks when
 * no character completed) and pend/n_pend the new incomplete tail. */
static int feed(const ta_grammar_state *s, const uint8_t *bytes, size_t len, bool check_only,
                scratch *sc, const sset **final, uint8_t pend[4], uint8_t *n_pend)
{
    const ta_grammar *g = s->g;
    const sset *cur = &s->stacks;
    int which = 0;
    size_t i = 0;
    uint32_t cp;
    int n;
    *final = cur;
    if (s->n_pend) {
        uint8_t buf[8];
        size_t k = len < 4 ? len : 4;
        copy_bytes(buf, s->pend, s->n_pend);
        copy_bytes(buf + s->n_pend, bytes, k);
        n = utf8_decode(buf, s->n_pend + k, &cp);
        if (n < 0) return 0;
        if (n == 0) {
            if (!tops_match_partial(g, cur, buf, s->n_pend + k)) return 0;
            copy_bytes(pend, buf, s->n_pend + k);
            *n_pend = (uint8_t)(s->n_pend + k);
            return 1;
        }
        i = (size_t)n - s->n_pend;
    } else {
        n = utf8_decode(bytes, len, &cp);
        if (n < 0) return 0;
        if (n == 0) {
            if (!tops_match_partial(g, cur, bytes, len)) return 0;
            copy_bytes(pend, bytes, len);
            *n_pend = (uint8_t)len;
            return 1;
        }
        i = (size_t)n;
    }
    for (;;) {
        /* cp is complete and ends at bytes[i]. */
        if (check_only && i == len) return tops_match(g, cur, cp);
        if (check_only && !tops_match(g, cur, cp)) return 0; /* cheap early rejection */
        sset *next = &sc->set[which];
        int rc = step(g, cur, cp, next, &sc->work);
        if (rc == TA_EINVAL) return 0;
        if (rc) return rc;
        cur = next;
        which ^= 1;
        *final = cur;
        if (i == len) {
            *n_pend = 0;
            return 1;
        }
        n = utf8_decode(bytes + i, len - i, &cp);
        if (n < 0) return 0;
        if (n == 0) {
            if (!tops_match_partial(g, cur, bytes + i, len - i)) return 0;
            *n_pend = (uint8_t)(len - i);
            copy_bytes(pend, bytes + i, len - i);
            return 1;
        }
        i += (size_t)n;
    }
}

bool ta_grammar_state_accepts(const ta_grammar_state *s, const char *bytes, size_t len)
{
    if (len == 0) return true;
    scratch sc;
    scratch_init(&sc);
    const sset *final;
    uint8_t pend[4];
    uint8_t n_pend = 0;
    int rc = feed(s, (const uint8_t *)bytes, len, true, &sc, &final, pend, &n_pend);
    scratch_release(&sc);
    return rc == 1;
}

int ta_grammar_state_advance(ta_grammar_state *s, const char *bytes, size_t len, ta_error *err)
{
    if (len == 0) return 0;
    scratch sc;
    scratch_init(&sc);
    const sset *final;
    uint8_t pend[4];
    uint8_t n_pend = 0;
    int rc = feed(s, (const uint8_t *)bytes, len, false, &sc, &final, pend, &n_pend);
    if (rc == 1) {
        rc = 0;
        if (final != &s->stacks) {
            sset tmp = {.heap_el = true, .heap_off = true};
            rc = sset_copy(&tmp, final);
            if (!rc) {
                sset_release(&s->stacks);
                s->stacks = tmp;
            } else {
                sset_release(&tmp);
            }
        }
        if (!rc) {
            copy_bytes(s->pend, pend, n_pend);
            s->n_pend = n_pend;
        }
    } else if (rc == 0) {
        rc = ta_error_set(err, TA_EINVAL, "text not allowed by the grammar");
    }
    scratch_release(&sc);
    if (rc == TA_ENOMEM) ta_error_set(err, rc, "out of memory matching the grammar");
    if (rc == TA_ETOOBIG)
        rc = ta_error_set(err, TA_EINVAL, "grammar too ambiguous or nested too deeply here");
    return rc;
}

ta_grammar_state *ta_grammar_state_new(const ta_grammar *g, ta_error *err)
{
    ta_grammar_state *s = calloc(1, sizeof *s);
    if (!s) {
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    s->g = g;
    s->stacks.heap_el = s->stacks.heap_off = true;
    scratch sc;
    scratch_init(&sc);
    int rc = 0;
    uint32_t r = g->root;
    for (uint32_t a = g->rule_alt[r + 1]; a-- > g->rule_alt[r] && !rc;) {
        uint32_t at = g->alts[a];
        rc = work_push(&sc.work, 0, 0, ends_alt(g->el[at].type) ? STACK_NONE : at, STACK_NONE);
    }
    uint32_t budget = 0;
    if (!rc) rc = expand(g, &sc.work, &sc.set[0], &budget);
    if (!rc) rc = sset_copy(&s->stacks, &sc.set[0]);
    scratch_release(&sc);
    if (rc) {
        ta_error_set(err, rc,
                     rc == TA_ENOMEM ? "out of memory" : "grammar too ambiguous at its start");
        ta_grammar_state_free(s);
        return NULL;
    }
    return s;
}

ta_grammar_state *ta_grammar_state_clone(const ta_grammar_state *s)
{
    ta_grammar_state *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = *s;
    c->stacks = (sset){.heap_el = true, .heap_off = true};
    if (sset_copy(&c->stacks, &s->stacks)) {
        ta_grammar_state_free(c);
        return NULL;
    }
    return c;
}

void ta_grammar_state_free(ta_grammar_state *s)
{
    if (!s) return;
    sset_release(&s->stacks);
    free(s);
}

bool ta_grammar_state_complete(const ta_grammar_state *s)
{
    if (s->n_pend) return false;
    for (uint32_t i = 0; i < s->stacks.n; i++)
        if (sset_end(&s->stacks, i) == s->stacks.off[i]) return true;
    return false;
}

bool ta_grammar_state_can_continue(const ta_grammar_state *s)
{
    if (s->n_pend) return true;
    for (uint32_t i = 0; i < s->stacks.n; i++)
        if (sset_end(&s->stacks, i) > s->stacks.off[i]) return true;
    return false;
}
