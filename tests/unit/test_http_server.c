/*
 * test_http_server.c - the HTTP transport in-process, over raw sockets: a client that
 * disconnects cancels its handler (streamed or not), SSE events arrive one by one,
 * and stop() ends in-flight streams when the app shuts down.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport/http/http.h"

static atomic_int saw_cancel;
static atomic_int running;

/* Emits a tick every 10 ms (when streaming) until cancelled. */
static int do_wait(ta_call *call)
{
    atomic_fetch_add(&running, 1);
    for (int i = 0; i < 3000; i++) {
        if (ta_call_cancelled(call)) {
            atomic_fetch_add(&saw_cancel, 1);
            atomic_fetch_sub(&running, 1);
            return ta_call_fail(call, TA_ECANCELLED, "cancelled");
        }
        if (call->stream) {
            json_t *ev = json_pack("{s:i}", "tick", i);
            ta_call_event(call, "tick", ev);
            json_decref(ev);
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_sub(&running, 1);
    return ta_call_reply(call, json_pack("{s:b}", "timeout", 1));
}

static const ta_action wait_action = {"wait", "test", NULL, NULL, do_wait, TA_ACTION_STREAMS};

typedef struct fixture {
    ta_app app;
    ta_router *router;
    ta_http_server *server;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    static char dir[] = "/tmp/ta_http_XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("XDG_DATA_HOME", dir, 1);
    ta_error err;
    assert_int_equal(ta_app_init(&f->app, NULL, NULL, &err), TA_OK);
    f->router = ta_router_new(&f->app);
    ta_router_add_core_actions(f->router);
    ta_router_add(f->router, &wait_action);
    ta_http_config cfg = {.host = "127.0.0.1", .port = 0, .cors_origins = "", .docs_dir = "."};
    f->server = ta_http_start(&cfg, f->router, &err);
    assert_non_null(f->server);
    assert_true(ta_http_port(f->server) > 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    atomic_store(&f->app.shutting_down, true);
    ta_http_stop(f->server, 2000);
    ta_router_free(f->router);
    free(f);
    return 0;
}

static int connect_to(fixture *f)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)ta_http_port(f->server))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    return s;
}

static void send_request(int s, const char *body)
{
    char req[512];
    int n =
        snprintf(req, sizeof req,
                 "POST /v1/actions/wait HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 strlen(body), body);
    assert_int_equal(send(s, req, (size_t)n, 0), n);
}

static bool wait_for(atomic_int *v, int want, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (atomic_load(v) >= want) return true;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return atomic_load(v) >= want;
}

static void test_stream_disconnect_cancels(void **state)
{
    fixture *f = *state;
    atomic_store(&saw_cancel, 0);
    int s = connect_to(f);
    send_request(s, "{\"stream\":true}");
    /* Read until two events have arrived: they come one by one, not at the end. */
    char buf[8192];
    size_t have = 0;
    int events = 0;
    while (events < 2 && have < sizeof buf - 1) {
        ssize_t n = recv(s, buf + have, sizeof buf - 1 - have, 0);
        assert_true(n > 0);
        have += (size_t)n;
        buf[have] = '\0';
        events = 0;
        for (char *p = buf; (p = strstr(p, "data: {\"tick\"")); p++)
            events++;
    }
    assert_non_null(strstr(buf, "Content-Type: text/event-stream"));
    close(s);
    assert_true(wait_for(&saw_cancel, 1, 5000));
}

static void test_plain_disconnect_cancels(void **state)
{
    fixture *f = *state;
    atomic_store(&saw_cancel, 0);
    atomic_store(&running, 0);
    int s = connect_to(f);
    send_request(s, "{}");
    assert_true(wait_for(&running, 1, 5000));
    close(s);
    assert_true(wait_for(&saw_cancel, 1, 5000));
}

static void test_stop_ends_streams(void **state)
{
    fixture *f = *state;
    atomic_store(&saw_cancel, 0);
    atomic_store(&running, 0);
    int s = connect_to(f);
    send_request(s, "{\"stream\":true}");
    assert_true(wait_for(&running, 1, 5000));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    atomic_store(&f->app.shutting_down, true);
    ta_http_stop(f->server, 5000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 4); /* ended by cancellation, not by the grace time */
    assert_int_equal(atomic_load(&saw_cancel), 1);
    /* The client got a proper end: an error event, then the connection closes. */
    char buf[65536];
    size_t have = 0;
    ssize_t n;
    while ((n = recv(s, buf + have, sizeof buf - 1 - have, 0)) > 0 && have < sizeof buf - 1)
        have += (size_t)n;
    buf[have] = '\0';
    assert_non_null(strstr(buf, "\"code\":\"cancelled\""));
    close(s);
    ta_error err;
    ta_http_config cfg = {.host = "127.0.0.1", .port = 0, .cors_origins = "", .docs_dir = "."};
    atomic_store(&f->app.shutting_down, false);
    f->server = ta_http_start(&cfg, f->router, &err); /* for teardown */
    assert_non_null(f->server);
}

static void test_port_in_use(void **state)
{
    fixture *f = *state;
    ta_error err;
    ta_http_config cfg = {.host = "127.0.0.1", .port = ta_http_port(f->server), .cors_origins = ""};
    ta_http_server *second = ta_http_start(&cfg, f->router, &err);
    assert_null(second);
    assert_int_equal(err.code, TA_ECONFLICT);
    assert_non_null(strstr(err.message, "already in use"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_disconnect_cancels),
        cmocka_unit_test(test_plain_disconnect_cancels),
        cmocka_unit_test(test_stop_ends_streams),
        cmocka_unit_test(test_port_in_use),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
