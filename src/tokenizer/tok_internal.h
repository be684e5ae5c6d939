/*
 * tok_internal.h - what the tokenizer's source files share and nothing outside
 * src/tokenizer/ may use: the tokenizer object, the string table, the pair heap, UTF-8
 * helpers and the per-kind entry points.
 */
#ifndef TA_TOK_INTERNAL_H
#define TA_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* ---- string table: texts with ids, found by content ----
 * Ids are dense from 0. The vocabulary occupies ids [0, n_vocab); BPE appends the merge
 * halves that are not tokens themselves. The hash index maps a text to the LAST id
 * pushed with it (a vocabulary with duplicate texts resolves like llama.cpp's map). */
typedef struct tok_strtab {
    char *arena;
    size_t arena_len, arena_cap;
    uint32_t *off;
    uint32_t *len;
    uint32_t count, cap;
    uint32_t *slots; /* id + 1; 0 = empty */
    uint32_t mask;   /* slots has mask + 1 entries */
} tok_strtab;

void tok_strtab_free(tok_strtab *st);
/* Appends a text as a new id (duplicates allowed; the index then points to the new
 * one). Returns the id, or -1 when memory runs out. */
int32_t tok_strtab_push(tok_strtab *st, const char *s, size_t n);
/* The id of this text, or -1. */
int32_t tok_strtab_find(const tok_strtab *st, const char *s, size_t n);
/* find, else push. -1 only when memory runs out. */
int32_t tok_strtab_intern(tok_strtab *st, const char *s, size_t n);
static inline const char *tok_strtab_str(const tok_strtab *st, int32_t id, size_t *n)
{
    *n = st->len[id];
    return st->arena + st->off[id];
}

/* ---- min-heap of adjacent symbol pairs (SPM and BPE merging) ----
 * An entry is just the pair's key: its rank (BPE) or inverted score (SPM) in the high
 * half and the left symbol's index in the low half, so ties go to the leftmost pair as
 * in llama.cpp. Each symbol remembers the key of the pair it currently forms with its
 * right neighbour; a popped key that differs from that is stale (a side was merged
 * since) and is skipped. No payload: 8-byte entries in an 8-ary heap put each level's
 * children in one cache line, which is what matters for the big heaps of long words
 * (a 1 MB run without spaces is one word). */
typedef struct tok_heap {
    uint64_t *v;
    size_t len, cap;
} tok_heap;

int tok_heap_push(tok_heap *h, uint64_t key); /* 0 or TA_ENOMEM */
uint64_t tok_heap_pop(tok_heap *h);           /* h->len must be > 0 */

/* ---- a growable byte buffer ---- */
typedef struct tok_buf {
    char *p;
    size_t len, cap;
} tok_buf;

int tok_buf_reserve(tok_buf *b, size_t extra); /* 0 or TA_ENOMEM */
int tok_buf_put(tok_buf *b, const void *s, size_t n);

/* Appends to an id array; 0 or TA_ENOMEM. */
int tok_ids_push(ta_tok_ids *v, int32_t id);

/* ---- UTF-8 ---- */

/* Sequence length announced by a lead byte, the way llama.cpp splits SPM/BPE symbols:
 * ASCII and stray continuation bytes count 1. */
static inline size_t tok_utf8_len(unsigned char c)
{
    static const uint8_t lut[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lut[c >> 4];
}

/* Strict decode of one character at s (n bytes available): returns its length and sets
 * *cp, or 0 when the bytes there are not valid UTF-8 (overlong forms, surrogates and
 * values above U+10FFFF are invalid). */
size_t tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Encodes cp (<= 0x10FFFF) into out; returns 1..4. */
size_t tok_utf8_encode(uint32_t cp, char *out);
/* Appends s to b with every byte that is not part of valid UTF-8 replaced by U+FFFD. */
int tok_utf8_sanitize(tok_buf *b, const char *s, size_t n);

/* The Unicode White_Space property (what \s means in the pre-tokenizer regexes). */
bool tok_is_whitespace(uint32_t cp);

/* ---- the tokenizer ---- */

/* Pre-tokenizer families (sets of split regexes), see tok_bpe.c. */
typedef enum {
    TOK_PRE_DEFAULT = 0,
    TOK_PRE_LLAMA3,
    TOK_PRE_DEEPSEEK_LLM,
    TOK_PRE_DEEPSEEK3,
    TOK_PRE_DEEPSEEK_CODER,
    TOK_PRE_FALCON,
    TOK_PRE_STARCODER,
    TOK_PRE_GPT2,
    TOK_PRE_QWEN2,
    TOK_PRE_BLOOM,
    TOK_PRE_CHATGLM4,
    TOK_PRE_VIKING,
    TOK_PRE_TEKKEN,
    TOK_PRE_CHAMELEON,
    TOK_PRE_GPT4O,
    TOK_PRE_SUPERBPE,
    TOK_PRE_BAILINGMOE,
    TOK_PRE_SEED_CODER,
    TOK_PRE_COUNT
} tok_pre;

/* Per-token flags beyond the type (llama.cpp's LSTRIP / RSTRIP attributes): when such a
 * token is found in the text, whitespace before / after it is dropped. */
enum { TOK_ATTR_LSTRIP = 1, TOK_ATTR_RSTRIP = 2 };

typedef struct tok_merge_slot {
    uint64_t key; /* (left << 32) | right, string-table ids */
    int32_t rank; /* -1 = empty slot */
    int32_t result;
} tok_merge_slot;

typedef struct tok_trie_node {
    int32_t child;   /* first child, -1 none */
    int32_t sibling; /* next sibling, -1 none */
    int32_t token;   /* token ending here, -1 none */
    uint8_t byte;
} tok_trie_node;

struct tok_regex; /* tok_bpe.c */

struct ta_tokenizer {
    ta_tok_kind kind;
    tok_pre pre;
    char pre_name[64];

    int32_t n_vocab;
    tok_strtab strs; /* vocabulary texts, then BPE merge halves */
    float *scores;
    uint8_t *types; /* ta_tok_type */
    uint8_t *attrs; /* TOK_ATTR_* */
    uint8_t *eog;   /* 1 = end of generation */
    size_t max_token_len;

    int32_t bos, eos, eot, eom, unk, sep, pad, mask;
    bool add_bos, add_eos, add_sep;
    bool add_space_prefix;    /* SPM */
    bool remove_extra_spaces; /* SPM */
    bool ignore_merges;       /* BPE: a word that is a token is not merged */
    bool clean_spaces;        /* decode clean-up allowed */
    bool spm_words;           /* SPM: merges never cross a word start (see tok_spm.c) */

    /* Tokens recognized inside text (control / user-defined / unknown), longest text
     * first, and a byte trie over their texts to find which ones occur at all. */
    int32_t *specials;
    size_t n_specials;
    tok_trie_node *trie;
    size_t trie_len, trie_cap;
    int32_t trie_root[256];

    /* SPM: the token for each byte (<0xXX>, else the one-byte text, else unk). */
    int32_t byte_token[256];

    /* BPE */
    tok_merge_slot *merges;
    uint64_t merge_mask;
    size_t n_merges;
    char byte_enc[256][3]; /* byte -> its byte-level character (UTF-8, NUL-padded) */
    uint8_t byte_enc_len[256];
    int32_t byte_sid[256];          /* string-table id of that character, -1 if none */
    int32_t single_byte_token[256]; /* token whose text is exactly this one byte */
    int16_t byte_dec[324];          /* byte-level character -> byte (-1 none) */
    struct tok_regex *regexes;
    size_t n_regexes;

    /* Decoded piece of every token with specials rendered (llama.cpp's cache). */
    char *pieces;
    uint32_t *piece_off;
    uint32_t *piece_len;
};

/* Per-kind encoders: append the ids of one plain-text fragment. */
int tok_spm_encode(const ta_tokenizer *t, const char *text, size_t len, bool prefix_space,
                   ta_tok_ids *out);
int tok_bpe_encode(const ta_tokenizer *t, const char *text, size_t len, ta_tok_ids *out);
/* Whether no SPM token holds a "▁" after another character. */
bool tok_spm_words_independent(const ta_tokenizer *t);
int tok_wpm_encode(const ta_tokenizer *t, const char *text, size_t len, ta_tok_ids *out);

/* BPE setup (tok_bpe.c): merges, byte-level tables, pre-tokenizer regexes. */
int tok_bpe_init(ta_tokenizer *t, const ta_gguf *g, ta_error *err);
void tok_bpe_free(ta_tokenizer *t);
/* Maps a tokenizer.ggml.pre value to a family and its flags; false when unknown. */
bool tok_pre_lookup(const char *name, tok_pre *pre, bool *ignore_merges, bool *add_bos,
                    bool *clean_spaces, bool *add_sep, bool *no_bos);
/* Decodes a byte-level BPE token text into raw bytes (characters outside the byte map
 * are copied as they are). */
int tok_bpe_decode_text(const ta_tokenizer *t, const char *s, size_t n, tok_buf *out);

#endif
