/*
 * test_native.c - native messaging: the frame decoder, the envelopes, and the host
 * driven through pipes in-process (the process-level test is in tests/integration).
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport/native/envelope.h"
#include "transport/native/frame.h"
#include "transport/native/native_host.h"

static void put_frame(uint8_t *out, size_t *at, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    memcpy(out + *at, &n, 4);
    memcpy(out + *at + 4, s, n);
    *at += 4 + n;
}

/* ---- frame decoder ---- */

static void test_decoder_any_split(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t len = 0;
    put_frame(buf, &len, "{\"a\":1}");
    uint32_t zero = 0;
    memcpy(buf + len, &zero, 4);
    len += 4;
    put_frame(buf, &len, "[2]");
    /* Every chunk size from 1 byte to all at once gives the same events. */
    for (size_t step = 1; step <= len; step++) {
        ta_frame_decoder d;
        ta_frame_decoder_init(&d, 1024);
        int got = 0;
        for (size_t at = 0; at < len;) {
            size_t n = len - at < step ? len - at : step;
            size_t off = 0;
            while (off < n) {
                ta_frame_event ev;
                size_t used = ta_frame_decoder_feed(&d, buf + at + off, n - off, &ev);
                assert_true(used > 0 || ev.kind != TA_FRAME_NONE);
                off += used;
                if (ev.kind == TA_FRAME_MESSAGE) {
                    if (got == 0) assert_memory_equal(ev.data, "{\"a\":1}", 7);
                    if (got == 2) assert_memory_equal(ev.data, "[2]", 3);
                    assert_true(got == 0 || got == 2);
                    got++;
                } else if (ev.kind == TA_FRAME_EMPTY) {
                    assert_int_equal(got, 1);
                    got++;
                }
            }
            at += n;
        }
        assert_int_equal(got, 3);
        assert_true(ta_frame_decoder_idle(&d));
        ta_frame_decoder_free(&d);
    }
}

static void test_decoder_skips_oversized(void **state)
{
    (void)state;
    ta_frame_decoder d;
    ta_frame_decoder_init(&d, 16);
    uint8_t buf[128];
    size_t len = 0;
    put_frame(buf, &len, "{\"this is\":\"too long for 16\"}");
    put_frame(buf, &len, "{\"ok\":1}");
    int too_big = 0, msgs = 0;
    for (size_t at = 0; at < len;) {
        ta_frame_event ev;
        at += ta_frame_decoder_feed(&d, buf + at, len - at, &ev);
        if (ev.kind == TA_FRAME_TOO_BIG) {
            too_big++;
            assert_int_equal(ev.declared, 29);
        }
        if (ev.kind == TA_FRAME_MESSAGE) {
            msgs++;
            assert_memory_equal(ev.data, "{\"ok\":1}", 8);
        }
    }
    assert_int_equal(too_big, 1);
    assert_int_equal(msgs, 1);
    ta_frame_decoder_free(&d);
}

static void test_decoder_lying_header_allocates_nothing_big(void **state)
{
    (void)state;
    ta_frame_decoder d;
    ta_frame_decoder_init(&d, TA_NATIVE_MAX_IN);
    uint32_t n = TA_NATIVE_MAX_IN; /* claims 64 MiB, sends 3 bytes */
    uint8_t buf[7];
    memcpy(buf, &n, 4);
    memcpy(buf + 4, "abc", 3);
    ta_frame_event ev;
    size_t used = 0;
    while (used < sizeof buf)
        used += ta_frame_decoder_feed(&d, buf + used, sizeof buf - used, &ev);
    assert_int_equal(ev.kind, TA_FRAME_NONE);
    assert_true(d.cap <= 4096);
    assert_false(ta_frame_decoder_idle(&d));
    ta_frame_decoder_free(&d);
}

static void test_chunk_end(void **state)
{
    (void)state;
    const char *s = "ab\xc3\xa9"
                    "cd"; /* a b é c d */
    size_t len = strlen(s);
    assert_int_equal(ta_frame_chunk_end(s, len, 0, 3), 2); /* never splits é */
    assert_int_equal(ta_frame_chunk_end(s, len, 0, 4), 4);
    assert_int_equal(ta_frame_chunk_end(s, len, 2, 1), 4); /* progress even if too small */
    const char *q = "a\"b\n";
    assert_int_equal(ta_frame_chunk_end(q, 4, 0, 2), 1); /* '"' costs 2 escaped */
    assert_int_equal(ta_frame_chunk_end(q, 4, 0, 3), 2);
    assert_int_equal(ta_frame_chunk_end(q, 4, 0, 100), 4);
}

/* ---- envelopes ---- */

static void test_envelope_action_dialect(void **state)
{
    (void)state;
    ta_envelope env;
    ta_error err;
    const char *m = "{\"action\":\"ping\",\"messageId\":\"msg_1_2\",\"count\":2,\"stream\":true}";
    assert_int_equal(ta_envelope_decode(m, strlen(m), &env, &err), TA_OK);
    assert_int_equal(env.style, TA_ENVELOPE_ACTION);
    assert_string_equal(env.action, "ping");
    assert_true(env.stream);
    assert_null(json_object_get(env.params, "action"));
    assert_null(json_object_get(env.params, "messageId"));
    assert_int_equal(ta_json_int(env.params, "count", 0), 2);
    json_t *result = json_pack("{s:s,s:s}", "response", "pong", "status", "ok");
    json_t *r = ta_envelope_reply(&env, result, NULL);
    assert_string_equal(ta_json_str(r, "messageId", ""), "msg_1_2");
    assert_string_equal(ta_json_str(r, "status", ""), "success");
    assert_string_equal(ta_json_str(r, "response", ""), "pong");
    /* The result's own "status" is kept under data. */
    assert_string_equal(ta_json_str(json_object_get(r, "data"), "status", ""), "ok");
    json_decref(r);
    json_decref(result);
    ta_error_set(&err, TA_EINVAL, "count: bad");
    r = ta_envelope_reply(&env, NULL, &err);
    assert_string_equal(ta_json_str(r, "status", ""), "error");
    assert_string_equal(ta_json_str(r, "message", ""), "count: bad");
    json_decref(r);
    json_t *p = json_pack("{s:i}", "seq", 1);
    json_t *ev = ta_envelope_event(&env, "pong", p);
    assert_string_equal(ta_json_str(ev, "type", ""), "pong");
    assert_string_equal(ta_json_str(ev, "messageId", ""), "msg_1_2");
    assert_int_equal(ta_json_int(json_object_get(ev, "payload"), "seq", 0), 1);
    json_decref(ev);
    json_decref(p);
    ta_envelope_clear(&env);
}

static void test_envelope_route_dialect(void **state)
{
    (void)state;
    ta_envelope env;
    ta_error err;
    const char *m = "{\"route\":\"get-system-info\",\"request_id\":\"r9\",\"payload\":null}";
    assert_int_equal(ta_envelope_decode(m, strlen(m), &env, &err), TA_OK);
    assert_int_equal(env.style, TA_ENVELOPE_ROUTE);
    assert_string_equal(env.action, "get_system_info");
    json_t *res = json_pack("{s:i}", "cores", 2);
    json_t *r = ta_envelope_reply(&env, res, NULL);
    assert_string_equal(ta_json_str(r, "request_id", ""), "r9");
    assert_true(json_is_true(json_object_get(r, "success")));
    assert_int_equal(ta_json_int(json_object_get(r, "data"), "cores", 0), 2);
    json_decref(r);
    json_decref(res);
    ta_error_set(&err, TA_ENOTFOUND, "unknown action");
    r = ta_envelope_reply(&env, NULL, &err);
    assert_true(json_is_false(json_object_get(r, "success")));
    assert_string_equal(ta_json_str(json_object_get(r, "error"), "code", ""), "ROUTE_NOT_FOUND");
    json_decref(r);
    ta_envelope_clear(&env);
}

static void test_envelope_errors(void **state)
{
    (void)state;
    struct {
        const char *in, *msg;
        int style;
        bool has_id;
    } cases[] = {
        {"{\"action\":", "invalid JSON", TA_ENVELOPE_UNKNOWN, false},
        {"[1,2]", "message: expected a JSON object, got array", TA_ENVELOPE_UNKNOWN, false},
        {"{\"messageId\":\"x\"}", "action: required", TA_ENVELOPE_ACTION, true},
        {"{\"action\":5,\"messageId\":\"x\"}", "action: expected string, got integer",
         TA_ENVELOPE_ACTION, true},
        {"{\"action\":\"a b\",\"messageId\":\"x\"}", "action: expected a name", TA_ENVELOPE_ACTION,
         true},
        {"{\"action\":\"ping\",\"messageId\":[1]}", "messageId: expected string",
         TA_ENVELOPE_ACTION, false},
        {"{\"route\":\"ping\",\"request_id\":\"r\",\"payload\":7}", "payload: expected object",
         TA_ENVELOPE_ROUTE, true},
        {"{\"action\":\"p\xff\"}", "invalid JSON", TA_ENVELOPE_UNKNOWN, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ta_envelope env;
        ta_error err;
        assert_int_equal(ta_envelope_decode(cases[i].in, strlen(cases[i].in), &env, &err),
                         TA_EINVAL);
        if (!strstr(err.message, cases[i].msg)) fail_msg("case %zu: %s", i, err.message);
        assert_int_equal(env.style, cases[i].style);
        assert_int_equal(env.id != NULL, cases[i].has_id);
        json_t *r = ta_envelope_reply(&env, NULL, &err);
        if (cases[i].style == TA_ENVELOPE_ROUTE)
            assert_true(json_is_false(json_object_get(r, "success")));
        else
            assert_string_equal(ta_json_str(r, "status", ""), "error");
        json_decref(r);
        ta_envelope_clear(&env);
    }
    char big[600];
    snprintf(big, sizeof big, "{\"action\":\"ping\",\"messageId\":\"%0300d\"}", 1);
    ta_envelope env;
    ta_error err;
    assert_int_equal(ta_envelope_decode(big, strlen(big), &env, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "messageId: longer than 256 bytes"));
    ta_envelope_clear(&env);
}

/* ---- the host, in-process over pipes ---- */

typedef struct host_fixture {
    ta_app app;
    ta_router *router;
    ta_native_host *host;
    int to_host, from_host; /* our ends */
    pthread_t thread;
    int rc;
} host_fixture;

static void *host_main(void *arg)
{
    host_fixture *f = arg;
    f->rc = ta_native_host_run(f->host);
    return NULL;
}

static host_fixture *start_host(uint32_t max_in, uint32_t max_out)
{
    host_fixture *f = calloc(1, sizeof *f);
    static char dir[] = "/tmp/ta_native_XXXXXX";
    static bool made; /* once: mkdtemp's own suffix may end in 'X' */
    if (!made) {
        assert_non_null(mkdtemp(dir));
        made = true;
    }
    setenv("XDG_DATA_HOME", dir, 1);
    ta_error err;
    assert_int_equal(ta_app_init(&f->app, NULL, NULL, &err), TA_OK);
    f->router = ta_router_new(&f->app);
    ta_router_add_core_actions(f->router);
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    ta_native_config cfg = {
        .in_fd = in[0], .out_fd = out[1], .max_in_frame = max_in, .max_out_frame = max_out};
    f->host = ta_native_host_new(f->router, &cfg);
    f->to_host = in[1];
    f->from_host = out[0];
    pthread_create(&f->thread, NULL, host_main, f);
    return f;
}

static void send_raw(host_fixture *f, const void *p, size_t n)
{
    assert_int_equal(write(f->to_host, p, n), (ssize_t)n);
}

static void send_msg(host_fixture *f, const char *json)
{
    uint32_t n = (uint32_t)strlen(json);
    send_raw(f, &n, 4);
    send_raw(f, json, n);
}

static void read_full(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

static json_t *recv_msg(host_fixture *f, uint32_t *size)
{
    uint32_t n;
    read_full(f->from_host, &n, 4);
    if (size) *size = n;
    char *buf = malloc(n + 1);
    read_full(f->from_host, buf, n);
    json_t *v = json_loadb(buf, n, 0, NULL);
    free(buf);
    assert_non_null(v);
    return v;
}

static int stop_host(host_fixture *f)
{
    close(f->to_host); /* EOF */
    pthread_join(f->thread, NULL);
    int rc = f->rc;
    /* Nothing more may come after EOF handling: the pipe is at its end. */
    close(f->from_host);
    ta_native_host_free(f->host);
    ta_router_free(f->router);
    free(f);
    return rc;
}

static void test_host_ping_and_errors(void **state)
{
    (void)state;
    host_fixture *f = start_host(0, 0);
    send_msg(f, "{\"action\":\"ping\",\"messageId\":\"m1\"}");
    json_t *r = recv_msg(f, NULL);
    assert_string_equal(ta_json_str(r, "messageId", ""), "m1");
    assert_string_equal(ta_json_str(r, "status", ""), "success");
    assert_string_equal(ta_json_str(r, "response", ""), "pong");
    json_decref(r);

    uint32_t zero = 0;
    send_raw(f, &zero, 4);
    r = recv_msg(f, NULL);
    assert_string_equal(ta_json_str(r, "status", ""), "error");
    assert_non_null(strstr(ta_json_str(r, "message", ""), "zero-length"));
    json_decref(r);

    send_msg(f, "{not json");
    r = recv_msg(f, NULL);
    assert_string_equal(ta_json_str(r, "status", ""), "error");
    assert_non_null(strstr(ta_json_str(r, "message", ""), "invalid JSON"));
    json_decref(r);

    send_msg(f, "{\"action\":\"nope\",\"messageId\":\"m2\"}");
    r = recv_msg(f, NULL);
    assert_string_equal(ta_json_str(r, "messageId", ""), "m2");
    assert_string_equal(ta_json_str(r, "status", ""), "error");
    assert_string_equal(ta_json_str(r, "code", ""), "not_found");
    json_decref(r);

    send_msg(f, "{\"action\":\"ping\",\"messageId\":\"m3\",\"count\":\"lots\"}");
    r = recv_msg(f, NULL);
    assert_string_equal(ta_json_str(r, "message", ""), "count: expected integer, got string");
    json_decref(r);

    send_msg(f, "{\"route\":\"health\",\"request_id\":\"r1\",\"payload\":null}");
    r = recv_msg(f, NULL);
    assert_string_equal(ta_json_str(r, "request_id", ""), "r1");
    assert_true(json_is_true(json_object_get(r, "success")));
    assert_string_equal(ta_json_str(json_object_get(r, "data"), "status", ""), "ok");
    json_decref(r);

    /* Still alive after all that. */
    send_msg(f, "{\"action\":\"ping\",\"messageId\":\"m4\"}");
    r = recv_msg(f, NULL);
    assert_string_equal(ta_json_str(r, "messageId", ""), "m4");
    json_decref(r);
    assert_int_equal(stop_host(f), TA_OK);
}

static void test_host_oversized_frame_skipped(void **state)
{
    (void)state;
    host_fixture *f = start_host(64, 0);
    send_msg(f, "{\"action\":\"ping\",\"messageId\":\"big\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxx\"}");
    json_t *r = recv_msg(f, NULL);
    assert_string_equal(ta_json_str(r, "status", ""), "error");
    assert_string_equal(ta_json_str(r, "code", ""), "too_large");
    json_decref(r);
    send_msg(f, "{\"action\":\"ping\",\"messageId\":\"ok\"}");
    r = recv_msg(f, NULL);
    assert_string_equal(ta_json_str(r, "messageId", ""), "ok");
    assert_string_equal(ta_json_str(r, "status", ""), "success");
    json_decref(r);
    assert_int_equal(stop_host(f), TA_OK);
}

static void test_host_stream_events(void **state)
{
    (void)state;
    host_fixture *f = start_host(0, 0);
    send_msg(f, "{\"action\":\"ping\",\"messageId\":\"s\",\"count\":3,\"stream\":true}");
    for (int i = 1; i <= 3; i++) {
        json_t *ev = recv_msg(f, NULL);
        assert_string_equal(ta_json_str(ev, "type", ""), "pong");
        assert_string_equal(ta_json_str(ev, "messageId", ""), "s");
        assert_int_equal(ta_json_int(json_object_get(ev, "payload"), "seq", 0), i);
        json_decref(ev);
    }
    json_t *r = recv_msg(f, NULL);
    assert_string_equal(ta_json_str(r, "status", ""), "success");
    assert_int_equal(ta_json_int(r, "count", 0), 3);
    json_decref(r);
    assert_int_equal(stop_host(f), TA_OK);
}

static void test_host_splits_long_replies(void **state)
{
    (void)state;
    /* A 1 KiB frame limit makes list_actions with schemas span several parts. */
    const uint32_t limit = 1024;
    host_fixture *f = start_host(0, limit);
    send_msg(f, "{\"action\":\"list_actions\",\"messageId\":\"L\",\"schemas\":true}");
    char *text = NULL;
    size_t len = 0;
    json_int_t parts = -1;
    for (json_int_t i = 1;; i++) {
        uint32_t size;
        json_t *p = recv_msg(f, &size);
        assert_true(size <= limit);
        assert_string_equal(ta_json_str(p, "type", ""), "partial");
        assert_string_equal(ta_json_str(p, "messageId", ""), "L");
        assert_int_equal(ta_json_int(p, "part", 0), i);
        if (parts < 0) parts = ta_json_int(p, "parts", 0);
        assert_int_equal(ta_json_int(p, "parts", 0), parts);
        json_t *chunk = json_object_get(p, "chunk");
        text = realloc(text, len + json_string_length(chunk) + 1);
        memcpy(text + len, json_string_value(chunk), json_string_length(chunk));
        len += json_string_length(chunk);
        json_decref(p);
        if (i == parts) break;
    }
    assert_true(parts > 1);
    json_t *whole = json_loadb(text, len, 0, NULL);
    assert_non_null(whole);
    assert_string_equal(ta_json_str(whole, "status", ""), "success");
    assert_true(json_array_size(json_object_get(whole, "actions")) >= 5);
    json_decref(whole);
    free(text);
    assert_int_equal(stop_host(f), TA_OK);
}

static void test_host_eof_mid_frame(void **state)
{
    (void)state;
    host_fixture *f = start_host(0, 0);
    uint32_t n = 100;
    send_raw(f, &n, 4);
    send_raw(f, "{\"act", 5);
    assert_int_equal(stop_host(f), TA_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoder_any_split),
        cmocka_unit_test(test_decoder_skips_oversized),
        cmocka_unit_test(test_decoder_lying_header_allocates_nothing_big),
        cmocka_unit_test(test_chunk_end),
        cmocka_unit_test(test_envelope_action_dialect),
        cmocka_unit_test(test_envelope_route_dialect),
        cmocka_unit_test(test_envelope_errors),
        cmocka_unit_test(test_host_ping_and_errors),
        cmocka_unit_test(test_host_oversized_frame_skipped),
        cmocka_unit_test(test_host_stream_events),
        cmocka_unit_test(test_host_splits_long_replies),
        cmocka_unit_test(test_host_eof_mid_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
