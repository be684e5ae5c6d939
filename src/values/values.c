/*
 * values.c - validation, coercion and JSON Schema emission for ta_schema tables.
 */
#include "values.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 256

const ta_field *ta_values_field(const ta_schema *schema, const char *name)
{
    if (!schema || !schema->fields) return NULL;
    for (const ta_field *f = schema->fields; f->name; f++)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

/* "string, array" for messages. */
static void describe_types(unsigned types, char *out, size_t cap)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{TA_T_STRING, "string"}, {TA_T_INT, "integer"}, {TA_T_NUMBER, "number"},
                 {TA_T_BOOL, "boolean"},  {TA_T_ARRAY, "array"}, {TA_T_OBJECT, "object"},
                 {TA_T_NULL, "null"}};
    out[0] = '\0';
    size_t used = 0;
    int count = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(types & names[i].bit)) continue;
        /* "integer or number" reads badly; number covers integer. */
        if (names[i].bit == TA_T_INT && (types & TA_T_NUMBER)) continue;
        int n = snprintf(out + used, cap - used, "%s%s", count ? " or " : "", names[i].name);
        if (n < 0 || (size_t)n >= cap - used) break;
        used += (size_t)n;
        count++;
    }
}

static unsigned type_bit(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return TA_T_NULL;
    case JSON_TRUE:
    case JSON_FALSE: return TA_T_BOOL;
    case JSON_INTEGER: return TA_T_INT | TA_T_NUMBER;
    case JSON_REAL: return TA_T_NUMBER;
    case JSON_STRING: return TA_T_STRING;
    case JSON_ARRAY: return TA_T_ARRAY;
    case JSON_OBJECT: return TA_T_OBJECT;
    }
    return 0;
}

static void fmt_num(double v, char *out, size_t cap)
{
    snprintf(out, cap, "%.15g", v);
}

static int check_one_of(const ta_field *f, const char *s, const char *path, ta_error *err)
{
    for (const char *const *o = f->one_of; *o; o++)
        if (strcmp(*o, s) == 0) return TA_OK;
    char list[384];
    size_t used = 0;
    list[0] = '\0';
    for (const char *const *o = f->one_of; *o; o++) {
        int n = snprintf(list + used, sizeof list - used, "%s%s", o == f->one_of ? "" : ", ", *o);
        if (n < 0 || (size_t)n >= sizeof list - used) break;
        used += (size_t)n;
    }
    return ta_error_set(err, TA_EINVAL, "%s: expected one of %s", path, list);
}

static int validate_object(const ta_schema *schema, json_t *obj, const char *prefix, ta_error *err);

int ta_values_check_field(const ta_field *f, json_t *value, const char *path, ta_error *err)
{
    unsigned have = type_bit(value);
    /* An integral real (2.0) is accepted where an integer is wanted. */
    if (json_is_real(value) && (f->types & TA_T_INT) && !(f->types & TA_T_NUMBER)) {
        double d = json_real_value(value);
        if (isfinite(d) && d == floor(d) && fabs(d) < 9.0e15) have |= TA_T_INT;
    }
    if (!(have & f->types)) {
        char want[96];
        describe_types(f->types, want, sizeof want);
        return ta_error_set(err, TA_EINVAL, "%s: expected %s, got %s", path, want,
                            ta_json_type_name(value));
    }
    if (json_is_number(value) && (f->flags & (TA_F_MIN | TA_F_MAX))) {
        double d = json_number_value(value);
        bool lo = (f->flags & TA_F_MIN) && d < f->min;
        bool hi = (f->flags & TA_F_MAX) && d > f->max;
        if (lo || hi) {
            char a[32], b[32], got[32];
            fmt_num(f->min, a, sizeof a);
            fmt_num(f->max, b, sizeof b);
            fmt_num(d, got, sizeof got);
            if ((f->flags & TA_F_MIN) && (f->flags & TA_F_MAX))
                return ta_error_set(err, TA_EINVAL, "%s: must be between %s and %s (got %s)", path,
                                    a, b, got);
            if (lo)
                return ta_error_set(err, TA_EINVAL, "%s: must be at least %s (got %s)", path, a,
                                    got);
            return ta_error_set(err, TA_EINVAL, "%s: must be at most %s (got %s)", path, b, got);
        }
    }
    if (json_is_string(value)) {
        size_t len = json_string_length(value);
        if (f->max_len && len > f->max_len)
            return ta_error_set(err, TA_EINVAL, "%s: longer than %zu bytes", path, f->max_len);
        if (len < f->min_len)
            return ta_error_set(err, TA_EINVAL, "%s: shorter than %zu bytes", path, f->min_len);
        if (f->one_of) {
            /* Enumerated values never contain NUL; a string with one cannot match. */
            if (strlen(json_string_value(value)) != len) return check_one_of(f, "", path, err);
            int rc = check_one_of(f, json_string_value(value), path, err);
            if (rc) return rc;
        }
    }
    if (json_is_array(value)) {
        size_t n = json_array_size(value);
        if (f->max_len && n > f->max_len)
            return ta_error_set(err, TA_EINVAL, "%s: more than %zu items", path, f->max_len);
        if (n < f->min_len)
            return ta_error_set(err, TA_EINVAL, "%s: needs at least %zu item%s", path, f->min_len,
                                f->min_len == 1 ? "" : "s");
        if (f->items) {
            for (size_t i = 0; i < n; i++) {
                char sub[PATH_MAX_LEN];
                snprintf(sub, sizeof sub, "%s[%zu]", path, i);
                int rc = ta_values_check_field(f->items, json_array_get(value, i), sub, err);
                if (rc) return rc;
            }
        }
    }
    if (json_is_object(value) && f->object) return validate_object(f->object, value, path, err);
    return TA_OK;
}

static int validate_object(const ta_schema *schema, json_t *obj, const char *prefix, ta_error *err)
{
    char path[PATH_MAX_LEN];
    if (!json_is_object(obj))
        return ta_error_set(err, TA_EINVAL, "%s: expected object, got %s",
                            prefix[0] ? prefix : "request", ta_json_type_name(obj));
    for (const ta_field *f = schema->fields; f && f->name; f++) {
        if (prefix[0])
            snprintf(path, sizeof path, "%s.%s", prefix, f->name);
        else
            snprintf(path, sizeof path, "%s", f->name);
        json_t *v = json_object_get(obj, f->name);
        if (v && json_is_null(v) && !(f->types & TA_T_NULL)) {
            if (f->flags & TA_F_REQUIRED)
                return ta_error_set(err, TA_EINVAL, "%s: required (got null)", path);
            json_object_del(obj, f->name);
            v = NULL;
        }
        if (!v) {
            if (f->flags & TA_F_REQUIRED) return ta_error_set(err, TA_EINVAL, "%s: required", path);
            if (f->dflt) {
                json_t *d = json_loads(f->dflt, JSON_DECODE_ANY, NULL);
                if (!d) return ta_error_set(err, TA_EINTERNAL, "%s: bad default in schema", path);
                json_object_set_new(obj, f->name, d);
            }
            continue;
        }
        int rc = ta_values_check_field(f, v, path, err);
        if (rc) return rc;
    }
    if (schema->strict) {
        const char *key;
        json_t *v;
        json_object_foreach(obj, key, v)
        {
            if (!ta_values_field(schema, key)) {
                if (prefix[0])
                    return ta_error_set(err, TA_EINVAL, "%s.%.64s: unknown field", prefix, key);
                return ta_error_set(err, TA_EINVAL, "%.64s: unknown field", key);
            }
        }
    }
    return TA_OK;
}

int ta_values_validate(const ta_schema *schema, json_t *obj, ta_error *err)
{
    if (!schema) return TA_OK;
    return validate_object(schema, obj, "", err);
}

int ta_values_set_from_text(const ta_schema *schema, json_t *obj, const char *key, const char *text,
                            ta_error *err)
{
    const ta_field *f = ta_values_field(schema, key);
    json_t *v = NULL;
    if (f && (f->types & TA_T_BOOL) && !(f->types & TA_T_STRING)) {
        if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, ""))
            v = json_true();
        else if (!strcmp(text, "false") || !strcmp(text, "0"))
            v = json_false();
        else
            return ta_error_set(err, TA_EINVAL, "%s: expected boolean, got '%.32s'", key, text);
    } else if (f && (f->types & (TA_T_INT | TA_T_NUMBER)) && !(f->types & TA_T_STRING)) {
        char *end = NULL;
        errno = 0;
        if (f->types & TA_T_NUMBER) {
            double d = strtod(text, &end);
            if (errno || end == text || *end || !isfinite(d))
                return ta_error_set(err, TA_EINVAL, "%s: expected number, got '%.32s'", key, text);
            v = json_real(d);
        } else {
            long long n = strtoll(text, &end, 10);
            if (errno || end == text || *end)
                return ta_error_set(err, TA_EINVAL, "%s: expected integer, got '%.32s'", key, text);
            v = json_integer(n);
        }
    } else {
        v = json_string(text);
        if (!v) return ta_error_set(err, TA_EINVAL, "%s: not valid UTF-8", key);
    }
    json_object_set_new(obj, key, v);
    return TA_OK;
}

static json_t *type_json(unsigned types)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{TA_T_STRING, "string"}, {TA_T_INT, "integer"}, {TA_T_NUMBER, "number"},
                 {TA_T_BOOL, "boolean"},  {TA_T_ARRAY, "array"}, {TA_T_OBJECT, "object"},
                 {TA_T_NULL, "null"}};
    if ((types & TA_T_ANY) == TA_T_ANY) return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(types & names[i].bit)) continue;
        if (names[i].bit == TA_T_INT && (types & TA_T_NUMBER)) continue;
        json_array_append_new(arr, json_string(names[i].name));
    }
    if (json_array_size(arr) == 1) {
        json_t *one = json_incref(json_array_get(arr, 0));
        json_decref(arr);
        return one;
    }
    return arr;
}

json_t *ta_values_field_json_schema(const ta_field *f)
{
    json_t *s = json_object();
    json_t *t = type_json(f->types);
    if (t) json_object_set_new(s, "type", t);
    if (f->description) json_object_set_new(s, "description", json_string(f->description));
    if (f->dflt) {
        json_t *d = json_loads(f->dflt, JSON_DECODE_ANY, NULL);
        if (d) json_object_set_new(s, "default", d);
    }
    if (f->one_of) {
        json_t *e = json_array();
        for (const char *const *o = f->one_of; *o; o++)
            json_array_append_new(e, json_string(*o));
        json_object_set_new(s, "enum", e);
    }
    if (f->flags & TA_F_MIN) json_object_set_new(s, "minimum", json_real(f->min));
    if (f->flags & TA_F_MAX) json_object_set_new(s, "maximum", json_real(f->max));
    if (f->types & TA_T_STRING) {
        if (f->max_len) json_object_set_new(s, "maxLength", json_integer((json_int_t)f->max_len));
        if (f->min_len) json_object_set_new(s, "minLength", json_integer((json_int_t)f->min_len));
    }
    if (f->types & TA_T_ARRAY) {
        if (f->max_len) json_object_set_new(s, "maxItems", json_integer((json_int_t)f->max_len));
        if (f->min_len) json_object_set_new(s, "minItems", json_integer((json_int_t)f->min_len));
        if (f->items) json_object_set_new(s, "items", ta_values_field_json_schema(f->items));
    }
    if ((f->types & TA_T_OBJECT) && f->object) {
        json_t *o = ta_values_json_schema(f->object);
        json_object_update_missing(s, o);
        json_decref(o);
    }
    return s;
}

json_t *ta_values_json_schema(const ta_schema *schema)
{
    json_t *s = json_object();
    json_object_set_new(s, "type", json_string("object"));
    if (schema->description)
        json_object_set_new(s, "description", json_string(schema->description));
    json_t *props = json_object();
    json_t *req = json_array();
    for (const ta_field *f = schema->fields; f && f->name; f++) {
        json_object_set_new(props, f->name, ta_values_field_json_schema(f));
        if (f->flags & TA_F_REQUIRED) json_array_append_new(req, json_string(f->name));
    }
    json_object_set_new(s, "properties", props);
    if (json_array_size(req))
        json_object_set_new(s, "required", req);
    else
        json_decref(req);
    if (schema->strict) json_object_set_new(s, "additionalProperties", json_false());
    return s;
}
