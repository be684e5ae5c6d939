/*
 * test_storage.c - the SQLite storage (src/storage/): schema versions and migrations,
 * a message written with its embedding and entities atomically (a failure leaves
 * nothing), full-text search, deletes that clean up after themselves, export/import,
 * backup and a checked restore that refuses corrupt or foreign files and changes
 * nothing then, and reopening.
 */
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "storage/storage.h"

static char dir[] = "/tmp/ta-store-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static int64_t count(ta_store *s, const char *what)
{
    ta_error err;
    json_t *st = ta_store_stats(s, &err);
    assert_non_null(st);
    int64_t n = json_integer_value(json_object_get(st, what));
    json_decref(st);
    return n;
}

static void test_messages_search_delete(void **state)
{
    (void)state;
    ta_error err = {0};
    ta_store *s = ta_store_open(dir, &err);
    assert_non_null(s);
    assert_int_equal(ta_store_schema_version(s, "conversations"), 3); /* every migration ran */
    assert_int_equal(ta_store_schema_version(s, "meta"), 1);
    assert_int_equal(ta_store_schema_version(s, "nope"), -1);

    int64_t chat, other;
    assert_int_equal(ta_store_chat_create(s, "Trip", "travel", &chat, &err), TA_OK);
    assert_int_equal(ta_store_chat_create(s, "Cooking", "", &other, &err), TA_OK);
    float vec[4] = {0.5f, -1.0f, 2.0f, 0.25f};
    const char *ents[] = {"Paris", "  paris ", "Eiffel Tower"};
    json_t *att = json_pack("[{s:s}]", "name", "ticket.pdf");
    ta_message_in m = {.chat_id = chat,
                       .role = "user",
                       .content = "Book a hotel near the Eiffel Tower in Paris",
                       .token_count = 11,
                       .attachments = att,
                       .embedding = vec,
                       .embedding_dim = 4,
                       .embedding_model = "minilm",
                       .entities = ents,
                       .n_entities = 3};
    int64_t id1, id2;
    assert_int_equal(ta_store_message_add(s, &m, &id1, &err), TA_OK);
    json_decref(att);
    ta_message_in m2 = {.chat_id = other, .role = "assistant", .content = "Whisk the eggs."};
    assert_int_equal(ta_store_message_add(s, &m2, &id2, &err), TA_OK);
    assert_true(id2 > id1);

    json_t *got = ta_store_message_get(s, id1, &err);
    assert_non_null(got);
    assert_string_equal(json_string_value(json_object_get(got, "content")), m.content);
    assert_string_equal(json_string_value(json_object_get(got, "tier")), "active");
    assert_true(json_is_integer(json_object_get(got, "embedding_id")));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(got, "attachments"), 0), "name")),
                        "ticket.pdf");
    json_decref(got);
    ta_message_view v;
    assert_int_equal(ta_store_message_view(s, id1, &v, &err), TA_OK);
    assert_string_equal(v.content, m.content);
    assert_int_equal(v.content_len, strlen(m.content));
    assert_int_equal(v.chat_id, chat);
    assert_int_equal(v.token_count, 11);
    assert_true(v.embedding_id > 0);
    assert_int_equal(ta_store_message_view(s, 424242, &v, &err), TA_ENOTFOUND);
    assert_int_equal(ta_store_read_begin(s, &err), TA_OK);
    assert_int_equal(ta_store_message_view(s, id2, &v, &err), TA_OK);
    assert_string_equal(v.role, "assistant");
    ta_store_read_end(s);
    assert_int_equal(count(s, "entities"), 2); /* "Paris" and "  paris " are one entity */
    assert_int_equal(count(s, "embeddings"), 1);

    /* atomic: an unknown chat or a bad role writes nothing, not even the embedding */
    ta_message_in bad = m;
    bad.chat_id = 999999;
    assert_int_equal(ta_store_message_add(s, &bad, NULL, &err), TA_ENOTFOUND);
    bad.chat_id = chat;
    bad.role = "robot";
    assert_int_equal(ta_store_message_add(s, &bad, NULL, &err), TA_EINVAL);
    ta_message_in batch[2] = {m2, bad};
    batch[0].chat_id = chat;
    assert_int_equal(ta_store_messages_add(s, batch, 2, NULL, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "message 1"));
    assert_int_equal(count(s, "messages"), 2);
    assert_int_equal(count(s, "embeddings"), 1);

    /* full-text search: any words, ranked; FTS syntax in the query is just text */
    json_t *hits = ta_store_search_text(s, "hotel paris", 0, 10, &err);
    assert_int_equal(json_array_size(hits), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(hits, 0), "id")), id1);
    json_decref(hits);
    hits = ta_store_search_text(s, "eggs\" (( * - :", 0, 10, &err);
    assert_non_null(hits);
    assert_int_equal(json_array_size(hits), 1);
    json_decref(hits);
    hits = ta_store_search_text(s, "eggs", chat, 10, &err); /* only in the other chat */
    assert_int_equal(json_array_size(hits), 0);
    json_decref(hits);

    json_t *chats = ta_store_chats(s, 0, 10, &err);
    assert_int_equal(json_array_size(chats), 2);
    json_decref(chats);
    json_t *list = ta_store_chat_messages(s, chat, 0, 10, &err);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);

    /* tiers by age */
    assert_int_equal(ta_store_retier(s, 4102444800000LL, 1000, 86400000, &err), TA_OK);
    got = ta_store_message_get(s, id1, &err);
    assert_string_equal(json_string_value(json_object_get(got, "tier")), "archive");
    json_decref(got);

    /* deleting the chat removes its messages, their embedding, mentions and index rows */
    assert_int_equal(ta_store_chat_delete(s, chat, &err), TA_OK);
    assert_int_equal(ta_store_chat_delete(s, chat, &err), TA_ENOTFOUND);
    assert_int_equal(count(s, "messages"), 1);
    assert_int_equal(count(s, "embeddings"), 0);
    hits = ta_store_search_text(s, "hotel", 0, 10, &err);
    assert_int_equal(json_array_size(hits), 0);
    json_decref(hits);
    /* ids are never reused: the newest message, indexed and then deleted, does not hand
     * its id (which the full-text index counts as indexed) to the next message */
    int64_t tmp, zid, yid;
    assert_int_equal(ta_store_chat_create(s, "tmp", "", &tmp, &err), TA_OK);
    ta_message_in z = {.chat_id = tmp, .role = "user", .content = "zebra crossing"};
    assert_int_equal(ta_store_message_add(s, &z, &zid, &err), TA_OK);
    hits = ta_store_search_text(s, "zebra", 0, 10, &err);
    assert_int_equal(json_array_size(hits), 1);
    json_decref(hits);
    assert_int_equal(ta_store_chat_delete(s, tmp, &err), TA_OK);
    ta_message_in y = {.chat_id = other, .role = "user", .content = "yak wool"};
    assert_int_equal(ta_store_message_add(s, &y, &yid, &err), TA_OK);
    assert_true(yid > zid);
    hits = ta_store_search_text(s, "yak", 0, 10, &err);
    assert_int_equal(json_array_size(hits), 1);
    json_decref(hits);
    hits = ta_store_search_text(s, "zebra", 0, 10, &err);
    assert_int_equal(json_array_size(hits), 0);
    json_decref(hits);
    ta_store_close(s);

    /* reopened: the data and versions persist */
    s = ta_store_open(dir, &err);
    assert_non_null(s);
    assert_int_equal(count(s, "messages"), 2);
    ta_store_close(s);
}

static void test_export_import(void **state)
{
    (void)state;
    ta_error err = {0};
    ta_store *s = ta_store_open(dir, &err);
    int64_t chat, copy;
    assert_int_equal(ta_store_chat_create(s, "Export me", "t", &chat, &err), TA_OK);
    const char *texts[] = {"one", "two \xe2\x82\xac", "three"};
    for (int i = 0; i < 3; i++) {
        ta_message_in m = {
            .chat_id = chat, .role = i % 2 ? "assistant" : "user", .content = texts[i]};
        assert_int_equal(ta_store_message_add(s, &m, NULL, &err), TA_OK);
    }
    json_t *doc = ta_store_chat_export(s, chat, &err);
    assert_non_null(doc);
    assert_int_equal(ta_store_chat_import(s, doc, &copy, &err), TA_OK);
    assert_true(copy != chat);
    json_t *a = ta_store_chat_messages(s, chat, 0, 0, &err),
           *b = ta_store_chat_messages(s, copy, 0, 0, &err);
    assert_int_equal(json_array_size(b), 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(a, i), "content")),
                            json_string_value(json_object_get(json_array_get(b, i), "content")));
    json_decref(a);
    json_decref(b);
    /* a bad document writes nothing */
    int64_t before = count(s, "chats");
    json_object_set_new(json_array_get(json_object_get(doc, "messages"), 2), "role",
                        json_string("robot"));
    assert_int_equal(ta_store_chat_import(s, doc, &copy, &err), TA_EINVAL);
    assert_int_equal(count(s, "chats"), before);
    json_t *junk = json_pack("{s:s}", "format", "other");
    assert_int_equal(ta_store_chat_import(s, junk, &copy, &err), TA_EINVAL);
    json_decref(junk);
    json_decref(doc);
    ta_store_close(s);
}

static void test_backup_restore(void **state)
{
    (void)state;
    ta_error err = {0};
    ta_store *s = ta_store_open(dir, &err);
    int64_t chat;
    assert_int_equal(ta_store_chat_create(s, "Before backup", "", &chat, &err), TA_OK);
    int64_t chats = count(s, "chats"), msgs = count(s, "messages");
    char bak[256], bad[256];
    snprintf(bak, sizeof bak, "%s/backup.db", dir);
    assert_int_equal(ta_store_backup(s, bak, &err), TA_OK);

    /* changes after the backup are undone by the restore */
    int64_t later;
    assert_int_equal(ta_store_chat_create(s, "After backup", "", &later, &err), TA_OK);
    assert_int_equal(count(s, "chats"), chats + 1);
    assert_int_equal(ta_store_restore(s, bak, &err), TA_OK);
    assert_int_equal(count(s, "chats"), chats);
    assert_int_equal(count(s, "messages"), msgs);

    /* refused, and nothing changes: a corrupted copy, a foreign database, junk */
    assert_int_equal(ta_store_chat_create(s, "Kept", "", &later, &err), TA_OK);
    int64_t now = count(s, "chats");
    snprintf(bad, sizeof bad, "%s/corrupt.db", dir);
    FILE *in = fopen(bak, "rb"), *out = fopen(bad, "wb");
    assert_non_null(in);
    assert_non_null(out);
    int c;
    long pos = 0;
    while ((c = fgetc(in)) != EOF) {
        if (pos >= 4096 * 2 && pos < 4096 * 2 + 64) c ^= 0x5a; /* inside a b-tree page */
        fputc(c, out);
        pos++;
    }
    fclose(in);
    fclose(out);
    assert_int_not_equal(ta_store_restore(s, bad, &err), TA_OK);
    assert_int_equal(count(s, "chats"), now);

    snprintf(bad, sizeof bad, "%s/foreign.db", dir);
    sqlite3 *f;
    assert_int_equal(sqlite3_open(bad, &f), SQLITE_OK);
    sqlite3_exec(f, "CREATE TABLE x(a); INSERT INTO x VALUES (1)", NULL, NULL, NULL);
    sqlite3_close(f);
    assert_int_equal(ta_store_restore(s, bad, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "not a tabagent database"));
    snprintf(bad, sizeof bad, "%s/junk.db", dir);
    out = fopen(bad, "wb");
    fputs("this is not a database at all, just text", out);
    fclose(out);
    assert_int_not_equal(ta_store_restore(s, bad, &err), TA_OK);
    snprintf(bad, sizeof bad, "%s/missing.db", dir);
    assert_int_equal(ta_store_restore(s, bad, &err), TA_ENOTFOUND);
    assert_int_equal(count(s, "chats"), now);
    ta_store_close(s);

    /* a database from a newer build is refused at open */
    char path[256];
    snprintf(path, sizeof path, "%s/tabagent.db", dir);
    assert_int_equal(sqlite3_open(path, &f), SQLITE_OK);
    sqlite3_exec(f, "UPDATE meta_versions SET version = 99 WHERE db = 'knowledge'", NULL, NULL,
                 NULL);
    sqlite3_close(f);
    assert_null(ta_store_open(dir, &err));
    assert_non_null(strstr(err.message, "newer"));
}

/* The knowledge graph: upserts by normalized label, aliases, relations, neighbourhoods,
 * shortest paths, duplicates and a merge that keeps relations and provenance. */
static void test_knowledge(void **state)
{
    (void)state;
    ta_error err = {0};
    ta_store *s = ta_store_open(dir, &err);
    assert_non_null(s);
    int64_t paris, france, eu, seine, paris2, lonely;
    json_t *al = json_pack("[s]", "City of Light");
    assert_int_equal(ta_store_entity_upsert(s, "Paris", "city", al, 0.9, &paris, &err), TA_OK);
    json_decref(al);
    al = json_pack("[s]", "Ville Lumiere");
    int64_t again;
    assert_int_equal(ta_store_entity_upsert(s, "  paris ", "city", al, 0.5, &again, &err), TA_OK);
    json_decref(al);
    assert_int_equal(again, paris); /* the same entity, aliases merged */
    assert_int_equal(ta_store_entity_upsert(s, "France", "country", NULL, 1, &france, &err), TA_OK);
    assert_int_equal(ta_store_entity_upsert(s, "European Union", "org", NULL, 1, &eu, &err), TA_OK);
    assert_int_equal(ta_store_entity_upsert(s, "Seine", "river", NULL, 1, &seine, &err), TA_OK);
    assert_int_equal(ta_store_entity_upsert(s, "Paname", "", NULL, 0.4, &paris2, &err), TA_OK);
    assert_int_equal(ta_store_entity_upsert(s, "Lonely", "", NULL, 1, &lonely, &err), TA_OK);
    assert_int_equal(ta_store_entity_upsert(s, "  ", "", NULL, 1, &lonely, &err), TA_EINVAL);

    json_t *found = ta_store_entity_find(s, "city of LIGHT", &err);
    assert_int_equal(json_array_size(found), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(found, 0), "id")), paris);
    assert_int_equal(json_array_size(json_object_get(json_array_get(found, 0), "aliases")), 2);
    json_decref(found);

    int64_t r;
    assert_int_equal(ta_store_relation_add(s, paris, france, "capital_of", 1, "msg:1", &r, &err),
                     TA_OK);
    assert_int_equal(ta_store_relation_add(s, france, eu, "member_of", 1, NULL, &r, &err), TA_OK);
    assert_int_equal(ta_store_relation_add(s, seine, paris, "flows_through", 1, NULL, &r, &err),
                     TA_OK);
    assert_int_equal(ta_store_relation_add(s, paris2, seine, "near", 0.5, NULL, &r, &err), TA_OK);
    assert_int_equal(ta_store_relation_add(s, paris, 99999, "x", 1, NULL, &r, &err), TA_ENOTFOUND);

    json_t *nb = ta_store_neighborhood(s, paris, 1, &err);
    assert_int_equal(json_array_size(json_object_get(nb, "nodes")), 3); /* paris, france, seine */
    json_decref(nb);
    nb = ta_store_neighborhood(s, paris, 2, &err);
    assert_int_equal(json_array_size(json_object_get(nb, "nodes")), 5); /* + eu, paname */
    assert_int_equal(json_array_size(json_object_get(nb, "edges")), 4);
    json_decref(nb);
    assert_null(ta_store_neighborhood(s, 424242, 1, &err));

    json_t *path = ta_store_shortest_path(s, paris2, eu, 6, &err);
    assert_non_null(path); /* paname - seine - paris - france - eu */
    assert_int_equal(json_array_size(path), 5);
    assert_int_equal(json_integer_value(json_array_get(path, 0)), paris2);
    assert_int_equal(json_integer_value(json_array_get(path, 4)), eu);
    json_decref(path);
    assert_null(ta_store_shortest_path(s, paris2, eu, 3, &err)); /* too far */
    assert_null(ta_store_shortest_path(s, paris, lonely, 6, &err));

    /* "Paname" is an alias of Paris: a duplicate, merged */
    al = json_pack("[s]", "Paname");
    assert_int_equal(ta_store_entity_upsert(s, "Paris", "city", al, 0.9, &again, &err), TA_OK);
    json_decref(al);
    json_t *dups = ta_store_duplicate_entities(s, &err);
    assert_true(json_array_size(dups) >= 1);
    json_decref(dups);
    assert_int_equal(ta_store_entity_merge(s, paris, paris2, &err), TA_OK);
    assert_null(ta_store_entity_get(s, paris2, &err));
    nb = ta_store_neighborhood(s, paris, 1, &err);
    json_t *edges = json_object_get(nb, "edges");
    bool moved = false;
    size_t i;
    json_t *e;
    json_array_foreach(edges, i, e) moved |=
        !strcmp(json_string_value(json_object_get(e, "type")), "near");
    assert_true(moved); /* paname's relation now starts at paris */
    json_decref(nb);
    assert_int_equal(ta_store_entity_merge(s, paris, paris2, &err), TA_ENOTFOUND);
    assert_int_equal(ta_store_entity_merge(s, paris, paris, &err), TA_EINVAL);
    ta_store_close(s);
}

typedef struct {
    int64_t ids[8];
    int n;
} seen;

static int collect(void *ud, int64_t message_id, const char *model, const float *vec, uint32_t dim)
{
    seen *c = ud;
    assert_string_equal(model, "m");
    assert_int_equal(dim, 4);
    assert_true(vec[1] == 1.0f);
    if (c->n < 8) c->ids[c->n++] = message_id;
    return 0;
}

/* What a saved vector index checks itself against: appends raise max_id, deletes and
 * edits raise changes; the embeddings after an id; the integrity check. */
static void test_embedding_state(void **state)
{
    (void)state;
    ta_error err = {0};
    char sub[64];
    snprintf(sub, sizeof sub, "%s/emb", dir); /* a database of its own */
    assert_int_equal(mkdir(sub, 0700), 0);
    ta_store *s = ta_store_open(sub, &err);
    if (!s) fail_msg("%s", err.message);
    assert_int_equal(ta_store_schema_version(s, "embeddings"), 2);
    int64_t chat, mid[3];
    assert_int_equal(ta_store_chat_create(s, "vectors", "", &chat, &err), TA_OK);
    ta_store_emb_state a, b, c, d;
    assert_int_equal(ta_store_embedding_state(s, &a, &err), TA_OK);
    int64_t base = ta_store_message_embedding_count(s, 4, &err);
    for (int i = 0; i < 3; i++) {
        float v[4] = {(float)i, 1, 2, 3};
        ta_message_in m = {.chat_id = chat,
                           .role = "user",
                           .content = "v",
                           .embedding = v,
                           .embedding_dim = 4,
                           .embedding_model = "m"};
        assert_int_equal(ta_store_message_add(s, &m, &mid[i], &err), TA_OK);
        if (i == 0) assert_int_equal(ta_store_embedding_state(s, &b, &err), TA_OK);
    }
    assert_int_equal(ta_store_embedding_state(s, &c, &err), TA_OK);
    assert_true(c.max_id > b.max_id && b.max_id > a.max_id);
    assert_int_equal(c.changes, a.changes); /* appends only */
    assert_int_equal(ta_store_message_embedding_count(s, 4, &err), base + 3);
    seen got = {0};
    assert_int_equal(ta_store_message_embeddings_after(s, b.max_id, collect, &got, &err), TA_OK);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.ids[0], mid[1]);
    assert_int_equal(got.ids[1], mid[2]);
    got.n = 0;
    assert_int_equal(ta_store_message_embeddings_after(s, c.max_id, collect, &got, &err), TA_OK);
    assert_int_equal(got.n, 0);
    /* deleting the chat deletes its embeddings: each bumps the change count */
    assert_int_equal(ta_store_chat_delete(s, chat, &err), TA_OK);
    assert_int_equal(ta_store_embedding_state(s, &d, &err), TA_OK);
    assert_int_equal(d.changes, c.changes + 3);
    assert_int_equal(ta_store_message_embedding_count(s, 4, &err), base);
    assert_int_equal(ta_store_check(s, &err), TA_OK);
    ta_store_close(s);
}

/* Text search within an allow-list: a dense one (one id range scanned) and a sparse one
 * (each id looked up), the same answers; snippets only when asked. */
static void test_search_within(void **state)
{
    (void)state;
    ta_error err = {0};
    char sub[64];
    snprintf(sub, sizeof sub, "%s/within", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    ta_store *s = ta_store_open(sub, &err);
    assert_non_null(s);
    int64_t chat, ids[200];
    assert_int_equal(ta_store_chat_create(s, "many", "", &chat, &err), TA_OK);
    ta_message_in m[200];
    char text[200][32];
    for (int i = 0; i < 200; i++) {
        snprintf(text[i], sizeof text[i], "%s number %d", i % 2 ? "odd" : "even", i);
        m[i] = (ta_message_in){.chat_id = chat, .role = "user", .content = text[i]};
    }
    assert_int_equal(ta_store_messages_add(s, m, 200, ids, &err), TA_OK);
    int64_t sparse[3] = {ids[0], ids[101], ids[199]}; /* far apart: looked up one by one */
    json_t *r = ta_store_search_text_ex(s, "odd", 0, sparse, 3, 10, true, &err);
    assert_non_null(r);
    assert_int_equal(json_array_size(r), 2);
    for (size_t i = 0; i < 2; i++) {
        json_int_t id = json_integer_value(json_object_get(json_array_get(r, i), "id"));
        assert_true(id == ids[101] || id == ids[199]);
        assert_non_null(
            strstr(json_string_value(json_object_get(json_array_get(r, i), "snippet")), "[odd]"));
    }
    json_decref(r);
    int64_t dense[4] = {ids[10], ids[11], ids[12], ids[13]}; /* one short range */
    r = ta_store_search_text_ex(s, "even", 0, dense, 4, 10, false, &err);
    assert_int_equal(json_array_size(r), 2);
    assert_null(json_object_get(json_array_get(r, 0), "snippet"));
    char *sn = ta_store_snippet(s, "even", ids[12]);
    assert_non_null(sn);
    assert_non_null(strstr(sn, "[even]"));
    free(sn);
    assert_null(ta_store_snippet(s, "odd", ids[12]));
    json_decref(r);
    r = ta_store_search_text_ex(s, "number", 0, dense, 4, 2, false, &err);
    assert_int_equal(json_array_size(r), 2); /* the limit */
    json_decref(r);
    ta_store_close(s);
}

typedef struct {
    float v[3][64];
    int n;
} got_vecs;

static int keep_vec(void *ud, int64_t id, const char *model, const float *vec, uint32_t dim)
{
    (void)id, (void)model;
    got_vecs *g = ud;
    assert_int_equal(dim, 64);
    memcpy(g->v[g->n++], vec, sizeof g->v[0]);
    return 0;
}

/* An embedding kept as f32, f16 or i8 reads back as floats within its precision. */
static void test_embedding_storage(void **state)
{
    (void)state;
    ta_error err = {0};
    char sub[64];
    snprintf(sub, sizeof sub, "%s/kinds", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    ta_store *s = ta_store_open(sub, &err);
    assert_non_null(s);
    int64_t chat, ids[3];
    assert_int_equal(ta_store_chat_create(s, "kinds", "", &chat, &err), TA_OK);
    float v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (float)((i * 37) % 23 - 11) * 0.0371f + (i == 5 ? 3.0f : 0.0f);
    static const char *const kinds[3] = {"f32", "f16", "i8"};
    for (int k = 0; k < 3; k++) {
        ta_message_in m = {.chat_id = chat,
                           .role = "user",
                           .content = kinds[k],
                           .embedding = v,
                           .embedding_dim = 64,
                           .embedding_model = "m",
                           .embedding_storage = kinds[k]};
        assert_int_equal(ta_store_message_add(s, &m, &ids[k], &err), TA_OK);
    }
    ta_message_in bad = {.chat_id = chat,
                         .role = "user",
                         .content = "x",
                         .embedding = v,
                         .embedding_dim = 64,
                         .embedding_model = "m",
                         .embedding_storage = "f8"};
    assert_int_equal(ta_store_message_add(s, &bad, NULL, &err), TA_EINVAL);
    got_vecs g = {0};
    assert_int_equal(ta_store_message_vectors(s, ids, 3, keep_vec, &g, &err), TA_OK);
    assert_int_equal(g.n, 3);
    for (int i = 0; i < 64; i++) {
        assert_true(g.v[0][i] == v[i]);                                        /* exact */
        assert_true(fabsf(g.v[1][i] - v[i]) <= fabsf(v[i]) / 1024.0f + 1e-7f); /* half */
        assert_true(fabsf(g.v[2][i] - v[i]) <= 3.0f / 127.0f / 2.0f + 1e-6f);  /* int8 */
    }
    assert_int_equal(ta_store_message_embedding_count(s, 64, &err), 3);
    json_t *st = ta_store_stats(s, &err);
    json_decref(st);
    ta_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_search_delete),
        cmocka_unit_test(test_export_import),
        cmocka_unit_test(test_knowledge),
        cmocka_unit_test(test_backup_restore),
        cmocka_unit_test(test_embedding_state),
        cmocka_unit_test(test_search_within),
        cmocka_unit_test(test_embedding_storage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
