/*
 * values.h - typed request/response schemas: one table per message, used three ways.
 *
 *   1. validation: types, ranges, lengths, enums, required fields; defaults filled in;
 *      errors name the field path ("messages[2].role: expected one of system, user").
 *   2. coercion of text parameters (HTTP query strings) into typed JSON.
 *   3. emission as JSON Schema for the OpenAPI document (one source of truth).
 *
 * Schemas are static const tables; nothing here allocates except the JSON it returns.
 */
#ifndef TA_VALUES_H
#define TA_VALUES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../core/core.h"

/* Type mask: a field may accept several JSON types ("stop": string or array). */
enum {
    TA_T_NULL = 1u << 0,
    TA_T_BOOL = 1u << 1,
    TA_T_INT = 1u << 2,    /* JSON integer (or a real with an integral value) */
    TA_T_NUMBER = 1u << 3, /* any JSON number */
    TA_T_STRING = 1u << 4,
    TA_T_ARRAY = 1u << 5,
    TA_T_OBJECT = 1u << 6,
    TA_T_ANY = 0x7f,
};

/* Field flags. */
enum {
    TA_F_REQUIRED = 1u << 0,
    TA_F_MIN = 1u << 1, /* numbers: value >= min */
    TA_F_MAX = 1u << 2, /* numbers: value <= max */
};

typedef struct ta_schema ta_schema;
typedef struct ta_field ta_field;

struct ta_field {
    const char *name;          /* member name; NULL ends a field list */
    unsigned types;            /* TA_T_* mask */
    unsigned flags;            /* TA_F_* */
    const char *description;   /* for the OpenAPI document */
    const char *dflt;          /* default as JSON text, filled in when absent */
    const char *const *one_of; /* allowed strings, NULL-terminated */
    double min, max;           /* numeric range, with TA_F_MIN / TA_F_MAX */
    size_t min_len, max_len;   /* strings: bytes; arrays: items (max 0 = unlimited) */
    const ta_schema *object;   /* members, when TA_T_OBJECT */
    const ta_field *items;     /* element description, when TA_T_ARRAY */
};

struct ta_schema {
    const char *name; /* component name in the OpenAPI document */
    const char *description;
    const ta_field *fields; /* terminated by an entry with name == NULL */
    bool strict;            /* unknown members are an error (default: ignored) */
};

/* Validates obj (a JSON object) against schema in place: checks every field, fills
 * defaults, and treats an explicit null on an optional field that does not accept
 * null as absent. Returns 0, or TA_EINVAL with err naming the field path. */
int ta_values_validate(const ta_schema *schema, json_t *obj, ta_error *err);

/* Validates one value against one field description; path is used in messages. */
int ta_values_check_field(const ta_field *field, json_t *value, const char *path, ta_error *err);

/* Sets obj[key] from the text value of a query parameter, converting it by the
 * field's declared type ("8" -> 8 for an integer field, "true" -> true for a
 * boolean). Unknown keys are kept as strings. */
int ta_values_set_from_text(const ta_schema *schema, json_t *obj, const char *key, const char *text,
                            ta_error *err);

/* Looks up a field by name; NULL when absent. */
const ta_field *ta_values_field(const ta_schema *schema, const char *name);

/* JSON Schema (2020-12, as used by OpenAPI 3.1) for a schema or a field; new refs. */
json_t *ta_values_json_schema(const ta_schema *schema);
json_t *ta_values_field_json_schema(const ta_field *field);

#endif
