/*
 * storage.c - see storage.h: opening and migrating the database, conversations with
 * their embeddings and entities, full-text search, export/import, backup/restore.
 */
#include "storage_internal.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
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

static int register_bm25(ta_store *s, ta_error *err);

/* SQLite's memory statistics take a global mutex on every allocation, which readers on
 * several threads then wait on; nothing here reads them. Only possible before SQLite
 * initializes (the first open); later it is refused and changes nothing. */
static void configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

ta_store *ta_store_open(const char *dir, ta_error *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, configure_sqlite);
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
    /* synchronous = NORMAL in WAL: a commit is in the WAL file (the OS has it) when it
     * returns, so it survives a crash of the process (SIGKILL); only a power loss can
     * take the last commits back, never corrupt the file. cache_size: the write path's
     * B-tree pages stay in memory over a batch; mmap_size: reads come straight from the
     * OS page cache, without a read() and a copy per page (a point read by id is
     * otherwise two or three page copies). */
    if (!rc)
        rc = exec(s->db,
                  "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
                  " PRAGMA cache_size = -16384; PRAGMA mmap_size = 268435456",
                  err);
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
                     " owner_id, created_ms) VALUES (?1,?2,?6,?3,'conv_messages',?4,?5)",
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
                     "SELECT chat_id, role, content, ts_ms, token_count, attachments,"
                     " embedding_id, tier FROM conv_messages WHERE id = ?",
                     err);
    if (!rc)
        rc = prepare(s, &s->next_id,
                     "SELECT (SELECT coalesce(max(id), 0) FROM conv_messages),"
                     " (SELECT CAST(value AS INTEGER) FROM meta_index_state"
                     " WHERE name = 'conv_fts')",
                     err);
    if (!rc) rc = register_bm25(s, err);
    if (!rc) rc = prepare(s, &s->begin, "BEGIN IMMEDIATE", err);
    if (!rc) rc = prepare(s, &s->commit, "COMMIT", err);
    if (!rc) rc = prepare(s, &s->rollback, "ROLLBACK", err);
    if (!rc)
        rc = prepare(s, &s->ins_mention,
                     "INSERT OR IGNORE INTO kg_mentions(entity_id, message_id) VALUES (?,?)", err);
    if (!rc)
        rc = prepare(s, &s->fts_mark,
                     "SELECT CAST(value AS INTEGER) FROM meta_index_state WHERE name = 'conv_fts'",
                     err);
    if (!rc) rc = prepare(s, &s->fts_top, "SELECT coalesce(max(id), 0) FROM conv_messages", err);
    if (!rc)
        rc = prepare(s, &s->fts_upto,
                     "SELECT id FROM conv_messages WHERE id > ?1 ORDER BY id LIMIT 1 OFFSET ?2",
                     err);
    if (!rc)
        rc = prepare(s, &s->fts_fill,
                     "INSERT INTO conv_messages_fts(rowid, content) SELECT id, content"
                     " FROM conv_messages WHERE id > ?1 AND id <= ?2 ORDER BY id",
                     err);
    if (!rc)
        rc = prepare(s, &s->fts_set_mark,
                     "UPDATE meta_index_state SET value = CAST(?1 AS TEXT), updated_ms = ?2"
                     " WHERE name = 'conv_fts'",
                     err);
    if (rc) {
        ta_store_close(s);
        return NULL;
    }
    return s;
}

void ta_store_close(ta_store *s)
{
    if (!s) return;
    sqlite3_stmt *sts[] = {s->ins_msg,      s->ins_emb,      s->set_emb,       s->touch_chat,
                           s->ins_entity,   s->find_entity,  s->ins_mention,   s->get_msg,
                           s->begin,        s->commit,       s->rollback,      s->view_msg,
                           s->next_id,      s->fts_mark,     s->fts_top,       s->fts_upto,
                           s->fts_fill,     s->fts_set_mark, s->srch_bound[0], s->srch_bound[1],
                           s->srch_rank[0], s->srch_rank[1], s->srch_snip,     s->srch_chat,
                           s->srch_hits,    s->srch_one,     s->srch_span};
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

/* One message inside an open transaction, with id mid (see ta_store_messages_add); now:
 * the time of a message without one. */
static int add_one(ta_store *s, const ta_message_in *m, int64_t mid, int64_t now, int64_t *id,
                   ta_error *err)
{
    if (!m->role || !m->content)
        return ta_error_set(err, TA_EINVAL, "a message needs a role and content");
    if (m->embedding && (!m->embedding_dim || !m->embedding_model))
        return ta_error_set(err, TA_EINVAL, "an embedding needs its dimension and model");
    int64_t ts = m->timestamp_ms ? m->timestamp_ms : now;
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
    sqlite3_reset(st); /* every parameter is bound again for the next message */
    free(att);
    if (rc) return rc;
    if (m->embedding) {
        int kind = ta_vec_kind(m->embedding_storage);
        if (kind < 0) return ta_error_set(err, TA_EINVAL, "embedding storage: f32, f16 or i8");
        void *packed = NULL; /* f16 and i8 are packed first; f32 is bound as it is */
        if (kind != TA_VEC_KIND_F32) {
            packed = malloc(ta_vec_bytes(kind, m->embedding_dim));
            if (!packed) return ta_error_set(err, TA_ENOMEM, "out of memory");
            ta_vec_encode(kind, m->embedding, m->embedding_dim, packed);
        }
        st = s->ins_emb;
        sqlite3_bind_text(st, 1, m->embedding_model, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, (int)m->embedding_dim);
        sqlite3_bind_blob(st, 3, packed ? packed : (const void *)m->embedding,
                          (int)ta_vec_bytes(kind, m->embedding_dim), SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, mid);
        sqlite3_bind_int64(st, 5, ts);
        sqlite3_bind_text(st, 6, ta_vec_kind_name(kind), -1, SQLITE_STATIC);
        rc = step_done(st, s->db, err, "adding an embedding");
        free(packed);
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

/* A one-row statement's integer in column col (dflt without a row); leaves it reset. */
static int64_t stmt_int(sqlite3_stmt *st, int col, int64_t dflt)
{
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, col) : dflt;
    sqlite3_reset(st);
    return v;
}

/* The full-text index is built in batches: a message costs its row when written (FTS5
 * in every message's own transaction caps writes near 5k/s), and the messages with ids
 * above the 'conv_fts' mark are indexed later, oldest first, by fts_index. */

/* Indexes up to max_rows (0: all) of the messages above the mark, inside the caller's
 * write transaction; returns how many, or a negative TA_E* code. */
static int64_t fts_index(ta_store *s, size_t max_rows, ta_error *err)
{
    int64_t mark = stmt_int(s->fts_mark, 0, 0), top = stmt_int(s->fts_top, 0, 0);
    if (top <= mark) return 0;
    int64_t upto = top;
    if (max_rows) { /* the id of the max_rows-th message above the mark */
        sqlite3_bind_int64(s->fts_upto, 1, mark);
        sqlite3_bind_int64(s->fts_upto, 2, (int64_t)max_rows - 1);
        upto = stmt_int(s->fts_upto, 0, top);
    }
    sqlite3_bind_int64(s->fts_fill, 1, mark);
    sqlite3_bind_int64(s->fts_fill, 2, upto);
    int rc = step_done(s->fts_fill, s->db, err, "indexing messages");
    if (rc) return rc;
    int64_t n = sqlite3_changes64(s->db);
    sqlite3_bind_int64(s->fts_set_mark, 1, upto);
    sqlite3_bind_int64(s->fts_set_mark, 2, ta_store_now_ms());
    rc = step_done(s->fts_set_mark, s->db, err, "recording the index mark");
    return rc ? rc : n;
}

int ta_store_fts_sync(ta_store *s, size_t max_rows, ta_error *err)
{
    ta_store_release_view(s);
    /* nothing waiting (the common case: every search comes here): no write lock */
    if (stmt_int(s->fts_top, 0, 0) <= stmt_int(s->fts_mark, 0, 0)) return 0;
    bool own = sqlite3_get_autocommit(s->db);
    int rc =
        own ? step_done(s->begin, s->db, err, "BEGIN") : exec(s->db, "SAVEPOINT fts_sync", err);
    if (rc) return rc;
    int64_t n = fts_index(s, max_rows, err);
    if (n < 0) {
        if (own)
            step_done(s->rollback, s->db, NULL, "ROLLBACK");
        else
            sqlite3_exec(s->db, "ROLLBACK TO fts_sync; RELEASE fts_sync", NULL, NULL, NULL);
        return (int)n;
    }
    rc = own ? step_done(s->commit, s->db, err, "COMMIT") : exec(s->db, "RELEASE fts_sync", err);
    return rc ? rc : n > INT32_MAX ? INT32_MAX : (int)n;
}

/* A write of fewer than FTS_BATCH_MIN messages that leaves more than FTS_BACKLOG_MAX
 * unindexed indexes them before it commits (20 ms once in 4096 writes, 5 us a message):
 * where nothing calls ta_store_fts_sync in the background, a search after a stream of
 * single writes never pays for a long backlog. A batch (an import) writes its rows only,
 * 3-4x faster than with their index entries; its writer or the background indexer calls
 * ta_store_fts_sync, or else the next search indexes them. */
#define FTS_BATCH_MIN   64
#define FTS_BACKLOG_MAX 4096

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
    int64_t top = 0, mark = 0;
    if (!rc) {
        sqlite3_stmt *st = s->next_id;
        if (sqlite3_step(st) == SQLITE_ROW) {
            top = sqlite3_column_int64(st, 0);
            mark = sqlite3_column_int64(st, 1);
        } else {
            rc = db_fail(s->db, err, "choosing message ids");
        }
        sqlite3_reset(st);
    }
    int64_t next = (top > mark ? top : mark) + 1, now = n ? ta_store_now_ms() : 0;
    for (size_t i = 0; !rc && i < n; i++) {
        rc = add_one(s, &m[i], next++, now, ids ? &ids[i] : NULL, err);
        if (rc && n > 1) ta_error_prefix(err, "message %zu: ", i);
        if (!rc && (i + 1 == n || m[i + 1].chat_id != m[i].chat_id)) {
            /* the chat's updated time, once per run of its messages */
            sqlite3_bind_int64(s->touch_chat, 1, m[i].timestamp_ms ? m[i].timestamp_ms : now);
            sqlite3_bind_int64(s->touch_chat, 2, m[i].chat_id);
            rc = step_done(s->touch_chat, s->db, err, "updating the chat");
        }
    }
    if (!rc && n && n < FTS_BATCH_MIN && next - 1 - mark > FTS_BACKLOG_MAX) {
        int64_t k = fts_index(s, 0, err);
        if (k < 0) rc = (int)k;
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

/* A column that holds one of a few known words (a CHECK keeps it so), as the static
 * string: sqlite3_column_text would copy it to add a terminator, a malloc per call. */
static const char *known_word(sqlite3_stmt *st, int col, const char *const *words)
{
    const char *b = sqlite3_column_blob(st, col); /* the bytes in the row, no copy */
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    for (; *words; words++)
        if (strlen(*words) == n && b && !memcmp(*words, b, n)) return *words;
    return (const char *)sqlite3_column_text(st, col);
}

static const char *const roles[] = {"user", "assistant", "system", "tool", "developer", NULL};
static const char *const tiers[] = {"active", "recent", "archive", NULL};

int ta_store_message_view(ta_store *s, int64_t id, ta_message_view *v, ta_error *err)
{
    sqlite3_stmt *st = s->view_msg;
    sqlite3_reset(st); /* lets go of the previous row */
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return ta_error_set(err, TA_ENOTFOUND, "message %lld does not exist", (long long)id);
    }
    /* the columns in the row's order (each fetch parses the record header up to it) */
    *v = (ta_message_view){.id = id,
                           .chat_id = sqlite3_column_int64(st, 0),
                           .role = known_word(st, 1, roles),
                           .content = (const char *)sqlite3_column_text(st, 2),
                           .content_len = (size_t)sqlite3_column_bytes(st, 2),
                           .timestamp_ms = sqlite3_column_int64(st, 3),
                           .token_count = sqlite3_column_int(st, 4),
                           .attachments = (const char *)sqlite3_column_text(st, 5),
                           .embedding_id = sqlite3_column_int64(st, 6),
                           .tier = known_word(st, 7, tiers)};
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
    memset(s->df_cache, 0, sizeof s->df_cache); /* the counts may have dropped */
    if (rc) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return exec(s->db, "COMMIT", err);
}

/* A statement of s prepared on first use and kept until ta_store_close; NULL when it
 * cannot be prepared. */
static sqlite3_stmt *cached(ta_store *s, sqlite3_stmt **slot, const char *sql)
{
    if (!*slot) sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
    return *slot;
}

/* ---- ranking ---------------------------------------------------------------------- */

/* ta_bm25(conv_messages_fts, dfs): FTS5's bm25() (k1 1.2, b 0.75, one column, the same
 * formula and order), except that the number of messages that match each phrase (its
 * document frequency, for the IDF) comes in dfs, a blob of one int64 per phrase, instead
 * of from a walk of the phrase's whole doclist in every query: for a common word that
 * walk was most of a search's time. Without dfs (or with the wrong size) it walks, as
 * bm25() does. */
typedef struct bm25_data {
    int n;
    double avgdl;
    double v[]; /* n IDFs, then n phrase frequencies of the row at hand */
} bm25_data;

static int count_hits(const Fts5ExtensionApi *api, Fts5Context *fts, void *ud)
{
    (void)api, (void)fts;
    (*(int64_t *)ud)++;
    return SQLITE_OK;
}

static void ta_bm25(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int nval,
                    sqlite3_value **val)
{
    const double k1 = 1.2, b = 0.75;
    bm25_data *d = api->xGetAuxdata(fts, 0);
    int rc = SQLITE_OK;
    if (!d) {
        int n = api->xPhraseCount(fts);
        d = sqlite3_malloc64(sizeof *d + 2 * (size_t)n * sizeof(double));
        if (!d) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
        d->n = n;
        sqlite3_int64 rows = 0, tokens = 0;
        rc = api->xRowCount(fts, &rows);
        if (rc == SQLITE_OK) rc = api->xColumnTotalSize(fts, -1, &tokens);
        d->avgdl = rows > 0 ? (double)tokens / (double)rows : 1.0;
        const unsigned char *blob = nval > 0 ? sqlite3_value_blob(val[0]) : NULL;
        bool given = blob && sqlite3_value_bytes(val[0]) == n * (int)sizeof(int64_t);
        for (int i = 0; rc == SQLITE_OK && i < n; i++) {
            int64_t hits = 0;
            if (given)
                memcpy(&hits, blob + (size_t)i * sizeof hits, sizeof hits);
            else
                rc = api->xQueryPhrase(fts, i, &hits, count_hits);
            double idf = log(((double)rows - (double)hits + 0.5) / ((double)hits + 0.5));
            d->v[i] = idf <= 0.0 ? 1e-6 : idf;
        }
        if (rc == SQLITE_OK)
            rc = api->xSetAuxdata(fts, d, sqlite3_free);
        else
            sqlite3_free(d);
        if (rc != SQLITE_OK) {
            sqlite3_result_error_code(ctx, rc);
            return;
        }
    }
    double *idf = d->v, *freq = d->v + d->n, score = 0;
    memset(freq, 0, (size_t)d->n * sizeof *freq);
    int ninst = 0, ntok = 0;
    rc = api->xInstCount(fts, &ninst);
    for (int i = 0; rc == SQLITE_OK && i < ninst; i++) {
        int ip, ic, io;
        rc = api->xInst(fts, i, &ip, &ic, &io);
        if (rc == SQLITE_OK && ip >= 0 && ip < d->n) freq[ip] += 1.0;
    }
    if (rc == SQLITE_OK) rc = api->xColumnSize(fts, -1, &ntok);
    for (int i = 0; rc == SQLITE_OK && i < d->n; i++)
        score += idf[i] * (freq[i] * (k1 + 1.0)) /
                 (freq[i] + k1 * (1.0 - b + b * (double)ntok / d->avgdl));
    if (rc != SQLITE_OK)
        sqlite3_result_error_code(ctx, rc);
    else
        sqlite3_result_double(ctx, -score);
}

/* Registers ta_bm25 on s's connection. */
static int register_bm25(ta_store *s, ta_error *err)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
        return db_fail(s->db, err, "finding FTS5");
    sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (!api || api->xCreateFunction(api, "ta_bm25", NULL, ta_bm25, NULL) != SQLITE_OK)
        return ta_error_set(err, TA_EIO, "SQLite has no FTS5");
    return TA_OK;
}

/* The number of messages that match phrase (a quoted FTS5 phrase, len bytes), from the
 * cache while the index has grown by at most 1/64 since it was counted (mark: the
 * index's mark now); -1 on an error. */
static int64_t phrase_hits(ta_store *s, const char *phrase, size_t len, int64_t mark)
{
    ta_df_entry *e = NULL;
    if (len < sizeof s->df_cache[0].phrase) {
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < len; i++)
            h = (h ^ (unsigned char)phrase[i]) * 16777619u;
        e = &s->df_cache[h % TA_DF_CACHE];
        if (e->mark > 0 && e->mark <= mark && mark - e->mark <= e->mark / 64 &&
            !memcmp(e->phrase, phrase, len) && !e->phrase[len])
            return e->hits;
    }
    sqlite3_stmt *st = cached(
        s, &s->srch_hits, "SELECT count(*) FROM conv_messages_fts WHERE conv_messages_fts MATCH ?");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, phrase, (int)len, SQLITE_STATIC);
    int64_t n = stmt_int(st, 0, -1);
    sqlite3_clear_bindings(st);
    if (e && n >= 0) {
        memcpy(e->phrase, phrase, len);
        e->phrase[len] = '\0';
        e->hits = n;
        e->mark = mark;
    }
    return n;
}

/* The document frequency of each phrase of fq (as fts_query writes it), for ta_bm25:
 * malloc'd, *n of them; NULL when one cannot be had (ta_bm25 then counts them). */
static int64_t *query_hits(ta_store *s, const char *fq, size_t *n)
{
    int64_t mark = stmt_int(s->fts_mark, 0, 0);
    int64_t *hits = malloc((strlen(fq) / 3 + 1) * sizeof *hits);
    *n = 0;
    for (const char *p = fq; hits && *p;) {
        if (*p != '"') {
            p++;
            continue;
        }
        const char *q = p + 1; /* the closing quote: a doubled one is a quote inside */
        while (*q && !(*q == '"' && q[1] != '"'))
            q += *q == '"' ? 2 : 1;
        if (!*q) break;
        int64_t h = phrase_hits(s, p, (size_t)(q - p + 1), mark);
        if (h < 0) {
            free(hits);
            return NULL;
        }
        hits[(*n)++] = h;
        p = q + 1;
    }
    return hits;
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

/* The most matches a search ranks (the newest ones; see ta_store_search_text). */
#define FTS_RANK_MAX 5000

static json_t *search_text(ta_store *s, const char *query, int64_t chat_id, int64_t limit,
                           bool snippets, ta_error *err)
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
    if (ta_store_fts_sync(s, 0, err) < 0) { /* searches see every message */
        free(fq);
        json_decref(arr);
        return NULL;
    }
    /* The best ids first, from the index alone (ORDER BY rank LIMIT lets FTS5 keep only
     * the top ones); the chat and a snippet then for those few. Computing snippets or
     * joining for every match made a two-word query over 100k messages take 30+ ms.
     * BM25 still costs about 3 us a match, and a query of only common words matches most
     * messages (80k of 100k: 250 ms), so when more than FTS_RANK_MAX match, the newest
     * FTS_RANK_MAX of them are ranked: their lowest id comes from walking the matches
     * newest first without scoring them (0.1-0.2 us each). */
    int c = chat_id != 0;
    sqlite3_stmt *bound = cached(s, &s->srch_bound[c],
                                 chat_id ? "SELECT rowid FROM conv_messages_fts"
                                           " WHERE conv_messages_fts MATCH ?1 AND rowid IN"
                                           " (SELECT id FROM conv_messages WHERE chat_id = ?2)"
                                           " ORDER BY rowid DESC LIMIT 1 OFFSET ?3"
                                         : "SELECT rowid FROM conv_messages_fts"
                                           " WHERE conv_messages_fts MATCH ?1"
                                           " ORDER BY rowid DESC LIMIT 1 OFFSET ?3");
    sqlite3_stmt *st = cached(s, &s->srch_rank[c],
                              chat_id ? "SELECT rowid, ta_bm25(conv_messages_fts, ?5) AS r"
                                        " FROM conv_messages_fts"
                                        " WHERE conv_messages_fts MATCH ?1 AND rowid >= ?4"
                                        " AND rowid IN"
                                        " (SELECT id FROM conv_messages WHERE chat_id = ?2)"
                                        " ORDER BY r LIMIT ?3"
                                      : "SELECT rowid, ta_bm25(conv_messages_fts, ?5) AS r"
                                        " FROM conv_messages_fts"
                                        " WHERE conv_messages_fts MATCH ?1 AND rowid >= ?4"
                                        " ORDER BY r LIMIT ?3");
    sqlite3_stmt *snip = cached(s, &s->srch_snip,
                                "SELECT snippet(conv_messages_fts, 0, '[', ']', '...', 12)"
                                " FROM conv_messages_fts WHERE conv_messages_fts MATCH ?1"
                                " AND rowid = ?2");
    sqlite3_stmt *chat = cached(s, &s->srch_chat, "SELECT chat_id FROM conv_messages WHERE id = ?");
    if (!bound || !st || !snip || !chat) {
        db_fail(s->db, err, "searching");
        json_decref(arr);
        free(fq);
        return NULL;
    }
    sqlite3_bind_text(bound, 1, fq, -1, SQLITE_STATIC);
    if (chat_id) sqlite3_bind_int64(bound, 2, chat_id);
    sqlite3_bind_int64(bound, 3, FTS_RANK_MAX - 1);
    int64_t lowest = stmt_int(bound, 0, 0); /* 0: fewer match, all are ranked */
    sqlite3_bind_text(st, 1, fq, -1, SQLITE_STATIC);
    if (chat_id) sqlite3_bind_int64(st, 2, chat_id);
    sqlite3_bind_int64(st, 3, limit > 0 ? limit : 20);
    sqlite3_bind_int64(st, 4, lowest);
    size_t nh = 0;
    int64_t *hits = query_hits(s, fq, &nh);
    if (hits) sqlite3_bind_blob(st, 5, hits, (int)(nh * sizeof *hits), SQLITE_STATIC);
    sqlite3_bind_text(snip, 1, fq, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        sqlite3_bind_int64(snip, 2, id);
        sqlite3_bind_int64(chat, 1, id);
        const char *sn = snippets && sqlite3_step(snip) == SQLITE_ROW
                             ? (const char *)sqlite3_column_text(snip, 0)
                             : NULL;
        int64_t cid = sqlite3_step(chat) == SQLITE_ROW ? sqlite3_column_int64(chat, 0) : 0;
        json_t *o = json_pack("{s:I,s:I,s:f}", "id", (json_int_t)id, "chat_id", (json_int_t)cid,
                              "score", -sqlite3_column_double(st, 1));
        if (snippets) json_object_set_new(o, "snippet", json_string(sn ? sn : ""));
        json_array_append_new(arr, o);
        sqlite3_reset(snip);
        sqlite3_reset(chat);
    }
    /* fq and hits are bound without a copy: no statement keeps them */
    sqlite3_stmt *used[] = {bound, st, snip, chat};
    for (size_t i = 0; i < sizeof used / sizeof used[0]; i++) {
        sqlite3_reset(used[i]);
        sqlite3_clear_bindings(used[i]);
    }
    free(hits);
    free(fq);
    return arr;
}

typedef struct {
    int64_t id;
    double score; /* BM25, higher is better */
} scored;

static int by_score_desc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return (x->id < y->id) - (x->id > y->id); /* newer first among equals */
}

static json_t *search_text_in(ta_store *s, const char *query, const int64_t *ids, size_t n,
                              int64_t limit, bool snippets, ta_error *err)
{
    char *fq = fts_query(query ? query : "");
    if (!fq) {
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    json_t *arr = json_array();
    if (!fq[0] || !n) {
        free(fq);
        return arr;
    }
    if (ta_store_fts_sync(s, 0, err) < 0) {
        free(fq);
        json_decref(arr);
        return NULL;
    }
    /* The matches between the lowest and the highest allowed id (FTS5 seeks its doclists
     * to the range), kept when allowed: cost grows with the matches in that span, not
     * with all matches - a chat's messages lie close together. When the allowed ids are
     * spread thin, each is looked up by itself instead (rowid = ?). */
    int64_t lo = ids[0], hi = ids[0];
    bool sorted = true;
    for (size_t i = 1; i < n; i++) {
        if (ids[i] < ids[i - 1]) sorted = false;
        lo = ids[i] < lo ? ids[i] : lo;
        hi = ids[i] > hi ? ids[i] : hi;
    }
    bool span = sorted && (uint64_t)(hi - lo) <= 64u * n;
    sqlite3_stmt *one =
        span ? cached(s, &s->srch_span,
                      "SELECT rowid, ta_bm25(conv_messages_fts, ?3) FROM conv_messages_fts"
                      " WHERE conv_messages_fts MATCH ?1 AND rowid >= ?2 AND rowid <= ?4")
             : cached(s, &s->srch_one,
                      "SELECT rowid, ta_bm25(conv_messages_fts, ?3) FROM conv_messages_fts"
                      " WHERE conv_messages_fts MATCH ?1 AND rowid = ?2");
    sqlite3_stmt *snip = cached(s, &s->srch_snip,
                                "SELECT snippet(conv_messages_fts, 0, '[', ']', '...', 12)"
                                " FROM conv_messages_fts WHERE conv_messages_fts MATCH ?1"
                                " AND rowid = ?2");
    sqlite3_stmt *chat = cached(s, &s->srch_chat, "SELECT chat_id FROM conv_messages WHERE id = ?");
    scored *hit = malloc(n * sizeof *hit);
    if (!one || !snip || !chat || !hit) {
        if (!hit)
            ta_error_set(err, TA_ENOMEM, "out of memory");
        else
            db_fail(s->db, err, "searching");
        free(hit);
        json_decref(arr);
        free(fq);
        return NULL;
    }
    size_t nh = 0, k = 0;
    int64_t *hits = query_hits(s, fq, &nh);
    sqlite3_bind_text(one, 1, fq, -1, SQLITE_STATIC);
    if (hits) sqlite3_bind_blob(one, 3, hits, (int)(nh * sizeof *hits), SQLITE_STATIC);
    if (span) {
        sqlite3_bind_int64(one, 2, lo);
        sqlite3_bind_int64(one, 4, hi);
        while (sqlite3_step(one) == SQLITE_ROW && k < n) {
            int64_t id = sqlite3_column_int64(one, 0);
            size_t a = 0, b = n; /* allowed? */
            while (a < b) {
                size_t mid = (a + b) / 2;
                if (ids[mid] < id)
                    a = mid + 1;
                else
                    b = mid;
            }
            if (a < n && ids[a] == id) hit[k++] = (scored){id, -sqlite3_column_double(one, 1)};
        }
        sqlite3_reset(one);
    } else {
        for (size_t i = 0; i < n; i++) {
            sqlite3_bind_int64(one, 2, ids[i]);
            if (sqlite3_step(one) == SQLITE_ROW)
                hit[k++] = (scored){ids[i], -sqlite3_column_double(one, 1)};
            sqlite3_reset(one);
        }
    }
    if (k > 1) qsort(hit, k, sizeof *hit, by_score_desc);
    sqlite3_bind_text(snip, 1, fq, -1, SQLITE_STATIC);
    for (size_t i = 0; i < k && (int64_t)i < (limit > 0 ? limit : 20); i++) {
        sqlite3_bind_int64(snip, 2, hit[i].id);
        sqlite3_bind_int64(chat, 1, hit[i].id);
        const char *sn = snippets && sqlite3_step(snip) == SQLITE_ROW
                             ? (const char *)sqlite3_column_text(snip, 0)
                             : NULL;
        int64_t cid = sqlite3_step(chat) == SQLITE_ROW ? sqlite3_column_int64(chat, 0) : 0;
        json_t *o = json_pack("{s:I,s:I,s:f}", "id", (json_int_t)hit[i].id, "chat_id",
                              (json_int_t)cid, "score", hit[i].score);
        if (snippets) json_object_set_new(o, "snippet", json_string(sn ? sn : ""));
        json_array_append_new(arr, o);
        sqlite3_reset(snip);
        sqlite3_reset(chat);
    }
    sqlite3_stmt *used[] = {one, snip, chat};
    for (size_t i = 0; i < sizeof used / sizeof used[0]; i++) {
        sqlite3_reset(used[i]);
        sqlite3_clear_bindings(used[i]);
    }
    free(hits);
    free(hit);
    free(fq);
    return arr;
}

json_t *ta_store_search_text(ta_store *s, const char *query, int64_t chat_id, int64_t limit,
                             ta_error *err)
{
    return search_text(s, query, chat_id, limit, true, err);
}

json_t *ta_store_search_text_in(ta_store *s, const char *query, const int64_t *ids, size_t n,
                                int64_t limit, ta_error *err)
{
    return search_text_in(s, query, ids, n, limit, true, err);
}

json_t *ta_store_search_text_ex(ta_store *s, const char *query, int64_t chat_id, const int64_t *ids,
                                size_t n, int64_t limit, bool snippets, ta_error *err)
{
    return ids ? search_text_in(s, query, ids, n, limit, snippets, err)
               : search_text(s, query, chat_id, limit, snippets, err);
}

char *ta_store_snippet(ta_store *s, const char *query, int64_t id)
{
    char *fq = fts_query(query ? query : "");
    if (!fq || !fq[0]) {
        free(fq);
        return NULL;
    }
    sqlite3_stmt *snip = cached(s, &s->srch_snip,
                                "SELECT snippet(conv_messages_fts, 0, '[', ']', '...', 12)"
                                " FROM conv_messages_fts WHERE conv_messages_fts MATCH ?1"
                                " AND rowid = ?2");
    char *out = NULL;
    if (snip) {
        sqlite3_bind_text(snip, 1, fq, -1, SQLITE_STATIC);
        sqlite3_bind_int64(snip, 2, id);
        if (sqlite3_step(snip) == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(snip, 0);
            out = t ? strdup(t) : NULL;
        }
        sqlite3_reset(snip);
        sqlite3_clear_bindings(snip);
    }
    free(fq);
    return out;
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
