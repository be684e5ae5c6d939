/*
 * test_config.c - flags, environment twins, precedence and browser launch arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/config.h"

static const char *env_names[] = {"TABAGENT_MODE",        "TABAGENT_PORT",
                                  "TABAGENT_HOST",        "TABAGENT_API_KEY",
                                  "TABAGENT_LOG_LEVEL",   "TABAGENT_MAX_BODY_SIZE",
                                  "TABAGENT_MODEL_CACHE", "TABAGENT_MODEL_CACHE_PATH"};

static int clean_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++)
        unsetenv(env_names[i]);
    return 0;
}

static int load(ta_server_config *cfg, ta_error *err, int argc, const char **argv)
{
    return ta_server_config_load(cfg, argc, (char **)argv, err);
}

static void test_defaults(void **state)
{
    (void)state;
    ta_server_config cfg;
    ta_error err;
    const char *argv[] = {"tabagent-server"};
    assert_int_equal(load(&cfg, &err, 1, argv), TA_OK);
    assert_int_equal(cfg.mode, TA_MODE_ALL);
    assert_string_equal(cfg.host, "127.0.0.1");
    assert_int_equal(cfg.port, 3000);
    assert_int_equal(cfg.max_body_size, 32u << 20);
    assert_non_null(strstr(cfg.cors_origins, "chrome-extension://*"));
    assert_non_null(strstr(cfg.cors_origins, "moz-extension://*"));
    assert_non_null(strstr(cfg.cors_origins, "http://localhost:*"));
    assert_string_equal(cfg.api_key, "");
    assert_false(cfg.launched_by_browser);
}

static void test_flags_both_forms(void **state)
{
    (void)state;
    ta_server_config cfg;
    ta_error err;
    const char *argv[] = {"s",   "--mode",          "http", "--port=8080",       "--host",
                          "::1", "--max-body-size", "1M",   "--log-level=debug", "--api-key",
                          "k"};
    assert_int_equal(load(&cfg, &err, 11, argv), TA_OK);
    assert_int_equal(cfg.mode, TA_MODE_HTTP);
    assert_int_equal(cfg.port, 8080);
    assert_string_equal(cfg.host, "::1");
    assert_int_equal(cfg.max_body_size, 1u << 20);
    assert_int_equal(cfg.log_level, TA_LOG_DEBUG);
    assert_string_equal(cfg.api_key, "k");
}

static void test_env_twins_and_precedence(void **state)
{
    (void)state;
    ta_server_config cfg;
    ta_error err;
    setenv("TABAGENT_PORT", "4000", 1);
    setenv("TABAGENT_MODE", "native", 1);
    setenv("TABAGENT_MODEL_CACHE", "/legacy", 1);
    const char *argv1[] = {"s"};
    assert_int_equal(load(&cfg, &err, 1, argv1), TA_OK);
    assert_int_equal(cfg.port, 4000);
    assert_int_equal(cfg.mode, TA_MODE_NATIVE);
    assert_string_equal(cfg.model_cache_path, "/legacy");
    const char *argv2[] = {"s", "--port", "5000"};
    assert_int_equal(load(&cfg, &err, 3, argv2), TA_OK);
    assert_int_equal(cfg.port, 5000); /* the flag wins */
    setenv("TABAGENT_PORT", "70000", 1);
    assert_int_equal(load(&cfg, &err, 1, argv1), TA_EINVAL);
    assert_non_null(strstr(err.message, "TABAGENT_PORT"));
    clean_env(NULL);
}

static void test_browser_arguments_ignored(void **state)
{
    (void)state;
    ta_server_config cfg;
    ta_error err;
    const char *chrome[] = {"s", "chrome-extension://abcdefghijklmnopabcdefghijklmnop/",
                            "--parent-window=1234"};
    assert_int_equal(load(&cfg, &err, 3, chrome), TA_OK);
    assert_true(cfg.launched_by_browser);
    const char *firefox[] = {"s", "/home/u/.mozilla/native-messaging-hosts/com.tabagent.host.json",
                             "tabagent@example.org"};
    assert_int_equal(load(&cfg, &err, 3, firefox), TA_OK);
    assert_int_equal(cfg.mode, TA_MODE_ALL);
}

static void test_usage_errors(void **state)
{
    (void)state;
    ta_server_config cfg;
    ta_error err;
    const char *unknown[] = {"s", "--frobnicate"};
    assert_int_equal(load(&cfg, &err, 2, unknown), TA_EINVAL);
    assert_string_equal(err.message, "unknown option '--frobnicate' (see --help)");
    const char *missing[] = {"s", "--port"};
    assert_int_equal(load(&cfg, &err, 2, missing), TA_EINVAL);
    assert_non_null(strstr(err.message, "--port needs a value"));
    const char *mode[] = {"s", "--mode", "carrier-pigeon"};
    assert_int_equal(load(&cfg, &err, 3, mode), TA_EINVAL);
    assert_non_null(strstr(err.message, "expected one of native, http, webrtc, web, all"));
    const char *level[] = {"s", "--log-level", "loud"};
    assert_int_equal(load(&cfg, &err, 3, level), TA_EINVAL);
    const char *size[] = {"s", "--max-body-size", "lots"};
    assert_int_equal(load(&cfg, &err, 3, size), TA_EINVAL);
    const char *help[] = {"s", "--help"};
    assert_int_equal(load(&cfg, &err, 2, help), TA_OK);
    assert_true(cfg.show_help);
}

static void test_parse_size(void **state)
{
    (void)state;
    assert_int_equal(ta_parse_size("4096"), 4096);
    assert_int_equal(ta_parse_size("32M"), 32ll << 20);
    assert_int_equal(ta_parse_size("2k"), 2048);
    assert_int_equal(ta_parse_size("1GiB"), 1ll << 30);
    assert_int_equal(ta_parse_size("1MB"), 1ll << 20);
    assert_int_equal(ta_parse_size("-1"), -1);
    assert_int_equal(ta_parse_size("12Q"), -1);
    assert_int_equal(ta_parse_size(""), -1);
    assert_int_equal(ta_parse_size("99999999999999999999"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clean_env),
        cmocka_unit_test_setup(test_flags_both_forms, clean_env),
        cmocka_unit_test_setup(test_env_twins_and_precedence, clean_env),
        cmocka_unit_test_setup(test_browser_arguments_ignored, clean_env),
        cmocka_unit_test_setup(test_usage_errors, clean_env),
        cmocka_unit_test(test_parse_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
