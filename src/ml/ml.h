/*
 * ml.h - the ML client: the one interface handlers and the orchestrator use to run
 * models. Today it is served in-process (ml_inproc.c, on src/engine/); a supervised
 * worker process can implement the same operations later without touching a caller.
 *
 * A loaded model has an id. A chat (decoder) model has n_parallel slots, each a
 * context with its own KV cache and token history; a request takes the free slot whose
 * history shares the longest prefix with its prompt (so a conversation's next turn
 * finds its cache), and waits in a bounded queue when every slot is busy (TA_EUNAVAILABLE
 * when the queue is full too). The slots of a model share its thread pool, and their
 * decoding steps are merged (continuous batching): the next tokens of all decoding
 * slots go through the model together, the weights read once for all. An embedding
 * (encoder) model runs any number of requests at once.
 */
#ifndef TA_ML_H
#define TA_ML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"
#include "../engine/generate.h"
#include "../tokenizer/tokenizer.h"

typedef struct ta_ml ta_ml;

typedef enum { TA_ML_CHAT = 0, TA_ML_EMBED } ta_ml_kind;

typedef struct ta_ml_load_params {
    uint32_t n_ctx;      /* per slot; 0: the model's training context, at most 4096 */
    uint32_t n_parallel; /* slots of a chat model; 0: 1 */
    uint32_t max_queue;  /* requests that may wait for a slot; 0: 64 */
    int threads;         /* 0: one per core */
    ta_kv_type kv_type;  /* TA_KV_F16 unless set */
} ta_ml_load_params;

typedef struct ta_ml_info {
    ta_ml_kind kind;
    char arch[32];
    uint32_t n_ctx;       /* per slot */
    uint32_t n_ctx_train; /* what the model was trained for */
    uint32_t n_vocab, n_embd, n_parallel;
    uint64_t file_bytes;                /* the GGUF file (mapped) */
    uint64_t kv_bytes;                  /* all slots' caches */
    bool has_template;                  /* the file carries tokenizer.chat_template */
    uint64_t decode_steps, decode_rows; /* merged decoding steps so far, and their tokens */
    uint64_t pool_stalls; /* thread-pool jobs held up by other processes (threadpool.h) */
} ta_ml_info;

/* The in-process client. */
ta_ml *ta_ml_inproc_new(ta_error *err);
void ta_ml_free(ta_ml *ml);

/* Loads path under id. TA_ECONFLICT when id is loaded already. */
int ta_ml_load(ta_ml *ml, const char *id, const char *path, const ta_ml_load_params *p,
               ta_error *err);
/* Unloads id once its running requests end (new ones get TA_ENOTFOUND at once). */
int ta_ml_unload(ta_ml *ml, const char *id, ta_error *err);
int ta_ml_info_get(ta_ml *ml, const char *id, ta_ml_info *out, ta_error *err);
/* The model's chat template (malloc'd, caller frees), or NULL without one. */
char *ta_ml_chat_template(ta_ml *ml, const char *id, ta_error *err);
/* The texts of the BOS and EOS tokens ("" when the model has none): bos and eos hold
 * cap bytes each. */
int ta_ml_special_texts(ta_ml *ml, const char *id, char *bos, char *eos, size_t cap, ta_error *err);

int ta_ml_tokenize(ta_ml *ml, const char *id, const char *text, size_t len, bool add_special,
                   bool parse_special, ta_tok_ids *out, ta_error *err);
/* malloc'd text of ids (special tokens rendered when with_special). */
char *ta_ml_detokenize(ta_ml *ml, const char *id, const int32_t *ids, size_t n, bool with_special,
                       ta_error *err);

/* Where a generation reports to: on_token as ta_gen_run's callback (may be NULL), and
 * cancelled (may be NULL), asked while the request waits for a slot. */
typedef struct ta_ml_sink {
    ta_gen_fn on_token;
    bool (*cancelled)(void *ud);
    void *ud;
} ta_ml_sink;

/* Generates from prompt on a slot of chat model id; see ta_gen_run for out. A request
 * cancelled while it waits for a slot fails with TA_ECANCELLED. */
int ta_ml_generate(ta_ml *ml, const char *id, const int32_t *prompt, uint32_t n_prompt,
                   const ta_gen_params *p, const ta_ml_sink *sink, ta_gen_result *out,
                   ta_error *err);

/* Embeds text with embedding model id: out gets n_embd floats (unit length);
 * *n_tokens the tokens it took. TA_EINVAL (with the numbers) when it is too long. */
int ta_ml_embed(ta_ml *ml, const char *id, const char *text, size_t len, float *out, size_t cap,
                uint32_t *n_tokens, ta_error *err);

#endif
