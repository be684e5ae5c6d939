/*
 * grammar.h - grammar-constrained generation: a GBNF grammar engine and a JSON Schema
 * compiler on top of it, so the sampler can allow only tokens that keep the output a
 * valid prefix of the grammar's language (OpenAI response_format json_object /
 * json_schema).
 *
 * A grammar is written in GBNF, the notation llama.cpp documents: rules
 * `name ::= alternatives`, literals "..." with escapes, character classes [a-z] and
 * [^"\\], `.` (any character), grouping, alternation, the repetitions * + ? {m} {m,}
 * {m,n} and # comments. A parsed grammar (ta_grammar) is immutable and may be shared
 * by any number of threads; each generation keeps its own ta_grammar_state, the set of
 * parse stacks that the text so far leaves open (the classic pushdown recognizer that
 * llama.cpp also uses). Text is matched by Unicode code point; bytes may arrive in
 * pieces that split a UTF-8 character, the partial bytes are kept in the state.
 *
 * Grammar text and schemas come from users: sizes, nesting, the number of parse stacks
 * and the work per step are all bounded, left recursion is rejected at parse time (it
 * would never terminate), and every failure is a TA_EINVAL (TA_ETOOBIG for limits)
 * whose message names the line and column (GBNF) or the schema path (JSON Schema).
 * There is no global state.
 */
#ifndef TA_ENGINE_GRAMMAR_H
#define TA_ENGINE_GRAMMAR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

typedef struct ta_grammar ta_grammar;             /* compiled, immutable, shareable */
typedef struct ta_grammar_state ta_grammar_state; /* one generation's position in it */

/* Limits on untrusted grammars. */
#define TA_GRAMMAR_MAX_TEXT     (4u << 20) /* bytes of GBNF text */
#define TA_GRAMMAR_MAX_ELEMENTS (1u << 20) /* compiled grammar size */
#define TA_GRAMMAR_MAX_REPEAT   10000      /* m and n in {m,n} */
#define TA_GRAMMAR_MAX_NESTING  200        /* nested ( ) groups */
#define TA_GRAMMAR_MAX_STACKS   2048       /* parse stacks alive at one point */
#define TA_GRAMMAR_MAX_DEPTH    4096       /* entries in one parse stack */

/* Parses GBNF text. root names the start rule (NULL: "root"). Returns NULL and fills
 * err (message with line:column) on a syntax error, an undefined rule, left recursion
 * or a limit. */
ta_grammar *ta_grammar_parse(const char *gbnf, const char *root, ta_error *err);

/* Grammar for JSON text matching a JSON Schema (a draft 2020-12 subset: type, properties,
 * required, additionalProperties, enum, const, anyOf/oneOf, allOf of objects, $ref into
 * #/$defs and #/definitions (recursive allowed), items, prefixItems, minItems, maxItems,
 * minLength, maxLength, format date/time/date-time/uuid, minimum >= 0 for numbers).
 * NULL, {} and {"type":"object"} without properties mean "any JSON object". Keywords
 * that would change the meaning but are not supported are a TA_EINVAL naming the
 * keyword and the schema path. */
ta_grammar *ta_grammar_from_json_schema(const json_t *schema, ta_error *err);

/* The GBNF text ta_grammar_from_json_schema compiles (malloc'd), for debugging/tests. */
char *ta_grammar_schema_to_gbnf(const json_t *schema, ta_error *err);

void ta_grammar_free(ta_grammar *g);

/* A state at the start of the text. The grammar must outlive the state. */
ta_grammar_state *ta_grammar_state_new(const ta_grammar *g, ta_error *err);
ta_grammar_state *ta_grammar_state_clone(const ta_grammar_state *s); /* NULL on OOM */
void ta_grammar_state_free(ta_grammar_state *s);

/* Whether appending these bytes keeps the text a valid prefix of the language. The bytes
 * are UTF-8 and may end inside a character (that partial character must be able to start
 * an accepted code point). Does not modify s and does not allocate in the common case,
 * so several threads may test tokens against one state at once. len 0 is accepted. */
bool ta_grammar_state_accepts(const ta_grammar_state *s, const char *bytes, size_t len);

/* Appends bytes (which must be accepted): TA_EINVAL if they are not, TA_ENOMEM on
 * allocation failure; s is unchanged on any failure. */
int ta_grammar_state_advance(ta_grammar_state *s, const char *bytes, size_t len, ta_error *err);

/* The text so far is a complete sentence of the grammar (end of generation allowed). */
bool ta_grammar_state_complete(const ta_grammar_state *s);

/* Some continuation is still possible (false: the only thing left is to stop). */
bool ta_grammar_state_can_continue(const ta_grammar_state *s);

#endif
