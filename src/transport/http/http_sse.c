/*
 * http_sse.c - see http_sse.h.
 */
#include "http_sse.h"

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEEPALIVE_MS  15000 /* an SSE comment when idle, so proxies and we notice dead peers */
#define WAIT_SLICE_MS 100

typedef struct sse_stream {
    ta_router *router;
    char action[96];
    json_t *params;
    int sock;
    pthread_t thread;
    bool thread_started;
    ta_sink sink;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *buf; /* bytes not yet handed to the connection */
    size_t off, len, cap;
    bool done;    /* the handler has ended; buf holds the last bytes */
    bool started; /* an event was sent: from now on errors go into the stream */
    bool early;   /* ended with an error before any event: early_err, no bytes */
    ta_error early_err;
    atomic_bool gone; /* the client disconnected or the response was torn down */
} sse_stream;

bool ta_http_peer_gone(int sock)
{
    if (sock < 0) return false;
    struct pollfd p = {sock, POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Appends under the lock; false when out of memory. */
static bool append(sse_stream *s, const char *a, size_t alen, const char *b, size_t blen,
                   const char *c, size_t clen)
{
    size_t need = s->len + alen + blen + clen;
    if (need > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < need)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) return false;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, a, alen);
    memcpy(s->buf + s->len + alen, b, blen);
    memcpy(s->buf + s->len + alen + blen, c, clen);
    s->len = need;
    return true;
}

static bool append_data(sse_stream *s, json_t *value)
{
    size_t n = 0;
    char *text = ta_json_dump(value, &n);
    if (!text) return false;
    bool ok = append(s, "data: ", 6, text, n, "\n\n", 2);
    free(text);
    return ok;
}

static int sse_event(void *ctx, const char *type, json_t *payload)
{
    (void)type; /* OpenAI clients ignore named events; the payload carries its own type */
    sse_stream *s = ctx;
    if (atomic_load(&s->gone)) return TA_ECANCELLED;
    pthread_mutex_lock(&s->lock);
    bool ok = append_data(s, payload);
    s->started = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return ok ? TA_OK : TA_ENOMEM;
}

static void sse_end(void *ctx, json_t *result, const ta_error *err)
{
    sse_stream *s = ctx;
    pthread_mutex_lock(&s->lock);
    if (err && !s->started) { /* the response has not begun: it gets the real status */
        s->early = true;
        s->early_err = *err;
    } else if (err) {
        json_t *body = ta_json_error_body(err);
        append_data(s, body);
        json_decref(body);
    } else {
        if (result && !json_is_null(result)) append_data(s, result);
        append(s, "data: [DONE]\n\n", 14, "", 0, "", 0);
    }
    s->done = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static bool sse_cancelled(void *ctx)
{
    sse_stream *s = ctx;
    if (atomic_load(&s->gone)) return true;
    if (ta_http_peer_gone(s->sock)) {
        atomic_store(&s->gone, true);
        return true;
    }
    return false;
}

static const ta_sink_ops sse_ops = {sse_event, sse_end, sse_cancelled};

static void *run(void *arg)
{
    sse_stream *s = arg;
    ta_router_dispatch(s->router, s->action, s->params, &s->sink, "http", true);
    return NULL;
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    sse_stream *s = cls;
    long waited = 0;
    pthread_mutex_lock(&s->lock);
    while (s->off == s->len && !s->done) {
        if (atomic_load(&s->gone) || ta_http_peer_gone(s->sock)) {
            atomic_store(&s->gone, true);
            pthread_mutex_unlock(&s->lock);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (waited >= KEEPALIVE_MS) {
            append(s, ": keep-alive\n\n", 14, "", 0, "", 0);
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WAIT_SLICE_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        waited += WAIT_SLICE_MS;
    }
    size_t avail = s->len - s->off;
    if (avail == 0 && s->done) {
        pthread_mutex_unlock(&s->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = avail < max ? avail : max;
    memcpy(out, s->buf + s->off, n);
    s->off += n;
    if (s->off == s->len) s->off = s->len = 0;
    pthread_mutex_unlock(&s->lock);
    return (ssize_t)n;
}

static void destroy(void *cls)
{
    sse_stream *s = cls;
    /* Response finished or the client left: stop the handler and wait for it, so
     * nothing it touches outlives the stream. */
    atomic_store(&s->gone, true);
    if (s->thread_started) pthread_join(s->thread, NULL);
    json_decref(s->params);
    free(s->buf);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

/* Waits until the handler has sent its first event or ended; a client that leaves
 * meanwhile cancels it. */
static void wait_first(sse_stream *s)
{
    pthread_mutex_lock(&s->lock);
    while (!s->started && !s->done) {
        if (ta_http_peer_gone(s->sock)) {
            atomic_store(&s->gone, true);
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WAIT_SLICE_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
}

struct MHD_Response *ta_http_sse_start(ta_router *router, const char *action, json_t *params,
                                       int sock, ta_error *early)
{
    ta_error_clear(early);
    sse_stream *s = calloc(1, sizeof *s);
    if (!s) {
        json_decref(params);
        return NULL;
    }
    s->router = router;
    snprintf(s->action, sizeof s->action, "%s", action);
    s->params = params;
    s->sock = sock;
    atomic_init(&s->gone, false);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    ta_sink_init(&s->sink, &sse_ops, s);

    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, reader, s, destroy);
    if (!r) {
        destroy(s);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        MHD_destroy_response(r); /* calls destroy(s) */
        return NULL;
    }
    s->thread_started = true;
    wait_first(s);
    if (s->early) {
        *early = s->early_err;
        MHD_destroy_response(r); /* joins the handler */
        return NULL;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return r;
}
