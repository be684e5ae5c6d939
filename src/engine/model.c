/*
 * model.c - hyperparameters and weight validation for the decoder architectures, and
 * the load-time repacking of the matrices the kernels want interleaved (repack.h).
 */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels.h"
#include "packcache.h"
#include "repack.h"
#include "threadpool.h"
#include "weights.h"

static const struct {
    const char *name;
    ta_arch arch;
    ta_rope_mode rope;
} archs[] = {
    {"llama", TA_ARCH_LLAMA, TA_ROPE_NORM},
    {"qwen2", TA_ARCH_QWEN2, TA_ROPE_NEOX},
    {"qwen3", TA_ARCH_QWEN3, TA_ROPE_NEOX},
    {"phi3", TA_ARCH_PHI3, TA_ROPE_NEOX},
};

const char *ta_arch_name(ta_arch arch)
{
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (archs[i].arch == arch) return archs[i].name;
    return "?";
}

/* "<arch>.<suffix>" as an unsigned integer; required ones fail with the key's name. */
static int get_u32(const ta_gguf *g, const char *arch, const char *suffix, uint32_t *out,
                   bool required, ta_error *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (ta_gguf_get_u32(g, key, out)) return TA_OK;
    if (required) return ta_error_set(err, TA_EINVAL, "missing metadata key %s", key);
    return TA_OK;
}

static void get_f32(const ta_gguf *g, const char *arch, const char *suffix, float *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    ta_gguf_get_f32(g, key, out);
}

static int read_hparams(const ta_gguf *g, ta_hparams *hp, ta_error *err)
{
    memset(hp, 0, sizeof *hp);
    ta_gguf_str arch;
    if (!ta_gguf_get_str(g, "general.architecture", &arch))
        return ta_error_set(err, TA_EINVAL, "missing metadata key general.architecture");
    size_t n = arch.len < sizeof hp->arch_name - 1 ? (size_t)arch.len : sizeof hp->arch_name - 1;
    memcpy(hp->arch_name, arch.ptr, n);
    hp->arch_name[n] = '\0';
    bool known = false;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        if (!strcmp(archs[i].name, hp->arch_name)) {
            hp->arch = archs[i].arch;
            hp->rope_mode = archs[i].rope;
            known = true;
        }
    }
    if (!known)
        return ta_error_set(err, TA_EINVAL,
                            "architecture '%s' is not supported (supported: llama, qwen2, "
                            "qwen3, phi3)",
                            hp->arch_name);
    const char *a = hp->arch_name;
    int rc;
    if ((rc = get_u32(g, a, "embedding_length", &hp->n_embd, true, err)) ||
        (rc = get_u32(g, a, "block_count", &hp->n_layer, true, err)) ||
        (rc = get_u32(g, a, "feed_forward_length", &hp->n_ff, true, err)) ||
        (rc = get_u32(g, a, "attention.head_count", &hp->n_head, true, err)))
        return rc;
    hp->n_ctx_train = 2048;
    get_u32(g, a, "context_length", &hp->n_ctx_train, false, err);
    hp->n_head_kv = hp->n_head;
    get_u32(g, a, "attention.head_count_kv", &hp->n_head_kv, false, err);
    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_head == 0 || hp->n_head_kv == 0 ||
        hp->n_ff == 0 || hp->n_layer > 1024 || hp->n_head > 4096 || hp->n_embd > (1u << 20))
        return ta_error_set(err, TA_EINVAL,
                            "implausible hyperparameters: n_embd %u, n_layer %u, n_head %u, "
                            "n_head_kv %u, n_ff %u",
                            hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->n_ff);
    if (hp->n_head % hp->n_head_kv)
        return ta_error_set(err, TA_EINVAL,
                            "attention.head_count %u is not a multiple of head_count_kv %u",
                            hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    get_u32(g, a, "attention.key_length", &hp->head_dim, false, err);
    if (hp->head_dim == 0 || hp->head_dim % 2 || hp->head_dim > 1024)
        return ta_error_set(err, TA_EINVAL, "bad attention head size %u", hp->head_dim);
    hp->n_rot = hp->head_dim;
    get_u32(g, a, "rope.dimension_count", &hp->n_rot, false, err);
    if (hp->n_rot == 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return ta_error_set(err, TA_EINVAL, "rope.dimension_count %u does not fit head size %u",
                            hp->n_rot, hp->head_dim);
    hp->norm_eps = 1e-5f;
    get_f32(g, a, "attention.layer_norm_rms_epsilon", &hp->norm_eps);
    hp->rope_base = 10000.0f;
    get_f32(g, a, "rope.freq_base", &hp->rope_base);
    hp->rope_scale = 1.0f;
    char key[128];
    ta_gguf_str st;
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (ta_gguf_get_str(g, key, &st) && st.len == 6 && !memcmp(st.ptr, "linear", 6))
        get_f32(g, a, "rope.scaling.factor", &hp->rope_scale);
    if (!(hp->rope_scale > 0)) hp->rope_scale = 1.0f;
    uint64_t count = 0;
    ta_gguf_vtype et;
    if (!ta_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &count) || et != TA_GGUF_STRING)
        return ta_error_set(err, TA_EINVAL, "missing tokenizer.ggml.tokens (the vocabulary)");
    if (count == 0 || count > (1u << 24))
        return ta_error_set(err, TA_EINVAL, "vocabulary of %llu tokens", (unsigned long long)count);
    hp->n_vocab = (uint32_t)count;
    return TA_OK;
}

static int bind_tensors(ta_model *m, ta_error *err)
{
    const ta_gguf *g = m->gguf;
    const ta_hparams *hp = &m->hp;
    uint64_t E = hp->n_embd, V = hp->n_vocab, F = hp->n_ff;
    uint64_t Q = (uint64_t)hp->n_head * hp->head_dim, KV = (uint64_t)hp->n_head_kv * hp->head_dim;
    int rc;
    if ((rc = ta_weight_check(g, "token_embd.weight", E, V, true, &m->tok_embd, err))) {
        const ta_gguf_tensor *t = ta_gguf_tensor_find(g, "token_embd.weight");
        if (t && t->ne[0] == E && t->ne[1] != V)
            return ta_error_set(err, TA_EINVAL,
                                "vocabulary size mismatch: the tokenizer has %llu tokens but "
                                "token_embd.weight has %llu rows",
                                (unsigned long long)V, (unsigned long long)t->ne[1]);
        return rc;
    }
    if ((rc = ta_weight_check(g, "output_norm.weight", E, 0, true, &m->out_norm, err))) return rc;
    if ((rc = ta_weight_check(g, "output.weight", E, V, false, &m->output, err))) return rc;
    if (!m->output) m->output = m->tok_embd; /* tied embeddings */
    if ((rc =
             ta_weight_check(g, "rope_freqs.weight", hp->n_rot / 2, 0, false, &m->rope_freqs, err)))
        return rc;
    if (m->rope_freqs && m->rope_freqs->type != TA_TYPE_F32)
        return ta_error_set(err, TA_EINVAL, "rope_freqs.weight: expected F32");

    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->layers) return ta_error_set(err, TA_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < hp->n_layer; i++) {
        ta_layer *L = &m->layers[i];
        char n[96];
#define T(field, suffix, ne0, ne1, req)                                                            \
    do {                                                                                           \
        snprintf(n, sizeof n, "blk.%u." suffix, i);                                                \
        if ((rc = ta_weight_check(g, n, ne0, ne1, req, &L->field, err))) return rc;                \
    } while (0)
        T(attn_norm, "attn_norm.weight", E, 0, true);
        if (hp->arch == TA_ARCH_PHI3) {
            T(wqkv, "attn_qkv.weight", E, Q + 2 * KV, true);
        } else {
            T(wq, "attn_q.weight", E, Q, true);
            T(wk, "attn_k.weight", E, KV, true);
            T(wv, "attn_v.weight", E, KV, true);
        }
        T(wo, "attn_output.weight", Q, E, true);
        bool biases = hp->arch == TA_ARCH_QWEN2;
        T(bq, "attn_q.bias", Q, 0, biases);
        T(bk, "attn_k.bias", KV, 0, biases);
        T(bv, "attn_v.bias", KV, 0, biases);
        bool qk_norm = hp->arch == TA_ARCH_QWEN3;
        T(q_norm, "attn_q_norm.weight", hp->head_dim, 0, qk_norm);
        T(k_norm, "attn_k_norm.weight", hp->head_dim, 0, qk_norm);
        T(ffn_norm, "ffn_norm.weight", E, 0, true);
        if (hp->arch == TA_ARCH_PHI3) {
            T(w_up, "ffn_up.weight", E, 2 * F, true);
        } else {
            T(w_gate, "ffn_gate.weight", E, F, true);
            T(w_up, "ffn_up.weight", E, F, true);
        }
        T(w_down, "ffn_down.weight", F, E, true);
#undef T
    }
    return TA_OK;
}

ta_model *ta_model_from_gguf(ta_gguf *g, ta_error *err)
{
    ta_model *m = calloc(1, sizeof *m);
    if (!m) {
        ta_gguf_close(g);
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    m->gguf = g;
    if (read_hparams(g, &m->hp, err) != TA_OK || bind_tensors(m, err) != TA_OK) {
        ta_model_free(m);
        return NULL;
    }
    return m;
}

/* The matrices a forward pass multiplies by, as pointers to repoint. */
static size_t weight_slots(ta_model *m, const ta_gguf_tensor ***slots)
{
    size_t n = 0;
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        ta_layer *L = &m->layers[l];
        const ta_gguf_tensor **w[] = {&L->wq, &L->wk,     &L->wv,   &L->wqkv,
                                      &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
            if (*w[i]) {
                if (slots) slots[n] = w[i];
                n++;
            }
    }
    if (slots) slots[n] = &m->output;
    return n + 1;
}

/* Hands the whole pages of a copied tensor back (they stay in the page cache). */
static void release_pages(const ta_gguf_tensor *t)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t b = ((uintptr_t)t->data + page - 1) & ~(page - 1);
    uintptr_t e = ((uintptr_t)t->data + t->size) & ~(page - 1);
    if (e > b) madvise((void *)b, e - b, MADV_DONTNEED);
}

typedef struct repack_job {
    const ta_gguf_tensor *t;
    int pack;
    void *dst;
} repack_job;

static void repack_range(void *arg, int64_t begin, int64_t end)
{
    repack_job *j = arg;
    ta_repack_groups(j->t, j->pack, j->dst, (uint64_t)begin, (uint64_t)end);
}

static size_t packed_size(const ta_gguf_tensor *t, int pack)
{
    return ta_packed_group_bytes(pack, t->ne[0]) * (size_t)(t->ne[1] / 8);
}

/* Repacks the matrices the kernels want packed (repack.h), on every core. The packed
 * copies live in the model's pack cache file (packcache.h) when there can be one: a
 * valid file is only mapped; otherwise they are repacked into a new file's pages. Without
 * a cache they go to memory mapped with MAP_POPULATE (faulting pages in one by one, or
 * asking for huge pages, measured 1.5x to 4x slower on first touch in a VM). Best
 * effort: without memory for the copies the model runs from the file's layout. */
static void repack_weights(ta_model *m, const char *path)
{
    const char *env = getenv("TABAGENT_REPACK");
    if (env && !strcmp(env, "0")) return;
    const ta_kernels *k = ta_kernels_best();
    size_t n = weight_slots(m, NULL), n_uniq = 0;
    const ta_gguf_tensor ***slots = calloc(n, sizeof *slots);
    const ta_gguf_tensor **uniq = calloc(n, sizeof *uniq);
    ta_pack_entry *e = calloc(n, sizeof *e);
    m->packed = calloc(n, sizeof *m->packed);
    ta_pool *pool = NULL;
    if (!slots || !uniq || !e || !m->packed) goto out;
    weight_slots(m, slots);
    /* A matrix used twice (tied output and embedding are different slots, but a file
     * may share more) is packed once. */
    for (size_t i = 0; i < n; i++) {
        int pack = ta_repack_choice(k, *slots[i]);
        if (pack < 0) continue;
        size_t u = 0;
        while (u < n_uniq && uniq[u]->offset != (*slots[i])->offset)
            u++;
        if (u < n_uniq) continue;
        uniq[n_uniq] = *slots[i];
        e[n_uniq].tensor_offset = (*slots[i])->offset;
        e[n_uniq].pack = (uint32_t)pack;
        e[n_uniq].size = packed_size(*slots[i], pack);
        n_uniq++;
    }
    if (!n_uniq) goto out;
    ta_packcache pc;
    bool cached = ta_packcache_open(path, k->name, e, n_uniq, &pc) == 0;
    if (cached) {
        m->packed_mem = pc.map;
        m->packed_bytes = pc.bytes;
    } else {
        size_t bytes = 0;
        for (size_t u = 0; u < n_uniq; u++) {
            e[u].data_off = bytes;
            bytes += (e[u].size + 63) & ~(size_t)63;
        }
        m->packed_mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (m->packed_mem == MAP_FAILED) {
            m->packed_mem = NULL;
            goto out;
        }
        m->packed_bytes = bytes;
    }
    bool fill = !cached || !pc.filled;
    if (fill) pool = ta_pool_new(0);
    for (size_t u = 0; u < n_uniq; u++) {
        const ta_gguf_tensor *t = uniq[u];
        uint8_t *at = (uint8_t *)m->packed_mem + e[u].data_off;
        if (fill) {
            repack_job job = {t, (int)e[u].pack, at};
            if (pool)
                ta_pool_for(pool, (int64_t)(t->ne[1] / 8), repack_range, &job);
            else
                repack_range(&job, 0, (int64_t)(t->ne[1] / 8));
            release_pages(t);
        }
        ta_gguf_tensor *pt = &m->packed[m->n_packed++];
        *pt = *t;
        pt->type = TA_PACKED_TYPE + e[u].pack;
        pt->data = at;
        pt->size = e[u].size;
    }
    if (cached && !pc.filled) {
        ta_packcache_commit(&pc);
        m->packed_mem = pc.map; /* the model unmaps it */
    }
    m->packed_from_cache = cached;
    for (size_t i = 0; i < n; i++)
        for (size_t u = 0; u < n_uniq; u++)
            if (uniq[u]->offset == (*slots[i])->offset && ta_repack_choice(k, *slots[i]) >= 0) {
                *slots[i] = &m->packed[u];
                break;
            }
out:
    ta_pool_free(pool);
    free(slots);
    free(uniq);
    free(e);
}

ta_model *ta_model_load(const char *path, ta_error *err)
{
    ta_gguf *g = ta_gguf_open(path, err);
    if (!g) return NULL;
    ta_model *m = ta_model_from_gguf(g, err);
    if (m) repack_weights(m, path);
    return m;
}

int ta_model_lock(ta_model *m, ta_error *err)
{
    int rc = ta_gguf_lock(m->gguf, err);
    if (rc == TA_OK && m->packed_mem && mlock(m->packed_mem, m->packed_bytes) != 0)
        rc = ta_error_set(err, TA_EIO, "cannot lock %zu bytes of repacked weights in memory: %s",
                          m->packed_bytes, strerror(errno));
    return rc;
}

void ta_model_free(ta_model *m)
{
    if (!m) return;
    if (m->packed_mem) munmap(m->packed_mem, m->packed_bytes);
    free(m->packed);
    ta_gguf_close(m->gguf);
    free(m->layers);
    free(m);
}

uint64_t ta_model_param_count(const ta_model *m)
{
    uint64_t n = 0;
    for (size_t i = 0; i < ta_gguf_tensor_count(m->gguf); i++)
        n += ta_gguf_tensor_at(m->gguf, i)->n_elems;
    return n;
}
