/*
 * test_values.c - schema validation, defaults, coercion and JSON Schema emission.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "values/values.h"

static const char *const roles[] = {"system", "user", "assistant", "tool", NULL};

static const ta_field message_fields[] = {
    {.name = "role", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .one_of = roles},
    {.name = "content", .types = TA_T_STRING | TA_T_NULL, .max_len = 16},
    {0}};
static const ta_schema message_schema = {.name = "Message", .fields = message_fields};
static const ta_field message_item = {
    .name = "message", .types = TA_T_OBJECT, .object = &message_schema};

static const ta_field request_fields[] = {
    {.name = "messages",
     .types = TA_T_ARRAY,
     .flags = TA_F_REQUIRED,
     .items = &message_item,
     .min_len = 1,
     .max_len = 4},
    {.name = "temperature",
     .types = TA_T_NUMBER,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 0,
     .max = 2,
     .dflt = "0.7"},
    {.name = "max_tokens", .types = TA_T_INT, .flags = TA_F_MIN, .min = 1},
    {.name = "stop", .types = TA_T_STRING | TA_T_ARRAY},
    {.name = "stream", .types = TA_T_BOOL, .dflt = "false"},
    {0}};
static const ta_schema request_schema = {.name = "ChatRequest", .fields = request_fields};
static const ta_schema strict_schema = {.name = "Strict", .fields = request_fields, .strict = true};

static int check(const ta_schema *s, const char *json, ta_error *err, json_t **out)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    int rc = ta_values_validate(s, v, err);
    if (out)
        *out = v;
    else
        json_decref(v);
    return rc;
}

static const char *valid =
    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5}";

static void test_valid_fills_defaults(void **state)
{
    (void)state;
    ta_error err;
    json_t *v = NULL;
    assert_int_equal(check(&request_schema, valid, &err, &v), TA_OK);
    assert_true(json_is_real(json_object_get(v, "temperature")));
    assert_true(json_real_value(json_object_get(v, "temperature")) == 0.7);
    assert_true(json_is_false(json_object_get(v, "stream")));
    assert_null(json_object_get(v, "stop")); /* no default: stays absent */
    json_decref(v);
}

static void test_enum_error_names_path(void **state)
{
    (void)state;
    ta_error err;
    const char *j = "{\"messages\":[{\"role\":\"user\"},{\"role\":\"user\"},{\"role\":\"robot\"}]}";
    assert_int_equal(check(&request_schema, j, &err, NULL), TA_EINVAL);
    assert_string_equal(err.message,
                        "messages[2].role: expected one of system, user, assistant, tool");
}

static void test_type_errors(void **state)
{
    (void)state;
    ta_error err;
    assert_int_equal(check(&request_schema, "{\"messages\":\"x\"}", &err, NULL), TA_EINVAL);
    assert_string_equal(err.message, "messages: expected array, got string");
    assert_int_equal(check(&request_schema,
                           "{\"messages\":[{\"role\":\"user\"}],\"temperature\":\"hot\"}", &err,
                           NULL),
                     TA_EINVAL);
    assert_string_equal(err.message, "temperature: expected number, got string");
    assert_int_equal(
        check(&request_schema, "{\"messages\":[{\"role\":\"user\"}],\"stop\":5}", &err, NULL),
        TA_EINVAL);
    assert_string_equal(err.message, "stop: expected string or array, got integer");
    assert_int_equal(check(&request_schema, "{\"messages\":[7]}", &err, NULL), TA_EINVAL);
    assert_string_equal(err.message, "messages[0]: expected object, got integer");
}

static void test_ranges_and_lengths(void **state)
{
    (void)state;
    ta_error err;
    assert_int_equal(check(&request_schema,
                           "{\"messages\":[{\"role\":\"user\"}],\"temperature\":2.5}", &err, NULL),
                     TA_EINVAL);
    assert_string_equal(err.message, "temperature: must be between 0 and 2 (got 2.5)");
    assert_int_equal(
        check(&request_schema, "{\"messages\":[{\"role\":\"user\"}],\"max_tokens\":0}", &err, NULL),
        TA_EINVAL);
    assert_string_equal(err.message, "max_tokens: must be at least 1 (got 0)");
    assert_int_equal(check(&request_schema, "{\"messages\":[]}", &err, NULL), TA_EINVAL);
    assert_string_equal(err.message, "messages: needs at least 1 item");
    assert_int_equal(check(&request_schema,
                           "{\"messages\":[{\"role\":\"user\"},{\"role\":\"user\"},{\"role\":"
                           "\"user\"},{\"role\":\"user\"},{\"role\":\"user\"}]}",
                           &err, NULL),
                     TA_EINVAL);
    assert_string_equal(err.message, "messages: more than 4 items");
    assert_int_equal(check(&request_schema,
                           "{\"messages\":[{\"role\":\"user\",\"content\":"
                           "\"0123456789abcdefX\"}]}",
                           &err, NULL),
                     TA_EINVAL);
    assert_string_equal(err.message, "messages[0].content: longer than 16 bytes");
}

static void test_required_and_null(void **state)
{
    (void)state;
    ta_error err;
    assert_int_equal(check(&request_schema, "{}", &err, NULL), TA_EINVAL);
    assert_string_equal(err.message, "messages: required");
    assert_int_equal(check(&request_schema, "{\"messages\":null}", &err, NULL), TA_EINVAL);
    assert_string_equal(err.message, "messages: required (got null)");
    /* null on an optional field means "absent": the default applies. */
    json_t *v = NULL;
    assert_int_equal(check(&request_schema,
                           "{\"messages\":[{\"role\":\"user\",\"content\":null}],"
                           "\"temperature\":null}",
                           &err, &v),
                     TA_OK);
    assert_true(json_real_value(json_object_get(v, "temperature")) == 0.7);
    /* ...but a field that accepts null keeps it. */
    json_t *m = json_array_get(json_object_get(v, "messages"), 0);
    assert_true(json_is_null(json_object_get(m, "content")));
    json_decref(v);
    assert_int_equal(check(&request_schema, "[1]", &err, NULL), TA_EINVAL);
    assert_string_equal(err.message, "request: expected object, got array");
}

static void test_integral_real_accepted_for_int(void **state)
{
    (void)state;
    ta_error err;
    assert_int_equal(check(&request_schema,
                           "{\"messages\":[{\"role\":\"user\"}],\"max_tokens\":3.0}", &err, NULL),
                     TA_OK);
    assert_int_equal(check(&request_schema,
                           "{\"messages\":[{\"role\":\"user\"}],\"max_tokens\":3.5}", &err, NULL),
                     TA_EINVAL);
    assert_string_equal(err.message, "max_tokens: expected integer, got number");
}

static void test_strict_rejects_unknown(void **state)
{
    (void)state;
    ta_error err;
    assert_int_equal(
        check(&request_schema, "{\"messages\":[{\"role\":\"user\"}],\"extra\":1}", &err, NULL),
        TA_OK);
    assert_int_equal(
        check(&strict_schema, "{\"messages\":[{\"role\":\"user\"}],\"extra\":1}", &err, NULL),
        TA_EINVAL);
    assert_string_equal(err.message, "extra: unknown field");
}

static void test_enum_with_embedded_nul(void **state)
{
    (void)state;
    ta_error err;
    json_t *v = json_pack("{s:[{s:s%}]}", "messages", "role", "user\0x", (size_t)6);
    assert_non_null(v);
    assert_int_equal(ta_values_validate(&request_schema, v, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "messages[0].role: expected one of"));
    json_decref(v);
}

static void test_set_from_text(void **state)
{
    (void)state;
    ta_error err;
    json_t *o = json_object();
    assert_int_equal(ta_values_set_from_text(&request_schema, o, "max_tokens", "12", &err), TA_OK);
    assert_true(json_is_integer(json_object_get(o, "max_tokens")));
    assert_int_equal(json_integer_value(json_object_get(o, "max_tokens")), 12);
    assert_int_equal(ta_values_set_from_text(&request_schema, o, "temperature", "0.5", &err),
                     TA_OK);
    assert_true(json_real_value(json_object_get(o, "temperature")) == 0.5);
    assert_int_equal(ta_values_set_from_text(&request_schema, o, "stream", "true", &err), TA_OK);
    assert_true(json_is_true(json_object_get(o, "stream")));
    assert_int_equal(ta_values_set_from_text(&request_schema, o, "stop", "end", &err), TA_OK);
    assert_string_equal(json_string_value(json_object_get(o, "stop")), "end");
    assert_int_equal(ta_values_set_from_text(&request_schema, o, "max_tokens", "12x", &err),
                     TA_EINVAL);
    assert_string_equal(err.message, "max_tokens: expected integer, got '12x'");
    assert_int_equal(ta_values_set_from_text(&request_schema, o, "stream", "maybe", &err),
                     TA_EINVAL);
    assert_int_equal(ta_values_set_from_text(&request_schema, o, "temperature", "nan", &err),
                     TA_EINVAL);
    json_decref(o);
}

static void test_json_schema(void **state)
{
    (void)state;
    json_t *s = ta_values_json_schema(&request_schema);
    assert_string_equal(json_string_value(json_object_get(s, "type")), "object");
    json_t *props = json_object_get(s, "properties");
    json_t *temp = json_object_get(props, "temperature");
    assert_string_equal(json_string_value(json_object_get(temp, "type")), "number");
    assert_true(json_number_value(json_object_get(temp, "maximum")) == 2);
    assert_true(json_real_value(json_object_get(temp, "default")) == 0.7);
    json_t *stop = json_object_get(props, "stop");
    assert_true(json_is_array(json_object_get(stop, "type")));
    json_t *msgs = json_object_get(props, "messages");
    assert_int_equal(json_integer_value(json_object_get(msgs, "minItems")), 1);
    json_t *role =
        json_object_get(json_object_get(json_object_get(msgs, "items"), "properties"), "role");
    assert_int_equal(json_array_size(json_object_get(role, "enum")), 4);
    json_t *req = json_object_get(s, "required");
    assert_int_equal(json_array_size(req), 1);
    assert_string_equal(json_string_value(json_array_get(req, 0)), "messages");
    json_t *content =
        json_object_get(json_object_get(json_object_get(msgs, "items"), "properties"), "content");
    json_t *ct = json_object_get(content, "type");
    assert_true(json_is_array(ct));
    assert_int_equal(json_array_size(ct), 2); /* string, null */
    json_decref(s);
    json_t *st = ta_values_json_schema(&strict_schema);
    assert_true(json_is_false(json_object_get(st, "additionalProperties")));
    json_decref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_fills_defaults),
        cmocka_unit_test(test_enum_error_names_path),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_ranges_and_lengths),
        cmocka_unit_test(test_required_and_null),
        cmocka_unit_test(test_integral_real_accepted_for_int),
        cmocka_unit_test(test_strict_rejects_unknown),
        cmocka_unit_test(test_enum_with_embedded_nul),
        cmocka_unit_test(test_set_from_text),
        cmocka_unit_test(test_json_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
