/*
 * cmd_models.c - `tabagent pull`, `tabagent ls`, `tabagent rm`: the model cache from the
 * command line (src/modelcache/). pull prints its progress as NDJSON on stdout, one
 * event a line ({status, file, completed, total, bytes_per_s}), ending with a
 * {"status":"success", ...} or {"status":"error", ...} line; Ctrl-C stops it with what
 * arrived kept on disk, and the next pull of the same model resumes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../core/paths.h"
#include "../modelcache/library.h"
#include "../modelcache/pull.h"
#include "cli.h"

static atomic_bool stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop_flag, true);
}

/* The cache root: --model-cache-path, else $TABAGENT_MODEL_CACHE_PATH, else the default;
 * and where a token set through the API lives (<data dir>/hf_token). */
static int roots(const char *cmd, const char *flag, ta_cache *c, ta_hub *h)
{
    char dir[4096], data[4096], tok[4200];
    ta_error err = {0};
    const char *env = getenv("TABAGENT_MODEL_CACHE_PATH");
    if (flag)
        snprintf(dir, sizeof dir, "%s", flag);
    else if (env && env[0])
        snprintf(dir, sizeof dir, "%s", env);
    else if (ta_paths_models_dir(dir, sizeof dir, &err))
        return ta_cli_fail(cmd, "%s", err.message);
    if (ta_paths_mkdirs(dir, 0700, &err)) return ta_cli_fail(cmd, "%s", err.message);
    ta_cache_init(c, dir);
    if (h) {
        tok[0] = '\0';
        if (!ta_paths_data_dir(data, sizeof data, &err))
            snprintf(tok, sizeof tok, "%s/hf_token", data);
        ta_hub_init(h, tok[0] ? tok : NULL);
    }
    return 0;
}

static void print_event(void *ud, const ta_pull_event *e)
{
    (void)ud;
    json_t *o = json_pack("{s:s}", "status", e->status);
    if (e->file) json_object_set_new(o, "file", json_string(e->file));
    if (e->total || e->completed) {
        json_object_set_new(o, "completed", json_integer((json_int_t)e->completed));
        json_object_set_new(o, "total", json_integer((json_int_t)e->total));
    }
    if (!strcmp(e->status, "downloading"))
        json_object_set_new(o, "bytes_per_s", json_integer((json_int_t)e->bytes_per_s));
    char *s = json_dumps(o, JSON_COMPACT);
    if (s) printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(o);
}

int ta_cli_pull(int argc, char **argv)
{
    const char *cmd = "pull", *name = NULL, *cache_flag = NULL;
    long parts = 8, stall = 30;
    bool offline = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model-cache-path") && i + 1 < argc)
            cache_flag = argv[++i];
        else if (!strcmp(argv[i], "--parts") && i + 1 < argc) {
            if (!ta_cli_parse_long(cmd, "--parts", argv[++i], 1, 64, &parts)) return 2;
        } else if (!strcmp(argv[i], "--stall-timeout") && i + 1 < argc) {
            if (!ta_cli_parse_long(cmd, "--stall-timeout", argv[++i], 1, 3600, &stall)) return 2;
        } else if (!strcmp(argv[i], "--offline"))
            offline = true;
        else if (argv[i][0] == '-')
            return ta_cli_usage_error(cmd, "unknown option %s", argv[i]);
        else if (!name)
            name = argv[i];
        else
            return ta_cli_usage_error(cmd, "one model at a time");
    }
    ta_cache c;
    ta_hub h;
    int rc = roots(cmd, cache_flag, &c, &h);
    if (rc) return rc;
    char spec[2048];
    ta_library_spec(name, spec, sizeof spec);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    ta_pull_opts o = {.parts = (unsigned)parts,
                      .stall_timeout_s = (unsigned)stall,
                      .offline = offline,
                      .cancel = &stop_flag,
                      .on_event = print_event};
    ta_pull_result res;
    ta_error err = {0};
    rc = ta_pull(&c, &h, spec, &o, &res, &err);
    json_t *out;
    if (rc) {
        out = json_pack("{s:s,s:s,s:s}", "status", "error", "model", spec, "error", err.message);
    } else {
        json_t *paths = json_array();
        for (size_t i = 0; i < res.n; i++)
            json_array_append_new(paths, json_string(res.paths[i]));
        out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:b}", "status", "success", "model", spec,
                        "commit", res.commit, "repo", res.repo, "path", res.n ? res.paths[0] : "",
                        "paths", paths, "fetched_bytes", (json_int_t)res.fetched, "total_bytes",
                        (json_int_t)res.total, "from_cache", res.from_cache);
        ta_pull_result_free(&res);
    }
    char *s = json_dumps(out, JSON_COMPACT);
    printf("%s\n", s ? s : "{}");
    free(s);
    json_decref(out);
    if (rc) fprintf(stderr, "tabagent pull: %s\n", err.message);
    return rc ? 1 : 0;
}

int ta_cli_ls(int argc, char **argv)
{
    const char *cmd = "ls", *cache_flag = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model-cache-path") && i + 1 < argc)
            cache_flag = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            as_json = true;
        else
            return ta_cli_usage_error(cmd, "unknown argument %s", argv[i]);
    }
    ta_cache c;
    int rc = roots(cmd, cache_flag, &c, NULL);
    if (rc) return rc;
    ta_error err = {0};
    json_t *list = ta_cache_list(&c, &err);
    if (!list) return ta_cli_fail(cmd, "%s", err.message);
    if (as_json) {
        char *s = json_dumps(list, JSON_INDENT(2));
        printf("%s\n", s ? s : "[]");
        free(s);
    } else {
        printf("%-70s %10s  %s\n", "MODEL", "SIZE", "SOURCE");
        size_t i;
        json_t *m;
        json_array_foreach(list, i, m)
        {
            printf("%-70s %8.1f MB  %s%s\n", json_string_value(json_object_get(m, "id")),
                   (double)json_integer_value(json_object_get(m, "size")) / 1e6,
                   json_string_value(json_object_get(m, "source")),
                   json_is_true(json_object_get(m, "current")) ? "" : " (older revision)");
        }
    }
    json_decref(list);
    return 0;
}

int ta_cli_rm(int argc, char **argv)
{
    const char *cmd = "rm", *cache_flag = NULL, *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model-cache-path") && i + 1 < argc)
            cache_flag = argv[++i];
        else if (argv[i][0] == '-')
            return ta_cli_usage_error(cmd, "unknown option %s", argv[i]);
        else if (!name)
            name = argv[i];
        else
            return ta_cli_usage_error(cmd, "one model at a time");
    }
    if (!name) return ta_cli_usage_error(cmd, "which model? (tabagent ls lists them)");
    ta_cache c;
    int rc = roots(cmd, cache_flag, &c, NULL);
    if (rc) return rc;
    char spec[2048];
    ta_library_spec(name, spec, sizeof spec);
    ta_model_spec sp;
    ta_error err = {0};
    uint64_t bytes = 0;
    size_t files = 0;
    if (ta_spec_parse(spec, &sp, &err) || ta_cache_remove(&c, &sp, &bytes, &files, &err))
        return ta_cli_fail(cmd, "%s", err.message);
    printf("removed %s: %zu file%s, %.1f MB freed\n", spec, files, files == 1 ? "" : "s",
           (double)bytes / 1e6);
    return 0;
}
