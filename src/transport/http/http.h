/*
 * http.h - the HTTP transport: the REST API over libmicrohttpd.
 *
 * Routes map (method, path) to router actions; bodies and query strings become the
 * action's params, validated by its schema. Replies are JSON; errors use OpenAI's
 * shape {"error":{"message","type","code"}}. Streaming actions answer with
 * Server-Sent Events. Also served: the OpenAPI 3.1 document generated from the route
 * table and the schemas, the docs UIs (Swagger UI, ReDoc, RapiDoc) from locally
 * installed assets, and static files from a web root. CORS per an origin list;
 * optional Bearer-token auth; limits on body and header size, connections and
 * idle time.
 *
 * Threading: one thread per connection (handlers may block for a long time, e.g.
 * generating text); a streaming handler runs on its own thread and hands events to
 * the connection thread through a small queue.
 */
#ifndef TA_TRANSPORT_HTTP_H
#define TA_TRANSPORT_HTTP_H

#include <stddef.h>

#include "../../handler/router.h"

typedef struct ta_http_config {
    const char *host;         /* listen address or name, e.g. "127.0.0.1", "::1" */
    int port;                 /* 0 = any free port */
    const char *api_key;      /* NULL or "" = no auth */
    const char *cors_origins; /* comma-separated patterns, see http_cors.c */
    const char *web_root;     /* NULL or "" = no static files */
    const char *docs_dir;     /* npm packages dir with the docs UI assets */
    size_t max_body_size;
    size_t max_header_size;
    unsigned max_connections;
    unsigned idle_timeout_s;
} ta_http_config;

typedef struct ta_http_server ta_http_server;

/* Binds and starts serving. TA_ECONFLICT with a clear message when the port is taken. */
ta_http_server *ta_http_start(const ta_http_config *cfg, ta_router *router, ta_error *err);

/* The port actually bound (useful with port 0). */
int ta_http_port(const ta_http_server *s);

/* Stops accepting, waits up to grace_ms for requests in flight (streams see their
 * sinks cancelled when the app is shutting down), then closes every connection. */
void ta_http_stop(ta_http_server *s, unsigned grace_ms);

#endif
