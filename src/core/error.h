/*
 * error.h - status codes and the error record every module fills.
 *
 * Functions return int: 0 for success, a negative TA_E* code otherwise. Where the
 * caller needs words for a user, the function also fills a ta_error (code + message).
 * Each code maps to one HTTP status and one OpenAI-style error type, so transports
 * never guess from message text.
 */
#ifndef TA_CORE_ERROR_H
#define TA_CORE_ERROR_H

#include <stdarg.h>
#include <stddef.h>

enum {
    TA_OK = 0,
    TA_EINVAL = -1,       /* bad request: validation, malformed input   -> 400 */
    TA_EUNAUTH = -2,      /* missing or wrong credentials                -> 401 */
    TA_EFORBIDDEN = -3,   /* not allowed (origin, path)                  -> 403 */
    TA_ENOTFOUND = -4,    /* no such route, action, file                 -> 404 */
    TA_EMETHOD = -5,      /* method not allowed on this path             -> 405 */
    TA_ETOOBIG = -6,      /* body or frame larger than the limit         -> 413 */
    TA_EMEDIATYPE = -7,   /* unsupported Content-Type                    -> 415 */
    TA_EINTERNAL = -8,    /* a bug or an unexpected failure              -> 500 */
    TA_EUNAVAILABLE = -9, /* busy, loading, shutting down, not built yet -> 503 */
    TA_ENOMEM = -10,      /* allocation failed                           -> 500 */
    TA_EIO = -11,         /* file or socket error                        -> 500 */
    TA_ECANCELLED = -12,  /* the client went away or the server stops    -> 499 */
    TA_ECONFLICT = -13,   /* state conflict (address in use, exists)     -> 409 */
};

#define TA_ERROR_MSG_MAX 512

typedef struct ta_error {
    int code;                       /* TA_OK or a TA_E* code */
    char message[TA_ERROR_MSG_MAX]; /* human-readable, no trailing newline */
} ta_error;

/* Sets code and a printf-style message; returns code so callers can
 * `return ta_error_set(err, TA_EINVAL, "...")`. err may be NULL. */
int ta_error_set(ta_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ta_error_vset(ta_error *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Prefixes the existing message with "prefix: " (used to add field paths). */
void ta_error_prefix(ta_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void ta_error_clear(ta_error *err);

/* Short symbolic name of a code, e.g. "invalid_request". */
const char *ta_strerror(int code);

/* HTTP status for a code (400, 401, ...; 200 for TA_OK). */
int ta_error_http_status(int code);

/* OpenAI error "type" for a code: invalid_request_error, authentication_error, ... */
const char *ta_error_openai_type(int code);

#endif
