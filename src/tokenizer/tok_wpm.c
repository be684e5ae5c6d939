/*
 * tok_wpm.c - BERT WordPiece ("bert" vocabularies: BGE, MiniLM, nomic-embed, ...).
 *
 * Normalization and splitting follow the Hugging Face BertNormalizer and
 * BertPreTokenizer with lowercase + accent stripping (what llama.cpp applies to every
 * BERT vocabulary, as the GGUF does not record do_lower_case):
 *   - drop NUL, U+FFFD (also what invalid UTF-8 becomes) and control/format/unassigned
 *     characters; whitespace separates words;
 *   - CJK ideographs become one-character words;
 *   - canonical decomposition (NFD) with nonspacing marks removed, then lowercase;
 *   - punctuation (Unicode P* and ASCII symbols) becomes one-character words.
 * Each word is then matched greedily, longest token first, from its start; GGUF BERT
 * vocabularies mark word-initial tokens with "▁" instead of marking continuations with
 * "##". A word with an unmatchable rest, or longer than 100 characters (Hugging Face's
 * max_input_chars_per_word), becomes [UNK].
 *
 * Where llama.cpp differs: it keeps only the first code point of a decomposition (so a
 * Hangul syllable loses its vowel), keeps combining marks typed after a letter, and has
 * no word-length limit. This file follows Hugging Face, which the models were trained
 * with; the reference cases in ../shared/vocab give the same ids either way.
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok_internal.h"

#define WPM_MAX_WORD_CHARS 100

static bool is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static bool is_control(uint32_t cp)
{
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS: return true;
    default: return false;
    }
}

static bool is_punct(uint32_t cp)
{
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126))
        return true;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return true;
    default: return false;
    }
}

typedef struct wpm_ctx {
    const ta_tokenizer *t;
    tok_buf word;  /* "▁" + the word's UTF-8 */
    size_t nchars; /* characters in the word */
    ta_tok_ids *out;
} wpm_ctx;

/* Greedy longest-match of the current word, then starts a new one. */
static int flush_word(wpm_ctx *c)
{
    const ta_tokenizer *t = c->t;
    const char *w = c->word.p;
    size_t n = c->word.len;
    int rc = 0;
    if (c->nchars == 0) goto done;
    if (c->nchars > WPM_MAX_WORD_CHARS) {
        if (t->unk >= 0) rc = tok_ids_push(c->out, t->unk);
        goto done;
    }
    size_t start = c->out->len;
    for (size_t i = 0; i < n && !rc;) {
        size_t j = n - i < t->max_token_len ? n : i + t->max_token_len;
        int32_t id = -1;
        for (; j > i; j--) {
            id = tok_strtab_find(&t->strs, w + i, j - i);
            if (id >= 0 && id < t->n_vocab) break;
        }
        if (j == i) { /* no token covers the rest: the whole word is unknown */
            c->out->len = start;
            if (t->unk >= 0) rc = tok_ids_push(c->out, t->unk);
            break;
        }
        rc = tok_ids_push(c->out, id);
        i = j;
    }
done:
    c->word.len = 3; /* keep the "▁" */
    c->nchars = 0;
    return rc;
}

static int add_char(wpm_ctx *c, uint32_t cp)
{
    char u[4];
    c->nchars++;
    return tok_buf_put(&c->word, u, tok_utf8_encode(cp, u));
}

/* A one-character word (punctuation, CJK). */
static int single_word(wpm_ctx *c, uint32_t cp)
{
    if (flush_word(c) || add_char(c, cp)) return TA_ENOMEM;
    return flush_word(c);
}

int tok_wpm_encode(const ta_tokenizer *t, const char *text, size_t len, ta_tok_ids *out)
{
    wpm_ctx c = {.t = t, .out = out};
    int rc = tok_buf_put(&c.word, "\xE2\x96\x81", 3);
    const unsigned char *u = (const unsigned char *)text;
    for (size_t i = 0; i < len && !rc;) {
        uint32_t cp;
        size_t k = tok_utf8_decode(u + i, len - i, &cp);
        if (!k) k = 1, cp = 0xFFFD;
        i += k;
        if (tok_is_whitespace(cp)) {
            rc = flush_word(&c);
            continue;
        }
        if (cp == 0 || cp == 0xFFFD || is_control(cp)) continue;
        utf8proc_int32_t dec[32];
        int last = 0;
        utf8proc_ssize_t nd =
            utf8proc_decompose_char((utf8proc_int32_t)cp, dec, 32, UTF8PROC_DECOMPOSE, &last);
        if (nd < 1 || nd > 32) nd = 1, dec[0] = (utf8proc_int32_t)cp;
        bool cjk = is_cjk(cp);
        if (cjk) rc = flush_word(&c);
        for (utf8proc_ssize_t d = 0; d < nd && !rc; d++) {
            if (utf8proc_category(dec[d]) == UTF8PROC_CATEGORY_MN) continue;
            uint32_t lc = (uint32_t)utf8proc_tolower(dec[d]);
            if (is_punct(lc))
                rc = single_word(&c, lc);
            else
                rc = add_char(&c, lc);
        }
        if (cjk && !rc) rc = flush_word(&c);
    }
    if (!rc) rc = flush_word(&c);
    free(c.word.p);
    return rc;
}
