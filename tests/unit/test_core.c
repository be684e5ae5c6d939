/*
 * test_core.c - errors, JSON helpers, paths and logging.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/core.h"

static void test_error_codes(void **state)
{
    (void)state;
    ta_error err;
    assert_int_equal(ta_error_set(&err, TA_EINVAL, "x: %d", 5), TA_EINVAL);
    assert_string_equal(err.message, "x: 5");
    ta_error_prefix(&err, "body: ");
    assert_string_equal(err.message, "body: x: 5");
    assert_int_equal(ta_error_http_status(TA_EINVAL), 400);
    assert_int_equal(ta_error_http_status(TA_EUNAUTH), 401);
    assert_int_equal(ta_error_http_status(TA_ENOTFOUND), 404);
    assert_int_equal(ta_error_http_status(TA_EMETHOD), 405);
    assert_int_equal(ta_error_http_status(TA_ETOOBIG), 413);
    assert_int_equal(ta_error_http_status(TA_EMEDIATYPE), 415);
    assert_int_equal(ta_error_http_status(TA_EINTERNAL), 500);
    assert_int_equal(ta_error_http_status(TA_EUNAVAILABLE), 503);
    assert_int_equal(ta_error_http_status(-999), 500);
    assert_string_equal(ta_error_openai_type(TA_EINVAL), "invalid_request_error");
    assert_string_equal(ta_error_openai_type(TA_EUNAUTH), "authentication_error");
    /* Long messages are truncated, never overflow. */
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ta_error_set(&err, TA_EINVAL, "%s", big);
    assert_int_equal(strlen(err.message), TA_ERROR_MSG_MAX - 1);
    ta_error_prefix(&err, "p: ");
    assert_int_equal(strlen(err.message), TA_ERROR_MSG_MAX - 1);
    assert_int_equal(ta_error_set(NULL, TA_EIO, "ignored"), TA_EIO);
}

static void test_json_helpers(void **state)
{
    (void)state;
    ta_error err;
    json_t *v = ta_json_parse("{\"s\":\"x\",\"i\":3,\"n\":1.5,\"b\":true}", 32, &err);
    assert_non_null(v);
    assert_string_equal(ta_json_str(v, "s", "d"), "x");
    assert_string_equal(ta_json_str(v, "i", "d"), "d");
    assert_int_equal(ta_json_int(v, "i", 0), 3);
    assert_true(ta_json_num(v, "i", 0) == 3.0);
    assert_true(ta_json_num(v, "n", 0) == 1.5);
    assert_true(ta_json_bool(v, "b", false));
    assert_false(ta_json_bool(v, "missing", false));
    size_t len;
    char *s = ta_json_dump(v, &len);
    assert_int_equal(len, strlen(s));
    assert_null(strchr(s, ' '));
    free(s);
    json_decref(v);
    assert_null(ta_json_parse("{\"a\":", 5, &err));
    assert_int_equal(err.code, TA_EINVAL);
    assert_non_null(strstr(err.message, "invalid JSON at line 1"));
    assert_null(ta_json_parse("", 0, &err));
    assert_null(ta_json_parse("\"\xc3\"", 3, &err));    /* bad UTF-8 */
    assert_null(ta_json_parse("{} x", 4, &err));        /* trailing garbage */
    assert_null(ta_json_parse("{\"a\":1}\0", 8, &err)); /* NUL byte */
    ta_error_set(&err, TA_ENOTFOUND, "no such thing");
    json_t *body = ta_json_error_body(&err);
    json_t *e = json_object_get(body, "error");
    assert_string_equal(ta_json_str(e, "message", ""), "no such thing");
    assert_string_equal(ta_json_str(e, "type", ""), "not_found_error");
    assert_string_equal(ta_json_str(e, "code", ""), "not_found");
    json_decref(body);
}

static void test_paths(void **state)
{
    (void)state;
    char out[4096];
    ta_error err;
    setenv("XDG_DATA_HOME", "/xdg", 1);
    assert_int_equal(ta_paths_data_dir(out, sizeof out, &err), TA_OK);
    assert_string_equal(out, "/xdg/TabAgent");
    assert_int_equal(ta_paths_db_dir(out, sizeof out, &err), TA_OK);
    assert_string_equal(out, "/xdg/TabAgent/tabagent_db");
    assert_int_equal(ta_paths_models_dir(out, sizeof out, &err), TA_OK);
    assert_string_equal(out, "/xdg/TabAgent/models");
    setenv("XDG_DATA_HOME", "relative/ignored", 1);
    setenv("HOME", "/home/someone", 1);
    assert_int_equal(ta_paths_data_dir(out, sizeof out, &err), TA_OK);
    assert_string_equal(out, "/home/someone/.local/share/TabAgent");
    unsetenv("XDG_DATA_HOME");
    assert_int_equal(ta_paths_data_dir(out, sizeof out, &err), TA_OK);
    assert_string_equal(out, "/home/someone/.local/share/TabAgent");
    char small[8];
    assert_int_equal(ta_paths_data_dir(small, sizeof small, &err), TA_EINVAL);
    assert_int_equal(ta_paths_join(out, sizeof out, "/a//", "/b", &err), TA_OK);
    assert_string_equal(out, "/a/b");

    char dir[] = "/tmp/ta_paths_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char deep[256];
    snprintf(deep, sizeof deep, "%s/x/y/z", dir);
    assert_int_equal(ta_paths_mkdirs(deep, 0700, &err), TA_OK);
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(ta_paths_mkdirs(deep, 0700, &err), TA_OK); /* idempotent */
    char file[256];
    snprintf(file, sizeof file, "%s/f", dir);
    close(open(file, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(ta_paths_mkdirs(file, 0700, &err), TA_EIO);
}

static void test_log_to_file(void **state)
{
    (void)state;
    char path[] = "/tmp/ta_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ta_log_set_file(path), TA_OK);
    ta_log_set_level(TA_LOG_INFO);
    ta_log_info("hello %d", 42);
    ta_log_debug("not shown");
    ta_log_set_level(TA_LOG_DEBUG);
    ta_log_debug("shown");
    assert_int_equal(ta_log_set_file(NULL), TA_OK);
    FILE *f = fopen(path, "r");
    char buf[1024] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "info  ["));
    assert_non_null(strstr(buf, "hello 42\n"));
    assert_null(strstr(buf, "not shown"));
    assert_non_null(strstr(buf, "shown\n"));
    assert_int_equal(ta_log_level_parse("WARN"), TA_LOG_WARN);
    assert_int_equal(ta_log_level_parse("warning"), TA_LOG_WARN);
    assert_int_equal(ta_log_level_parse("loud"), -1);
    assert_int_equal(ta_log_set_file("/nonexistent/dir/log"), TA_EIO);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_json_helpers),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_log_to_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
