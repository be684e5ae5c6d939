/*
 * model.c - hyperparameters and weight validation for the decoder architectures.
 */
#include "model.h"
#include "weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

ta_model *ta_model_load(const char *path, ta_error *err)
{
    ta_gguf *g = ta_gguf_open(path, err);
    if (!g) return NULL;
    return ta_model_from_gguf(g, err);
}

void ta_model_free(ta_model *m)
{
    if (!m) return;
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
