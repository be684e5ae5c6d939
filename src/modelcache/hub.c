/*
 * hub.c - see hub.h. Small blocking requests (libcurl easy handles); the downloads
 * themselves are download.c's.
 */
#include "hub.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/core.h"
#include "../core/paths.h"

#define BODY_LIMIT (32u << 20) /* a tree page or an error body */

/* ---- configuration --------------------------------------------------------------------- */

static bool read_token(const char *path, char *out, size_t cap)
{
    FILE *f = path && path[0] ? fopen(path, "r") : NULL;
    if (!f) return false;
    bool ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (!ok) return false;
    size_t n = strlen(out);
    while (n && isspace((unsigned char)out[n - 1]))
        out[--n] = '\0';
    return n > 0;
}

static void load_token(ta_hub *h)
{
    h->token[0] = h->token_source[0] = '\0';
    const char *env = getenv("HF_TOKEN");
    if (env && env[0]) {
        snprintf(h->token, sizeof h->token, "%s", env);
        snprintf(h->token_source, sizeof h->token_source, "HF_TOKEN");
        return;
    }
    if (read_token(h->api_token_path, h->token, sizeof h->token)) {
        snprintf(h->token_source, sizeof h->token_source, "tabagent");
        return;
    }
    char path[4096] = "";
    const char *tp = getenv("HF_TOKEN_PATH"), *home = getenv("HF_HOME"), *uh = getenv("HOME");
    if (tp && tp[0])
        snprintf(path, sizeof path, "%s", tp);
    else if (home && home[0])
        snprintf(path, sizeof path, "%s/token", home);
    else if (uh && uh[0])
        snprintf(path, sizeof path, "%s/.cache/huggingface/token", uh);
    if (read_token(path, h->token, sizeof h->token))
        snprintf(h->token_source, sizeof h->token_source, "huggingface");
}

void ta_hub_init(ta_hub *h, const char *api_token_path)
{
    memset(h, 0, sizeof *h);
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = true;
    }
    const char *ep = getenv("HF_ENDPOINT");
    snprintf(h->endpoint, sizeof h->endpoint, "%s", ep && ep[0] ? ep : "https://huggingface.co");
    size_t n = strlen(h->endpoint);
    while (n && h->endpoint[n - 1] == '/')
        h->endpoint[--n] = '\0';
    if (api_token_path) snprintf(h->api_token_path, sizeof h->api_token_path, "%s", api_token_path);
    h->max_rate_waits = 3;
    h->max_wait_s = 60;
    load_token(h);
}

int ta_hub_set_token(ta_hub *h, const char *token, ta_error *err)
{
    if (!h->api_token_path[0]) return ta_error_set(err, TA_EINVAL, "no place to keep a token");
    if (!token) {
        if (unlink(h->api_token_path) && errno != ENOENT)
            return ta_error_set(err, TA_EIO, "%s: %s", h->api_token_path, strerror(errno));
        load_token(h);
        return TA_OK;
    }
    for (const char *c = token; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return ta_error_set(err, TA_EINVAL, "a token has no spaces or control characters");
    if (!token[0] || strlen(token) >= sizeof h->token)
        return ta_error_set(err, TA_EINVAL, "a token is 1 to %zu characters", sizeof h->token - 1);
    char tmp[4200], dir[4200];
    snprintf(dir, sizeof dir, "%s", h->api_token_path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        int rc = ta_paths_mkdirs(dir, 0700, err);
        if (rc) return rc;
    }
    int rc = ta_paths_tmp_name(tmp, sizeof tmp, h->api_token_path, err);
    if (rc) return rc;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return ta_error_set(err, TA_EIO, "%s: %s", tmp, strerror(errno));
    fchmod(fd, 0600); /* also when the file was there with other permissions */
    size_t len = strlen(token);
    bool ok = write(fd, token, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, h->api_token_path)) {
        unlink(tmp);
        return ta_error_set(err, TA_EIO, "%s: %s", h->api_token_path, strerror(errno));
    }
    load_token(h);
    return TA_OK;
}

/* ---- requests --------------------------------------------------------------------------- */

typedef struct resp {
    char *body;
    size_t len;
    long status;
    char error_code[64], error_message[512], next[4096], retry_after[32];
    char commit[64], linked_etag[80], etag[80], location[4096];
    uint64_t linked_size, content_length;
    bool has_linked_size, has_length;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t k = sz * n;
    if (r->len + k > BODY_LIMIT) return 0;
    char *b = realloc(r->body, r->len + k + 1);
    if (!b) return 0;
    memcpy(b + r->len, p, k);
    r->len += k;
    b[r->len] = '\0';
    r->body = b;
    return k;
}

/* The value of header line `line` if its name is `name`, trimmed, into out. */
static bool header(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) || line[nl] != ':') return false;
    const char *v = line + nl + 1;
    size_t vn = n - nl - 1;
    while (vn && (*v == ' ' || *v == '\t'))
        v++, vn--;
    while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
        vn--;
    if (vn >= cap) vn = cap - 1;
    memcpy(out, v, vn);
    out[vn] = '\0';
    return true;
}

/* An ETag without W/ and quotes. */
static void clean_etag(char *e)
{
    char *s = e;
    if (!strncmp(s, "W/", 2)) s += 2;
    if (*s == '"') s++;
    size_t n = strlen(s);
    if (n && s[n - 1] == '"') n--;
    memmove(e, s, n);
    e[n] = '\0';
}

static size_t on_header(char *line, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t k = sz * n;
    char v[4096];
    if (k > 9 && !strncmp(line, "HTTP/", 5)) { /* a new response (after a redirect) */
        r->error_code[0] = r->error_message[0] = r->next[0] = r->location[0] = '\0';
    } else if (header(line, k, "x-error-code", r->error_code, sizeof r->error_code) ||
               header(line, k, "x-error-message", r->error_message, sizeof r->error_message) ||
               header(line, k, "retry-after", r->retry_after, sizeof r->retry_after) ||
               header(line, k, "x-repo-commit", r->commit, sizeof r->commit) ||
               header(line, k, "location", r->location, sizeof r->location)) {
    } else if (header(line, k, "x-linked-etag", r->linked_etag, sizeof r->linked_etag)) {
        clean_etag(r->linked_etag);
    } else if (header(line, k, "etag", r->etag, sizeof r->etag)) {
        clean_etag(r->etag);
    } else if (header(line, k, "x-linked-size", v, sizeof v)) {
        r->linked_size = strtoull(v, NULL, 10);
        r->has_linked_size = true;
    } else if (header(line, k, "content-length", v, sizeof v)) {
        r->content_length = strtoull(v, NULL, 10);
        r->has_length = true;
    } else if (header(line, k, "link", v, sizeof v)) {
        /* <url>; rel="next", possibly among others */
        for (char *s = v; (s = strchr(s, '<'));) {
            char *e = strchr(s, '>');
            if (!e) break;
            char *rel = strstr(e, "rel=");
            char *comma = strchr(e, ',');
            if (rel && (!comma || rel < comma) && strstr(rel, "next")) {
                size_t len = (size_t)(e - s - 1);
                if (len < sizeof r->next) {
                    memcpy(r->next, s + 1, len);
                    r->next[len] = '\0';
                }
                break;
            }
            s = e + 1;
        }
    }
    return k;
}

/* One request (GET, or HEAD when head), 429s waited out; fills r. */
static int request(const ta_hub *h, const char *url, bool head, resp *r, ta_error *err)
{
    for (unsigned attempt = 0;; attempt++) {
        free(r->body);
        memset(r, 0, sizeof *r);
        CURL *e = curl_easy_init();
        if (!e) return ta_error_set(err, TA_ENOMEM, "cannot make a request");
        struct curl_slist *hd = curl_slist_append(NULL, "Accept-Encoding: identity");
        if (h->token[0]) {
            char auth[1100];
            snprintf(auth, sizeof auth, "Authorization: Bearer %s", h->token);
            hd = curl_slist_append(hd, auth);
        }
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "tabagent/" TA_VERSION);
        curl_easy_setopt(e, CURLOPT_NOBODY, head ? 1L : 0L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 15L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
        CURLcode c = curl_easy_perform(e);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
        curl_slist_free_all(hd);
        curl_easy_cleanup(e);
        if (c != CURLE_OK) return ta_error_set(err, TA_EIO, "%s: %s", url, curl_easy_strerror(c));
        if (r->status != 429 || attempt >= h->max_rate_waits) return TA_OK;
        unsigned wait = (unsigned)strtoul(r->retry_after, NULL, 10);
        if (!wait) wait = 1u << attempt;
        if (wait > h->max_wait_s) return TA_OK; /* longer than we wait: report it */
        struct timespec ts = {(time_t)wait, 0};
        nanosleep(&ts, NULL);
    }
}

/* The error for a failed hub answer, in the words a user can act on. */
static int hub_error(const ta_hub *h, const resp *r, const char *repo, const char *file,
                     ta_error *err)
{
    const char *code = r->error_code;
    if (r->status == 429)
        return ta_error_set(err, TA_EUNAVAILABLE,
                            "the Hub is rate-limiting requests%s%s%s; try again later",
                            r->retry_after[0] ? " (retry after " : "", r->retry_after,
                            r->retry_after[0] ? " s)" : "");
    if (!strcmp(code, "GatedRepo") || (r->status == 403 && strstr(r->error_message, "gated")))
        return ta_error_set(err, r->status == 401 ? TA_EUNAUTH : TA_EFORBIDDEN,
                            "%s is a gated model: accept its terms on the Hub, then %s", repo,
                            h->token[0] ? "make sure your token's account was granted access"
                                        : "set a Hugging Face token (HF_TOKEN, or the token API)");
    if (!strcmp(code, "RepoNotFound") || (r->status == 401 && !code[0]))
        return ta_error_set(err, TA_ENOTFOUND, "repository %s not found%s", repo,
                            h->token[0] ? " (or your token cannot see it)"
                                        : " (if it is private, set a Hugging Face token)");
    if (!strcmp(code, "RevisionNotFound"))
        return ta_error_set(err, TA_ENOTFOUND, "%s: no such revision", repo);
    if (!strcmp(code, "EntryNotFound") || r->status == 404)
        return ta_error_set(err, TA_ENOTFOUND, "%s: file %s not found", repo, file ? file : "");
    if (r->status == 401)
        return ta_error_set(err, TA_EUNAUTH, "the Hub refused the token (HTTP 401)");
    if (r->status == 403)
        return ta_error_set(err, TA_EFORBIDDEN, "%s: access denied (HTTP 403)%s%s", repo,
                            r->error_message[0] ? ": " : "", r->error_message);
    return ta_error_set(err, TA_EIO, "%s: the Hub answered HTTP %ld", repo, r->status);
}

/* repo as "org/name" with safe characters only (it goes into URLs and paths). */
static int check_repo(const char *repo, ta_error *err)
{
    const char *slash = repo ? strchr(repo, '/') : NULL;
    if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/') || strlen(repo) > 200)
        return ta_error_set(err, TA_EINVAL, "'%s': a repository is named org/name",
                            repo ? repo : "");
    for (const char *c = repo; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("-_./", *c))
            return ta_error_set(err, TA_EINVAL,
                                "'%s': unexpected character '%c' in a repository name", repo, *c);
    if (strstr(repo, ".."))
        return ta_error_set(err, TA_EINVAL, "'%s': '..' in a repository name", repo);
    return TA_OK;
}

/* Appends s URL-encoded (keeping '/' when keep_slash). */
static void append_encoded(char *out, size_t cap, const char *s, bool keep_slash)
{
    size_t o = strlen(out);
    static const char hex[] = "0123456789ABCDEF";
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || strchr("-._~", c) || (keep_slash && c == '/')) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

void ta_hub_resolve_url(const ta_hub *h, const char *repo, const char *rev, const char *file,
                        char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s/resolve/", h->endpoint, repo);
    append_encoded(out, cap, rev && rev[0] ? rev : "main", false);
    snprintf(out + strlen(out), cap - strlen(out), "/");
    append_encoded(out, cap, file, true);
}

int ta_hub_head(const ta_hub *h, const char *repo, const char *rev, const char *file,
                ta_hub_meta *m, ta_error *err)
{
    int rc = check_repo(repo, err);
    if (rc) return rc;
    memset(m, 0, sizeof *m);
    char url[4096];
    ta_hub_resolve_url(h, repo, rev, file, url, sizeof url);
    resp r = {0};
    rc = request(h, url, true, &r, err);
    if (!rc && r.status >= 300 && r.status < 400 && r.location[0] && r.location[0] == '/') {
        /* a relative redirect: the repository was renamed; follow it (never the CDN hop) */
        char again[4096];
        snprintf(again, sizeof again, "%s%s", h->endpoint, r.location);
        rc = request(h, again, true, &r, err);
        snprintf(url, sizeof url, "%s", again);
    }
    if (!rc && (r.status < 200 || r.status >= 400)) rc = hub_error(h, &r, repo, file, err);
    if (!rc) {
        snprintf(m->commit, sizeof m->commit, "%s", r.commit);
        snprintf(m->etag, sizeof m->etag, "%s", r.linked_etag[0] ? r.linked_etag : r.etag);
        size_t n = strlen(m->etag);
        m->lfs = n == 64 && strspn(m->etag, "0123456789abcdef") == 64;
        m->size = r.has_linked_size ? r.linked_size : r.content_length;
        bool redirect = r.status >= 300 && r.location[0];
        snprintf(m->url, sizeof m->url, "%s", redirect ? r.location : url);
        if (!m->etag[0] || !m->commit[0])
            rc = ta_error_set(err, TA_EIO, "%s: the Hub sent no %s for %s", repo,
                              m->etag[0] ? "commit (X-Repo-Commit)" : "ETag", file);
        else if (!m->size && !r.has_linked_size && !r.has_length)
            rc = ta_error_set(err, TA_EIO, "%s: the Hub sent no size for %s", repo, file);
        if (!rc && m->url[0] == '/') { /* a relative Location */
            char abs[4096];
            snprintf(abs, sizeof abs, "%s%s", h->endpoint, m->url);
            snprintf(m->url, sizeof m->url, "%s", abs);
        }
    }
    free(r.body);
    return rc;
}

int ta_hub_list(const ta_hub *h, const char *repo, const char *rev, ta_hub_file **files, size_t *n,
                ta_error *err)
{
    *files = NULL;
    *n = 0;
    int rc = check_repo(repo, err);
    if (rc) return rc;
    char url[4096];
    snprintf(url, sizeof url, "%s/api/models/%s/tree/", h->endpoint, repo);
    append_encoded(url, sizeof url, rev && rev[0] ? rev : "main", false);
    snprintf(url + strlen(url), sizeof url - strlen(url), "?recursive=true");
    size_t cap = 0;
    resp r = {0};
    for (unsigned page = 0; !rc && url[0]; page++) {
        if (page > 10000) {
            rc = ta_error_set(err, TA_EIO, "%s: the file list does not end", repo);
            break;
        }
        rc = request(h, url, false, &r, err);
        if (rc) break;
        if (r.status != 200) {
            rc = hub_error(h, &r, repo, NULL, err);
            break;
        }
        json_error_t je;
        json_t *arr = json_loadb(r.body ? r.body : "", r.len, 0, &je);
        if (!json_is_array(arr)) {
            json_decref(arr);
            rc = ta_error_set(err, TA_EIO, "%s: the file list is not a JSON array", repo);
            break;
        }
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e)
        {
            const char *type = json_string_value(json_object_get(e, "type"));
            const char *path = json_string_value(json_object_get(e, "path"));
            if (!type || strcmp(type, "file") || !path || strlen(path) >= sizeof(*files)->path)
                continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                ta_hub_file *f = realloc(*files, cap * sizeof *f);
                if (!f) {
                    rc = ta_error_set(err, TA_ENOMEM, "out of memory");
                    break;
                }
                *files = f;
            }
            ta_hub_file *f = &(*files)[(*n)++];
            memset(f, 0, sizeof *f);
            snprintf(f->path, sizeof f->path, "%s", path);
            json_int_t size = json_integer_value(json_object_get(e, "size"));
            f->size = size > 0 ? (uint64_t)size : 0;
            const char *oid = json_string_value(json_object_get(e, "oid"));
            if (oid) snprintf(f->oid, sizeof f->oid, "%s", oid);
            json_t *lfs = json_object_get(e, "lfs");
            const char *sha = json_string_value(json_object_get(lfs, "oid"));
            if (sha && strlen(sha) == 64) snprintf(f->sha256, sizeof f->sha256, "%s", sha);
            json_int_t lsize = json_integer_value(json_object_get(lfs, "size"));
            if (lsize > 0) f->size = (uint64_t)lsize;
        }
        json_decref(arr);
        snprintf(url, sizeof url, "%s", r.next);
    }
    free(r.body);
    if (rc) {
        free(*files);
        *files = NULL;
        *n = 0;
    }
    return rc;
}

int ta_hub_whoami(const ta_hub *h, char *name, size_t cap, ta_error *err)
{
    if (!h->token[0]) return ta_error_set(err, TA_EUNAUTH, "no Hugging Face token is set");
    char url[2048];
    snprintf(url, sizeof url, "%s/api/whoami-v2", h->endpoint);
    resp r = {0};
    int rc = request(h, url, false, &r, err);
    if (!rc && r.status == 401)
        rc = ta_error_set(err, TA_EUNAUTH, "the Hub does not accept this token");
    else if (!rc && r.status != 200)
        rc = ta_error_set(err, TA_EIO, "whoami: the Hub answered HTTP %ld", r.status);
    if (!rc) {
        json_t *o = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
        const char *nm = json_string_value(json_object_get(o, "name"));
        snprintf(name, cap, "%s", nm ? nm : "");
        json_decref(o);
    }
    free(r.body);
    return rc;
}
