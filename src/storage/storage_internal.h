/*
 * storage_internal.h - what the storage files share and no other module uses.
 */
#ifndef TA_STORAGE_INTERNAL_H
#define TA_STORAGE_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>

#include "storage.h"

/* "TABG": PRAGMA application_id of a tabagent database. */
#define TA_STORE_APP_ID 0x54414247

typedef struct ta_migration {
    const char *db; /* logical database */
    int version;    /* what it raises the database to */
    const char *sql;
} ta_migration;

/* A phrase's document frequency as counted when the full-text mark was at mark. */
#define TA_DF_CACHE 256
typedef struct ta_df_entry {
    char phrase[48];
    int64_t hits, mark; /* mark 0: empty */
} ta_df_entry;

struct ta_store {
    sqlite3 *db;
    char path[4096];
    /* prepared once: the statements of the message write path */
    sqlite3_stmt *ins_msg, *ins_emb, *set_emb, *touch_chat, *ins_entity, *find_entity, *ins_mention;
    sqlite3_stmt *get_msg, *begin, *commit, *rollback;
    sqlite3_stmt *view_msg; /* ta_store_message_view's row stays here until the next call */
    sqlite3_stmt *next_id;  /* the id of the next message */
    /* prepared once: the full-text backlog (fts_sync in storage.c) */
    sqlite3_stmt *fts_mark, *fts_top, *fts_upto, *fts_fill, *fts_set_mark;
    /* prepared on the first search: [0] over all chats, [1] within one */
    sqlite3_stmt *srch_bound[2], *srch_rank[2], *srch_snip, *srch_chat, *srch_hits;
    sqlite3_stmt *srch_one, *srch_span; /* ta_store_search_text_in: one id, an id range */
    /* how many messages match a search's phrases (storage.c, phrase_hits) */
    ta_df_entry df_cache[TA_DF_CACHE];
};

/* Lets go of ta_store_message_view's row: a statement left on a row keeps a read
 * transaction open, which a backup into this connection or a later write would trip on.
 * Every writing entry point calls it first. */
static inline void ta_store_release_view(ta_store *s)
{
    if (s && s->view_msg) sqlite3_reset(s->view_msg);
}

/* Embedding storage kinds (vector_codec.c): the values of emb_vectors.storage. */
enum { TA_VEC_KIND_F32 = 0, TA_VEC_KIND_F16, TA_VEC_KIND_I8 };
/* "f32" (or NULL), "f16", "i8" -> a kind; -1 for anything else. */
int ta_vec_kind(const char *name);
const char *ta_vec_kind_name(int kind);
size_t ta_vec_bytes(int kind, uint32_t dim);
void ta_vec_encode(int kind, const float *v, uint32_t dim, void *out);
/* A stored vector back as floats; false when the blob does not fit its kind and dim
 * or holds a value that is not finite. */
bool ta_vec_decode(const char *kind, const void *blob, size_t bytes, uint32_t dim, float *out);

/* A buffer for stored vectors read back as floats, reused row after row. */
typedef struct ta_vec_buf {
    float *v;
    uint32_t cap;
    bool oom; /* set when it could not grow */
} ta_vec_buf;
/* The vector in a row's columns (storage kind at kind_col, blob at data_col, dim floats)
 * in b, or NULL when it does not decode (a damaged row: skip it) or b->oom. */
const float *ta_vec_row(ta_vec_buf *b, sqlite3_stmt *st, int kind_col, int data_col, uint32_t dim);

/* Wall-clock milliseconds (message and entity times). */
int64_t ta_store_now_ms(void);
/* Lower-case, trimmed, inner whitespace collapsed: how entity labels are matched. */
void ta_store_normalize(const char *in, char *out, size_t cap);

extern const ta_migration ta_migrations[];
extern const size_t ta_n_migrations;
extern const char *const ta_logical_dbs[]; /* NULL-terminated */

/* The newest version this build knows of a logical database (0: unknown). */
int ta_schema_latest(const char *db);

#endif
