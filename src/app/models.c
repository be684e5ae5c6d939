/*
 * models.c - see models.h. One mutex guards the table; loads run outside it (a model
 * being loaded is marked LOADING so that nobody starts it twice), unloads inside it
 * (the ML client frees a model only after its last request).
 */
#include "models.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../gguf/gguf.h"

typedef enum { ST_AVAILABLE = 0, ST_LOADING, ST_LOADED } state;

typedef struct entry {
    char id[256];
    char path[4096];
    state st;
    int users;
    double expires;   /* monotonic seconds; INFINITY: never */
    double last_used; /* monotonic seconds */
    uint64_t bytes;   /* loaded: file + KV; else the estimate */
    char kind[16];    /* "chat" or "embedding" */
    uint32_t n_ctx;   /* loaded: per slot; else what a load would give */
} entry;

struct ta_models {
    ta_ml *ml;
    ta_models_config cfg;
    pthread_mutex_t mu;
    entry *e;
    size_t n, cap;
    pthread_t reaper;
    pthread_cond_t wake;
    bool stop, reaper_started;
    ta_models_resolver resolver;
    void *resolver_ud;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *reaper_main(void *arg)
{
    ta_models *o = arg;
    pthread_mutex_lock(&o->mu);
    while (!o->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&o->wake, &o->mu, &ts);
        if (o->stop) break;
        pthread_mutex_unlock(&o->mu);
        ta_models_reap(o);
        pthread_mutex_lock(&o->mu);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

void ta_models_set_resolver(ta_models *o, ta_models_resolver fn, void *ud)
{
    pthread_mutex_lock(&o->mu);
    o->resolver = fn;
    o->resolver_ud = ud;
    pthread_mutex_unlock(&o->mu);
}

ta_models *ta_models_new(ta_ml *ml, const ta_models_config *cfg, ta_error *err)
{
    ta_models *o = calloc(1, sizeof *o);
    if (!o) {
        ta_error_set(err, TA_ENOMEM, "out of memory for the orchestrator");
        return NULL;
    }
    o->ml = ml;
    o->cfg = *cfg;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->wake, NULL);
    if (pthread_create(&o->reaper, NULL, reaper_main, o) == 0) o->reaper_started = true;
    return o;
}

void ta_models_free(ta_models *o)
{
    if (!o) return;
    pthread_mutex_lock(&o->mu);
    o->stop = true;
    pthread_cond_signal(&o->wake);
    pthread_mutex_unlock(&o->mu);
    if (o->reaper_started) pthread_join(o->reaper, NULL);
    for (size_t i = 0; i < o->n; i++)
        if (o->e[i].st == ST_LOADED) ta_ml_unload(o->ml, o->e[i].id, NULL);
    free(o->e);
    pthread_cond_destroy(&o->wake);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

ta_ml *ta_models_ml(ta_models *o)
{
    return o->ml;
}

static entry *find(ta_models *o, const char *id)
{
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->e[i].id, id)) return &o->e[i];
    return NULL;
}

/* What a load of path would take: the file, plus F16 K and V caches for every slot
 * (decoders), read from the GGUF header. Fills kind and n_ctx. */
static uint64_t estimate(const ta_models_config *cfg, const char *path, char *kind, size_t kcap,
                         uint32_t *n_ctx)
{
    ta_error err = {0};
    ta_gguf *g = ta_gguf_open(path, &err);
    if (!g) return 0;
    uint64_t bytes = ta_gguf_file_size(g);
    ta_gguf_str a = {0};
    char arch[64] = "";
    if (ta_gguf_get_str(g, "general.architecture", &a) && a.len < sizeof arch)
        memcpy(arch, a.ptr, a.len);
    bool enc = !strcmp(arch, "bert") || !strcmp(arch, "nomic-bert");
    snprintf(kind, kcap, "%s", enc ? "embedding" : "chat");
    char key[128];
    uint32_t ctx_train = 0, layers = 0, embd = 0, heads = 0, heads_kv = 0, key_len = 0;
#define GET(name, var)                                                                             \
    snprintf(key, sizeof key, "%s." name, arch);                                                   \
    ta_gguf_get_u32(g, key, &(var))
    GET("context_length", ctx_train);
    GET("block_count", layers);
    GET("embedding_length", embd);
    GET("attention.head_count", heads);
    GET("attention.head_count_kv", heads_kv);
    GET("attention.key_length", key_len);
#undef GET
    uint32_t c = cfg->load.n_ctx ? cfg->load.n_ctx : (ctx_train < 4096 ? ctx_train : 4096);
    *n_ctx = c;
    if (!enc && heads) {
        uint32_t hd = key_len ? key_len : embd / heads;
        uint32_t kvh = heads_kv ? heads_kv : heads;
        uint32_t slots = cfg->load.n_parallel ? cfg->load.n_parallel : 1;
        bytes += (uint64_t)layers * c * kvh * hd * 2 /* K and V */ * 2 /* F16 */ * slots;
    }
    ta_gguf_close(g);
    return bytes;
}

static int add(ta_models *o, const char *id, const char *path, ta_error *err)
{
    if (!id[0] || strlen(id) >= sizeof o->e[0].id)
        return ta_error_set(err, TA_EINVAL, "a model id has 1 to 255 bytes");
    if (strlen(path) >= sizeof o->e[0].path)
        return ta_error_set(err, TA_EINVAL, "model path too long");
    entry *e = find(o, id);
    if (e) {
        if (strcmp(e->path, path))
            return ta_error_set(err, TA_ECONFLICT, "model id '%.200s' is taken by %.500s", id,
                                e->path);
        return TA_OK;
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        entry *ne = realloc(o->e, cap * sizeof *ne);
        if (!ne) return ta_error_set(err, TA_ENOMEM, "out of memory");
        o->e = ne;
        o->cap = cap;
    }
    e = &o->e[o->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id);
    snprintf(e->path, sizeof e->path, "%s", path);
    e->bytes = estimate(&o->cfg, path, e->kind, sizeof e->kind, &e->n_ctx);
    return TA_OK;
}

int ta_models_register(ta_models *o, const char *id, const char *path, ta_error *err)
{
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode))
        return ta_error_set(err, TA_ENOTFOUND, "model file %.500s: not found", path);
    pthread_mutex_lock(&o->mu);
    int rc = add(o, id, path, err);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

/* Finds name, registering a path to a .gguf file on the fly. Under the lock. */
static entry *resolve(ta_models *o, const char *name, ta_error *err)
{
    entry *e = find(o, name);
    if (e) return e;
    for (size_t i = 0; i < o->n; i++) /* the path of a known model is that model */
        if (!strcmp(o->e[i].path, name)) return &o->e[i];
    size_t len = strlen(name);
    struct stat st;
    if (len > 5 && !strcmp(name + len - 5, ".gguf") && !stat(name, &st) && S_ISREG(st.st_mode) &&
        add(o, name, name, err) == TA_OK)
        return find(o, name);
    if (o->resolver) { /* a cached model */
        char path[4096];
        ta_error rerr = {0};
        int rc = o->resolver(o->resolver_ud, name, path, sizeof path, &rerr);
        if (rc == TA_OK && add(o, name, path, err) == TA_OK) return find(o, name);
        if (rc != TA_OK && (rc != TA_ENOTFOUND || rerr.message[0])) { /* it was one */
            if (err) *err = rerr;
            return NULL;
        }
    }
    ta_error_set(err, TA_ENOTFOUND,
                 "model '%.200s' is not known (GET /v1/models lists the ids; a path to a .gguf "
                 "file also works)",
                 name);
    return NULL;
}

static void unload_locked(ta_models *o, entry *e)
{
    ta_ml_unload(o->ml, e->id, NULL);
    e->st = ST_AVAILABLE;
}

/* Makes room for `need` bytes by unloading idle models, oldest first; false when even
 * that is not enough (then nothing was unloaded). */
static bool make_room(ta_models *o, const entry *self, uint64_t need, uint64_t *busy)
{
    uint64_t used = 0, idle = 0;
    for (size_t i = 0; i < o->n; i++) {
        const entry *e = &o->e[i];
        if (e == self || e->st == ST_AVAILABLE) continue;
        used += e->bytes;
        if (e->st == ST_LOADED && e->users == 0) idle += e->bytes;
    }
    *busy = used - idle;
    if (used + need <= o->cfg.memory_budget) return true;
    if (used - idle + need > o->cfg.memory_budget) return false;
    while (used + need > o->cfg.memory_budget) {
        entry *victim = NULL;
        for (size_t i = 0; i < o->n; i++) {
            entry *e = &o->e[i];
            if (e != self && e->st == ST_LOADED && e->users == 0 &&
                (!victim || e->last_used < victim->last_used))
                victim = e;
        }
        if (!victim) return false;
        used -= victim->bytes;
        unload_locked(o, victim);
    }
    return true;
}

static int use(ta_models *o, const char *name, bool hold, double keep_alive_s, bool use_default,
               char *id_out, size_t cap, ta_error *err)
{
    pthread_mutex_lock(&o->mu);
    entry *e = resolve(o, name, err);
    if (!e) {
        pthread_mutex_unlock(&o->mu);
        return err->code;
    }
    snprintf(id_out, cap, "%s", e->id);
    if (e->st == ST_LOADING) {
        pthread_mutex_unlock(&o->mu);
        return ta_error_set(err, TA_EUNAVAILABLE, "model '%.200s' is loading; retry in a moment",
                            name);
    }
    if (e->st == ST_AVAILABLE) {
        uint64_t busy = 0;
        if (o->cfg.memory_budget && !make_room(o, e, e->bytes, &busy)) {
            int rc = ta_error_set(
                err, TA_EUNAVAILABLE,
                "loading '%.200s' needs about %.1f MiB (file and KV cache) but the memory budget "
                "is %.1f MiB and models in use hold %.1f MiB; unload one or raise "
                "--memory-budget",
                e->id, (double)e->bytes / 1048576.0, (double)o->cfg.memory_budget / 1048576.0,
                (double)busy / 1048576.0);
            pthread_mutex_unlock(&o->mu);
            return rc;
        }
        e->st = ST_LOADING;
        char id[256], path[4096];
        snprintf(id, sizeof id, "%s", e->id);
        snprintf(path, sizeof path, "%s", e->path);
        pthread_mutex_unlock(&o->mu);
        ta_error lerr = {0};
        int rc = ta_ml_load(o->ml, id, path, &o->cfg.load, &lerr);
        ta_ml_info info = {0};
        if (!rc) rc = ta_ml_info_get(o->ml, id, &info, &lerr);
        pthread_mutex_lock(&o->mu);
        e = find(o, id); /* the table may have moved */
        if (rc) {
            e->st = ST_AVAILABLE;
            pthread_mutex_unlock(&o->mu);
            if (err) *err = lerr;
            return rc;
        }
        e->st = ST_LOADED;
        e->bytes = info.file_bytes + info.kv_bytes;
        e->n_ctx = info.n_ctx;
        snprintf(e->kind, sizeof e->kind, "%s", info.kind == TA_ML_EMBED ? "embedding" : "chat");
        e->last_used = now_s();
        e->expires = INFINITY;
    }
    double now = now_s();
    if (hold) {
        e->users++;
    } else { /* a load request: the keep-alive starts now */
        double ka = use_default ? o->cfg.keep_alive_s : keep_alive_s;
        e->last_used = now;
        e->expires = ka < 0 ? INFINITY : now + ka;
    }
    pthread_mutex_unlock(&o->mu);
    return TA_OK;
}

int ta_models_acquire(ta_models *o, const char *name, char *id_out, size_t cap, ta_error *err)
{
    return use(o, name, true, 0, true, id_out, cap, err);
}

int ta_models_load(ta_models *o, const char *name, double keep_alive_s, bool use_default,
                   char *id_out, size_t cap, ta_error *err)
{
    return use(o, name, false, keep_alive_s, use_default, id_out, cap, err);
}

void ta_models_release(ta_models *o, const char *id, double keep_alive_s, bool use_default)
{
    pthread_mutex_lock(&o->mu);
    entry *e = find(o, id);
    if (e && e->users > 0) {
        e->users--;
        double now = now_s(), ka = use_default ? o->cfg.keep_alive_s : keep_alive_s;
        e->last_used = now;
        e->expires = ka < 0 ? INFINITY : now + ka;
        if (e->users == 0 && ka == 0 && e->st == ST_LOADED) unload_locked(o, e);
    }
    pthread_mutex_unlock(&o->mu);
}

int ta_models_unload(ta_models *o, const char *name, ta_error *err)
{
    pthread_mutex_lock(&o->mu);
    entry *e = find(o, name);
    int rc = TA_OK;
    if (!e || e->st != ST_LOADED)
        rc = ta_error_set(err, TA_ENOTFOUND, "model '%.200s' is not loaded", name);
    else
        unload_locked(o, e);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

void ta_models_reap(ta_models *o)
{
    pthread_mutex_lock(&o->mu);
    double now = now_s();
    for (size_t i = 0; i < o->n; i++) {
        entry *e = &o->e[i];
        if (e->st == ST_LOADED && e->users == 0 && now >= e->expires) unload_locked(o, e);
    }
    pthread_mutex_unlock(&o->mu);
}

static json_t *entry_json(const entry *e)
{
    static const char *const names[] = {"available", "loading", "loaded"};
    return json_pack("{s:s,s:s,s:i,s:s,s:b,s:s,s:s,s:i,s:I,s:s}", "id", e->id, "object", "model",
                     "created", 0, "owned_by", "tabagent", "loaded", e->st == ST_LOADED, "state",
                     names[e->st], "kind", e->kind[0] ? e->kind : "unknown", "context_length",
                     (int)e->n_ctx, "size_bytes", (json_int_t)e->bytes, "path", e->path);
}

json_t *ta_models_list(ta_models *o)
{
    json_t *data = json_array();
    pthread_mutex_lock(&o->mu);
    for (size_t i = 0; i < o->n; i++)
        json_array_append_new(data, entry_json(&o->e[i]));
    pthread_mutex_unlock(&o->mu);
    return json_pack("{s:s,s:o}", "object", "list", "data", data);
}

json_t *ta_models_get(ta_models *o, const char *name, ta_error *err)
{
    pthread_mutex_lock(&o->mu);
    entry *e = find(o, name);
    json_t *j = e ? entry_json(e) : NULL;
    bool loaded = e && e->st == ST_LOADED;
    pthread_mutex_unlock(&o->mu);
    if (!j) {
        ta_error_set(err, TA_ENOTFOUND, "model '%.200s' is not known", name);
        return NULL;
    }
    ta_ml_info info;
    if (loaded && ta_ml_info_get(o->ml, name, &info, NULL) == TA_OK) {
        json_object_set_new(j, "parallel", json_integer(info.n_parallel));
        json_object_set_new(j, "decode_steps", json_integer((json_int_t)info.decode_steps));
        json_object_set_new(j, "decode_tokens", json_integer((json_int_t)info.decode_rows));
        json_object_set_new(j, "pool_stalls", json_integer((json_int_t)info.pool_stalls));
    }
    return j;
}
