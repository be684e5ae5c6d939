/*
 * http_static.c - static files from the web root, and the docs UI pages and assets.
 *
 * Safety: the path is already percent-decoded by libmicrohttpd. It is refused when a
 * segment is "." or "..", or contains a backslash; then the file is opened and its
 * realpath must lie inside the realpath of the root (a symlink cannot lead out).
 * Only regular files are served.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_internal.h"

static const struct {
    const char *ext, *type;
} mime_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".wasm", "application/wasm"},
    {".txt", "text/plain; charset=utf-8"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
};

static const char *mime_for(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
            if (!strcasecmp(dot, mime_types[i].ext)) return mime_types[i].type;
    return "application/octet-stream";
}

static bool path_safe(const char *path)
{
    if (path[0] != '/') return false;
    if (strchr(path, '\\')) return false;
    const char *s = path;
    while (*s) {
        while (*s == '/')
            s++;
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return false;
        s += n;
    }
    return true;
}

struct MHD_Response *ta_http_static_file(const char *root, const char *path, int *status)
{
    *status = 404;
    if (!root || !*root) return NULL;
    if (!path_safe(path)) {
        *status = 403;
        return NULL;
    }
    char real_root[PATH_MAX], want[PATH_MAX * 2], real_file[PATH_MAX];
    if (!realpath(root, real_root)) return NULL;
    int n = snprintf(want, sizeof want, "%s%s", real_root, path);
    if (n < 0 || (size_t)n >= sizeof want) return NULL;
    size_t wl = strlen(want);
    if (wl && want[wl - 1] == '/') {
        if (wl + 10 >= sizeof want) return NULL;
        strcat(want, "index.html");
    }
    if (!realpath(want, real_file)) return NULL;
    size_t rl = strlen(real_root);
    if (strncmp(real_file, real_root, rl) != 0 || (real_file[rl] != '/' && real_file[rl] != '\0')) {
        *status = 403;
        return NULL;
    }
    struct stat st;
    if (stat(real_file, &st) != 0) return NULL;
    if (S_ISDIR(st.st_mode)) {
        char idx[PATH_MAX + 16];
        snprintf(idx, sizeof idx, "%s/index.html", real_file);
        if (strlen(idx) >= sizeof real_file) return NULL;
        strcpy(real_file, idx);
    }
    /* O_NONBLOCK: opening a FIFO placed in the web root must not wait for a writer. */
    if (stat(real_file, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
    int fd = open(real_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!r) {
        close(fd);
        *status = 500;
        return NULL;
    }
    MHD_add_response_header(r, "Content-Type", mime_for(real_file));
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    *status = 200;
    return r;
}

/* Docs pages: small HTML shells around the locally installed UI bundles. */
static const char swagger_page[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>tabagent API</title>"
    "<link rel=\"stylesheet\" href=\"/docs/assets/swagger-ui/swagger-ui.css\"></head><body>"
    "<div id=\"swagger-ui\"></div>"
    "<script src=\"/docs/assets/swagger-ui/swagger-ui-bundle.js\"></script>"
    "<script src=\"/docs/assets/swagger-ui/swagger-ui-standalone-preset.js\"></script>"
    "<script>window.ui = SwaggerUIBundle({url: '/api-doc/openapi.json', dom_id: '#swagger-ui',"
    " presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],"
    " layout: 'StandaloneLayout'});</script></body></html>\n";

static const char redoc_page[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>tabagent API</title></head><body>"
    "<redoc spec-url=\"/api-doc/openapi.json\"></redoc>"
    "<script src=\"/docs/assets/redoc/redoc.standalone.js\"></script></body></html>\n";

static const char rapidoc_page[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>tabagent API</title>"
    "<script type=\"module\" src=\"/docs/assets/rapidoc/rapidoc-min.js\"></script></head><body>"
    "<rapi-doc spec-url=\"/api-doc/openapi.json\" render-style=\"read\" "
    "load-fonts=\"false\"></rapi-doc>"
    "</body></html>\n";

struct MHD_Response *ta_http_docs_page(ta_builtin which)
{
    const char *page = which == TA_BUILTIN_REDOC     ? redoc_page
                       : which == TA_BUILTIN_RAPIDOC ? rapidoc_page
                                                     : swagger_page;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(page), (void *)page, MHD_RESPMEM_PERSISTENT);
    if (r) {
        MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
        /* The docs work offline: the pages may load only what this server serves (the
         * UIs' own links to CDNs, such as ReDoc's footer logo, are refused). */
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                                "font-src 'self' data:; connect-src 'self'; "
                                "worker-src 'self' blob:");
    }
    return r;
}

/* Which npm package directory serves each UI's assets. */
static const struct {
    const char *prefix, *package_dir;
} asset_dirs[] = {
    {"/docs/assets/swagger-ui/", "swagger-ui-dist"},
    {"/docs/assets/redoc/", "redoc/bundles"},
    {"/docs/assets/rapidoc/", "rapidoc/dist"},
};

struct MHD_Response *ta_http_docs_asset(const char *docs_dir, const char *path, int *status)
{
    *status = 404;
    for (size_t i = 0; i < sizeof asset_dirs / sizeof asset_dirs[0]; i++) {
        size_t pl = strlen(asset_dirs[i].prefix);
        if (strncmp(path, asset_dirs[i].prefix, pl) != 0) continue;
        char root[PATH_MAX];
        int n = snprintf(root, sizeof root, "%s/%s", docs_dir, asset_dirs[i].package_dir);
        if (n < 0 || (size_t)n >= sizeof root) return NULL;
        if (access(root, R_OK) != 0) {
            *status = 503; /* installed by scripts/setup.sh; say so instead of a bare 404 */
            return NULL;
        }
        return ta_http_static_file(root, path + pl - 1, status);
    }
    return NULL;
}
