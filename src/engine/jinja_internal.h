/*
 * jinja_internal.h - what the parts of the Jinja interpreter share: the arena, the
 * value model, the syntax tree and the render state. Not for other modules.
 *
 * Memory: a parsed template lives in one arena (freed by ta_jinja_free); each render
 * has its own arena with a byte budget, freed when the render ends. Values are small
 * structs passed by value; strings, lists and dicts point into an arena. Nothing is
 * reference counted and nothing can leak: a failed render frees its arena like a
 * successful one.
 */
#ifndef TA_ENGINE_JINJA_INTERNAL_H
#define TA_ENGINE_JINJA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jinja.h"

/* ---- arena ---- */

typedef struct jblock jblock;
typedef struct jarena {
    jblock *head;
    size_t used;  /* bytes taken from the system */
    size_t limit; /* 0: unlimited */
} jarena;

/* 16-byte aligned, NULL when the system or the budget says no. */
void *ja_alloc(jarena *a, size_t n);
void *ja_zalloc(jarena *a, size_t n);
void ja_release(jarena *a);

/* ---- values ---- */

typedef enum {
    JV_UNDEF, /* u.s: the name that was looked up (for messages), may be empty */
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST, /* also tuples */
    JV_DICT,
    JV_FUNC,
    JV_LOOP, /* the `loop` variable of a for loop */
} jv_kind;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jfunc jfunc;
typedef struct jloop jloop;

typedef struct jstr {
    const char *p; /* not necessarily NUL-terminated */
    size_t n;
} jstr;

typedef struct jv {
    jv_kind k;
    union {
        bool b;
        int64_t i;
        double f;
        jstr s;
        jlist *l;
        jdict *d;
        jfunc *fn;
        jloop *loop;
    } u;
} jv;

struct jlist {
    size_t n, cap;
    jv *v;
    bool tuple; /* printed as (a, b); otherwise a list */
};

struct jdict {
    size_t n, cap;
    jv *keys, *vals;
    bool ns; /* a namespace(): attributes may be assigned */
};

struct jloop {
    const jlist *items;
    size_t index0;
};

/* ---- syntax tree ---- */

typedef enum {
    /* statements */
    N_BODY,      /* kids[] */
    N_TEXT,      /* lit (a string) */
    N_OUTPUT,    /* a */
    N_IF,        /* a cond, b then (BODY), c else (BODY or IF) */
    N_FOR,       /* names[] targets, a iterable, b body, c else, d filter condition */
    N_SET,       /* a target (NAME, ATTR or TUPLE of NAMEs), b value */
    N_SET_BLOCK, /* a target, b body, c filter chain (FILTER with NULL innermost operand) */
    N_MACRO,     /* name, names[] params, kids[] defaults (NULL = none), b body */
    N_CALL,      /* a call expression, names[]/kids[] caller params, b body */
    N_FILTER,    /* a filter chain, b body */
    N_BREAK,
    N_CONTINUE,
    N_DO, /* a */
    /* expressions */
    E_LIT,    /* lit */
    E_NAME,   /* name */
    E_LIST,   /* kids[] */
    E_TUPLE,  /* kids[] */
    E_DICT,   /* kids[] as key, value pairs */
    E_ATTR,   /* a . name */
    E_INDEX,  /* a [ b ] */
    E_SLICE,  /* a [ b : c : d ], each may be NULL */
    E_CALL,   /* a ( kids[] ), names[i] the keyword of argument i or NULL */
    E_FILTER, /* a | name ( kids[] ), a NULL in a filter block chain */
    E_TEST,   /* a is [not] name ( kids[] ); op = 1 when negated */
    E_NOT,
    E_NEG,
    E_POS,
    E_BIN,    /* a op b: arithmetic, comparison, `in` */
    E_AND,    /* a and b */
    E_OR,     /* a or b */
    E_COND,   /* b if a else c (c may be NULL) */
    E_CONCAT, /* kids[] joined with ~ */
} jnode_kind;

/* operators: characters for the one-character ones */
enum {
    OP_FLOORDIV = 256,
    OP_POW,
    OP_EQ,
    OP_NE,
    OP_LE,
    OP_GE,
    OP_IN,
    OP_NOTIN,
};

typedef struct jnode jnode;
struct jnode {
    jnode_kind kind;
    int op;
    int line, col;
    const char *name; /* NUL-terminated, in the template arena */
    jv lit;
    jnode *a, *b, *c, *d;
    jnode **kids;
    const char **names;
    size_t n, n_names;
};

struct ta_jinja {
    jarena arena;
    jnode *root;
};

/* ---- render state ---- */

typedef struct jbuf {
    char *p;
    size_t n, cap;
} jbuf;

typedef struct jframe jframe;
struct jframe {
    jframe *parent;
    size_t n, cap;
    const char **names;
    jv *vals;
};

typedef struct jrender {
    jarena arena;
    jbuf *out; /* where text goes now (captures swap it) */
    size_t max_output;
    uint64_t steps, max_steps;
    int depth, max_depth, macro_depth, max_macro_depth;
    jframe *scope, *globals;
    ta_error *err;
    int code; /* of the first failure */
    bool failed;
    const jfunc *pending_caller; /* the caller of a call block, for the macro it calls */
} jrender;

/* Arguments of a call: positional then keyword. */
typedef struct jargs {
    size_t n;
    jv *v;
    const char **kw; /* kw[i] NULL for positional */
    const jnode *at; /* for messages */
} jargs;

typedef int (*jbuiltin_fn)(jrender *r, const jargs *a, jv *out);

struct jfunc {
    const char *name;
    jbuiltin_fn builtin; /* a builtin, or else */
    const jnode *macro;  /* N_MACRO, or the N_CALL whose body `caller()` renders */
    jframe *scope;       /* where the macro was defined */
};

/* ---- value helpers (jinja_value.c) ---- */

static inline jv jv_undef(const char *name)
{
    jv v = {JV_UNDEF, {.s = {name ? name : "", name ? __builtin_strlen(name) : 0}}};
    return v;
}
static inline jv jv_none(void)
{
    jv v = {JV_NONE, {.i = 0}};
    return v;
}
static inline jv jv_bool(bool b)
{
    jv v = {JV_BOOL, {.b = b}};
    return v;
}
static inline jv jv_int(int64_t i)
{
    jv v = {JV_INT, {.i = i}};
    return v;
}
static inline jv jv_float(double f)
{
    jv v = {JV_FLOAT, {.f = f}};
    return v;
}
static inline jv jv_str(const char *p, size_t n)
{
    jv v = {JV_STR, {.s = {p, n}}};
    return v;
}

/* Fails the render with "line L, column C: message" (at may be NULL); returns -1. */
int jr_fail(jrender *r, const jnode *at, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Counts n units of work; fails past the step limit. */
int jr_step(jrender *r, const jnode *at, uint64_t n);
/* Arena allocation that fails the render when the memory budget is spent. */
void *jr_alloc(jrender *r, const jnode *at, size_t n);

jlist *jl_new(jrender *r, const jnode *at, size_t cap);
int jl_push(jrender *r, const jnode *at, jlist *l, jv v);
jdict *jd_new(jrender *r, const jnode *at, size_t cap);
int jd_set(jrender *r, const jnode *at, jdict *d, jv key, jv val);
/* Value for key, or NULL. */
jv *jd_get(const jdict *d, jv key);
jv *jd_get_str(const jdict *d, const char *key, size_t n);

/* Copies into the render arena (NUL-terminated), checking the string size limit. */
int js_new(jrender *r, const jnode *at, const char *p, size_t n, jv *out);
/* Concatenates two strings into a new value. */
int js_cat(jrender *r, const jnode *at, jstr a, jstr b, jv *out);

bool jv_truthy(jv v);
bool jv_equal(jv a, jv b);
/* Ordering for <, sort: -1, 0, 1; *ok false when the kinds cannot be ordered. */
int jv_compare(jv a, jv b, bool *ok);
const char *jv_kind_name(jv v);

/* Builds a value from JSON (strings are borrowed from the JSON). */
int jv_from_json(jrender *r, const json_t *j, jv *out, int depth);

/* Appends to a growable buffer; false on allocation failure. */
bool jb_put(jbuf *b, const char *p, size_t n);
/* str(v) as Python/Jinja prints it. */
int jv_write_str(jrender *r, const jnode *at, jbuf *b, jv v);
/* repr(v) (strings quoted), as inside a printed list. */
int jv_write_repr(jrender *r, const jnode *at, jbuf *b, jv v, int depth);
/* json.dumps(v, ensure_ascii=False, indent=indent) (indent < 0: none). */
int jv_write_json(jrender *r, const jnode *at, jbuf *b, jv v, int indent, int level);
/* str(v) as a new string value. */
int jv_to_str(jrender *r, const jnode *at, jv v, jv *out);

/* UTF-8: number of code points, and the byte offset of code point i (clamped). */
size_t ju_len(jstr s);
size_t ju_offset(jstr s, size_t i);

/* ---- builtins (jinja_builtins.c) ---- */

int jb_filter(jrender *r, const jnode *at, const char *name, jv in, const jargs *a, jv *out);
int jb_test(jrender *r, const jnode *at, const char *name, jv in, const jargs *a, bool *out);
/* A method call obj.name(args); *found false when obj has no such method. */
int jb_method(jrender *r, const jnode *at, jv obj, const char *name, const jargs *a, jv *out,
              bool *found);
/* A global function by name, or NULL. */
jbuiltin_fn jb_global(const char *name);
bool jb_filter_exists(const char *name);
bool jb_test_exists(const char *name);

/* Attribute or item lookup (undefined when missing). */
int je_getattr(jrender *r, const jnode *at, jv obj, const char *name, jv *out);
int je_getitem(jrender *r, const jnode *at, jv obj, jv key, jv *out);
/* Calls a function value. */
int je_call(jrender *r, const jnode *at, jv fn, const jargs *a, jv *out);
/* Makes an iterable into a list (dicts give their keys, strings their characters). */
int je_iterate(jrender *r, const jnode *at, jv v, jlist **out);

/* ---- parser (jinja_parse.c) ---- */

jnode *jp_parse(jarena *a, const char *src, size_t len, ta_error *err);

#endif
