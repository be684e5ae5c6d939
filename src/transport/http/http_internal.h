/*
 * http_internal.h - what the files of the HTTP transport share; not for other modules.
 */
#ifndef TA_HTTP_INTERNAL_H
#define TA_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "http.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

/* ---- routes (http_routes.c) ---- */

enum {
    TA_ROUTE_PUBLIC = 1u << 0, /* no API key needed */
    TA_ROUTE_HIDDEN = 1u << 1, /* an alias: not listed in the OpenAPI document */
};

typedef enum {
    TA_BUILTIN_NONE = 0, /* a router action */
    TA_BUILTIN_OPENAPI,
    TA_BUILTIN_SWAGGER,
    TA_BUILTIN_REDOC,
    TA_BUILTIN_RAPIDOC,
} ta_builtin;

typedef struct ta_http_route {
    const char *method;  /* "GET", "POST", "DELETE", ... */
    const char *pattern; /* "/v1/health", "/v1/actions/{action}" */
    const char *action;  /* router action; NULL takes it from the {action} path segment */
    ta_builtin builtin;
    unsigned flags;
    const char *tag; /* OpenAPI tag */
} ta_http_route;

size_t ta_http_route_count(void);
const ta_http_route *ta_http_route_at(size_t i);

/* Finds the route for (method, path); on a match fills path parameters into params
 * (may be NULL). When the path exists with other methods, *allow gets them
 * ("GET, POST") and NULL is returned. */
const ta_http_route *ta_http_route_match(const char *method, const char *path, json_t *params,
                                         char *allow, size_t allow_cap);

/* ---- CORS (http_cors.c) ---- */

/* True when origin matches one of the comma-separated patterns. */
bool ta_http_origin_allowed(const char *patterns, const char *origin);

/* ---- static files and docs pages (http_static.c) ---- */

/* Serves path below root safely (no traversal, no symlink escape, regular files
 * only); NULL when there is nothing to serve, with *status set (404/403). */
struct MHD_Response *ta_http_static_file(const char *root, const char *path, int *status);
struct MHD_Response *ta_http_docs_page(ta_builtin which);
/* /docs/assets/<ui>/<file> -> the npm package's file. */
struct MHD_Response *ta_http_docs_asset(const char *docs_dir, const char *path, int *status);

/* ---- OpenAPI (http_openapi.c) ---- */

json_t *ta_http_openapi(const ta_router *router, bool auth_enabled);

#endif
