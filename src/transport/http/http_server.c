/*
 * http_server.c - the libmicrohttpd daemon: request intake (limits, auth, CORS),
 * routing to actions, and replies. See http.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_internal.h"
#include "http_sse.h"

struct ta_http_server {
    struct MHD_Daemon *daemon;
    ta_router *router;
    char *host, *api_key, *cors, *web_root, *docs_dir;
    size_t max_body;
    int port;
    int listen_fd;
    char *openapi; /* generated once: routes and schemas are fixed after start */
    size_t openapi_len;
    atomic_int inflight;
};

/* How much of an oversized chunked body is read (and dropped) before the connection
 * is simply closed. */
#define DISCARD_MAX ((size_t)256 << 20)

typedef struct http_req {
    ta_http_server *srv;
    struct MHD_Connection *conn;
    char *body;
    size_t len, cap;
    bool too_big;
    size_t discarded;
} http_req;

/* ---- replies -------------------------------------------------------------------- */

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static void add_cors(http_req *rq, struct MHD_Response *r)
{
    const char *origin = header(rq->conn, "Origin");
    if (origin && ta_http_origin_allowed(rq->srv->cors, origin)) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Vary", "Origin");
    }
}

static MHD_Result_t queue(http_req *rq, unsigned status, struct MHD_Response *r)
{
    add_cors(rq, r);
    MHD_Result_t ret = MHD_queue_response(rq->conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends body (stolen) as JSON, with one optional extra header (name NULL for none). */
static MHD_Result_t reply_json_hdr(http_req *rq, unsigned status, json_t *body, const char *name,
                                   const char *value)
{
    size_t len = 0;
    char *text = ta_json_dump(body, &len);
    json_decref(body);
    if (!text) return MHD_NO;
    /* A trailing newline makes curl output and logs readable. */
    char *nl = realloc(text, len + 2);
    if (nl) {
        text = nl;
        text[len++] = '\n';
        text[len] = '\0';
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (name) MHD_add_response_header(r, name, value);
    return queue(rq, status, r);
}

static MHD_Result_t reply_json(http_req *rq, unsigned status, json_t *body)
{
    return reply_json_hdr(rq, status, body, NULL, NULL);
}

static MHD_Result_t reply_err(http_req *rq, const ta_error *err)
{
    /* 503 (busy, loading): tell clients when to come back */
    if (err->code == TA_EUNAVAILABLE)
        return reply_json_hdr(rq, 503, ta_json_error_body(err), "Retry-After", "1");
    return reply_json(rq, (unsigned)ta_error_http_status(err->code), ta_json_error_body(err));
}

__attribute__((format(printf, 3, 4))) static MHD_Result_t reply_errf(http_req *rq, int code,
                                                                     const char *fmt, ...)
{
    ta_error err;
    va_list ap;
    va_start(ap, fmt);
    ta_error_vset(&err, code, fmt, ap);
    va_end(ap);
    return reply_err(rq, &err);
}

/* ---- sinks for plain replies ---------------------------------------------------- */

typedef struct reply_sink {
    json_t *result;
    ta_error err;
    bool failed;
    int sock;
} reply_sink;

static int rs_event(void *ctx, const char *type, json_t *payload)
{
    (void)ctx, (void)type, (void)payload; /* a plain reply carries only the result */
    return TA_OK;
}

static void rs_end(void *ctx, json_t *result, const ta_error *err)
{
    reply_sink *s = ctx;
    if (err) {
        s->err = *err;
        s->failed = true;
    } else {
        s->result = result ? json_incref(result) : json_object();
    }
}

static bool rs_cancelled(void *ctx)
{
    return ta_http_peer_gone(((reply_sink *)ctx)->sock);
}

static const ta_sink_ops reply_ops = {rs_event, rs_end, rs_cancelled};

static int conn_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* ---- request handling ------------------------------------------------------------ */

typedef struct query_ctx {
    const ta_schema *schema;
    json_t *params;
    ta_error err;
    bool failed;
} query_ctx;

static MHD_Result_t on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    query_ctx *q = cls;
    if (q->failed || !key) return MHD_YES;
    if (json_object_get(q->params, key)) return MHD_YES; /* path parameters win */
    if (ta_values_set_from_text(q->schema, q->params, key, value ? value : "", &q->err)) {
        q->failed = true;
        return MHD_NO;
    }
    return MHD_YES;
}

static bool content_type_json(const char *ct)
{
    if (!ct) return false;
    while (*ct == ' ')
        ct++;
    size_t n = strcspn(ct, "; ");
    return (n == 16 && !strncasecmp(ct, "application/json", 16)) ||
           (n > 5 && !strncasecmp(ct + n - 5, "+json", 5) && !strncasecmp(ct, "application/", 12));
}

static bool auth_ok(http_req *rq)
{
    const char *key = rq->srv->api_key;
    if (!key || !*key) return true;
    const char *h = header(rq->conn, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ')
        h++;
    size_t a = strlen(h), b = strlen(key);
    /* Constant time in the key's length: no early exit on the first differing byte. */
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)(key[i] ^ (i < a ? h[i] : 0));
    return diff == 0;
}

static bool header_list_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == ',' || *s == ' '))
            return false;
    return true;
}

static MHD_Result_t preflight(http_req *rq)
{
    const char *origin = header(rq->conn, "Origin");
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    if (!origin) return queue(rq, 204, r);
    if (!ta_http_origin_allowed(rq->srv->cors, origin)) {
        MHD_destroy_response(r);
        return reply_errf(rq, TA_EFORBIDDEN, "origin '%.128s' is not allowed (see --cors-origins)",
                          origin);
    }
    const char *req_headers = header(rq->conn, "Access-Control-Request-Headers");
    MHD_add_response_header(r, "Access-Control-Allow-Methods",
                            "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers",
                            req_headers && header_list_ok(req_headers) && strlen(req_headers) < 1024
                                ? req_headers
                                : "Authorization, Content-Type");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    const char *pna = header(rq->conn, "Access-Control-Request-Private-Network");
    if (pna && !strcmp(pna, "true"))
        MHD_add_response_header(r, "Access-Control-Allow-Private-Network", "true");
    return queue(rq, 204, r);
}

static MHD_Result_t serve_unrouted(http_req *rq, const char *url, const char *method)
{
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return reply_errf(rq, TA_ENOTFOUND, "no route for %s %.200s", method, url);
    int status = 404;
    struct MHD_Response *r = NULL;
    if (!strncmp(url, "/docs/assets/", 13)) {
        r = ta_http_docs_asset(rq->srv->docs_dir, url, &status);
        if (!r && status == 503)
            return reply_errf(rq, TA_EUNAVAILABLE,
                              "docs UI assets are not installed in %s (run scripts/setup.sh)",
                              rq->srv->docs_dir);
    } else if (rq->srv->web_root) {
        r = ta_http_static_file(rq->srv->web_root, url, &status);
    } else if (!strcmp(url, "/")) {
        return reply_json(rq, 200,
                          json_pack("{s:s,s:s,s:s,s:s}", "name", "tabagent", "version", TA_VERSION,
                                    "docs", "/docs", "openapi", "/api-doc/openapi.json"));
    }
    if (r) return queue(rq, (unsigned)status, r);
    if (status == 403) return reply_errf(rq, TA_EFORBIDDEN, "path not allowed: %.200s", url);
    return reply_errf(rq, TA_ENOTFOUND, "no route for %s %.200s", method, url);
}

static MHD_Result_t run_action(http_req *rq, const ta_http_route *rt, json_t *params)
{
    ta_http_server *srv = rq->srv;
    char name[96];
    if (rt->action) {
        snprintf(name, sizeof name, "%s", rt->action);
    } else {
        snprintf(name, sizeof name, "%s", ta_json_str(params, "action", ""));
        json_object_del(params, "action");
    }
    const ta_action *a = ta_router_find(srv->router, name);
    if (!a) {
        json_decref(params);
        return reply_errf(rq, TA_ENOTFOUND, "unknown action '%.64s'", name);
    }

    /* Body: a JSON object; path parameters are set over it. */
    if (rq->len > 0) {
        const char *ct = header(rq->conn, "Content-Type");
        if (!content_type_json(ct)) {
            json_decref(params);
            return reply_errf(rq, TA_EMEDIATYPE,
                              "unsupported Content-Type '%.64s': send application/json",
                              ct ? ct : "(none)");
        }
        ta_error err;
        json_t *body = ta_json_parse(rq->body, rq->len, &err);
        if (!body) {
            json_decref(params);
            ta_error_prefix(&err, "request body: ");
            return reply_err(rq, &err);
        }
        if (!json_is_object(body)) {
            json_decref(params);
            ta_error_set(&err, TA_EINVAL, "request body: expected a JSON object, got %s",
                         ta_json_type_name(body));
            json_decref(body);
            return reply_err(rq, &err);
        }
        json_object_update(body, params);
        json_decref(params);
        params = body;
    }
    query_ctx q = {.schema = a->request, .params = params, .failed = false};
    MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, on_query_arg, &q);
    if (q.failed) {
        json_decref(params);
        return reply_err(rq, &q.err);
    }

    const char *accept = header(rq->conn, "Accept");
    const json_t *sv = json_object_get(params, "stream");
    bool stream = json_is_true(sv) || (!sv && ta_action_streams_by_default(a)) ||
                  (accept && strstr(accept, "text/event-stream"));
    int sock = conn_fd(rq->conn);
    if (stream && (a->flags & TA_ACTION_STREAMS)) {
        /* Bad parameters get a plain 400, not a stream that starts and then fails. */
        ta_error err;
        if (a->request && ta_values_validate(a->request, params, &err) != TA_OK) {
            json_decref(params);
            return reply_err(rq, &err);
        }
        /* A stream may be quiet for longer than the idle timeout between events; its
         * liveness is watched through the socket and keep-alive comments instead. */
        MHD_set_connection_option(rq->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
        ta_error early;
        struct MHD_Response *r = ta_http_sse_start(srv->router, name, params, sock, &early);
        if (!r && early.code) return reply_err(rq, &early);
        if (!r) return reply_errf(rq, TA_EINTERNAL, "cannot start the stream");
        return queue(rq, 200, r);
    }

    reply_sink rs = {.result = NULL, .failed = false, .sock = sock};
    ta_sink sink;
    ta_sink_init(&sink, &reply_ops, &rs);
    ta_router_dispatch(srv->router, name, params, &sink, "http", false);
    json_decref(params);
    if (rs.failed) return reply_err(rq, &rs.err);
    return reply_json(rq, 200, rs.result);
}

static MHD_Result_t handle(http_req *rq, const char *url, const char *method)
{
    ta_http_server *srv = rq->srv;
    if (!strcmp(method, "OPTIONS")) return preflight(rq);

    char allow[128];
    json_t *params = json_object();
    const ta_http_route *rt = ta_http_route_match(method, url, params, allow, sizeof allow);
    if (!rt) {
        json_decref(params);
        if (allow[0]) {
            ta_error err;
            ta_error_set(&err, TA_EMETHOD, "method %s not allowed on %.200s (allowed: %s)", method,
                         url, allow);
            return reply_json_hdr(rq, 405, ta_json_error_body(&err), "Allow", allow);
        }
        return serve_unrouted(rq, url, method);
    }
    if (!(rt->flags & TA_ROUTE_PUBLIC) && !auth_ok(rq)) {
        json_decref(params);
        ta_error err;
        ta_error_set(&err, TA_EUNAUTH,
                     "missing or invalid API key: send 'Authorization: Bearer <key>'");
        return reply_json_hdr(rq, 401, ta_json_error_body(&err), "WWW-Authenticate", "Bearer");
    }
    switch (rt->builtin) {
    case TA_BUILTIN_OPENAPI: {
        json_decref(params);
        struct MHD_Response *r =
            MHD_create_response_from_buffer(srv->openapi_len, srv->openapi, MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "application/json");
        return queue(rq, 200, r);
    }
    case TA_BUILTIN_SWAGGER:
    case TA_BUILTIN_REDOC:
    case TA_BUILTIN_RAPIDOC: {
        json_decref(params);
        struct MHD_Response *r = ta_http_docs_page(rt->builtin);
        return r ? queue(rq, 200, r) : MHD_NO;
    }
    case TA_BUILTIN_NONE: break;
    }
    return run_action(rq, rt, params);
}

static MHD_Result_t on_request(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)version;
    ta_http_server *srv = cls;
    http_req *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        rq->srv = srv;
        rq->conn = conn;
        *con_cls = rq;
        atomic_fetch_add(&srv->inflight, 1);
        const char *cl = header(conn, "Content-Length");
        if (cl) {
            char *end = NULL;
            unsigned long long n = strtoull(cl, &end, 10);
            if (end && *end == '\0' && n > srv->max_body)
                return reply_errf(rq, TA_ETOOBIG,
                                  "request body of %llu bytes exceeds the limit of %zu bytes "
                                  "(--max-body-size)",
                                  n, srv->max_body);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (rq->too_big || rq->len + n > srv->max_body) {
            /* A body without Content-Length (chunked) over the limit: libmicrohttpd
             * cannot reply before the body is read, so drop what comes and answer 413 at
             * the end; a runaway stream is cut off. */
            rq->too_big = true;
            rq->discarded += n;
            return rq->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            while (cap < rq->len + n + 1)
                cap *= 2;
            char *nb = realloc(rq->body, cap);
            if (!nb) return MHD_NO;
            rq->body = nb;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload, n);
        rq->len += n;
        rq->body[rq->len] = '\0';
        return MHD_YES;
    }
    if (rq->too_big)
        return reply_errf(rq, TA_ETOOBIG, "request body exceeds the limit of %zu bytes",
                          srv->max_body);
    return handle(rq, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn, (void)toe;
    ta_http_server *srv = cls;
    http_req *rq = *con_cls;
    if (!rq) return;
    free(rq->body);
    free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    ta_log_debug("http: %s", msg);
}

/* ---- lifecycle ------------------------------------------------------------------- */

static int open_listener(const char *host, int port, int *out_fd, bool *ipv6, ta_error *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    int gai = getaddrinfo(host, ports, &hints, &res);
    if (gai != 0)
        return ta_error_set(err, TA_EINVAL, "cannot resolve listen address '%s': %s", host,
                            gai_strerror(gai));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return ta_error_set(err, TA_EIO, "socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    *ipv6 = res->ai_family == AF_INET6;
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        int e = errno;
        freeaddrinfo(res);
        close(fd);
        if (e == EADDRINUSE)
            return ta_error_set(err, TA_ECONFLICT,
                                "port %d on %s is already in use (is another tabagent-server "
                                "running?); choose another with --port or TABAGENT_PORT",
                                port, host);
        return ta_error_set(err, TA_EIO, "cannot listen on %s:%d: %s", host, port, strerror(e));
    }
    freeaddrinfo(res);
    if (listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        return ta_error_set(err, TA_EIO, "listen: %s", strerror(e));
    }
    *out_fd = fd;
    return TA_OK;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static void free_server(ta_http_server *s)
{
    free(s->host);
    free(s->api_key);
    free(s->cors);
    free(s->web_root);
    free(s->docs_dir);
    free(s->openapi);
    free(s);
}

ta_http_server *ta_http_start(const ta_http_config *cfg, ta_router *router, ta_error *err)
{
    ta_http_server *s = calloc(1, sizeof *s);
    if (!s) {
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    s->router = router;
    s->host = strdup(cfg->host && *cfg->host ? cfg->host : "127.0.0.1");
    s->api_key = dup_or_null(cfg->api_key);
    s->cors = strdup(cfg->cors_origins ? cfg->cors_origins : "");
    s->web_root = dup_or_null(cfg->web_root);
    s->docs_dir = strdup(cfg->docs_dir && *cfg->docs_dir ? cfg->docs_dir : ".");
    s->max_body = cfg->max_body_size ? cfg->max_body_size : (32u << 20);
    atomic_init(&s->inflight, 0);

    json_t *doc = ta_http_openapi(router, s->api_key != NULL);
    s->openapi = ta_json_dump(doc, &s->openapi_len);
    json_decref(doc);
    if (!s->openapi) {
        ta_error_set(err, TA_ENOMEM, "cannot build the OpenAPI document");
        free_server(s);
        return NULL;
    }

    bool ipv6 = false;
    if (open_listener(s->host, cfg->port, &s->listen_fd, &ipv6, err) != TA_OK) {
        free_server(s);
        return NULL;
    }
    s->port = bound_port(s->listen_fd);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ipv6) flags |= MHD_USE_IPv6;
    size_t header_mem = cfg->max_header_size ? cfg->max_header_size : (64u << 10);
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_LISTEN_SOCKET, s->listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections ? cfg->max_connections : 256u,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s ? cfg->idle_timeout_s : 60u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, header_mem, MHD_OPTION_END);
    if (!s->daemon) {
        close(s->listen_fd);
        ta_error_set(err, TA_EIO, "cannot start the HTTP server on %s:%d", s->host, s->port);
        free_server(s);
        return NULL;
    }
    return s;
}

int ta_http_port(const ta_http_server *s)
{
    return s->port;
}

void ta_http_stop(ta_http_server *s, unsigned grace_ms)
{
    if (!s) return;
    int fd = MHD_quiesce_daemon(s->daemon);
    if (fd >= 0) close(fd);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int n = atomic_load(&s->inflight);
        if (n <= 0) break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (ms >= (long)grace_ms) {
            ta_log_warn("http: %d request(s) still running after %u ms; closing them", n, grace_ms);
            break;
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->daemon);
    free_server(s);
}
