/*
 * error.c - the ta_error record and the code tables.
 */
#include "error.h"

#include <stdio.h>
#include <string.h>

int ta_error_vset(ta_error *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    }
    return code;
}

int ta_error_set(ta_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ta_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void ta_error_prefix(ta_error *err, const char *fmt, ...)
{
    if (!err) return;
    char prefix[TA_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[2 * TA_ERROR_MSG_MAX];
    snprintf(joined, sizeof joined, "%s%s", prefix, err->message);
    memcpy(err->message, joined, TA_ERROR_MSG_MAX - 1);
    err->message[TA_ERROR_MSG_MAX - 1] = '\0';
}

void ta_error_clear(ta_error *err)
{
    if (!err) return;
    err->code = TA_OK;
    err->message[0] = '\0';
}

static const struct {
    int code;
    const char *name;
    int http;
    const char *openai_type;
} codes[] = {
    {TA_OK, "ok", 200, "none"},
    {TA_EINVAL, "invalid_request", 400, "invalid_request_error"},
    {TA_EUNAUTH, "unauthorized", 401, "authentication_error"},
    {TA_EFORBIDDEN, "forbidden", 403, "permission_error"},
    {TA_ENOTFOUND, "not_found", 404, "not_found_error"},
    {TA_EMETHOD, "method_not_allowed", 405, "invalid_request_error"},
    {TA_ETOOBIG, "too_large", 413, "invalid_request_error"},
    {TA_EMEDIATYPE, "unsupported_media_type", 415, "invalid_request_error"},
    {TA_EINTERNAL, "internal_error", 500, "server_error"},
    {TA_EUNAVAILABLE, "unavailable", 503, "server_error"},
    {TA_ENOMEM, "out_of_memory", 500, "server_error"},
    {TA_EIO, "io_error", 500, "server_error"},
    {TA_ECANCELLED, "cancelled", 499, "cancelled"},
    {TA_ECONFLICT, "conflict", 409, "invalid_request_error"},
};

static int find(int code)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == code) return (int)i;
    return 8; /* unknown codes are internal errors */
}

const char *ta_strerror(int code)
{
    return codes[find(code)].name;
}

int ta_error_http_status(int code)
{
    return codes[find(code)].http;
}

const char *ta_error_openai_type(int code)
{
    return codes[find(code)].openai_type;
}
