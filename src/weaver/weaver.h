/*
 * weaver.h - the knowledge weaver: connects what the memory holds.
 *
 *   - links each message to the messages most similar to it (cosine similarity of
 *     their embeddings, through the message vector index) above a threshold, so that
 *     "related" is a lookup (storage: conv_links);
 *   - merges duplicate entities, keeping provenance (storage: kg_merges): an untyped
 *     entity (a bare mention) into the one typed entity of the same normalized label,
 *     and entities whose embeddings are more similar than a threshold (types equal or
 *     one of them empty), the one with the higher confidence (then the older) kept.
 *
 * The weaver only reads the index and writes through the storage API: callers hold
 * whatever lock guards both (the app's store_lock).
 */
#ifndef TA_WEAVER_H
#define TA_WEAVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../index/hnsw.h"
#include "../storage/storage.h"

typedef struct ta_weave_opts {
    double link_threshold;  /* cosine similarity for a message link (0: 0.80) */
    uint32_t link_k;        /* nearest messages looked at per message (0: 8) */
    double merge_threshold; /* entity embedding similarity for a merge (0: 0.92) */
    bool links, merges;     /* which passes ta_weaver_run does */
    bool dry_run;           /* report what would change, change nothing */
} ta_weave_opts;

/* Defaults filled in where o has zeros (o may be NULL). */
ta_weave_opts ta_weave_defaults(const ta_weave_opts *o);

/* Links one message (its vector vec, dim floats, already in idx) to its similar
 * messages; *added gets the number of links written (or found again). */
int ta_weaver_link_message(ta_store *s, const ta_hnsw *idx, int64_t message_id, const float *vec,
                           uint32_t dim, const ta_weave_opts *o, size_t *added, ta_error *err);

/* A whole pass: links every message embedding in the store that idx holds (idx may be
 * NULL: no links), then the entity merges. The report:
 * {"messages_linked":n, "links":n, "merges":[{keep, drop, reason, similarity?}],
 *  "dry_run":b}. */
json_t *ta_weaver_run(ta_store *s, const ta_hnsw *idx, const ta_weave_opts *o, ta_error *err);

#endif
