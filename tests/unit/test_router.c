/*
 * test_router.c - the action table, dispatch guarantees and the core actions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "handler/router.h"

static ta_app app;

static int setup(void **state)
{
    static char dir[] = "/tmp/ta_router_XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("XDG_DATA_HOME", dir, 1);
    ta_error err;
    assert_int_equal(ta_app_init(&app, NULL, NULL, &err), TA_OK);
    ta_router *r = ta_router_new(&app);
    assert_int_equal(ta_router_add_core_actions(r), TA_OK);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    ta_router_free(*state);
    return 0;
}

static ta_collect_sink run(ta_router *r, const char *action, const char *params, bool stream)
{
    ta_collect_sink c;
    ta_collect_sink_init(&c);
    json_t *p = params ? json_loads(params, 0, NULL) : NULL;
    ta_router_dispatch(r, action, p, &c.sink, "test", stream);
    json_decref(p);
    return c;
}

static void test_core_actions_registered(void **state)
{
    ta_router *r = *state;
    const char *names[] = {"ping",         "health",   "version", "get_system_info",
                           "list_actions", "handshake"};
    for (size_t i = 0; i < 6; i++)
        assert_non_null(ta_router_find(r, names[i]));
    assert_null(ta_router_find(r, "nope"));
    /* Iteration is sorted by name. */
    for (size_t i = 1; i < ta_router_count(r); i++)
        assert_true(strcmp(ta_router_at(r, i - 1)->name, ta_router_at(r, i)->name) < 0);
}

static void test_ping(void **state)
{
    ta_collect_sink c = run(*state, "ping", NULL, false);
    assert_int_equal(c.err.code, TA_OK);
    assert_string_equal(ta_json_str(c.result, "response", ""), "pong");
    assert_string_equal(ta_json_str(c.result, "version", ""), TA_VERSION);
    assert_int_equal(ta_json_int(c.result, "pid", 0), getpid());
    assert_int_equal(json_array_size(c.events), 0);
    ta_collect_sink_clear(&c);
}

static void test_ping_stream(void **state)
{
    ta_collect_sink c = run(*state, "ping", "{\"count\":3}", true);
    assert_int_equal(c.err.code, TA_OK);
    assert_int_equal(json_array_size(c.events), 3);
    json_t *ev = json_array_get(c.events, 2);
    assert_string_equal(ta_json_str(ev, "type", ""), "pong");
    assert_int_equal(ta_json_int(json_object_get(ev, "payload"), "seq", 0), 3);
    assert_int_equal(ta_json_int(c.result, "count", 0), 3);
    ta_collect_sink_clear(&c);
    /* Without stream, no events even when count > 1. */
    c = run(*state, "ping", "{\"count\":3}", false);
    assert_int_equal(json_array_size(c.events), 0);
    assert_int_equal(ta_json_int(c.result, "count", 0), 3);
    ta_collect_sink_clear(&c);
}

static void test_ping_cancelled(void **state)
{
    ta_collect_sink c;
    ta_collect_sink_init(&c);
    c.cancel = true;
    json_t *p = json_pack("{s:i}", "count", 100);
    ta_router_dispatch(*state, "ping", p, &c.sink, "test", true);
    json_decref(p);
    assert_int_equal(c.err.code, TA_ECANCELLED);
    assert_null(c.result);
    ta_collect_sink_clear(&c);

    /* Server shutdown cancels too. */
    atomic_store(&app.shutting_down, true);
    c = run(*state, "ping", "{\"count\":5}", false);
    assert_int_equal(c.err.code, TA_ECANCELLED);
    ta_collect_sink_clear(&c);
    c = run(*state, "health", NULL, false);
    assert_string_equal(ta_json_str(c.result, "status", ""), "stopping");
    ta_collect_sink_clear(&c);
    atomic_store(&app.shutting_down, false);
}

static void test_validation_error(void **state)
{
    ta_collect_sink c = run(*state, "ping", "{\"count\":0}", false);
    assert_int_equal(c.err.code, TA_EINVAL);
    assert_string_equal(c.err.message, "count: must be between 1 and 10000 (got 0)");
    ta_collect_sink_clear(&c);
    c = run(*state, "ping", "{\"interval_ms\":\"soon\"}", false);
    assert_string_equal(c.err.message, "interval_ms: expected integer, got string");
    ta_collect_sink_clear(&c);
}

static void test_unknown_action_and_bad_params(void **state)
{
    ta_collect_sink c = run(*state, "launch_rockets", NULL, false);
    assert_int_equal(c.err.code, TA_ENOTFOUND);
    assert_non_null(strstr(c.err.message, "unknown action 'launch_rockets'"));
    ta_collect_sink_clear(&c);
    ta_collect_sink_init(&c);
    json_t *arr = json_array();
    ta_router_dispatch(*state, "ping", arr, &c.sink, "test", false);
    json_decref(arr);
    assert_int_equal(c.err.code, TA_EINVAL);
    assert_non_null(strstr(c.err.message, "expected an object"));
    ta_collect_sink_clear(&c);
}

static void test_health_version_sysinfo(void **state)
{
    ta_collect_sink c = run(*state, "health", NULL, false);
    assert_string_equal(ta_json_str(c.result, "status", ""), "ok");
    assert_string_equal(ta_json_str(c.result, "version", ""), TA_VERSION);
    assert_true(ta_json_num(c.result, "uptime_s", -1) >= 0);
    ta_collect_sink_clear(&c);
    c = run(*state, "version", NULL, false);
    assert_string_equal(ta_json_str(c.result, "api", ""), "v1");
    ta_collect_sink_clear(&c);
    c = run(*state, "get_system_info", NULL, false);
    assert_true(ta_json_int(c.result, "cores", 0) >= 1);
    assert_true(ta_json_int(c.result, "threads", 0) >= ta_json_int(c.result, "cores", 0));
    assert_true(ta_json_int(c.result, "ram", 0) > 0);
    assert_true(strlen(ta_json_str(c.result, "os", "")) > 0);
    assert_true(strlen(ta_json_str(c.result, "cpu", "")) > 0);
    ta_collect_sink_clear(&c);
}

static void test_handshake(void **state)
{
    ta_collect_sink c = run(*state, "handshake", "{\"source\":\"extension\"}", false);
    assert_int_equal(c.err.code, TA_OK);
    assert_string_equal(ta_json_str(c.result, "server", ""), "tabagent");
    assert_string_equal(ta_json_str(c.result, "transport", ""), "test");
    assert_int_equal(ta_json_int(c.result, "actions", 0), ta_router_count(*state));
    ta_collect_sink_clear(&c);
    c = run(*state, "handshake", "{\"source\":7}", false);
    assert_string_equal(c.err.message, "source: expected string, got integer");
    ta_collect_sink_clear(&c);
}

static void test_list_actions(void **state)
{
    ta_collect_sink c = run(*state, "list_actions", "{\"schemas\":true}", false);
    json_t *list = json_object_get(c.result, "actions");
    assert_int_equal(json_array_size(list), ta_router_count(*state));
    bool saw_ping = false;
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        if (!strcmp(ta_json_str(a, "name", ""), "ping")) {
            saw_ping = true;
            assert_true(json_is_true(json_object_get(a, "streams")));
            json_t *props = json_object_get(json_object_get(a, "request"), "properties");
            assert_non_null(json_object_get(props, "count"));
        }
    }
    assert_true(saw_ping);
    ta_collect_sink_clear(&c);
}

/* Handlers that misbehave: the router still ends the sink exactly once. */
static int silent(ta_call *call)
{
    (void)call;
    return TA_OK;
}
static int twice(ta_call *call)
{
    ta_call_reply(call, json_pack("{s:i}", "n", 1));
    return ta_call_reply(call, json_pack("{s:i}", "n", 2));
}
static const ta_action silent_action = {"silent", "", NULL, NULL, silent, 0};
static const ta_action twice_action = {"twice", "", NULL, NULL, twice, 0};
static const ta_action bad_name = {"Bad-Name", "", NULL, NULL, silent, 0};

static void test_end_exactly_once(void **state)
{
    ta_router *r = *state;
    assert_int_equal(ta_router_add(r, &silent_action), TA_OK);
    assert_int_equal(ta_router_add(r, &twice_action), TA_OK);
    assert_int_equal(ta_router_add(r, &twice_action), TA_ECONFLICT);
    assert_int_equal(ta_router_add(r, &bad_name), TA_EINVAL);
    ta_collect_sink c = run(r, "silent", NULL, false);
    assert_int_equal(c.err.code, TA_EINTERNAL);
    assert_non_null(strstr(c.err.message, "produced no reply"));
    ta_collect_sink_clear(&c);
    c = run(r, "twice", NULL, false);
    assert_int_equal(ta_json_int(c.result, "n", 0), 1);
    ta_collect_sink_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_actions_registered),
        cmocka_unit_test(test_ping),
        cmocka_unit_test(test_ping_stream),
        cmocka_unit_test(test_ping_cancelled),
        cmocka_unit_test(test_validation_error),
        cmocka_unit_test(test_unknown_action_and_bad_params),
        cmocka_unit_test(test_health_version_sysinfo),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_list_actions),
        cmocka_unit_test(test_end_exactly_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
