/*
 * native_host.c - see native_host.h.
 *
 * Threads: the caller's thread reads and decodes frames; each decoded request runs on
 * its own detached worker (at most max_inflight at once, so a flood of requests waits
 * in the pipe, not in memory). Workers write through one mutex, so frames never
 * interleave. Stop and EOF raise `cancelled`, which every sink reports.
 */
#include "native_host.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "frame.h"

struct ta_native_host {
    ta_router *router;
    ta_native_config cfg;
    pthread_mutex_t write_lock;
    pthread_mutex_t lock; /* guards inflight */
    pthread_cond_t changed;
    unsigned inflight;
    atomic_bool cancelled; /* EOF, stop, or the browser stopped reading */
    int stop_pipe[2];      /* wakes the reader out of poll() */
};

typedef struct native_req {
    ta_native_host *host;
    ta_envelope env;
    ta_sink sink;
} native_req;

/* ---- writing --------------------------------------------------------------------- */

/* Sends one JSON value, split into partial frames when it exceeds the frame limit. */
static int send_json(ta_native_host *h, const ta_envelope *env, json_t *msg)
{
    size_t len = 0;
    char *text = ta_json_dump(msg, &len);
    if (!text) return TA_ENOMEM;
    int rc = TA_OK;
    pthread_mutex_lock(&h->write_lock);
    if (len <= h->cfg.max_out_frame) {
        rc = ta_frame_write(h->cfg.out_fd, text, len);
    } else {
        /* Room for the envelope around a chunk: id (<= 256 bytes, escaped up to 6x)
         * plus the fixed keys. */
        size_t overhead = 6 * TA_ENVELOPE_ID_MAX + 128;
        size_t budget = h->cfg.max_out_frame > overhead + 64 ? h->cfg.max_out_frame - overhead : 64;
        size_t parts = 0;
        for (size_t at = 0; at < len; parts++)
            at = ta_frame_chunk_end(text, len, at, budget);
        size_t at = 0;
        for (size_t i = 1; i <= parts && rc == TA_OK; i++) {
            size_t end = ta_frame_chunk_end(text, len, at, budget);
            json_t *part = json_pack("{s:s,s:I,s:I,s:s%}", "type", "partial", "part", (json_int_t)i,
                                     "parts", (json_int_t)parts, "chunk", text + at, end - at);
            json_object_set_new(part, ta_envelope_id_key(env),
                                env->id ? json_incref(env->id) : json_null());
            size_t plen = 0;
            char *ptext = part ? ta_json_dump(part, &plen) : NULL;
            rc = ptext ? ta_frame_write(h->cfg.out_fd, ptext, plen) : TA_ENOMEM;
            free(ptext);
            json_decref(part);
            at = end;
        }
    }
    pthread_mutex_unlock(&h->write_lock);
    free(text);
    if (rc == TA_EIO) {
        /* The browser closed its end: nobody reads replies any more. */
        if (!atomic_exchange(&h->cancelled, true))
            ta_log_warn("native: output closed; cancelling requests");
    }
    return rc;
}

static void reply_error(ta_native_host *h, const ta_envelope *env, const ta_error *err)
{
    json_t *r = ta_envelope_reply(env, NULL, err);
    send_json(h, env, r);
    json_decref(r);
}

/* ---- the sink --------------------------------------------------------------------- */

static int sink_event(void *ctx, const char *type, json_t *payload)
{
    native_req *q = ctx;
    if (atomic_load(&q->host->cancelled)) return TA_ECANCELLED;
    json_t *ev = ta_envelope_event(&q->env, type, payload);
    int rc = send_json(q->host, &q->env, ev);
    json_decref(ev);
    return rc == TA_OK ? TA_OK : TA_ECANCELLED;
}

static void sink_end(void *ctx, json_t *result, const ta_error *err)
{
    native_req *q = ctx;
    json_t *r = ta_envelope_reply(&q->env, result, err);
    send_json(q->host, &q->env, r);
    json_decref(r);
}

static bool sink_cancelled(void *ctx)
{
    return atomic_load(&((native_req *)ctx)->host->cancelled);
}

static const ta_sink_ops native_sink_ops = {sink_event, sink_end, sink_cancelled};

/* ---- workers ---------------------------------------------------------------------- */

static void *worker(void *arg)
{
    native_req *q = arg;
    ta_native_host *h = q->host;
    ta_log_debug("native: %s", q->env.action);
    /* a request that does not say "stream" gets the action's default */
    bool stream =
        q->env.stream || (!json_object_get(q->env.params, "stream") &&
                          ta_action_streams_by_default(ta_router_find(h->router, q->env.action)));
    ta_router_dispatch(h->router, q->env.action, q->env.params, &q->sink, "native", stream);
    ta_envelope_clear(&q->env);
    free(q);
    pthread_mutex_lock(&h->lock);
    h->inflight--;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static void start_request(ta_native_host *h, const char *data, size_t len)
{
    native_req *q = calloc(1, sizeof *q);
    ta_error err;
    ta_error_clear(&err);
    if (!q) return;
    q->host = h;
    if (ta_envelope_decode(data, len, &q->env, &err) != TA_OK) {
        ta_log_debug("native: bad message: %s", err.message);
        reply_error(h, &q->env, &err);
        ta_envelope_clear(&q->env);
        free(q);
        return;
    }
    ta_sink_init(&q->sink, &native_sink_ops, q);

    pthread_mutex_lock(&h->lock);
    while (h->inflight >= h->cfg.max_inflight && !atomic_load(&h->cancelled))
        pthread_cond_wait(&h->changed, &h->lock);
    h->inflight++;
    pthread_mutex_unlock(&h->lock);

    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, worker, q) != 0) {
        /* No thread: serve it here rather than drop it. */
        worker(q);
    }
    pthread_attr_destroy(&attr);
}

/* ---- the reader ------------------------------------------------------------------- */

ta_native_host *ta_native_host_new(ta_router *router, const ta_native_config *cfg)
{
    ta_native_host *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->router = router;
    h->cfg = *cfg;
    if (!h->cfg.max_inflight) h->cfg.max_inflight = 16;
    if (!h->cfg.max_in_frame) h->cfg.max_in_frame = TA_NATIVE_MAX_IN;
    if (!h->cfg.max_out_frame) h->cfg.max_out_frame = TA_NATIVE_MAX_OUT;
    pthread_mutex_init(&h->write_lock, NULL);
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->changed, NULL);
    atomic_init(&h->cancelled, false);
    if (pipe2(h->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

void ta_native_host_stop(ta_native_host *h)
{
    atomic_store(&h->cancelled, true);
    ssize_t w = write(h->stop_pipe[1], "x", 1);
    (void)w;
    pthread_mutex_lock(&h->lock);
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
}

static void handle_event(ta_native_host *h, const ta_frame_event *ev)
{
    ta_envelope none = {0};
    ta_error err;
    switch (ev->kind) {
    case TA_FRAME_MESSAGE: start_request(h, ev->data, ev->len); break;
    case TA_FRAME_EMPTY:
        ta_error_set(&err, TA_EINVAL, "empty message (zero-length frame)");
        reply_error(h, &none, &err);
        break;
    case TA_FRAME_TOO_BIG:
        ta_error_set(&err, TA_ETOOBIG, "message of %u bytes exceeds the %u-byte limit; skipped",
                     ev->declared, h->cfg.max_in_frame);
        ta_log_warn("native: %s", err.message);
        reply_error(h, &none, &err);
        break;
    case TA_FRAME_NONE: break;
    }
}

int ta_native_host_run(ta_native_host *h)
{
    ta_frame_decoder dec;
    ta_frame_decoder_init(&dec, h->cfg.max_in_frame);
    enum { CHUNK = 64 * 1024 };
    uint8_t *buf = malloc(CHUNK);
    int rc = TA_OK;
    if (!buf) return TA_ENOMEM;
    while (!atomic_load(&h->cancelled)) {
        struct pollfd fds[2] = {{h->cfg.in_fd, POLLIN, 0}, {h->stop_pipe[0], POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            rc = TA_EIO;
            break;
        }
        if (fds[1].revents) break;
        ssize_t n = read(h->cfg.in_fd, buf, CHUNK);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            ta_log_error("native: read failed: %s", strerror(errno));
            rc = TA_EIO;
            break;
        }
        if (n == 0) {
            if (!ta_frame_decoder_idle(&dec)) ta_log_warn("native: input ended inside a frame");
            ta_log_info("native: input closed; stopping");
            break;
        }
        size_t at = 0;
        while (at < (size_t)n) {
            ta_frame_event ev;
            size_t used = ta_frame_decoder_feed(&dec, buf + at, (size_t)n - at, &ev);
            if (used == (size_t)-1) {
                ta_log_error("native: out of memory reading a frame");
                rc = TA_ENOMEM;
                goto done;
            }
            at += used;
            handle_event(h, &ev);
        }
    }
done:
    free(buf);
    ta_frame_decoder_free(&dec);
    /* Cancel what is still running and wait for it: replies of finished work are
     * written, nothing is left half-sent. */
    atomic_store(&h->cancelled, true);
    pthread_mutex_lock(&h->lock);
    while (h->inflight > 0)
        pthread_cond_wait(&h->changed, &h->lock);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

void ta_native_host_free(ta_native_host *h)
{
    if (!h) return;
    close(h->stop_pipe[0]);
    close(h->stop_pipe[1]);
    pthread_mutex_destroy(&h->write_lock);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->changed);
    free(h);
}
