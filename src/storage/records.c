/*
 * records.c - the smaller logical databases: tool results (scraped pages, web
 * searches, function-call results), experience (action outcomes and the user's
 * feedback on them) and summaries (session, daily, weekly, with the messages they
 * cover); full-text search over pages and summaries; and the FTS5 query quoting that
 * every full-text search here uses.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../core/sha256.h"
#include "storage_internal.h"

static int fail(sqlite3 *db, ta_error *err, const char *what)
{
    int code = sqlite3_errcode(db);
    return ta_error_set(err, code == SQLITE_CONSTRAINT ? TA_EINVAL : TA_EIO, "%s: %s", what,
                        sqlite3_errmsg(db));
}

static bool is_word_char(char c)
{
    return c && !isspace((unsigned char)c) && !(ispunct((unsigned char)c) && c != '\'');
}

char *ta_store_fts_query(const char *q)
{
    size_t n = strlen(q), o = 0;
    char *out = malloc(n * 8 + 16); /* each byte doubled at worst, 6 more per word */
    if (!out) return NULL;
    const char *p = q;
    while (*p) {
        while (*p && !is_word_char(*p))
            p++;
        if (!*p) break;
        if (o) out[o++] = ' '; /* FTS5: terms side by side must all match */
        out[o++] = '"';
        while (is_word_char(*p)) {
            if (*p == '"') out[o++] = '"';
            out[o++] = *p++;
        }
        out[o++] = '"';
    }
    out[o] = '\0';
    return out;
}

static char *dump(const json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

/* A stored JSON text back as JSON (or as a string when it is not JSON). */
static json_t *load(sqlite3_stmt *st, int col)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    if (!t) return json_null();
    json_t *v = json_loads(t, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(t);
}

/* Runs one INSERT prepared from sql with binds done by the caller; *id its row id. */
static int insert(ta_store *s, sqlite3_stmt *st, int64_t *id, ta_error *err, const char *what)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? TA_OK : fail(s->db, err, what);
    if (!rc && id) *id = sqlite3_last_insert_rowid(s->db);
    sqlite3_finalize(st);
    return rc;
}

static int prep(ta_store *s, const char *sql, sqlite3_stmt **st, ta_error *err, const char *what)
{
    ta_store_release_view(s);
    return sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK ? TA_OK
                                                                     : fail(s->db, err, what);
}

/* ---- tool results ----------------------------------------------------------------------- */

int ta_store_page_add(ta_store *s, const ta_page_in *p, int64_t *id, bool *duplicate, ta_error *err)
{
    if (duplicate) *duplicate = false;
    if (!p->url || !p->url[0] || !p->text)
        return ta_error_set(err, TA_EINVAL, "a page needs its url and text");
    char hash[TA_SHA256_HEX_LEN + 1];
    if (ta_sha256_hex(p->text, strlen(p->text), hash))
        return ta_error_set(err, TA_EIO, "cannot hash the page");
    int64_t ts = p->fetched_ms ? p->fetched_ms : ta_store_now_ms();
    sqlite3_stmt *st;
    int rc =
        prep(s, "SELECT id FROM tool_pages WHERE content_hash = ?", &st, err, "storing a page");
    if (rc) return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    int64_t old = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (old) { /* the same text again: one copy, its url and fetch time brought up to date */
        if ((rc = prep(s,
                       "UPDATE tool_pages SET url = ?1, fetched_ms = max(fetched_ms, ?2)"
                       " WHERE id = ?3",
                       &st, err, "storing a page")))
            return rc;
        sqlite3_bind_text(st, 1, p->url, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, ts);
        sqlite3_bind_int64(st, 3, old);
        rc = sqlite3_step(st) == SQLITE_DONE ? TA_OK : fail(s->db, err, "storing a page");
        sqlite3_finalize(st);
        if (!rc && id) *id = old;
        if (!rc && duplicate) *duplicate = true;
        return rc;
    }
    if ((rc = prep(s,
                   "INSERT INTO tool_pages(url, title, text, content_hash, fetched_ms)"
                   " VALUES (?, ?, ?, ?, ?)",
                   &st, err, "storing a page")))
        return rc;
    sqlite3_bind_text(st, 1, p->url, -1, SQLITE_STATIC);
    if (p->title)
        sqlite3_bind_text(st, 2, p->title, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, p->text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, ts);
    return insert(s, st, id, err, "storing a page");
}

json_t *ta_store_page_get(ta_store *s, int64_t id, ta_error *err)
{
    sqlite3_stmt *st;
    if (prep(s,
             "SELECT id, url, title, text, content_hash, fetched_ms FROM tool_pages WHERE id = ?",
             &st, err, "reading a page"))
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    json_t *o = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *title = (const char *)sqlite3_column_text(st, 2);
        o = json_pack("{s:I,s:s,s:o,s:s,s:s,s:I}", "id", (json_int_t)sqlite3_column_int64(st, 0),
                      "url", (const char *)sqlite3_column_text(st, 1), "title",
                      title ? json_string(title) : json_null(), "text",
                      (const char *)sqlite3_column_text(st, 3), "content_hash",
                      (const char *)sqlite3_column_text(st, 4), "fetched_ms",
                      (json_int_t)sqlite3_column_int64(st, 5));
    }
    sqlite3_finalize(st);
    if (!o) ta_error_set(err, TA_ENOTFOUND, "page %lld does not exist", (long long)id);
    return o;
}

int ta_store_web_search_add(ta_store *s, const char *query, const json_t *results, int64_t ts_ms,
                            int64_t *id, ta_error *err)
{
    if (!query || !query[0]) return ta_error_set(err, TA_EINVAL, "a search needs its query");
    sqlite3_stmt *st;
    int rc = prep(s, "INSERT INTO tool_searches(query, results, ts_ms) VALUES (?, ?, ?)", &st, err,
                  "storing a search");
    if (rc) return rc;
    char *res = dump(results);
    sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, res ? res : "[]", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, ts_ms ? ts_ms : ta_store_now_ms());
    free(res);
    return insert(s, st, id, err, "storing a search");
}

int ta_store_tool_call_add(ta_store *s, const char *name, const json_t *arguments,
                           const json_t *result, int64_t ts_ms, int64_t *id, ta_error *err)
{
    if (!name || !name[0]) return ta_error_set(err, TA_EINVAL, "a tool call needs its name");
    sqlite3_stmt *st;
    int rc = prep(s, "INSERT INTO tool_calls(name, arguments, result, ts_ms) VALUES (?, ?, ?, ?)",
                  &st, err, "storing a tool call");
    if (rc) return rc;
    char *args = dump(arguments), *res = dump(result);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, args ? args : "{}", -1, SQLITE_TRANSIENT);
    if (res)
        sqlite3_bind_text(st, 3, res, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_int64(st, 4, ts_ms ? ts_ms : ta_store_now_ms());
    free(args);
    free(res);
    return insert(s, st, id, err, "storing a tool call");
}

json_t *ta_store_tool_results(ta_store *s, const char *kind, const char *match, int64_t offset,
                              int64_t limit, ta_error *err)
{
    const char *sql;
    if (!strcmp(kind, "pages"))
        sql = "SELECT id, url, title, substr(text, 1, 300), content_hash, fetched_ms,"
              " length(text) FROM tool_pages WHERE ?1 IS NULL OR url = ?1"
              " ORDER BY fetched_ms DESC, id DESC LIMIT ?2 OFFSET ?3";
    else if (!strcmp(kind, "searches"))
        sql = "SELECT id, query, results, ts_ms FROM tool_searches WHERE ?1 IS NULL OR query = ?1"
              " ORDER BY ts_ms DESC, id DESC LIMIT ?2 OFFSET ?3";
    else if (!strcmp(kind, "calls"))
        sql = "SELECT id, name, arguments, result, ts_ms FROM tool_calls"
              " WHERE ?1 IS NULL OR name = ?1 ORDER BY ts_ms DESC, id DESC LIMIT ?2 OFFSET ?3";
    else {
        ta_error_set(err, TA_EINVAL, "kind: pages, searches or calls");
        return NULL;
    }
    sqlite3_stmt *st;
    if (prep(s, sql, &st, err, "listing tool results")) return NULL;
    if (match)
        sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 1);
    sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
    sqlite3_bind_int64(st, 3, offset > 0 ? offset : 0);
    json_t *arr = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *o;
        json_int_t id = (json_int_t)sqlite3_column_int64(st, 0);
        if (kind[0] == 'p') {
            const char *title = (const char *)sqlite3_column_text(st, 2);
            o = json_pack("{s:I,s:s,s:o,s:s,s:s,s:I,s:I}", "id", id, "url",
                          (const char *)sqlite3_column_text(st, 1), "title",
                          title ? json_string(title) : json_null(), "excerpt",
                          (const char *)sqlite3_column_text(st, 3), "content_hash",
                          (const char *)sqlite3_column_text(st, 4), "fetched_ms",
                          (json_int_t)sqlite3_column_int64(st, 5), "text_bytes",
                          (json_int_t)sqlite3_column_int64(st, 6));
        } else if (kind[0] == 's') {
            o = json_pack("{s:I,s:s,s:o,s:I}", "id", id, "query",
                          (const char *)sqlite3_column_text(st, 1), "results", load(st, 2),
                          "timestamp_ms", (json_int_t)sqlite3_column_int64(st, 3));
        } else {
            o = json_pack("{s:I,s:s,s:o,s:o,s:I}", "id", id, "name",
                          (const char *)sqlite3_column_text(st, 1), "arguments", load(st, 2),
                          "result", load(st, 3), "timestamp_ms",
                          (json_int_t)sqlite3_column_int64(st, 4));
        }
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(st);
    return arr;
}

/* ---- experience ------------------------------------------------------------------------- */

static bool known_feedback(const char *f)
{
    return f && (!strcmp(f, "correction") || !strcmp(f, "approval") || !strcmp(f, "rejection") ||
                 !strcmp(f, "neutral"));
}

int ta_store_outcome_add(ta_store *s, const ta_outcome_in *o, int64_t *id, ta_error *err)
{
    if (!o->action_type || !o->action_type[0])
        return ta_error_set(err, TA_EINVAL, "an outcome needs its action type");
    const char *fb = o->feedback ? o->feedback : "neutral";
    if (!known_feedback(fb))
        return ta_error_set(err, TA_EINVAL, "feedback: correction, approval, rejection or neutral");
    sqlite3_stmt *st;
    int rc = prep(s,
                  "INSERT INTO exp_outcomes(action_type, arguments, result, feedback, ts_ms)"
                  " VALUES (?, ?, ?, ?, ?)",
                  &st, err, "storing an outcome");
    if (rc) return rc;
    char *args = dump(o->arguments), *res = dump(o->result);
    sqlite3_bind_text(st, 1, o->action_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, args ? args : "{}", -1, SQLITE_TRANSIENT);
    if (res)
        sqlite3_bind_text(st, 3, res, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_text(st, 4, fb, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, o->ts_ms ? o->ts_ms : ta_store_now_ms());
    free(args);
    free(res);
    return insert(s, st, id, err, "storing an outcome");
}

int ta_store_outcome_feedback(ta_store *s, int64_t id, const char *feedback, ta_error *err)
{
    if (!known_feedback(feedback))
        return ta_error_set(err, TA_EINVAL, "feedback: correction, approval, rejection or neutral");
    sqlite3_stmt *st;
    int rc = prep(s, "UPDATE exp_outcomes SET feedback = ? WHERE id = ?", &st, err,
                  "recording feedback");
    if (rc) return rc;
    sqlite3_bind_text(st, 1, feedback, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    rc = sqlite3_step(st) == SQLITE_DONE ? TA_OK : fail(s->db, err, "recording feedback");
    if (!rc && !sqlite3_changes(s->db))
        rc = ta_error_set(err, TA_ENOTFOUND, "outcome %lld does not exist", (long long)id);
    sqlite3_finalize(st);
    return rc;
}

json_t *ta_store_outcomes(ta_store *s, const char *action_type, const char *feedback,
                          int64_t offset, int64_t limit, ta_error *err)
{
    sqlite3_stmt *st;
    if (prep(s,
             "SELECT id, action_type, arguments, result, feedback, ts_ms FROM exp_outcomes"
             " WHERE (?1 IS NULL OR action_type = ?1) AND (?2 IS NULL OR feedback = ?2)"
             " ORDER BY ts_ms DESC, id DESC LIMIT ?3 OFFSET ?4",
             &st, err, "listing outcomes"))
        return NULL;
    if (action_type) sqlite3_bind_text(st, 1, action_type, -1, SQLITE_STATIC);
    if (feedback) sqlite3_bind_text(st, 2, feedback, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1);
    sqlite3_bind_int64(st, 4, offset > 0 ? offset : 0);
    json_t *data = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(data,
                              json_pack("{s:I,s:s,s:o,s:o,s:s,s:I}", "id",
                                        (json_int_t)sqlite3_column_int64(st, 0), "action_type",
                                        (const char *)sqlite3_column_text(st, 1), "arguments",
                                        load(st, 2), "result", load(st, 3), "feedback",
                                        (const char *)sqlite3_column_text(st, 4), "timestamp_ms",
                                        (json_int_t)sqlite3_column_int64(st, 5)));
    sqlite3_finalize(st);
    /* how the user judged this kind of action, over all of its outcomes */
    json_t *counts = json_pack("{s:i,s:i,s:i,s:i}", "approval", 0, "correction", 0, "rejection", 0,
                               "neutral", 0);
    if (!prep(s,
              "SELECT feedback, count(*) FROM exp_outcomes WHERE ?1 IS NULL OR action_type = ?1"
              " GROUP BY feedback",
              &st, NULL, "")) {
        if (action_type) sqlite3_bind_text(st, 1, action_type, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_object_set_new(counts, (const char *)sqlite3_column_text(st, 0),
                                json_integer(sqlite3_column_int64(st, 1)));
        sqlite3_finalize(st);
    }
    return json_pack("{s:o,s:o}", "data", data, "feedback_counts", counts);
}

/* ---- summaries ------------------------------------------------------------------------ */

int ta_store_summary_add(ta_store *s, const ta_summary_in *in, int64_t *id, ta_error *err)
{
    if (!in->kind ||
        (strcmp(in->kind, "session") && strcmp(in->kind, "daily") && strcmp(in->kind, "weekly")))
        return ta_error_set(err, TA_EINVAL, "kind: session, daily or weekly");
    if (!in->text || !in->text[0]) return ta_error_set(err, TA_EINVAL, "a summary needs its text");
    if (in->end_ms < in->start_ms)
        return ta_error_set(err, TA_EINVAL, "end_ms (%lld) is before start_ms (%lld)",
                            (long long)in->end_ms, (long long)in->start_ms);
    sqlite3_stmt *st;
    int rc;
    if (in->chat_id) {
        if ((rc = prep(s, "SELECT 1 FROM conv_chats WHERE id = ?", &st, err, "checking the chat")))
            return rc;
        sqlite3_bind_int64(st, 1, in->chat_id);
        bool found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!found)
            return ta_error_set(err, TA_ENOTFOUND, "chat %lld does not exist",
                                (long long)in->chat_id);
    }
    json_t *ids = json_array();
    if ((rc = prep(s, "SELECT 1 FROM conv_messages WHERE id = ?", &st, err, "checking messages"))) {
        json_decref(ids);
        return rc;
    }
    for (size_t i = 0; !rc && i < in->n_messages; i++) {
        sqlite3_bind_int64(st, 1, in->message_ids[i]);
        if (sqlite3_step(st) != SQLITE_ROW)
            rc = ta_error_set(err, TA_EINVAL, "message_ids: message %lld does not exist",
                              (long long)in->message_ids[i]);
        sqlite3_reset(st);
        json_array_append_new(ids, json_integer((json_int_t)in->message_ids[i]));
    }
    sqlite3_finalize(st);
    char *idtext = rc ? NULL : json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    if (rc) return rc;
    if (!idtext) return ta_error_set(err, TA_ENOMEM, "out of memory");
    rc = prep(s,
              "INSERT INTO sum_summaries(kind, chat_id, text, message_ids, start_ms, end_ms,"
              " created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
              &st, err, "storing a summary");
    if (rc) {
        free(idtext);
        return rc;
    }
    sqlite3_bind_text(st, 1, in->kind, -1, SQLITE_STATIC);
    if (in->chat_id)
        sqlite3_bind_int64(st, 2, in->chat_id);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, in->text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, idtext, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, in->start_ms);
    sqlite3_bind_int64(st, 6, in->end_ms);
    sqlite3_bind_int64(st, 7, ta_store_now_ms());
    free(idtext);
    return insert(s, st, id, err, "storing a summary");
}

json_t *ta_store_summaries(ta_store *s, const char *kind, int64_t chat_id, int64_t since_ms,
                           int64_t until_ms, int64_t offset, int64_t limit, ta_error *err)
{
    sqlite3_stmt *st;
    /* the summaries whose span overlaps [since, until] */
    if (prep(s,
             "SELECT id, kind, chat_id, text, message_ids, start_ms, end_ms, created_ms"
             " FROM sum_summaries WHERE (?1 IS NULL OR kind = ?1)"
             " AND (?2 = 0 OR chat_id = ?2) AND (?3 = 0 OR end_ms >= ?3)"
             " AND (?4 = 0 OR start_ms <= ?4)"
             " ORDER BY start_ms DESC, id DESC LIMIT ?5 OFFSET ?6",
             &st, err, "listing summaries"))
        return NULL;
    if (kind) sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, chat_id);
    sqlite3_bind_int64(st, 3, since_ms);
    sqlite3_bind_int64(st, 4, until_ms);
    sqlite3_bind_int64(st, 5, limit > 0 ? limit : -1);
    sqlite3_bind_int64(st, 6, offset > 0 ? offset : 0);
    json_t *arr = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(arr, json_pack("{s:I,s:s,s:o,s:s,s:o,s:I,s:I,s:I}", "id",
                                             (json_int_t)sqlite3_column_int64(st, 0), "kind",
                                             (const char *)sqlite3_column_text(st, 1), "chat_id",
                                             sqlite3_column_type(st, 2) == SQLITE_NULL
                                                 ? json_null()
                                                 : json_integer(sqlite3_column_int64(st, 2)),
                                             "text", (const char *)sqlite3_column_text(st, 3),
                                             "message_ids", load(st, 4), "start_ms",
                                             (json_int_t)sqlite3_column_int64(st, 5), "end_ms",
                                             (json_int_t)sqlite3_column_int64(st, 6), "created_ms",
                                             (json_int_t)sqlite3_column_int64(st, 7)));
    sqlite3_finalize(st);
    return arr;
}

/* ---- deletes and full-text search --------------------------------------------------------- */

int ta_store_record_delete(ta_store *s, const char *kind, int64_t id, ta_error *err)
{
    static const char *const kinds[][2] = {{"page", "tool_pages"},
                                           {"search", "tool_searches"},
                                           {"call", "tool_calls"},
                                           {"outcome", "exp_outcomes"},
                                           {"summary", "sum_summaries"}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kind, kinds[i][0])) continue;
        char sql[96];
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = ?", kinds[i][1]);
        sqlite3_stmt *st;
        int rc = prep(s, sql, &st, err, "deleting");
        if (rc) return rc;
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st) == SQLITE_DONE ? TA_OK : fail(s->db, err, "deleting");
        if (!rc && !sqlite3_changes(s->db))
            rc = ta_error_set(err, TA_ENOTFOUND, "%s %lld does not exist", kind, (long long)id);
        sqlite3_finalize(st);
        return rc;
    }
    return ta_error_set(err, TA_EINVAL, "unknown record kind '%s'", kind);
}

json_t *ta_store_search_records(ta_store *s, const char *db, const char *query,
                                const ta_record_filter *f, int64_t limit, ta_error *err)
{
    const char *sql;
    bool pages = !strcmp(db, "tool_results");
    /* the best ids from the index alone (ORDER BY rank LIMIT), filtered on the row */
    if (pages)
        sql = "SELECT p.id, f.rank, snippet(tool_pages_fts, 1, '[', ']', '...', 12),"
              " p.fetched_ms, 'page', p.title, p.url FROM tool_pages_fts f"
              " JOIN tool_pages p ON p.id = f.rowid WHERE tool_pages_fts MATCH ?1"
              " AND (?2 = 0 OR p.fetched_ms >= ?2) AND (?3 = 0 OR p.fetched_ms <= ?3)"
              " AND (?4 IS NULL OR ?4 = 'page') ORDER BY f.rank LIMIT ?5";
    else if (!strcmp(db, "summaries"))
        sql = "SELECT m.id, f.rank, snippet(sum_summaries_fts, 0, '[', ']', '...', 12),"
              " m.end_ms, m.kind, NULL, NULL, m.chat_id FROM sum_summaries_fts f"
              " JOIN sum_summaries m ON m.id = f.rowid WHERE sum_summaries_fts MATCH ?1"
              " AND (?2 = 0 OR m.end_ms >= ?2) AND (?3 = 0 OR m.start_ms <= ?3)"
              " AND (?4 IS NULL OR ?4 = m.kind) AND (?6 = 0 OR m.chat_id = ?6)"
              " ORDER BY f.rank LIMIT ?5";
    else {
        ta_error_set(err, TA_EINVAL, "full-text search over '%s' is not available", db);
        return NULL;
    }
    char *fq = ta_store_fts_query(query ? query : "");
    if (!fq) {
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    json_t *arr = json_array();
    sqlite3_stmt *st = NULL;
    if (fq[0] && !prep(s, sql, &st, err, "searching")) {
        sqlite3_bind_text(st, 1, fq, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, f ? f->since_ms : 0);
        sqlite3_bind_int64(st, 3, f ? f->until_ms : 0);
        if (f && f->type) sqlite3_bind_text(st, 4, f->type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, limit > 0 ? limit : 20);
        if (!pages) sqlite3_bind_int64(st, 6, f ? f->chat_id : 0);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *o = json_pack(
                "{s:I,s:f,s:s,s:I,s:s}", "id", (json_int_t)sqlite3_column_int64(st, 0), "score",
                -sqlite3_column_double(st, 1), "snippet", (const char *)sqlite3_column_text(st, 2),
                "timestamp_ms", (json_int_t)sqlite3_column_int64(st, 3), "type",
                (const char *)sqlite3_column_text(st, 4));
            if (pages) {
                const char *title = (const char *)sqlite3_column_text(st, 5);
                json_object_set_new(o, "title", title ? json_string(title) : json_null());
                json_object_set_new(o, "url",
                                    json_string((const char *)sqlite3_column_text(st, 6)));
            } else if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
                json_object_set_new(o, "chat_id", json_integer(sqlite3_column_int64(st, 7)));
            }
            json_array_append_new(arr, o);
        }
        sqlite3_finalize(st);
    } else if (fq[0]) {
        json_decref(arr);
        arr = NULL;
    }
    free(fq);
    return arr;
}
