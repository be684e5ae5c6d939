/*
 * fuzz_tokenizer.c - libFuzzer target for the tokenizers: arbitrary bytes through the
 * encoder of every reference vocabulary (SPM, byte-level BPE with several
 * pre-tokenizers, WordPiece), then through decode and the streaming decoder. Checks
 * that ids stay inside the vocabulary, that BPE/WPM ids decode to valid UTF-8 (invalid
 * input bytes become U+FFFD; for BPE when the vocabulary has every byte), that SPM round-trips any
 * bytes exactly (but a literal "▁", which is SentencePiece's space), and that the streaming decoder
 * only ever emits valid UTF-8. The input bytes are also fed to the decoders as (mostly invalid)
 * ids.
 *
 * First byte: bit 0 add_special, bit 1 parse_special; the rest is the text.
 * The vocabularies come from ../shared/vocab beside the source tree ($TA_SHARED_DIR
 * overrides the shared directory).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static const char *const names[] = {"llama-spm", "llama-bpe", "qwen2",          "phi-3",
                                    "gpt-2",     "bert-bge",  "deepseek-coder", "falcon"};
#define NV (sizeof names / sizeof names[0])
static ta_tokenizer *toks[NV];
/* BPE: the vocabulary has a token for each of the 256 byte-level characters. Without
 * one (falcon lacks a few bytes that never occur in UTF-8 text) the byte is dropped,
 * as in llama.cpp and Hugging Face, and the decoded text may lose a lead byte. */
static bool all_bytes[NV];

static bool covers_all_bytes(const ta_tokenizer *t)
{
    int next = 256;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        int cp = printable ? b : next++;
        char u[2] = {(char)cp, 0};
        size_t n = 1;
        if (cp >= 0x80) u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
        if (ta_tok_find(t, u, n) == TA_TOK_NULL) return false;
    }
    return true;
}

static void load(void)
{
    char dir[4096];
    const char *env = getenv("TA_SHARED_DIR");
    if (env) {
        snprintf(dir, sizeof dir, "%s/vocab", env);
    } else {
        /* __FILE__ is <root>/fuzz/fuzz_tokenizer.c */
        snprintf(dir, sizeof dir, "%s", __FILE__);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, "."); /* compiled from the root, relative path */
        strncat(dir, "/../shared/vocab", sizeof dir - strlen(dir) - 1);
    }
    for (size_t v = 0; v < NV; v++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, names[v]);
        ta_error err;
        ta_gguf *g = ta_gguf_open(path, &err);
        if (!g) {
            fprintf(stderr, "fuzz_tokenizer: MISSING %s: %s\n", path, err.message);
            abort();
        }
        toks[v] = ta_tokenizer_from_gguf(g, &err);
        ta_gguf_close(g);
        if (!toks[v]) {
            fprintf(stderr, "fuzz_tokenizer: %s: %s\n", names[v], err.message);
            abort();
        }
        all_bytes[v] = ta_tok_get_kind(toks[v]) != TA_TOK_BPE || covers_all_bytes(toks[v]);
    }
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k;
        uint32_t v, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            k = 2, v = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 3, v = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 4, v = c & 0x07, min = 0x10000;
        else
            return false;
        if (i + k > n) return false;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return false;
            v = (v << 6) | (s[i + j] & 0x3F);
        }
        if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return false;
        i += k;
    }
    return true;
}

static void stream_all(const ta_tokenizer *t, const int32_t *ids, size_t n, unsigned flags)
{
    ta_tok_stream *s = ta_tok_stream_new(t, flags);
    if (!s) abort();
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *p = ta_tok_stream_push(s, ids[i], &len);
        if (!p || !valid_utf8((const unsigned char *)p, len)) abort();
    }
    size_t len;
    const char *p = ta_tok_stream_flush(s, &len);
    if (!p || !valid_utf8((const unsigned char *)p, len)) abort();
    ta_tok_stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!toks[0]) load();
    if (size < 1) return 0;
    bool add_special = data[0] & 1, parse_special = data[0] & 2;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    for (size_t v = 0; v < NV; v++) {
        const ta_tokenizer *t = toks[v];
        ta_tok_ids ids = {0};
        ta_error err;
        if (ta_tok_encode(t, text, len, add_special, parse_special, &ids, &err)) abort();
        for (size_t i = 0; i < ids.len; i++)
            if (ids.ids[i] < 0 || (size_t)ids.ids[i] >= ta_tok_vocab_size(t)) abort();

        size_t n;
        char *back =
            ta_tok_decode(t, ids.ids, ids.len, TA_TOK_DECODE_STRIP_LEADING_SPACE, &n, &err);
        if (!back) abort();
        ta_tok_kind kind = ta_tok_get_kind(t);
        if (kind != TA_TOK_SPM && all_bytes[v] && !valid_utf8((const unsigned char *)back, n))
            abort();
        /* SPM keeps every byte (byte fallback), unless special tokens were involved or
         * the text holds a literal "▁" (which decodes as a space) */
        if (kind == TA_TOK_SPM && !add_special && !parse_special &&
            !memmem(text, len, "\xE2\x96\x81", 3) && (n != len || memcmp(back, text, len) != 0)) {
            bool user_defined = false;
            for (size_t i = 0; i < ids.len; i++)
                if (ta_tok_token_type(t, ids.ids[i]) == TA_TOK_TYPE_USER_DEFINED)
                    user_defined = true;
            if (!user_defined) abort();
        }
        free(back);
        back = ta_tok_decode(t, ids.ids, ids.len,
                             TA_TOK_DECODE_SPECIAL | TA_TOK_DECODE_CLEAN_SPACES, &n, &err);
        if (!back) abort();
        free(back);
        stream_all(t, ids.ids, ids.len, 0);
        ta_tok_ids_free(&ids);

        /* the input as ids: mostly out of range, some valid */
        size_t nid = len / 4;
        int32_t *raw = malloc((nid ? nid : 1) * sizeof *raw);
        if (!raw) abort();
        for (size_t i = 0; i < nid; i++) {
            int32_t id;
            memcpy(&id, text + 4 * i, 4);
            raw[i] = (data[0] & 4) ? (int32_t)((uint32_t)id % ta_tok_vocab_size(t)) : id;
        }
        back = ta_tok_decode(t, raw, nid, TA_TOK_DECODE_SPECIAL, &n, &err);
        if (!back) abort();
        free(back);
        stream_all(t, raw, nid, TA_TOK_DECODE_SPECIAL | TA_TOK_DECODE_STRIP_LEADING_SPACE);
        for (size_t i = 0; i < nid; i++)
            (void)ta_tok_is_eog(t, raw[i]);
        free(raw);
    }
    return 0;
}
