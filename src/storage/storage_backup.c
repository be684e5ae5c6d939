/*
 * storage_backup.c - see storage.h: online backup and checked restore (SQLite's backup
 * API, so the copy is consistent while the server keeps writing), export and import of
 * one chat as JSON, and row counts.
 */
#include "storage_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int db_err(sqlite3 *db, ta_error *err, const char *what)
{
    return ta_error_set(err, TA_EIO, "%s: %s", what, db ? sqlite3_errmsg(db) : "no database");
}

/* Copies all of src into dst (both open), in one step: dst is replaced atomically. */
static int copy_db(sqlite3 *dst, sqlite3 *src, ta_error *err)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) return db_err(dst, err, "backup");
    int r = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (r != SQLITE_DONE) return ta_error_set(err, TA_EIO, "backup: %s", sqlite3_errstr(r));
    return TA_OK;
}

int ta_store_backup(ta_store *s, const char *path, ta_error *err)
{
    ta_store_release_view(s);
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return ta_error_set(err, TA_EINVAL, "backup path too long");
    unlink(tmp);
    sqlite3 *dst = NULL;
    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        int rc = db_err(dst, err, tmp);
        sqlite3_close(dst);
        return rc;
    }
    int rc = copy_db(dst, s->db, err);
    /* a single file that needs nothing beside it */
    if (!rc && sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_err(dst, err, "backup");
    sqlite3_close(dst);
    if (!rc) {
        int fd = open(tmp, O_RDONLY);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        if (rename(tmp, path)) rc = ta_error_set(err, TA_EIO, "backup: cannot rename to %s", path);
    }
    if (rc) unlink(tmp);
    return rc;
}

/* Opens path read-only and checks that it is a whole, known tabagent database. */
static int check_candidate(const char *path, sqlite3 **out, ta_error *err)
{
    *out = NULL;
    if (access(path, R_OK)) return ta_error_set(err, TA_ENOTFOUND, "%s: cannot read it", path);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        int rc = db_err(db, err, path);
        sqlite3_close(db);
        return rc;
    }
    sqlite3_stmt *st = NULL;
    int rc = TA_OK;
    /* integrity_check reads every page: corruption anywhere is found */
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
        rc = ta_error_set(err, TA_EINVAL, "%s: not a database (%s)", path, sqlite3_errmsg(db));
    } else {
        int r = sqlite3_step(st);
        const char *res = r == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (!res || strcmp(res, "ok"))
            rc = ta_error_set(err, TA_EINVAL, "%s: integrity check failed: %s", path,
                              res ? res : sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!rc && (sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &st, NULL) != SQLITE_OK ||
                sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != TA_STORE_APP_ID))
        rc = ta_error_set(err, TA_EINVAL, "%s: not a tabagent database", path);
    if (st) sqlite3_finalize(st);
    st = NULL;
    for (const char *const *d = ta_logical_dbs; !rc && *d; d++) {
        if (sqlite3_prepare_v2(db, "SELECT version FROM meta_versions WHERE db = ?", -1, &st,
                               NULL) != SQLITE_OK) {
            rc = ta_error_set(err, TA_EINVAL, "%s: no schema versions", path);
            break;
        }
        sqlite3_bind_text(st, 1, *d, -1, SQLITE_STATIC);
        int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_finalize(st);
        st = NULL;
        if (v < 1 || v > ta_schema_latest(*d))
            rc = ta_error_set(err, TA_EINVAL,
                              "%s: database '%s' has schema version %d; this build reads 1 to %d",
                              path, *d, v, ta_schema_latest(*d));
    }
    if (rc) {
        sqlite3_close(db);
        return rc;
    }
    *out = db;
    return TA_OK;
}

int ta_store_restore(ta_store *s, const char *path, ta_error *err)
{
    ta_store_release_view(s);
    sqlite3 *src;
    int rc = check_candidate(path, &src, err);
    if (rc) return rc;
    rc = copy_db(s->db, src, err);
    sqlite3_close(src);
    if (!rc) sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    return rc;
}

json_t *ta_store_stats(ta_store *s, ta_error *err)
{
    static const char *const tables[][2] = {
        {"chats", "conv_chats"},         {"messages", "conv_messages"},
        {"entities", "kg_entities"},     {"relations", "kg_relations"},
        {"embeddings", "emb_vectors"},   {"pages", "tool_pages"},
        {"searches", "tool_searches"},   {"tool_calls", "tool_calls"},
        {"outcomes", "exp_outcomes"},    {"summaries", "sum_summaries"},
        {"message_links", "conv_links"}, {"merges", "kg_merges"},
    };
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i][1]);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
            json_decref(o);
            db_err(s->db, err, "stats");
            return NULL;
        }
        if (sqlite3_step(st) == SQLITE_ROW)
            json_object_set_new(o, tables[i][0], json_integer(sqlite3_column_int64(st, 0)));
        sqlite3_finalize(st);
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
                           -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            json_object_set_new(o, "file_bytes", json_integer(sqlite3_column_int64(st, 0)));
        sqlite3_finalize(st);
    }
    return o;
}

int ta_store_check(ta_store *s, ta_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return db_err(s->db, err, "integrity check");
    int r = sqlite3_step(st);
    const char *res = r == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int rc = res && !strcmp(res, "ok") ? TA_OK
                                       : ta_error_set(err, TA_EIO, "integrity check failed: %s",
                                                      res ? res : sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc;
}

/* ---- export / import ---------------------------------------------------------------- */

json_t *ta_store_chat_export(ta_store *s, int64_t chat_id, ta_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT title, topic, created_ms, updated_ms FROM conv_chats"
                           " WHERE id = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        db_err(s->db, err, "export");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, chat_id);
    json_t *chat = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        chat = json_pack("{s:I,s:s,s:s,s:I,s:I}", "id", (json_int_t)chat_id, "title",
                         (const char *)sqlite3_column_text(st, 0), "topic",
                         (const char *)sqlite3_column_text(st, 1), "created_ms",
                         (json_int_t)sqlite3_column_int64(st, 2), "updated_ms",
                         (json_int_t)sqlite3_column_int64(st, 3));
    sqlite3_finalize(st);
    if (!chat) {
        ta_error_set(err, TA_ENOTFOUND, "chat %lld does not exist", (long long)chat_id);
        return NULL;
    }
    json_t *msgs = ta_store_chat_messages(s, chat_id, 0, 0, err);
    if (!msgs) {
        json_decref(chat);
        return NULL;
    }
    return json_pack("{s:s,s:i,s:o,s:o}", "format", "tabagent-chat", "version", 1, "chat", chat,
                     "messages", msgs);
}

int ta_store_chat_import(ta_store *s, const json_t *doc, int64_t *id, ta_error *err)
{
    if (strcmp(ta_json_str(doc, "format", ""), "tabagent-chat") ||
        ta_json_int(doc, "version", 0) != 1)
        return ta_error_set(err, TA_EINVAL,
                            "import: expected {\"format\":\"tabagent-chat\",\"version\":1,...}");
    const json_t *chat = json_object_get(doc, "chat"), *msgs = json_object_get(doc, "messages");
    if (!json_is_object(chat) || !json_is_array(msgs))
        return ta_error_set(err, TA_EINVAL, "import: chat (object) and messages (array) required");
    size_t n = json_array_size(msgs);
    if (n > 1000000) return ta_error_set(err, TA_ETOOBIG, "import: at most 1000000 messages");
    ta_message_in *in = calloc(n ? n : 1, sizeof *in);
    if (!in) return ta_error_set(err, TA_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) { /* validate everything before writing anything */
        const json_t *m = json_array_get(msgs, i);
        const char *role = ta_json_str(m, "role", NULL), *content = ta_json_str(m, "content", NULL);
        if (!json_is_object(m) || !role || !content) {
            free(in);
            return ta_error_set(err, TA_EINVAL, "import: messages[%zu]: role and content required",
                                i);
        }
        in[i] = (ta_message_in){.role = role,
                                .content = content,
                                .timestamp_ms = ta_json_int(m, "timestamp_ms", 0),
                                .token_count = (int32_t)ta_json_int(m, "token_count", -1)};
        const json_t *att = json_object_get(m, "attachments");
        if (json_is_array(att) || json_is_object(att)) in[i].attachments = att;
    }
    int64_t chat_id = 0;
    int rc = sqlite3_exec(s->db, "SAVEPOINT import", NULL, NULL, NULL) == SQLITE_OK
                 ? TA_OK
                 : db_err(s->db, err, "import");
    if (!rc)
        rc = ta_store_chat_create(s, ta_json_str(chat, "title", ""), ta_json_str(chat, "topic", ""),
                                  &chat_id, err);
    for (size_t i = 0; i < n; i++)
        in[i].chat_id = chat_id;
    if (!rc) rc = ta_store_messages_add(s, in, n, NULL, err);
    sqlite3_exec(s->db, rc ? "ROLLBACK TO import; RELEASE import" : "RELEASE import", NULL, NULL,
                 NULL);
    free(in);
    if (!rc) *id = chat_id;
    return rc;
}
