/*
 * grammar_schema.c - JSON Schema to GBNF, for OpenAI response_format json_schema and
 * json_object.
 *
 * The schema is walked once; every subschema becomes a named rule (primitives such as
 * `string` and `number` are shared), $refs become rules of their own so recursive
 * schemas give recursive grammars, and the text is then compiled by ta_grammar_parse.
 * The layout follows llama.cpp's json_schema_to_grammar: every value rule ends with
 * optional whitespace, object properties come required ones first (in `properties`
 * order) then any ordered subset of the optional ones, and numbers, exponents and
 * whitespace runs have bounded length so a model cannot loop forever inside one token
 * class. Whitespace is "nothing, one space, or a newline and up to 20 spaces or tabs".
 *
 * What is not supported and would change the meaning (not, if/then/else, pattern,
 * patternProperties, uniqueItems, ...) is an error naming the keyword and the schema
 * path; pure annotations (title, description, default, examples, unknown formats...)
 * are ignored. Looser than the schema, documented: extra properties allowed by
 * additionalProperties are not checked against the named ones, minimum/maximum only
 * forbid a minus sign when the minimum is >= 0, and maxItems/maxLength above 1000 count
 * as unbounded.
 */
#include "grammar.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCHEMA_DEPTH 64
#define MAX_BOUND        1000 /* maxItems/maxLength above this count as unbounded */

typedef struct {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 128;
        while (nc < b->n + n + 1)
            nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)n);
    free(big);
}

/* Appends s as the inside of a GBNF "..." literal. */
static void sb_literal(sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_add(b, e, 2);
        } else if (c == '\n') {
            sb_puts(b, "\\n");
        } else if (c == '\r') {
            sb_puts(b, "\\r");
        } else if (c == '\t') {
            sb_puts(b, "\\t");
        } else if (c < 0x20 || c == 0x7F) {
            sb_printf(b, "\\x%02X", c);
        } else {
            sb_add(b, (const char *)&c, 1);
        }
    }
}

typedef struct {
    char *name, *body;
} srule;

typedef struct {
    char *ref, *name;
} sref;

typedef struct {
    const json_t *root;
    srule *rules;
    size_t n_rules, cap_rules;
    sref *refs;
    size_t n_refs, cap_refs;
    char path[512]; /* where we are, for messages: #/properties/a/items */
    size_t size;    /* bytes of rule text so far */
    int depth;
    bool oom;
    ta_error *err;
} gen;

static const char *fail(gen *g, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *fail(gen *g, int code, const char *fmt, ...)
{
    char msg[TA_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ta_error_set(g->err, code, "json schema at %s: %s", g->path, msg);
    return NULL;
}

static const char *nomem(gen *g)
{
    g->oom = true;
    ta_error_set(g->err, TA_ENOMEM, "out of memory building the grammar");
    return NULL;
}

static size_t path_push(gen *g, const char *seg)
{
    size_t old = strlen(g->path);
    snprintf(g->path + old, sizeof g->path - old, "/%s", seg);
    return old;
}

static void path_pop(gen *g, size_t old)
{
    g->path[old] = '\0';
}

static srule *find_rule(gen *g, const char *name)
{
    for (size_t i = 0; i < g->n_rules; i++)
        if (strcmp(g->rules[i].name, name) == 0) return &g->rules[i];
    return NULL;
}

/* A fresh rule name from a hint: letters and digits kept, the rest '-', bounded length,
 * and a numeric suffix if taken. Returns the index of the new rule (body NULL). */
static long new_rule(gen *g, const char *hint)
{
    char base[64];
    size_t n = 0;
    for (const char *p = hint; *p && n < 48; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        base[n++] = ok ? c : '-';
    }
    if (n == 0) base[n++] = 'r';
    base[n] = '\0';
    char name[80];
    snprintf(name, sizeof name, "%s", base);
    for (int k = 2; find_rule(g, name); k++)
        snprintf(name, sizeof name, "%s-%d", base, k);
    if (g->n_rules == g->cap_rules) {
        size_t nc = g->cap_rules ? g->cap_rules * 2 : 32;
        srule *nr = realloc(g->rules, nc * sizeof *nr);
        if (!nr) return -1;
        g->rules = nr;
        g->cap_rules = nc;
    }
    char *copy = strdup(name);
    if (!copy) return -1;
    g->rules[g->n_rules] = (srule){.name = copy};
    return (long)g->n_rules++;
}

/* Gives rule i its body (taken from b). */
static const char *set_body(gen *g, long i, sbuf *b)
{
    if (b->oom) return nomem(g);
    g->size += b->n + strlen(g->rules[i].name) + 8;
    if (g->size > TA_GRAMMAR_MAX_TEXT) {
        free(b->s);
        *b = (sbuf){0};
        return fail(g, TA_ETOOBIG, "schema too large for a grammar");
    }
    g->rules[i].body = b->s ? b->s : strdup("");
    *b = (sbuf){0};
    if (!g->rules[i].body) return nomem(g);
    return g->rules[i].name;
}

/* Adds a rule with this body, reusing an earlier rule with the same hint and body. */
static const char *add_rule(gen *g, const char *hint, sbuf *b)
{
    if (b->oom) return nomem(g);
    for (size_t i = 0; i < g->n_rules; i++) {
        if (g->rules[i].body && strcmp(g->rules[i].body, b->s ? b->s : "") == 0 &&
            strncmp(g->rules[i].name, hint, strlen(hint)) == 0) {
            free(b->s);
            *b = (sbuf){0};
            return g->rules[i].name;
        }
    }
    long i = new_rule(g, hint);
    if (i < 0) {
        free(b->s);
        *b = (sbuf){0};
        return nomem(g);
    }
    return set_body(g, i, b);
}

/* The shared primitives, each with the ones it uses. */
static const struct {
    const char *name, *body, *deps[6];
} prims[] = {
    {"ws", "( \" \" | \"\\n\" [ \\t]{0,20} )?", {NULL}},
    {"char",
     "[^\"\\\\\\x00-\\x1F\\x7F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )",
     {NULL}},
    {"string", "\"\\\"\" char* \"\\\"\" ws", {"char", "ws"}},
    {"integral", "\"0\" | [1-9] [0-9]{0,15}", {NULL}},
    {"integer", "\"-\"? integral ws", {"integral", "ws"}},
    {"uinteger", "integral ws", {"integral", "ws"}},
    {"number",
     "\"-\"? integral ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )? ws",
     {"integral", "ws"}},
    {"unumber",
     "integral ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )? ws",
     {"integral", "ws"}},
    {"boolean", "( \"true\" | \"false\" ) ws", {"ws"}},
    {"null", "\"null\" ws", {"ws"}},
    {"value",
     "object | array | string | number | boolean | null",
     {"object", "array", "string", "number", "boolean", "null"}},
    {"object",
     "\"{\" ws ( string \":\" ws value ( \",\" ws string \":\" ws value )* )? \"}\" ws",
     {"string", "value", "ws"}},
    {"array", "\"[\" ws ( value ( \",\" ws value )* )? \"]\" ws", {"value", "ws"}},
    {"date",
     "[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | "
     "\"3\" [01] )",
     {NULL}},
    {"time",
     "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? "
     "( \"Z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )",
     {NULL}},
    {"hex4", "[0-9a-fA-F]{4}", {NULL}},
    {"date-string", "\"\\\"\" date \"\\\"\" ws", {"date", "ws"}},
    {"time-string", "\"\\\"\" time \"\\\"\" ws", {"time", "ws"}},
    {"date-time-string", "\"\\\"\" date \"T\" time \"\\\"\" ws", {"date", "time", "ws"}},
    {"uuid-string",
     "\"\\\"\" hex4 hex4 \"-\" hex4 \"-\" hex4 \"-\" hex4 \"-\" hex4 hex4 hex4 \"\\\"\" ws",
     {"hex4", "ws"}},
};

static const char *prim(gen *g, const char *name)
{
    srule *r = find_rule(g, name);
    if (r) return r->name;
    for (size_t i = 0; i < sizeof prims / sizeof *prims; i++) {
        if (strcmp(prims[i].name, name) != 0) continue;
        sbuf b = {0};
        sb_puts(&b, prims[i].body);
        long k = new_rule(g, name);
        if (k < 0) return nomem(g);
        const char *out = set_body(g, k, &b);
        if (!out) return NULL;
        for (int d = 0; d < 6 && prims[i].deps[d]; d++)
            if (!prim(g, prims[i].deps[d])) return NULL;
        return g->rules[k].name;
    }
    return fail(g, TA_EINTERNAL, "no primitive '%s'", name);
}

static const char *visit(gen *g, const json_t *s, const char *hint, bool top);

/* A JSON value as a literal token followed by whitespace. */
static bool add_json_literal(gen *g, sbuf *b, const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return nomem(g), false;
    sb_puts(b, "\"");
    sb_literal(b, text, strlen(text));
    sb_puts(b, "\"");
    free(text);
    return true;
}

static const char *visit_enum(gen *g, const json_t *values, const char *hint)
{
    if (!json_is_array(values) || json_array_size(values) == 0)
        return fail(g, TA_EINVAL, "'enum' must be a non-empty array");
    if (!prim(g, "ws")) return NULL;
    sbuf b = {0};
    sb_puts(&b, "( ");
    for (size_t i = 0; i < json_array_size(values); i++) {
        if (i) sb_puts(&b, " | ");
        if (!add_json_literal(g, &b, json_array_get(values, i))) {
            free(b.s);
            return NULL;
        }
    }
    sb_puts(&b, " ) ws");
    return add_rule(g, hint, &b);
}

/* Resolves a local JSON pointer (#/$defs/x, #/definitions/x, any #/a/b/0). */
static const json_t *resolve_pointer(gen *g, const char *ref)
{
    if (ref[0] != '#') return NULL;
    const json_t *at = g->root;
    const char *p = ref + 1;
    while (*p == '/' && at) {
        p++;
        char seg[256];
        size_t n = 0;
        while (*p && *p != '/' && n + 1 < sizeof seg) {
            if (p[0] == '~' && p[1] == '1') {
                seg[n++] = '/';
                p += 2;
            } else if (p[0] == '~' && p[1] == '0') {
                seg[n++] = '~';
                p += 2;
            } else {
                seg[n++] = *p++;
            }
        }
        seg[n] = '\0';
        if (json_is_object(at)) {
            at = json_object_get(at, seg);
        } else if (json_is_array(at)) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            at = (*seg && !*end) ? json_array_get(at, i) : NULL;
        } else {
            at = NULL;
        }
    }
    return *p ? NULL : at;
}

static const char *visit_ref(gen *g, const char *ref)
{
    for (size_t i = 0; i < g->n_refs; i++)
        if (strcmp(g->refs[i].ref, ref) == 0) return g->refs[i].name;
    const json_t *target = resolve_pointer(g, ref);
    if (!target) return fail(g, TA_EINVAL, "$ref '%s' not found (only local #/... refs)", ref);
    const char *last = strrchr(ref, '/');
    char hint[80];
    snprintf(hint, sizeof hint, "def-%s", last ? last + 1 : "root");
    long k = new_rule(g, hint);
    if (k < 0) return nomem(g);
    if (g->n_refs == g->cap_refs) {
        size_t nc = g->cap_refs ? g->cap_refs * 2 : 8;
        sref *nr = realloc(g->refs, nc * sizeof *nr);
        if (!nr) return nomem(g);
        g->refs = nr;
        g->cap_refs = nc;
    }
    char *rcopy = strdup(ref);
    if (!rcopy) return nomem(g);
    g->refs[g->n_refs++] = (sref){rcopy, g->rules[k].name};
    /* The ref's rule exists before its target is visited, so recursion finds it. */
    char saved[sizeof g->path];
    memcpy(saved, g->path, sizeof saved);
    snprintf(g->path, sizeof g->path, "%s", ref);
    const char *inner = visit(g, target, g->rules[k].name, false);
    memcpy(g->path, saved, sizeof saved);
    if (!inner) return NULL;
    sbuf b = {0};
    sb_puts(&b, inner);
    return set_body(g, k, &b);
}

/* Property lists of an object schema, with allOf parts merged in. */
typedef struct {
    json_t *props;    /* name -> schema (borrowed values) */
    json_t *required; /* name -> true */
} objparts;

static bool merge_object(gen *g, const json_t *s, objparts *o, int depth)
{
    if (depth > 16) return fail(g, TA_EINVAL, "allOf nested too deeply"), false;
    const json_t *ref = json_object_get(s, "$ref");
    if (json_is_string(ref)) {
        const json_t *t = resolve_pointer(g, json_string_value(ref));
        if (!t) return fail(g, TA_EINVAL, "$ref '%s' not found", json_string_value(ref)), false;
        if (!merge_object(g, t, o, depth + 1)) return false;
    }
    const json_t *type = json_object_get(s, "type");
    if (depth > 0 && type &&
        !(json_is_string(type) && strcmp(json_string_value(type), "object") == 0))
        return fail(g, TA_EINVAL, "allOf is only supported for object schemas"), false;
    const json_t *props = json_object_get(s, "properties");
    const char *k;
    json_t *v;
    if (props && !json_is_object(props))
        return fail(g, TA_EINVAL, "'properties' must be an object"), false;
    json_object_foreach((json_t *)props, k, v)
    {
        if (json_object_set(o->props, k, v)) return nomem(g), false;
    }
    const json_t *req = json_object_get(s, "required");
    if (req && !json_is_array(req)) return fail(g, TA_EINVAL, "'required' must be an array"), false;
    size_t i;
    json_array_foreach(req, i, v)
    {
        if (!json_is_string(v)) return fail(g, TA_EINVAL, "'required' must list strings"), false;
        if (json_object_set_new(o->required, json_string_value(v), json_true()))
            return nomem(g), false;
    }
    const json_t *all = json_object_get(s, "allOf");
    if (all && !json_is_array(all)) return fail(g, TA_EINVAL, "'allOf' must be an array"), false;
    json_array_foreach(all, i, v)
    {
        if (!json_is_object(v)) return fail(g, TA_EINVAL, "allOf entries must be objects"), false;
        if (!merge_object(g, v, o, depth + 1)) return false;
    }
    return true;
}

static const char *visit_object(gen *g, const json_t *s, const char *hint)
{
    objparts o = {json_object(), json_object()};
    const char *result = NULL;
    char **kv = NULL;
    size_t *order = NULL;
    sbuf b = {0};
    if (!o.props || !o.required) {
        nomem(g);
        goto done;
    }
    if (!merge_object(g, s, &o, 0)) goto done;
    const json_t *addl = json_object_get(s, "additionalProperties");
    size_t np = json_object_size(o.props);
    /* Required names not in properties may have any value. */
    const char *k;
    json_t *v;
    json_object_foreach(o.required, k, v)
    {
        if (!json_object_get(o.props, k) && json_object_set_new(o.props, k, json_object())) {
            nomem(g);
            goto done;
        }
    }
    np = json_object_size(o.props);
    if (np == 0 && !addl) addl = json_true(); /* {"type":"object"}: any object */
    if (addl && !json_is_boolean(addl) && !json_is_object(addl)) {
        fail(g, TA_EINVAL, "'additionalProperties' must be a boolean or a schema");
        goto done;
    }
    if (np == 0 && json_is_true(addl)) {
        result = prim(g, "object");
        goto done;
    }
    if (!prim(g, "ws")) goto done;
    kv = calloc(np ? np : 1, sizeof *kv);
    order = calloc(np ? np : 1, sizeof *order);
    if (!kv || !order) {
        nomem(g);
        goto done;
    }
    /* One key-value rule per property; required first, both in properties order. */
    size_t n_req = 0, idx = 0;
    json_object_foreach(o.props, k, v)
    {
        size_t old = path_push(g, "properties");
        size_t old2 = path_push(g, k);
        char h[128];
        snprintf(h, sizeof h, "%s-%s", hint, k);
        const char *val = visit(g, v, h, false);
        path_pop(g, old2);
        path_pop(g, old);
        if (!val) goto done;
        sbuf kb = {0};
        json_t *key = json_string(k);
        if (!key) {
            nomem(g);
            goto done;
        }
        add_json_literal(g, &kb, key);
        json_decref(key);
        sb_printf(&kb, " ws \":\" ws %s", val);
        snprintf(h, sizeof h, "%s-%s-kv", hint, k);
        const char *name = add_rule(g, h, &kb);
        if (!name) goto done;
        kv[idx] = (char *)name;
        idx++;
    }
    idx = 0;
    json_object_foreach(o.props, k, v)
    {
        if (json_object_get(o.required, k)) order[n_req++] = idx;
        idx++;
    }
    size_t n_opt = 0;
    idx = 0;
    json_object_foreach(o.props, k, v)
    {
        if (!json_object_get(o.required, k)) order[n_req + n_opt++] = idx;
        idx++;
    }
    /* Optional properties: any ordered subset. opt_i ::= kv_i ( "," ws opt_i+1 )? | opt_i+1 */
    const char *opt_first = NULL;
    for (size_t j = n_opt; j-- > 0;) {
        sbuf ob = {0};
        const char *kvn = kv[order[n_req + j]];
        if (opt_first)
            sb_printf(&ob, "%s ( \",\" ws %s )? | %s", kvn, opt_first, opt_first);
        else
            sb_puts(&ob, kvn);
        char h[128];
        snprintf(h, sizeof h, "%s-opt", hint);
        opt_first = add_rule(g, h, &ob);
        if (!opt_first) goto done;
    }
    const char *extra = NULL;
    if (addl && !json_is_false(addl)) {
        size_t old = path_push(g, "additionalProperties");
        char h[128];
        snprintf(h, sizeof h, "%s-additional", hint);
        const char *val = json_is_true(addl) ? prim(g, "value") : visit(g, addl, h, false);
        path_pop(g, old);
        if (!val || !prim(g, "string")) goto done;
        sbuf eb = {0};
        sb_printf(&eb, "string \":\" ws %s", val);
        snprintf(h, sizeof h, "%s-additional-kv", hint);
        if (!(extra = add_rule(g, h, &eb))) goto done;
    }
    sb_puts(&b, "\"{\" ws");
    for (size_t j = 0; j < n_req; j++)
        sb_printf(&b, "%s %s", j ? " \",\" ws" : "", kv[order[j]]);
    if (n_req) {
        if (opt_first) sb_printf(&b, " ( \",\" ws %s )?", opt_first);
        if (extra) sb_printf(&b, " ( \",\" ws %s )*", extra);
    } else if (opt_first && extra) {
        sb_printf(&b, " ( %s ( \",\" ws %s )* | %s ( \",\" ws %s )* )?", opt_first, extra, extra,
                  extra);
    } else if (opt_first) {
        sb_printf(&b, " %s?", opt_first);
    } else if (extra) {
        sb_printf(&b, " ( %s ( \",\" ws %s )* )?", extra, extra);
    }
    sb_puts(&b, " \"}\" ws");
    result = add_rule(g, hint, &b);
done:
    free(b.s);
    free(kv);
    free(order);
    json_decref(o.props);
    json_decref(o.required);
    return result;
}

/* Reads a non-negative integer keyword (absent: def). */
static bool get_count(gen *g, const json_t *s, const char *key, long def, long *out)
{
    const json_t *v = json_object_get(s, key);
    *out = def;
    if (!v) return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(g, TA_EINVAL, "'%s' must be a non-negative integer", key), false;
    *out = (long)(json_integer_value(v) > 1000000 ? 1000000 : json_integer_value(v));
    return true;
}

/* item ( "," ws item ){min-1,max-1} with max < 0 for unbounded; min >= 1. */
static void sb_list(sbuf *b, const char *item, long min, long max)
{
    sb_printf(b, "%s", item);
    if (max < 0)
        sb_printf(b, " ( \",\" ws %s ){%ld,}", item, min - 1);
    else if (max > 1)
        sb_printf(b, " ( \",\" ws %s ){%ld,%ld}", item, min - 1, max - 1);
}

static const char *visit_array(gen *g, const json_t *s, const char *hint)
{
    long min, max;
    if (!get_count(g, s, "minItems", 0, &min) || !get_count(g, s, "maxItems", -1, &max))
        return NULL;
    if (max > MAX_BOUND) max = -1;
    if (min > MAX_BOUND) return fail(g, TA_EINVAL, "minItems above %d is not supported", MAX_BOUND);
    if (max >= 0 && max < min) return fail(g, TA_EINVAL, "maxItems is below minItems");
    if (!prim(g, "ws")) return NULL;
    const json_t *items = json_object_get(s, "items");
    const json_t *prefix = json_object_get(s, "prefixItems");
    char h[128];
    sbuf b = {0};
    sb_puts(&b, "\"[\" ws ");
    if (prefix) {
        if (!json_is_array(prefix))
            return free(b.s), fail(g, TA_EINVAL, "'prefixItems' must be an array");
        size_t i;
        json_t *v;
        json_array_foreach(prefix, i, v)
        {
            char seg[32];
            snprintf(seg, sizeof seg, "prefixItems/%zu", i);
            size_t old = path_push(g, seg);
            snprintf(h, sizeof h, "%s-%zu", hint, i);
            const char *it = visit(g, v, h, false);
            path_pop(g, old);
            if (!it) return free(b.s), (const char *)NULL;
            sb_printf(&b, "%s%s", i ? "\",\" ws " : "", it);
            sb_puts(&b, " ");
        }
        if (items && !json_is_false(items)) {
            size_t old = path_push(g, "items");
            snprintf(h, sizeof h, "%s-item", hint);
            const char *it = visit(g, items, h, false);
            path_pop(g, old);
            if (!it) return free(b.s), (const char *)NULL;
            sb_printf(&b, "( \",\" ws %s )* ", it);
        }
    } else {
        const char *it;
        if (items && !json_is_false(items)) {
            size_t old = path_push(g, "items");
            snprintf(h, sizeof h, "%s-item", hint);
            it = visit(g, items, h, false);
            path_pop(g, old);
        } else if (json_is_false(items)) {
            max = 0;
            it = "value";
        } else {
            it = prim(g, "value");
        }
        if (!it) return free(b.s), (const char *)NULL;
        if (max != 0) {
            if (min == 0) sb_puts(&b, "( ");
            sb_list(&b, it, min ? min : 1, max);
            sb_puts(&b, min == 0 ? " )? " : " ");
        }
    }
    sb_puts(&b, "\"]\" ws");
    return add_rule(g, hint, &b);
}

static const char *visit_string(gen *g, const json_t *s, const char *hint)
{
    if (json_object_get(s, "pattern")) return fail(g, TA_EINVAL, "unsupported keyword 'pattern'");
    const json_t *fmt = json_object_get(s, "format");
    if (json_is_string(fmt)) {
        const char *f = json_string_value(fmt);
        if (strcmp(f, "date") == 0) return prim(g, "date-string");
        if (strcmp(f, "time") == 0) return prim(g, "time-string");
        if (strcmp(f, "date-time") == 0) return prim(g, "date-time-string");
        if (strcmp(f, "uuid") == 0) return prim(g, "uuid-string");
        /* Other formats (email, uri, ...) are annotations: any string. */
    }
    long min, max;
    if (!get_count(g, s, "minLength", 0, &min) || !get_count(g, s, "maxLength", -1, &max))
        return NULL;
    if (max > MAX_BOUND) max = -1;
    if (min > MAX_BOUND)
        return fail(g, TA_EINVAL, "minLength above %d is not supported", MAX_BOUND);
    if (max >= 0 && max < min) return fail(g, TA_EINVAL, "maxLength is below minLength");
    if (min == 0 && max < 0) return prim(g, "string");
    if (!prim(g, "char") || !prim(g, "ws")) return NULL;
    sbuf b = {0};
    if (max < 0)
        sb_printf(&b, "\"\\\"\" char{%ld,} \"\\\"\" ws", min);
    else
        sb_printf(&b, "\"\\\"\" char{%ld,%ld} \"\\\"\" ws", min, max);
    return add_rule(g, hint, &b);
}

/* Numbers: a minimum (or exclusiveMinimum) >= 0 forbids the minus sign; other bounds are
 * not enforced. */
static const char *visit_number(gen *g, const json_t *s, bool integer)
{
    const json_t *mn = json_object_get(s, "minimum");
    const json_t *xmn = json_object_get(s, "exclusiveMinimum");
    bool nonneg = (json_is_number(mn) && json_number_value(mn) >= 0) ||
                  (json_is_number(xmn) && json_number_value(xmn) >= 0);
    if (integer) return prim(g, nonneg ? "uinteger" : "integer");
    return prim(g, nonneg ? "unumber" : "number");
}

static const char *visit_type(gen *g, const json_t *s, const char *type, const char *hint, bool top)
{
    if (strcmp(type, "object") == 0) return visit_object(g, s, hint);
    if (strcmp(type, "array") == 0) return visit_array(g, s, hint);
    if (strcmp(type, "string") == 0) return visit_string(g, s, hint);
    if (strcmp(type, "number") == 0) return visit_number(g, s, false);
    if (strcmp(type, "integer") == 0) return visit_number(g, s, true);
    if (strcmp(type, "boolean") == 0) return prim(g, "boolean");
    if (strcmp(type, "null") == 0) return prim(g, "null");
    (void)top;
    return fail(g, TA_EINVAL, "unknown type '%s'", type);
}

/* Keywords JSON Schema defines that would change what matches but are not supported. */
static const char *const unsupported[] = {
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "patternProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "multipleOf",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
    "$dynamicRef",
    "$recursiveRef",
    "dependencies",
};

static const char *alternatives(gen *g, const json_t *list, const char *kw, const char *hint)
{
    if (!json_is_array(list) || json_array_size(list) == 0)
        return fail(g, TA_EINVAL, "'%s' must be a non-empty array", kw);
    sbuf b = {0};
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        char seg[64], h[128];
        snprintf(seg, sizeof seg, "%s/%zu", kw, i);
        snprintf(h, sizeof h, "%s-%zu", hint, i);
        size_t old = path_push(g, seg);
        const char *alt = visit(g, v, h, false);
        path_pop(g, old);
        if (!alt) {
            free(b.s);
            return NULL;
        }
        sb_printf(&b, "%s%s", i ? " | " : "", alt);
    }
    return add_rule(g, hint, &b);
}

static const char *visit(gen *g, const json_t *s, const char *hint, bool top)
{
    if (g->oom) return NULL;
    if (json_is_true(s)) return prim(g, top ? "object" : "value");
    if (json_is_false(s)) return fail(g, TA_EINVAL, "schema 'false' matches nothing");
    if (!json_is_object(s)) return fail(g, TA_EINVAL, "a schema must be an object or a boolean");
    if (++g->depth > MAX_SCHEMA_DEPTH) {
        g->depth--;
        return fail(g, TA_EINVAL, "schema nested too deeply (more than %d levels)",
                    MAX_SCHEMA_DEPTH);
    }
    const char *r = NULL;
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++) {
        if (json_object_get(s, unsupported[i])) {
            r = fail(g, TA_EINVAL, "unsupported keyword '%s'", unsupported[i]);
            goto out;
        }
    }
    const json_t *v;
    if ((v = json_object_get(s, "$ref"))) {
        if (!json_is_string(v)) {
            r = fail(g, TA_EINVAL, "'$ref' must be a string");
            goto out;
        }
        r = visit_ref(g, json_string_value(v));
    } else if ((v = json_object_get(s, "const"))) {
        sbuf b = {0};
        if (prim(g, "ws") && add_json_literal(g, &b, v)) {
            sb_puts(&b, " ws");
            r = add_rule(g, hint, &b);
        } else {
            free(b.s);
        }
    } else if ((v = json_object_get(s, "enum"))) {
        r = visit_enum(g, v, hint);
    } else if ((v = json_object_get(s, "anyOf")) || (v = json_object_get(s, "oneOf"))) {
        r = alternatives(g, v, json_object_get(s, "anyOf") ? "anyOf" : "oneOf", hint);
    } else if (json_object_get(s, "allOf")) {
        r = visit_object(g, s, hint);
    } else if ((v = json_object_get(s, "type"))) {
        if (json_is_string(v)) {
            r = visit_type(g, s, json_string_value(v), hint, top);
        } else if (json_is_array(v) && json_array_size(v) > 0) {
            sbuf b = {0};
            size_t i;
            json_t *t;
            json_array_foreach(v, i, t)
            {
                const char *alt = json_is_string(t)
                                      ? visit_type(g, s, json_string_value(t), hint, top)
                                      : fail(g, TA_EINVAL, "'type' must list strings");
                if (!alt) {
                    free(b.s);
                    goto out;
                }
                sb_printf(&b, "%s%s", i ? " | " : "", alt);
            }
            r = add_rule(g, hint, &b);
        } else {
            r = fail(g, TA_EINVAL, "'type' must be a string or a non-empty array");
        }
    } else if (json_object_get(s, "properties") || json_object_get(s, "additionalProperties") ||
               json_object_get(s, "required") || top) {
        r = visit_object(g, s, hint);
    } else if (json_object_get(s, "items") || json_object_get(s, "prefixItems")) {
        r = visit_array(g, s, hint);
    } else if (json_object_get(s, "pattern") || json_object_get(s, "minLength") ||
               json_object_get(s, "maxLength") || json_object_get(s, "format")) {
        r = visit_string(g, s, hint);
    } else {
        r = prim(g, "value"); /* {} (below the top): any JSON value */
    }
out:
    g->depth--;
    return r;
}

char *ta_grammar_schema_to_gbnf(const json_t *schema, ta_error *err)
{
    gen g = {.root = schema, .err = err, .path = "#"};
    char *out = NULL;
    long root = new_rule(&g, "root");
    if (root < 0) {
        nomem(&g);
        goto done;
    }
    const char *top;
    if (!schema) {
        top = prim(&g, "object");
    } else {
        top = visit(&g, schema, "root-value", true);
    }
    if (!top || !prim(&g, "ws")) goto done;
    sbuf b = {0};
    sb_printf(&b, "ws %s", top);
    if (!set_body(&g, root, &b)) goto done;
    sbuf all = {0};
    for (size_t i = 0; i < g.n_rules; i++) {
        if (!g.rules[i].body) continue; /* cannot happen after a successful walk */
        sb_printf(&all, "%s ::= %s\n", g.rules[i].name, g.rules[i].body);
    }
    if (all.oom) {
        free(all.s);
        nomem(&g);
        goto done;
    }
    out = all.s;
done:
    for (size_t i = 0; i < g.n_rules; i++) {
        free(g.rules[i].name);
        free(g.rules[i].body);
    }
    free(g.rules);
    for (size_t i = 0; i < g.n_refs; i++)
        free(g.refs[i].ref);
    free(g.refs);
    return out;
}

ta_grammar *ta_grammar_from_json_schema(const json_t *schema, ta_error *err)
{
    char *text = ta_grammar_schema_to_gbnf(schema, err);
    if (!text) return NULL;
    ta_grammar *g = ta_grammar_parse(text, "root", err);
    if (!g) ta_error_prefix(err, "json schema: ");
    free(text);
    return g;
}
