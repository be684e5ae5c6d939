/*
 * json.c - see json.h.
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

json_t *ta_json_parse(const char *buf, size_t len, ta_error *err)
{
    json_error_t jerr;
    if (!buf) len = 0;
    if (len == 0) {
        ta_error_set(err, TA_EINVAL, "invalid JSON: empty input");
        return NULL;
    }
    json_t *v = json_loadb(buf, len, JSON_DECODE_ANY, &jerr);
    if (!v) {
        ta_error_set(err, TA_EINVAL, "invalid JSON at line %d column %d: %s", jerr.line,
                     jerr.column, jerr.text);
        return NULL;
    }
    return v;
}

char *ta_json_dump(const json_t *value, size_t *out_len)
{
    char *s = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (s && out_len) *out_len = strlen(s);
    return s;
}

const char *ta_json_str(const json_t *obj, const char *key, const char *dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

long long ta_json_int(const json_t *obj, const char *key, long long dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

double ta_json_num(const json_t *obj, const char *key, double dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

bool ta_json_bool(const json_t *obj, const char *key, bool dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

json_t *ta_json_error_body(const ta_error *err)
{
    int code = err ? err->code : TA_EINTERNAL;
    const char *msg = (err && err->message[0]) ? err->message : ta_strerror(code);
    return json_pack("{s:{s:s,s:s,s:s}}", "error", "message", msg, "type",
                     ta_error_openai_type(code), "code", ta_strerror(code));
}

const char *ta_json_type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}
