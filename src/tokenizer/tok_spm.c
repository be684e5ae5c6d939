/*
 * tok_spm.c - SentencePiece-style BPE ("llama" vocabularies: Llama 2, Mistral, Phi-3,
 * TinyLlama, ...).
 *
 * The text (spaces written as "▁", a "▁" in front when asked) is split into UTF-8
 * characters; adjacent pairs whose concatenation is a token go on a heap ordered by that
 * token's score (highest first, leftmost on ties), and the best pair is merged until no
 * pair forms a token. Symbols that are not tokens are emitted as byte tokens (<0xXX>).
 * This is llama.cpp's llm_tokenizer_spm; the heap makes it O(n log n).
 *
 * One deliberate difference on invalid UTF-8: llama.cpp sizes a symbol by its lead byte
 * alone, so a stray 0xFF swallows the next three bytes (even an escaped space, which
 * then decodes as the bytes of "▁"). Here a byte that does not start a valid character
 * is a symbol of its own, so any byte sequence decodes back to itself. Valid UTF-8 is
 * split exactly as llama.cpp splits it.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

typedef struct spm_sym {
    uint32_t off, len; /* bytes in the normalized text; len 0 = merged away */
    int32_t prev, next;
    int32_t id;        /* token of a merged symbol, -1 until known */
    int32_t pair_id;   /* token of this symbol + its next, when pair_key is set */
    uint64_t pair_key; /* heap key of (this, next), UINT64_MAX when not a token */
} spm_sym;

typedef struct spm_ctx {
    const ta_tokenizer *t;
    const char *text;
    spm_sym *sym;
    tok_heap heap;
} spm_ctx;

/* Maps a float to an unsigned key with the same order, then inverts it so that the
 * min-heap pops the highest score first. */
static uint64_t score_key(float f)
{
    if (f == 0.0f) f = 0.0f; /* -0 and +0 compare equal, as in llama.cpp */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return (uint64_t)(~u);
}

/* Records (and queues) the pair symbol l forms with its next. */
static int try_pair(spm_ctx *c, int32_t l)
{
    if (l < 0) return 0;
    spm_sym *ls = &c->sym[l];
    ls->pair_key = UINT64_MAX;
    if (ls->next < 0) return 0;
    size_t n = (size_t)ls->len + c->sym[ls->next].len;
    if (n > c->t->max_token_len) return 0;
    int32_t id = tok_strtab_find(&c->t->strs, c->text + ls->off, n);
    if (id < 0 || id >= c->t->n_vocab) return 0;
    ls->pair_key = (score_key(c->t->scores[id]) << 32) | (uint32_t)l;
    ls->pair_id = id;
    return tok_heap_push(&c->heap, ls->pair_key);
}

/* Collapses runs of spaces and drops leading/trailing ones (SentencePiece's
 * remove_extra_whitespaces, which llama.cpp reads but only applies to UGM). */
static int squeeze_spaces(tok_buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] == ' ')
        i++;
    bool pending = false;
    for (; i < n; i++) {
        if (s[i] == ' ') {
            pending = true;
            continue;
        }
        if (pending && tok_buf_put(b, " ", 1)) return TA_ENOMEM;
        pending = false;
        if (tok_buf_put(b, s + i, 1)) return TA_ENOMEM;
    }
    return 0;
}

/* Length of the symbol at s[off]: one valid UTF-8 character, else one byte. */
static size_t sym_len(const char *s, size_t off, size_t end)
{
    uint32_t cp;
    size_t k = tok_utf8_decode((const unsigned char *)s + off, end - off, &cp);
    return k ? k : 1;
}

/* Merges the symbols of norm[0, n) (one word, or the whole text) and emits their ids. */
static int spm_merge(spm_ctx *c, size_t base, size_t n, ta_tok_ids *out)
{
    const ta_tokenizer *t = c->t;
    size_t nsym = 0;
    c->heap.len = 0;
    for (size_t off = base; off < base + n;) {
        size_t k = sym_len(c->text, off, base + n);
        c->sym[nsym] = (spm_sym){
            (uint32_t)off, (uint32_t)k, (int32_t)nsym - 1, (int32_t)nsym + 1, -1, -1, UINT64_MAX};
        nsym++;
        off += k;
    }
    c->sym[nsym - 1].next = -1;

    for (size_t i = 0; i + 1 < nsym; i++)
        if (try_pair(c, (int32_t)i)) return TA_ENOMEM;
    while (c->heap.len) {
        uint64_t key = tok_heap_pop(&c->heap);
        int32_t l = (int32_t)(key & 0xFFFFFFFFu);
        spm_sym *ls = &c->sym[l];
        if (!ls->len || ls->pair_key != key) continue; /* stale: a side was merged since */
        spm_sym *rs = &c->sym[ls->next];
        ls->len += rs->len;
        ls->id = ls->pair_id;
        rs->len = 0;
        ls->next = rs->next;
        if (rs->next >= 0) c->sym[rs->next].prev = l;
        if (try_pair(c, ls->prev) || try_pair(c, l)) return TA_ENOMEM;
    }

    for (int32_t i = 0; i >= 0; i = c->sym[i].next) {
        const spm_sym *sy = &c->sym[i];
        int32_t id = sy->id;
        if (id < 0) id = tok_strtab_find(&t->strs, c->text + sy->off, sy->len);
        if (id >= 0 && id < t->n_vocab) {
            if (tok_ids_push(out, id)) return TA_ENOMEM;
            continue;
        }
        for (uint32_t k = 0; k < sy->len; k++) { /* byte fallback */
            int32_t b = t->byte_token[(unsigned char)c->text[sy->off + k]];
            if (b >= 0 && tok_ids_push(out, b)) return TA_ENOMEM;
        }
    }
    return 0;
}

static bool is_marker(const char *s, size_t n)
{
    return n == 3 && memcmp(s, "\xE2\x96\x81", 3) == 0;
}

bool tok_spm_words_independent(const ta_tokenizer *t)
{
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t n;
        const char *s = tok_strtab_str(&t->strs, id, &n);
        size_t i = 0;
        while (i + 3 <= n && is_marker(s + i, 3))
            i += 3;
        if (n >= 3 && memmem(s + i, n - i, "\xE2\x96\x81", 3)) return false;
    }
    return true;
}

int tok_spm_encode(const ta_tokenizer *t, const char *text, size_t len, bool prefix_space,
                   ta_tok_ids *out)
{
    tok_buf raw = {0}, norm = {0};
    spm_ctx c = {.t = t};
    int rc = 0;

    if (t->remove_extra_spaces) {
        if (squeeze_spaces(&raw, text, len)) goto oom;
        text = raw.p ? raw.p : "";
        len = raw.len;
    }
    if (tok_buf_reserve(&norm, len + len / 4 + 4)) goto oom;
    if (prefix_space && tok_buf_put(&norm, "\xE2\x96\x81", 3)) goto oom;
    for (size_t i = 0; i < len; i++) {
        rc = text[i] == ' ' ? tok_buf_put(&norm, "\xE2\x96\x81", 3)
                            : tok_buf_put(&norm, text + i, 1);
        if (rc) goto oom;
    }
    if (norm.len == 0) goto done;
    if (norm.len > UINT32_MAX) goto oom;
    c.text = norm.p;
    c.sym = malloc(norm.len * sizeof *c.sym);
    if (!c.sym) goto oom;

    if (!t->spm_words) {
        rc = spm_merge(&c, 0, norm.len, out);
        goto done;
    }
    /* No token has a "▁" after another character, so no merge can join the symbols
     * before and after a symbol "▁" that follows a non-"▁" symbol: each such word is
     * merged on its own, with a small heap (same result, much faster on long texts). */
    size_t word = 0;
    bool prev_marker = false;
    for (size_t off = 0; off < norm.len && !rc;) {
        size_t k = sym_len(norm.p, off, norm.len);
        bool marker = is_marker(norm.p + off, k);
        if (marker && !prev_marker && off > word) {
            rc = spm_merge(&c, word, off - word, out);
            word = off;
        }
        prev_marker = marker;
        off += k;
    }
    if (!rc) rc = spm_merge(&c, word, norm.len - word, out);
    goto done;
oom:
    rc = TA_ENOMEM;
done:
    free(raw.p);
    free(norm.p);
    free(c.sym);
    free(c.heap.v);
    return rc;
}
