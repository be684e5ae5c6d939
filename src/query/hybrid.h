/*
 * hybrid.h - memory search: full-text candidates (FTS5, BM25) from the messages, the
 * scraped pages and the summaries, and vector candidates (HNSW over the message
 * embeddings), filtered (database, chat, time range, type, entity), fused by
 * reciprocal-rank fusion (or a weighted sum of normalized scores), and paged, each
 * result with the parts of its score.
 */
#ifndef TA_QUERY_HYBRID_H
#define TA_QUERY_HYBRID_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../index/hnsw.h"
#include "../storage/storage.h"

/* The logical databases a search covers. */
enum {
    TA_HYBRID_CONVERSATIONS = 1u << 0, /* messages: text and vectors */
    TA_HYBRID_TOOL_RESULTS = 1u << 1,  /* scraped pages: text */
    TA_HYBRID_SUMMARIES = 1u << 2,     /* summaries: text */
};

typedef struct ta_hybrid_params {
    const char *text;    /* NULL or "": no full-text part */
    const float *vector; /* NULL: no vector part */
    uint32_t dim;        /* of vector */
    unsigned databases;  /* TA_HYBRID_* (0: conversations) */
    int64_t chat_id;     /* 0: every chat (pages have none and are left out) */
    int64_t since_ms;    /* 0: no lower bound on the record's time */
    int64_t until_ms;    /* 0: no upper bound */
    const char *role;    /* messages of this role only; NULL: any */
    const char *type;    /* a message role, "page", or a summary kind; NULL: any */
    int64_t entity_id;   /* > 0: only messages that mention this entity ... */
    const char *entity;  /* ... or one with this label or alias (NULL: no entity filter) */
    uint32_t offset, limit;
    bool weighted; /* weighted fusion instead of reciprocal-rank fusion */
    double w_text, w_vector;
} ta_hybrid_params;

/* {"data":[{database, id, type, snippet, timestamp_ms, score, explain:{...}, and for a
 * message chat_id and role, for a page title and url, for a summary chat_id}],
 * "offset", "limit", "fusion", "candidates"}. idx may be NULL (then only full-text).
 * TA_EINVAL when neither text nor vector is given, or the vector's size is not the
 * index's. */
json_t *ta_hybrid_search(ta_store *s, const ta_hnsw *idx, const ta_hybrid_params *p, ta_error *err);

#endif
