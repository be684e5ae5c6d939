/*
 * test_models.c - the model orchestrator (src/app/models.c) over the in-process ML
 * client: ids and paths, load on first use, keep_alive (0 unloads after the request,
 * a time runs out in the reaper, negative keeps), the memory budget (idle models are
 * unloaded oldest first; a load that cannot fit is refused with the numbers), unload
 * while in use, and the model list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/models.h"
#include "engine/synth.h"

#define STORIES TA_SOURCE_DIR "/../shared/models/stories260K.gguf"

static char bert_path[] = "/tmp/ta-models-bert-XXXXXX";

static int setup(void **state)
{
    (void)state;
    int fd = mkstemp(bert_path);
    if (fd < 0) return -1;
    close(fd);
    ta_synth_params sp = {.encoder = true,
                          .enc_arch = TA_ENC_BERT,
                          .shape = ta_synth_shape_find_kind("tiny", true),
                          .type = ta_synth_parse_type("F32"),
                          .seed = 3,
                          .threads = 1};
    ta_error err;
    return ta_synth_write(&sp, bert_path, NULL, &err);
}

static int teardown(void **state)
{
    (void)state;
    unlink(bert_path);
    return 0;
}

static const char *state_of(ta_models *o, const char *id)
{
    static char buf[32];
    ta_error err;
    json_t *e = ta_models_get(o, id, &err);
    if (!e) return "missing";
    snprintf(buf, sizeof buf, "%s", json_string_value(json_object_get(e, "state")));
    json_decref(e);
    return buf;
}

static void test_lifecycle(void **state)
{
    (void)state;
    ta_error err = {0};
    ta_ml *ml = ta_ml_inproc_new(&err);
    ta_models_config cfg = {.keep_alive_s = 300, .load = {.n_parallel = 2, .n_ctx = 256}};
    ta_models *o = ta_models_new(ml, &cfg, &err);
    assert_non_null(o);
    assert_int_equal(ta_models_register(o, "stories", STORIES, &err), TA_OK);
    assert_int_equal(ta_models_register(o, "bert", bert_path, &err), TA_OK);
    assert_int_equal(ta_models_register(o, "stories", bert_path, &err), TA_ECONFLICT);
    assert_int_equal(ta_models_register(o, "x", "/nonexistent.gguf", &err), TA_ENOTFOUND);

    /* listed before they load, with kind and context */
    json_t *list = ta_models_list(o);
    assert_string_equal(json_string_value(json_object_get(list, "object")), "list");
    assert_int_equal(json_array_size(json_object_get(list, "data")), 2);
    json_decref(list);
    assert_string_equal(state_of(o, "stories"), "available");

    char id[256];
    assert_int_equal(ta_models_acquire(o, "nope", id, sizeof id, &err), TA_ENOTFOUND);
    assert_int_equal(ta_models_acquire(o, "stories", id, sizeof id, &err), TA_OK);
    assert_string_equal(id, "stories");
    assert_string_equal(state_of(o, "stories"), "loaded");
    ta_ml_info info;
    assert_int_equal(ta_ml_info_get(ml, "stories", &info, &err), TA_OK);
    assert_int_equal(info.n_ctx, 256);
    assert_int_equal(info.n_parallel, 2);
    /* unloading a model in use: it goes at once from the table; the request finishes */
    ta_models_release(o, "stories", 0, false); /* keep_alive 0: unloads now */
    assert_string_equal(state_of(o, "stories"), "available");

    /* a path works as a name; keep_alive runs out in the reaper */
    assert_int_equal(ta_models_acquire(o, bert_path, id, sizeof id, &err), TA_OK);
    assert_string_equal(id, "bert"); /* the path of a registered id is that id */
    ta_models_release(o, id, 0.2, false);
    assert_string_equal(state_of(o, "bert"), "loaded");
    for (int i = 0; i < 50 && strcmp(state_of(o, "bert"), "available"); i++)
        usleep(50000);
    assert_string_equal(state_of(o, "bert"), "available");

    /* load_model with keep_alive -1 stays; unload_model */
    assert_int_equal(ta_models_load(o, "bert", -1, false, id, sizeof id, &err), TA_OK);
    ta_models_reap(o);
    assert_string_equal(state_of(o, "bert"), "loaded");
    assert_int_equal(ta_models_unload(o, "bert", &err), TA_OK);
    assert_int_equal(ta_models_unload(o, "bert", &err), TA_ENOTFOUND);
    ta_models_free(o);
    ta_ml_free(ml);
}

/* With a budget for one model: loading the second unloads the idle first; while the
 * first is in use, the second is refused with the numbers. */
static void test_memory_budget(void **state)
{
    (void)state;
    ta_error err = {0};
    ta_ml *ml = ta_ml_inproc_new(&err);
    ta_models_config probe_cfg = {.keep_alive_s = -1, .load = {.n_ctx = 256}};
    ta_models *probe = ta_models_new(ml, &probe_cfg, &err);
    ta_models_register(probe, "stories", STORIES, &err);
    ta_models_register(probe, "bert", bert_path, &err);
    json_t *a = ta_models_get(probe, "stories", &err), *b = ta_models_get(probe, "bert", &err);
    uint64_t sa = (uint64_t)json_integer_value(json_object_get(a, "size_bytes"));
    uint64_t sb = (uint64_t)json_integer_value(json_object_get(b, "size_bytes"));
    json_decref(a);
    json_decref(b);
    ta_models_free(probe);
    assert_true(sa > 0 && sb > 0);

    ta_models_config cfg = {
        .keep_alive_s = -1, .memory_budget = (sa > sb ? sa : sb) + 1024, .load = {.n_ctx = 256}};
    ta_models *o = ta_models_new(ml, &cfg, &err);
    ta_models_register(o, "stories", STORIES, &err);
    ta_models_register(o, "bert", bert_path, &err);
    char id[256];
    assert_int_equal(ta_models_acquire(o, "stories", id, sizeof id, &err), TA_OK);
    /* stories is in use: bert cannot fit */
    assert_int_equal(ta_models_acquire(o, "bert", id, sizeof id, &err), TA_EUNAVAILABLE);
    assert_non_null(strstr(err.message, "memory budget"));
    assert_non_null(strstr(err.message, "MiB"));
    ta_models_release(o, "stories", 0, true); /* default keep_alive: forever */
    assert_string_equal(state_of(o, "stories"), "loaded");
    /* now idle: loading bert unloads it */
    assert_int_equal(ta_models_acquire(o, "bert", id, sizeof id, &err), TA_OK);
    assert_string_equal(state_of(o, "stories"), "available");
    assert_string_equal(state_of(o, "bert"), "loaded");
    ta_models_release(o, "bert", 0, true);
    ta_models_free(o);
    ta_ml_free(ml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_memory_budget),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
