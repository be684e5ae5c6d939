/*
 * download.c - see download.h.
 *
 * One thread drives every part through one curl multi handle. Each part knows its
 * range [offset, offset + size) and how much of it is on disk (done); a transfer asks
 * for the rest (Range: bytes=offset+done-offset+size-1) and writes what arrives with
 * pwrite at its place. The sidecar is rewritten (temp file + rename) at most every
 * tenth of a second while bytes arrive, after the data it describes was written, so it
 * never claims bytes the file does not hold after a crash of the process. Nothing is
 * forced to disk on the way (that would cap the download at the disk's sync rate); after
 * a power loss the sidecar may claim bytes that never reached the disk, and the
 * checksum at the end catches that (the file is then fetched again). The finished file
 * is fsynced before it is published.
 */
#include "download.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "../core/core.h"
#include "../core/sha256.h"

#define MIN_PART      (1u << 20) /* no part smaller than 1 MiB */
#define PERSIST_EVERY 0.1        /* seconds between sidecar rewrites */
#define MAX_STALLS    50         /* stalled transfers restarted before giving up */
#define SPACE_MARGIN  (16ull << 20)

typedef struct dl dl;

typedef struct part {
    uint64_t offset, size, done;
    CURL *easy;
    uint64_t req_start; /* file offset the running transfer started at */
    unsigned failures;
    double retry_at;
    bool checked;   /* the response's status was looked at */
    bool bad_range; /* Content-Range did not start where we asked */
    struct curl_slist *headers;
    dl *d;
} part;

struct dl {
    const ta_dl_request *r;
    int fd;
    part *p;
    unsigned n;
    bool whole;        /* one transfer of the whole file (the server ignores Range) */
    bool norange_seen; /* a 200 answered a Range request: switch to whole */
    uint64_t fetched;
    unsigned restarts, stalls;
    bool dirty;
    double last_persist;
    char inc[4200], side[4200];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t on_disk(const dl *d)
{
    uint64_t s = 0;
    for (unsigned i = 0; i < d->n; i++)
        s += d->p[i].done;
    return s;
}

/* ---- the sidecar -------------------------------------------------------------------- */

static int persist(dl *d, ta_error *err)
{
    double t = now_s();
    json_t *parts = json_array();
    for (unsigned i = 0; i < d->n; i++)
        json_array_append_new(parts, json_pack("[I,I,I]", (json_int_t)d->p[i].offset,
                                               (json_int_t)d->p[i].size, (json_int_t)d->p[i].done));
    json_t *o = json_pack("{s:i,s:I,s:s?,s:s?,s:b,s:o}", "version", 1, "size",
                          (json_int_t)d->r->size, "sha256", d->r->sha256, "git_sha1",
                          d->r->git_sha1, "whole", d->whole, "parts", parts);
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", d->side);
    int rc = o && json_dump_file(o, tmp, JSON_COMPACT) == 0 && rename(tmp, d->side) == 0
                 ? TA_OK
                 : ta_error_set(err, TA_EIO, "%s: %s", d->side, strerror(errno));
    json_decref(o);
    d->dirty = false;
    d->last_persist = t;
    return rc;
}

/* The parts recorded by an earlier attempt, when they describe this same file and
 * cover it exactly; false means start over. */
static bool load_sidecar(dl *d)
{
    json_t *o = json_load_file(d->side, 0, NULL);
    if (!o) return false;
    const ta_dl_request *r = d->r;
    json_t *parts = json_object_get(o, "parts");
    const char *sha = json_string_value(json_object_get(o, "sha256"));
    const char *git = json_string_value(json_object_get(o, "git_sha1"));
    bool ok = json_integer_value(json_object_get(o, "version")) == 1 &&
              (uint64_t)json_integer_value(json_object_get(o, "size")) == r->size &&
              !!sha == !!r->sha256 && (!sha || !strcmp(sha, r->sha256)) && !!git == !!r->git_sha1 &&
              (!git || !strcmp(git, r->git_sha1)) && json_array_size(parts) > 0 &&
              json_array_size(parts) <= 1024;
    unsigned n = ok ? (unsigned)json_array_size(parts) : 0;
    part *p = ok ? calloc(n, sizeof *p) : NULL;
    uint64_t expect = 0;
    for (unsigned i = 0; p && i < n; i++) {
        json_t *e = json_array_get(parts, i);
        json_int_t off = json_integer_value(json_array_get(e, 0));
        json_int_t size = json_integer_value(json_array_get(e, 1));
        json_int_t done = json_integer_value(json_array_get(e, 2));
        if (json_array_size(e) != 3 || off < 0 || size <= 0 || done < 0 || done > size ||
            (uint64_t)off != expect) {
            free(p);
            p = NULL;
            break;
        }
        p[i] = (part){.offset = (uint64_t)off, .size = (uint64_t)size, .done = (uint64_t)done};
        expect += (uint64_t)size;
    }
    if (p && expect != r->size) {
        free(p);
        p = NULL;
    }
    if (p) {
        d->p = p;
        d->n = n;
        d->whole = json_is_true(json_object_get(o, "whole"));
    }
    json_decref(o);
    return p != NULL;
}

static int split(dl *d, unsigned n, ta_error *err)
{
    uint64_t size = d->r->size;
    if (n == 0) n = 1;
    if (size / n < MIN_PART) n = (unsigned)(size / MIN_PART ? size / MIN_PART : 1);
    free(d->p);
    d->p = calloc(n, sizeof *d->p);
    if (!d->p) return ta_error_set(err, TA_ENOMEM, "out of memory");
    d->n = n;
    uint64_t base = size / n, off = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t s = i + 1 == n ? size - off : base;
        d->p[i] = (part){.offset = off, .size = s};
        off += s;
    }
    return TA_OK;
}

/* ---- transfers ----------------------------------------------------------------------- */

static size_t on_header(char *buf, size_t sz, size_t nitems, void *ud)
{
    part *p = ud;
    size_t n = sz * nitems;
    if (n > 14 && !strncasecmp(buf, "content-range:", 14)) {
        const char *s = buf + 14;
        while (*s == ' ' || *s == '\t')
            s++;
        unsigned long long a = 0;
        if (strncasecmp(s, "bytes ", 6) || sscanf(s + 6, "%llu", &a) != 1 || a != p->req_start)
            p->bad_range = true;
    }
    return n;
}

static size_t on_data(char *buf, size_t sz, size_t nmemb, void *ud)
{
    part *p = ud;
    dl *d = p->d;
    size_t n = sz * nmemb;
    if (!p->checked) {
        long code = 0;
        curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
        p->checked = true;
        /* 200 to a Range request: the whole file comes; fine only when that is asked */
        if (code == 200 && !(d->whole && p->req_start == 0)) {
            d->norange_seen = true;
            return 0;
        }
        if (code != 200 && code != 206) return 0;
        if (p->bad_range) return 0;
    }
    if (n > p->size - p->done) return 0; /* more than the range: refuse it */
    size_t w = 0;
    while (w < n) {
        ssize_t k = pwrite(d->fd, buf + w, n - w, (off_t)(p->offset + p->done + w));
        if (k <= 0) {
            if (k < 0 && errno == EINTR) continue;
            return 0;
        }
        w += (size_t)k;
    }
    p->done += n;
    d->fetched += n;
    d->dirty = true;
    return n;
}

static int start(dl *d, CURLM *m, part *p, ta_error *err)
{
    const ta_dl_request *r = d->r;
    CURL *e = curl_easy_init();
    if (!e) return ta_error_set(err, TA_ENOMEM, "cannot make a transfer");
    p->easy = e;
    p->d = d;
    p->checked = p->bad_range = false;
    p->req_start = p->offset + p->done;
    char range[64];
    snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)p->req_start,
             (unsigned long long)(p->offset + p->size - 1));
    p->headers = curl_slist_append(NULL, "Accept-Encoding: identity");
    if (r->bearer && r->bearer[0]) {
        char auth[1100];
        snprintf(auth, sizeof auth, "Authorization: Bearer %.1000s", r->bearer);
        p->headers = curl_slist_append(p->headers, auth);
    }
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, p);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, p);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "tabagent/" TA_VERSION);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 512L * 1024); /* fewer, larger writes */
    /* stall: less than 1 byte/s over the stall timeout ends the transfer */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                     (long)(r->stall_timeout_s ? r->stall_timeout_s : 30));
    if (!(d->whole && p->req_start == 0 && p->size == r->size))
        curl_easy_setopt(e, CURLOPT_RANGE, range);
    if (curl_multi_add_handle(m, e) != CURLM_OK) {
        curl_slist_free_all(p->headers);
        p->headers = NULL;
        curl_easy_cleanup(e);
        p->easy = NULL;
        return ta_error_set(err, TA_EIO, "cannot start a transfer");
    }
    return TA_OK;
}

static void stop(CURLM *m, part *p)
{
    if (!p->easy) return;
    curl_multi_remove_handle(m, p->easy);
    curl_easy_cleanup(p->easy);
    curl_slist_free_all(p->headers);
    p->easy = NULL;
    p->headers = NULL;
}

/* A transfer ended: done, to be retried (after a back-off), or fatal. */
static int finished(dl *d, CURLM *m, part *p, CURLcode res, ta_error *err)
{
    long code = 0;
    curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
    char why[CURL_ERROR_SIZE + 64];
    snprintf(why, sizeof why, "%s", curl_easy_strerror(res));
    stop(m, p);
    if (res == CURLE_OK && p->done == p->size) return TA_OK;
    if (d->norange_seen) return TA_OK; /* handled by the caller: whole-file mode */
    if (res == CURLE_HTTP_RETURNED_ERROR) {
        if (code == 401 || code == 403)
            return ta_error_set(err, TA_EFORBIDDEN,
                                "%s: the server refused the download (HTTP %ld); a signed URL "
                                "may have expired",
                                d->r->url, code);
        if (code == 404 || code == 410)
            return ta_error_set(err, TA_ENOTFOUND, "%s: not found (HTTP %ld)", d->r->url, code);
        if (code == 416)
            return ta_error_set(err, TA_EIO, "%s: the server refused range %llu- (HTTP 416)",
                                d->r->url, (unsigned long long)p->req_start);
        snprintf(why, sizeof why, "HTTP %ld", code);
    } else if (res == CURLE_OK) {
        snprintf(why, sizeof why, "the transfer ended %llu bytes short",
                 (unsigned long long)(p->size - p->done));
    } else if (p->bad_range) {
        snprintf(why, sizeof why, "the server sent another range than asked");
    }
    d->restarts++;
    if (res == CURLE_OPERATION_TIMEDOUT) { /* a stall: restart at once */
        if (++d->stalls > MAX_STALLS)
            return ta_error_set(err, TA_EIO, "%s: transfers stalled %u times", d->r->url,
                                d->stalls);
        p->retry_at = 0;
        return TA_OK;
    }
    if (++p->failures > (d->r->max_retries ? d->r->max_retries : 6))
        return ta_error_set(err, TA_EIO, "%s: bytes %llu-%llu failed %u times (last: %s)",
                            d->r->url, (unsigned long long)p->offset,
                            (unsigned long long)(p->offset + p->size - 1), p->failures, why);
    double backoff = 0.25 * (double)(1u << (p->failures < 6 ? p->failures : 6));
    p->retry_at = now_s() + (backoff > 8 ? 8 : backoff);
    return TA_OK;
}

/* The server ignored Range: forget the parts, fetch everything in one transfer. */
static int go_whole(dl *d, CURLM *m, ta_error *err)
{
    for (unsigned i = 0; i < d->n; i++)
        stop(m, &d->p[i]);
    d->whole = true;
    d->norange_seen = false;
    int rc = split(d, 1, err);
    return rc ? rc : persist(d, err);
}

static void report(dl *d, double *last_t, uint64_t *last_bytes, double *rate, unsigned active,
                   bool force)
{
    double t = now_s();
    if (!force && t - *last_t < 0.1) return;
    double dt = t - *last_t;
    if (dt > 0) {
        double inst = (double)(d->fetched - *last_bytes) / dt;
        double a = dt >= 1 ? 1 : dt; /* about a one-second moving average */
        *rate = *rate * (1 - a) + inst * a;
    }
    *last_t = t;
    *last_bytes = d->fetched;
    if (d->r->progress) {
        ta_dl_progress pr = {on_disk(d), d->r->size, *rate, active};
        d->r->progress(d->r->ud, &pr);
    }
}

static int run(dl *d, ta_error *err)
{
    CURLM *m = curl_multi_init();
    if (!m) return ta_error_set(err, TA_ENOMEM, "cannot make a transfer set");
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    int rc = TA_OK;
    double last_t = now_s(), rate = 0;
    uint64_t last_bytes = d->fetched;
    for (;;) {
        if (d->r->cancel && atomic_load(d->r->cancel)) {
            rc = ta_error_set(err, TA_ECANCELLED, "download cancelled");
            break;
        }
        bool all_done = true;
        double t = now_s(), next_retry = 0;
        unsigned active = 0;
        for (unsigned i = 0; !rc && i < d->n; i++) {
            part *p = &d->p[i];
            if (p->done == p->size) continue;
            all_done = false;
            if (p->easy) {
                active++;
            } else if (p->retry_at <= t) {
                rc = start(d, m, p, err);
                active++;
            } else if (!next_retry || p->retry_at < next_retry) {
                next_retry = p->retry_at;
            }
        }
        if (rc || all_done) break;
        int running = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while (!rc && (msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            part *p = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
            rc = finished(d, m, p, msg->data.result, err);
            if (!rc && d->norange_seen) rc = go_whole(d, m, err);
        }
        if (rc) break;
        if (d->dirty && now_s() - d->last_persist >= PERSIST_EVERY) rc = persist(d, err);
        if (rc) break;
        report(d, &last_t, &last_bytes, &rate, active, false);
        int timeout = 100;
        if (!running && next_retry > 0) {
            double wait = next_retry - now_s();
            timeout = wait <= 0 ? 0 : wait > 0.1 ? 100 : (int)(wait * 1000) + 1;
        }
        curl_multi_poll(m, NULL, 0, timeout, NULL);
    }
    for (unsigned i = 0; i < d->n; i++)
        stop(m, &d->p[i]);
    curl_multi_cleanup(m);
    report(d, &last_t, &last_bytes, &rate, 0, true);
    ta_error perr = {0};
    if (persist(d, &perr) && !rc) rc = ta_error_set(err, perr.code, "%s", perr.message);
    return rc;
}

/* ---- digests, space, lock ----------------------------------------------------------- */

int ta_file_digest(const char *path, char sha256[65], char *git_sha1, ta_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ta_error_set(err, TA_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    fstat(fd, &st);
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = git_sha1 ? EVP_MD_CTX_new() : NULL;
    int rc = TA_OK;
    if (!a || (git_sha1 && !b) || !EVP_DigestInit_ex(a, EVP_sha256(), NULL) ||
        (b && !EVP_DigestInit_ex(b, EVP_sha1(), NULL)))
        rc = ta_error_set(err, TA_ENOMEM, "cannot hash");
    if (!rc && b) {
        char hdr[64];
        int n = snprintf(hdr, sizeof hdr, "blob %lld", (long long)st.st_size);
        EVP_DigestUpdate(b, hdr, (size_t)n + 1); /* with its NUL, as git does */
    }
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = rc ? NULL : malloc(CHUNK);
    if (!rc && !buf) rc = ta_error_set(err, TA_ENOMEM, "out of memory");
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (ssize_t k; !rc && (k = read(fd, buf, CHUNK)) != 0;) {
        if (k < 0) {
            if (errno == EINTR) continue;
            rc = ta_error_set(err, TA_EIO, "%s: %s", path, strerror(errno));
            break;
        }
        EVP_DigestUpdate(a, buf, (size_t)k);
        if (b) EVP_DigestUpdate(b, buf, (size_t)k);
    }
    unsigned char md[32];
    unsigned int mlen = 0;
    if (!rc && EVP_DigestFinal_ex(a, md, &mlen)) ta_hex(md, 32, sha256);
    if (!rc && b && EVP_DigestFinal_ex(b, md, &mlen)) ta_hex(md, 20, git_sha1);
    free(buf);
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    close(fd);
    return rc;
}

static int check_space(const char *inc, uint64_t size, ta_error *err)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", inc);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    struct statvfs vfs;
    if (statvfs(slash ? dir : ".", &vfs)) return TA_OK; /* unknown: let the writes tell */
    struct stat st;
    uint64_t have = stat(inc, &st) == 0 ? (uint64_t)st.st_blocks * 512u : 0;
    uint64_t need = size > have ? size - have : 0;
    uint64_t free_b = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (need + SPACE_MARGIN > free_b)
        return ta_error_set(err, TA_EIO,
                            "not enough disk space in %s: the download needs %.1f MiB more, "
                            "%.1f MiB are free",
                            slash ? dir : ".", (double)(need + SPACE_MARGIN) / 1048576.0,
                            (double)free_b / 1048576.0);
    return TA_OK;
}

/* Takes the lock file; another process holding it is waited for (cancellable). */
static int take_lock(const ta_dl_request *r, int *fd_out, ta_error *err)
{
    char path[4200];
    if (r->lock_path)
        snprintf(path, sizeof path, "%s", r->lock_path);
    else
        snprintf(path, sizeof path, "%s.lock", r->dest);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ta_error_set(err, TA_EIO, "%s: %s", path, strerror(errno));
    while (flock(fd, LOCK_EX | LOCK_NB)) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            close(fd);
            return ta_error_set(err, TA_EIO, "%s: %s", path, strerror(errno));
        }
        if (r->cancel && atomic_load(r->cancel)) {
            close(fd);
            return ta_error_set(err, TA_ECANCELLED, "download cancelled");
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    *fd_out = fd;
    return TA_OK;
}

static void fsync_dir_of(const char *path)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return;
    *slash = '\0';
    int fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* ---- the whole -------------------------------------------------------------------------- */

static int verify_and_publish(dl *d, ta_error *err)
{
    const ta_dl_request *r = d->r;
    if (r->sha256 || r->git_sha1) {
        char sha[65], git[41];
        int rc = ta_file_digest(d->inc, sha, r->sha256 ? NULL : git, err);
        if (rc) return rc;
        const char *want = r->sha256 ? r->sha256 : r->git_sha1, *got = r->sha256 ? sha : git;
        if (strcasecmp(want, got)) {
            unlink(d->inc);
            unlink(d->side);
            return ta_error_set(err, TA_EINVAL,
                                "%s: checksum mismatch: expected %s %s, got %s; the download "
                                "was deleted",
                                r->dest, r->sha256 ? "sha256" : "git blob id", want, got);
        }
    }
    if (fsync(d->fd) || rename(d->inc, r->dest))
        return ta_error_set(err, TA_EIO, "%s: %s", r->dest, strerror(errno));
    unlink(d->side);
    fsync_dir_of(r->dest);
    return TA_OK;
}

int ta_download(const ta_dl_request *r, ta_dl_result *res, ta_error *err)
{
    ta_dl_result local = {0};
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    double t0 = now_s();
    if (!r->url || !r->dest || !r->size)
        return ta_error_set(err, TA_EINVAL, "a download needs its url, size and destination");
    static atomic_bool curl_ready;
    if (!atomic_exchange(&curl_ready, true)) curl_global_init(CURL_GLOBAL_DEFAULT);
    int lock = -1;
    int rc = take_lock(r, &lock, err);
    if (rc) return rc;
    struct stat st;
    if (stat(r->dest, &st) == 0 && (uint64_t)st.st_size == r->size) { /* done meanwhile */
        res->already_there = true;
        close(lock);
        return TA_OK;
    }
    dl d = {.r = r, .fd = -1};
    snprintf(d.inc, sizeof d.inc, "%s.incomplete", r->dest);
    snprintf(d.side, sizeof d.side, "%s.parts", r->dest);
    bool resume = stat(d.inc, &st) == 0 && (uint64_t)st.st_size == r->size && load_sidecar(&d);
    if (!resume) {
        unlink(d.inc);
        rc = check_space(d.inc, r->size, err);
        if (!rc) rc = split(&d, r->parts ? r->parts : 8, err);
    } else {
        rc = check_space(d.inc, r->size, err);
        res->resumed = on_disk(&d);
    }
    if (!rc) {
        d.fd = open(d.inc, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (d.fd < 0) rc = ta_error_set(err, TA_EIO, "%s: %s", d.inc, strerror(errno));
    }
    if (!rc && !resume) { /* reserve the space now rather than fail half-way */
        if (fallocate(d.fd, 0, 0, (off_t)r->size) && ftruncate(d.fd, (off_t)r->size))
            rc = ta_error_set(err, TA_EIO, "%s: %s", d.inc, strerror(errno));
        if (!rc) rc = persist(&d, err);
    }
    if (!rc) rc = run(&d, err);
    res->fetched = d.fetched;
    res->restarts = d.restarts;
    res->whole_file = d.whole;
    if (!rc) rc = verify_and_publish(&d, err);
    if (d.fd >= 0) close(d.fd);
    free(d.p);
    close(lock);
    res->seconds = now_s() - t0;
    return rc;
}
