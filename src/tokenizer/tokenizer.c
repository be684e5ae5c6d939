/*
 * tokenizer.c - builds a tokenizer from GGUF metadata and runs the parts every kind
 * shares: special-token recognition in the input, BOS/EOS handling, decoding, the
 * streaming decoder and the metadata getters. The kind-specific merging lives in
 * tok_spm.c, tok_bpe.c and tok_wpm.c.
 *
 * Loading follows llama.cpp's llama_vocab::load so that ids, special tokens and the
 * end-of-generation set come out the same: per-kind defaults, then the metadata keys,
 * then the text-based detection of end-of-turn / fill-in-the-middle tokens (which also
 * retypes them as control tokens), then the per-model LSTRIP/RSTRIP attributes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "tok_internal.h"

#define TOK_MAX_VOCAB   (1u << 24) /* 16M tokens: far above any real vocabulary */
#define TOK_MAX_INPUT   ((size_t)1 << 30)
#define TOK_MAX_SPECIAL 4096 /* longest special-token text searched for in input */

/* ---- small helpers ---- */

static bool valid_id(const ta_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab;
}

static bool ascii_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* A GGUF string value as a NUL-terminated copy in buf (truncated to cap - 1). */
static bool get_str(const ta_gguf *g, const char *key, char *buf, size_t cap)
{
    ta_gguf_str s;
    if (!ta_gguf_get_str(g, key, &s)) return false;
    size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
    memcpy(buf, s.ptr, n);
    buf[n] = '\0';
    return true;
}

/* ---- loading ---- */

static int load_tokens(ta_tokenizer *t, const ta_gguf *g, ta_error *err)
{
    ta_gguf_vtype et;
    uint64_t n;
    if (!ta_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &n))
        return ta_error_set(err, TA_EINVAL, "tokenizer.ggml.tokens is missing");
    if (et != TA_GGUF_STRING)
        return ta_error_set(err, TA_EINVAL, "tokenizer.ggml.tokens is not a string array");
    if (n == 0 || n > TOK_MAX_VOCAB)
        return ta_error_set(err, TA_EINVAL, "tokenizer.ggml.tokens has %llu entries (1..%u)",
                            (unsigned long long)n, TOK_MAX_VOCAB);
    t->n_vocab = (int32_t)n;
    t->scores = calloc(n, sizeof *t->scores);
    t->types = malloc(n);
    t->attrs = calloc(n, 1);
    t->eog = calloc(n, 1);
    if (!t->scores || !t->types || !t->attrs || !t->eog)
        return ta_error_set(err, TA_ENOMEM, "out of memory for %llu tokens", (unsigned long long)n);
    memset(t->types, TA_TOK_TYPE_NORMAL, n);

    for (uint64_t i = 0; i < n; i++) {
        ta_gguf_str s;
        if (!ta_gguf_array_str(g, "tokenizer.ggml.tokens", i, &s))
            return ta_error_set(err, TA_EINVAL, "tokenizer.ggml.tokens[%llu] is unreadable",
                                (unsigned long long)i);
        char empty[32];
        const char *p = s.ptr;
        size_t len = (size_t)s.len;
        if (len == 0) { /* llama.cpp gives empty tokens a placeholder text */
            len = (size_t)snprintf(empty, sizeof empty, "[EMPTY_%llu]", (unsigned long long)i);
            p = empty;
        }
        if (tok_strtab_push(&t->strs, p, len) != (int32_t)i)
            return ta_error_set(err, TA_ENOMEM, "out of memory for the vocabulary");
        if (len > t->max_token_len) t->max_token_len = len;
    }

    uint64_t m;
    if (ta_gguf_get_array(g, "tokenizer.ggml.scores", &et, &m)) {
        if (m != n)
            return ta_error_set(err, TA_EINVAL,
                                "tokenizer.ggml.scores has %llu entries, the vocabulary %llu",
                                (unsigned long long)m, (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++) {
            double v;
            if (!ta_gguf_array_f64(g, "tokenizer.ggml.scores", i, &v))
                return ta_error_set(err, TA_EINVAL, "tokenizer.ggml.scores is not numeric");
            t->scores[i] = (float)v;
        }
    }
    if (ta_gguf_get_array(g, "tokenizer.ggml.token_type", &et, &m)) {
        if (m != n)
            return ta_error_set(err, TA_EINVAL,
                                "tokenizer.ggml.token_type has %llu entries, the vocabulary %llu",
                                (unsigned long long)m, (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++) {
            int64_t v;
            if (!ta_gguf_array_i64(g, "tokenizer.ggml.token_type", i, &v))
                return ta_error_set(err, TA_EINVAL, "tokenizer.ggml.token_type is not integer");
            t->types[i] = (v >= TA_TOK_TYPE_NORMAL && v <= TA_TOK_TYPE_BYTE)
                              ? (uint8_t)v
                              : (uint8_t)TA_TOK_TYPE_UNDEFINED;
        }
    }
    return 0;
}

/* Reads a special-token id key: kept only when it names a token (llama.cpp warns and
 * keeps the default otherwise). */
static void read_id(const ta_tokenizer *t, const ta_gguf *g, const char *key, int32_t *id)
{
    uint32_t v;
    if (!ta_gguf_get_u32(g, key, &v)) return;
    if (v >= (uint32_t)t->n_vocab) {
        /* 0xFFFFFFFF is the converters' way of writing "no such token": not worth a
         * warning, the default stands. */
        if (v == UINT32_MAX) return;
        ta_log_warn("tokenizer: %s = %u is outside the vocabulary (%d tokens); ignored", key, v,
                    t->n_vocab);
        return;
    }
    *id = (int32_t)v;
}

static void read_flag(const ta_gguf *g, const char *key, bool *flag)
{
    bool v;
    if (ta_gguf_get_bool(g, key, &v)) *flag = v;
}

/* Texts that mark end-of-turn, end-of-message and fill-in-the-middle tokens, the lists
 * llama.cpp matches (the DeepSeek ones use U+FF5C and U+2581, written as UTF-8 here). A
 * token found this way becomes a control token. */
static const char *const eot_texts[] = {"<|eot_id|>",
                                        "<|im_end|>",
                                        "<|end|>",
                                        "<end_of_turn>",
                                        "<|endoftext|>",
                                        "<|end_of_text|>",
                                        "<EOT>",
                                        "_<EOT>",
                                        "<｜end▁of▁sentence｜>",
                                        "<end_of_utterance>",
                                        NULL};
static const char *const eom_texts[] = {"<|eom_id|>", NULL};
static const char *const fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",    "<｜fim▁begin｜>",
    "<PRE>",          "▁<PRE>",       "<|code_prefix|>", NULL};
static const char *const fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",    "<｜fim▁hole｜>",
    "<SUF>",          "▁<SUF>",       "<|code_suffix|>", NULL};
static const char *const fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>",    "<｜fim▁end｜>",
    "<MID>",          "▁<MID>",       "<|code_middle|>", NULL};
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", NULL};
static const char *const fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                            "<REPO>",       "<reponame>",    NULL};
static const char *const fim_sep_texts[] = {"<|file_sep|>", NULL};
/* Every token with one of these texts ends generation. */
static const char *const eog_texts[] = {
    "<|eot_id|>",      "<|im_end|>",         "<|end|>",    "<|return|>", "<|call|>",
    "<end_of_turn>",   "<|endoftext|>",      "<|eom_id|>", "<EOT>",      "_<EOT>",
    "<|end_of_text|>", "<end_of_utterance>", NULL};

/* When *id is unset, the first text of the list (in list order) that is a token sets
 * it. The token found is retyped as control either way. */
static void detect_by_text(ta_tokenizer *t, const char *const *texts, int32_t *id)
{
    if (*id != TA_TOK_NULL) return;
    for (size_t i = 0; texts[i]; i++) {
        int32_t tok = tok_strtab_find(&t->strs, texts[i], strlen(texts[i]));
        if (valid_id(t, tok)) {
            *id = tok;
            t->types[tok] = TA_TOK_TYPE_CONTROL;
            return;
        }
    }
}

static void load_specials(ta_tokenizer *t, const ta_gguf *g)
{
    int32_t eot = TA_TOK_NULL, eom = TA_TOK_NULL;
    int32_t fim_pre = TA_TOK_NULL, fim_suf = TA_TOK_NULL, fim_mid = TA_TOK_NULL;
    int32_t fim_pad = TA_TOK_NULL, fim_rep = TA_TOK_NULL, fim_sep = TA_TOK_NULL;

    read_id(t, g, "tokenizer.ggml.bos_token_id", &t->bos);
    if (t->kind == TA_TOK_WPM) read_id(t, g, "tokenizer.ggml.cls_token_id", &t->bos);
    read_id(t, g, "tokenizer.ggml.eos_token_id", &t->eos);
    read_id(t, g, "tokenizer.ggml.eot_token_id", &eot);
    read_id(t, g, "tokenizer.ggml.eom_token_id", &eom);
    read_id(t, g, "tokenizer.ggml.unknown_token_id", &t->unk);
    read_id(t, g, "tokenizer.ggml.seperator_token_id", &t->sep); /* sic, the GGUF key */
    read_id(t, g, "tokenizer.ggml.padding_token_id", &t->pad);
    read_id(t, g, "tokenizer.ggml.mask_token_id", &t->mask);
    read_id(t, g, "tokenizer.ggml.prefix_token_id", &fim_pre); /* deprecated names */
    read_id(t, g, "tokenizer.ggml.suffix_token_id", &fim_suf);
    read_id(t, g, "tokenizer.ggml.middle_token_id", &fim_mid);
    read_id(t, g, "tokenizer.ggml.fim_pre_token_id", &fim_pre);
    read_id(t, g, "tokenizer.ggml.fim_suf_token_id", &fim_suf);
    read_id(t, g, "tokenizer.ggml.fim_mid_token_id", &fim_mid);
    read_id(t, g, "tokenizer.ggml.fim_pad_token_id", &fim_pad);
    read_id(t, g, "tokenizer.ggml.fim_rep_token_id", &fim_rep);
    read_id(t, g, "tokenizer.ggml.fim_sep_token_id", &fim_sep);

    read_flag(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
    read_flag(g, "tokenizer.ggml.add_eos_token", &t->add_eos);
    read_flag(g, "tokenizer.ggml.add_sep_token", &t->add_sep);

    /* Per-kind defaults may name ids the vocabulary does not have. */
    int32_t *ids[] = {&t->bos, &t->eos, &t->unk, &t->sep, &t->pad, &t->mask};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (!valid_id(t, *ids[i])) *ids[i] = TA_TOK_NULL;

    detect_by_text(t, eot_texts, &eot);
    detect_by_text(t, eom_texts, &eom);
    detect_by_text(t, fim_pre_texts, &fim_pre);
    detect_by_text(t, fim_suf_texts, &fim_suf);
    detect_by_text(t, fim_mid_texts, &fim_mid);
    detect_by_text(t, fim_pad_texts, &fim_pad);
    detect_by_text(t, fim_rep_texts, &fim_rep);
    detect_by_text(t, fim_sep_texts, &fim_sep);
    t->eot = eot;
    t->eom = eom;

    /* End of generation: FIM pad/repo/file-sep, every token with an end-of-turn text,
     * then eos / eot / eom. */
    int32_t eog_ids[] = {fim_pad, fim_rep, fim_sep, t->eos, eot, eom};
    for (size_t i = 0; i < sizeof eog_ids / sizeof eog_ids[0]; i++)
        if (valid_id(t, eog_ids[i])) t->eog[eog_ids[i]] = 1;
    bool has_return = false, has_call = false;
    int32_t end_id = TA_TOK_NULL;
    for (size_t i = 0; eog_texts[i]; i++) {
        int32_t tok = tok_strtab_find(&t->strs, eog_texts[i], strlen(eog_texts[i]));
        if (!valid_id(t, tok)) continue;
        t->eog[tok] = 1;
        t->types[tok] = TA_TOK_TYPE_CONTROL;
        if (!strcmp(eog_texts[i], "<|return|>")) has_return = true;
        if (!strcmp(eog_texts[i], "<|call|>")) has_call = true;
        if (!strcmp(eog_texts[i], "<|end|>")) end_id = tok;
    }
    /* The gpt-oss ("harmony") format ends a message with <|end|> but generation with
     * <|return|> / <|call|>; llama.cpp applies the same exception. */
    if (has_return && has_call && end_id != TA_TOK_NULL && end_id != t->eos) {
        t->eog[end_id] = 0;
        t->types[end_id] = TA_TOK_TYPE_USER_DEFINED;
    }

    if (t->add_bos && t->bos == TA_TOK_NULL) {
        ta_log_warn("tokenizer: add_bos_token is set but there is no BOS token; not adding it");
        t->add_bos = false;
    }
    if (t->add_eos && t->eos == TA_TOK_NULL) {
        ta_log_warn("tokenizer: add_eos_token is set but there is no EOS token; not adding it");
        t->add_eos = false;
    }
    if (t->add_sep && t->sep == TA_TOK_NULL) t->add_sep = false;
}

/* Order of the special-token search: longest text first (ties by id, for a stable
 * order), as llama.cpp's cache_special_tokens. Keys pack (inverted length, id). */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int trie_add(ta_tokenizer *t, const char *s, size_t n, int32_t value)
{
    int32_t *link = &t->trie_root[(unsigned char)s[0]];
    for (size_t i = 0;; i++) {
        unsigned char c = (unsigned char)s[i];
        int32_t node = *link;
        while (node >= 0 && t->trie[node].byte != c) {
            link = &t->trie[node].sibling;
            node = *link;
        }
        if (node < 0) {
            if (t->trie_len == t->trie_cap) {
                size_t cap = t->trie_cap ? t->trie_cap * 2 : 1024;
                tok_trie_node *nt = realloc(t->trie, cap * sizeof *nt);
                if (!nt) return TA_ENOMEM;
                t->trie = nt;
                t->trie_cap = cap;
            }
            node = (int32_t)t->trie_len++;
            t->trie[node] = (tok_trie_node){.child = -1, .sibling = -1, .token = -1, .byte = c};
            *link = node;
        }
        if (i + 1 == n) {
            t->trie[node].token = value;
            return 0;
        }
        link = &t->trie[node].child;
    }
}

static int build_specials(ta_tokenizer *t, const ta_gguf *g)
{
    for (int i = 0; i < 256; i++)
        t->trie_root[i] = -1;
    size_t n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        uint8_t ty = t->types[id];
        if (ty == TA_TOK_TYPE_CONTROL || ty == TA_TOK_TYPE_USER_DEFINED ||
            ty == TA_TOK_TYPE_UNKNOWN)
            n++;
    }
    t->specials = malloc((n ? n : 1) * sizeof *t->specials);
    uint64_t *keys = malloc((n ? n : 1) * sizeof *keys);
    if (!t->specials || !keys) {
        free(keys);
        return TA_ENOMEM;
    }
    for (int32_t id = 0; id < t->n_vocab; id++) {
        uint8_t ty = t->types[id];
        if (ty == TA_TOK_TYPE_CONTROL || ty == TA_TOK_TYPE_USER_DEFINED ||
            ty == TA_TOK_TYPE_UNKNOWN)
            keys[t->n_specials++] = ((uint64_t)(UINT32_MAX - t->strs.len[id]) << 32) | (uint32_t)id;
    }
    qsort(keys, t->n_specials, sizeof *keys, cmp_u64);
    for (size_t i = 0; i < t->n_specials; i++)
        t->specials[i] = (int32_t)(keys[i] & 0xFFFFFFFFu);
    free(keys);
    for (size_t i = 0; i < t->n_specials; i++) {
        size_t len;
        const char *s = tok_strtab_str(&t->strs, t->specials[i], &len);
        if (len > TOK_MAX_SPECIAL) continue; /* never searched for */
        if (trie_add(t, s, len, (int32_t)i)) return TA_ENOMEM;
    }

    /* Per-model whitespace stripping around special tokens (llama.cpp keys it on the
     * model name, as the GGUF has no per-token attributes). */
    char pre[64] = "", name[128] = "", arch[64] = "";
    get_str(g, "tokenizer.ggml.pre", pre, sizeof pre);
    get_str(g, "general.name", name, sizeof name);
    get_str(g, "general.architecture", arch, sizeof arch);
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    if (strstr(pre, "jina-v2-de") || strstr(pre, "jina-v2-es") || strstr(pre, "jina-v2-code") ||
        strstr(arch, "nomic-bert-moe") || strstr(arch, "jina-bert-v3")) {
        int32_t id = tok_strtab_find(&t->strs, "<mask>", 6);
        if (valid_id(t, id)) t->attrs[id] |= TOK_ATTR_LSTRIP;
    } else if (strstr(name, "phi-3") || strstr(name, "phi3")) {
        for (size_t i = 0; i < t->n_specials; i++)
            t->attrs[t->specials[i]] |= TOK_ATTR_RSTRIP;
        int32_t id = tok_strtab_find(&t->strs, "</s>", 4);
        if (valid_id(t, id)) t->attrs[id] |= TOK_ATTR_RSTRIP;
        static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (size_t i = 0; i < 3; i++) {
            id = tok_strtab_find(&t->strs, keep[i], strlen(keep[i]));
            if (valid_id(t, id)) t->attrs[id] &= (uint8_t)~TOK_ATTR_RSTRIP;
        }
    }
    return 0;
}

/* SPM byte fallback: "<0xXX>", else the one-byte text, else unk (llama.cpp throws). */
static void build_byte_tokens(ta_tokenizer *t)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        int32_t id = tok_strtab_find(&t->strs, buf, 6);
        if (!valid_id(t, id)) {
            char c = (char)b;
            id = tok_strtab_find(&t->strs, &c, 1);
        }
        t->byte_token[b] = valid_id(t, id) ? id : t->unk;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The piece of every token with specials rendered, as llama.cpp's token_to_piece. */
static int build_pieces(ta_tokenizer *t)
{
    tok_buf all = {0};
    int rc = 0;
    t->piece_off = malloc((size_t)t->n_vocab * sizeof *t->piece_off);
    t->piece_len = malloc((size_t)t->n_vocab * sizeof *t->piece_len);
    if (!t->piece_off || !t->piece_len) return TA_ENOMEM;
    for (int32_t id = 0; id < t->n_vocab && !rc; id++) {
        size_t n;
        const char *s = tok_strtab_str(&t->strs, id, &n);
        size_t start = all.len;
        uint8_t ty = t->types[id];
        if (ty == TA_TOK_TYPE_CONTROL || ty == TA_TOK_TYPE_UNKNOWN ||
            ty == TA_TOK_TYPE_USER_DEFINED) {
            rc = tok_buf_put(&all, s, n);
        } else if (t->kind == TA_TOK_BPE) {
            if (ty == TA_TOK_TYPE_NORMAL) rc = tok_bpe_decode_text(t, s, n, &all);
        } else if (ty == TA_TOK_TYPE_NORMAL) {
            /* "▁" (U+2581) stands for a space */
            for (size_t i = 0; i < n && !rc;) {
                if (i + 3 <= n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                    rc = tok_buf_put(&all, " ", 1);
                    i += 3;
                } else {
                    rc = tok_buf_put(&all, s + i, 1);
                    i++;
                }
            }
        } else if (ty == TA_TOK_TYPE_BYTE) {
            if (n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && hexval(s[3]) >= 0 &&
                hexval(s[4]) >= 0) {
                char byte = (char)(hexval(s[3]) * 16 + hexval(s[4]));
                rc = tok_buf_put(&all, &byte, 1);
            } else {
                rc = tok_buf_put(&all, s, n);
            }
        }
        if (all.len > UINT32_MAX) rc = TA_ENOMEM;
        t->piece_off[id] = (uint32_t)start;
        t->piece_len[id] = (uint32_t)(all.len - start);
    }
    t->pieces = all.p;
    return rc;
}

ta_tokenizer *ta_tokenizer_from_gguf(const ta_gguf *g, ta_error *err)
{
    if (!g) {
        ta_error_set(err, TA_EINVAL, "no GGUF file");
        return NULL;
    }
    char model[64];
    if (!get_str(g, "tokenizer.ggml.model", model, sizeof model)) {
        ta_error_set(err, TA_EINVAL, "tokenizer.ggml.model is missing: the file has no tokenizer");
        return NULL;
    }
    ta_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    t->eot = t->eom = TA_TOK_NULL;
    int rc = 0;

    /* Per-kind defaults (llama.cpp's). */
    if (!strcmp(model, "llama")) {
        t->kind = TA_TOK_SPM;
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->sep = t->pad = t->mask = TA_TOK_NULL;
        t->add_space_prefix = true;
        t->add_bos = true;
    } else if (!strcmp(model, "gpt2")) {
        t->kind = TA_TOK_BPE;
        t->bos = 11, t->eos = 11;
        t->unk = t->sep = t->pad = t->mask = TA_TOK_NULL;
        t->clean_spaces = true;
    } else if (!strcmp(model, "bert")) {
        t->kind = TA_TOK_WPM;
        t->bos = 101, t->eos = TA_TOK_NULL, t->unk = 100, t->sep = 102, t->pad = 0;
        t->mask = 103;
        t->add_bos = true;
        t->add_sep = true;
        t->clean_spaces = true;
    } else {
        ta_error_set(err, TA_EINVAL,
                     "tokenizer.ggml.model \"%s\" is not supported (llama, gpt2 and bert are)",
                     model);
        free(t);
        return NULL;
    }

    if (t->kind == TA_TOK_BPE) {
        bool ignore_merges = false, add_bos = false, clean = true, add_sep = false, no_bos = false;
        if (!get_str(g, "tokenizer.ggml.pre", t->pre_name, sizeof t->pre_name)) {
            ta_log_warn("tokenizer: tokenizer.ggml.pre is missing; using the \"default\" "
                        "pre-tokenizer (results may differ from the original tokenizer)");
            strcpy(t->pre_name, "default");
        }
        if (!tok_pre_lookup(t->pre_name, &t->pre, &ignore_merges, &add_bos, &clean, &add_sep,
                            &no_bos)) {
            ta_log_warn("tokenizer: unknown tokenizer.ggml.pre \"%s\"; using the \"default\" "
                        "pre-tokenizer (results may differ from the original tokenizer)",
                        t->pre_name);
            strcpy(t->pre_name, "default");
            t->pre = TOK_PRE_DEFAULT;
        }
        t->ignore_merges = ignore_merges;
        t->add_bos = add_bos;
        t->clean_spaces = clean;
        t->add_sep = add_sep;
        if (no_bos) t->bos = TA_TOK_NULL;
    }
    read_flag(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
    read_flag(g, "tokenizer.ggml.remove_extra_whitespaces", &t->remove_extra_spaces);

    rc = load_tokens(t, g, err);
    if (!rc && t->kind == TA_TOK_BPE) rc = tok_bpe_init(t, g, err);
    if (!rc) {
        load_specials(t, g);
        rc = build_specials(t, g);
    }
    if (!rc) {
        if (t->kind == TA_TOK_SPM) t->spm_words = tok_spm_words_independent(t);
        build_byte_tokens(t);
        rc = build_pieces(t);
    }
    if (rc) {
        if (rc == TA_ENOMEM) ta_error_set(err, TA_ENOMEM, "out of memory building the tokenizer");
        ta_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void ta_tokenizer_free(ta_tokenizer *t)
{
    if (!t) return;
    tok_bpe_free(t);
    tok_strtab_free(&t->strs);
    free(t->scores);
    free(t->types);
    free(t->attrs);
    free(t->eog);
    free(t->specials);
    free(t->trie);
    free(t->pieces);
    free(t->piece_off);
    free(t->piece_len);
    free(t);
}

/* ---- special tokens in the input ---- */

typedef struct frag {
    int32_t token; /* >= 0: a special token; -1: text [off, off + len) */
    size_t off, len;
} frag;

typedef struct frag_list {
    frag *v;
    size_t len, cap;
} frag_list;

static int frag_push(frag_list *l, int32_t token, size_t off, size_t len)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        frag *v = realloc(l->v, cap * sizeof *v);
        if (!v) return TA_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->len++] = (frag){token, off, len};
    return 0;
}

static bool special_allowed(const ta_tokenizer *t, int32_t id, bool parse_special)
{
    /* User-defined tokens are split out even without parse_special (Hugging Face
     * tokenizers pre-tokenize added tokens first); control and unknown ones only with. */
    return parse_special || t->types[id] == TA_TOK_TYPE_USER_DEFINED;
}

/* Splits the text around the special tokens it contains, searching for each token in
 * turn, longest first, through the remaining text fragments (llama.cpp's
 * tokenizer_st_partition). One trie pass first finds which tokens occur at all, so the
 * cost is one scan per token that does occur rather than per special token. */
static int partition(const ta_tokenizer *t, const char *text, size_t len, bool parse_special,
                     frag_list *out)
{
    out->len = 0;
    if (frag_push(out, -1, 0, len)) return TA_ENOMEM;
    if (!t->n_specials || !len) return 0;

    uint8_t *seen = calloc(t->n_specials, 1);
    if (!seen) return TA_ENOMEM;
    bool any = false;
    for (size_t i = 0; i < len; i++) {
        int32_t node = t->trie_root[(unsigned char)text[i]];
        size_t j = i;
        while (node >= 0) {
            const tok_trie_node *nd = &t->trie[node];
            if (nd->token >= 0 && special_allowed(t, t->specials[nd->token], parse_special)) {
                seen[nd->token] = 1;
                any = true;
            }
            if (++j >= len) break;
            unsigned char c = (unsigned char)text[j];
            node = nd->child;
            while (node >= 0 && t->trie[node].byte != c)
                node = t->trie[node].sibling;
        }
    }
    if (!any) {
        free(seen);
        return 0;
    }

    frag_list next = {0};
    int rc = 0;
    for (size_t k = 0; k < t->n_specials && !rc; k++) {
        if (!seen[k]) continue;
        int32_t id = t->specials[k];
        size_t slen;
        const char *s = tok_strtab_str(&t->strs, id, &slen);
        uint8_t attr = t->attrs[id];
        next.len = 0;
        for (size_t f = 0; f < out->len && !rc; f++) {
            frag fr = out->v[f];
            if (fr.token >= 0) {
                rc = frag_push(&next, fr.token, 0, 0);
                continue;
            }
            size_t off = fr.off, end = fr.off + fr.len;
            while (off < end && !rc) {
                const char *m = memmem(text + off, end - off, s, slen);
                if (!m) {
                    rc = frag_push(&next, -1, off, end - off);
                    break;
                }
                size_t pos = (size_t)(m - text);
                size_t left = pos - off;
                if (attr & TOK_ATTR_LSTRIP)
                    while (left > 0 && ascii_space(text[off + left - 1]))
                        left--;
                if (left > 0) rc = frag_push(&next, -1, off, left);
                if (!rc) rc = frag_push(&next, id, 0, 0);
                off = pos + slen;
                if (attr & TOK_ATTR_RSTRIP)
                    while (off < end && ascii_space(text[off]))
                        off++;
            }
        }
        frag_list tmp = *out;
        *out = next;
        next = tmp;
    }
    free(next.v);
    free(seen);
    return rc;
}

/* ---- encoding ---- */

int ta_tok_encode(const ta_tokenizer *t, const char *text, size_t len, bool add_special,
                  bool parse_special, ta_tok_ids *out, ta_error *err)
{
    if (!t || !out || (!text && len)) return ta_error_set(err, TA_EINVAL, "bad arguments");
    if (len > TOK_MAX_INPUT)
        return ta_error_set(err, TA_ETOOBIG, "text of %zu bytes is over the %zu-byte limit", len,
                            TOK_MAX_INPUT);
    size_t start = out->len;
    frag_list frags = {0};
    int rc = partition(t, text ? text : "", len, parse_special, &frags);

    if (!rc && add_special && t->add_bos) rc = tok_ids_push(out, t->bos);
    bool prev_special = true; /* SPM: text after a special token gets the space prefix */
    for (size_t i = 0; i < frags.len && !rc; i++) {
        const frag *f = &frags.v[i];
        if (f->token >= 0) {
            rc = tok_ids_push(out, f->token);
            prev_special = true;
            continue;
        }
        if (!f->len) continue;
        switch (t->kind) {
        case TA_TOK_SPM:
            rc = tok_spm_encode(t, text + f->off, f->len, t->add_space_prefix && prev_special, out);
            break;
        case TA_TOK_BPE: rc = tok_bpe_encode(t, text + f->off, f->len, out); break;
        case TA_TOK_WPM: rc = tok_wpm_encode(t, text + f->off, f->len, out); break;
        }
        prev_special = false;
    }
    if (!rc && add_special && t->add_eos) rc = tok_ids_push(out, t->eos);
    if (!rc && add_special && t->add_sep) rc = tok_ids_push(out, t->sep);
    free(frags.v);
    if (rc) {
        out->len = start;
        return ta_error_set(err, rc, "tokenize: %s", rc == TA_ENOMEM ? "out of memory" : "failed");
    }
    return 0;
}

/* ---- decoding ---- */

const char *ta_tok_piece(const ta_tokenizer *t, int32_t id, bool special, size_t *len)
{
    *len = 0;
    if (!t || !valid_id(t, id)) return "";
    uint8_t ty = t->types[id];
    if (!special && (ty == TA_TOK_TYPE_CONTROL || ty == TA_TOK_TYPE_UNKNOWN)) return "";
    *len = t->piece_len[id];
    return t->pieces + t->piece_off[id];
}

/* Hugging Face clean_up_tokenization_spaces, in llama.cpp's three passes. */
static size_t clean_spaces(char *s, size_t n)
{
    size_t total = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) { /* " ?", " !", " .", " ," */
        char x = s[i];
        if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) total--;
        s[total++] = x;
    }
    n = total;
    total = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) { /* " ' " -> "'" */
        char x = s[i];
        if (x == '\'' && i + 1 < n && s[i - 1] == ' ' && s[i + 1] == ' ') {
            total--;
            s[++i] = '\0';
        }
        s[total++] = x;
    }
    n = total;
    total = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) { /* " 's", " 'm", " 're", " 've" */
        char x = s[i];
        if (s[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = s[i + 1];
            if (x1 == 's' || x1 == 'm')
                total--;
            else if (i + 2 < n &&
                     ((x1 == 'r' && s[i + 2] == 'e') || (x1 == 'v' && s[i + 2] == 'e')))
                total--;
        }
        s[total++] = x;
    }
    return total;
}

char *ta_tok_decode(const ta_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                    size_t *out_len, ta_error *err)
{
    if (!t || (!ids && n)) {
        ta_error_set(err, TA_EINVAL, "decode: bad arguments");
        return NULL;
    }
    tok_buf b = {0};
    bool special = flags & TA_TOK_DECODE_SPECIAL;
    bool strip = (flags & TA_TOK_DECODE_STRIP_LEADING_SPACE) && t->add_space_prefix;
    size_t first = (n > 0 && t->bos != TA_TOK_NULL && ids[0] == t->bos) ? 1 : 0;
    int rc = tok_buf_reserve(&b, 1);
    for (size_t i = 0; i < n && !rc; i++) {
        size_t len;
        const char *p = ta_tok_piece(t, ids[i], special, &len);
        if (strip && i == first && len && p[0] == ' ') p++, len--;
        rc = tok_buf_put(&b, p, len);
    }
    if (!rc) rc = tok_buf_reserve(&b, 1);
    if (rc) {
        free(b.p);
        ta_error_set(err, TA_ENOMEM, "decode: out of memory");
        return NULL;
    }
    if ((flags & TA_TOK_DECODE_CLEAN_SPACES) && t->clean_spaces) b.len = clean_spaces(b.p, b.len);
    b.p[b.len] = '\0';
    if (out_len) *out_len = b.len;
    return b.p;
}

/* ---- streaming ---- */

struct ta_tok_stream {
    const ta_tokenizer *t;
    unsigned flags;
    unsigned char hold[4]; /* start of a character not yet complete */
    size_t nhold, need;
    bool started; /* a non-BOS token has been seen (for STRIP_LEADING_SPACE) */
    tok_buf out;
};

ta_tok_stream *ta_tok_stream_new(const ta_tokenizer *t, unsigned flags)
{
    if (!t) return NULL;
    ta_tok_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->t = t;
    s->flags = flags;
    return s;
}

void ta_tok_stream_free(ta_tok_stream *s)
{
    if (!s) return;
    free(s->out.p);
    free(s);
}

/* Whether byte c may follow the held bytes (the second-byte limits of RFC 3629 rule out
 * overlong forms, surrogates and values above U+10FFFF). */
static bool stream_continues(const ta_tok_stream *s, unsigned char c)
{
    if ((c & 0xC0) != 0x80) return false;
    if (s->nhold == 1) {
        switch (s->hold[0]) {
        case 0xE0: return c >= 0xA0;
        case 0xED: return c <= 0x9F;
        case 0xF0: return c >= 0x90;
        case 0xF4: return c <= 0x8F;
        default: return true;
        }
    }
    return true;
}

static int stream_byte(ta_tok_stream *s, unsigned char c)
{
    if (s->nhold) {
        if (stream_continues(s, c)) {
            s->hold[s->nhold++] = c;
            if (s->nhold < s->need) return 0;
            int rc = tok_buf_put(&s->out, s->hold, s->nhold);
            s->nhold = 0;
            return rc;
        }
        /* The held sequence can never complete: it becomes one U+FFFD and c starts
         * afresh (the W3C/Unicode "maximal subpart" practice). */
        s->nhold = 0;
        if (tok_buf_put(&s->out, "\xEF\xBF\xBD", 3)) return TA_ENOMEM;
    }
    if (c < 0x80) return tok_buf_put(&s->out, &c, 1);
    if (c >= 0xC2 && c <= 0xF4) {
        s->hold[0] = c;
        s->nhold = 1;
        s->need = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        return 0;
    }
    return tok_buf_put(&s->out, "\xEF\xBF\xBD", 3);
}

const char *ta_tok_stream_push(ta_tok_stream *s, int32_t id, size_t *len)
{
    *len = 0;
    s->out.len = 0;
    size_t n;
    const char *p = ta_tok_piece(s->t, id, s->flags & TA_TOK_DECODE_SPECIAL, &n);
    bool is_bos = s->t->bos != TA_TOK_NULL && id == s->t->bos;
    if (!s->started && !is_bos) {
        s->started = true;
        if ((s->flags & TA_TOK_DECODE_STRIP_LEADING_SPACE) && s->t->add_space_prefix && n &&
            p[0] == ' ')
            p++, n--;
    }
    if (tok_buf_reserve(&s->out, n + 4)) return NULL;
    for (size_t i = 0; i < n; i++)
        if (stream_byte(s, (unsigned char)p[i])) return NULL;
    *len = s->out.len;
    return s->out.p ? s->out.p : "";
}

const char *ta_tok_stream_flush(ta_tok_stream *s, size_t *len)
{
    *len = 0;
    s->out.len = 0;
    if (s->nhold) {
        s->nhold = 0;
        if (tok_buf_put(&s->out, "\xEF\xBF\xBD", 3)) return NULL;
    }
    s->started = false;
    *len = s->out.len;
    return s->out.p ? s->out.p : "";
}

/* ---- getters ---- */

ta_tok_kind ta_tok_get_kind(const ta_tokenizer *t)
{
    return t->kind;
}

const char *ta_tok_kind_name(ta_tok_kind kind)
{
    switch (kind) {
    case TA_TOK_SPM: return "SPM";
    case TA_TOK_BPE: return "BPE";
    case TA_TOK_WPM: return "WPM";
    }
    return "unknown";
}

const char *ta_tok_pre_name(const ta_tokenizer *t)
{
    return t->pre_name;
}

size_t ta_tok_vocab_size(const ta_tokenizer *t)
{
    return (size_t)t->n_vocab;
}

size_t ta_tok_merge_count(const ta_tokenizer *t)
{
    return t->n_merges;
}

int32_t ta_tok_bos(const ta_tokenizer *t)
{
    return t->bos;
}

int32_t ta_tok_eos(const ta_tokenizer *t)
{
    return t->eos;
}

int32_t ta_tok_eot(const ta_tokenizer *t)
{
    return t->eot;
}

int32_t ta_tok_unk(const ta_tokenizer *t)
{
    return t->unk;
}

int32_t ta_tok_sep(const ta_tokenizer *t)
{
    return t->sep;
}

int32_t ta_tok_pad(const ta_tokenizer *t)
{
    return t->pad;
}

int32_t ta_tok_mask(const ta_tokenizer *t)
{
    return t->mask;
}

bool ta_tok_add_bos(const ta_tokenizer *t)
{
    return t->add_bos;
}

bool ta_tok_add_eos(const ta_tokenizer *t)
{
    return t->add_eos;
}

bool ta_tok_is_eog(const ta_tokenizer *t, int32_t id)
{
    return valid_id(t, id) && t->eog[id];
}

ta_tok_type ta_tok_token_type(const ta_tokenizer *t, int32_t id)
{
    return valid_id(t, id) ? (ta_tok_type)t->types[id] : TA_TOK_TYPE_UNDEFINED;
}

const char *ta_tok_token_text(const ta_tokenizer *t, int32_t id, size_t *len)
{
    if (!valid_id(t, id)) {
        *len = 0;
        return NULL;
    }
    return tok_strtab_str(&t->strs, id, len);
}

float ta_tok_token_score(const ta_tokenizer *t, int32_t id)
{
    return valid_id(t, id) ? t->scores[id] : 0.0f;
}

int32_t ta_tok_find(const ta_tokenizer *t, const char *text, size_t len)
{
    int32_t id = tok_strtab_find(&t->strs, text, len);
    return valid_id(t, id) ? id : TA_TOK_NULL;
}
