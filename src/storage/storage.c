/*
 * storage.c - see storage.h: opening and migrating the database, conversations with
 * their embeddings and entities, full-text search, export/import, backup/restore.
 */
#include "storage_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t ta_store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fills err from the connection's last error. */
static int db_fail(sqlite3 *db, ta_error *err, const char *what)
{
    int code = sqlite3_errcode(db);
    int ta = code == SQLITE_CONSTRAINT                         ? TA_EINVAL
             : code == SQLITE_BUSY || code == SQLITE_LOCKED    ? TA_EUNAVAILABLE
             : code == SQLITE_NOMEM                            ? TA_ENOMEM
             : code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? TA_EINVAL
                                                               : TA_EIO;
    return ta_error_set(err, ta, "%s: %s", what, sqlite3_errmsg(db));
}

static int exec(sqlite3 *db, const char *sql, ta_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return TA_OK;
    int rc = ta_error_set(err, TA_EIO, "database: %s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return rc;
}

static int64_t query_int(sqlite3 *db, const char *sql, int64_t dflt)
{
    sqlite3_stmt *st;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return dflt;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int version_of(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "SELECT version FROM meta_versions WHERE db = ?", -1, &st, NULL))
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v < 0 ? 0 : v;
}

/* Checks that db is tabagent's (or empty) and not newer than this build. */
static int check_identity(sqlite3 *db, bool allow_empty, ta_error *err)
{
    int64_t app = query_int(db, "PRAGMA application_id", -1);
    int64_t tables = query_int(db, "SELECT count(*) FROM sqlite_schema", -1);
    if (tables < 0) return db_fail(db, err, "not a database");
    if (app != TA_STORE_APP_ID && !(allow_empty && app == 0 && tables == 0))
        return ta_error_set(err, TA_EINVAL,
                            "not a tabagent database (application id %lld, %lld tables)",
                            (long long)app, (long long)tables);
    if (tables == 0) return TA_OK;
    for (const char *const *d = ta_logical_dbs; *d; d++) {
        int v = version_of(db, *d);
        if (v > ta_schema_latest(*d))
            return ta_error_set(err, TA_EINVAL,
                                "database '%s' is at schema version %d; this build knows %d "
                                "(a newer tabagent wrote it)",
                                *d, v, ta_schema_latest(*d));
    }
    return TA_OK;
}

/* Runs the migrations a database lacks, each with its version, in one transaction. */
static int migrate(sqlite3 *db, ta_error *err)
{
    int rc = exec(db, "BEGIN IMMEDIATE", err);
    if (rc) return rc;
    rc = exec(db,
              "CREATE TABLE IF NOT EXISTS meta_versions(db TEXT PRIMARY KEY,"
              " version INTEGER NOT NULL, applied_ms INTEGER NOT NULL)",
              err);
    char sql[256];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d", TA_STORE_APP_ID);
    if (!rc) rc = exec(db, sql, err);
    for (size_t i = 0; !rc && i < ta_n_migrations; i++) {
        const ta_migration *m = &ta_migrations[i];
        if (version_of(db, m->db) >= m->version) continue;
        rc = exec(db, m->sql, err);
        if (rc) {
            ta_error_prefix(err, "migrating %s to version %d: ", m->db, m->version);
            break;
        }
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db,
                               "INSERT INTO meta_versions(db, version, applied_ms) VALUES (?,?,?)"
                               " ON CONFLICT(db) DO UPDATE SET version = excluded.version,"
                               " applied_ms = excluded.applied_ms",
                               -1, &st, NULL) != SQLITE_OK)
            rc = db_fail(db, err, "recording a schema version");
        if (!rc) {
            sqlite3_bind_text(st, 1, m->db, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, m->version);
            sqlite3_bind_int64(st, 3, ta_store_now_ms());
            if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(db, err, "recording a version");
            sqlite3_finalize(st);
        }
    }
    if (rc) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return exec(db, "COMMIT", err);
}

static int prepare(ta_store *s, sqlite3_stmt **st, const char *sql, ta_error *err)
{
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return db_fail(s->db, err, "preparing a statement");
    return TA_OK;
}

static int open_conn(const char *path, int flags, sqlite3 **out, ta_error *err)
{
    if (sqlite3_open_v2(path, out, flags, NULL) != SQLITE_OK) {
        int rc =
            ta_error_set(err, TA_EIO, "%s: %s", path, *out ? sqlite3_errmsg(*out) : "cannot open");
        sqlite3_close(*out);
        *out = NULL;
        return rc;
    }
    sqlite3_busy_timeout(*out, 5000);
    sqlite3_extended_result_codes(*out, 0);
    return TA_OK;
}

ta_store *ta_store_open(const char *dir, ta_error *err)
{
    ta_store *s = calloc(1, sizeof *s);
    if (!s) {
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    if ((size_t)snprintf(s->path, sizeof s->path, "%s/tabagent.db", dir) >= sizeof s->path) {
        ta_error_set(err, TA_EINVAL, "database path too long");
        free(s);
        return NULL;
    }
    int rc = open_conn(s->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                       &s->db, err);
    if (!rc) rc = exec(s->db, "PRAGMA journal_mode = WAL", err);
    if (!rc) rc = exec(s->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", err);
    if (!rc) rc = check_identity(s->db, true, err);
    if (!rc) rc = migrate(s->db, err);
    if (!rc)
        rc = prepare(s, &s->ins_msg,
                     "INSERT INTO conv_messages(chat_id, role, content, ts_ms, token_count,"
                     " attachments, id) VALUES (?,?,?,?,?,?,?)",
                     err);
    if (!rc)
        rc = prepare(s, &s->ins_emb,
                     "INSERT INTO emb_vectors(model, dim, storage, data, owner_table,"
                     " owner_id, created_ms) VALUES (?,?,'f32',?,'conv_messages',?,?)",
                     err);
    if (!rc)
        rc = prepare(s, &s->set_emb, "UPDATE conv_messages SET embedding_id = ? WHERE id = ?", err);
    if (!rc)
        rc = prepare(s, &s->touch_chat, "UPDATE conv_chats SET updated_ms = ? WHERE id = ?", err);
    if (!rc)
        rc = prepare(s, &s->find_entity, "SELECT id FROM kg_entities WHERE norm = ? AND type = ''",
                     err);
    if (!rc)
        rc = prepare(s, &s->ins_entity,
                     "INSERT INTO kg_entities(label, norm, created_ms, updated_ms)"
                     " VALUES (?,?,?,?)",
                     err);
    if (!rc)
        rc = prepare(s, &s->get_msg,
                     "SELECT id, chat_id, role, content, ts_ms, token_count, attachments,"
                     " embedding_id, tier FROM conv_messages WHERE id = ?",
                     err);
    if (!rc)
        rc = prepare(s, &s->view_msg,
                     "SELECT id, chat_id, role, content, ts_ms, token_count, attachments,"
                     " embedding_id, tier FROM conv_messages WHERE id = ?",
                     err);
    if (!rc)
        rc = prepare(s, &s->next_id,
                     "SELECT max((SELECT coalesce(max(id), 0) FROM conv_messages),"
                     " (SELECT CAST(value AS INTEGER) FROM meta_index_state"
                     " WHERE name = 'conv_fts')) + 1",
                     err);
    if (!rc) rc = prepare(s, &s->begin, "BEGIN IMMEDIATE", err);
    if (!rc) rc = prepare(s, &s->commit, "COMMIT", err);
    if (!rc) rc = prepare(s, &s->rollback, "ROLLBACK", err);
    if (!rc)
        rc = prepare(s, &s->ins_mention,
                     "INSERT OR IGNORE INTO kg_mentions(entity_id, message_id) VALUES (?,?)", err);
    if (rc) {
        ta_store_close(s);
        return NULL;
    }
    return s;
}

void ta_store_close(ta_store *s)
{
    if (!s) return;
    sqlite3_stmt *sts[] = {s->ins_msg,     s->ins_emb,     s->set_emb, s->touch_chat, s->ins_entity,
                           s->find_entity, s->ins_mention, s->get_msg, s->begin,      s->commit,
                           s->rollback,    s->view_msg,    s->next_id};
    for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++)
        sqlite3_finalize(sts[i]);
    sqlite3_close(s->db);
    free(s);
}

const char *ta_store_path(const ta_store *s)
{
    return s->path;
}

int ta_store_schema_version(ta_store *s, const char *db)
{
    for (const char *const *d = ta_logical_dbs; *d; d++)
        if (!strcmp(*d, db)) return version_of(s->db, db);
    return -1;
}

/* ---- conversations ------------------------------------------------------------------ */

int ta_store_chat_create(ta_store *s, const char *title, const char *topic, int64_t *id,
                         ta_error *err)
{
    ta_store_release_view(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO conv_chats(title, topic, created_ms, updated_ms)"
                           " VALUES (?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s->db, err, "creating a chat");
    int64_t t = ta_store_now_ms();
    sqlite3_bind_text(st, 1, title ? title : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, topic ? topic : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, t);
    sqlite3_bind_int64(st, 4, t);
    int rc = sqlite3_step(st) == SQLITE_DONE ? TA_OK : db_fail(s->db, err, "creating a chat");
    sqlite3_finalize(st);
    if (!rc) *id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

/* Lower-case, trimmed, inner whitespace collapsed: how entity labels are matched. */
void ta_store_normalize(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    bool space = false;
    while (*in && isspace((unsigned char)*in))
        in++;
    for (; *in && o + 1 < cap; in++) {
        unsigned char ch = (unsigned char)*in;
        if (isspace(ch)) {
            space = true;
            continue;
        }
        if (space && o + 2 < cap) out[o++] = ' ';
        space = false;
        out[o++] = (char)tolower(ch);
    }
    out[o] = '\0';
}

static int step_done(sqlite3_stmt *st, sqlite3 *db, ta_error *err, const char *what)
{
    int r = sqlite3_step(st);
    int rc = r == SQLITE_DONE || r == SQLITE_ROW ? TA_OK : db_fail(db, err, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* One message inside an open transaction, with id mid (see next_message_id). */
static int add_one(ta_store *s, const ta_message_in *m, int64_t mid, int64_t *id, ta_error *err)
{
    if (!m->role || !m->content)
        return ta_error_set(err, TA_EINVAL, "a message needs a role and content");
    if (m->embedding && (!m->embedding_dim || !m->embedding_model))
        return ta_error_set(err, TA_EINVAL, "an embedding needs its dimension and model");
    int64_t ts = m->timestamp_ms ? m->timestamp_ms : ta_store_now_ms();
    char *att = m->attachments ? json_dumps(m->attachments, JSON_COMPACT) : NULL;
    sqlite3_stmt *st = s->ins_msg;
    sqlite3_bind_int64(st, 1, m->chat_id);
    sqlite3_bind_text(st, 2, m->role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->content, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, ts);
    sqlite3_bind_int(st, 5, m->token_count);
    if (att)
        sqlite3_bind_text(st, 6, att, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, mid);
    int r = sqlite3_step(st);
    int rc = TA_OK;
    if (r != SQLITE_DONE) {
        if (r == SQLITE_CONSTRAINT && strstr(sqlite3_errmsg(s->db), "FOREIGN KEY"))
            rc = ta_error_set(err, TA_ENOTFOUND, "chat %lld does not exist", (long long)m->chat_id);
        else
            rc = db_fail(s->db, err, "adding a message");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    free(att);
    if (rc) return rc;
    if (m->embedding) {
        st = s->ins_emb;
        sqlite3_bind_text(st, 1, m->embedding_model, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, (int)m->embedding_dim);
        sqlite3_bind_blob(st, 3, m->embedding, (int)(m->embedding_dim * sizeof(float)),
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, mid);
        sqlite3_bind_int64(st, 5, ts);
        rc = step_done(st, s->db, err, "adding an embedding");
        if (!rc) {
            sqlite3_bind_int64(s->set_emb, 1, sqlite3_last_insert_rowid(s->db));
            sqlite3_bind_int64(s->set_emb, 2, mid);
            rc = step_done(s->set_emb, s->db, err, "linking an embedding");
        }
    }
    for (uint32_t i = 0; !rc && i < m->n_entities; i++) {
        char norm[512];
        ta_store_normalize(m->entities[i], norm, sizeof norm);
        if (!norm[0]) continue;
        int64_t eid = 0;
        sqlite3_bind_text(s->find_entity, 1, norm, -1, SQLITE_STATIC);
        if (sqlite3_step(s->find_entity) == SQLITE_ROW)
            eid = sqlite3_column_int64(s->find_entity, 0);
        sqlite3_reset(s->find_entity);
        sqlite3_clear_bindings(s->find_entity);
        if (!eid) {
            sqlite3_bind_text(s->ins_entity, 1, m->entities[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(s->ins_entity, 2, norm, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s->ins_entity, 3, ts);
            sqlite3_bind_int64(s->ins_entity, 4, ts);
            rc = step_done(s->ins_entity, s->db, err, "adding an entity");
            eid = sqlite3_last_insert_rowid(s->db);
        }
        if (!rc) {
            sqlite3_bind_int64(s->ins_mention, 1, eid);
            sqlite3_bind_int64(s->ins_mention, 2, mid);
            rc = step_done(s->ins_mention, s->db, err, "linking an entity");
        }
    }
    if (!rc && id) *id = mid;
    return rc;
}

int ta_store_messages_add(ta_store *s, const ta_message_in *m, size_t n, int64_t *ids,
                          ta_error *err)
{
    ta_store_release_view(s);
    /* a transaction of its own (prepared BEGIN/COMMIT), or a savepoint inside the
     * caller's */
    bool own = sqlite3_get_autocommit(s->db);
    int rc =
        own ? step_done(s->begin, s->db, err, "BEGIN") : exec(s->db, "SAVEPOINT add_messages", err);
    /* Ids above the largest and above the full-text mark: never one a deleted message
     * had, which the index would take for indexed (the write lock is held: no race). */
    int64_t next = 0;
    if (!rc) {
        sqlite3_stmt *st = s->next_id;
        if (sqlite3_step(st) == SQLITE_ROW) next = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (!next) rc = db_fail(s->db, err, "choosing message ids");
    }
    for (size_t i = 0; !rc && i < n; i++) {
        rc = add_one(s, &m[i], next++, ids ? &ids[i] : NULL, err);
        if (rc && n > 1) ta_error_prefix(err, "message %zu: ", i);
        if (!rc && (i + 1 == n || m[i + 1].chat_id != m[i].chat_id)) {
            /* the chat's updated time, once per run of its messages */
            sqlite3_bind_int64(s->touch_chat, 1,
                               m[i].timestamp_ms ? m[i].timestamp_ms : ta_store_now_ms());
            sqlite3_bind_int64(s->touch_chat, 2, m[i].chat_id);
            rc = step_done(s->touch_chat, s->db, err, "updating the chat");
        }
    }
    if (rc) {
        if (own)
            step_done(s->rollback, s->db, NULL, "ROLLBACK");
        else
            sqlite3_exec(s->db, "ROLLBACK TO add_messages; RELEASE add_messages", NULL, NULL, NULL);
        return rc;
    }
    return own ? step_done(s->commit, s->db, err, "COMMIT")
               : exec(s->db, "RELEASE add_messages", err);
}

int ta_store_message_add(ta_store *s, const ta_message_in *m, int64_t *id, ta_error *err)
{
    return ta_store_messages_add(s, m, 1, id, err);
}

static json_t *message_row(sqlite3_stmt *st)
{
    json_t *o = json_pack(
        "{s:I,s:I,s:s,s:s,s:I,s:i,s:s}", "id", (json_int_t)sqlite3_column_int64(st, 0), "chat_id",
        (json_int_t)sqlite3_column_int64(st, 1), "role", (const char *)sqlite3_column_text(st, 2),
        "content", (const char *)sqlite3_column_text(st, 3), "timestamp_ms",
        (json_int_t)sqlite3_column_int64(st, 4), "token_count", sqlite3_column_int(st, 5), "tier",
        (const char *)sqlite3_column_text(st, 8));
    if (!o) return NULL;
    const char *att = (const char *)sqlite3_column_text(st, 6);
    json_t *a = att ? json_loads(att, 0, NULL) : NULL;
    json_object_set_new(o, "attachments", a ? a : json_null());
    json_object_set_new(o, "embedding_id",
                        sqlite3_column_type(st, 7) == SQLITE_NULL
                            ? json_null()
                            : json_integer(sqlite3_column_int64(st, 7)));
    return o;
}

#define MESSAGE_COLUMNS                                                                            \
    "id, chat_id, role, content, ts_ms, token_count, attachments, embedding_id, tier"

json_t *ta_store_message_get(ta_store *s, int64_t id, ta_error *err)
{
    sqlite3_stmt *st = s->get_msg; /* prepared once */
    sqlite3_bind_int64(st, 1, id);
    json_t *o = sqlite3_step(st) == SQLITE_ROW ? message_row(st) : NULL;
    sqlite3_reset(st);
    if (!o) ta_error_set(err, TA_ENOTFOUND, "message %lld does not exist", (long long)id);
    return o;
}

int ta_store_read_begin(ta_store *s, ta_error *err)
{
    return exec(s->db, "BEGIN DEFERRED", err);
}

void ta_store_read_end(ta_store *s)
{
    sqlite3_reset(s->view_msg);
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

int ta_store_message_view(ta_store *s, int64_t id, ta_message_view *v, ta_error *err)
{
    sqlite3_stmt *st = s->view_msg;
    sqlite3_reset(st); /* lets go of the previous row */
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return ta_error_set(err, TA_ENOTFOUND, "message %lld does not exist", (long long)id);
    }
    *v = (ta_message_view){.id = sqlite3_column_int64(st, 0),
                           .chat_id = sqlite3_column_int64(st, 1),
                           .role = (const char *)sqlite3_column_text(st, 2),
                           .content = (const char *)sqlite3_column_text(st, 3),
                           .content_len = (size_t)sqlite3_column_bytes(st, 3),
                           .timestamp_ms = sqlite3_column_int64(st, 4),
                           .token_count = sqlite3_column_int(st, 5),
                           .attachments = (const char *)sqlite3_column_text(st, 6),
                           .embedding_id = sqlite3_column_int64(st, 7),
                           .tier = (const char *)sqlite3_column_text(st, 8)};
    return TA_OK;
}

json_t *ta_store_chat_messages(ta_store *s, int64_t chat_id, int64_t offset, int64_t limit,
                               ta_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " MESSAGE_COLUMNS " FROM conv_messages WHERE chat_id = ?"
                           " ORDER BY id LIMIT ? OFFSET ?",
                           -1, &st, NULL) != SQLITE_OK) {
        db_fail(s->db, err, "reading messages");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, chat_id);
    sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
    sqlite3_bind_int64(st, 3, offset > 0 ? offset : 0);
    json_t *arr = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(arr, message_row(st));
    sqlite3_finalize(st);
    return arr;
}

json_t *ta_store_chats(ta_store *s, int64_t offset, int64_t limit, ta_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT c.id, c.title, c.topic, c.created_ms, c.updated_ms,"
                           " (SELECT count(*) FROM conv_messages m WHERE m.chat_id = c.id)"
                           " FROM conv_chats c ORDER BY c.updated_ms DESC, c.id DESC"
                           " LIMIT ? OFFSET ?",
                           -1, &st, NULL) != SQLITE_OK) {
        db_fail(s->db, err, "listing chats");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, limit > 0 ? limit : -1);
    sqlite3_bind_int64(st, 2, offset > 0 ? offset : 0);
    json_t *arr = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:I,s:I,s:I}", "id",
                                             (json_int_t)sqlite3_column_int64(st, 0), "title",
                                             (const char *)sqlite3_column_text(st, 1), "topic",
                                             (const char *)sqlite3_column_text(st, 2), "created_ms",
                                             (json_int_t)sqlite3_column_int64(st, 3), "updated_ms",
                                             (json_int_t)sqlite3_column_int64(st, 4), "messages",
                                             (json_int_t)sqlite3_column_int64(st, 5)));
    sqlite3_finalize(st);
    return arr;
}

int ta_store_chat_delete(ta_store *s, int64_t chat_id, ta_error *err)
{
    ta_store_release_view(s);
    int rc = exec(s->db, "BEGIN IMMEDIATE", err);
    if (rc) return rc;
    sqlite3_stmt *st;
    int changes = 0;
    /* messages first: their triggers clear the index, embeddings and mentions */
    const char *sql[] = {"DELETE FROM conv_messages WHERE chat_id = ?",
                         "DELETE FROM conv_chats WHERE id = ?"};
    for (int i = 0; !rc && i < 2; i++) {
        if (sqlite3_prepare_v2(s->db, sql[i], -1, &st, NULL) != SQLITE_OK) {
            rc = db_fail(s->db, err, "deleting a chat");
            break;
        }
        sqlite3_bind_int64(st, 1, chat_id);
        if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(s->db, err, "deleting a chat");
        changes = sqlite3_changes(s->db);
        sqlite3_finalize(st);
    }
    if (!rc && !changes)
        rc = ta_error_set(err, TA_ENOTFOUND, "chat %lld does not exist", (long long)chat_id);
    if (rc) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return exec(s->db, "COMMIT", err);
}

/* The words of a free-text query as FTS5 quoted terms, all required (an OR of common
 * words ranks most of the corpus: 30 ms over 100k messages); no FTS syntax leaks. */
static char *fts_query(const char *q)
{
    size_t n = strlen(q), o = 0;
    char *out = malloc(n * 8 + 16); /* each byte doubled at worst, 6 more per word */
    if (!out) return NULL;
    const char *p = q;
    while (*p) {
        while (*p && (isspace((unsigned char)*p) || (ispunct((unsigned char)*p) && *p != '\'')))
            p++;
        if (!*p) break;
        if (o) out[o++] = ' '; /* FTS5: terms side by side must all match */
        out[o++] = '"';
        while (*p && !isspace((unsigned char)*p) && !(ispunct((unsigned char)*p) && *p != '\'')) {
            if (*p == '"') out[o++] = '"';
            out[o++] = *p++;
        }
        out[o++] = '"';
    }
    out[o] = '\0';
    return out;
}

/* Indexes the messages written since the last call (ids above the 'conv_fts' mark) in
 * one transaction: a message costs its row when written, and the full-text index is
 * built in batches (FTS5 in every message's own transaction caps writes near 5k/s).
 * Searches call it first, so they always see every message. */
static int fts_sync(ta_store *s, ta_error *err)
{
    ta_store_release_view(s);
    int64_t mark = query_int(s->db,
                             "SELECT CAST(value AS INTEGER) FROM meta_index_state"
                             " WHERE name = 'conv_fts'",
                             0);
    int64_t top = query_int(s->db, "SELECT max(id) FROM conv_messages", 0);
    if (top <= mark) return TA_OK;
    int rc = exec(s->db, "BEGIN IMMEDIATE", err);
    if (rc) return rc;
    rc = exec(s->db,
              "INSERT INTO conv_messages_fts(rowid, content) SELECT id, content FROM conv_messages"
              " WHERE id > (SELECT CAST(value AS INTEGER) FROM meta_index_state"
              " WHERE name = 'conv_fts') ORDER BY id;"
              "UPDATE meta_index_state SET value = (SELECT CAST(coalesce(max(id), 0) AS TEXT)"
              " FROM conv_messages), updated_ms = CAST(strftime('%s') AS INTEGER) * 1000"
              " WHERE name = 'conv_fts'",
              err);
    if (rc) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return exec(s->db, "COMMIT", err);
}

json_t *ta_store_search_text(ta_store *s, const char *query, int64_t chat_id, int64_t limit,
                             ta_error *err)
{
    char *fq = fts_query(query ? query : "");
    if (!fq) {
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    json_t *arr = json_array();
    if (!fq[0]) {
        free(fq);
        return arr;
    }
    if (fts_sync(s, err)) {
        free(fq);
        json_decref(arr);
        return NULL;
    }
    /* The best ids first, from the index alone (ORDER BY rank LIMIT lets FTS5 keep only
     * the top ones); the chat and a snippet then for those few. Computing snippets or
     * joining for every match made a two-word query over 100k messages take 30+ ms. */
    sqlite3_stmt *st = NULL, *snip = NULL, *chat = NULL;
    int ok = sqlite3_prepare_v2(s->db,
                                chat_id ? "SELECT rowid, rank FROM conv_messages_fts"
                                          " WHERE conv_messages_fts MATCH ?1 AND rowid IN"
                                          " (SELECT id FROM conv_messages WHERE chat_id = ?2)"
                                          " ORDER BY rank LIMIT ?3"
                                        : "SELECT rowid, rank FROM conv_messages_fts"
                                          " WHERE conv_messages_fts MATCH ?1"
                                          " ORDER BY rank LIMIT ?3",
                                -1, &st, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(s->db,
                                "SELECT snippet(conv_messages_fts, 0, '[', ']', '...', 12)"
                                " FROM conv_messages_fts WHERE conv_messages_fts MATCH ?1"
                                " AND rowid = ?2",
                                -1, &snip, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(s->db, "SELECT chat_id FROM conv_messages WHERE id = ?", -1, &chat,
                                NULL) == SQLITE_OK;
    if (!ok) {
        db_fail(s->db, err, "searching");
        json_decref(arr);
        arr = NULL;
        goto out;
    }
    sqlite3_bind_text(st, 1, fq, -1, SQLITE_TRANSIENT);
    if (chat_id) sqlite3_bind_int64(st, 2, chat_id);
    sqlite3_bind_int64(st, 3, limit > 0 ? limit : 20);
    sqlite3_bind_text(snip, 1, fq, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        sqlite3_bind_int64(snip, 2, id);
        sqlite3_bind_int64(chat, 1, id);
        const char *sn =
            sqlite3_step(snip) == SQLITE_ROW ? (const char *)sqlite3_column_text(snip, 0) : NULL;
        int64_t cid = sqlite3_step(chat) == SQLITE_ROW ? sqlite3_column_int64(chat, 0) : 0;
        json_array_append_new(
            arr, json_pack("{s:I,s:I,s:f,s:s}", "id", (json_int_t)id, "chat_id", (json_int_t)cid,
                           "score", -sqlite3_column_double(st, 1), "snippet", sn ? sn : ""));
        sqlite3_reset(snip);
        sqlite3_reset(chat);
    }
out:
    sqlite3_finalize(st);
    sqlite3_finalize(snip);
    sqlite3_finalize(chat);
    free(fq);
    return arr;
}

int ta_store_message_embeddings(ta_store *s, ta_store_embedding_fn cb, void *ud, ta_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT owner_id, model, dim, data FROM emb_vectors"
                           " WHERE owner_table = 'conv_messages' AND storage = 'f32' ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s->db, err, "reading embeddings");
    int rc = TA_OK;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        uint32_t dim = (uint32_t)sqlite3_column_int(st, 2);
        const void *blob = sqlite3_column_blob(st, 3);
        if (!blob || (size_t)sqlite3_column_bytes(st, 3) != dim * sizeof(float)) continue;
        rc = cb(ud, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1), blob,
                dim);
    }
    sqlite3_finalize(st);
    return rc;
}

int ta_store_chat_message_ids(ta_store *s, int64_t chat_id, int64_t **ids, size_t *n, ta_error *err)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT id FROM conv_messages WHERE chat_id = ? ORDER BY id", -1,
                           &st, NULL) != SQLITE_OK)
        return db_fail(s->db, err, "listing messages");
    sqlite3_bind_int64(st, 1, chat_id);
    size_t cap = 0;
    int rc = TA_OK;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            int64_t *ni = realloc(*ids, cap * sizeof *ni);
            if (!ni) {
                rc = ta_error_set(err, TA_ENOMEM, "out of memory");
                break;
            }
            *ids = ni;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc;
}

int ta_store_retier(ta_store *s, int64_t now, int64_t recent_after_ms, int64_t archive_after_ms,
                    ta_error *err)
{
    ta_store_release_view(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE conv_messages SET tier = CASE WHEN ts_ms <= ?1 - ?3 THEN"
                           " 'archive' WHEN ts_ms <= ?1 - ?2 THEN 'recent' ELSE 'active' END"
                           " WHERE tier <> CASE WHEN ts_ms <= ?1 - ?3 THEN 'archive'"
                           " WHEN ts_ms <= ?1 - ?2 THEN 'recent' ELSE 'active' END",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s->db, err, "retiering");
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, recent_after_ms);
    sqlite3_bind_int64(st, 3, archive_after_ms);
    int rc = sqlite3_step(st) == SQLITE_DONE ? TA_OK : db_fail(s->db, err, "retiering");
    sqlite3_finalize(st);
    return rc;
}
