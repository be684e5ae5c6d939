/*
 * tokenizer.h - text <-> token ids for the model families tabagent runs, built from the
 * tokenizer.ggml.* metadata of a GGUF file.
 *
 * Three kinds, named by tokenizer.ggml.model:
 *   "llama" -> SPM: SentencePiece-style BPE over characters ranked by token score, with
 *              byte fallback (<0xXX> tokens) and the "▁" whitespace marker.
 *   "gpt2"  -> BPE: byte-level BPE ranked by tokenizer.ggml.merges, after a pre-tokenizer
 *              (regex split) chosen by tokenizer.ggml.pre (llama-bpe, qwen2, gpt-2, ...).
 *   "bert"  -> WPM: BERT WordPiece (normalize, split on whitespace/punctuation, greedy
 *              longest match).
 * The results reproduce llama.cpp's tokenizer (and so the Hugging Face reference) on the
 * reference cases in ../shared/vocab. Where the two differ on odd input this module
 * follows Hugging Face; each such choice is documented in the source file concerned.
 *
 * Every input byte sequence is accepted: SPM maps bytes that form no token to byte
 * tokens; BPE and WPM first replace each byte that is not part of valid UTF-8 with
 * U+FFFD (as llama.cpp does), so the ids always decode to valid text.
 *
 * Time is O(n log n) in the input length: merges run on a heap of adjacent pairs, and
 * the pre-tokenizer regexes are linear on every input (the patterns that would
 * backtrack quadratically are implemented by hand).
 *
 * A ta_tokenizer is immutable after creation: encode/decode may run from any number of
 * threads at once. It copies what it needs, so the ta_gguf may be closed afterwards.
 */
#ifndef TA_TOKENIZER_H
#define TA_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../gguf/gguf.h"

/* "No such token" for the special-id getters. */
#define TA_TOK_NULL (-1)

typedef enum {
    TA_TOK_SPM = 1, /* tokenizer.ggml.model = "llama" */
    TA_TOK_BPE = 2, /* "gpt2" */
    TA_TOK_WPM = 3, /* "bert" */
} ta_tok_kind;

/* tokenizer.ggml.token_type values (the GGUF convention). */
typedef enum {
    TA_TOK_TYPE_UNDEFINED = 0,
    TA_TOK_TYPE_NORMAL = 1,
    TA_TOK_TYPE_UNKNOWN = 2,
    TA_TOK_TYPE_CONTROL = 3,
    TA_TOK_TYPE_USER_DEFINED = 4,
    TA_TOK_TYPE_UNUSED = 5,
    TA_TOK_TYPE_BYTE = 6,
} ta_tok_type;

typedef struct ta_tokenizer ta_tokenizer;

/* A growable array of token ids. Zero-initialize it ({0}); encode appends to it. */
typedef struct ta_tok_ids {
    int32_t *ids;
    size_t len;
    size_t cap;
} ta_tok_ids;

/* Frees the storage and zeroes the struct. */
void ta_tok_ids_free(ta_tok_ids *v);

/* ---- creation ---- */

/* Builds a tokenizer from g's tokenizer.ggml.* keys. Fails with TA_EINVAL and a message
 * naming the key when the metadata is missing, inconsistent or unsupported (for example
 * an unknown tokenizer.ggml.model). An unknown tokenizer.ggml.pre is not an error: like
 * llama.cpp it falls back to the "default" pre-tokenizer and logs a warning. */
ta_tokenizer *ta_tokenizer_from_gguf(const ta_gguf *g, ta_error *err);
void ta_tokenizer_free(ta_tokenizer *t);

/* ---- encoding ---- */

/* Tokenizes len bytes of text (any bytes; NUL is an ordinary byte) and appends the ids
 * to out.
 *   add_special:   add BOS / EOS / SEP as the metadata says (tokenizer.ggml.add_bos_token,
 *                  add_eos_token, and each kind's defaults: SPM adds BOS, WPM adds
 *                  [CLS] ... [SEP]).
 *   parse_special: recognize the texts of control tokens (for example "<|im_start|>",
 *                  "<s>") inside text and emit their ids. User-defined tokens are always
 *                  recognized, as in Hugging Face tokenizers and llama.cpp.
 * Returns 0, TA_ENOMEM, or TA_ETOOBIG for inputs over 1 GiB. On failure out keeps the
 * ids it had before the call. */
int ta_tok_encode(const ta_tokenizer *t, const char *text, size_t len, bool add_special,
                  bool parse_special, ta_tok_ids *out, ta_error *err);

/* ---- decoding ---- */

enum {
    /* Render control and unknown tokens as their text ("<|im_end|>"); by default they
     * produce no text. User-defined tokens are always rendered. */
    TA_TOK_DECODE_SPECIAL = 1u << 0,
    /* Undo the space SPM encoding put in front of the text (add_space_prefix): strip one
     * leading space from the first token's piece (a leading BOS is skipped). Use it to
     * decode a whole prompt; not for the continuation of a generation. */
    TA_TOK_DECODE_STRIP_LEADING_SPACE = 1u << 1,
    /* Apply the Hugging Face clean_up_tokenization_spaces rules (" ." -> ".", " 's" ->
     * "'s", ...) when the model's tokenizer asks for them (most "gpt2" vocabularies and
     * BERT). */
    TA_TOK_DECODE_CLEAN_SPACES = 1u << 2,
};

/* The bytes one token stands for (a BPE token's byte-level text decoded to raw bytes,
 * "▁" turned into a space for SPM/WPM, a byte token's byte). special: as
 * TA_TOK_DECODE_SPECIAL. The pointer belongs to t and is not NUL-terminated; an
 * invalid id gives "" with *len 0. A piece may be part of a UTF-8 character. */
const char *ta_tok_piece(const ta_tokenizer *t, int32_t id, bool special, size_t *len);

/* Concatenated pieces of ids (flags: TA_TOK_DECODE_*), NUL-terminated, malloc'd (free
 * with free()); *out_len gets the length without the NUL. Bytes are returned as the
 * tokens give them, so the text may hold partial UTF-8 where the ids cut a character.
 * Invalid ids produce no text. NULL when memory runs out (TA_ENOMEM) or for NULL
 * arguments (TA_EINVAL). */
char *ta_tok_decode(const ta_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                    size_t *out_len, ta_error *err);

/* Streaming decoder for generation: feed ids one at a time, get back only complete
 * UTF-8 characters; the bytes of a character split across tokens are held until the
 * character is complete. Output is always valid UTF-8: a byte that cannot start or
 * continue a character is replaced by U+FFFD. Not thread-safe (one per stream). */
typedef struct ta_tok_stream ta_tok_stream;

ta_tok_stream *ta_tok_stream_new(const ta_tokenizer *t, unsigned flags);
void ta_tok_stream_free(ta_tok_stream *s);
/* The text that token id completes. The pointer is owned by s and valid until the next
 * call on s; *len may be 0. NULL only when memory runs out. */
const char *ta_tok_stream_push(ta_tok_stream *s, int32_t id, size_t *len);
/* Ends the stream: an unfinished character held back becomes U+FFFD. The stream can
 * then be reused from a clean state. */
const char *ta_tok_stream_flush(ta_tok_stream *s, size_t *len);

/* ---- vocabulary and metadata ---- */

ta_tok_kind ta_tok_get_kind(const ta_tokenizer *t);
/* "SPM", "BPE", "WPM" (for `tabagent info`). */
const char *ta_tok_kind_name(ta_tok_kind kind);
/* The pre-tokenizer in use: the tokenizer.ggml.pre value when known, "default" for a
 * BPE vocabulary without one (or an unknown one), "" for SPM/WPM. */
const char *ta_tok_pre_name(const ta_tokenizer *t);

size_t ta_tok_vocab_size(const ta_tokenizer *t);
/* Number of BPE merges loaded (0 for SPM/WPM). */
size_t ta_tok_merge_count(const ta_tokenizer *t);

/* Special ids, or TA_TOK_NULL. For WPM, bos is [CLS] and eos is unset. */
int32_t ta_tok_bos(const ta_tokenizer *t);
int32_t ta_tok_eos(const ta_tokenizer *t);
int32_t ta_tok_eot(const ta_tokenizer *t);
int32_t ta_tok_unk(const ta_tokenizer *t);
int32_t ta_tok_sep(const ta_tokenizer *t);
int32_t ta_tok_pad(const ta_tokenizer *t);
int32_t ta_tok_mask(const ta_tokenizer *t);
/* Whether encode with add_special adds BOS / EOS. */
bool ta_tok_add_bos(const ta_tokenizer *t);
bool ta_tok_add_eos(const ta_tokenizer *t);

/* End of generation: eos, eot, eom and tokens such as <|im_end|>, <|eot_id|>,
 * <|endoftext|>, <|end|>, <end_of_turn> found by their text (as llama.cpp does). */
bool ta_tok_is_eog(const ta_tokenizer *t, int32_t id);

/* Token type (after the same corrections llama.cpp applies, for example end-of-turn
 * tokens typed as normal become control); TA_TOK_TYPE_UNDEFINED for an invalid id. */
ta_tok_type ta_tok_token_type(const ta_tokenizer *t, int32_t id);
/* The token's text as stored in the vocabulary (owned by t, not NUL-terminated;
 * NULL for an invalid id). */
const char *ta_tok_token_text(const ta_tokenizer *t, int32_t id, size_t *len);
float ta_tok_token_score(const ta_tokenizer *t, int32_t id);
/* The id whose text is exactly these bytes, or TA_TOK_NULL. */
int32_t ta_tok_find(const ta_tokenizer *t, const char *text, size_t len);

#endif
