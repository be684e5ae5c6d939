/*
 * config.c - table-driven flags with environment twins; see config.h.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"

#ifndef TA_DOCS_DIR
#define TA_DOCS_DIR "node_modules"
#endif

typedef enum { OPT_STR, OPT_PORT, OPT_MODE, OPT_LEVEL, OPT_SIZE, OPT_UINT, OPT_LIST } opt_kind;

typedef struct opt {
    const char *flag; /* without the leading "--" */
    const char *env;
    opt_kind kind;
    size_t offset, size;
    const char *arg, *help;
} opt;

#define F(field) offsetof(ta_server_config, field), sizeof(((ta_server_config *)0)->field)

static const opt options[] = {
    {"model", "TABAGENT_MODEL", OPT_LIST, F(models), "[ID=]PATH",
     "a GGUF model to serve (repeatable; the id defaults to the file name)"},
    {"parallel", "TABAGENT_PARALLEL", OPT_UINT, F(parallel), "N",
     "requests a chat model decodes at once (default 4)"},
    {"max-queue", "TABAGENT_MAX_QUEUE", OPT_UINT, F(max_queue), "N",
     "requests that may wait for a busy model's slots; more get 503 (default 64)"},
    {"ctx-size", "TABAGENT_CTX_SIZE", OPT_UINT, F(ctx_size), "N",
     "context per request (default the model's, at most 4096)"},
    {"threads", "TABAGENT_THREADS", OPT_UINT, F(threads), "N",
     "inference threads (default one per core)"},
    {"keep-alive", "TABAGENT_KEEP_ALIVE", OPT_STR, F(keep_alive), "DURATION",
     "how long an idle model stays loaded: seconds, 5m, 1h, -1 = forever (default 5m)"},
    {"memory-budget", "TABAGENT_MEMORY_BUDGET", OPT_SIZE, F(memory_budget), "SIZE",
     "memory for loaded models, e.g. 8G (default: no limit)"},
    {"download-parts", "TABAGENT_DOWNLOAD_PARTS", OPT_UINT, F(download_parts), "N",
     "parallel ranged connections per downloaded model file (default 8)"},
    {"mode", "TABAGENT_MODE", OPT_MODE, F(mode), "MODE",
     "native | http | webrtc | web | all (default all)"},
    {"host", "TABAGENT_HOST", OPT_STR, F(host), "ADDR", "HTTP listen address (default 127.0.0.1)"},
    {"port", "TABAGENT_PORT", OPT_PORT, F(port), "N", "HTTP port (default 3000; 0 = any free)"},
    {"db-path", "TABAGENT_DB_PATH", OPT_STR, F(db_path), "DIR",
     "database directory (default <data>/tabagent_db)"},
    {"model-cache-path", "TABAGENT_MODEL_CACHE_PATH", OPT_STR, F(model_cache_path), "DIR",
     "model directory (default <data>/models)"},
    {"log-level", "TABAGENT_LOG_LEVEL", OPT_LEVEL, F(log_level), "LEVEL",
     "error | warn | info | debug | trace (default info)"},
    {"log-file", "TABAGENT_LOG_FILE", OPT_STR, F(log_file), "PATH",
     "append logs here instead of stderr"},
    {"api-key", "TABAGENT_API_KEY", OPT_STR, F(api_key), "KEY",
     "require 'Authorization: Bearer KEY' on the HTTP API (/v1/health stays public)"},
    {"cors-origins", "TABAGENT_CORS_ORIGINS", OPT_STR, F(cors_origins), "LIST",
     "comma-separated allowed origins; '*' wildcards a port or an id; '*' alone allows all "
     "(default: localhost origins and browser extensions)"},
    {"web-root", "TABAGENT_WEB_ROOT", OPT_STR, F(web_root), "DIR", "serve static files from DIR"},
    {"docs-dir", "TABAGENT_DOCS_DIR", OPT_STR, F(docs_dir), "DIR",
     "where the docs UI npm packages are (default: the build's node_modules)"},
    {"max-body-size", "TABAGENT_MAX_BODY_SIZE", OPT_SIZE, F(max_body_size), "SIZE",
     "largest HTTP request body (default 32M)"},
    {"max-header-size", "TABAGENT_MAX_HEADER_SIZE", OPT_SIZE, F(max_header_size), "SIZE",
     "memory for one request's headers (default 64K)"},
    {"max-connections", "TABAGENT_MAX_CONNECTIONS", OPT_UINT, F(max_connections), "N",
     "concurrent HTTP connections (default 256)"},
    {"idle-timeout", "TABAGENT_IDLE_TIMEOUT", OPT_UINT, F(idle_timeout_s), "SECONDS",
     "close idle HTTP connections after this long (default 60)"},
    {"shutdown-grace", "TABAGENT_SHUTDOWN_GRACE", OPT_UINT, F(shutdown_grace_s), "SECONDS",
     "on SIGINT/SIGTERM, wait this long for in-flight requests (default 10)"},
};

static const char *const mode_names[] = {"all", "native", "http", "webrtc", "web"};

const char *ta_mode_name(ta_mode mode)
{
    return (unsigned)mode < 5 ? mode_names[mode] : "?";
}

long long ta_parse_size(const char *s)
{
    char *end = NULL;
    errno = 0;
    if (!s || !*s || *s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return -1;
    unsigned long long mul = 1;
    switch (*end) {
    case '\0': break;
    case 'k':
    case 'K':
        mul = 1ull << 10;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1ull << 20;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1ull << 30;
        end++;
        break;
    default: return -1;
    }
    if (*end == 'i' || *end == 'B' || *end == 'b') end++;
    if (*end == 'B') end++;
    if (*end) return -1;
    if (v > (unsigned long long)(1ll << 50) / mul) return -1;
    return (long long)(v * mul);
}

static int set_opt(ta_server_config *cfg, const opt *o, const char *val, const char *source,
                   ta_error *err)
{
    char *field = (char *)cfg + o->offset;
    char *end = NULL;
    switch (o->kind) {
    case OPT_LIST: { /* repeatable: values joined by newlines */
        size_t used = strlen(field), len = strlen(val);
        if (!len || strchr(val, '\n') || used + len + 2 > o->size)
            return ta_error_set(err, TA_EINVAL, "%s: bad or too long value", source);
        if (used) field[used++] = '\n';
        memcpy(field + used, val, len + 1);
        return TA_OK;
    }
    case OPT_STR:
        if (strlen(val) >= o->size)
            return ta_error_set(err, TA_EINVAL, "%s: value too long", source);
        memcpy(field, val, strlen(val) + 1);
        return TA_OK;
    case OPT_PORT: {
        errno = 0;
        long p = strtol(val, &end, 10);
        if (errno || end == val || *end || p < 0 || p > 65535)
            return ta_error_set(err, TA_EINVAL, "%s: expected a port number 0-65535, got '%.32s'",
                                source, val);
        *(int *)field = (int)p;
        return TA_OK;
    }
    case OPT_MODE:
        for (int i = 0; i < 5; i++)
            if (!strcmp(val, mode_names[i])) {
                *(ta_mode *)field = (ta_mode)i;
                return TA_OK;
            }
        return ta_error_set(err, TA_EINVAL,
                            "%s: expected one of native, http, webrtc, web, all, got '%.32s'",
                            source, val);
    case OPT_LEVEL: {
        int l = ta_log_level_parse(val);
        if (l < 0)
            return ta_error_set(err, TA_EINVAL,
                                "%s: expected one of error, warn, info, debug, trace, got '%.32s'",
                                source, val);
        *(int *)field = l;
        return TA_OK;
    }
    case OPT_SIZE: {
        long long v = ta_parse_size(val);
        if (v <= 0)
            return ta_error_set(err, TA_EINVAL, "%s: expected a size like 32M, got '%.32s'", source,
                                val);
        *(size_t *)field = (size_t)v;
        return TA_OK;
    }
    case OPT_UINT: {
        errno = 0;
        unsigned long v = strtoul(val, &end, 10);
        if (errno || end == val || *end || *val == '-' || v > 1000000)
            return ta_error_set(err, TA_EINVAL, "%s: expected a number, got '%.32s'", source, val);
        *(unsigned *)field = (unsigned)v;
        return TA_OK;
    }
    }
    return TA_EINTERNAL;
}

static void defaults(ta_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = TA_MODE_ALL;
    strcpy(cfg->host, "127.0.0.1");
    cfg->port = 3000;
    cfg->log_level = TA_LOG_INFO;
    strcpy(cfg->cors_origins, TA_DEFAULT_CORS_ORIGINS);
    snprintf(cfg->docs_dir, sizeof cfg->docs_dir, "%s", TA_DOCS_DIR);
    cfg->max_body_size = 32u << 20;
    cfg->max_header_size = 64u << 10;
    cfg->max_connections = 256;
    cfg->idle_timeout_s = 60;
    cfg->shutdown_grace_s = 10;
    cfg->parallel = 4;
    cfg->download_parts = 8;
    strcpy(cfg->keep_alive, "5m");
}

static const opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strlen(options[i].flag) == len && !strncmp(options[i].flag, name, len))
            return &options[i];
    return NULL;
}

int ta_server_config_load(ta_server_config *cfg, int argc, char **argv, ta_error *err)
{
    defaults(cfg);
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        const char *v = getenv(options[i].env);
        if (v && *v) {
            int rc = set_opt(cfg, &options[i], v, options[i].env, err);
            if (rc) return rc;
        }
    }
    const char *off = getenv("TABAGENT_OFFLINE");
    if (off && (!strcmp(off, "1") || !strcmp(off, "true"))) cfg->offline = true;
    /* The original server's name for the model cache variable. */
    if (!getenv("TABAGENT_MODEL_CACHE_PATH") && getenv("TABAGENT_MODEL_CACHE")) {
        int rc = set_opt(cfg, find_opt("model-cache-path", 16), getenv("TABAGENT_MODEL_CACHE"),
                         "TABAGENT_MODEL_CACHE", err);
        if (rc) return rc;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "chrome-extension://", 19) || !strncmp(a, "moz-extension://", 16)) {
            cfg->launched_by_browser = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') continue; /* browser arguments */
        const char *name = a + 2;
        if (!strcmp(name, "help")) {
            cfg->show_help = true;
            continue;
        }
        if (!strcmp(name, "version")) {
            cfg->show_version = true;
            continue;
        }
        if (!strcmp(name, "offline")) { /* a switch: no value */
            cfg->offline = true;
            continue;
        }
        if (!strncmp(name, "parent-window=", 14)) continue; /* Chrome on Windows */
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const opt *o = find_opt(name, nlen);
        if (!o)
            return ta_error_set(err, TA_EINVAL, "unknown option '--%.*s' (see --help)", (int)nlen,
                                name);
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (i + 1 >= argc)
                return ta_error_set(err, TA_EINVAL, "--%s needs a value (%s)", o->flag, o->arg);
            val = argv[++i];
        }
        char src[64];
        snprintf(src, sizeof src, "--%s", o->flag);
        int rc = set_opt(cfg, o, val, src, err);
        if (rc) return rc;
    }
    return TA_OK;
}

void ta_server_config_usage(FILE *out, const char *prog)
{
    fprintf(out,
            "tabagent-server %s - a local AI server (HTTP API, browser native messaging)\n\n"
            "Usage: %s [options]\n"
            "       %s install-native-host --extension-id ID [--browser B] [--user|--system]\n"
            "       %s uninstall-native-host [--browser B] [--user|--system]\n\n"
            "Options (each also read from the environment variable shown):\n",
            TA_VERSION, prog, prog, prog);
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s %s", options[i].flag, options[i].arg);
        fprintf(out, "  %-30s %s\n  %-30s [%s]\n", left, options[i].help, "", options[i].env);
    }
    fprintf(out, "  %-30s %s\n  %-30s [%s]\n", "--offline",
            "models from the cache only: no Hugging Face Hub requests", "",
            "TABAGENT_OFFLINE=1, HF_HUB_OFFLINE=1");
    fprintf(out, "  %-30s %s\n  %-30s %s\n", "--version", "print the version and exit", "--help",
            "print this help and exit");
    fprintf(out,
            "\nModes: native = browser native messaging on stdin/stdout; http = the HTTP API;\n"
            "web = HTTP + WebRTC signalling; webrtc = WebRTC only; all = every transport\n"
            "(native messaging when stdin is a pipe or a browser launched the server).\n");
}
