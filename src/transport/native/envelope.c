/*
 * envelope.c - see envelope.h.
 */
#include "envelope.h"

#include <string.h>

static int valid_name(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return n > 0 && n <= max;
}

/* Ids are echoed back verbatim, so only small scalar ids are accepted. */
static int take_id(ta_envelope *env, json_t *id, const char *key, ta_error *err)
{
    if (!id || json_is_null(id)) return TA_OK;
    if (json_is_string(id)) {
        if (json_string_length(id) > TA_ENVELOPE_ID_MAX)
            return ta_error_set(err, TA_EINVAL, "%s: longer than %d bytes", key,
                                TA_ENVELOPE_ID_MAX);
    } else if (!json_is_integer(id)) {
        return ta_error_set(err, TA_EINVAL, "%s: expected string, got %s", key,
                            ta_json_type_name(id));
    }
    env->id = json_incref(id);
    return TA_OK;
}

static int take_action(ta_envelope *env, json_t *name, const char *key, ta_error *err)
{
    if (!name) return ta_error_set(err, TA_EINVAL, "%s: required", key);
    if (!json_is_string(name))
        return ta_error_set(err, TA_EINVAL, "%s: expected string, got %s", key,
                            ta_json_type_name(name));
    const char *s = json_string_value(name);
    if (strlen(s) != json_string_length(name) || !valid_name(s, TA_ENVELOPE_ACTION_MAX))
        return ta_error_set(err, TA_EINVAL, "%s: expected a name of letters, digits, '_' or '-'",
                            key);
    /* The older host spelled routes with dashes at times; actions use underscores. */
    size_t i = 0;
    for (; s[i]; i++)
        env->action[i] = s[i] == '-' ? '_' : s[i];
    env->action[i] = '\0';
    return TA_OK;
}

int ta_envelope_decode(const char *buf, size_t len, ta_envelope *env, ta_error *err)
{
    memset(env, 0, sizeof *env);
    json_t *root = ta_json_parse(buf, len, err);
    if (!root) return TA_EINVAL;
    int rc = TA_OK;
    if (!json_is_object(root)) {
        rc = ta_error_set(err, TA_EINVAL, "message: expected a JSON object, got %s",
                          ta_json_type_name(root));
        goto out;
    }
    json_t *action = json_object_get(root, "action");
    json_t *route = json_object_get(root, "route");
    if (action || !route) {
        env->style = TA_ENVELOPE_ACTION;
        rc = take_id(env, json_object_get(root, "messageId"), "messageId", err);
        if (rc) goto out;
        rc = take_action(env, action, "action", err);
        if (rc) goto out;
        env->params = json_deep_copy(root);
        json_object_del(env->params, "action");
        json_object_del(env->params, "messageId");
        env->stream = json_is_true(json_object_get(root, "stream"));
    } else {
        env->style = TA_ENVELOPE_ROUTE;
        rc = take_id(env, json_object_get(root, "request_id"), "request_id", err);
        if (rc) goto out;
        rc = take_action(env, route, "route", err);
        if (rc) goto out;
        json_t *payload = json_object_get(root, "payload");
        if (payload && !json_is_null(payload) && !json_is_object(payload)) {
            rc = ta_error_set(err, TA_EINVAL, "payload: expected object or null, got %s",
                              ta_json_type_name(payload));
            goto out;
        }
        env->params = json_is_object(payload) ? json_deep_copy(payload) : json_object();
        env->stream = json_is_true(json_object_get(env->params, "stream"));
    }
    if (!env->params) rc = ta_error_set(err, TA_ENOMEM, "out of memory");
out:
    json_decref(root);
    return rc;
}

void ta_envelope_clear(ta_envelope *env)
{
    json_decref(env->id);
    json_decref(env->params);
    env->id = NULL;
    env->params = NULL;
}

const char *ta_envelope_id_key(const ta_envelope *env)
{
    return env->style == TA_ENVELOPE_ROUTE ? "request_id" : "messageId";
}

/* The older host's error codes, kept so its clients can branch on them. */
static const char *route_error_code(int code)
{
    switch (code) {
    case TA_EINVAL: return "VALIDATION_ERROR";
    case TA_ENOTFOUND: return "ROUTE_NOT_FOUND";
    case TA_ETOOBIG: return "PROTOCOL_ERROR";
    case TA_EUNAUTH: return "AUTH_ERROR";
    case TA_EIO: return "IO_ERROR";
    case TA_EUNAVAILABLE: return "BACKEND_ERROR";
    default: return "INTERNAL_ERROR";
    }
}

static json_t *id_or_null(const ta_envelope *env)
{
    return env->id ? json_incref(env->id) : json_null();
}

json_t *ta_envelope_reply(const ta_envelope *env, json_t *result, const ta_error *err)
{
    json_t *r = json_object();
    const char *msg = err ? (err->message[0] ? err->message : ta_strerror(err->code)) : NULL;
    switch (env->style) {
    case TA_ENVELOPE_ROUTE:
        json_object_set_new(r, "request_id",
                            env->id ? json_incref(env->id) : json_string("unknown"));
        json_object_set_new(r, "success", json_boolean(!err));
        if (err)
            json_object_set_new(
                r, "error",
                json_pack("{s:s,s:s}", "code", route_error_code(err->code), "message", msg));
        else
            json_object_set_new(r, "data", result ? json_incref(result) : json_null());
        break;
    case TA_ENVELOPE_ACTION:
        json_object_set_new(r, "messageId", id_or_null(env));
        json_object_set_new(r, "status", json_string(err ? "error" : "success"));
        if (err) {
            json_object_set_new(r, "message", json_string(msg));
            json_object_set_new(r, "code", json_string(ta_strerror(err->code)));
        } else if (json_is_object(result)) {
            /* Result fields sit beside the envelope's, as the extension reads them;
             * envelope keys win over result fields of the same name. */
            json_object_update_missing(r, result);
            /* A result field hidden by an envelope key ("status" of health) would be
             * lost; then the whole result also travels under "data". */
            if (json_object_get(result, "status") || json_object_get(result, "messageId") ||
                json_object_get(result, "message") || json_object_get(result, "code"))
                json_object_set_new(r, "data", json_incref(result));
        } else if (result && !json_is_null(result)) {
            json_object_set_new(r, "data", json_incref(result));
        }
        break;
    case TA_ENVELOPE_UNKNOWN:
        /* Undecodable input: address it in both dialects, the sender knows its own. */
        json_object_set_new(r, "messageId", json_null());
        json_object_set_new(r, "status", json_string("error"));
        json_object_set_new(r, "message", json_string(msg ? msg : "bad message"));
        json_object_set_new(r, "code", json_string(ta_strerror(err ? err->code : TA_EINVAL)));
        json_object_set_new(r, "request_id", json_string("unknown"));
        json_object_set_new(r, "success", json_false());
        break;
    }
    return r;
}

json_t *ta_envelope_event(const ta_envelope *env, const char *type, json_t *payload)
{
    return json_pack("{s:s,s:o,s:O?}", "type", type, ta_envelope_id_key(env), id_or_null(env),
                     "payload", payload);
}
