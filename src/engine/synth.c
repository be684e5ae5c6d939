/*
 * synth.c - random-weight models (see synth.h).
 *
 * The tensors and their shapes are those model.c expects for each architecture; the
 * engine refuses anything else, so a file this writes and the engine cannot load is a
 * bug here (the tests load every shape they write).
 */
#include "synth.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"
#include "threadpool.h"

/* ---- shapes ---- */

static const ta_synth_shape shapes[] = {
    /* Tiny shapes for tests: every dimension a multiple of 256 in `tiny`, so each type
     * is stored as asked; `tiny-odd` has 32-multiples only (K-quants fall back), a head
     * size that is not n_embd / n_head, and tied embeddings. */
    {"tiny", "a 2-layer test model, every type stored as asked", 512, 256, 256, 2, 4, 2, 64, 512,
     10000.0f, 1e-5f, false, true, false, TA_POOL_NONE},
    {"tiny-odd", "a 2-layer test model with 32-multiple sizes (K-quants fall back)", 300, 256, 160,
     2, 4, 2, 48, 288, 1000000.0f, 1e-6f, true, false, false, TA_POOL_NONE},
    {"llama-3.2-1b", "Llama-3.2-1B", 128256, 131072, 2048, 16, 32, 8, 64, 8192, 500000.0f, 1e-5f,
     true, true, false, TA_POOL_NONE},
    {"qwen2-0.5b", "Qwen2-0.5B / Qwen2.5-0.5B", 151936, 32768, 896, 24, 14, 2, 64, 4864, 1000000.0f,
     1e-6f, true, false, false, TA_POOL_NONE},
    {"qwen3-0.6b", "Qwen3-0.6B", 151936, 40960, 1024, 28, 16, 8, 128, 3072, 1000000.0f, 1e-6f, true,
     false, false, TA_POOL_NONE},
    {"smollm-135m", "SmolLM-135M", 49152, 2048, 576, 30, 9, 3, 64, 1536, 10000.0f, 1e-5f, true,
     false, false, TA_POOL_NONE},
    {"phi-3-mini", "Phi-3-mini-4k", 32064, 4096, 3072, 32, 32, 32, 96, 8192, 10000.0f, 1e-5f, false,
     false, false, TA_POOL_NONE},
    /* Encoders (bert, nomic-bert): n_head_kv is n_head; rope_base is used by nomic-bert
     * only. `tiny` has 256-multiple sizes, so every type is stored as asked. */
    {"tiny", "a 2-layer test encoder, every type stored as asked", 512, 64, 256, 2, 4, 4, 0, 512,
     1000.0f, 1e-12f, false, false, true, TA_POOL_MEAN},
    {"minilm-l6", "all-MiniLM-L6-v2 (bert)", 30522, 512, 384, 6, 12, 12, 0, 1536, 10000.0f, 1e-12f,
     false, false, true, TA_POOL_MEAN},
    {"nomic-embed-v1.5", "nomic-embed-text-v1.5 (nomic-bert)", 30522, 2048, 768, 12, 12, 12, 0,
     3072, 1000.0f, 1e-12f, false, false, true, TA_POOL_MEAN},
};

size_t ta_synth_shape_count(void)
{
    return sizeof shapes / sizeof shapes[0];
}

const ta_synth_shape *ta_synth_shape_at(size_t i)
{
    return i < ta_synth_shape_count() ? &shapes[i] : NULL;
}

const ta_synth_shape *ta_synth_shape_find_kind(const char *name, bool encoder)
{
    for (size_t i = 0; name && i < ta_synth_shape_count(); i++)
        if (shapes[i].encoder == encoder && !strcmp(shapes[i].name, name)) return &shapes[i];
    return NULL;
}

const ta_synth_shape *ta_synth_shape_find(const char *name)
{
    return ta_synth_shape_find_kind(name, false);
}

/* ---- types ---- */

int ta_synth_parse_type(const char *name)
{
    if (!name) return -1;
    if (!strcasecmp(name, "Q4_K_M")) return TA_SYNTH_Q4_K_M;
    int t = ta_type_parse(name);
    if (t < 0 || t == TA_TYPE_Q8_K || !ta_type_get((uint32_t)t)->supported ||
        !ta_quant_ops_get((uint32_t)t))
        return -1;
    return t;
}

const char *ta_synth_type_name(int type)
{
    if (type == TA_SYNTH_Q4_K_M) return "Q4_K_M";
    const ta_type_traits *tt = ta_type_get((uint32_t)type);
    return tt->name ? tt->name : "?";
}

/* llama.cpp's general.file_type numbers (llama_ftype), for tools that show them. */
static uint32_t file_type(int type)
{
    switch (type) {
    case TA_TYPE_F32: return 0;
    case TA_TYPE_F16: return 1;
    case TA_TYPE_Q4_0: return 2;
    case TA_TYPE_Q4_1: return 3;
    case TA_TYPE_Q8_0: return 7;
    case TA_TYPE_Q5_0: return 8;
    case TA_TYPE_Q5_1: return 9;
    case TA_TYPE_Q2_K: return 10;
    case TA_TYPE_Q3_K: return 11; /* Q3_K_S: all Q3_K */
    case TA_TYPE_Q4_K: return 14; /* Q4_K_S */
    case TA_SYNTH_Q4_K_M: return 15;
    case TA_TYPE_Q5_K: return 16; /* Q5_K_S */
    case TA_TYPE_Q6_K: return 18;
    case TA_TYPE_BF16: return 32;
    default: return 0;
    }
}

/* The type a matrix with rows of ne0 elements is stored in when `want` is asked for:
 * want itself when its blocks divide the rows, else llama.cpp's fallback. */
static uint32_t fit_type(uint32_t want, uint64_t ne0)
{
    if (ne0 % ta_type_get(want)->block_elems == 0) return want;
    uint32_t t;
    switch (want) {
    case TA_TYPE_Q2_K:
    case TA_TYPE_Q3_K: t = TA_TYPE_Q4_0; break;
    case TA_TYPE_Q4_K: t = TA_TYPE_Q5_0; break;
    case TA_TYPE_Q5_K: t = TA_TYPE_Q5_1; break;
    case TA_TYPE_Q6_K: t = TA_TYPE_Q8_0; break;
    default: t = TA_TYPE_F16; break;
    }
    if (ne0 % ta_type_get(t)->block_elems) t = TA_TYPE_F16;
    return t;
}

/* llama.cpp's use_more_bits: the layers that get more bits in the _M mixtures. */
static bool use_more_bits(uint32_t i, uint32_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i >= n / 8 && (i - n / 8) % 3 == 2);
}

/* ---- random numbers ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* Standard normals by Box-Muller in float, a pair per 64-bit draw (two 24-bit
 * uniforms; the tails reach 5.8 sigma, plenty for weights). */
static void gauss_fill(float *out, uint64_t n, uint64_t *state, float mean, float std)
{
    for (uint64_t i = 0; i < n; i += 2) {
        uint64_t z = splitmix64(state);
        float u1 = ((float)(z >> 40) + 1.0f) * 0x1p-24f;      /* (0, 1] */
        float u2 = (float)((z >> 16) & 0xffffffu) * 0x1p-24f; /* [0, 1) */
        float r = sqrtf(-2.0f * logf(u1)) * std, a = 6.28318531f * u2;
        out[i] = mean + r * cosf(a);
        if (i + 1 < n) out[i + 1] = mean + r * sinf(a);
    }
}

/* ---- tensor generation ---- */

typedef struct gen_job {
    uint64_t stream; /* seed mixed with the tensor name */
    uint64_t ne0;
    float mean, std;
    const ta_quant_ops *ops;
    size_t row_bytes;
    uint8_t *dst;
    atomic_bool failed;
} gen_job;

static void gen_rows(void *arg, int64_t begin, int64_t end)
{
    gen_job *j = arg;
    float *row = malloc(j->ne0 * sizeof(float));
    if (!row) {
        atomic_store(&j->failed, true);
        return;
    }
    for (int64_t r = begin; r < end; r++) {
        uint64_t s = j->stream ^ ((uint64_t)r * 0xd1b54a32d192ed03ull);
        splitmix64(&s);
        gauss_fill(row, j->ne0, &s, j->mean, j->std);
        j->ops->quantize_row(row, j->dst + (size_t)r * j->row_bytes, (int64_t)j->ne0);
    }
    free(row);
}

typedef struct synth {
    const ta_synth_params *p;
    ta_gguf_writer *w;
    ta_pool *pool;
    ta_synth_report rep;
} synth;

/* Adds a tensor of ne0 x ne1 (ne1 0: a vector) with values mean + std * N(0, 1), stored
 * as type (a matrix falls back when the type's blocks do not divide its rows). */
static int add_random(synth *s, const char *name, uint64_t ne0, uint64_t ne1, uint32_t type,
                      float mean, float std, ta_error *err)
{
    if (!ne1) type = TA_TYPE_F32;
    uint32_t stored = fit_type(type, ne0);
    if (stored != type) s->rep.n_fallback++;
    uint64_t rows = ne1 ? ne1 : 1;
    size_t row_bytes = ta_type_row_bytes(stored, ne0);
    if (!row_bytes || rows > SIZE_MAX / row_bytes)
        return ta_error_set(err, TA_EINVAL, "%s: bad size", name);
    gen_job j = {.stream = s->p->seed * 0x9e3779b97f4a7c15ull ^ fnv1a(name),
                 .ne0 = ne0,
                 .mean = mean,
                 .std = std,
                 .ops = ta_quant_ops_get(stored),
                 .row_bytes = row_bytes,
                 .dst = malloc(rows * row_bytes)};
    atomic_init(&j.failed, false);
    if (!j.dst) return ta_error_set(err, TA_ENOMEM, "out of memory for %s", name);
    if (s->pool && rows > 1)
        ta_pool_for(s->pool, (int64_t)rows, gen_rows, &j);
    else
        gen_rows(&j, 0, (int64_t)rows);
    int rc = TA_OK;
    if (atomic_load(&j.failed)) {
        rc = ta_error_set(err, TA_ENOMEM, "out of memory for %s", name);
    } else {
        uint64_t ne[2] = {ne0, ne1};
        rc =
            ta_gguf_writer_add_tensor(s->w, name, stored, ne1 ? 2 : 1, ne, j.dst, rows * row_bytes);
        if (rc) rc = ta_error_set(err, rc, "cannot add tensor %s", name);
    }
    free(j.dst);
    if (rc) return rc;
    s->rep.n_tensors++;
    s->rep.n_params += ne0 * rows;
    s->rep.data_bytes += rows * row_bytes;
    s->rep.type_tensors[stored]++;
    return TA_OK;
}

/* Llama 3's rope scaling as the converters store it: per-frequency divisors. */
static int add_llama3_rope_freqs(synth *s, uint32_t n_rot, float base, ta_error *err)
{
    const double factor = 32, low = 1, high = 4, old_ctx = 8192;
    const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
    float f[512];
    if (n_rot / 2 > 512) return ta_error_set(err, TA_EINVAL, "rope dimension too large");
    for (uint32_t i = 0; i < n_rot / 2; i++) {
        double freq = 1.0 / pow(base, 2.0 * i / n_rot);
        double wavelen = 2 * M_PI / freq;
        if (wavelen < high_wavelen) {
            f[i] = 1.0f;
        } else if (wavelen > low_wavelen) {
            f[i] = (float)factor;
        } else {
            double smooth = (old_ctx / wavelen - low) / (high - low);
            f[i] = (float)(1.0 / ((1 - smooth) / factor + smooth));
        }
    }
    uint64_t ne = n_rot / 2;
    int rc = ta_gguf_writer_add_tensor(s->w, "rope_freqs.weight", TA_TYPE_F32, 1, &ne, f,
                                       ne * sizeof(float));
    if (rc) return ta_error_set(err, rc, "cannot add rope_freqs.weight");
    s->rep.n_tensors++;
    s->rep.n_params += ne;
    s->rep.data_bytes += ne * sizeof(float);
    s->rep.type_tensors[TA_TYPE_F32]++;
    return TA_OK;
}

/* ---- tokenizer ---- */

/* The k-th letter piece: bijective base 26 ("a".."z", "aa"..), every other one with the
 * SentencePiece word-start mark U+2581 in front ("\u2581a", "a", "\u2581b", ...). */
static void letter_piece(uint32_t k, char *out)
{
    char tmp[16];
    int n = 0;
    uint32_t j = k / 2 + 1;
    while (j > 0 && n < 15) {
        j--;
        tmp[n++] = (char)('a' + j % 26);
        j /= 26;
    }
    size_t o = 0;
    if (k % 2 == 0) {
        memcpy(out, "\xe2\x96\x81", 3);
        o = 3;
    }
    while (n > 0)
        out[o++] = tmp[--n];
    out[o] = '\0';
}

static int synthetic_vocab(ta_gguf_writer *w, uint32_t n_vocab, ta_error *err)
{
    if (n_vocab < 259 + 1)
        return ta_error_set(err, TA_EINVAL, "a synthetic vocabulary needs at least 260 tokens");
    char **strs = calloc(n_vocab, sizeof *strs);
    float *scores = calloc(n_vocab, sizeof *scores);
    int32_t *types = calloc(n_vocab, sizeof *types);
    char *pool = malloc((size_t)n_vocab * 24);
    int rc = TA_OK;
    if (!strs || !scores || !types || !pool) {
        rc = ta_error_set(err, TA_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < n_vocab; i++) {
        char *s = pool + (size_t)i * 24;
        strs[i] = s;
        if (i == 0) {
            strcpy(s, "<unk>");
            types[i] = 2; /* unknown */
        } else if (i == 1 || i == 2) {
            strcpy(s, i == 1 ? "<s>" : "</s>");
            types[i] = 3; /* control */
        } else if (i < 259) {
            snprintf(s, 24, "<0x%02X>", i - 3);
            types[i] = 6; /* byte */
        } else {
            if (i == 259)
                strcpy(s, "\xe2\x96\x81"); /* the word-start mark alone */
            else
                letter_piece(i - 260, s);
            types[i] = 1; /* normal */
            scores[i] = -(float)(i - 259);
        }
    }
    if (ta_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", 5) ||
        ta_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default", 7) ||
        ta_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", (const char *const *)strs, NULL,
                                     n_vocab) ||
        ta_gguf_writer_set_array(w, "tokenizer.ggml.scores", TA_GGUF_F32, scores, n_vocab) ||
        ta_gguf_writer_set_array(w, "tokenizer.ggml.token_type", TA_GGUF_I32, types, n_vocab) ||
        ta_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0) ||
        ta_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1) ||
        ta_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2) ||
        ta_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true) ||
        ta_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false))
        rc = ta_error_set(err, TA_ENOMEM, "cannot store the synthetic vocabulary");
done:
    free(strs);
    free(scores);
    free(types);
    free(pool);
    return rc;
}

/* A synthetic WordPiece vocabulary in llama.cpp's GGUF form: word-initial pieces carry
 * U+2581, continuations are bare. [PAD] [UNK] [CLS] [SEP] [MASK]; each printable ASCII
 * character both ways (so every ASCII word has a tokenization); then letter pieces of
 * two or more letters (letter_piece from its 53rd on), alternating the two kinds. */
static int synthetic_wordpiece(ta_gguf_writer *w, uint32_t n_vocab, ta_error *err)
{
    static const char *const special[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    const uint32_t n_special = 5, n_chars = 126 - 33 + 1, first_piece = n_special + 2 * n_chars;
    if (n_vocab < first_piece)
        return ta_error_set(err, TA_EINVAL,
                            "a synthetic WordPiece vocabulary needs at least %u "
                            "tokens",
                            first_piece);
    char **strs = calloc(n_vocab, sizeof *strs);
    int32_t *types = calloc(n_vocab, sizeof *types);
    char *pool = malloc((size_t)n_vocab * 24);
    int rc = TA_OK;
    if (!strs || !types || !pool) {
        rc = ta_error_set(err, TA_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < n_vocab; i++) {
        char *s = pool + (size_t)i * 24;
        strs[i] = s;
        types[i] = 1; /* normal */
        if (i < n_special) {
            strcpy(s, special[i]);
            types[i] = i == 1 ? 2 : 3; /* unknown, control */
        } else if (i < first_piece) {
            uint32_t k = i - n_special;
            char c = (char)(33 + k / 2);
            if (k % 2 == 0)
                snprintf(s, 24, "\xe2\x96\x81%c", c);
            else
                snprintf(s, 24, "%c", c);
        } else {
            letter_piece(i - first_piece + 52, s); /* 52: past the single letters */
        }
    }
    if (ta_gguf_writer_set_str(w, "tokenizer.ggml.model", "bert", 4) ||
        ta_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default", 7) ||
        ta_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", (const char *const *)strs, NULL,
                                     n_vocab) ||
        ta_gguf_writer_set_array(w, "tokenizer.ggml.token_type", TA_GGUF_I32, types, n_vocab) ||
        ta_gguf_writer_set_u32(w, "tokenizer.ggml.token_type_count", 2) ||
        ta_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0) ||
        ta_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 1) ||
        ta_gguf_writer_set_u32(w, "tokenizer.ggml.cls_token_id", 2) ||
        ta_gguf_writer_set_u32(w, "tokenizer.ggml.seperator_token_id", 3) || /* sic */
        ta_gguf_writer_set_u32(w, "tokenizer.ggml.mask_token_id", 4))
        rc = ta_error_set(err, TA_ENOMEM, "cannot store the synthetic vocabulary");
done:
    free(strs);
    free(types);
    free(pool);
    return rc;
}

static int copy_vocab(ta_gguf_writer *w, const char *path, uint32_t *n_vocab, ta_error *err)
{
    ta_gguf *g = ta_gguf_open(path, err);
    if (!g) return err ? err->code : TA_EINVAL;
    ta_gguf_vtype et;
    uint64_t count = 0;
    int rc = TA_OK;
    if (!ta_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &count) || et != TA_GGUF_STRING ||
        count == 0 || count > (1u << 24))
        rc = ta_error_set(err, TA_EINVAL, "%s: no tokenizer.ggml.tokens string array", path);
    else if (ta_gguf_writer_copy_kv(w, g, "tokenizer."))
        rc = ta_error_set(err, TA_ENOMEM, "%s: cannot copy the tokenizer keys", path);
    else
        *n_vocab = (uint32_t)count;
    ta_gguf_close(g);
    return rc;
}

/* ---- the model ---- */

/* The keys every synth model has: general.* and the "<arch>." shape keys. */
static int set_common_hparams(synth *s, const char *arch, uint32_t n_vocab)
{
    const ta_synth_shape *sh = s->p->shape;
    ta_gguf_writer *w = s->w;
    char key[128], name[160];
#define K(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
    snprintf(name, sizeof name, "tabagent synth %s %s %s seed %llu", arch, sh->name,
             ta_synth_type_name(s->p->type), (unsigned long long)s->p->seed);
    int rc = ta_gguf_writer_set_str(w, "general.architecture", arch, strlen(arch)) ||
             ta_gguf_writer_set_str(w, "general.name", name, strlen(name)) ||
             ta_gguf_writer_set_u32(w, "general.file_type", file_type(s->p->type)) ||
             ta_gguf_writer_set_u32(w, "general.quantization_version", 2) ||
             ta_gguf_writer_set_u32(w, K("vocab_size"), n_vocab) ||
             ta_gguf_writer_set_u32(w, K("context_length"), sh->n_ctx) ||
             ta_gguf_writer_set_u32(w, K("embedding_length"), sh->n_embd) ||
             ta_gguf_writer_set_u32(w, K("block_count"), sh->n_layer) ||
             ta_gguf_writer_set_u32(w, K("feed_forward_length"), sh->n_ff) ||
             ta_gguf_writer_set_u32(w, K("attention.head_count"), sh->n_head);
#undef K
    return rc;
}

static int set_hparams(synth *s, const char *arch, uint32_t n_vocab, uint32_t head_dim)
{
    const ta_synth_shape *sh = s->p->shape;
    ta_gguf_writer *w = s->w;
    char key[128];
#define K(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
    int rc = set_common_hparams(s, arch, n_vocab) ||
             ta_gguf_writer_set_u32(w, K("attention.head_count_kv"), sh->n_head_kv) ||
             ta_gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), sh->norm_eps) ||
             ta_gguf_writer_set_f32(w, K("rope.freq_base"), sh->rope_base) ||
             ta_gguf_writer_set_u32(w, K("rope.dimension_count"), head_dim);
    if (!rc && head_dim != sh->n_embd / sh->n_head)
        rc = ta_gguf_writer_set_u32(w, K("attention.key_length"), head_dim) ||
             ta_gguf_writer_set_u32(w, K("attention.value_length"), head_dim);
#undef K
    return rc ? TA_ENOMEM : TA_OK;
}

static int add_weights(synth *s, uint32_t n_vocab, uint32_t head_dim, ta_error *err)
{
    const ta_synth_shape *sh = s->p->shape;
    ta_arch arch = s->p->arch;
    bool mix = s->p->type == TA_SYNTH_Q4_K_M;
    uint32_t base = mix ? TA_TYPE_Q4_K : (uint32_t)s->p->type;
    uint32_t more = mix ? TA_TYPE_Q6_K : base; /* output, and use_more_bits layers */
    uint64_t E = sh->n_embd, F = sh->n_ff, V = n_vocab;
    uint64_t Q = (uint64_t)sh->n_head * head_dim, KV = (uint64_t)sh->n_head_kv * head_dim;
    /* Matrices N(0, 1/n_in): unit-variance inputs give unit-variance outputs. */
    float sE = (float)(1.0 / sqrt((double)E)), sQ = (float)(1.0 / sqrt((double)Q));
    float sF = (float)(1.0 / sqrt((double)F));
    int rc;
    if ((rc = add_random(s, "token_embd.weight", E, V, sh->tied ? more : base, 0, sE, err)))
        return rc;
    for (uint32_t l = 0; l < sh->n_layer; l++) {
        char n[96];
        bool hi = mix && use_more_bits(l, sh->n_layer);
#define ADD(suffix, ne0, ne1, type, mean, std)                                                     \
    do {                                                                                           \
        snprintf(n, sizeof n, "blk.%u." suffix, l);                                                \
        if ((rc = add_random(s, n, ne0, ne1, type, mean, std, err))) return rc;                    \
    } while (0)
        ADD("attn_norm.weight", E, 0, TA_TYPE_F32, 1.0f, 0.1f);
        if (arch == TA_ARCH_PHI3) {
            ADD("attn_qkv.weight", E, Q + 2 * KV, mix ? TA_TYPE_Q5_K : base, 0, sE);
        } else {
            ADD("attn_q.weight", E, Q, base, 0, sE);
            ADD("attn_k.weight", E, KV, base, 0, sE);
            ADD("attn_v.weight", E, KV, hi ? more : base, 0, sE);
        }
        if (arch == TA_ARCH_QWEN2) {
            ADD("attn_q.bias", Q, 0, TA_TYPE_F32, 0, 0.1f);
            ADD("attn_k.bias", KV, 0, TA_TYPE_F32, 0, 0.1f);
            ADD("attn_v.bias", KV, 0, TA_TYPE_F32, 0, 0.1f);
        }
        if (arch == TA_ARCH_QWEN3) {
            ADD("attn_q_norm.weight", head_dim, 0, TA_TYPE_F32, 1.0f, 0.1f);
            ADD("attn_k_norm.weight", head_dim, 0, TA_TYPE_F32, 1.0f, 0.1f);
        }
        ADD("attn_output.weight", Q, E, base, 0, sQ);
        ADD("ffn_norm.weight", E, 0, TA_TYPE_F32, 1.0f, 0.1f);
        if (arch == TA_ARCH_PHI3) {
            ADD("ffn_up.weight", E, 2 * F, base, 0, sE);
        } else {
            ADD("ffn_gate.weight", E, F, base, 0, sE);
            ADD("ffn_up.weight", E, F, base, 0, sE);
        }
        ADD("ffn_down.weight", F, E, hi ? more : base, 0, sF);
#undef ADD
    }
    if ((rc = add_random(s, "output_norm.weight", E, 0, TA_TYPE_F32, 1.0f, 0.1f, err))) return rc;
    if (!sh->tied && (rc = add_random(s, "output.weight", E, V, more, 0, sE, err))) return rc;
    if (arch == TA_ARCH_LLAMA && sh->llama3_rope &&
        (rc = add_llama3_rope_freqs(s, head_dim, sh->rope_base, err)))
        return rc;
    return TA_OK;
}

/* ---- encoders ---- */

static int set_enc_hparams(synth *s, const char *arch, uint32_t n_vocab)
{
    const ta_synth_shape *sh = s->p->shape;
    ta_gguf_writer *w = s->w;
    char key[128];
#define K(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
    int rc = set_common_hparams(s, arch, n_vocab) ||
             ta_gguf_writer_set_f32(w, K("attention.layer_norm_epsilon"), sh->norm_eps) ||
             ta_gguf_writer_set_bool(w, K("attention.causal"), false) ||
             ta_gguf_writer_set_u32(w, K("pooling_type"), (uint32_t)sh->pooling);
    if (!rc && s->p->enc_arch == TA_ENC_NOMIC_BERT)
        rc = ta_gguf_writer_set_f32(w, K("rope.freq_base"), sh->rope_base);
#undef K
    return rc ? TA_ENOMEM : TA_OK;
}

static int add_enc_weights(synth *s, uint32_t n_vocab, ta_error *err)
{
    const ta_synth_shape *sh = s->p->shape;
    bool nomic = s->p->enc_arch == TA_ENC_NOMIC_BERT;
    bool mix = s->p->type == TA_SYNTH_Q4_K_M;
    uint32_t base = mix ? TA_TYPE_Q4_K : (uint32_t)s->p->type;
    uint32_t more = mix ? TA_TYPE_Q6_K : base;
    uint64_t E = sh->n_embd, F = sh->n_ff, V = n_vocab;
    float sE = (float)(1.0 / sqrt((double)E)), sF = (float)(1.0 / sqrt((double)F));
    int rc;
#define ADD0(name, ne0, ne1, type, mean, std)                                                      \
    do {                                                                                           \
        if ((rc = add_random(s, name, ne0, ne1, type, mean, std, err))) return rc;                 \
    } while (0)
    ADD0("token_embd.weight", E, V, base, 0, sE);
    ADD0("token_types.weight", E, 2, TA_TYPE_F32, 0, sE);
    if (!nomic) ADD0("position_embd.weight", E, sh->n_ctx, base, 0, sE);
    ADD0("token_embd_norm.weight", E, 0, TA_TYPE_F32, 1.0f, 0.1f);
    ADD0("token_embd_norm.bias", E, 0, TA_TYPE_F32, 0, 0.1f);
#undef ADD0
    for (uint32_t l = 0; l < sh->n_layer; l++) {
        char n[96];
        bool hi = mix && use_more_bits(l, sh->n_layer);
#define ADD(suffix, ne0, ne1, type, mean, std)                                                     \
    do {                                                                                           \
        snprintf(n, sizeof n, "blk.%u." suffix, l);                                                \
        if ((rc = add_random(s, n, ne0, ne1, type, mean, std, err))) return rc;                    \
    } while (0)
        if (nomic) {
            ADD("attn_qkv.weight", E, 3 * E, mix ? TA_TYPE_Q5_K : base, 0, sE);
        } else {
            ADD("attn_q.weight", E, E, base, 0, sE);
            ADD("attn_q.bias", E, 0, TA_TYPE_F32, 0, 0.1f);
            ADD("attn_k.weight", E, E, base, 0, sE);
            ADD("attn_k.bias", E, 0, TA_TYPE_F32, 0, 0.1f);
            ADD("attn_v.weight", E, E, hi ? more : base, 0, sE);
            ADD("attn_v.bias", E, 0, TA_TYPE_F32, 0, 0.1f);
        }
        ADD("attn_output.weight", E, E, base, 0, sE);
        if (!nomic) ADD("attn_output.bias", E, 0, TA_TYPE_F32, 0, 0.1f);
        ADD("attn_output_norm.weight", E, 0, TA_TYPE_F32, 1.0f, 0.1f);
        ADD("attn_output_norm.bias", E, 0, TA_TYPE_F32, 0, 0.1f);
        if (nomic) ADD("ffn_gate.weight", E, F, base, 0, sE);
        ADD("ffn_up.weight", E, F, base, 0, sE);
        if (!nomic) ADD("ffn_up.bias", F, 0, TA_TYPE_F32, 0, 0.1f);
        ADD("ffn_down.weight", F, E, hi ? more : base, 0, sF);
        if (!nomic) ADD("ffn_down.bias", E, 0, TA_TYPE_F32, 0, 0.1f);
        ADD("layer_output_norm.weight", E, 0, TA_TYPE_F32, 1.0f, 0.1f);
        ADD("layer_output_norm.bias", E, 0, TA_TYPE_F32, 0, 0.1f);
#undef ADD
    }
    return TA_OK;
}

int ta_synth_write(const ta_synth_params *p, const char *path, ta_synth_report *report,
                   ta_error *err)
{
    if (!p || !p->shape || !path) return ta_error_set(err, TA_EINVAL, "no shape or path");
    if (p->encoder ? p->enc_arch != TA_ENC_BERT && p->enc_arch != TA_ENC_NOMIC_BERT
                   : p->arch < 0 || p->arch >= TA_ARCH_COUNT)
        return ta_error_set(err, TA_EINVAL, "unknown architecture");
    if (p->encoder != p->shape->encoder)
        return ta_error_set(err, TA_EINVAL, "shape %s is not for %s", p->shape->name,
                            p->encoder ? "an encoder" : "a decoder");
    if (p->type != TA_SYNTH_Q4_K_M &&
        (p->type < 0 || ta_synth_parse_type(ta_type_get((uint32_t)p->type)->name) != p->type))
        return ta_error_set(err, TA_EINVAL, "unsupported tensor type %d", p->type);
    const ta_synth_shape *sh = p->shape;
    uint32_t head_dim = sh->head_dim ? sh->head_dim : sh->n_embd / sh->n_head;
    if (!sh->n_head || !sh->n_head_kv || sh->n_head % sh->n_head_kv || head_dim % 2)
        return ta_error_set(err, TA_EINVAL, "shape %s: bad head counts", sh->name);

    synth s = {.p = p};
    s.w = ta_gguf_writer_new();
    if (!s.w) return ta_error_set(err, TA_ENOMEM, "out of memory");
    int rc;
    uint32_t n_vocab = sh->n_vocab;
    if (p->vocab_path)
        rc = copy_vocab(s.w, p->vocab_path, &n_vocab, err);
    else if (p->encoder)
        rc = synthetic_wordpiece(s.w, n_vocab, err);
    else
        rc = synthetic_vocab(s.w, n_vocab, err);
    if (rc) goto done;
    if (p->encoder)
        rc = set_enc_hparams(&s, ta_enc_arch_name(p->enc_arch), n_vocab);
    else
        rc = set_hparams(&s, ta_arch_name(p->arch), n_vocab, head_dim);
    if (rc) {
        ta_error_set(err, rc, "cannot store the hyperparameters");
        goto done;
    }
    s.pool = ta_pool_new(p->threads);
    if (!s.pool) {
        rc = ta_error_set(err, TA_ENOMEM, "cannot start threads");
        goto done;
    }
    if ((rc = p->encoder ? add_enc_weights(&s, n_vocab, err)
                         : add_weights(&s, n_vocab, head_dim, err)))
        goto done;
    rc = ta_gguf_writer_write(s.w, path, err);
done:
    ta_pool_free(s.pool);
    ta_gguf_writer_free(s.w);
    s.rep.n_vocab = n_vocab;
    if (report) *report = s.rep;
    return rc;
}
