/*
 * pull.c - see pull.h.
 */
#include "pull.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "../core/paths.h"
#include "download.h"

bool ta_pull_env_offline(void)
{
    const char *v = getenv("HF_HUB_OFFLINE");
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"));
}

static void emit(const ta_pull_opts *o, const char *status, const char *file, uint64_t done,
                 uint64_t total, double rate)
{
    if (!o->on_event) return;
    ta_pull_event e = {status, file, done, total, rate};
    o->on_event(o->ud, &e);
}

static bool cancelled(const ta_pull_opts *o)
{
    return o->cancel && atomic_load(o->cancel);
}

/* ---- downloads shared inside the process -------------------------------------------------- */

typedef struct active {
    char blob[4200];
    ta_dl_progress last;
    bool done;
    int rc;
    ta_error err;
    int waiters;
    bool owner_gone;
    struct active *next;
} active;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cv = PTHREAD_COND_INITIALIZER;
static active *reg_head;

typedef struct {
    active *a;
    const ta_pull_opts *o;
    const char *file;
} owner_ctx;

static void on_progress(void *ud, const ta_dl_progress *p)
{
    owner_ctx *c = ud;
    pthread_mutex_lock(&reg_mu);
    c->a->last = *p;
    pthread_cond_broadcast(&reg_cv);
    pthread_mutex_unlock(&reg_mu);
    emit(c->o, "downloading", c->file, p->completed, p->total, p->bytes_per_s);
}

static void unlink_active(active *a)
{
    for (active **pp = &reg_head; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            return;
        }
}

/* Downloads req->dest, or follows the download of it already running here. */
static int shared_download(ta_dl_request *req, const ta_pull_opts *o, const char *file,
                           ta_dl_result *dres, ta_error *err)
{
    for (;;) {
        pthread_mutex_lock(&reg_mu);
        active *a = reg_head;
        while (a && strcmp(a->blob, req->dest))
            a = a->next;
        if (a) { /* follow it */
            a->waiters++;
            while (!a->done && !cancelled(o)) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 100 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
                pthread_cond_timedwait(&reg_cv, &reg_mu, &ts);
                ta_dl_progress p = a->last;
                pthread_mutex_unlock(&reg_mu);
                emit(o, "downloading", file, p.completed, p.total ? p.total : req->size,
                     p.bytes_per_s);
                pthread_mutex_lock(&reg_mu);
            }
            bool done = a->done;
            int rc = done ? a->rc : TA_ECANCELLED;
            ta_error e = a->err;
            a->waiters--;
            if (done && !a->waiters && a->owner_gone) free(a);
            pthread_mutex_unlock(&reg_mu);
            if (!done) return ta_error_set(err, TA_ECANCELLED, "download cancelled");
            if (rc == TA_ECANCELLED && !cancelled(o)) continue; /* its owner left: take over */
            if (rc && err) *err = e;
            memset(dres, 0, sizeof *dres);
            dres->already_there = !rc;
            return rc;
        }
        a = calloc(1, sizeof *a);
        if (!a) {
            pthread_mutex_unlock(&reg_mu);
            return ta_error_set(err, TA_ENOMEM, "out of memory");
        }
        snprintf(a->blob, sizeof a->blob, "%s", req->dest);
        a->next = reg_head;
        reg_head = a;
        pthread_mutex_unlock(&reg_mu);

        owner_ctx ctx = {a, o, file};
        req->progress = on_progress;
        req->ud = &ctx;
        ta_error derr = {0};
        int rc = ta_download(req, dres, &derr);
        pthread_mutex_lock(&reg_mu);
        unlink_active(a);
        a->done = true;
        a->rc = rc;
        a->err = derr;
        a->owner_gone = true;
        pthread_cond_broadcast(&reg_cv);
        if (!a->waiters) free(a);
        pthread_mutex_unlock(&reg_mu);
        if (rc && err) *err = derr;
        return rc;
    }
}

/* ---- the pull ------------------------------------------------------------------------------ */

static int from_cache(const ta_cache *c, const ta_model_spec *sp, const ta_pull_opts *o,
                      ta_pull_result *res, ta_error *err)
{
    int rc = ta_cache_find(c, sp, &res->paths, &res->n, res->commit, sizeof res->commit, err);
    if (rc) return rc;
    res->from_cache = true;
    for (size_t i = 0; i < res->n; i++) {
        struct stat st;
        uint64_t size = stat(res->paths[i], &st) == 0 ? (uint64_t)st.st_size : 0;
        res->total += size;
        const char *base = strrchr(res->paths[i], '/');
        emit(o, "cached", base ? base + 1 : res->paths[i], size, size, 0);
    }
    return TA_OK;
}

/* Whether url goes to the Hub itself (the token goes there, never to a CDN). */
static bool same_host(const char *url, const char *endpoint)
{
    size_t n = strlen(endpoint);
    return !strncmp(url, endpoint, n) && (url[n] == '/' || url[n] == '\0');
}

static int pull_file(const ta_cache *c, const ta_hub *h, const ta_model_spec *sp, const char *file,
                     const ta_pull_opts *o, ta_pull_result *res, char **path, ta_error *err)
{
    ta_hub_meta m;
    int rc = ta_hub_head(h, sp->repo, sp->rev, file, &m, err);
    if (rc) return rc;
    char dir[4200], blobs[4300], blob[4400];
    ta_cache_repo_dir(c->root, sp->repo, dir, sizeof dir);
    snprintf(blobs, sizeof blobs, "%s/blobs", dir);
    if (strchr(m.etag, '/') || strstr(m.etag, ".."))
        return ta_error_set(err, TA_EIO, "%s: the Hub sent a strange ETag", file);
    snprintf(blob, sizeof blob, "%s/%s", blobs, m.etag);
    rc = ta_paths_mkdirs(blobs, 0755, err);
    if (rc) return rc;
    /* locks apart from the blobs, as huggingface_hub keeps them: <root>/.locks/<repo dir> */
    char locks[4400], lock[4600];
    snprintf(locks, sizeof locks, "%s/.locks/%s", c->root, strrchr(dir, '/') + 1);
    rc = ta_paths_mkdirs(locks, 0755, err);
    if (rc) return rc;
    snprintf(lock, sizeof lock, "%s/%s.lock", locks, m.etag);
    struct stat st;
    bool have = stat(blob, &st) == 0 && (uint64_t)st.st_size == m.size;
    if (have) {
        emit(o, "cached", file, m.size, m.size, 0);
    } else {
        bool git = !m.lfs && strlen(m.etag) == 40 && strspn(m.etag, "0123456789abcdef") == 40;
        for (int attempt = 0;; attempt++) {
            ta_dl_request req = {.url = m.url,
                                 .bearer = same_host(m.url, h->endpoint) ? h->token : NULL,
                                 .size = m.size,
                                 .sha256 = m.lfs ? m.etag : NULL,
                                 .git_sha1 = git ? m.etag : NULL,
                                 .dest = blob,
                                 .lock_path = lock,
                                 .parts = o->parts,
                                 .stall_timeout_s = o->stall_timeout_s,
                                 .cancel = o->cancel};
            ta_dl_result dres;
            emit(o, "downloading", file, 0, m.size, 0);
            if (!m.size) { /* an empty file: nothing to fetch */
                FILE *f = fopen(blob, "w");
                rc = f && !fclose(f) ? TA_OK
                                     : ta_error_set(err, TA_EIO, "%s: %s", blob, strerror(errno));
                break;
            }
            rc = shared_download(&req, o, file, &dres, err);
            res->fetched += dres.fetched;
            /* a signed CDN URL that expired: ask the Hub for a fresh one, once */
            if (rc == TA_EFORBIDDEN && attempt == 0 && !same_host(m.url, h->endpoint)) {
                rc = ta_hub_head(h, sp->repo, sp->rev, file, &m, err);
                if (rc) break;
                continue;
            }
            break;
        }
        if (rc) return rc;
        res->from_cache = false;
    }
    res->total += m.size;
    rc = ta_cache_link(c, sp->repo, sp->rev, m.commit, file, m.etag, err);
    if (rc) return rc;
    snprintf(res->commit, sizeof res->commit, "%s", m.commit);
    char link[8600];
    snprintf(link, sizeof link, "%s/snapshots/%s/%s", dir, m.commit, file);
    *path = strdup(link);
    return *path ? TA_OK : ta_error_set(err, TA_ENOMEM, "out of memory");
}

int ta_pull(const ta_cache *c, const ta_hub *h, const char *spec, const ta_pull_opts *opts,
            ta_pull_result *res, ta_error *err)
{
    ta_pull_opts o = opts ? *opts : (ta_pull_opts){0};
    memset(res, 0, sizeof *res);
    ta_model_spec sp;
    int rc = ta_spec_parse(spec, &sp, err);
    if (rc) return rc;
    snprintf(res->repo, sizeof res->repo, "%s", sp.repo);
    if (o.offline || ta_pull_env_offline()) {
        rc = from_cache(c, &sp, &o, res, err);
        if (rc == TA_ENOTFOUND)
            ta_error_set(err, TA_ENOTFOUND, "%s is not in the cache, and offline mode is on", spec);
        if (!rc) emit(&o, "done", NULL, res->total, res->total, 0);
        return rc;
    }
    emit(&o, "resolving", NULL, 0, 0, 0);
    ta_hub_file *files = NULL;
    size_t nf = 0;
    rc = sp.selector_is_file ? TA_OK : ta_hub_list(h, sp.repo, sp.rev, &files, &nf, err);
    if (rc == TA_EIO) { /* the Hub cannot be reached: what the cache has will do */
        ta_error cerr = {0};
        if (!from_cache(c, &sp, &o, res, &cerr)) {
            emit(&o, "done", NULL, res->total, res->total, 0);
            return TA_OK;
        }
    }
    if (rc) return rc;
    const char **names = NULL;
    size_t *pick = NULL, np = 0;
    if (sp.selector_is_file) { /* a named file: no listing needed */
        res->paths = calloc(1, sizeof *res->paths);
        if (!res->paths) rc = ta_error_set(err, TA_ENOMEM, "out of memory");
        res->from_cache = true;
        if (!rc) rc = pull_file(c, h, &sp, sp.selector, &o, res, &res->paths[0], err);
        if (!rc) res->n = 1;
    } else {
        names = malloc((nf ? nf : 1) * sizeof *names);
        if (!names) rc = ta_error_set(err, TA_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < nf; i++)
            names[i] = files[i].path;
        if (!rc) rc = ta_spec_select(&sp, names, nf, &pick, &np, err);
        if (!rc) {
            res->paths = calloc(np, sizeof *res->paths);
            if (!res->paths) rc = ta_error_set(err, TA_ENOMEM, "out of memory");
        }
        res->from_cache = true;
        for (size_t i = 0; !rc && i < np; i++) {
            if (cancelled(&o)) {
                rc = ta_error_set(err, TA_ECANCELLED, "pull cancelled");
                break;
            }
            rc = pull_file(c, h, &sp, names[pick[i]], &o, res, &res->paths[i], err);
            if (!rc) res->n = i + 1;
        }
    }
    free(pick);
    free(names);
    free(files);
    if (rc) {
        ta_pull_result_free(res);
        return rc;
    }
    emit(&o, "done", NULL, res->total, res->total, 0);
    return TA_OK;
}

void ta_pull_result_free(ta_pull_result *r)
{
    ta_cache_free_paths(r->paths, r->n);
    r->paths = NULL;
    r->n = 0;
}
