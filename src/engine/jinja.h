/*
 * jinja.h - a Jinja2-subset template interpreter for Hugging Face chat templates.
 *
 * Models ship their prompt format as a Jinja template (the GGUF key
 * `tokenizer.chat_template`). This module parses such a template once and renders it
 * with variables taken from a JSON object, the way transformers does: trim_blocks and
 * lstrip_blocks on, loop controls (break/continue) on, a `tojson` that keeps key order
 * and non-ASCII text, and Jinja's default Undefined (renders empty, is falsy, iterates
 * as empty; calling it or doing arithmetic with it is an error).
 *
 * The language covered is what chat templates use: output, if/elif/else, for (with
 * else, filters, loop.*, tuple targets), set (names, namespace attributes, blocks),
 * macros with defaults and keyword arguments, call blocks, filter blocks, break,
 * continue, do; literals, lists, dicts, tuples, attribute and subscript access,
 * slices, arithmetic, comparisons, `in`, boolean logic, `is` tests, conditional
 * expressions, filters and the common str/dict/list methods. Globals: namespace,
 * range, dict, raise_exception, strftime_now.
 *
 * Templates come from model files and are untrusted. Parsing and rendering never
 * crash; nesting, output size, working memory and the number of evaluation steps are
 * all bounded, and every failure is a TA_EINVAL (TA_ETOOBIG for limits) with a message
 * that names the line and column. A parsed template is immutable, so one template may
 * be rendered by several threads at once; there is no global state.
 */
#ifndef TA_ENGINE_JINJA_H
#define TA_ENGINE_JINJA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Largest template source accepted by ta_jinja_parse. */
#define TA_JINJA_MAX_SOURCE (4u << 20)

typedef struct ta_jinja_limits {
    size_t max_output;  /* bytes of rendered text (also the largest string value); 0: 16 MiB */
    uint64_t max_steps; /* evaluation steps (nodes, loop iterations, bulk work); 0: 10 million */
    size_t max_memory;  /* working memory of one render; 0: 256 MiB */
    int max_depth;      /* macro call nesting; 0: 256 */
} ta_jinja_limits;

typedef struct ta_jinja ta_jinja; /* a parsed template */

/* Parses len bytes of template source (copied; need not be NUL-terminated). Returns
 * NULL and fills err (TA_EINVAL, "line L, column C: ...") on a syntax error. */
ta_jinja *ta_jinja_parse(const char *src, size_t len, ta_error *err);
void ta_jinja_free(ta_jinja *t);

/* Renders t with the members of ctx (a JSON object, borrowed; NULL: no variables) as
 * variables. On success *out is a malloc'd NUL-terminated string the caller frees and
 * *out_len (when not NULL) its length. lim NULL means the defaults. */
int ta_jinja_render(const ta_jinja *t, const json_t *ctx, const ta_jinja_limits *lim, char **out,
                    size_t *out_len, ta_error *err);

#endif
