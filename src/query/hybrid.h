/*
 * hybrid.h - memory search over messages: full-text candidates (FTS5, BM25) and
 * vector candidates (HNSW over the message embeddings), filtered by chat, time and
 * role, fused by reciprocal-rank fusion (or a weighted sum of normalized scores), and
 * paged, each result with the parts of its score.
 */
#ifndef TA_QUERY_HYBRID_H
#define TA_QUERY_HYBRID_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../index/hnsw.h"
#include "../storage/storage.h"

typedef struct ta_hybrid_params {
    const char *text;    /* NULL or "": no full-text part */
    const float *vector; /* NULL: no vector part */
    uint32_t dim;        /* of vector */
    int64_t chat_id;     /* 0: every chat */
    int64_t since_ms;    /* 0: no lower bound on the message time */
    int64_t until_ms;    /* 0: no upper bound */
    const char *role;    /* NULL: any */
    uint32_t offset, limit;
    bool weighted; /* weighted fusion instead of reciprocal-rank fusion */
    double w_text, w_vector;
} ta_hybrid_params;

/* {"data":[{id, chat_id, role, timestamp_ms, snippet, score, explain:{...}}], "offset",
 * "limit", "fusion"}. idx may be NULL (then only full-text). TA_EINVAL when neither text
 * nor vector is given, or the vector's size is not the index's. */
json_t *ta_hybrid_search(ta_store *s, const ta_hnsw *idx, const ta_hybrid_params *p, ta_error *err);

#endif
