/*
 * test_http_parts.c - the HTTP transport's pure parts: CORS origin matching, route
 * matching, static-file path safety and the generated OpenAPI document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config.h"
#include "transport/http/http_internal.h"

static void test_cors_default_policy(void **state)
{
    (void)state;
    const char *p = TA_DEFAULT_CORS_ORIGINS;
    assert_true(ta_http_origin_allowed(p, "http://localhost:5173"));
    assert_true(ta_http_origin_allowed(p, "http://localhost"));
    assert_true(ta_http_origin_allowed(p, "http://127.0.0.1:3000"));
    assert_true(ta_http_origin_allowed(p, "http://[::1]:8080"));
    assert_true(ta_http_origin_allowed(p, "chrome-extension://abcdefghijklmnopabcdefghijklmnop"));
    assert_true(ta_http_origin_allowed(p, "moz-extension://0b1c2d3e-aaaa-bbbb-cccc-0123456789ab"));
    assert_false(ta_http_origin_allowed(p, "https://evil.example"));
    assert_false(ta_http_origin_allowed(p, "http://localhost.evil.com"));
    assert_false(ta_http_origin_allowed(p, "http://localhost:80abc"));
    assert_false(ta_http_origin_allowed(p, "http://localhost:5173/path"));
    assert_false(ta_http_origin_allowed(p, "chrome-extension://"));
    assert_false(ta_http_origin_allowed(p, "chrome-extension://a/b"));
    assert_false(ta_http_origin_allowed(p, "null"));
    assert_false(ta_http_origin_allowed(p, ""));
}

static void test_cors_custom_policy(void **state)
{
    (void)state;
    assert_true(ta_http_origin_allowed("https://app.example.com", "https://app.example.com"));
    assert_false(ta_http_origin_allowed("https://app.example.com", "https://app.example.com.x"));
    assert_false(ta_http_origin_allowed("https://app.example.com", "http://localhost:3000"));
    assert_true(ta_http_origin_allowed(" https://a.dev , https://b.dev ", "https://b.dev"));
    assert_true(ta_http_origin_allowed("*", "https://anything.example"));
    assert_false(ta_http_origin_allowed("", "http://localhost"));
}

static void test_route_matching(void **state)
{
    (void)state;
    char allow[128];
    json_t *params = json_object();
    const ta_http_route *r = ta_http_route_match("GET", "/v1/health", params, allow, sizeof allow);
    assert_non_null(r);
    assert_string_equal(r->action, "health");
    assert_true(r->flags & TA_ROUTE_PUBLIC);
    assert_non_null(ta_http_route_match("HEAD", "/v1/health", NULL, allow, sizeof allow));
    assert_non_null(ta_http_route_match("GET", "/v1/health/", NULL, allow, sizeof allow));
    assert_null(ta_http_route_match("DELETE", "/v1/health", NULL, allow, sizeof allow));
    assert_string_equal(allow, "GET");
    assert_null(ta_http_route_match("PUT", "/v1/ping", NULL, allow, sizeof allow));
    assert_string_equal(allow, "GET, POST");
    assert_null(ta_http_route_match("GET", "/v1/nothing", NULL, allow, sizeof allow));
    assert_string_equal(allow, "");
    r = ta_http_route_match("POST", "/v1/actions/get_system_info", params, allow, sizeof allow);
    assert_non_null(r);
    assert_null(r->action);
    assert_string_equal(ta_json_str(params, "action", ""), "get_system_info");
    assert_null(ta_http_route_match("POST", "/v1/actions/", NULL, allow, sizeof allow));
    assert_null(ta_http_route_match("POST", "/v1/actions/a/b", NULL, allow, sizeof allow));
    json_decref(params);
}

static char root[] = "/tmp/ta_static_XXXXXX";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_static_files(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(root));
    char p[512], outside[512];
    snprintf(p, sizeof p, "%s/www", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/www/index.html", root);
    write_file(p, "<h1>hi</h1>");
    snprintf(p, sizeof p, "%s/www/sub", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/www/sub/app.js", root);
    write_file(p, "1;");
    snprintf(outside, sizeof outside, "%s/secret.txt", root);
    write_file(outside, "secret");
    snprintf(p, sizeof p, "%s/www/link.txt", root);
    assert_int_equal(symlink(outside, p), 0);

    char www[512];
    snprintf(www, sizeof www, "%s/www", root);
    int status;
    struct MHD_Response *r = ta_http_static_file(www, "/", &status);
    assert_non_null(r);
    assert_int_equal(status, 200);
    assert_string_equal(MHD_get_response_header(r, "Content-Type"), "text/html; charset=utf-8");
    MHD_destroy_response(r);
    r = ta_http_static_file(www, "/sub/app.js", &status);
    assert_non_null(r);
    assert_string_equal(MHD_get_response_header(r, "Content-Type"),
                        "text/javascript; charset=utf-8");
    MHD_destroy_response(r);
    r = ta_http_static_file(www, "/sub", &status); /* a directory without index.html */
    assert_null(r);

    const char *bad[] = {"/../secret.txt",
                         "/sub/../../secret.txt",
                         "/./index.html",
                         "/..",
                         "/sub\\..\\..\\secret.txt",
                         "relative"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = ta_http_static_file(www, bad[i], &status);
        assert_null(r);
        assert_int_equal(status, 403);
    }
    r = ta_http_static_file(www, "/link.txt", &status); /* a symlink out of the root */
    assert_null(r);
    assert_int_equal(status, 403);
    r = ta_http_static_file(www, "/missing.html", &status);
    assert_null(r);
    assert_int_equal(status, 404);
}

/* Walks v and checks every "$ref" points into components/schemas. */
static void check_refs(json_t *v, json_t *schemas, int *count)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c)
        {
            if (!strcmp(k, "$ref")) {
                const char *ref = json_string_value(c);
                assert_non_null(ref);
                if (!strncmp(ref, "#/components/responses/", 23))
                    continue; /* checked by the caller */
                assert_int_equal(strncmp(ref, "#/components/schemas/", 21), 0);
                assert_non_null(json_object_get(schemas, ref + 21));
                (*count)++;
            } else {
                check_refs(c, schemas, count);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c) check_refs(c, schemas, count);
    }
}

static void test_openapi(void **state)
{
    (void)state;
    ta_app app = {0};
    ta_router *router = ta_router_new(&app);
    ta_router_add_core_actions(router);
    ta_router_add_chat_actions(router);
    ta_router_add_model_actions(router);
    ta_router_add_native_actions(router);
    ta_router_add_memory_actions(router);
    ta_router_add_pull_actions(router);
    ta_router_add_hardware_actions(router);
    json_t *doc = ta_http_openapi(router, true);
    assert_string_equal(ta_json_str(doc, "openapi", ""), "3.1.0");
    json_t *paths = json_object_get(doc, "paths");
    /* Every listed route is documented, hidden aliases are not. */
    for (size_t i = 0; i < ta_http_route_count(); i++) {
        const ta_http_route *rt = ta_http_route_at(i);
        char key[256]; /* as OpenAPI writes it: {model*} (the rest of the path) is {model} */
        size_t kl = 0;
        for (const char *c = rt->pattern; *c && kl + 1 < sizeof key; c++)
            if (!(*c == '*' && c[1] == '}')) key[kl++] = *c;
        key[kl] = '\0';
        json_t *item = json_object_get(paths, key);
        if (rt->flags & TA_ROUTE_HIDDEN) {
            assert_null(item);
            continue;
        }
        assert_non_null(item);
        char m[8];
        size_t n = strlen(rt->method);
        for (size_t k = 0; k <= n; k++)
            m[k] = (char)(rt->method[k] | (k < n ? 0x20 : 0));
        assert_non_null(json_object_get(item, m));
    }
    json_t *health = json_object_get(json_object_get(paths, "/v1/health"), "get");
    assert_true(json_is_array(json_object_get(health, "security"))); /* public */
    assert_int_equal(json_array_size(json_object_get(health, "security")), 0);
    json_t *ping = json_object_get(json_object_get(paths, "/v1/ping"), "post");
    assert_non_null(json_object_get(ping, "requestBody"));
    json_t *ok = json_object_get(json_object_get(ping, "responses"), "200");
    assert_non_null(json_object_get(json_object_get(ok, "content"), "text/event-stream"));
    json_t *ping_get = json_object_get(json_object_get(paths, "/v1/ping"), "get");
    assert_true(json_array_size(json_object_get(ping_get, "parameters")) >= 2);
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    json_t *comp_responses = json_object_get(json_object_get(doc, "components"), "responses");
    assert_non_null(json_object_get(comp_responses, "ClientError"));
    int refs = 0;
    check_refs(doc, schemas, &refs);
    assert_true(refs > 5);
    json_t *count = json_object_get(
        json_object_get(json_object_get(schemas, "PingRequest"), "properties"), "count");
    assert_true(json_number_value(json_object_get(count, "maximum")) == 10000);
    assert_non_null(json_object_get(doc, "security"));
    json_decref(doc);
    doc = ta_http_openapi(router, false);
    assert_int_equal(json_array_size(json_object_get(doc, "security")), 0);
    json_decref(doc);
    ta_router_free(router);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cors_default_policy),
        cmocka_unit_test(test_cors_custom_policy),
        cmocka_unit_test(test_route_matching),
        cmocka_unit_test(test_static_files),
        cmocka_unit_test(test_openapi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
