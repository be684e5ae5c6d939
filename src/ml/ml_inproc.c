/*
 * ml_inproc.c - the ML client served in this process, on src/engine/ (see ml.h).
 *
 * Models live in a list guarded by one mutex; a request holds a reference for its
 * duration, so an unload only marks the model and the last request out frees it.
 * A chat model's slots are guarded by the model's own mutex and condition variable;
 * their evaluations go through the model's batcher (engine/batcher.h), which merges
 * the decoding steps of all slots into one pass over the weights.
 */
#include "ml.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../engine/encoder.h"
#include "../engine/threadpool.h"
#include "../gguf/gguf.h"

#define DEFAULT_MAX_CTX   4096u
#define DEFAULT_MAX_QUEUE 64u

typedef struct slot {
    ta_ctx *ctx;
    ta_gen *gen;
    bool busy;
    uint64_t last_used; /* a counter: higher is more recent */
} slot;

typedef struct model {
    struct model *next;
    char id[256];
    ta_ml_kind kind;
    ta_model *m;       /* chat */
    ta_encoder *enc;   /* embeddings */
    ta_tokenizer *tok; /* both */
    ta_pool *pool;
    ta_ml_info info;
    char *chat_template; /* NULL when the file has none */
    /* slots (chat) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ta_batcher *batcher; /* merges the slots' decoding steps */
    slot *slots;
    uint32_t n_slots, waiting, max_queue;
    uint64_t clock;
    /* life */
    int refs;     /* requests using it; guarded by the client's mutex */
    bool closing; /* unloaded: no new requests; freed when refs reaches 0 */
} model;

struct ta_ml {
    pthread_mutex_t mu;
    model *models;
};

ta_ml *ta_ml_inproc_new(ta_error *err)
{
    ta_ml *ml = calloc(1, sizeof *ml);
    if (!ml) {
        ta_error_set(err, TA_ENOMEM, "out of memory for the ML client");
        return NULL;
    }
    pthread_mutex_init(&ml->mu, NULL);
    return ml;
}

static void model_free(model *md)
{
    if (!md) return;
    for (uint32_t i = 0; i < md->n_slots; i++) {
        ta_gen_free(md->slots[i].gen);
        ta_ctx_free(md->slots[i].ctx);
    }
    free(md->slots);
    if (md->kind == TA_ML_CHAT) {
        pthread_mutex_destroy(&md->mu);
        pthread_cond_destroy(&md->cv);
    }
    ta_batcher_free(md->batcher);
    ta_pool_free(md->pool);
    ta_tokenizer_free(md->tok);
    ta_encoder_free(md->enc);
    ta_model_free(md->m);
    free(md->chat_template);
    free(md);
}

void ta_ml_free(ta_ml *ml)
{
    if (!ml) return;
    for (model *md = ml->models, *next; md; md = next) {
        next = md->next;
        model_free(md);
    }
    pthread_mutex_destroy(&ml->mu);
    free(ml);
}

/* Takes a reference on a live model, or fails with TA_ENOTFOUND. */
static model *acquire(ta_ml *ml, const char *id, ta_error *err)
{
    pthread_mutex_lock(&ml->mu);
    model *md = ml->models;
    while (md && strcmp(md->id, id))
        md = md->next;
    if (md) md->refs++;
    pthread_mutex_unlock(&ml->mu);
    if (!md) ta_error_set(err, TA_ENOTFOUND, "model '%.200s' is not loaded", id);
    return md;
}

static void release(ta_ml *ml, model *md)
{
    pthread_mutex_lock(&ml->mu);
    bool gone = --md->refs == 0 && md->closing;
    pthread_mutex_unlock(&ml->mu);
    if (gone) model_free(md);
}

static bool is_encoder_arch(const char *arch)
{
    return !strcmp(arch, "bert") || !strcmp(arch, "nomic-bert");
}

static int load_chat(model *md, const char *path, const ta_ml_load_params *p, ta_error *err)
{
    /* by path: the engine then repacks the weights for this CPU's kernels (and keeps
     * the packed copy in its cache), which decodes 1.5x faster than the file's layout */
    md->m = ta_model_load(path, err);
    if (!md->m) return err->code;
    md->tok = ta_tokenizer_from_gguf(md->m->gguf, err);
    if (!md->tok) return err->code;
    const ta_hparams *hp = &md->m->hp;
    uint32_t n_ctx = p->n_ctx;
    if (!n_ctx) n_ctx = hp->n_ctx_train < DEFAULT_MAX_CTX ? hp->n_ctx_train : DEFAULT_MAX_CTX;
    if (n_ctx > hp->n_ctx_train)
        return ta_error_set(err, TA_EINVAL,
                            "a context of %u tokens is more than the model was trained for (%u)",
                            n_ctx, hp->n_ctx_train);
    md->pool = ta_pool_new(p->threads);
    if (!md->pool) return ta_error_set(err, TA_ENOMEM, "cannot start the thread pool");
    md->n_slots = p->n_parallel ? p->n_parallel : 1;
    md->max_queue = p->max_queue ? p->max_queue : DEFAULT_MAX_QUEUE;
    md->slots = calloc(md->n_slots, sizeof *md->slots);
    if (!md->slots) return ta_error_set(err, TA_ENOMEM, "out of memory for slots");
    pthread_mutex_init(&md->mu, NULL);
    pthread_cond_init(&md->cv, NULL);
    md->batcher = ta_batcher_new(md->n_slots, err);
    if (!md->batcher) return err->code;
    md->info.kv_bytes = 0;
    for (uint32_t i = 0; i < md->n_slots; i++) {
        ta_ctx_params cp = {.n_ctx = n_ctx, .pool = md->pool, .kv_type = p->kv_type};
        md->slots[i].ctx = ta_ctx_new(md->m, &cp, err);
        if (!md->slots[i].ctx) return err->code;
        md->slots[i].gen = ta_gen_new(md->slots[i].ctx, md->tok, err);
        if (!md->slots[i].gen) return err->code;
        ta_gen_set_batcher(md->slots[i].gen, md->batcher, 0);
        md->info.kv_bytes += ta_ctx_kv_bytes(md->slots[i].ctx);
    }
    ta_gguf_str tmpl;
    if (ta_gguf_get_str(md->m->gguf, "tokenizer.chat_template", &tmpl)) {
        md->chat_template = strndup(tmpl.ptr, tmpl.len);
        if (!md->chat_template) return ta_error_set(err, TA_ENOMEM, "out of memory");
    }
    md->info.kind = TA_ML_CHAT;
    snprintf(md->info.arch, sizeof md->info.arch, "%s", hp->arch_name);
    md->info.n_ctx = n_ctx;
    md->info.n_ctx_train = hp->n_ctx_train;
    md->info.n_vocab = hp->n_vocab;
    md->info.n_embd = hp->n_embd;
    md->info.n_parallel = md->n_slots;
    md->info.file_bytes = ta_gguf_file_size(md->m->gguf);
    md->info.has_template = md->chat_template != NULL;
    return TA_OK;
}

static int load_embed(model *md, ta_gguf *g, const ta_ml_load_params *p, ta_error *err)
{
    md->enc = ta_encoder_from_gguf(g, err);
    if (!md->enc) return err->code;
    md->tok = ta_tokenizer_from_gguf(ta_encoder_gguf(md->enc), err);
    if (!md->tok) return err->code;
    md->pool = NULL; /* requests run in their callers' threads, any number at once */
    (void)p;
    md->info.kind = TA_ML_EMBED;
    snprintf(md->info.arch, sizeof md->info.arch, "%s",
             ta_enc_arch_name(ta_encoder_hparams_get(md->enc)->arch));
    md->info.n_ctx = md->info.n_ctx_train = ta_encoder_n_ctx(md->enc);
    md->info.n_embd = ta_encoder_n_embd(md->enc);
    md->info.n_vocab = (uint32_t)ta_tok_vocab_size(md->tok);
    md->info.file_bytes = ta_gguf_file_size(ta_encoder_gguf(md->enc));
    return TA_OK;
}

int ta_ml_load(ta_ml *ml, const char *id, const char *path, const ta_ml_load_params *p,
               ta_error *err)
{
    ta_ml_load_params dflt = {0};
    if (!p) p = &dflt;
    if (!id[0] || strlen(id) >= sizeof((model *)0)->id)
        return ta_error_set(err, TA_EINVAL, "a model id has 1 to 255 bytes");
    model *md = acquire(ml, id, NULL);
    if (md) {
        release(ml, md);
        return ta_error_set(err, TA_ECONFLICT, "model '%.200s' is loaded already", id);
    }
    ta_gguf *g = ta_gguf_open(path, err);
    if (!g) return err->code;
    md = calloc(1, sizeof *md);
    if (!md) {
        ta_gguf_close(g);
        return ta_error_set(err, TA_ENOMEM, "out of memory");
    }
    snprintf(md->id, sizeof md->id, "%s", id);
    ta_gguf_str arch = {0};
    char a[64] = "";
    if (ta_gguf_get_str(g, "general.architecture", &arch) && arch.len < sizeof a)
        memcpy(a, arch.ptr, arch.len);
    md->kind = is_encoder_arch(a) ? TA_ML_EMBED : TA_ML_CHAT;
    if (md->kind == TA_ML_CHAT) {
        ta_gguf_close(g);
        g = NULL;
    }
    int rc = md->kind == TA_ML_EMBED ? load_embed(md, g, p, err) : load_chat(md, path, p, err);
    if (rc) {
        if (strncmp(err->message, path, strlen(path))) ta_error_prefix(err, "%s: ", path);
        model_free(md);
        return rc;
    }
    pthread_mutex_lock(&ml->mu);
    model *other = ml->models;
    while (other && strcmp(other->id, id))
        other = other->next;
    if (!other) {
        md->next = ml->models;
        ml->models = md;
    }
    pthread_mutex_unlock(&ml->mu);
    if (other) { /* loaded by someone else meanwhile */
        model_free(md);
        return ta_error_set(err, TA_ECONFLICT, "model '%.200s' is loaded already", id);
    }
    return TA_OK;
}

int ta_ml_unload(ta_ml *ml, const char *id, ta_error *err)
{
    pthread_mutex_lock(&ml->mu);
    model **pp = &ml->models;
    while (*pp && strcmp((*pp)->id, id))
        pp = &(*pp)->next;
    model *md = *pp;
    bool now = false;
    if (md) {
        *pp = md->next;
        md->closing = true;
        now = md->refs == 0;
    }
    pthread_mutex_unlock(&ml->mu);
    if (!md) return ta_error_set(err, TA_ENOTFOUND, "model '%.200s' is not loaded", id);
    if (md->kind == TA_ML_CHAT) { /* wake requests waiting for a slot: they give up */
        pthread_mutex_lock(&md->mu);
        pthread_cond_broadcast(&md->cv);
        pthread_mutex_unlock(&md->mu);
    }
    if (now) model_free(md);
    return TA_OK;
}

int ta_ml_info_get(ta_ml *ml, const char *id, ta_ml_info *out, ta_error *err)
{
    model *md = acquire(ml, id, err);
    if (!md) return TA_ENOTFOUND;
    *out = md->info;
    if (md->batcher) ta_batcher_stats(md->batcher, &out->decode_steps, &out->decode_rows);
    if (md->pool) out->pool_stalls = ta_pool_stalls(md->pool);
    release(ml, md);
    return TA_OK;
}

char *ta_ml_chat_template(ta_ml *ml, const char *id, ta_error *err)
{
    model *md = acquire(ml, id, err);
    if (!md) return NULL;
    char *t = md->chat_template ? strdup(md->chat_template) : NULL;
    release(ml, md);
    return t;
}

static void token_text(const ta_tokenizer *tok, int32_t id, char *out, size_t cap)
{
    size_t len = 0;
    const char *t = id >= 0 ? ta_tok_token_text(tok, id, &len) : NULL;
    if (!t || len >= cap) len = 0;
    if (len) memcpy(out, t, len);
    out[len] = '\0';
}

int ta_ml_special_texts(ta_ml *ml, const char *id, char *bos, char *eos, size_t cap, ta_error *err)
{
    model *md = acquire(ml, id, err);
    if (!md) return TA_ENOTFOUND;
    token_text(md->tok, ta_tok_bos(md->tok), bos, cap);
    token_text(md->tok, ta_tok_eos(md->tok), eos, cap);
    release(ml, md);
    return TA_OK;
}

int ta_ml_tokenize(ta_ml *ml, const char *id, const char *text, size_t len, bool add_special,
                   bool parse_special, ta_tok_ids *out, ta_error *err)
{
    model *md = acquire(ml, id, err);
    if (!md) return TA_ENOTFOUND;
    int rc = ta_tok_encode(md->tok, text, len, add_special, parse_special, out, err);
    release(ml, md);
    return rc;
}

char *ta_ml_detokenize(ta_ml *ml, const char *id, const int32_t *ids, size_t n, bool with_special,
                       ta_error *err)
{
    model *md = acquire(ml, id, err);
    if (!md) return NULL;
    char *text = NULL;
    size_t vocab = ta_tok_vocab_size(md->tok);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= vocab) {
            ta_error_set(err, TA_EINVAL, "token %zu is %d, outside the vocabulary (0..%zu)", i,
                         ids[i], vocab - 1);
            goto out;
        }
    size_t len = 0;
    text = ta_tok_decode(md->tok, ids, n, with_special ? TA_TOK_DECODE_SPECIAL : 0, &len, err);
out:
    release(ml, md);
    return text;
}

/* Waits for a free slot and takes the one whose history shares the longest prefix with
 * the prompt (the least recently used among equals). */
static int slot_take(model *md, const int32_t *prompt, uint32_t n, const ta_ml_sink *sink,
                     slot **out, ta_error *err)
{
    pthread_mutex_lock(&md->mu);
    bool queued = false;
    for (;;) {
        slot *best = NULL;
        uint32_t best_k = 0;
        for (uint32_t i = 0; i < md->n_slots; i++) {
            slot *s = &md->slots[i];
            if (s->busy) continue;
            uint32_t k = ta_gen_common_prefix(s->gen, prompt, n);
            if (!best || k > best_k || (k == best_k && s->last_used < best->last_used)) {
                best = s;
                best_k = k;
            }
        }
        if (best) {
            best->busy = true;
            best->last_used = ++md->clock;
            if (queued) md->waiting--;
            pthread_mutex_unlock(&md->mu);
            *out = best;
            return TA_OK;
        }
        int code = 0;
        if (md->closing)
            code = ta_error_set(err, TA_ENOTFOUND, "model '%.200s' was unloaded", md->id);
        else if (sink && sink->cancelled && sink->cancelled(sink->ud))
            code = ta_error_set(err, TA_ECANCELLED, "cancelled while waiting for a slot");
        else if (!queued && md->waiting >= md->max_queue)
            code = ta_error_set(err, TA_EUNAVAILABLE,
                                "all %u slots of '%.200s' are busy and %u requests wait already "
                                "(the most that may); try again later",
                                md->n_slots, md->id, md->waiting);
        if (code) {
            if (queued) md->waiting--;
            pthread_mutex_unlock(&md->mu);
            return code;
        }
        if (!queued) {
            queued = true;
            md->waiting++;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L; /* look at cancellation 10 times a second */
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&md->cv, &md->mu, &ts);
    }
}

static void slot_give(model *md, slot *s)
{
    pthread_mutex_lock(&md->mu);
    s->busy = false;
    pthread_cond_signal(&md->cv);
    pthread_mutex_unlock(&md->mu);
}

int ta_ml_generate(ta_ml *ml, const char *id, const int32_t *prompt, uint32_t n_prompt,
                   const ta_gen_params *p, const ta_ml_sink *sink, ta_gen_result *out,
                   ta_error *err)
{
    memset(out, 0, sizeof *out);
    model *md = acquire(ml, id, err);
    if (!md) return TA_ENOTFOUND;
    int rc;
    if (md->kind != TA_ML_CHAT) {
        rc = ta_error_set(err, TA_EINVAL,
                          "model '%.200s' is an embedding model; it cannot generate", id);
        goto out;
    }
    slot *s = NULL;
    rc = slot_take(md, prompt, n_prompt, sink, &s, err);
    if (rc) goto out;
    rc = ta_gen_run(s->gen, prompt, n_prompt, p, sink ? sink->on_token : NULL,
                    sink ? sink->ud : NULL, out, err);
    slot_give(md, s);
out:
    release(ml, md);
    return rc;
}

int ta_ml_embed(ta_ml *ml, const char *id, const char *text, size_t len, float *out, size_t cap,
                uint32_t *n_tokens, ta_error *err)
{
    model *md = acquire(ml, id, err);
    if (!md) return TA_ENOTFOUND;
    int rc;
    ta_tok_ids ids = {0};
    if (md->kind != TA_ML_EMBED) {
        rc = ta_error_set(err, TA_EINVAL, "model '%.200s' is not an embedding model", id);
        goto out;
    }
    if (cap < md->info.n_embd) {
        rc = ta_error_set(err, TA_EINVAL, "room for %zu floats, the model gives %u", cap,
                          md->info.n_embd);
        goto out;
    }
    rc = ta_tok_encode(md->tok, text, len, true, false, &ids, err);
    if (rc) goto out;
    if (n_tokens) *n_tokens = (uint32_t)ids.len;
    rc = ta_encoder_embed(md->enc, ids.ids, (uint32_t)ids.len, out, NULL, err);
out:
    ta_tok_ids_free(&ids);
    release(ml, md);
    return rc;
}
