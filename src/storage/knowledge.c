/*
 * knowledge.c - the knowledge graph's tables (see storage.h): entities found by label
 * or alias (matched after normalizing case and spaces), relations with weight and
 * provenance, neighbourhoods and shortest paths by recursive SQL, and merging two
 * entities into one without losing relations, mentions or where they came from.
 */
#include <stdlib.h>
#include <string.h>

#include "storage_internal.h"

static int fail(sqlite3 *db, ta_error *err, const char *what)
{
    int code = sqlite3_errcode(db);
    return ta_error_set(err, code == SQLITE_CONSTRAINT ? TA_EINVAL : TA_EIO, "%s: %s", what,
                        sqlite3_errmsg(db));
}

static json_t *entity_row(sqlite3_stmt *st)
{
    const char *al = (const char *)sqlite3_column_text(st, 4);
    json_t *aliases = al ? json_loads(al, 0, NULL) : NULL;
    return json_pack("{s:I,s:s,s:s,s:o,s:f,s:I,s:I}", "id", (json_int_t)sqlite3_column_int64(st, 0),
                     "label", (const char *)sqlite3_column_text(st, 1), "type",
                     (const char *)sqlite3_column_text(st, 2), "aliases",
                     aliases ? aliases : json_array(), "confidence", sqlite3_column_double(st, 3),
                     "created_ms", (json_int_t)sqlite3_column_int64(st, 5), "updated_ms",
                     (json_int_t)sqlite3_column_int64(st, 6));
}

#define ENTITY_COLUMNS "id, label, type, confidence, aliases, created_ms, updated_ms"

int ta_store_entity_upsert(ta_store *s, const char *label, const char *type, const json_t *aliases,
                           double confidence, int64_t *id, ta_error *err)
{
    ta_store_release_view(s);
    char n[512];
    ta_store_normalize(label ? label : "", n, sizeof n);
    if (!n[0]) return ta_error_set(err, TA_EINVAL, "an entity needs a label");
    char *al = aliases ? json_dumps(aliases, JSON_COMPACT) : NULL;
    sqlite3_stmt *st;
    int rc = TA_OK;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO kg_entities(label, norm, type, aliases, confidence,"
                           " created_ms, updated_ms) VALUES (?1,?2,?3,coalesce(?4,'[]'),?5,?6,?6)"
                           " ON CONFLICT(norm, type) DO UPDATE SET"
                           " confidence = max(confidence, excluded.confidence),"
                           " aliases = CASE WHEN ?4 IS NULL THEN aliases ELSE"
                           " (SELECT json_group_array(DISTINCT value) FROM"
                           " (SELECT value FROM json_each(kg_entities.aliases) UNION"
                           " SELECT value FROM json_each(?4))) END,"
                           " updated_ms = excluded.updated_ms RETURNING id",
                           -1, &st, NULL) != SQLITE_OK) {
        free(al);
        return fail(s->db, err, "adding an entity");
    }
    sqlite3_bind_text(st, 1, label, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, n, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, type ? type : "", -1, SQLITE_STATIC);
    if (al)
        sqlite3_bind_text(st, 4, al, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_double(st, 5, confidence);
    sqlite3_bind_int64(st, 6, ta_store_now_ms());
    if (sqlite3_step(st) == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else
        rc = fail(s->db, err, "adding an entity");
    sqlite3_finalize(st);
    free(al);
    return rc;
}

json_t *ta_store_entity_find(ta_store *s, const char *name, ta_error *err)
{
    char n[512];
    ta_store_normalize(name ? name : "", n, sizeof n);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " ENTITY_COLUMNS " FROM kg_entities WHERE norm = ?1 OR EXISTS"
                           " (SELECT 1 FROM json_each(kg_entities.aliases)"
                           " WHERE lower(trim(value)) = ?1) ORDER BY confidence DESC, id",
                           -1, &st, NULL) != SQLITE_OK) {
        fail(s->db, err, "finding entities");
        return NULL;
    }
    sqlite3_bind_text(st, 1, n, -1, SQLITE_STATIC);
    json_t *arr = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(arr, entity_row(st));
    sqlite3_finalize(st);
    return arr;
}

json_t *ta_store_entity_get(ta_store *s, int64_t id, ta_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT " ENTITY_COLUMNS " FROM kg_entities WHERE id = ?", -1,
                           &st, NULL) != SQLITE_OK) {
        fail(s->db, err, "reading an entity");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    json_t *e = sqlite3_step(st) == SQLITE_ROW ? entity_row(st) : NULL;
    sqlite3_finalize(st);
    if (!e) {
        ta_error_set(err, TA_ENOTFOUND, "entity %lld does not exist", (long long)id);
        return NULL;
    }
    /* provenance: the entities merged into this one */
    json_t *from = json_array();
    if (sqlite3_prepare_v2(s->db,
                           "SELECT dropped_id, dropped_label, dropped_type, reason, similarity,"
                           " merged_ms FROM kg_merges WHERE keep_id = ? ORDER BY id",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *m =
                json_pack("{s:I,s:s,s:s,s:s,s:I}", "id", (json_int_t)sqlite3_column_int64(st, 0),
                          "label", (const char *)sqlite3_column_text(st, 1), "type",
                          (const char *)sqlite3_column_text(st, 2), "reason",
                          (const char *)sqlite3_column_text(st, 3), "merged_ms",
                          (json_int_t)sqlite3_column_int64(st, 5));
            if (m && sqlite3_column_type(st, 4) != SQLITE_NULL)
                json_object_set_new(m, "similarity", json_real(sqlite3_column_double(st, 4)));
            json_array_append_new(from, m);
        }
        sqlite3_finalize(st);
    }
    json_object_set_new(e, "merged_from", from);
    return e;
}

int ta_store_relation_add(ta_store *s, int64_t from, int64_t to, const char *type, double weight,
                          const char *provenance, int64_t *id, ta_error *err)
{
    ta_store_release_view(s);
    if (!type || !type[0]) return ta_error_set(err, TA_EINVAL, "a relation needs a type");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO kg_relations(from_id, to_id, type, weight, provenance,"
                           " created_ms) SELECT ?1, ?2, ?3, ?4, ?5, ?6"
                           " WHERE EXISTS (SELECT 1 FROM kg_entities WHERE id = ?1)"
                           " AND EXISTS (SELECT 1 FROM kg_entities WHERE id = ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s->db, err, "adding a relation");
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, weight);
    if (provenance)
        sqlite3_bind_text(st, 5, provenance, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    sqlite3_bind_int64(st, 6, ta_store_now_ms());
    int rc = sqlite3_step(st) == SQLITE_DONE ? TA_OK : fail(s->db, err, "adding a relation");
    sqlite3_finalize(st);
    if (rc) return rc;
    if (!sqlite3_changes(s->db))
        return ta_error_set(err, TA_ENOTFOUND, "entity %lld or %lld does not exist",
                            (long long)from, (long long)to);
    *id = sqlite3_last_insert_rowid(s->db);
    return TA_OK;
}

json_t *ta_store_neighborhood(ta_store *s, int64_t id, int hops, ta_error *err)
{
    if (hops < 1 || hops > 6) {
        ta_error_set(err, TA_EINVAL, "hops: 1 to 6");
        return NULL;
    }
    sqlite3_stmt *st;
    /* breadth-first over relations in both directions; each entity at its least depth */
    if (sqlite3_prepare_v2(s->db,
                           "WITH RECURSIVE walk(id, depth) AS (SELECT ?1, 0 UNION"
                           " SELECT CASE WHEN r.from_id = w.id THEN r.to_id ELSE r.from_id END,"
                           " w.depth + 1 FROM walk w JOIN kg_relations r"
                           " ON r.from_id = w.id OR r.to_id = w.id WHERE w.depth < ?2)"
                           " SELECT e.id, e.label, e.type, min(w.depth) FROM walk w"
                           " JOIN kg_entities e ON e.id = w.id GROUP BY e.id"
                           " ORDER BY min(w.depth), e.id",
                           -1, &st, NULL) != SQLITE_OK) {
        fail(s->db, err, "walking the graph");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, hops);
    json_t *nodes = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(nodes, json_pack("{s:I,s:s,s:s,s:i}", "id",
                                               (json_int_t)sqlite3_column_int64(st, 0), "label",
                                               (const char *)sqlite3_column_text(st, 1), "type",
                                               (const char *)sqlite3_column_text(st, 2), "depth",
                                               sqlite3_column_int(st, 3)));
    sqlite3_finalize(st);
    if (!json_array_size(nodes)) {
        json_decref(nodes);
        ta_error_set(err, TA_ENOTFOUND, "entity %lld does not exist", (long long)id);
        return NULL;
    }
    json_t *edges = json_array();
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, from_id, to_id, type, weight FROM kg_relations"
                           " WHERE from_id IN (SELECT value FROM json_each(?1))"
                           " AND to_id IN (SELECT value FROM json_each(?1)) ORDER BY id",
                           -1, &st, NULL) == SQLITE_OK) {
        json_t *ids = json_array();
        size_t i;
        json_t *n;
        json_array_foreach(nodes, i, n) json_array_append(ids, json_object_get(n, "id"));
        char *idtext = json_dumps(ids, JSON_COMPACT);
        sqlite3_bind_text(st, 1, idtext, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(edges, json_pack("{s:I,s:I,s:I,s:s,s:f}", "id",
                                                   (json_int_t)sqlite3_column_int64(st, 0), "from",
                                                   (json_int_t)sqlite3_column_int64(st, 1), "to",
                                                   (json_int_t)sqlite3_column_int64(st, 2), "type",
                                                   (const char *)sqlite3_column_text(st, 3),
                                                   "weight", sqlite3_column_double(st, 4)));
        free(idtext);
        json_decref(ids);
        sqlite3_finalize(st);
    }
    return json_pack("{s:o,s:o}", "nodes", nodes, "edges", edges);
}

json_t *ta_store_shortest_path(ta_store *s, int64_t from, int64_t to, int max_hops, ta_error *err)
{
    if (max_hops < 1 || max_hops > 8) {
        ta_error_set(err, TA_EINVAL, "max_hops: 1 to 8");
        return NULL;
    }
    sqlite3_stmt *st;
    /* breadth-first with the path so far as text; the first row that reaches `to` is a
     * shortest path (rows come out by depth) */
    if (sqlite3_prepare_v2(
            s->db,
            "WITH RECURSIVE walk(id, depth, path) AS (SELECT ?1, 0, ',' || ?1 || ',' UNION ALL"
            " SELECT CASE WHEN r.from_id = w.id THEN r.to_id ELSE r.from_id END, w.depth + 1,"
            " w.path || (CASE WHEN r.from_id = w.id THEN r.to_id ELSE r.from_id END) || ','"
            " FROM walk w JOIN kg_relations r ON r.from_id = w.id OR r.to_id = w.id"
            " WHERE w.depth < ?3 AND w.id <> ?2 AND instr(w.path, ',' ||"
            " (CASE WHEN r.from_id = w.id THEN r.to_id ELSE r.from_id END) || ',') = 0)"
            " SELECT path, depth FROM walk WHERE id = ?2 ORDER BY depth LIMIT 1",
            -1, &st, NULL) != SQLITE_OK) {
        fail(s->db, err, "finding a path");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    sqlite3_bind_int(st, 3, max_hops);
    json_t *path = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        path = json_array();
        const char *p = (const char *)sqlite3_column_text(st, 0);
        while (p && *p) {
            while (*p == ',')
                p++;
            if (!*p) break;
            json_array_append_new(path, json_integer(strtoll(p, (char **)&p, 10)));
        }
    }
    sqlite3_finalize(st);
    if (!path)
        ta_error_set(err, TA_ENOTFOUND, "no path from %lld to %lld within %d hops", (long long)from,
                     (long long)to, max_hops);
    return path;
}

int ta_store_entity_merge(ta_store *s, int64_t keep, int64_t drop, ta_error *err)
{
    return ta_store_entity_merge_why(s, keep, drop, "requested", -1, err);
}

int ta_store_entity_merge_why(ta_store *s, int64_t keep, int64_t drop, const char *reason,
                              double similarity, ta_error *err)
{
    ta_store_release_view(s);
    if (keep == drop) return ta_error_set(err, TA_EINVAL, "an entity cannot merge into itself");
    if (sqlite3_exec(s->db, "SAVEPOINT merge", NULL, NULL, NULL) != SQLITE_OK)
        return fail(s->db, err, "merging");
    sqlite3_stmt *st;
    /* ?1 keep, ?2 drop: aliases gain the dropped label and aliases; relations and
     * mentions move (self-loops the merge would create are dropped); provenance notes
     * the merge; then the dropped entity goes */
    static const char *const steps[] = {
        "SELECT 1 FROM kg_entities WHERE id = ?1 AND EXISTS"
        " (SELECT 1 FROM kg_entities WHERE id = ?2)",
        "UPDATE kg_entities SET aliases = (SELECT json_group_array(DISTINCT value) FROM"
        " (SELECT value FROM json_each((SELECT aliases FROM kg_entities WHERE id = ?1)) UNION"
        " SELECT value FROM json_each((SELECT aliases FROM kg_entities WHERE id = ?2)) UNION"
        " SELECT label FROM kg_entities WHERE id = ?2)),"
        " confidence = max(confidence, (SELECT confidence FROM kg_entities WHERE id = ?2)),"
        " updated_ms = CAST(strftime('%s') AS INTEGER) * 1000 WHERE id = ?1",
        "UPDATE kg_relations SET from_id = ?1, provenance = coalesce(provenance || '; ', '') ||"
        " 'merged from entity ' || ?2 WHERE from_id = ?2",
        "UPDATE kg_relations SET to_id = ?1, provenance = coalesce(provenance || '; ', '') ||"
        " 'merged from entity ' || ?2 WHERE to_id = ?2",
        "DELETE FROM kg_relations WHERE from_id = ?1 AND to_id = ?1",
        "INSERT OR IGNORE INTO kg_mentions(entity_id, message_id)"
        " SELECT ?1, message_id FROM kg_mentions WHERE entity_id = ?2",
        /* provenance: what was merged in, why (?3) and how similar (?4, NULL: n/a) */
        "INSERT INTO kg_merges(keep_id, dropped_id, dropped_label, dropped_type, reason,"
        " similarity, merged_ms) SELECT ?1, id, label, type, ?3, ?4,"
        " CAST(strftime('%s') AS INTEGER) * 1000 FROM kg_entities WHERE id = ?2",
        "DELETE FROM kg_entities WHERE id = ?2",
    };
    int rc = TA_OK;
    for (size_t i = 0; !rc && i < sizeof steps / sizeof steps[0]; i++) {
        if (sqlite3_prepare_v2(s->db, steps[i], -1, &st, NULL) != SQLITE_OK) {
            rc = fail(s->db, err, "merging");
            break;
        }
        sqlite3_bind_int64(st, 1, keep);
        sqlite3_bind_int64(st, 2, drop);
        if (sqlite3_bind_parameter_count(st) >= 3) {
            sqlite3_bind_text(st, 3, reason ? reason : "requested", -1, SQLITE_STATIC);
            if (similarity >= 0)
                sqlite3_bind_double(st, 4, similarity);
            else
                sqlite3_bind_null(st, 4);
        }
        int r = sqlite3_step(st);
        if (i == 0 && r != SQLITE_ROW)
            rc = ta_error_set(err, TA_ENOTFOUND, "entity %lld or %lld does not exist",
                              (long long)keep, (long long)drop);
        else if (i > 0 && r != SQLITE_DONE)
            rc = fail(s->db, err, "merging");
        sqlite3_finalize(st);
    }
    sqlite3_exec(s->db, rc ? "ROLLBACK TO merge; RELEASE merge" : "RELEASE merge", NULL, NULL,
                 NULL);
    return rc;
}

/* [[a, b], ...] from a query of two id columns. */
static json_t *id_pairs(ta_store *s, const char *sql, const char *what, ta_error *err)
{
    ta_store_release_view(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail(s->db, err, what);
        return NULL;
    }
    json_t *arr = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(arr, json_pack("[I,I]", (json_int_t)sqlite3_column_int64(st, 0),
                                             (json_int_t)sqlite3_column_int64(st, 1)));
    sqlite3_finalize(st);
    return arr;
}

json_t *ta_store_duplicate_entities(ta_store *s, ta_error *err)
{
    /* the same normalized label under different types, or one's label among the
     * other's aliases */
    return id_pairs(s,
                    "SELECT a.id, b.id FROM kg_entities a JOIN kg_entities b"
                    " ON a.id < b.id AND (a.norm = b.norm OR EXISTS (SELECT 1 FROM"
                    " json_each(b.aliases) WHERE lower(trim(value)) = a.norm) OR EXISTS"
                    " (SELECT 1 FROM json_each(a.aliases) WHERE lower(trim(value)) ="
                    " b.norm)) ORDER BY a.id, b.id LIMIT 1000",
                    "finding duplicates", err);
}

json_t *ta_store_untyped_duplicates(ta_store *s, ta_error *err)
{
    /* an untyped entity whose normalized label belongs to exactly one typed entity */
    return id_pairs(s,
                    "SELECT min(t.id), u.id FROM kg_entities u JOIN kg_entities t"
                    " ON t.norm = u.norm AND t.type <> '' WHERE u.type = ''"
                    " GROUP BY u.id HAVING count(*) = 1 ORDER BY u.id",
                    "finding duplicate entities", err);
}
