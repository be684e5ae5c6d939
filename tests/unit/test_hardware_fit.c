/*
 * test_hardware_fit.c - the memory-fit decisions: KV cache bytes for known shapes
 * (computed by hand below), the overhead, where and with how many threads, the largest
 * context, a GGUF's shape, the library recommendations against the container fixture's
 * 4 GiB limit, and the three hardware actions through the router.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "handler/router.h"
#include "hardware/fit.h"
#include "hardware/providers.h"
#include "modelcache/library.h"

/* Declared by router.h once the lead wires it; repeated here so the test builds alone. */
int ta_router_add_hardware_actions(ta_router *r);

#define FIXTURES TA_SOURCE_DIR "/tests/fixtures/hardware/"
#define STORIES  TA_SOURCE_DIR "/../shared/models/stories260K.gguf"

static ta_hw_info *fixture(const char *name)
{
    ta_hw_info *hw = malloc(sizeof *hw);
    assert_non_null(hw);
    char root[1024];
    snprintf(root, sizeof root, FIXTURES "%s", name);
    ta_hw_probe(hw, root);
    assert_true(hw->memory.total_bytes > 0);
    return hw;
}

static ta_fit_shape shape(uint32_t layers, uint32_t kv_heads, uint32_t head_dim, uint32_t ctx)
{
    ta_fit_shape s = {.known = true,
                      .n_layers = layers,
                      .n_kv_heads = kv_heads,
                      .head_dim_k = head_dim,
                      .head_dim_v = head_dim,
                      .context_train = ctx};
    return s;
}

static void test_kv_cache_bytes(void **state)
{
    (void)state;
    /* Llama-3.2-1B: 16 layers, 8 KV heads of 64. 2 * 16 * 4096 * 8 * 64 * 2 bytes. */
    ta_fit_shape llama = shape(16, 8, 64, 131072);
    assert_int_equal(ta_fit_kv_bytes(&llama, 4096, TA_FIT_KV_F16), 134217728ull);
    assert_int_equal(ta_fit_kv_bytes(&llama, 4096, TA_FIT_KV_F32), 268435456ull);
    /* q8_0: a 512-element row is 16 blocks of 34 bytes = 544; K and V: 16*4096*2*544. */
    assert_int_equal(ta_fit_kv_bytes(&llama, 4096, TA_FIT_KV_Q8_0), 71303168ull);
    /* Qwen2.5-0.5B: 24 layers, 2 KV heads of 64, 32768 tokens: 2*24*32768*2*64*2. */
    ta_fit_shape qwen = shape(24, 2, 64, 32768);
    assert_int_equal(ta_fit_kv_bytes(&qwen, 32768, TA_FIT_KV_F16), 402653184ull);
    /* Different key and value head sizes (DeepSeek-style): 1 * 10 * 4 * (192 + 128) * 2. */
    ta_fit_shape mla = shape(1, 4, 192, 0);
    mla.head_dim_v = 128;
    assert_int_equal(ta_fit_kv_bytes(&mla, 10, TA_FIT_KV_F16), 25600ull);
    ta_fit_shape enc = shape(12, 12, 64, 2048);
    enc.encoder = true;
    assert_int_equal(ta_fit_kv_bytes(&enc, 2048, TA_FIT_KV_F16), 0);
    ta_fit_shape none = {0};
    assert_int_equal(ta_fit_kv_bytes(&none, 2048, TA_FIT_KV_F16), 0);
    assert_int_equal(ta_fit_overhead_bytes(808000000), (64ull << 20) + 40400000ull);

    ta_fit_kv_type t;
    assert_true(ta_fit_parse_kv_type("q8_0", &t));
    assert_int_equal(t, TA_FIT_KV_Q8_0);
    assert_false(ta_fit_parse_kv_type("q4_0", &t));
    assert_string_equal(ta_fit_kv_type_name(TA_FIT_KV_F32), "f32");
}

static void test_decide_container(void **state)
{
    (void)state;
    ta_hw_info *hw = fixture("container");
    const uint64_t avail = 4294967296ull - 805306368ull; /* the cgroup's, not the host's */
    ta_fit_shape llama = shape(16, 8, 64, 131072);
    ta_fit_result r;
    ta_fit_decide(hw, 808000000, &llama, 8192, TA_FIT_KV_F16, &r);
    assert_true(r.fits);
    assert_string_equal(r.where, "cpu");
    assert_string_equal(r.backend, "cpu");
    assert_int_equal(r.threads, 2); /* 8 cores, but cpu.max allows 2 */
    assert_int_equal(r.context, 8192);
    assert_int_equal(r.kv_cache_bytes, 268435456ull);
    assert_int_equal(r.required_bytes, 808000000ull + 268435456ull + (64ull << 20) + 40400000ull);
    assert_int_equal(r.available_bytes, avail);
    assert_int_equal(r.headroom_bytes, (int64_t)avail - (int64_t)r.required_bytes);
    assert_string_equal(r.rating, "comfortable");
    /* (available - weights - overhead) / (KV bytes per token = 16 * 2 * 512 * 2) */
    assert_int_equal(r.max_context, (avail - 808000000ull - (64ull << 20) - 40400000ull) / 32768);
    assert_int_equal(r.gpu, -1);

    /* Default context: the trained one, at most 4096. */
    ta_fit_decide(hw, 808000000, &llama, 0, TA_FIT_KV_F16, &r);
    assert_int_equal(r.context, 4096);
    ta_fit_shape small = shape(2, 2, 64, 512);
    ta_fit_decide(hw, 1000000, &small, 0, TA_FIT_KV_F16, &r);
    assert_int_equal(r.context, 512);

    /* Tight: required between 80% and 100% of what is available. */
    ta_fit_shape none = {0};
    uint64_t w = (uint64_t)(0.9 * (double)avail) - (64ull << 20);
    w = w * 20 / 21; /* weights + weights/20 + 64 MiB = 0.9 * available */
    ta_fit_decide(hw, w, &none, 0, TA_FIT_KV_F16, &r);
    assert_true(r.fits);
    assert_string_equal(r.rating, "tight");
    assert_int_equal(r.kv_cache_bytes, 0);
    assert_int_equal(r.max_context, 0); /* no shape, no bound */

    /* Too big for the container, though the host has 48 GiB free. */
    ta_fit_decide(hw, 3200000000ull, &llama, 4096, TA_FIT_KV_F16, &r);
    assert_false(r.fits);
    assert_string_equal(r.where, "none");
    assert_string_equal(r.rating, "too_big");
    assert_true(r.headroom_bytes < 0);
    assert_non_null(strstr(r.reason, "available"));
    json_t *j = ta_fit_result_json(hw, &r);
    assert_false(json_is_true(json_object_get(j, "fits")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "memory"), "cgroup_limit_bytes")),
        4294967296ll);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "breakdown"), "kv_cache_bytes")),
        (json_int_t)r.kv_cache_bytes);
    json_decref(j);
    free(hw);
}

static void test_decide_gpu(void **state)
{
    (void)state;
    /* The AMD machine: the 24 GiB GPU would hold it, but this build runs on the CPU. */
    ta_hw_info *hw = fixture("amd");
    ta_fit_shape s = shape(28, 8, 128, 131072);
    ta_fit_result r;
    ta_fit_decide(hw, 2020000000ull, &s, 4096, TA_FIT_KV_F16, &r);
    assert_true(r.fits);
    assert_string_equal(r.where, "cpu");
    assert_int_equal(r.gpu, 0);
    assert_true(r.gpu_fits);
    assert_int_equal(r.threads, 2);
    assert_non_null(strstr(r.reason, "would also fit the GPU"));
    json_t *j = ta_fit_result_json(hw, &r);
    json_t *g = json_object_get(j, "gpu");
    assert_int_equal(json_integer_value(json_object_get(g, "vram_bytes")), 25769803776ll);
    assert_false(json_is_true(json_object_get(g, "used_by_this_build")));
    json_decref(j);
    free(hw);
    /* Intel: the integrated GPU is never the one judged, the Arc is. */
    hw = fixture("intel");
    ta_fit_decide(hw, 2020000000ull, &s, 4096, TA_FIT_KV_F16, &r);
    assert_int_equal(r.gpu, 1);
    free(hw);
}

static void test_shape_from_gguf(void **state)
{
    (void)state;
    ta_fit_shape s;
    uint64_t size = 0;
    ta_error err = {0};
    FILE *f = fopen(STORIES, "rb");
    if (!f) fail_msg("missing %s (../shared/models)", STORIES);
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fclose(f);
    assert_int_equal(ta_fit_shape_from_gguf(STORIES, &s, &size, &err), TA_OK);
    assert_true(s.known);
    assert_false(s.encoder);
    assert_string_equal(s.arch, "llama");
    assert_int_equal(size, (uint64_t)bytes);
    /* stories260K: 5 layers, 8 heads of 8 (dim 64), 4 KV heads, 512 tokens of context */
    assert_int_equal(s.n_layers, 5);
    assert_int_equal(s.n_kv_heads, 4);
    assert_int_equal(s.head_dim_k, 8);
    assert_int_equal(s.head_dim_v, 8);
    assert_true(s.context_train > 0);
    /* 2 * 5 * 512 * 4 * 8 * 2 */
    assert_int_equal(ta_fit_kv_bytes(&s, 512, TA_FIT_KV_F16), 327680);

    assert_int_not_equal(ta_fit_shape_from_gguf("/nonexistent.gguf", &s, &size, &err), TA_OK);
    assert_int_not_equal(ta_fit_shape_from_gguf("/proc/self/status", &s, &size, &err), TA_OK);
}

static void test_library_shapes(void **state)
{
    (void)state;
    /* Every model of the default library has a shape. */
    const json_t *models = json_object_get(ta_library(), "models");
    assert_true(json_array_size(models) > 0);
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m)
    {
        ta_fit_shape s;
        const char *name = json_string_value(json_object_get(m, "name"));
        if (!ta_fit_library_shape(name, &s)) fail_msg("no shape for library model %s", name);
        assert_int_equal(s.encoder,
                         !strcmp(json_string_value(json_object_get(m, "kind")), "embedding"));
    }
    ta_fit_shape s;
    assert_false(ta_fit_library_shape("nope", &s));
}

static const char *names(const json_t *arr, char *out, size_t cap)
{
    out[0] = '\0';
    size_t i;
    json_t *m;
    json_array_foreach(arr, i, m)
    {
        strncat(out, i ? "," : "", cap - strlen(out) - 1);
        strncat(out, json_string_value(json_object_get(m, "name")), cap - strlen(out) - 1);
    }
    return out;
}

static void test_recommend_fake_library(void **state)
{
    (void)state;
    ta_hw_info *hw = fixture("container"); /* 3.25 GiB available */
    json_t *lib = json_loads(
        "{\"models\":["
        "{\"name\":\"small\",\"kind\":\"chat\",\"size_bytes\":500000000,\"layers\":16,"
        "\"kv_heads\":8,\"head_dim\":64,\"context\":8192},"
        "{\"name\":\"medium\",\"kind\":\"chat\",\"size_bytes\":2000000000,\"layers\":16,"
        "\"kv_heads\":8,\"head_dim\":64,\"context\":8192},"
        "{\"name\":\"tight\",\"kind\":\"chat\",\"size_bytes\":2800000000},"
        "{\"name\":\"huge\",\"kind\":\"chat\",\"size_bytes\":8000000000},"
        "{\"name\":\"emb\",\"kind\":\"embedding\",\"size_bytes\":100000000,\"context\":512},"
        "{\"name\":\"bad\",\"kind\":\"chat\"}]}",
        0, NULL);
    assert_non_null(lib);
    json_t *rec = ta_fit_recommend(hw, lib, 4096);
    char buf[256];
    /* comfortable ones first (larger first), then tight ones */
    assert_string_equal(names(json_object_get(rec, "chat"), buf, sizeof buf), "medium,small,tight");
    assert_string_equal(names(json_object_get(rec, "embedding"), buf, sizeof buf), "emb");
    assert_string_equal(names(json_object_get(rec, "too_big"), buf, sizeof buf), "huge");
    json_t *best = json_object_get(rec, "best");
    assert_string_equal(json_string_value(json_object_get(best, "chat")), "medium");
    json_t *tight = json_array_get(json_object_get(rec, "chat"), 2);
    assert_string_equal(json_string_value(json_object_get(tight, "rating")), "tight");
    assert_false(json_is_true(json_object_get(tight, "shape_known")));
    json_t *emb = json_array_get(json_object_get(rec, "embedding"), 0);
    assert_int_equal(json_integer_value(json_object_get(emb, "context")), 512); /* capped */
    json_t *small = json_array_get(json_object_get(rec, "chat"), 1);
    assert_int_equal(json_integer_value(json_object_get(small, "required_bytes")),
                     500000000 + 134217728 + (64 << 20) + 25000000);
    assert_int_equal(json_integer_value(json_object_get(small, "threads")), 2);
    json_decref(rec);
    json_decref(lib);
    free(hw);
}

static void test_recommend_default_library(void **state)
{
    (void)state;
    ta_hw_info *hw = fixture("container");
    json_t *rec = ta_fit_recommend(hw, ta_library(), 0);
    char buf[1024];
    /* Phi-3.5 mini (2.39 GB + 1.5 GiB of KV cache at 4096) does not fit in 3.25 GiB. */
    assert_string_equal(names(json_object_get(rec, "too_big"), buf, sizeof buf),
                        "phi-3.5-mini-instruct");
    json_t *best = json_object_get(rec, "best");
    assert_string_equal(json_string_value(json_object_get(best, "chat")), "llama-3.2-3b-instruct");
    assert_string_equal(json_string_value(json_object_get(best, "embedding")),
                        "nomic-embed-text-v1.5");
    assert_int_equal(json_array_size(json_object_get(rec, "embedding")), 2);
    json_decref(rec);
    /* A machine with plenty: everything fits. */
    free(hw);
    hw = fixture("amd");
    rec = ta_fit_recommend(hw, ta_library(), 0);
    assert_int_equal(json_array_size(json_object_get(rec, "too_big")), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "best"), "chat")),
                        "phi-3.5-mini-instruct");
    json_decref(rec);
    free(hw);
}

/* ---- the actions ----------------------------------------------------------------- */

static ta_app app;

static int setup_router(void **state)
{
    static char dir[] = "/tmp/ta_hwfit_XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("XDG_DATA_HOME", dir, 1);
    ta_error err;
    assert_int_equal(ta_app_init(&app, NULL, NULL, &err), TA_OK);
    ta_router *r = ta_router_new(&app);
    assert_int_equal(ta_router_add_hardware_actions(r), TA_OK);
    *state = r;
    return 0;
}

static int teardown_router(void **state)
{
    ta_router_free(*state);
    return 0;
}

static ta_collect_sink run(ta_router *r, const char *action, const char *params)
{
    ta_collect_sink c;
    ta_collect_sink_init(&c);
    json_t *p = params ? json_loads(params, 0, NULL) : NULL;
    if (params) assert_non_null(p);
    ta_router_dispatch(r, action, p, &c.sink, "test", false);
    json_decref(p);
    return c;
}

static void test_actions(void **state)
{
    ta_router *r = *state;
    ta_collect_sink c = run(r, "get_hardware_info", NULL);
    assert_int_equal(c.err.code, TA_OK);
    assert_true(json_is_object(json_object_get(c.result, "cpu")));
    assert_true(json_is_array(json_object_get(c.result, "providers")));
    double first = json_real_value(json_object_get(c.result, "probe_ms"));
    ta_collect_sink_clear(&c);
    c = run(r, "get_hardware_info", "{}");
    assert_true(json_real_value(json_object_get(c.result, "probe_ms")) == first); /* cached */
    ta_collect_sink_clear(&c);
    c = run(r, "get_hardware_info", "{\"refresh\":true}");
    assert_int_equal(c.err.code, TA_OK);
    ta_collect_sink_clear(&c);

    c = run(r, "check_model_feasibility",
            "{\"size_bytes\":808000000,\"layers\":16,\"kv_heads\":8,\"head_dim\":64,"
            "\"context\":4096}");
    assert_int_equal(c.err.code, TA_OK);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(c.result, "breakdown"), "kv_cache_bytes")),
                     134217728);
    assert_string_equal(ta_json_str(c.result, "where", ""), "cpu");
    ta_collect_sink_clear(&c);

    /* A named shape, an object shape, and the same numbers: one KV cache. */
    c = run(r, "check_model_feasibility",
            "{\"size_bytes\":808000000,\"shape\":\"llama-3.2-1b\",\"context\":4096}");
    assert_int_equal(c.err.code, TA_OK);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(c.result, "breakdown"), "kv_cache_bytes")),
                     134217728);
    ta_collect_sink_clear(&c);
    c = run(r, "check_model_feasibility",
            "{\"size_bytes\":808000000,\"shape\":{\"layers\":16,\"kv_heads\":8,\"head_dim\":64},"
            "\"context\":4096,\"kv_type\":\"q8_0\"}");
    assert_int_equal(c.err.code, TA_OK);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(c.result, "breakdown"), "kv_cache_bytes")),
                     71303168);
    ta_collect_sink_clear(&c);

    /* No shape: allowed, with a note. */
    c = run(r, "check_model_feasibility", "{\"size_bytes\":1000}");
    assert_int_equal(c.err.code, TA_OK);
    assert_int_equal(json_array_size(json_object_get(c.result, "notes")), 1);
    ta_collect_sink_clear(&c);

    /* A GGUF by path, and by "model" when that is a file. */
    c = run(r, "check_model_feasibility", "{\"path\":\"" STORIES "\",\"context\":512}");
    assert_int_equal(c.err.code, TA_OK);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(c.result, "breakdown"), "kv_cache_bytes")),
                     327680);
    assert_string_equal(ta_json_str(json_object_get(c.result, "model"), "source", ""), "path");
    ta_collect_sink_clear(&c);
    c = run(r, "check_model_feasibility", "{\"model\":\"" STORIES "\"}");
    assert_int_equal(c.err.code, TA_OK);
    ta_collect_sink_clear(&c);
    /* A library model that is not downloaded: judged from the library. */
    c = run(r, "check_model_feasibility", "{\"model\":\"qwen2.5-0.5b-instruct\"}");
    assert_int_equal(c.err.code, TA_OK);
    assert_string_equal(ta_json_str(json_object_get(c.result, "model"), "source", ""), "library");
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(c.result, "breakdown"), "kv_cache_bytes")),
                     2 * 24 * 4096 * 2 * 64 * 2);
    ta_collect_sink_clear(&c);

    /* Errors. */
    static const struct {
        const char *params;
        int code;
        const char *text;
    } bad[] = {
        {"{}", TA_EINVAL, "exactly one of path, model or size_bytes"},
        {"{\"size_bytes\":1,\"path\":\"/x\"}", TA_EINVAL, "exactly one"},
        {"{\"size_bytes\":0}", TA_EINVAL, "size_bytes"},
        {"{\"size_bytes\":\"big\"}", TA_EINVAL, "size_bytes"},
        {"{\"size_bytes\":10,\"context\":0}", TA_EINVAL, "context"},
        {"{\"size_bytes\":10,\"layers\":4}", TA_EINVAL, "kv_heads"},
        {"{\"size_bytes\":10,\"shape\":{\"layers\":4,\"kv_heads\":2,\"head_dim\":-1}}", TA_EINVAL,
         "shape.head_dim"},
        {"{\"size_bytes\":10,\"shape\":\"nope\"}", TA_EINVAL, "unknown shape"},
        {"{\"size_bytes\":10,\"kv_type\":\"q4\"}", TA_EINVAL, "kv_type"},
        {"{\"path\":\"/nonexistent.gguf\"}", TA_ENOTFOUND, "no such file"},
        {"{\"path\":\"/proc/self\"}", TA_ENOTFOUND, "no such file"}, /* a directory */
        {"{\"path\":\"/proc/self/status\"}", TA_EINVAL, "too small for a GGUF"},
        {"{\"path\":\"" TA_SOURCE_DIR "/CMakeLists.txt\"}", TA_EINVAL, ""},
        {"{\"model\":\"nothing-like-this\"}", TA_ENOTFOUND, "neither a file"},
        {"{\"model\":\"org/none:Q4_K_M\"}", TA_ENOTFOUND, "not downloaded"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = run(r, "check_model_feasibility", bad[i].params);
        if (c.err.code != bad[i].code || !strstr(c.err.message, bad[i].text))
            fail_msg("%s: got %d '%s'", bad[i].params, c.err.code, c.err.message);
        ta_collect_sink_clear(&c);
    }

    c = run(r, "get_recommended_models", "{\"context\":2048}");
    assert_int_equal(c.err.code, TA_OK);
    assert_true(json_array_size(json_object_get(c.result, "chat")) +
                    json_array_size(json_object_get(c.result, "too_big")) >=
                7);
    assert_int_equal(ta_json_int(c.result, "context", 0), 2048);
    ta_collect_sink_clear(&c);
    c = run(r, "get_recommended_models", "{\"context\":-1}");
    assert_int_equal(c.err.code, TA_EINVAL);
    ta_collect_sink_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_cache_bytes),
        cmocka_unit_test(test_decide_container),
        cmocka_unit_test(test_decide_gpu),
        cmocka_unit_test(test_shape_from_gguf),
        cmocka_unit_test(test_library_shapes),
        cmocka_unit_test(test_recommend_fake_library),
        cmocka_unit_test(test_recommend_default_library),
        cmocka_unit_test_setup_teardown(test_actions, setup_router, teardown_router),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
