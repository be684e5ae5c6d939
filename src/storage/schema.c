/*
 * schema.c - the tables of the seven logical databases and their migrations.
 *
 * A migration raises one logical database by one version; migrations run in order at
 * open, each in the same transaction as the version it records, so a crash leaves
 * either the old or the new schema. A file whose versions are newer than this build
 * knows is refused rather than misread.
 */
#include "storage_internal.h"

#include <string.h>

const ta_migration ta_migrations[] = {
    {"meta", 1,
     "CREATE TABLE IF NOT EXISTS meta_settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
     "CREATE TABLE IF NOT EXISTS meta_index_state(name TEXT PRIMARY KEY, value TEXT NOT NULL,"
     " updated_ms INTEGER NOT NULL);"},
    {"knowledge", 1,
     "CREATE TABLE kg_entities(id INTEGER PRIMARY KEY, label TEXT NOT NULL, norm TEXT NOT NULL,"
     " type TEXT NOT NULL DEFAULT '', aliases TEXT NOT NULL DEFAULT '[]',"
     " confidence REAL NOT NULL DEFAULT 1.0, created_ms INTEGER NOT NULL,"
     " updated_ms INTEGER NOT NULL);"
     "CREATE UNIQUE INDEX kg_entities_norm ON kg_entities(norm, type);"
     "CREATE TABLE kg_relations(id INTEGER PRIMARY KEY,"
     " from_id INTEGER NOT NULL REFERENCES kg_entities(id) ON DELETE CASCADE,"
     " to_id INTEGER NOT NULL REFERENCES kg_entities(id) ON DELETE CASCADE,"
     " type TEXT NOT NULL, weight REAL NOT NULL DEFAULT 1.0, provenance TEXT,"
     " created_ms INTEGER NOT NULL);"
     "CREATE INDEX kg_relations_from ON kg_relations(from_id, type);"
     "CREATE INDEX kg_relations_to ON kg_relations(to_id, type);"
     "CREATE TABLE kg_mentions(entity_id INTEGER NOT NULL REFERENCES kg_entities(id)"
     " ON DELETE CASCADE, message_id INTEGER NOT NULL, PRIMARY KEY(entity_id, message_id))"
     " WITHOUT ROWID;"
     "CREATE INDEX kg_mentions_message ON kg_mentions(message_id);"},
    {"embeddings", 1,
     "CREATE TABLE emb_vectors(id INTEGER PRIMARY KEY, model TEXT NOT NULL,"
     " dim INTEGER NOT NULL CHECK(dim > 0),"
     " storage TEXT NOT NULL CHECK(storage IN ('f32','f16','i8')), data BLOB NOT NULL,"
     " owner_table TEXT NOT NULL, owner_id INTEGER NOT NULL, created_ms INTEGER NOT NULL);"
     "CREATE INDEX emb_vectors_owner ON emb_vectors(owner_table, owner_id);"
     "CREATE INDEX emb_vectors_model ON emb_vectors(model, id);"},
    {"conversations", 1,
     "CREATE TABLE conv_chats(id INTEGER PRIMARY KEY, title TEXT NOT NULL DEFAULT '',"
     " topic TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,"
     " updated_ms INTEGER NOT NULL);"
     "CREATE TABLE conv_messages(id INTEGER PRIMARY KEY,"
     " chat_id INTEGER NOT NULL REFERENCES conv_chats(id) ON DELETE CASCADE,"
     " role TEXT NOT NULL CHECK(role IN ('system','developer','user','assistant','tool')),"
     " content TEXT NOT NULL, ts_ms INTEGER NOT NULL, token_count INTEGER NOT NULL DEFAULT -1,"
     " attachments TEXT, embedding_id INTEGER,"
     " tier TEXT NOT NULL DEFAULT 'active' CHECK(tier IN ('active','recent','archive')));"
     "CREATE INDEX conv_messages_chat ON conv_messages(chat_id, id);"
     /* Full-text index, filled in batches (storage.c, fts_sync): messages up to the id in
      * meta_index_state 'conv_fts' are indexed. Ids only grow (storage.c gives each new
      * message an id above both the largest one and the mark, so an id is never reused),
      * so the mark is exact; deletes and edits of indexed messages update the index. */
     "CREATE VIRTUAL TABLE conv_messages_fts USING fts5(content, content='conv_messages',"
     " content_rowid='id');"
     "INSERT INTO meta_index_state(name, value, updated_ms) VALUES ('conv_fts', '0', 0);"
     "CREATE TRIGGER conv_messages_ad AFTER DELETE ON conv_messages BEGIN"
     " DELETE FROM emb_vectors WHERE owner_table = 'conv_messages' AND owner_id = old.id;"
     " DELETE FROM kg_mentions WHERE message_id = old.id; END;"
     "CREATE TRIGGER conv_messages_ad_fts AFTER DELETE ON conv_messages"
     " WHEN old.id <= (SELECT CAST(value AS INTEGER) FROM meta_index_state"
     " WHERE name = 'conv_fts') BEGIN"
     " INSERT INTO conv_messages_fts(conv_messages_fts, rowid, content)"
     " VALUES ('delete', old.id, old.content); END;"
     "CREATE TRIGGER conv_messages_au AFTER UPDATE OF content ON conv_messages"
     " WHEN old.id <= (SELECT CAST(value AS INTEGER) FROM meta_index_state"
     " WHERE name = 'conv_fts') BEGIN"
     " INSERT INTO conv_messages_fts(conv_messages_fts, rowid, content)"
     " VALUES ('delete', old.id, old.content);"
     " INSERT INTO conv_messages_fts(rowid, content) VALUES (new.id, new.content); END;"},
    {"tool_results", 1,
     "CREATE TABLE tool_pages(id INTEGER PRIMARY KEY, url TEXT NOT NULL, title TEXT,"
     " text TEXT NOT NULL, content_hash TEXT NOT NULL, fetched_ms INTEGER NOT NULL);"
     "CREATE INDEX tool_pages_url ON tool_pages(url);"
     "CREATE UNIQUE INDEX tool_pages_hash ON tool_pages(content_hash);"
     "CREATE TABLE tool_searches(id INTEGER PRIMARY KEY, query TEXT NOT NULL,"
     " results TEXT NOT NULL, ts_ms INTEGER NOT NULL);"
     "CREATE TABLE tool_calls(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
     " arguments TEXT NOT NULL, result TEXT, ts_ms INTEGER NOT NULL);"},
    {"experience", 1,
     "CREATE TABLE exp_outcomes(id INTEGER PRIMARY KEY, action_type TEXT NOT NULL,"
     " arguments TEXT NOT NULL DEFAULT '{}', result TEXT,"
     " feedback TEXT NOT NULL DEFAULT 'neutral'"
     " CHECK(feedback IN ('correction','approval','rejection','neutral')),"
     " ts_ms INTEGER NOT NULL);"
     "CREATE INDEX exp_outcomes_type ON exp_outcomes(action_type, ts_ms);"},
    {"summaries", 1,
     "CREATE TABLE sum_summaries(id INTEGER PRIMARY KEY,"
     " kind TEXT NOT NULL CHECK(kind IN ('session','daily','weekly')),"
     " chat_id INTEGER REFERENCES conv_chats(id) ON DELETE SET NULL, text TEXT NOT NULL,"
     " message_ids TEXT NOT NULL DEFAULT '[]', start_ms INTEGER NOT NULL,"
     " end_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL);"
     "CREATE INDEX sum_summaries_kind ON sum_summaries(kind, start_ms);"},
    /* What a saved vector index needs to tell whether it is stale (index_state.c): appends
     * show in max(id); any other change (a delete, an edit) bumps emb_changes. */
    {"embeddings", 2,
     "INSERT OR IGNORE INTO meta_index_state(name, value, updated_ms)"
     " VALUES ('emb_changes', '0', 0);"
     "CREATE TRIGGER emb_vectors_ad AFTER DELETE ON emb_vectors"
     " WHEN old.owner_table = 'conv_messages' BEGIN"
     " UPDATE meta_index_state SET value = CAST(value AS INTEGER) + 1"
     " WHERE name = 'emb_changes'; END;"
     "CREATE TRIGGER emb_vectors_au AFTER UPDATE ON emb_vectors"
     " WHEN old.owner_table = 'conv_messages' OR new.owner_table = 'conv_messages' BEGIN"
     " UPDATE meta_index_state SET value = CAST(value AS INTEGER) + 1"
     " WHERE name = 'emb_changes'; END;"},
    /* The weaver (src/weaver/): links between semantically similar messages (a < b; a
     * message's links go with it), a record of every entity merge (provenance), and
     * entity embeddings that go with their entity. */
    {"conversations", 2,
     "CREATE TABLE conv_links(a INTEGER NOT NULL, b INTEGER NOT NULL,"
     " similarity REAL NOT NULL, created_ms INTEGER NOT NULL, PRIMARY KEY(a, b),"
     " CHECK(a < b)) WITHOUT ROWID;"
     "CREATE INDEX conv_links_b ON conv_links(b);"
     "CREATE TRIGGER conv_messages_ad_links AFTER DELETE ON conv_messages BEGIN"
     " DELETE FROM conv_links WHERE a = old.id; DELETE FROM conv_links WHERE b = old.id; END;"},
    {"knowledge", 2,
     "CREATE TABLE kg_merges(id INTEGER PRIMARY KEY, keep_id INTEGER NOT NULL,"
     " dropped_id INTEGER NOT NULL, dropped_label TEXT NOT NULL,"
     " dropped_type TEXT NOT NULL, reason TEXT NOT NULL, similarity REAL,"
     " merged_ms INTEGER NOT NULL);"
     "CREATE INDEX kg_merges_keep ON kg_merges(keep_id);"
     "CREATE TRIGGER kg_entities_ad AFTER DELETE ON kg_entities BEGIN"
     " DELETE FROM emb_vectors WHERE owner_table = 'kg_entities' AND owner_id = old.id;"
     " UPDATE kg_merges SET keep_id = (SELECT keep_id FROM kg_merges WHERE dropped_id = old.id"
     " ORDER BY id DESC LIMIT 1) WHERE keep_id = old.id AND EXISTS (SELECT 1 FROM kg_merges"
     " WHERE dropped_id = old.id); END;"},
    /* Full-text indexes over scraped pages and summaries (records.c), kept by triggers:
     * these are written one at a time, not in bulk like messages. */
    {"tool_results", 2,
     "CREATE VIRTUAL TABLE tool_pages_fts USING fts5(title, text, content='tool_pages',"
     " content_rowid='id');"
     "CREATE TRIGGER tool_pages_ai AFTER INSERT ON tool_pages BEGIN"
     " INSERT INTO tool_pages_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END;"
     "CREATE TRIGGER tool_pages_ad AFTER DELETE ON tool_pages BEGIN"
     " INSERT INTO tool_pages_fts(tool_pages_fts, rowid, title, text)"
     " VALUES ('delete', old.id, old.title, old.text); END;"
     "CREATE TRIGGER tool_pages_au AFTER UPDATE OF title, text ON tool_pages BEGIN"
     " INSERT INTO tool_pages_fts(tool_pages_fts, rowid, title, text)"
     " VALUES ('delete', old.id, old.title, old.text);"
     " INSERT INTO tool_pages_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END;"
     "CREATE INDEX tool_calls_name ON tool_calls(name, ts_ms);"
     "CREATE INDEX tool_searches_ts ON tool_searches(ts_ms);"},
    {"summaries", 2,
     "CREATE VIRTUAL TABLE sum_summaries_fts USING fts5(text, content='sum_summaries',"
     " content_rowid='id');"
     "CREATE TRIGGER sum_summaries_ai AFTER INSERT ON sum_summaries BEGIN"
     " INSERT INTO sum_summaries_fts(rowid, text) VALUES (new.id, new.text); END;"
     "CREATE TRIGGER sum_summaries_ad AFTER DELETE ON sum_summaries BEGIN"
     " INSERT INTO sum_summaries_fts(sum_summaries_fts, rowid, text)"
     " VALUES ('delete', old.id, old.text); END;"
     "CREATE TRIGGER sum_summaries_au AFTER UPDATE OF text ON sum_summaries BEGIN"
     " INSERT INTO sum_summaries_fts(sum_summaries_fts, rowid, text)"
     " VALUES ('delete', old.id, old.text);"
     " INSERT INTO sum_summaries_fts(rowid, text) VALUES (new.id, new.text); END;"
     "CREATE INDEX sum_summaries_chat ON sum_summaries(chat_id, start_ms);"},
    /* storage.c's write path: conv_messages rebuilt with its CHECKs written as OR chains
     * instead of IN lists (the same rule). SQLite 3.40 builds a temporary table for an IN
     * list in a CHECK on every insert: 7 us a message, two thirds of a batched write.
     * Dropping the old table drops its triggers: every trigger ON conv_messages made by
     * the migrations above is made again here (add any new one to both places). */
    {"conversations", 3,
     "CREATE TABLE conv_messages_new(id INTEGER PRIMARY KEY,"
     " chat_id INTEGER NOT NULL REFERENCES conv_chats(id) ON DELETE CASCADE,"
     " role TEXT NOT NULL CHECK(role = 'system' OR role = 'developer' OR role = 'user'"
     " OR role = 'assistant' OR role = 'tool'),"
     " content TEXT NOT NULL, ts_ms INTEGER NOT NULL, token_count INTEGER NOT NULL DEFAULT -1,"
     " attachments TEXT, embedding_id INTEGER,"
     " tier TEXT NOT NULL DEFAULT 'active'"
     " CHECK(tier = 'active' OR tier = 'recent' OR tier = 'archive'));"
     "INSERT INTO conv_messages_new(id, chat_id, role, content, ts_ms, token_count, attachments,"
     " embedding_id, tier) SELECT id, chat_id, role, content, ts_ms, token_count, attachments,"
     " embedding_id, tier FROM conv_messages ORDER BY id;"
     "DROP TABLE conv_messages;"
     "ALTER TABLE conv_messages_new RENAME TO conv_messages;"
     "CREATE INDEX conv_messages_chat ON conv_messages(chat_id, id);"
     "CREATE TRIGGER conv_messages_ad AFTER DELETE ON conv_messages BEGIN"
     " DELETE FROM emb_vectors WHERE owner_table = 'conv_messages' AND owner_id = old.id;"
     " DELETE FROM kg_mentions WHERE message_id = old.id; END;"
     "CREATE TRIGGER conv_messages_ad_fts AFTER DELETE ON conv_messages"
     " WHEN old.id <= (SELECT CAST(value AS INTEGER) FROM meta_index_state"
     " WHERE name = 'conv_fts') BEGIN"
     " INSERT INTO conv_messages_fts(conv_messages_fts, rowid, content)"
     " VALUES ('delete', old.id, old.content); END;"
     "CREATE TRIGGER conv_messages_au AFTER UPDATE OF content ON conv_messages"
     " WHEN old.id <= (SELECT CAST(value AS INTEGER) FROM meta_index_state"
     " WHERE name = 'conv_fts') BEGIN"
     " INSERT INTO conv_messages_fts(conv_messages_fts, rowid, content)"
     " VALUES ('delete', old.id, old.content);"
     " INSERT INTO conv_messages_fts(rowid, content) VALUES (new.id, new.content); END;"
     "CREATE TRIGGER conv_messages_ad_links AFTER DELETE ON conv_messages BEGIN"
     " DELETE FROM conv_links WHERE a = old.id; DELETE FROM conv_links WHERE b = old.id; END;"},
};
const size_t ta_n_migrations = sizeof ta_migrations / sizeof ta_migrations[0];

const char *const ta_logical_dbs[] = {"conversations", "knowledge", "embeddings", "tool_results",
                                      "experience",    "summaries", "meta",       NULL};

int ta_schema_latest(const char *db)
{
    int v = 0;
    for (size_t i = 0; i < ta_n_migrations; i++)
        if (!strcmp(ta_migrations[i].db, db) && ta_migrations[i].version > v)
            v = ta_migrations[i].version;
    return v;
}
