/*
 * config.h - tabagent-server's settings: every flag has an environment twin
 * (--port / TABAGENT_PORT). Precedence: flag, then environment, then default.
 *
 * Arguments that are not flags are ignored, because browsers launch a native host
 * with their own (Chromium: "chrome-extension://ID/", Windows "--parent-window=N";
 * Firefox: the manifest path and the extension id).
 */
#ifndef TA_SERVER_CONFIG_H
#define TA_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "../core/core.h"

typedef enum {
    TA_MODE_ALL = 0,
    TA_MODE_NATIVE,
    TA_MODE_HTTP,
    TA_MODE_WEBRTC,
    TA_MODE_WEB,
} ta_mode;

typedef struct ta_server_config {
    ta_mode mode;
    char host[256];
    int port; /* 0 = any free port (logged at start) */
    char db_path[4096];
    char model_cache_path[4096];
    int log_level;
    char log_file[4096];
    char api_key[512];
    char cors_origins[4096];
    char web_root[4096];
    char docs_dir[4096];
    size_t max_body_size;
    size_t max_header_size;
    unsigned max_connections;
    unsigned idle_timeout_s;
    unsigned shutdown_grace_s;
    char models[16384]; /* --model values, one per line */
    unsigned parallel, ctx_size, threads, max_queue;
    char keep_alive[32];
    size_t memory_budget;
    unsigned download_parts;  /* parallel ranged parts per downloaded file */
    bool offline;             /* --offline / TABAGENT_OFFLINE=1: models from the cache only */
    bool launched_by_browser; /* an extension origin was among the arguments */
    bool show_help, show_version;
} ta_server_config;

#define TA_DEFAULT_CORS_ORIGINS                                                                    \
    "http://localhost:*,http://127.0.0.1:*,http://[::1]:*,https://localhost:*,"                    \
    "https://127.0.0.1:*,chrome-extension://*,moz-extension://*"

/* Fills defaults, then the environment (envp style lookup through getenv), then argv.
 * On a usage error returns TA_EINVAL with err naming the flag. */
int ta_server_config_load(ta_server_config *cfg, int argc, char **argv, ta_error *err);

void ta_server_config_usage(FILE *out, const char *prog);

const char *ta_mode_name(ta_mode mode);

/* Parses "32M", "1g", "4096"; returns -1 on error. */
long long ta_parse_size(const char *s);

#endif
