/*
 * links.c - what the weaver (src/weaver/) writes and reads: links between semantically
 * similar messages, entity embeddings, and entities that differ only by a missing type.
 */
#include <stdlib.h>
#include <string.h>

#include "storage_internal.h"

static int fail(sqlite3 *db, ta_error *err, const char *what)
{
    return ta_error_set(err, TA_EIO, "%s: %s", what, sqlite3_errmsg(db));
}

int ta_store_links_add(ta_store *s, const ta_store_link *links, size_t n, ta_error *err)
{
    ta_store_release_view(s);
    if (!n) return TA_OK;
    bool own = sqlite3_get_autocommit(s->db);
    if (sqlite3_exec(s->db, own ? "BEGIN" : "SAVEPOINT links", NULL, NULL, NULL) != SQLITE_OK)
        return fail(s->db, err, "linking messages");
    sqlite3_stmt *st;
    int rc = TA_OK;
    /* both messages must exist (a link never points at nothing); a link found again
     * keeps the higher similarity */
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO conv_links(a, b, similarity, created_ms)"
                           " SELECT ?1, ?2, ?3, ?4 WHERE (SELECT count(*) FROM conv_messages"
                           " WHERE id IN (?1, ?2)) = 2"
                           " ON CONFLICT(a, b) DO UPDATE SET similarity ="
                           " max(similarity, excluded.similarity)",
                           -1, &st, NULL) != SQLITE_OK)
        rc = fail(s->db, err, "linking messages");
    int64_t now = ta_store_now_ms();
    for (size_t i = 0; !rc && i < n; i++) {
        int64_t a = links[i].a, b = links[i].b;
        if (a == b) continue;
        if (a > b) a = links[i].b, b = links[i].a;
        sqlite3_bind_int64(st, 1, a);
        sqlite3_bind_int64(st, 2, b);
        sqlite3_bind_double(st, 3, links[i].similarity);
        sqlite3_bind_int64(st, 4, now);
        if (sqlite3_step(st) != SQLITE_DONE) rc = fail(s->db, err, "linking messages");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc)
        sqlite3_exec(s->db, own ? "ROLLBACK" : "ROLLBACK TO links; RELEASE links", NULL, NULL,
                     NULL);
    else if (sqlite3_exec(s->db, own ? "COMMIT" : "RELEASE links", NULL, NULL, NULL) != SQLITE_OK)
        rc = fail(s->db, err, "linking messages");
    return rc;
}

json_t *ta_store_message_links(ta_store *s, int64_t id, int64_t limit, ta_error *err)
{
    ta_store_release_view(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT m.id, m.chat_id, m.role, substr(m.content, 1, 200), m.ts_ms,"
                           " l.similarity FROM (SELECT b AS other, similarity FROM conv_links"
                           " WHERE a = ?1 UNION ALL SELECT a, similarity FROM conv_links"
                           " WHERE b = ?1) l JOIN conv_messages m ON m.id = l.other"
                           " ORDER BY l.similarity DESC, m.id LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK) {
        fail(s->db, err, "reading message links");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, limit);
    json_t *arr = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(arr,
                              json_pack("{s:I,s:I,s:s,s:s,s:I,s:f}", "id",
                                        (json_int_t)sqlite3_column_int64(st, 0), "chat_id",
                                        (json_int_t)sqlite3_column_int64(st, 1), "role",
                                        (const char *)sqlite3_column_text(st, 2), "snippet",
                                        (const char *)sqlite3_column_text(st, 3), "timestamp_ms",
                                        (json_int_t)sqlite3_column_int64(st, 4), "similarity",
                                        sqlite3_column_double(st, 5)));
    sqlite3_finalize(st);
    return arr;
}

int ta_store_entity_set_embedding(ta_store *s, int64_t entity_id, const char *model,
                                  const float *vec, uint32_t dim, ta_error *err)
{
    ta_store_release_view(s);
    if (!model || !model[0] || !vec || !dim)
        return ta_error_set(err, TA_EINVAL, "an embedding needs its model and values");
    bool own = sqlite3_get_autocommit(s->db);
    if (sqlite3_exec(s->db, own ? "BEGIN" : "SAVEPOINT entity_emb", NULL, NULL, NULL) != SQLITE_OK)
        return fail(s->db, err, "storing an entity embedding");
    static const char *const steps[] = {
        "SELECT 1 FROM kg_entities WHERE id = ?1",
        "DELETE FROM emb_vectors WHERE owner_table = 'kg_entities' AND owner_id = ?1",
        ("INSERT INTO emb_vectors(model, dim, storage, data, owner_table, owner_id, created_ms)"
         " VALUES (?2, ?3, 'f32', ?4, 'kg_entities', ?1, ?5)"),
    };
    int rc = TA_OK;
    for (size_t i = 0; !rc && i < sizeof steps / sizeof steps[0]; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, steps[i], -1, &st, NULL) != SQLITE_OK) {
            rc = fail(s->db, err, "storing an entity embedding");
            break;
        }
        sqlite3_bind_int64(st, 1, entity_id);
        if (i == 2) {
            sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 3, (int)dim);
            sqlite3_bind_blob(st, 4, vec, (int)(dim * sizeof(float)), SQLITE_STATIC);
            sqlite3_bind_int64(st, 5, ta_store_now_ms());
        }
        int r = sqlite3_step(st);
        if (i == 0 && r != SQLITE_ROW)
            rc =
                ta_error_set(err, TA_ENOTFOUND, "entity %lld does not exist", (long long)entity_id);
        else if (i > 0 && r != SQLITE_DONE)
            rc = fail(s->db, err, "storing an entity embedding");
        sqlite3_finalize(st);
    }
    if (rc)
        sqlite3_exec(s->db, own ? "ROLLBACK" : "ROLLBACK TO entity_emb; RELEASE entity_emb", NULL,
                     NULL, NULL);
    else if (sqlite3_exec(s->db, own ? "COMMIT" : "RELEASE entity_emb", NULL, NULL, NULL) !=
             SQLITE_OK)
        rc = fail(s->db, err, "storing an entity embedding");
    return rc;
}

int ta_store_entity_embeddings(ta_store *s, ta_store_entity_vec_fn cb, void *ud, ta_error *err)
{
    ta_store_release_view(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT e.id, e.type, e.confidence, v.dim, v.data, v.storage"
                           " FROM emb_vectors v JOIN kg_entities e ON e.id = v.owner_id"
                           " WHERE v.owner_table = 'kg_entities' ORDER BY e.id",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s->db, err, "reading entity embeddings");
    int rc = TA_OK, r;
    ta_vec_buf b = {0};
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        uint32_t dim = (uint32_t)sqlite3_column_int(st, 3);
        const float *v = ta_vec_row(&b, st, 5, 4, dim);
        if (v)
            rc = cb(ud, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                    sqlite3_column_double(st, 2), v, dim);
        else if (b.oom)
            rc = ta_error_set(err, TA_ENOMEM, "out of memory");
    }
    if (!rc && r != SQLITE_DONE) rc = fail(s->db, err, "reading entity embeddings");
    sqlite3_finalize(st);
    free(b.v);
    return rc;
}

int ta_store_entity_message_ids(ta_store *s, int64_t entity_id, const char *name, int64_t **ids,
                                size_t *n, ta_error *err)
{
    ta_store_release_view(s);
    *ids = NULL;
    *n = 0;
    char norm[512] = "";
    if (name) ta_store_normalize(name, norm, sizeof norm);
    sqlite3_stmt *st;
    /* by id, or every entity whose label or an alias is the name */
    if (sqlite3_prepare_v2(s->db,
                           "SELECT DISTINCT m.message_id FROM kg_mentions m WHERE m.entity_id IN"
                           " (SELECT id FROM kg_entities WHERE id = ?1 OR norm = ?2 OR EXISTS"
                           " (SELECT 1 FROM json_each(aliases) WHERE lower(trim(value)) = ?2))"
                           " ORDER BY m.message_id",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s->db, err, "finding mentions");
    sqlite3_bind_int64(st, 1, entity_id);
    sqlite3_bind_text(st, 2, norm, -1, SQLITE_STATIC);
    size_t cap = 0;
    int rc = TA_OK;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            int64_t *v = realloc(*ids, cap * sizeof *v);
            if (!v) {
                rc = ta_error_set(err, TA_ENOMEM, "out of memory");
                break;
            }
            *ids = v;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}
