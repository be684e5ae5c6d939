/*
 * index_state.c - what a vector index built from the embeddings table needs to know
 * about that table: a state that tells a saved index whether it is still current, and
 * the embeddings written after a given one (to catch a saved index up instead of
 * rebuilding it).
 *
 * Embedding ids only grow while rows are appended, so "everything up to id N" plus a
 * counter of every other change (deletes and edits, counted by triggers; schema.c,
 * embeddings v2) describe the table's content for an index exactly.
 */
#include <stdlib.h>

#include "storage_internal.h"

static int fail(sqlite3 *db, ta_error *err, const char *what)
{
    return ta_error_set(err, TA_EIO, "%s: %s", what, sqlite3_errmsg(db));
}

int ta_store_embedding_state(ta_store *s, ta_store_emb_state *out, ta_error *err)
{
    ta_store_release_view(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT coalesce(max(id), 0) FROM emb_vectors),"
                           " (SELECT CAST(value AS INTEGER) FROM meta_index_state"
                           "  WHERE name = 'emb_changes')",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s->db, err, "reading the embeddings state");
    int rc = TA_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        out->max_id = sqlite3_column_int64(st, 0);
        out->changes = sqlite3_column_int64(st, 1);
    } else {
        rc = fail(s->db, err, "reading the embeddings state");
    }
    sqlite3_finalize(st);
    return rc;
}

int ta_store_message_embeddings_after(ta_store *s, int64_t after_id, ta_store_embedding_fn cb,
                                      void *ud, ta_error *err)
{
    ta_store_release_view(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT owner_id, model, dim, data, storage FROM emb_vectors"
                           " WHERE id > ? AND owner_table = 'conv_messages' ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s->db, err, "reading embeddings");
    sqlite3_bind_int64(st, 1, after_id);
    int rc = TA_OK, r;
    ta_vec_buf b = {0};
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        uint32_t dim = (uint32_t)sqlite3_column_int(st, 2);
        const float *v = ta_vec_row(&b, st, 4, 3, dim);
        if (v)
            rc = cb(ud, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1), v,
                    dim);
        else if (b.oom)
            rc = ta_error_set(err, TA_ENOMEM, "out of memory");
    }
    if (!rc && r != SQLITE_DONE) rc = fail(s->db, err, "reading embeddings");
    sqlite3_finalize(st);
    free(b.v);
    return rc;
}

int64_t ta_store_message_embedding_count(ta_store *s, uint32_t dim, ta_error *err)
{
    ta_store_release_view(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM emb_vectors WHERE owner_table = 'conv_messages'"
                           " AND dim = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        fail(s->db, err, "counting embeddings");
        return -1;
    }
    sqlite3_bind_int(st, 1, (int)dim);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    if (n < 0) fail(s->db, err, "counting embeddings");
    sqlite3_finalize(st);
    return n;
}

int ta_store_message_vectors(ta_store *s, const int64_t *ids, size_t n, ta_store_embedding_fn cb,
                             void *ud, ta_error *err)
{
    ta_store_release_view(s);
    sqlite3_stmt *st;
    /* through the message's embedding id: two primary-key lookups a message */
    if (sqlite3_prepare_v2(s->db,
                           "SELECT v.model, v.dim, v.data, v.storage FROM conv_messages m"
                           " JOIN emb_vectors v ON v.id = m.embedding_id WHERE m.id = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s->db, err, "reading embeddings");
    int rc = TA_OK;
    ta_vec_buf b = {0};
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        if (sqlite3_step(st) == SQLITE_ROW) {
            uint32_t dim = (uint32_t)sqlite3_column_int(st, 1);
            const float *v = ta_vec_row(&b, st, 3, 2, dim);
            if (v) rc = cb(ud, ids[i], (const char *)sqlite3_column_text(st, 0), v, dim);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    free(b.v);
    return rc;
}
