/*
 * test_encoder.c - the bert / nomic-bert embedding encoders (src/engine/encoder.c).
 *
 * Each test writes a tiny random-weight model with the project's GGUF writer (the
 * tokenizer copied from ../shared/vocab/ggml-vocab-bert-bge.gguf), loads it, and checks
 * the embeddings against a naive reference forward pass written here from the
 * architecture's definition: plain loops in double precision over the same weights,
 * sharing no code with the engine.
 */
#include <math.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/encoder.h"
#include "engine/f16.h"
#include "engine/quant.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#define VOCAB_PATH TA_SOURCE_DIR "/../shared/vocab/ggml-vocab-bert-bge.gguf"

/* Tiny but realistic proportions: 4 heads of 8, two layers. */
/* Agreement with the reference. Float rounding gives ~1e-7 here; 1e-5 is tight enough to
 * tell exact GELU from its tanh approximation (~5e-5 apart on these weights). */
#define TOL 1e-5

enum { E = 32, H = 4, HD = E / H, FF = 48, NL = 2, NCTX = 16, NTYPES = 2 };

/* ------------------------------------------------------------ the model in memory */

typedef struct wt {
    char name[64];
    uint64_t ne0, ne1; /* ne1 0: a vector */
    float *data;
} wt;

typedef struct tmodel {
    bool nomic;
    uint32_t n_vocab;
    float rope_base;
    float eps;
    wt w[64];
    int n;
} tmodel;

static uint64_t rng_state;

static float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Adds a weight of random values: center + scale * U(-1, 1). */
static void add_w(tmodel *m, const char *name, uint64_t ne0, uint64_t ne1, float center,
                  float scale)
{
    wt *t = &m->w[m->n++];
    assert_true(m->n <= 64);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ne0 = ne0;
    t->ne1 = ne1;
    size_t count = (size_t)ne0 * (ne1 ? ne1 : 1);
    t->data = malloc(count * sizeof(float));
    assert_non_null(t->data);
    for (size_t i = 0; i < count; i++)
        t->data[i] = center + scale * frand();
}

static const wt *get_w(const tmodel *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->w[i].name, name)) return &m->w[i];
    return NULL;
}

static const float *W(const tmodel *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const float *W(const tmodel *m, const char *fmt, ...)
{
    char name[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const wt *t = get_w(m, name);
    return t ? t->data : NULL;
}

static void tmodel_init(tmodel *m, bool nomic, uint32_t n_vocab, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    rng_state = seed;
    m->nomic = nomic;
    m->n_vocab = n_vocab;
    m->rope_base = 1000.0f;
    m->eps = 1e-12f;
    add_w(m, "token_embd.weight", E, n_vocab, 0, 1.0f);
    add_w(m, "token_types.weight", E, NTYPES, 0, 0.5f);
    if (!nomic) add_w(m, "position_embd.weight", E, NCTX, 0, 0.5f);
    add_w(m, "token_embd_norm.weight", E, 0, 1.0f, 0.2f);
    add_w(m, "token_embd_norm.bias", E, 0, 0, 0.1f);
    char n[64];
    for (int l = 0; l < NL; l++) {
#define A(suffix, ne0, ne1, c, s)                                                                  \
    do {                                                                                           \
        snprintf(n, sizeof n, "blk.%d." suffix, l);                                                \
        add_w(m, n, ne0, ne1, c, s);                                                               \
    } while (0)
        if (nomic) {
            A("attn_qkv.weight", E, 3 * E, 0, 0.3f);
        } else {
            A("attn_q.weight", E, E, 0, 0.3f);
            A("attn_q.bias", E, 0, 0, 0.1f);
            A("attn_k.weight", E, E, 0, 0.3f);
            A("attn_k.bias", E, 0, 0, 0.1f);
            A("attn_v.weight", E, E, 0, 0.3f);
            A("attn_v.bias", E, 0, 0, 0.1f);
        }
        A("attn_output.weight", E, E, 0, 0.3f);
        if (!nomic) A("attn_output.bias", E, 0, 0, 0.1f);
        A("attn_output_norm.weight", E, 0, 1.0f, 0.2f);
        A("attn_output_norm.bias", E, 0, 0, 0.1f);
        if (nomic) A("ffn_gate.weight", E, FF, 0, 0.3f);
        A("ffn_up.weight", E, FF, 0, 0.3f);
        if (!nomic) A("ffn_up.bias", FF, 0, 0, 0.1f);
        A("ffn_down.weight", FF, E, 0, 0.3f);
        if (!nomic) A("ffn_down.bias", E, 0, 0, 0.1f);
        A("layer_output_norm.weight", E, 0, 1.0f, 0.2f);
        A("layer_output_norm.bias", E, 0, 0, 0.1f);
#undef A
    }
}

static void tmodel_free(tmodel *m)
{
    for (int i = 0; i < m->n; i++)
        free(m->w[i].data);
    m->n = 0;
}

/* Writes the model to path, matrices as mat_type; skip names a tensor to leave out, and
 * reshape one to write with its first dimension halved (a wrong shape). */
static void tmodel_write_typed(const tmodel *m, const ta_gguf *vocab, const char *path,
                               uint32_t pooling, const char *skip, const char *reshape,
                               uint32_t mat_type)
{
    const char *a = m->nomic ? "nomic-bert" : "bert";
    ta_gguf_writer *w = ta_gguf_writer_new();
    assert_non_null(w);
    char key[96];
    assert_int_equal(ta_gguf_writer_set_str(w, "general.architecture", a, strlen(a)), 0);
#define U32(suffix, v)                                                                             \
    do {                                                                                           \
        snprintf(key, sizeof key, "%s." suffix, a);                                                \
        assert_int_equal(ta_gguf_writer_set_u32(w, key, v), 0);                                    \
    } while (0)
    U32("embedding_length", E);
    U32("block_count", NL);
    U32("feed_forward_length", FF);
    U32("attention.head_count", H);
    U32("context_length", NCTX);
    U32("pooling_type", pooling);
#undef U32
    snprintf(key, sizeof key, "%s.attention.layer_norm_epsilon", a);
    assert_int_equal(ta_gguf_writer_set_f32(w, key, m->eps), 0);
    if (m->nomic) {
        snprintf(key, sizeof key, "%s.rope.freq_base", a);
        assert_int_equal(ta_gguf_writer_set_f32(w, key, m->rope_base), 0);
    }
    assert_int_equal(ta_gguf_writer_copy_kv(w, vocab, "tokenizer."), 0);
    for (int i = 0; i < m->n; i++) {
        const wt *t = &m->w[i];
        if (skip && !strcmp(skip, t->name)) continue;
        uint64_t ne[2] = {t->ne0, t->ne1};
        uint32_t dims = t->ne1 ? 2 : 1;
        size_t count = (size_t)t->ne0 * (t->ne1 ? t->ne1 : 1);
        if (reshape && !strcmp(reshape, t->name)) {
            ne[0] /= 2;
            count /= 2;
        }
        if (dims == 2 && mat_type != TA_TYPE_F32) {
            /* Matrices in another type: the caller rounded the values to it already. */
            size_t bytes = ta_type_row_bytes(mat_type, ne[0]) * ne[1];
            void *q = malloc(bytes);
            assert_non_null(q);
            for (uint64_t r = 0; r < ne[1]; r++)
                assert_int_equal(ta_quantize_row(mat_type, t->data + r * ne[0],
                                                 (char *)q + r * ta_type_row_bytes(mat_type, ne[0]),
                                                 (int64_t)ne[0]),
                                 0);
            assert_int_equal(ta_gguf_writer_add_tensor(w, t->name, mat_type, dims, ne, q, bytes),
                             0);
            free(q);
            continue;
        }
        assert_int_equal(ta_gguf_writer_add_tensor(w, t->name, TA_TYPE_F32, dims, ne, t->data,
                                                   count * sizeof(float)),
                         0);
    }
    ta_error err = {0};
    int rc = ta_gguf_writer_write(w, path, &err);
    if (rc) fprintf(stderr, "write %s: %s\n", path, err.message);
    assert_int_equal(rc, 0);
    ta_gguf_writer_free(w);
}

static void tmodel_write(const tmodel *m, const ta_gguf *vocab, const char *path, uint32_t pooling,
                         const char *skip, const char *reshape)
{
    tmodel_write_typed(m, vocab, path, pooling, skip, reshape, TA_TYPE_F32);
}

/* Rounds every matrix of m to type and back, so the reference sees exactly the values
 * the file will hold. */
static void tmodel_round(tmodel *m, uint32_t type)
{
    for (int i = 0; i < m->n; i++) {
        wt *t = &m->w[i];
        if (!t->ne1) continue;
        void *q = malloc(ta_type_row_bytes(type, t->ne0));
        assert_non_null(q);
        for (uint64_t r = 0; r < t->ne1; r++) {
            float *row = t->data + r * t->ne0;
            assert_int_equal(ta_quantize_row(type, row, q, (int64_t)t->ne0), 0);
            assert_int_equal(ta_dequantize_row(type, q, row, (int64_t)t->ne0), 0);
        }
        free(q);
    }
}

/* ------------------------------------------------------------ reference forward */

static void ref_layernorm(double *x, const float *w, const float *b, double eps)
{
    double mean = 0, var = 0;
    for (int i = 0; i < E; i++)
        mean += x[i];
    mean /= E;
    for (int i = 0; i < E; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= E;
    for (int i = 0; i < E; i++)
        x[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i];
}

/* Whether the matrices are F16, whose products take F16 activations (quant.h): the
 * reference then rounds every product's input to half precision as the engine does. */
static bool ref_act_f16;

/* y[r] = sum_c W[r][c] x[c] (+ b[r]); W stored as rows of n_in (GGUF ne = [n_in, n_out]). */
static void ref_linear(const float *w, const float *b, const double *x, double *y, int n_in,
                       int n_out)
{
    for (int r = 0; r < n_out; r++) {
        double s = b ? b[r] : 0;
        for (int c = 0; c < n_in; c++)
            s += (double)w[(size_t)r * n_in + c] *
                 (ref_act_f16 ? (double)ta_f16_to_f32(ta_f32_to_f16((float)x[c])) : x[c]);
        y[r] = s;
    }
}

/* NEOX rotary embedding over a whole head of HD dims at position pos. */
static void ref_rope(double *head, int pos, double base)
{
    for (int i = 0; i < HD / 2; i++) {
        double th = pos * pow(base, -2.0 * i / HD);
        double a = head[i], b = head[i + HD / 2];
        head[i] = a * cos(th) - b * sin(th);
        head[i + HD / 2] = a * sin(th) + b * cos(th);
    }
}

/* The embedding of ids under pooling (1 mean, 2 cls), L2-normalized, into out. */
static void ref_embed(const tmodel *m, const int32_t *ids, int n, int pooling, double *out)
{
    double(*x)[E] = calloc((size_t)n, sizeof *x);
    double(*q)[E] = calloc((size_t)n, sizeof *q);
    double(*k)[E] = calloc((size_t)n, sizeof *k);
    double(*v)[E] = calloc((size_t)n, sizeof *v);
    double(*att)[E] = calloc((size_t)n, sizeof *att);
    double *sc = calloc((size_t)n, sizeof *sc);
    assert_true(x && q && k && v && att && sc);
    double eps = m->eps;
    for (int t = 0; t < n; t++) {
        for (int i = 0; i < E; i++) {
            x[t][i] = W(m, "token_embd.weight")[(size_t)ids[t] * E + i];
            x[t][i] += W(m, "token_types.weight")[i];
            if (!m->nomic) x[t][i] += W(m, "position_embd.weight")[(size_t)t * E + i];
        }
        ref_layernorm(x[t], W(m, "token_embd_norm.weight"), W(m, "token_embd_norm.bias"), eps);
    }
    for (int l = 0; l < NL; l++) {
        for (int t = 0; t < n; t++) {
            if (m->nomic) {
                double qkv[3 * E];
                ref_linear(W(m, "blk.%d.attn_qkv.weight", l), NULL, x[t], qkv, E, 3 * E);
                for (int i = 0; i < E; i++) {
                    q[t][i] = qkv[i];
                    k[t][i] = qkv[E + i];
                    v[t][i] = qkv[2 * E + i];
                }
                for (int h = 0; h < H; h++) {
                    ref_rope(q[t] + h * HD, t, m->rope_base);
                    ref_rope(k[t] + h * HD, t, m->rope_base);
                }
            } else {
                ref_linear(W(m, "blk.%d.attn_q.weight", l), W(m, "blk.%d.attn_q.bias", l), x[t],
                           q[t], E, E);
                ref_linear(W(m, "blk.%d.attn_k.weight", l), W(m, "blk.%d.attn_k.bias", l), x[t],
                           k[t], E, E);
                ref_linear(W(m, "blk.%d.attn_v.weight", l), W(m, "blk.%d.attn_v.bias", l), x[t],
                           v[t], E, E);
            }
        }
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < H; h++) {
                double mx = -1e300, sum = 0;
                for (int s = 0; s < n; s++) {
                    double d = 0;
                    for (int i = 0; i < HD; i++)
                        d += q[t][h * HD + i] * k[s][h * HD + i];
                    sc[s] = d / sqrt((double)HD);
                    if (sc[s] > mx) mx = sc[s];
                }
                for (int s = 0; s < n; s++)
                    sum += sc[s] = exp(sc[s] - mx);
                for (int i = 0; i < HD; i++) {
                    double o = 0;
                    for (int s = 0; s < n; s++)
                        o += sc[s] / sum * v[s][h * HD + i];
                    att[t][h * HD + i] = o;
                }
            }
        }
        for (int t = 0; t < n; t++) {
            double o[E], up[FF], gate[FF], down[E];
            ref_linear(W(m, "blk.%d.attn_output.weight", l), W(m, "blk.%d.attn_output.bias", l),
                       att[t], o, E, E);
            for (int i = 0; i < E; i++)
                x[t][i] += o[i];
            ref_layernorm(x[t], W(m, "blk.%d.attn_output_norm.weight", l),
                          W(m, "blk.%d.attn_output_norm.bias", l), eps);
            ref_linear(W(m, "blk.%d.ffn_up.weight", l), W(m, "blk.%d.ffn_up.bias", l), x[t], up, E,
                       FF);
            if (m->nomic) {
                ref_linear(W(m, "blk.%d.ffn_gate.weight", l), NULL, x[t], gate, E, FF);
                for (int i = 0; i < FF; i++)
                    up[i] *= gate[i] / (1 + exp(-gate[i]));
            } else {
                for (int i = 0; i < FF; i++)
                    up[i] = 0.5 * up[i] * (1 + erf(up[i] / sqrt(2.0)));
            }
            ref_linear(W(m, "blk.%d.ffn_down.weight", l), W(m, "blk.%d.ffn_down.bias", l), up, down,
                       FF, E);
            for (int i = 0; i < E; i++)
                x[t][i] += down[i];
            ref_layernorm(x[t], W(m, "blk.%d.layer_output_norm.weight", l),
                          W(m, "blk.%d.layer_output_norm.bias", l), eps);
        }
    }
    int count = pooling == 2 ? 1 : n;
    double norm = 0;
    for (int i = 0; i < E; i++) {
        double s = 0;
        for (int t = 0; t < count; t++)
            s += x[t][i];
        out[i] = s / count;
        norm += out[i] * out[i];
    }
    for (int i = 0; i < E; i++)
        out[i] /= sqrt(norm);
    free(x);
    free(q);
    free(k);
    free(v);
    free(att);
    free(sc);
}

/* ------------------------------------------------------------ fixtures */

typedef struct fixture {
    ta_gguf *vocab;
    uint32_t n_vocab;
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    ta_error err = {0};
    f->vocab = ta_gguf_open(VOCAB_PATH, &err);
    if (!f->vocab) {
        fprintf(stderr, "test_encoder needs %s: %s\n", VOCAB_PATH, err.message);
        free(f);
        return -1;
    }
    ta_gguf_vtype et;
    uint64_t count = 0;
    if (!ta_gguf_get_array(f->vocab, "tokenizer.ggml.tokens", &et, &count)) return -1;
    f->n_vocab = (uint32_t)count;
    static int seq;
    snprintf(f->path, sizeof f->path, "/tmp/test_encoder_%d_%d.gguf", (int)getpid(), seq++);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unlink(f->path);
    ta_gguf_close(f->vocab);
    free(f);
    return 0;
}

/* Builds, writes and loads a model. */
static ta_encoder *make(fixture *f, tmodel *m, bool nomic, uint32_t pooling)
{
    tmodel_init(m, nomic, f->n_vocab, nomic ? 0x1234567u : 0x89abcdefu);
    tmodel_write(m, f->vocab, f->path, pooling, NULL, NULL);
    ta_error err = {0};
    ta_encoder *e = ta_encoder_load(f->path, &err);
    if (!e) fprintf(stderr, "load: %s\n", err.message);
    assert_non_null(e);
    return e;
}

/* Token ids for a text, from the model's own tokenizer, [CLS] ... [SEP]. */
static size_t tokenize(const ta_encoder *e, const char *text, int32_t *ids, size_t cap)
{
    ta_error err = {0};
    ta_tokenizer *tok = ta_tokenizer_from_gguf(ta_encoder_gguf(e), &err);
    assert_non_null(tok);
    ta_tok_ids v = {0};
    assert_int_equal(ta_tok_encode(tok, text, strlen(text), true, false, &v, &err), 0);
    assert_true(v.len >= 3 && v.len <= cap);
    assert_int_equal(v.ids[0], ta_tok_bos(tok));         /* [CLS] */
    assert_int_equal(v.ids[v.len - 1], ta_tok_sep(tok)); /* [SEP] */
    memcpy(ids, v.ids, v.len * sizeof *ids);
    size_t n = v.len;
    ta_tok_ids_free(&v);
    ta_tokenizer_free(tok);
    return n;
}

static double l2(const float *v)
{
    double s = 0;
    for (int i = 0; i < E; i++)
        s += (double)v[i] * v[i];
    return sqrt(s);
}

static double max_diff_ref(const float *a, const double *b)
{
    double d = 0;
    for (int i = 0; i < E; i++)
        if (fabs(a[i] - b[i]) > d) d = fabs(a[i] - b[i]);
    return d;
}

static double max_diff(const float *a, const float *b)
{
    double d = 0;
    for (int i = 0; i < E; i++)
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
    return d;
}

/* ------------------------------------------------------------ tests */

static void check_arch(void **state, bool nomic)
{
    fixture *f = *state;
    tmodel m;
    ta_encoder *e = make(f, &m, nomic, 1);
    assert_int_equal(ta_encoder_n_embd(e), E);
    assert_int_equal(ta_encoder_n_ctx(e), NCTX);
    assert_int_equal(ta_encoder_hparams_get(e)->arch, nomic ? TA_ENC_NOMIC_BERT : TA_ENC_BERT);
    assert_int_equal(ta_encoder_hparams_get(e)->pooling, TA_POOL_MEAN);
    int32_t ids[NCTX];
    size_t n = tokenize(e, "Hello world, this is a test.", ids, NCTX);
    ta_pool *pool = ta_pool_new(3);
    assert_non_null(pool);
    float out[E], out2[E], out3[E];
    double ref[E];
    ta_error err = {0};

    /* Mean pooling: unit norm, matches the reference; the same with and without the
     * pool, bit for bit, and on a second call. */
    assert_int_equal(ta_encoder_embed(e, ids, (uint32_t)n, out, pool, &err), 0);
    assert_true(fabs(l2(out) - 1.0) < 1e-5);
    ref_embed(&m, ids, (int)n, 1, ref);
    double d = max_diff_ref(out, ref);
    if (d >= TOL) fprintf(stderr, "%s mean: max diff %g\n", nomic ? "nomic" : "bert", d);
    assert_true(d < TOL);
    assert_int_equal(ta_encoder_embed(e, ids, (uint32_t)n, out2, NULL, &err), 0);
    assert_memory_equal(out, out2, sizeof out);
    assert_int_equal(ta_encoder_embed(e, ids, (uint32_t)n, out2, pool, &err), 0);
    assert_memory_equal(out, out2, sizeof out);

    /* CLS pooling: the first token's output, unlike the mean. */
    ta_encoder_set_pooling(e, TA_POOL_CLS);
    assert_int_equal(ta_encoder_embed(e, ids, (uint32_t)n, out2, pool, &err), 0);
    assert_true(fabs(l2(out2) - 1.0) < 1e-5);
    ref_embed(&m, ids, (int)n, 2, ref);
    assert_true(max_diff_ref(out2, ref) < TOL);
    assert_true(max_diff(out, out2) > 1e-3);
    /* With a single token, CLS and mean are the same thing. */
    assert_int_equal(ta_encoder_embed(e, ids, 1, out2, pool, &err), 0);
    ta_encoder_set_pooling(e, TA_POOL_MEAN);
    assert_int_equal(ta_encoder_embed(e, ids, 1, out3, pool, &err), 0);
    assert_true(max_diff(out2, out3) < 1e-6);

    /* Order matters (positions), and the reference agrees on the swapped order. */
    int32_t sw[NCTX];
    memcpy(sw, ids, n * sizeof *ids);
    assert_true(sw[1] != sw[2]);
    int32_t tmp = sw[1];
    sw[1] = sw[2];
    sw[2] = tmp;
    assert_int_equal(ta_encoder_embed(e, sw, (uint32_t)n, out2, pool, &err), 0);
    assert_true(max_diff(out, out2) > 1e-4);
    ref_embed(&m, sw, (int)n, 1, ref);
    assert_true(max_diff_ref(out2, ref) < TOL);

    /* Lengths: the full context works and matches; one more is refused with numbers. */
    int32_t full[NCTX + 1];
    for (int i = 0; i <= NCTX; i++)
        full[i] = ids[(size_t)i % n];
    assert_int_equal(ta_encoder_embed(e, full, NCTX, out2, pool, &err), 0);
    ref_embed(&m, full, NCTX, 1, ref);
    assert_true(max_diff_ref(out2, ref) < TOL);
    assert_int_equal(ta_encoder_embed(e, full, NCTX + 1, out2, pool, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "17"));
    assert_non_null(strstr(err.message, "16"));
    assert_int_equal(ta_encoder_embed(e, full, 0, out2, pool, &err), TA_EINVAL);
    int32_t bad[2] = {ids[0], (int32_t)f->n_vocab};
    assert_int_equal(ta_encoder_embed(e, bad, 2, out2, pool, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "vocabulary"));
    bad[1] = -1;
    assert_int_equal(ta_encoder_embed(e, bad, 2, out2, pool, &err), TA_EINVAL);

    ta_pool_free(pool);
    ta_encoder_free(e);
    tmodel_free(&m);
}

static void test_bert(void **state)
{
    check_arch(state, false);
}

static void test_nomic_bert(void **state)
{
    check_arch(state, true);
}

/* The file's pooling_type is honored: a CLS-pooled file gives the CLS reference. */
static void test_pooling_from_metadata(void **state)
{
    fixture *f = *state;
    tmodel m;
    ta_encoder *e = make(f, &m, false, 2);
    assert_int_equal(ta_encoder_hparams_get(e)->pooling, TA_POOL_CLS);
    int32_t ids[NCTX];
    size_t n = tokenize(e, "pooling by the first token", ids, NCTX);
    float out[E];
    double ref[E];
    ta_error err = {0};
    assert_int_equal(ta_encoder_embed(e, ids, (uint32_t)n, out, NULL, &err), 0);
    ref_embed(&m, ids, (int)n, 2, ref);
    assert_true(max_diff_ref(out, ref) < TOL);
    ta_encoder_free(e);
    tmodel_free(&m);
}

/* Matrices stored as F16 and BF16 (the other matvec paths) match the reference run on
 * the same rounded values. */
static void test_half_types(void **state)
{
    fixture *f = *state;
    const uint32_t types[] = {TA_TYPE_F16, TA_TYPE_BF16};
    for (size_t ti = 0; ti < 2; ti++) {
        for (int nomic = 0; nomic < 2; nomic++) {
            tmodel m;
            tmodel_init(&m, nomic, f->n_vocab, 99 + ti);
            tmodel_round(&m, types[ti]);
            tmodel_write_typed(&m, f->vocab, f->path, 1, NULL, NULL, types[ti]);
            ta_error err = {0};
            ta_encoder *e = ta_encoder_load(f->path, &err);
            assert_non_null(e);
            int32_t ids[NCTX];
            size_t n = tokenize(e, "half precision weights", ids, NCTX);
            float out[E];
            double ref[E];
            assert_int_equal(ta_encoder_embed(e, ids, (uint32_t)n, out, NULL, &err), 0);
            ref_act_f16 = types[ti] == TA_TYPE_F16;
            ref_embed(&m, ids, (int)n, 1, ref);
            ref_act_f16 = false;
            assert_true(max_diff_ref(out, ref) < TOL);
            ta_encoder_free(e);
            tmodel_free(&m);
        }
    }
}

/* Writes a broken model and expects loading to fail with a message holding each of
 * the given words. */
static void expect_refused(fixture *f, bool nomic, uint32_t pooling, const char *skip,
                           const char *reshape, const char *word1, const char *word2)
{
    tmodel m;
    tmodel_init(&m, nomic, f->n_vocab, 42);
    tmodel_write(&m, f->vocab, f->path, pooling, skip, reshape);
    tmodel_free(&m);
    ta_error err = {0};
    ta_encoder *e = ta_encoder_load(f->path, &err);
    assert_null(e);
    assert_int_equal(err.code, TA_EINVAL);
    if (!strstr(err.message, word1) || (word2 && !strstr(err.message, word2)))
        fprintf(stderr, "unexpected message: %s\n", err.message);
    assert_non_null(strstr(err.message, word1));
    if (word2) assert_non_null(strstr(err.message, word2));
}

static void test_errors(void **state)
{
    fixture *f = *state;
    expect_refused(f, false, 1, "blk.1.attn_k.weight", NULL, "missing tensor",
                   "blk.1.attn_k.weight");
    expect_refused(f, false, 1, "position_embd.weight", NULL, "missing tensor",
                   "position_embd.weight");
    expect_refused(f, false, 1, "blk.0.attn_q.bias", NULL, "missing tensor", "blk.0.attn_q.bias");
    expect_refused(f, true, 1, "blk.0.attn_qkv.weight", NULL, "missing tensor",
                   "blk.0.attn_qkv.weight");
    expect_refused(f, true, 1, "blk.1.ffn_gate.weight", NULL, "missing tensor",
                   "blk.1.ffn_gate.weight");
    expect_refused(f, false, 1, NULL, "blk.0.ffn_up.weight", "blk.0.ffn_up.weight",
                   "expected shape [32, 48], got [16, 48]");
    expect_refused(f, false, 1, NULL, "blk.1.layer_output_norm.bias",
                   "blk.1.layer_output_norm.bias", "expected shape [32]");
    expect_refused(f, true, 1, NULL, "blk.0.attn_qkv.weight", "blk.0.attn_qkv.weight",
                   "expected shape [32, 96]");
    expect_refused(f, false, 7, NULL, NULL, "pooling_type", "7");
}

/* A vocabulary that does not match the embedding table is named as such. */
static void test_vocab_mismatch(void **state)
{
    fixture *f = *state;
    tmodel m;
    tmodel_init(&m, false, 100, 7); /* 100 rows against a 30522-token vocabulary */
    tmodel_write(&m, f->vocab, f->path, 1, NULL, NULL);
    tmodel_free(&m);
    ta_error err = {0};
    assert_null(ta_encoder_load(f->path, &err));
    assert_non_null(strstr(err.message, "vocabulary size mismatch"));
    assert_non_null(strstr(err.message, "token_embd.weight"));
}

/* A decoder file is not an encoder. */
static void test_not_an_encoder(void **state)
{
    fixture *f = *state;
    ta_gguf_writer *w = ta_gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(ta_gguf_writer_set_str(w, "general.architecture", "llama", 5), 0);
    ta_error err = {0};
    assert_int_equal(ta_gguf_writer_write(w, f->path, &err), 0);
    ta_gguf_writer_free(w);
    assert_null(ta_encoder_load(f->path, &err));
    assert_non_null(strstr(err.message, "llama"));
    assert_non_null(strstr(err.message, "bert"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nomic_bert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pooling_from_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vocab_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_an_encoder, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
