/*
 * cache.c - see cache.h.
 */
#define _XOPEN_SOURCE 700
#include "cache.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/paths.h"

/* ---- specs --------------------------------------------------------------------------------- */

static bool repo_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

int ta_spec_parse(const char *s, ta_model_spec *out, ta_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->rev, sizeof out->rev, "main");
    if (!s || !s[0]) return ta_error_set(err, TA_EINVAL, "no model named");
    const char *colon = strchr(s, ':');
    size_t head = colon ? (size_t)(colon - s) : strlen(s);
    const char *at = memchr(s, '@', head);
    size_t rn = at ? (size_t)(at - s) : head;
    if (rn >= sizeof out->repo) return ta_error_set(err, TA_EINVAL, "'%s': name too long", s);
    memcpy(out->repo, s, rn);
    out->repo[rn] = '\0';
    const char *slash = strchr(out->repo, '/');
    if (!slash || slash == out->repo || !slash[1] || strchr(slash + 1, '/'))
        return ta_error_set(err, TA_EINVAL,
                            "'%s': expected org/name[@revision][:quant-or-file], e.g. "
                            "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M",
                            s);
    for (const char *c = out->repo; *c; c++)
        if (*c != '/' && !repo_char(*c))
            return ta_error_set(err, TA_EINVAL, "'%s': unexpected character '%c' in the repository",
                                s, *c);
    if (strstr(out->repo, "..") || out->repo[0] == '.' || slash[1] == '.')
        return ta_error_set(err, TA_EINVAL, "'%s': not a repository name", s);
    if (at) {
        size_t n = head - rn - 1;
        if (!n || n >= sizeof out->rev)
            return ta_error_set(err, TA_EINVAL, "'%s': a bad revision", s);
        memcpy(out->rev, at + 1, n);
        out->rev[n] = '\0';
        for (const char *c = out->rev; *c; c++)
            if (!repo_char(*c) && *c != '/')
                return ta_error_set(err, TA_EINVAL, "'%s': unexpected character in the revision",
                                    s);
        if (strstr(out->rev, "..") || out->rev[0] == '/')
            return ta_error_set(err, TA_EINVAL, "'%s': a bad revision", s);
    }
    if (colon) {
        const char *sel = colon + 1;
        if (!sel[0] || strlen(sel) >= sizeof out->selector)
            return ta_error_set(err, TA_EINVAL, "'%s': empty or too long after ':'", s);
        if (sel[0] == '/' || strstr(sel, "..") || strchr(sel, '\\'))
            return ta_error_set(err, TA_EINVAL, "'%s': a file inside the repository, please", s);
        for (const char *c = sel; *c; c++)
            if ((unsigned char)*c < ' ')
                return ta_error_set(err, TA_EINVAL, "'%s': control character in the name", s);
        snprintf(out->selector, sizeof out->selector, "%s", sel);
        out->selector_is_file = strchr(sel, '.') != NULL;
    }
    return TA_OK;
}

bool ta_spec_like(const char *s)
{
    if (!s || s[0] == '/' || s[0] == '.' || s[0] == '~') return false;
    ta_model_spec sp;
    return ta_spec_parse(s, &sp, NULL) == TA_OK && access(s, F_OK) != 0;
}

static bool ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

/* A split GGUF part: "<stem>-00001-of-00003.gguf" -> part 1 of 3, stem length. */
static bool split_part(const char *name, unsigned *part, unsigned *of, size_t *stem)
{
    size_t n = strlen(name);
    if (n < 21 || !ends_with_ci(name, ".gguf")) return false;
    const char *t = name + n - 20; /* "-NNNNN-of-NNNNN.gguf" */
    if (t[0] != '-' || strncmp(t + 6, "-of-", 4)) return false;
    unsigned a = 0, b = 0;
    for (int i = 1; i <= 5; i++) {
        if (!isdigit((unsigned char)t[i]) || !isdigit((unsigned char)t[i + 9])) return false;
        a = a * 10 + (unsigned)(t[i] - '0');
        b = b * 10 + (unsigned)(t[i + 9] - '0');
    }
    if (!a || a > b) return false;
    *part = a, *of = b, *stem = (size_t)(t - name);
    return true;
}

/* The quantization tag q in a file name, as a whole word: Q4_K does not match
 * Q4_K_M, Q8_0 matches "model.Q8_0.gguf" and "model-q8_0-00001-of-00002.gguf". */
static bool has_quant(const char *path, const char *q)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t k = strlen(q);
    for (const char *s = base; *s; s++) {
        if (strncasecmp(s, q, k)) continue;
        bool left = s == base || strchr("-._", s[-1]);
        bool right = !s[k] || s[k] == '.' || s[k] == '-';
        if (left && right) return true;
    }
    return false;
}

/* The model (a file, or a split group) of names[i]: a key to compare by. */
static void group_key(const char *name, char *out, size_t cap)
{
    unsigned a, b;
    size_t stem;
    if (split_part(name, &a, &b, &stem) && stem < cap) {
        memcpy(out, name, stem);
        out[stem] = '\0';
    } else {
        snprintf(out, cap, "%s", name);
    }
}

int ta_spec_select(const ta_model_spec *sp, const char *const *names, size_t n, size_t **picked,
                   size_t *n_picked, ta_error *err)
{
    *picked = NULL;
    *n_picked = 0;
    size_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return ta_error_set(err, TA_ENOMEM, "out of memory");
    size_t k = 0;
    if (sp->selector_is_file) {
        for (size_t i = 0; i < n; i++)
            if (!strcmp(names[i], sp->selector)) v[k++] = i;
        if (!k) {
            free(v);
            return ta_error_set(err, TA_ENOTFOUND, "%s has no file %s", sp->repo, sp->selector);
        }
        *picked = v, *n_picked = k;
        return TA_OK;
    }
    const char *q = sp->selector[0] ? sp->selector : "Q4_K_M";
    for (size_t i = 0; i < n; i++)
        if (ends_with_ci(names[i], ".gguf") && has_quant(names[i], q)) v[k++] = i;
    if (!k && !sp->selector[0]) { /* no Q4_K_M: the only GGUF model, if there is one */
        for (size_t i = 0; i < n; i++)
            if (ends_with_ci(names[i], ".gguf")) v[k++] = i;
    }
    /* one model: all matches in one group */
    char first[1024], key[1024];
    int rc = TA_OK;
    if (!k) {
        char avail[1024] = "";
        size_t o = 0;
        for (size_t i = 0; i < n && o + 64 < sizeof avail; i++)
            if (ends_with_ci(names[i], ".gguf"))
                o += (size_t)snprintf(avail + o, sizeof avail - o, "%s%s", o ? ", " : "", names[i]);
        rc =
            o ? ta_error_set(err, TA_ENOTFOUND, "%s has no %s GGUF; it has: %s", sp->repo, q, avail)
              : ta_error_set(err, TA_ENOTFOUND,
                             "%s has no GGUF files; name a file as %s:path/to/file", sp->repo,
                             sp->repo);
    } else {
        group_key(names[v[0]], first, sizeof first);
        for (size_t i = 1; !rc && i < k; i++) {
            group_key(names[v[i]], key, sizeof key);
            if (strcmp(key, first))
                rc = ta_error_set(err, TA_EINVAL,
                                  "%s: several files match '%s' (%s, %s, ...): name one as %s:FILE",
                                  sp->repo, q, names[v[0]], names[v[i]], sp->repo);
        }
    }
    if (!rc && k > 1) { /* a split model: every part, in order, none missing */
        unsigned a, of;
        size_t stem;
        size_t *order = calloc(k, sizeof *order);
        if (!order) rc = ta_error_set(err, TA_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < k; i++) {
            if (!split_part(names[v[i]], &a, &of, &stem) || of != k || order[a - 1])
                rc = ta_error_set(err, TA_EINVAL, "%s: the parts of %s are not all there", sp->repo,
                                  first);
            else
                order[a - 1] = v[i] + 1;
        }
        for (size_t i = 0; !rc && i < k; i++)
            v[i] = order[i] - 1;
        free(order);
    } else if (!rc && k == 1) {
        unsigned a, of;
        size_t stem;
        if (split_part(names[v[0]], &a, &of, &stem) && of > 1)
            rc = ta_error_set(err, TA_EINVAL, "%s: only part %u of %u of %s is there", sp->repo, a,
                              of, first);
    }
    if (rc) {
        free(v);
        return rc;
    }
    *picked = v, *n_picked = k;
    return TA_OK;
}

/* ---- layout ---------------------------------------------------------------------------------- */

void ta_cache_init(ta_cache *c, const char *root)
{
    memset(c, 0, sizeof *c);
    snprintf(c->root, sizeof c->root, "%s", root ? root : "");
    const char *hub = getenv("HF_HUB_CACHE"), *home = getenv("HF_HOME"), *uh = getenv("HOME");
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (hub && hub[0])
        snprintf(c->hf_root, sizeof c->hf_root, "%s", hub);
    else if (home && home[0])
        snprintf(c->hf_root, sizeof c->hf_root, "%s/hub", home);
    else if (xdg && xdg[0])
        snprintf(c->hf_root, sizeof c->hf_root, "%s/huggingface/hub", xdg);
    else if (uh && uh[0])
        snprintf(c->hf_root, sizeof c->hf_root, "%s/.cache/huggingface/hub", uh);
    struct stat a, b;
    if (stat(c->hf_root, &a) || !S_ISDIR(a.st_mode) ||
        (stat(c->root, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino))
        c->hf_root[0] = '\0'; /* none, or the same directory as ours */
}

void ta_cache_repo_dir(const char *root, const char *repo, char *out, size_t cap)
{
    snprintf(out, cap, "%s/models--", root);
    size_t o = strlen(out);
    for (const char *s = repo; *s && o + 3 < cap; s++) {
        if (*s == '/') {
            out[o++] = '-';
            out[o++] = '-';
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

static bool is_commit(const char *s)
{
    return strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

static bool read_line(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (!ok) return false;
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] != '\0';
}

/* The files under a snapshot directory (relative paths), collected by walk(). */
typedef struct {
    char **v;
    size_t n, cap, base_len;
} file_list;

static file_list *walk_target;

static int walk_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (flag != FTW_F && flag != FTW_SL && flag != FTW_SLN) return 0;
    file_list *l = walk_target;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v, l->cap = cap;
    }
    char *rel = strdup(path + l->base_len + 1);
    if (!rel) return -1;
    l->v[l->n++] = rel;
    return 0;
}

static void list_free(file_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* nftw has no user pointer; the cache is used from one thread at a time per walk, so a
 * lock keeps concurrent walks (two requests) apart. */
#include <pthread.h>
static pthread_mutex_t walk_lock = PTHREAD_MUTEX_INITIALIZER;

static int walk(const char *dir, file_list *l)
{
    memset(l, 0, sizeof *l);
    l->base_len = strlen(dir);
    pthread_mutex_lock(&walk_lock);
    walk_target = l;
    int r = nftw(dir, walk_one, 16, FTW_PHYS);
    walk_target = NULL;
    pthread_mutex_unlock(&walk_lock);
    return r;
}

static int find_in(const char *root, const ta_model_spec *sp, char ***paths, size_t *n,
                   char *commit, size_t commit_cap, ta_error *err)
{
    char dir[4200], path[8400], cm[64];
    ta_cache_repo_dir(root, sp->repo, dir, sizeof dir);
    if (is_commit(sp->rev)) {
        snprintf(cm, sizeof cm, "%s", sp->rev);
    } else {
        snprintf(path, sizeof path, "%s/refs/%s", dir, sp->rev);
        if (!read_line(path, cm, sizeof cm) || !is_commit(cm))
            return ta_error_set(err, TA_ENOTFOUND, "%s is not in the cache", sp->repo);
    }
    snprintf(path, sizeof path, "%s/snapshots/%s", dir, cm);
    file_list l;
    if (walk(path, &l) || !l.n) {
        list_free(&l);
        return ta_error_set(err, TA_ENOTFOUND, "%s@%s is not in the cache", sp->repo, cm);
    }
    size_t *pick = NULL, np = 0;
    int rc = ta_spec_select(sp, (const char *const *)l.v, l.n, &pick, &np, err);
    char **out = rc ? NULL : calloc(np, sizeof *out);
    if (!rc && !out) rc = ta_error_set(err, TA_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < np; i++) {
        snprintf(path, sizeof path, "%s/snapshots/%s/%s", dir, cm, l.v[pick[i]]);
        struct stat st;
        if (stat(path, &st) || !S_ISREG(st.st_mode)) /* a link to a missing blob */
            rc = ta_error_set(err, TA_ENOTFOUND, "%s: %s is not complete in the cache", sp->repo,
                              l.v[pick[i]]);
        else if (!(out[i] = strdup(path)))
            rc = ta_error_set(err, TA_ENOMEM, "out of memory");
    }
    free(pick);
    list_free(&l);
    if (rc) {
        ta_cache_free_paths(out, np);
        return rc;
    }
    *paths = out, *n = np;
    if (commit) snprintf(commit, commit_cap, "%s", cm);
    return TA_OK;
}

int ta_cache_find(const ta_cache *c, const ta_model_spec *sp, char ***paths, size_t *n,
                  char *commit, size_t commit_cap, ta_error *err)
{
    *paths = NULL;
    *n = 0;
    ta_error first = {0};
    int rc = c->root[0] ? find_in(c->root, sp, paths, n, commit, commit_cap, &first) : TA_ENOTFOUND;
    if (rc && c->root[0] == '\0')
        ta_error_set(&first, TA_ENOTFOUND, "%s is not in the cache", sp->repo);
    if (rc && c->hf_root[0] && !find_in(c->hf_root, sp, paths, n, commit, commit_cap, NULL))
        return TA_OK;
    if (rc && err) *err = first;
    return rc;
}

void ta_cache_free_paths(char **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
}

int ta_cache_link(const ta_cache *c, const char *repo, const char *rev, const char *commit,
                  const char *file, const char *etag, ta_error *err)
{
    char dir[4200], link[8400], target[8400], tmp[8500];
    ta_cache_repo_dir(c->root, repo, dir, sizeof dir);
    snprintf(link, sizeof link, "%s/snapshots/%s/%s", dir, commit, file);
    char parent[8400];
    snprintf(parent, sizeof parent, "%s", link);
    *strrchr(parent, '/') = '\0';
    int rc = ta_paths_mkdirs(parent, 0755, err);
    if (rc) return rc;
    /* ../ for each directory between snapshots/<commit>/ and the file, then blobs/ */
    size_t o = (size_t)snprintf(target, sizeof target, "../../");
    for (const char *s = file; *s; s++)
        if (*s == '/') o += (size_t)snprintf(target + o, sizeof target - o, "../");
    snprintf(target + o, sizeof target - o, "blobs/%s", etag);
    rc = ta_paths_tmp_name(tmp, sizeof tmp, link, err);
    if (rc) return rc;
    if (symlink(target, tmp) || rename(tmp, link)) {
        unlink(tmp);
        return ta_error_set(err, TA_EIO, "%s: %s", link, strerror(errno));
    }
    if (rev && rev[0] && !is_commit(rev)) {
        char ref[8400];
        snprintf(ref, sizeof ref, "%s/refs/%s", dir, rev);
        snprintf(parent, sizeof parent, "%s", ref);
        *strrchr(parent, '/') = '\0';
        rc = ta_paths_mkdirs(parent, 0755, err);
        if (rc) return rc;
        rc = ta_paths_tmp_name(tmp, sizeof tmp, ref, err);
        if (rc) return rc;
        FILE *f = fopen(tmp, "w");
        bool ok = f && fputs(commit, f) >= 0;
        if (f && fclose(f)) ok = false;
        if (!ok || rename(tmp, ref)) {
            unlink(tmp);
            return ta_error_set(err, TA_EIO, "%s: %s", ref, strerror(errno));
        }
    }
    return TA_OK;
}

/* ---- listing and removing ----------------------------------------------------------------- */

/* "models--org--name" -> "org/name"; false for other entries. */
static bool repo_of(const char *entry, char *out, size_t cap)
{
    if (strncmp(entry, "models--", 8)) return false;
    const char *rest = entry + 8, *sep = strstr(rest, "--");
    if (!sep || sep == rest || !sep[2]) return false;
    snprintf(out, cap, "%.*s/%s", (int)(sep - rest), rest, sep + 2);
    return true;
}

static void list_root(const char *root, const char *source, json_t *arr)
{
    DIR *d = opendir(root);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char repo[512], dir[4600], path[9000], current[64] = "";
        if (!repo_of(e->d_name, repo, sizeof repo)) continue;
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        snprintf(path, sizeof path, "%s/refs/main", dir);
        read_line(path, current, sizeof current);
        snprintf(path, sizeof path, "%s/snapshots", dir);
        DIR *sd = opendir(path);
        if (!sd) continue;
        struct dirent *c;
        while ((c = readdir(sd))) {
            if (!is_commit(c->d_name)) continue;
            char snap[9200];
            snprintf(snap, sizeof snap, "%s/snapshots/%s", dir, c->d_name);
            file_list l;
            walk(snap, &l);
            for (size_t i = 0; i < l.n; i++) {
                char full[9600], id[2048];
                snprintf(full, sizeof full, "%s/%s", snap, l.v[i]);
                struct stat st;
                if (stat(full, &st) || !S_ISREG(st.st_mode)) continue; /* not complete */
                snprintf(id, sizeof id, "%s:%s", repo, l.v[i]);
                json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:b}", "id", id,
                                                     "repo", repo, "file", l.v[i], "commit",
                                                     c->d_name, "size", (json_int_t)st.st_size,
                                                     "path", full, "source", source, "current",
                                                     !strcmp(current, c->d_name)));
            }
            list_free(&l);
        }
        closedir(sd);
    }
    closedir(d);
}

json_t *ta_cache_list(const ta_cache *c, ta_error *err)
{
    (void)err;
    json_t *arr = json_array();
    if (c->root[0]) list_root(c->root, "tabagent", arr);
    if (c->hf_root[0]) list_root(c->hf_root, "huggingface", arr);
    return arr;
}

static int rm_tree_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) && errno != ENOENT ? -1 : 0;
}

int ta_cache_remove(const ta_cache *c, const ta_model_spec *sp, uint64_t *removed, size_t *files,
                    ta_error *err)
{
    *removed = 0;
    *files = 0;
    char dir[4200], path[9000];
    ta_cache_repo_dir(c->root, sp->repo, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/snapshots", dir);
    DIR *sd = opendir(path);
    if (!sd) return ta_error_set(err, TA_ENOTFOUND, "%s is not in the cache", sp->repo);
    /* 1. the snapshot links the spec names (all of them without a selector) */
    struct dirent *e;
    int rc = TA_OK;
    size_t left = 0;
    while ((e = readdir(sd))) {
        if (!is_commit(e->d_name)) continue;
        char snap[9200];
        snprintf(snap, sizeof snap, "%s/snapshots/%s", dir, e->d_name);
        file_list l;
        walk(snap, &l);
        size_t *pick = NULL, np = 0;
        if (!sp->selector[0]) {
            pick = malloc((l.n ? l.n : 1) * sizeof *pick);
            for (size_t i = 0; pick && i < l.n; i++)
                pick[np++] = i;
        } else if (ta_spec_select(sp, (const char *const *)l.v, l.n, &pick, &np, NULL)) {
            np = 0;
        }
        for (size_t i = 0; i < np; i++) {
            char full[9600];
            snprintf(full, sizeof full, "%s/%s", snap, l.v[pick[i]]);
            if (!unlink(full)) (*files)++;
        }
        left += l.n - np;
        free(pick);
        list_free(&l);
    }
    closedir(sd);
    if (!*files)
        return ta_error_set(err, TA_ENOTFOUND, "nothing in the cache matches %s%s%s", sp->repo,
                            sp->selector[0] ? ":" : "", sp->selector);
    /* 2. the blobs no link points at any more */
    file_list links = {0};
    snprintf(path, sizeof path, "%s/snapshots", dir);
    walk(path, &links);
    char(*targets)[128] = calloc(links.n ? links.n : 1, sizeof *targets);
    for (size_t i = 0; targets && i < links.n; i++) {
        char full[9600], t[4096];
        snprintf(full, sizeof full, "%s/%s", path, links.v[i]);
        ssize_t k = readlink(full, t, sizeof t - 1);
        if (k <= 0) continue;
        t[k] = '\0';
        const char *b = strrchr(t, '/');
        snprintf(targets[i], sizeof targets[i], "%s", b ? b + 1 : t);
    }
    snprintf(path, sizeof path, "%s/blobs", dir);
    DIR *bd = opendir(path);
    while (bd && (e = readdir(bd))) {
        if (e->d_name[0] == '.') continue;
        bool used = false;
        for (size_t i = 0; targets && i < links.n && !used; i++)
            used = !strcmp(targets[i], e->d_name);
        if (used) continue;
        /* a partial download (.incomplete, .parts, .lock) goes only with the repository */
        if (strchr(e->d_name, '.') && left) continue;
        char full[9400];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        struct stat st;
        if (!stat(full, &st) && !unlink(full) && !strchr(e->d_name, '.'))
            *removed += (uint64_t)st.st_size;
    }
    if (bd) closedir(bd);
    free(targets);
    list_free(&links);
    /* 3. an empty repository goes */
    if (!left && nftw(dir, rm_tree_one, 16, FTW_DEPTH | FTW_PHYS))
        rc = ta_error_set(err, TA_EIO, "%s: %s", dir, strerror(errno));
    return rc;
}
