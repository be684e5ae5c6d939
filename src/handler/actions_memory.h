/*
 * actions_memory.h - what the memory's action files (actions_memory.c, the chats,
 * search and backup; actions_weaver.c, links and merges; actions_records.c, tool
 * results, experience and summaries) share: the store behind the app's lock, ids from
 * paths, and the common request fields.
 */
#ifndef TA_ACTIONS_MEMORY_H
#define TA_ACTIONS_MEMORY_H

#include "../storage/storage.h"
#include "router.h"

/* Fails the call with err's code and message (always returns that code). */
int ta_mem_fail(ta_call *call, const ta_error *err);
/* The store, locked; NULL (the call failed with 503) when the server has none. */
ta_store *ta_mem_lock(ta_call *call);
void ta_mem_unlock(ta_call *call);
/* An id given as a number or (from a path segment) as decimal text; -1 if neither. */
int64_t ta_mem_id(const json_t *p, const char *key);
/* The vector index is a cache of the embeddings table: when keeping it current fails
 * after a write has committed, the write stands and the failure is logged (the next
 * start rebuilds the index). Clears err. */
void ta_mem_index_note(ta_call *call, int rc, ta_error *err);
/* A JSON array of numbers as floats (malloc'd; *dim of them); NULL when absent or out
 * of memory (*dim 0). */
float *ta_mem_vector(const json_t *arr, size_t *dim);

int ta_router_add_weaver_actions(ta_router *r);
int ta_router_add_record_actions(ta_router *r);

#define ID_FIELD(n)                                                                                \
    {                                                                                              \
        .name = n, .types = TA_T_INT | TA_T_STRING, .flags = TA_F_REQUIRED, .max_len = 32          \
    }
#define PAGE_FIELDS                                                                                \
    {.name = "offset", .types = TA_T_INT, .flags = TA_F_MIN, .min = 0, .dflt = "0"},               \
    {                                                                                              \
        .name = "limit", .types = TA_T_INT, .flags = TA_F_MIN | TA_F_MAX, .min = 1, .max = 10000,  \
        .dflt = "100"                                                                              \
    }

#endif
