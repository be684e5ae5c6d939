/*
 * json.h - small helpers on jansson shared by every module.
 *
 * jansson owns the data model; these helpers only remove repetition: typed getters
 * with defaults, parsing with a size limit and a ta_error, and compact serialization.
 */
#ifndef TA_CORE_JSON_H
#define TA_CORE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Parses exactly len bytes as one JSON value (any type). Rejects invalid UTF-8,
 * NUL bytes, trailing garbage and nesting deeper than jansson's limit. On failure
 * returns NULL and fills err (TA_EINVAL) with line/column. */
json_t *ta_json_parse(const char *buf, size_t len, ta_error *err);

/* Compact serialization (no spaces); caller frees with free(). NULL on failure. */
char *ta_json_dump(const json_t *value, size_t *out_len);

/* Typed getters: return the member when it exists with the right type, else dflt. */
const char *ta_json_str(const json_t *obj, const char *key, const char *dflt);
long long ta_json_int(const json_t *obj, const char *key, long long dflt);
double ta_json_num(const json_t *obj, const char *key, double dflt);
bool ta_json_bool(const json_t *obj, const char *key, bool dflt);

/* The OpenAI error body {"error":{"message","type","code"}}; new reference. */
json_t *ta_json_error_body(const ta_error *err);

/* JSON type name for messages: "string", "integer", "number", "object", ... */
const char *ta_json_type_name(const json_t *value);

#endif
