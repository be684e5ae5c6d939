/*
 * storage.h - the memory's databases on SQLite.
 *
 * The seven logical databases of the original design (conversations, knowledge,
 * embeddings, tool_results, experience, summaries, meta) live as table groups in ONE
 * SQLite file (WAL) under --db-path, so that a write spanning several of them (a
 * message, its embedding, its entities) is a single atomic transaction; SQLite does
 * not make a commit across ATTACHed WAL databases atomic. Each logical database has
 * its own schema version in meta_versions, raised by migrations run at open.
 *
 * Ids are SQLite integer keys: time-ordered, so inserts append to the B-trees
 * (random keys make inserts 15-20x slower).
 *
 * A ta_store is one connection; use one per thread (SQLite's WAL lets readers run
 * while one writer commits). Backup writes a consistent copy of the live database;
 * restore checks a candidate (integrity, application id, versions) before replacing
 * anything, and a refused file changes nothing.
 */
#ifndef TA_STORAGE_H
#define TA_STORAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"

typedef struct ta_store ta_store;

/* Opens (creating if needed) <dir>/tabagent.db and brings every schema up to date.
 * TA_EINVAL when the file is not a tabagent database or is from a newer version. */
ta_store *ta_store_open(const char *dir, ta_error *err);
void ta_store_close(ta_store *s);
const char *ta_store_path(const ta_store *s);

/* The schema version of a logical database ("conversations", ...), or -1. */
int ta_store_schema_version(ta_store *s, const char *db);

/* A transaction of the caller's around several writes (transaction.c): all of them
 * land, or (rollback, or a failed commit) none. Writes inside it nest as savepoints. */
int ta_store_begin(ta_store *s, ta_error *err);
int ta_store_commit(ta_store *s, ta_error *err);
void ta_store_rollback(ta_store *s);

/* ---- conversations ---- */

typedef struct ta_message_in {
    int64_t chat_id;
    const char *role;    /* system, user, assistant, tool */
    const char *content; /* UTF-8 text (indexed for full-text search) */
    int64_t timestamp_ms;
    int32_t token_count;       /* -1: unknown */
    const json_t *attachments; /* metadata array or NULL */
    const float *embedding;    /* NULL: none */
    uint32_t embedding_dim;
    const char *embedding_model;   /* required with an embedding */
    const char *embedding_storage; /* "f32" (NULL), "f16" (half the space), "i8" (a quarter) */
    const char *const *entities;   /* labels mentioned in the message (knowledge), or NULL */
    uint32_t n_entities;
} ta_message_in;

/* A new chat; *id gets its id. */
int ta_store_chat_create(ta_store *s, const char *title, const char *topic, int64_t *id,
                         ta_error *err);
/* Adds a message with its embedding and entities in one transaction (all or nothing);
 * *id gets the message id. TA_ENOTFOUND for an unknown chat. */
int ta_store_message_add(ta_store *s, const ta_message_in *m, int64_t *id, ta_error *err);
/* Many messages in one transaction (the fast path for imports): all or nothing. */
int ta_store_messages_add(ta_store *s, const ta_message_in *m, size_t n, int64_t *ids,
                          ta_error *err);
/* A message as JSON {id, chat_id, role, content, timestamp_ms, token_count, tier,
 * attachments, embedding_id}, or NULL (TA_ENOTFOUND). */
json_t *ta_store_message_get(ta_store *s, int64_t id, ta_error *err);
/* A message without copies: the strings point into SQLite's row and stay valid until
 * the next call of this function (or ta_store_close) on s. The fast path for reads. */
typedef struct ta_message_view {
    int64_t id, chat_id, timestamp_ms, embedding_id; /* embedding_id 0: none */
    int32_t token_count;
    const char *role, *content, *tier, *attachments; /* attachments: JSON text or NULL */
    size_t content_len;
} ta_message_view;
int ta_store_message_view(ta_store *s, int64_t id, ta_message_view *v, ta_error *err);

/* Reads between these see one snapshot, and skip taking the WAL read lock per
 * statement (3x faster point reads). Writes on s must not happen in between. */
int ta_store_read_begin(ta_store *s, ta_error *err);
void ta_store_read_end(ta_store *s);

/* The messages of a chat, oldest first, from offset (at most limit). */
json_t *ta_store_chat_messages(ta_store *s, int64_t chat_id, int64_t offset, int64_t limit,
                               ta_error *err);
/* Chats, newest first: [{id, title, topic, created_ms, updated_ms, messages}]. */
json_t *ta_store_chats(ta_store *s, int64_t offset, int64_t limit, ta_error *err);
/* Deletes a chat and its messages, their embeddings and index entries. */
int ta_store_chat_delete(ta_store *s, int64_t chat_id, ta_error *err);

/* Full-text search (FTS5, BM25) over message text: [{id, chat_id, score, snippet}],
 * best first. query is plain words (quoted for FTS5 here, so any text is safe), all
 * required. When more than 5,000 messages (of the chat) match, the newest 5,000 of them
 * are ranked: BM25 costs ~3 us a match, and a query of only common words can match most
 * of the corpus (250 ms over 100k messages). The score is FTS5's bm25() except that how
 * many messages contain each word (for its IDF) is counted once and kept per ta_store
 * until the index has grown by 1/64 (or a chat is deleted), rather than recounted in
 * every query (most of a query's time when a word is common). */
json_t *ta_store_search_text(ta_store *s, const char *query, int64_t chat_id /* 0: all */,
                             int64_t limit, ta_error *err);

/* Indexes for full-text search the messages written since the last indexing, oldest
 * first, at most max_rows of them (0: all), in one transaction of its own (a savepoint
 * inside the caller's); returns how many it indexed (0: none were waiting) or a negative
 * TA_E* code. Writes leave the index to later so that a message costs only its row
 * (indexing is 5-15 us a message, more than the row): a search indexes what is left
 * before it runs (so it sees every message), a stream of single writes indexes when more
 * than 4096 wait, and a batch of 64 or more never does. A server calls this from a
 * background thread on its own ta_store, in steps (max_rows 2000: the write lock is held
 * ~20 ms), whenever messages were written, and an import calls it after its batches, so
 * that neither a search nor a write waits on a long backlog. Nothing waiting costs two
 * reads and no lock. */
int ta_store_fts_sync(ta_store *s, size_t max_rows, ta_error *err);

/* The same, over the messages ids only (any order; best first out): for a chat's or an
 * entity's messages, at a cost that grows with n rather than with the matches. */
json_t *ta_store_search_text_in(ta_store *s, const char *query, const int64_t *ids, size_t n,
                                int64_t limit, ta_error *err);

/* Either of the two above (ids non-NULL: the allow-list form), with snippets only when
 * asked: a caller that shows a page of a longer list asks ta_store_snippet for the
 * page's results alone (a snippet costs a lookup of the message in the index). */
json_t *ta_store_search_text_ex(ta_store *s, const char *query, int64_t chat_id, const int64_t *ids,
                                size_t n, int64_t limit, bool snippets, ta_error *err);
/* The snippet of message id for query (malloc'd), or NULL when it does not match. */
char *ta_store_snippet(ta_store *s, const char *query, int64_t id);

/* Moves messages older than the given ages into the recent and archive tiers. */
int ta_store_retier(ta_store *s, int64_t now_ms, int64_t recent_after_ms, int64_t archive_after_ms,
                    ta_error *err);

/* A message embedding as floats (whatever its storage), for the callbacks below. */
typedef int (*ta_store_embedding_fn)(void *ud, int64_t message_id, const char *model,
                                     const float *vec, uint32_t dim);
/* index_state.c: what tells a saved vector index whether it is current. max_id is the
 * largest embedding id; changes counts every delete and edit of an embedding ever made.
 * An index that holds the message embeddings up to max_id, saved when changes had its
 * present value, is current once it adds those after max_id. */
typedef struct ta_store_emb_state {
    int64_t max_id, changes;
} ta_store_emb_state;
int ta_store_embedding_state(ta_store *s, ta_store_emb_state *out, ta_error *err);
/* Calls cb for every message embedding with an id above after_id, in id order, until
 * it returns nonzero: for (re)building and catching up the vector index. */
int ta_store_message_embeddings_after(ta_store *s, int64_t after_id, ta_store_embedding_fn cb,
                                      void *ud, ta_error *err);
/* Calls cb with the embedding of each of the messages ids (those that have one), in the
 * order given, until it returns nonzero: exact search over a few. */
int ta_store_message_vectors(ta_store *s, const int64_t *ids, size_t n, ta_store_embedding_fn cb,
                             void *ud, ta_error *err);
/* How many message embeddings of size dim there are; -1 on an error. */
int64_t ta_store_message_embedding_count(ta_store *s, uint32_t dim, ta_error *err);
/* The ids of a chat's messages (malloc'd into *ids; *n of them). */
int ta_store_chat_message_ids(ta_store *s, int64_t chat_id, int64_t **ids, size_t *n,
                              ta_error *err);

/* ---- knowledge (knowledge.c) ---- */

/* Adds an entity, or updates the one with the same normalized label and type (aliases
 * are merged, confidence is the higher); *id gets its id. aliases: a JSON array or NULL. */
int ta_store_entity_upsert(ta_store *s, const char *label, const char *type, const json_t *aliases,
                           double confidence, int64_t *id, ta_error *err);
/* Entities whose label or an alias matches name (case and spacing ignored). */
json_t *ta_store_entity_find(ta_store *s, const char *name, ta_error *err);
/* An entity with "merged_from": [{id, label, type, reason, similarity?, merged_ms}]. */
json_t *ta_store_entity_get(ta_store *s, int64_t id, ta_error *err);
/* A relation from -> to; TA_ENOTFOUND when either entity does not exist. */
int ta_store_relation_add(ta_store *s, int64_t from, int64_t to, const char *type, double weight,
                          const char *provenance, int64_t *id, ta_error *err);
/* {"nodes":[{id,label,type,depth}],"edges":[{id,from,to,type,weight}]} within hops
 * (1-6) of id, relations followed both ways. */
json_t *ta_store_neighborhood(ta_store *s, int64_t id, int hops, ta_error *err);
/* The entity ids of a shortest path from -> to (relations either way), at most
 * max_hops (1-8) long; TA_ENOTFOUND when there is none. */
json_t *ta_store_shortest_path(ta_store *s, int64_t from, int64_t to, int max_hops, ta_error *err);
/* Merges drop into keep: aliases, relations (with "merged from" provenance) and
 * mentions move to keep; drop is deleted. All or nothing. */
int ta_store_entity_merge(ta_store *s, int64_t keep, int64_t drop, ta_error *err);
/* The same, recording why (e.g. "requested", "same label", "similar embedding") and the
 * similarity (negative: none) in the kept entity's "merged_from" (ta_store_entity_get). */
int ta_store_entity_merge_why(ta_store *s, int64_t keep, int64_t drop, const char *reason,
                              double similarity, ta_error *err);
/* Pairs [a, b] that look like one entity: the same normalized label (of other types),
 * or one's label among the other's aliases. */
json_t *ta_store_duplicate_entities(ta_store *s, ta_error *err);

/* ---- the weaver's records (links.c) ---- */

/* A link between two similar messages (either order). */
typedef struct ta_store_link {
    int64_t a, b;
    double similarity;
} ta_store_link;
/* Adds links in one transaction; a link found again keeps the higher similarity, one
 * to a message that no longer exists is skipped. */
int ta_store_links_add(ta_store *s, const ta_store_link *links, size_t n, ta_error *err);
/* The messages linked to id, most similar first:
 * [{id, chat_id, role, snippet, timestamp_ms, similarity}]. */
json_t *ta_store_message_links(ta_store *s, int64_t id, int64_t limit, ta_error *err);
/* Sets (replaces) an entity's embedding; TA_ENOTFOUND for an unknown entity. */
int ta_store_entity_set_embedding(ta_store *s, int64_t entity_id, const char *model,
                                  const float *vec, uint32_t dim, ta_error *err);
/* Calls cb for every entity embedding (float32), in entity id order, until it returns
 * nonzero. */
typedef int (*ta_store_entity_vec_fn)(void *ud, int64_t entity_id, const char *type,
                                      double confidence, const float *vec, uint32_t dim);
int ta_store_entity_embeddings(ta_store *s, ta_store_entity_vec_fn cb, void *ud, ta_error *err);
/* Pairs [typed, untyped]: an entity without a type whose normalized label is that of
 * exactly one typed entity (a mention of it; merging is safe). */
json_t *ta_store_untyped_duplicates(ta_store *s, ta_error *err);

/* The ids (ascending, malloc'd into *ids) of the messages that mention an entity:
 * the one with entity_id, or (name non-NULL) every one whose label or an alias is name. */
int ta_store_entity_message_ids(ta_store *s, int64_t entity_id, const char *name, int64_t **ids,
                                size_t *n, ta_error *err);

/* ---- tool results, experience, summaries (records.c) ---- */

typedef struct ta_page_in {
    const char *url, *title, *text; /* title may be NULL */
    int64_t fetched_ms;             /* 0: now */
} ta_page_in;
/* Stores a scraped page. Text stored before (the same sha256) is kept once: *id gets
 * that page's id, its url and fetch time are updated, and *duplicate is set. */
int ta_store_page_add(ta_store *s, const ta_page_in *p, int64_t *id, bool *duplicate,
                      ta_error *err);
/* {id, url, title, text, content_hash, fetched_ms}, or NULL (TA_ENOTFOUND). */
json_t *ta_store_page_get(ta_store *s, int64_t id, ta_error *err);
/* A web search and its results (any JSON; NULL: []). ts_ms 0: now. */
int ta_store_web_search_add(ta_store *s, const char *query, const json_t *results, int64_t ts_ms,
                            int64_t *id, ta_error *err);
/* A function call's arguments (NULL: {}) and result (NULL: none). */
int ta_store_tool_call_add(ta_store *s, const char *name, const json_t *arguments,
                           const json_t *result, int64_t ts_ms, int64_t *id, ta_error *err);
/* Newest first. kind: "pages" (match: url), "searches" (match: query) or "calls"
 * (match: name); match NULL: all. Pages come with an excerpt, not their whole text. */
json_t *ta_store_tool_results(ta_store *s, const char *kind, const char *match, int64_t offset,
                              int64_t limit, ta_error *err);

typedef struct ta_outcome_in {
    const char *action_type;
    const json_t *arguments, *result; /* NULL: {} and none */
    const char *feedback;             /* correction, approval, rejection, neutral (NULL) */
    int64_t ts_ms;                    /* 0: now */
} ta_outcome_in;
int ta_store_outcome_add(ta_store *s, const ta_outcome_in *o, int64_t *id, ta_error *err);
/* The user's later judgement of an outcome; TA_ENOTFOUND for an unknown one. */
int ta_store_outcome_feedback(ta_store *s, int64_t id, const char *feedback, ta_error *err);
/* {"data":[...newest first], "feedback_counts":{approval, correction, rejection,
 * neutral}} for an action type (NULL: all), optionally of one feedback. */
json_t *ta_store_outcomes(ta_store *s, const char *action_type, const char *feedback,
                          int64_t offset, int64_t limit, ta_error *err);

typedef struct ta_summary_in {
    const char *kind; /* session, daily, weekly */
    int64_t chat_id;  /* 0: none */
    const char *text;
    const int64_t *message_ids; /* the messages it covers (each must exist) */
    size_t n_messages;
    int64_t start_ms, end_ms; /* the span it covers */
} ta_summary_in;
int ta_store_summary_add(ta_store *s, const ta_summary_in *in, int64_t *id, ta_error *err);
/* Newest span first; kind NULL, chat_id 0, since/until 0: any. A summary matches a
 * time range when its span overlaps it. */
json_t *ta_store_summaries(ta_store *s, const char *kind, int64_t chat_id, int64_t since_ms,
                           int64_t until_ms, int64_t offset, int64_t limit, ta_error *err);
/* Deletes a record: kind "page", "search", "call", "outcome" or "summary". */
int ta_store_record_delete(ta_store *s, const char *kind, int64_t id, ta_error *err);

/* Full-text search (BM25, best first) over "tool_results" (pages: title and text) or
 * "summaries": [{id, score, snippet, timestamp_ms, type, title?, url?, chat_id?}]. */
typedef struct ta_record_filter {
    int64_t since_ms, until_ms; /* 0: open */
    const char *type;           /* "page"; a summary kind; NULL: any */
    int64_t chat_id;            /* summaries only; 0: any */
} ta_record_filter;
json_t *ta_store_search_records(ta_store *s, const char *db, const char *query,
                                const ta_record_filter *f, int64_t limit, ta_error *err);
/* A free-text query as FTS5 terms, all required, every one quoted (no FTS syntax gets
 * through); malloc'd, "" when there are no words; NULL when out of memory. */
char *ta_store_fts_query(const char *q);

/* ---- export / import of one chat ---- */

/* {"format":"tabagent-chat","version":1,"chat":{...},"messages":[...]} */
json_t *ta_store_chat_export(ta_store *s, int64_t chat_id, ta_error *err);
/* Imports an exported chat as a new chat (validated first; nothing is written on an
 * error); *id gets the new chat's id. */
int ta_store_chat_import(ta_store *s, const json_t *doc, int64_t *id, ta_error *err);

/* ---- backup / restore / stats ---- */

/* A consistent copy of the live database at path (written to path.tmp, then renamed). */
int ta_store_backup(ta_store *s, const char *path, ta_error *err);
/* Replaces the database with the copy at path after checking it: SQLite integrity
 * check, tabagent's application id, and schema versions this build knows. A corrupt
 * or foreign file is refused and changes nothing. */
int ta_store_restore(ta_store *s, const char *path, ta_error *err);
/* SQLite's integrity check of the live database (every page, index and constraint):
 * TA_OK, or TA_EIO with the first problem found. */
int ta_store_check(ta_store *s, ta_error *err);
/* Row counts per table and the file size: {"chats":n, "messages":n, ...}. */
json_t *ta_store_stats(ta_store *s, ta_error *err);

#endif
