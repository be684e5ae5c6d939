/*
 * memory_index.c - the app's vector index of message embeddings (see app.h).
 *
 * The index mirrors the embeddings table: it holds every float32 message embedding
 * (of the first size seen) up to the embedding id app->index_max_id, as of the table's
 * change counter app->index_changes (storage.h, ta_store_emb_state). Writers call
 * ta_app_index_sync after they commit, which adds what was appended since; deletes go
 * through ta_app_index_remove_messages. Anything else that changed the table (a
 * restore, a delete made elsewhere) shows as another change count and makes sync
 * rebuild from the table.
 *
 * The index is saved to <db-path>/memory.hnsw (checksummed, written atomically) with a
 * tag recording (max id, change count). At start a saved index is loaded when its tag
 * matches the table, caught up with what was appended after it was saved (after a
 * crash that is only the writes since the last save), and its size checked against
 * the table; otherwise it is rebuilt from the table and saved again. Every function
 * here is called with app->store_lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/log.h"
#include "../index/hnsw.h"
#include "../storage/storage.h"
#include "app.h"

/* The tag: bit 63 marks one of ours, bits 40-62 the change count (mod 2^23), bits
 * 0-39 the max id (an id beyond 2^40 is never matched: such a table is rebuilt). */
#define TAG_OURS       (1ull << 63)
#define TAG_ID_BITS    40
#define TAG_ID_MASK    ((1ull << TAG_ID_BITS) - 1)
#define TAG_CHANGE_MSK ((1ull << 23) - 1)

static uint64_t make_tag(int64_t max_id, int64_t changes)
{
    return TAG_OURS | (((uint64_t)changes & TAG_CHANGE_MSK) << TAG_ID_BITS) |
           ((uint64_t)max_id & TAG_ID_MASK);
}

static void index_path(const ta_app *app, char *out, size_t cap)
{
    snprintf(out, cap, "%s/memory.hnsw", app->db_path);
}

/* The index's settings: cosine; float32 walked as int8 (a quarter of the bytes per
 * search step, exact distances). */
#define INDEX_DIST    TA_DIST_COSINE
#define INDEX_STORAGE TA_VEC_F32_I8

static ta_hnsw *make(uint32_t dim)
{
    ta_hnsw_params p = {.dim = dim, .dist = INDEX_DIST, .storage = INDEX_STORAGE, .seed = 1};
    return ta_hnsw_new(&p, NULL);
}

/* Whether a loaded index has them (one saved by an older version may not). */
static bool has_our_settings(const ta_hnsw *h)
{
    ta_hnsw_params p;
    ta_hnsw_get_params(h, &p);
    return p.dist == INDEX_DIST && p.storage == INDEX_STORAGE;
}

typedef struct {
    ta_app *app;
    size_t added, skipped;
} adder;

static int add_one(void *ud, int64_t id, const char *model, const float *vec, uint32_t dim)
{
    (void)model;
    adder *a = ud;
    ta_app *app = a->app;
    if (!app->msg_index) app->msg_index = make(dim);
    ta_hnsw_params p;
    if (app->msg_index) ta_hnsw_get_params(app->msg_index, &p);
    if (app->msg_index && p.dim == dim &&
        ta_hnsw_add(app->msg_index, (uint64_t)id, vec, NULL) == TA_OK) {
        a->added++;
        atomic_fetch_add(&app->index_unsaved, 1);
    } else {
        a->skipped++;
    }
    return 0;
}

/* Adds what the table has after app->index_max_id and moves the mark to st. */
static int catch_up(ta_app *app, const ta_store_emb_state *st, adder *a, ta_error *err)
{
    int rc = ta_store_message_embeddings_after(app->store, app->index_max_id, add_one, a, err);
    if (rc) return rc;
    app->index_max_id = st->max_id;
    app->index_changes = st->changes;
    return TA_OK;
}

static int rebuild(ta_app *app, const ta_store_emb_state *st, size_t *indexed, size_t *skipped,
                   ta_error *err)
{
    ta_hnsw_free(app->msg_index);
    app->msg_index = NULL;
    app->index_max_id = 0;
    app->index_changes = st->changes;
    atomic_store(&app->index_unsaved, 1); /* the file no longer matches, even when empty */
    adder a = {app, 0, 0};
    int rc = catch_up(app, st, &a, err);
    if (indexed) *indexed = a.added;
    if (skipped) *skipped = a.skipped;
    return rc;
}

int ta_app_index_rebuild(ta_app *app, size_t *indexed, size_t *skipped, ta_error *err)
{
    if (!app->store) return TA_OK;
    ta_store_emb_state st;
    int rc = ta_store_embedding_state(app->store, &st, err);
    return rc ? rc : rebuild(app, &st, indexed, skipped, err);
}

int ta_app_index_sync(ta_app *app, ta_error *err)
{
    if (!app->store) return TA_OK;
    ta_store_emb_state st;
    int rc = ta_store_embedding_state(app->store, &st, err);
    if (rc) return rc;
    if (st.changes != app->index_changes || st.max_id < app->index_max_id)
        return rebuild(app, &st, NULL, NULL, err);
    if (st.max_id == app->index_max_id) return TA_OK;
    adder a = {app, 0, 0};
    return catch_up(app, &st, &a, err);
}

bool ta_app_index_has(const ta_app *app, int64_t message_id)
{
    return app->msg_index && ta_hnsw_contains(app->msg_index, (uint64_t)message_id);
}

int ta_app_index_remove_messages(ta_app *app, const int64_t *ids, size_t n, ta_error *err)
{
    for (size_t i = 0; app->msg_index && i < n; i++)
        if (ta_hnsw_remove(app->msg_index, (uint64_t)ids[i], NULL) == TA_OK)
            atomic_fetch_add(&app->index_unsaved, 1);
    /* the deletes are applied: take the table's new change count as ours */
    if (!app->store) return TA_OK;
    ta_store_emb_state st;
    int rc = ta_store_embedding_state(app->store, &st, err);
    if (rc) return rc;
    if (st.max_id != app->index_max_id) { /* appends we have not seen: take them too */
        app->index_changes = st.changes;
        adder a = {app, 0, 0};
        return catch_up(app, &st, &a, err);
    }
    app->index_changes = st.changes;
    return TA_OK;
}

int ta_app_index_save(ta_app *app, ta_error *err)
{
    char path[4200];
    index_path(app, path, sizeof path);
    int rc = TA_OK;
    if (!app->msg_index || !ta_hnsw_count(app->msg_index)) {
        if (unlink(path) && errno != ENOENT)
            rc = ta_error_set(err, TA_EIO, "%s: %s", path, strerror(errno));
    } else {
        ta_hnsw_set_tag(app->msg_index, make_tag(app->index_max_id, app->index_changes));
        rc = ta_hnsw_save(app->msg_index, path, err);
    }
    if (!rc) atomic_store(&app->index_unsaved, 0);
    return rc;
}

int ta_app_index_open(ta_app *app, ta_error *err)
{
    if (!app->store) return TA_OK;
    ta_store_emb_state st;
    int rc = ta_store_embedding_state(app->store, &st, err);
    if (rc) return rc;
    char path[4200];
    index_path(app, path, sizeof path);
    ta_error lerr = {0};
    const char *why = NULL;
    ta_hnsw *h = ta_hnsw_load(path, &lerr);
    bool had_file = h != NULL;
    if (!h) {
        why = lerr.code == TA_ENOTFOUND ? "no saved index" : lerr.message;
    } else {
        uint64_t tag = ta_hnsw_tag(h);
        int64_t saved_max = (int64_t)(tag & TAG_ID_MASK);
        if (!(tag & TAG_OURS) ||
            ((tag >> TAG_ID_BITS) & TAG_CHANGE_MSK) != ((uint64_t)st.changes & TAG_CHANGE_MSK))
            why = "the embeddings changed since it was saved";
        else if (saved_max > st.max_id || st.max_id > (int64_t)TAG_ID_MASK)
            why = "it is newer than the database";
        else if (!has_our_settings(h))
            why = "it was saved with other settings (metric or storage)";
        if (why) {
            ta_hnsw_free(h);
            h = NULL;
        } else {
            ta_hnsw_free(app->msg_index);
            app->msg_index = h;
            app->index_max_id = saved_max;
            app->index_changes = st.changes;
            atomic_store(&app->index_unsaved, 0);
            adder a = {app, 0, 0};
            rc = catch_up(app, &st, &a, err);
            if (rc) return rc;
            ta_hnsw_params p;
            ta_hnsw_get_params(h, &p);
            int64_t want = ta_store_message_embedding_count(app->store, p.dim, err);
            if (want < 0) return TA_EIO;
            if ((int64_t)ta_hnsw_count(h) == want) {
                ta_log_info("memory vector index: loaded %zu vectors from %s, %zu added since",
                            ta_hnsw_count(h) - a.added, path, a.added);
                return TA_OK;
            }
            why = "it does not hold every embedding";
        }
    }
    size_t indexed = 0, skipped = 0;
    rc = rebuild(app, &st, &indexed, &skipped, err);
    if (rc) return rc;
    if (indexed || skipped || had_file)
        ta_log_info("memory vector index: rebuilt from the database (%s): %zu message "
                    "embeddings%s",
                    why, indexed, skipped ? " (others of another size skipped)" : "");
    ta_error serr = {0};
    if (ta_app_index_save(app, &serr))
        ta_log_warn("memory vector index: not saved: %s", serr.message);
    return TA_OK;
}
