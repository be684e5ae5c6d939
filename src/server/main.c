/*
 * main.c - tabagent-server: parse the configuration, start the transports the mode
 * asks for, and stop them cleanly on SIGINT/SIGTERM or when the browser closes the
 * native-messaging pipe.
 *
 * Signals are blocked in every thread and taken by one thread with sigwait(), so no
 * work happens in a signal handler. A second SIGINT/SIGTERM exits at once.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../app/app.h"
#include "../app/models.h"
#include "../ml/ml.h"
#include "../index/hnsw.h"
#include "../storage/storage.h"
#include "../core/core.h"
#include "../handler/router.h"
#include "../transport/http/http.h"
#include "../transport/native/native_host.h"
#include "config.h"
#include "install_cmd.h"

/* Why the process is stopping; the first reason wins. */
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static const char *stop_reason;

static void request_stop(const char *why)
{
    pthread_mutex_lock(&stop_lock);
    if (!stop_reason) stop_reason = why;
    pthread_cond_broadcast(&stop_cond);
    pthread_mutex_unlock(&stop_lock);
}

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig, count = 0;
    while (sigwait(set, &sig) == 0) {
        if (++count > 1) {
            ta_log_warn("second signal: exiting now");
            _exit(130);
        }
        ta_log_info("received %s; shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        request_stop("signal");
    }
    return NULL;
}

typedef struct native_ctx {
    ta_native_host *host;
} native_ctx;

static void *native_thread(void *arg)
{
    native_ctx *n = arg;
    int rc = ta_native_host_run(n->host);
    request_stop(rc == TA_OK ? "native messaging closed" : "native messaging failed");
    return NULL;
}

/* In mode "all", native messaging runs when a browser launched us or stdin is a pipe
 * or socket (not a terminal, not /dev/null). */
static bool want_native(const ta_server_config *cfg)
{
    if (cfg->mode == TA_MODE_NATIVE) return true;
    if (cfg->mode != TA_MODE_ALL) return false;
    if (cfg->launched_by_browser) return true;
    struct stat st;
    return fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

/* "300", "30s", "5m", "1h", "-1" -> seconds; false when it is none of these. */
static bool parse_duration(const char *s, double *out)
{
    char *end;
    double x = strtod(s, &end);
    if (end == s) return false;
    double mul = !*end || !strcmp(end, "s") ? 1
                 : !strcmp(end, "m")        ? 60
                 : !strcmp(end, "h")        ? 3600
                                            : 0;
    if (!mul) return false;
    *out = x * mul;
    return true;
}

/* The ML client and the orchestrator, with the models of --model ([ID=]PATH). */
static int start_models(const ta_server_config *cfg, ta_app *app, ta_ml **ml, ta_error *err)
{
    ta_models_config mc = {.memory_budget = cfg->memory_budget,
                           .load = {.n_ctx = cfg->ctx_size,
                                    .n_parallel = cfg->parallel,
                                    .max_queue = cfg->max_queue,
                                    .threads = (int)cfg->threads}};
    if (!parse_duration(cfg->keep_alive, &mc.keep_alive_s))
        return ta_error_set(err, TA_EINVAL,
                            "--keep-alive: expected seconds or 30s / 5m / 1h, got '%.32s'",
                            cfg->keep_alive);
    *ml = ta_ml_inproc_new(err);
    if (!*ml) return err->code;
    app->models = ta_models_new(*ml, &mc, err);
    if (!app->models) return err->code;
    ta_models_set_resolver(app->models, ta_app_resolve_cached, app); /* cached model ids */
    app->offline = cfg->offline;
    app->download_parts = cfg->download_parts ? cfg->download_parts : 8;
    char list[sizeof cfg->models];
    snprintf(list, sizeof list, "%s", cfg->models);
    for (char *save = NULL, *item = strtok_r(list, "\n", &save); item;
         item = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(item, '=');
        const char *path = eq ? eq + 1 : item;
        char id[256];
        if (eq) {
            snprintf(id, sizeof id, "%.*s", (int)(eq - item), item);
        } else { /* the file name without .gguf */
            const char *base = strrchr(path, '/');
            base = base ? base + 1 : path;
            size_t n = strlen(base);
            if (n > 5 && !strcmp(base + n - 5, ".gguf")) n -= 5;
            snprintf(id, sizeof id, "%.*s", (int)n, base);
        }
        int rc = ta_models_register(app->models, id, path, err);
        if (rc) {
            ta_error_prefix(err, "--model %s: ", item);
            return rc;
        }
        ta_log_info("model %s: %s", id, path);
    }
    return TA_OK;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "install-native-host"))
        return ta_cmd_install_native_host(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "uninstall-native-host"))
        return ta_cmd_uninstall_native_host(argc - 1, argv + 1);

    ta_server_config cfg;
    ta_error err;
    ta_error_clear(&err);
    if (ta_server_config_load(&cfg, argc, argv, &err) != TA_OK) {
        fprintf(stderr, "tabagent-server: %s\n", err.message);
        return 2;
    }
    if (cfg.show_help) {
        ta_server_config_usage(stdout, "tabagent-server");
        return 0;
    }
    if (cfg.show_version) {
        printf("tabagent-server %s\n", TA_VERSION);
        return 0;
    }

    signal(SIGPIPE, SIG_IGN); /* a closed socket or pipe is an error return, not a death */
    ta_log_set_level((ta_log_level)cfg.log_level);
    if (cfg.log_file[0] && ta_log_set_file(cfg.log_file) != TA_OK) {
        fprintf(stderr, "tabagent-server: cannot open log file %s\n", cfg.log_file);
        return 1;
    }
    if (cfg.mode == TA_MODE_WEBRTC) {
        ta_log_error("the WebRTC transport is not available yet in this version; use --mode http "
                     "or --mode native");
        fprintf(stderr, "tabagent-server: the WebRTC transport is not available yet\n");
        return 2;
    }

    bool native = want_native(&cfg);
    bool http = cfg.mode == TA_MODE_HTTP || cfg.mode == TA_MODE_WEB || cfg.mode == TA_MODE_ALL;

    static ta_app app;
    if (ta_app_init(&app, cfg.db_path[0] ? cfg.db_path : NULL,
                    cfg.model_cache_path[0] ? cfg.model_cache_path : NULL, &err) != TA_OK) {
        ta_log_error("%s", err.message);
        fprintf(stderr, "tabagent-server: %s\n", err.message);
        return 1;
    }
    /* From here on, threads exist: block the stop signals in all of them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t sig_tid;
    pthread_create(&sig_tid, NULL, signal_thread, &set);

    /* The memory database: without it the server still serves models, and the memory
     * actions answer 503 with the reason in the log. */
    pthread_mutex_init(&app.store_lock, NULL);
    app.store = ta_store_open(app.db_path, &err);
    if (!app.store) {
        ta_log_error("memory database in %s: %s", app.db_path, err.message);
    } else {
        if (ta_app_index_open(&app, &err)) ta_log_error("memory vector index: %s", err.message);
        if (ta_app_maintenance_start(&app, 300, &err)) ta_log_warn("%s", err.message);
    }

    ta_ml *ml = NULL;
    if (start_models(&cfg, &app, &ml, &err) != TA_OK) {
        ta_log_error("%s", err.message);
        fprintf(stderr, "tabagent-server: %s\n", err.message);
        return 1;
    }
    ta_router *router = ta_router_new(&app);
    if (!router || ta_router_add_core_actions(router) != TA_OK ||
        ta_router_add_chat_actions(router) != TA_OK ||
        ta_router_add_model_actions(router) != TA_OK ||
        ta_router_add_native_actions(router) != TA_OK ||
        ta_router_add_memory_actions(router) != TA_OK ||
        ta_router_add_pull_actions(router) != TA_OK ||
        ta_router_add_hardware_actions(router) != TA_OK) {
        ta_log_error("cannot build the action table");
        ta_router_free(router);
        return 1;
    }
    ta_log_info("tabagent-server %s, mode %s; data %s, database %s, models %s", TA_VERSION,
                ta_mode_name(cfg.mode), app.data_dir, app.db_path, app.model_cache_path);

    ta_http_server *server = NULL;
    if (http) {
        ta_http_config hc = {.host = cfg.host,
                             .port = cfg.port,
                             .api_key = cfg.api_key,
                             .cors_origins = cfg.cors_origins,
                             .web_root = cfg.web_root,
                             .docs_dir = cfg.docs_dir,
                             .max_body_size = cfg.max_body_size,
                             .max_header_size = cfg.max_header_size,
                             .max_connections = cfg.max_connections,
                             .idle_timeout_s = cfg.idle_timeout_s};
        server = ta_http_start(&hc, router, &err);
        if (!server) {
            if (native && cfg.mode == TA_MODE_ALL) {
                ta_log_warn("HTTP API not started: %s; serving native messaging only", err.message);
            } else {
                ta_log_error("%s", err.message);
                if (cfg.log_file[0]) fprintf(stderr, "tabagent-server: %s\n", err.message);
                ta_router_free(router);
                return 1;
            }
        } else {
            ta_log_info("HTTP API listening on http://%s%s%s:%d (docs at /docs)",
                        strchr(cfg.host, ':') ? "[" : "", cfg.host,
                        strchr(cfg.host, ':') ? "]" : "", ta_http_port(server));
        }
        if (cfg.mode != TA_MODE_HTTP)
            ta_log_info("WebRTC transport: not available yet in this version");
    }

    native_ctx nctx = {0};
    pthread_t native_tid;
    bool native_running = false;
    if (native) {
        ta_native_config nc = {.in_fd = 0, .out_fd = 1};
        nctx.host = ta_native_host_new(router, &nc);
        if (nctx.host && pthread_create(&native_tid, NULL, native_thread, &nctx) == 0) {
            native_running = true;
            ta_log_info("native messaging on stdin/stdout");
        } else {
            ta_log_error("cannot start native messaging");
        }
    }
    if (!server && !native_running) {
        ta_log_error("no transport is running; exiting");
        if (nctx.host) ta_native_host_free(nctx.host);
        ta_router_free(router);
        return 1;
    }

    pthread_mutex_lock(&stop_lock);
    while (!stop_reason)
        pthread_cond_wait(&stop_cond, &stop_lock);
    const char *why = stop_reason;
    pthread_mutex_unlock(&stop_lock);
    ta_log_info("stopping (%s)", why);

    /* Handlers see shutting_down through their sinks and wrap up; then each transport
     * waits for what it has in flight. */
    atomic_store(&app.shutting_down, true);
    if (native_running) {
        ta_native_host_stop(nctx.host);
        pthread_join(native_tid, NULL);
        ta_native_host_free(nctx.host);
    }
    if (server) ta_http_stop(server, cfg.shutdown_grace_s * 1000u);
    ta_router_free(router);
    ta_models_free(app.models);
    ta_ml_free(ml);
    ta_app_maintenance_stop(&app); /* saves the vector index */
    ta_store_close(app.store);
    ta_hnsw_free(app.msg_index);
    ta_log_info("stopped");
    return 0;
}
