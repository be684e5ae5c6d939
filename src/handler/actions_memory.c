/*
 * actions_memory.c - the memory over HTTP and native messaging: chats and their
 * messages, full-text search, export/import of a chat, backup, restore and stats
 * (storage/storage.h). The store is one SQLite connection behind the app's lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../query/hybrid.h"
#include "../storage/storage.h"
#include "../weaver/weaver.h"
#include "actions_memory.h"
#include "router.h"

/* ---- shared with the other memory action files (actions_memory.h) ------------------ */

int ta_mem_fail(ta_call *call, const ta_error *err)
{
    return ta_sink_fail(call->sink, err);
}

ta_store *ta_mem_lock(ta_call *call)
{
    if (!call->app || !call->app->store) {
        ta_call_fail(call, TA_EUNAVAILABLE, "the memory database is not open (see the log)");
        return NULL;
    }
    pthread_mutex_lock(&call->app->store_lock);
    return call->app->store;
}

void ta_mem_index_note(ta_call *call, int rc, ta_error *err)
{
    (void)call;
    if (rc) ta_log_error("memory vector index: %s", err->message);
    *err = (ta_error){0};
}

void ta_mem_unlock(ta_call *call)
{
    pthread_mutex_unlock(&call->app->store_lock);
}

int64_t ta_mem_id(const json_t *p, const char *key)
{
    const json_t *v = json_object_get(p, key);
    if (json_is_integer(v)) return json_integer_value(v) > 0 ? json_integer_value(v) : -1;
    if (!json_is_string(v)) return -1;
    char *end;
    long long x = strtoll(json_string_value(v), &end, 10);
    return *end || end == json_string_value(v) || x <= 0 ? -1 : x;
}

float *ta_mem_vector(const json_t *arr, size_t *dim)
{
    *dim = json_array_size(arr);
    float *v = *dim ? malloc(*dim * sizeof *v) : NULL;
    if (!v) {
        *dim = 0;
        return NULL;
    }
    for (size_t i = 0; i < *dim; i++)
        v[i] = (float)json_number_value(json_array_get(arr, i));
    return v;
}

/* ---- chats ---------------------------------------------------------------------------- */

static const ta_field create_chat_fields[] = {
    {.name = "title", .types = TA_T_STRING, .max_len = 4096, .dflt = "\"\""},
    {.name = "topic", .types = TA_T_STRING, .max_len = 4096, .dflt = "\"\""},
    {0}};
static const ta_schema create_chat_request = {.name = "CreateChatRequest",
                                              .fields = create_chat_fields};

static int do_create_chat(ta_call *call)
{
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    int64_t id = 0;
    int rc = ta_store_chat_create(s, ta_json_str(call->params, "title", ""),
                                  ta_json_str(call->params, "topic", ""), &id, &err);
    ta_mem_unlock(call);
    if (rc) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "title",
                                         ta_json_str(call->params, "title", ""), "topic",
                                         ta_json_str(call->params, "topic", "")));
}

static const ta_field page_fields[] = {PAGE_FIELDS, {0}};
static const ta_schema page_request = {.name = "PageRequest", .fields = page_fields};

static int do_list_chats(ta_call *call)
{
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *chats = ta_store_chats(s, ta_json_int(call->params, "offset", 0),
                                   ta_json_int(call->params, "limit", 100), &err);
    ta_mem_unlock(call);
    if (!chats) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:s,s:o}", "object", "list", "data", chats));
}

static const ta_field chat_fields[] = {ID_FIELD("chat_id"), PAGE_FIELDS, {0}};
static const ta_schema chat_request = {.name = "ChatRequest", .fields = chat_fields};

static int do_chat_messages(ta_call *call)
{
    ta_error err = {0};
    int64_t chat = ta_mem_id(call->params, "chat_id");
    if (chat < 0) return ta_call_fail(call, TA_EINVAL, "chat_id: expected a positive id");
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *msgs = ta_store_chat_messages(s, chat, ta_json_int(call->params, "offset", 0),
                                          ta_json_int(call->params, "limit", 100), &err);
    ta_mem_unlock(call);
    if (!msgs) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:s,s:I,s:o}", "object", "list", "chat_id",
                                         (json_int_t)chat, "data", msgs));
}

static int do_delete_chat(ta_call *call)
{
    ta_error err = {0};
    int64_t chat = ta_mem_id(call->params, "chat_id");
    if (chat < 0) return ta_call_fail(call, TA_EINVAL, "chat_id: expected a positive id");
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = ta_store_chat_message_ids(s, chat, &ids, &n, &err);
    if (!rc) rc = ta_store_chat_delete(s, chat, &err);
    if (!rc) ta_mem_index_note(call, ta_app_index_remove_messages(call->app, ids, n, &err), &err);
    free(ids);
    ta_mem_unlock(call);
    if (rc) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:I,s:b}", "id", (json_int_t)chat, "deleted", 1));
}

/* ---- messages ------------------------------------------------------------------------- */

static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", NULL};
static const ta_field number_item = {.name = "value", .types = TA_T_NUMBER};
static const char *const vec_kinds[] = {"f32", "f16", "i8", NULL};
static const ta_field string_item = {.name = "entity", .types = TA_T_STRING, .max_len = 512};
static const ta_field add_message_fields[] = {
    ID_FIELD("chat_id"),
    {.name = "role", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .one_of = roles},
    {.name = "content", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .max_len = 16u << 20},
    {.name = "timestamp_ms", .types = TA_T_INT, .flags = TA_F_MIN, .min = 0},
    {.name = "token_count", .types = TA_T_INT, .flags = TA_F_MIN, .min = -1, .dflt = "-1"},
    {.name = "attachments", .types = TA_T_ARRAY | TA_T_NULL},
    {.name = "embedding",
     .types = TA_T_ARRAY,
     .min_len = 1,
     .max_len = 16384,
     .items = &number_item},
    {.name = "embedding_model", .types = TA_T_STRING, .max_len = 256},
    {.name = "embedding_storage",
     .types = TA_T_STRING,
     .one_of = vec_kinds,
     .dflt = "\"f32\"",
     .description = "How the embedding is kept: f32, f16 (half the space) or i8 (a quarter; "
                    "one scale per vector)."},
    {.name = "entities", .types = TA_T_ARRAY, .max_len = 256, .items = &string_item},
    {0}};
static const ta_schema add_message_request = {
    .name = "AddMessageRequest",
    .description = "A message, with its embedding and the entities it mentions, in one "
                   "transaction.",
    .fields = add_message_fields};

static int do_add_message(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    int64_t chat = ta_mem_id(p, "chat_id");
    if (chat < 0) return ta_call_fail(call, TA_EINVAL, "chat_id: expected a positive id");
    const json_t *emb = json_object_get(p, "embedding"), *ents = json_object_get(p, "entities");
    if (emb && !ta_json_str(p, "embedding_model", NULL))
        return ta_call_fail(call, TA_EINVAL, "embedding_model: required with an embedding");
    size_t dim = json_array_size(emb), ne = json_array_size(ents);
    float *vec = dim ? malloc(dim * sizeof *vec) : NULL;
    const char **names = ne ? malloc(ne * sizeof *names) : NULL;
    if ((dim && !vec) || (ne && !names)) {
        free(vec);
        free(names);
        return ta_call_fail(call, TA_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < dim; i++)
        vec[i] = (float)json_number_value(json_array_get(emb, i));
    for (size_t i = 0; i < ne; i++)
        names[i] = json_string_value(json_array_get(ents, i));
    ta_message_in m = {.chat_id = chat,
                       .role = ta_json_str(p, "role", ""),
                       .content = ta_json_str(p, "content", ""),
                       .timestamp_ms = ta_json_int(p, "timestamp_ms", 0),
                       .token_count = (int32_t)ta_json_int(p, "token_count", -1),
                       .attachments = json_is_array(json_object_get(p, "attachments"))
                                          ? json_object_get(p, "attachments")
                                          : NULL,
                       .embedding = vec,
                       .embedding_dim = (uint32_t)dim,
                       .embedding_model = ta_json_str(p, "embedding_model", NULL),
                       .embedding_storage = ta_json_str(p, "embedding_storage", "f32"),
                       .entities = names,
                       .n_entities = (uint32_t)ne};
    int64_t id = 0;
    json_t *msg = NULL;
    int rc = TA_EUNAVAILABLE;
    ta_store *s = ta_mem_lock(call);
    if (s) {
        rc = ta_store_message_add(s, &m, &id, &err);
        if (!rc) msg = ta_store_message_get(s, id, &err);
        if (msg && vec) { /* searchable by its vector at once, and linked to similar ones */
            ta_mem_index_note(call, ta_app_index_sync(call->app, &err), &err);
            bool indexed = ta_app_index_has(call->app, id);
            json_object_set_new(msg, "indexed", json_boolean(indexed));
            size_t links = 0;
            if (indexed && ta_weaver_link_message(s, call->app->msg_index, id, vec, (uint32_t)dim,
                                                  NULL, &links, &err))
                ta_log_error("weaver: message %lld: %s", (long long)id, err.message);
            json_object_set_new(msg, "links", json_integer((json_int_t)links));
        }
        ta_mem_unlock(call);
    }
    free(vec);
    free(names);
    if (!s) return rc;
    if (rc || !msg) return ta_mem_fail(call, &err);
    return ta_call_reply(call, msg);
}

/* ---- search, export, import, backup, restore, stats ----------------------------------- */

static const char *const fusions[] = {"rrf", "weighted", NULL};
static const char *const databases[] = {"conversations", "tool_results", "summaries", NULL};
static const ta_field database_item = {
    .name = "database", .types = TA_T_STRING, .one_of = databases};
static const ta_field search_fields[] = {
    {.name = "query",
     .types = TA_T_STRING,
     .max_len = 4096,
     .description = "Words to find (all required); with embedding, a hybrid search."},
    {.name = "embedding",
     .types = TA_T_ARRAY,
     .min_len = 1,
     .max_len = 16384,
     .items = &number_item,
     .description = "A query vector for the message embeddings."},
    {.name = "chat_id", .types = TA_T_INT | TA_T_STRING, .max_len = 32},
    {.name = "since_ms", .types = TA_T_INT, .flags = TA_F_MIN, .min = 0},
    {.name = "until_ms", .types = TA_T_INT, .flags = TA_F_MIN, .min = 0},
    {.name = "role", .types = TA_T_STRING, .one_of = roles},
    {.name = "databases",
     .types = TA_T_ARRAY,
     .min_len = 1,
     .max_len = 3,
     .items = &database_item,
     .description = "Where to look: conversations (messages; the default), tool_results "
                    "(scraped pages), summaries."},
    {.name = "type",
     .types = TA_T_STRING,
     .max_len = 32,
     .description = "Only records of this type: a message role, page, or a summary kind "
                    "(session, daily, weekly)."},
    {.name = "entity",
     .types = TA_T_INT | TA_T_STRING,
     .max_len = 512,
     .description = "Only messages that mention this entity: its id, or a label or alias."},
    {.name = "offset",
     .types = TA_T_INT,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 0,
     .max = 10000,
     .dflt = "0"},
    {.name = "limit",
     .types = TA_T_INT,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 1,
     .max = 1000,
     .dflt = "20"},
    {.name = "fusion",
     .types = TA_T_STRING,
     .one_of = fusions,
     .dflt = "\"rrf\"",
     .description = "rrf (reciprocal-rank fusion) or weighted (of normalized scores)."},
    {.name = "text_weight", .types = TA_T_NUMBER, .flags = TA_F_MIN, .min = 0, .dflt = "0.5"},
    {.name = "vector_weight", .types = TA_T_NUMBER, .flags = TA_F_MIN, .min = 0, .dflt = "0.5"},
    {0}};
static const ta_schema search_request = {
    .name = "MemorySearchRequest",
    .description = "Hybrid search over the messages: full-text (BM25) and vector (HNSW) "
                   "candidates, filtered, fused, paged, each score explained.",
    .fields = search_fields};

static int do_search(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    int64_t chat = json_object_get(p, "chat_id") ? ta_mem_id(p, "chat_id") : 0;
    if (chat < 0) return ta_call_fail(call, TA_EINVAL, "chat_id: expected a positive id");
    const json_t *emb = json_object_get(p, "embedding");
    size_t dim = json_array_size(emb);
    float *vec = dim ? malloc(dim * sizeof *vec) : NULL;
    if (dim && !vec) return ta_call_fail(call, TA_ENOMEM, "out of memory");
    for (size_t i = 0; i < dim; i++)
        vec[i] = (float)json_number_value(json_array_get(emb, i));
    ta_hybrid_params hp = {.text = ta_json_str(p, "query", NULL),
                           .vector = vec,
                           .dim = (uint32_t)dim,
                           .chat_id = chat,
                           .since_ms = ta_json_int(p, "since_ms", 0),
                           .until_ms = ta_json_int(p, "until_ms", 0),
                           .role = ta_json_str(p, "role", NULL),
                           .type = ta_json_str(p, "type", NULL),
                           .offset = (uint32_t)ta_json_int(p, "offset", 0),
                           .limit = (uint32_t)ta_json_int(p, "limit", 20),
                           .weighted = !strcmp(ta_json_str(p, "fusion", "rrf"), "weighted"),
                           .w_text = ta_json_num(p, "text_weight", 0.5),
                           .w_vector = ta_json_num(p, "vector_weight", 0.5)};
    size_t i;
    const json_t *d;
    json_array_foreach(json_object_get(p, "databases"), i, d)
    {
        for (unsigned k = 0; databases[k]; k++)
            if (!strcmp(json_string_value(d), databases[k])) hp.databases |= 1u << k;
    }
    const json_t *ent = json_object_get(p, "entity");
    if (json_is_integer(ent))
        hp.entity_id = json_integer_value(ent) > 0 ? json_integer_value(ent) : INT64_MAX;
    else if (json_is_string(ent))
        hp.entity = json_string_value(ent);
    ta_store *s = ta_mem_lock(call);
    if (!s) {
        free(vec);
        return TA_EUNAVAILABLE;
    }
    json_t *res = ta_hybrid_search(s, call->app->msg_index, &hp, &err);
    ta_mem_unlock(call);
    free(vec);
    if (!res) return ta_mem_fail(call, &err);
    json_object_set_new(res, "object", json_string("list"));
    return ta_call_reply(call, res);
}

static const ta_field export_fields[] = {ID_FIELD("chat_id"), {0}};
static const ta_schema export_request = {.name = "ExportChatRequest", .fields = export_fields};

static int do_export(ta_call *call)
{
    ta_error err = {0};
    int64_t chat = ta_mem_id(call->params, "chat_id");
    if (chat < 0) return ta_call_fail(call, TA_EINVAL, "chat_id: expected a positive id");
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *doc = ta_store_chat_export(s, chat, &err);
    ta_mem_unlock(call);
    return doc ? ta_call_reply(call, doc) : ta_mem_fail(call, &err);
}

static const ta_field import_fields[] = {
    {.name = "format", .types = TA_T_STRING, .flags = TA_F_REQUIRED},
    {.name = "version", .types = TA_T_INT, .flags = TA_F_REQUIRED},
    {.name = "chat", .types = TA_T_OBJECT, .flags = TA_F_REQUIRED},
    {.name = "messages", .types = TA_T_ARRAY, .flags = TA_F_REQUIRED, .max_len = 1000000},
    {0}};
static const ta_schema import_request = {.name = "ImportChatRequest",
                                         .description = "A chat as export_chat gives it.",
                                         .fields = import_fields};

static int do_import(ta_call *call)
{
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    int64_t id = 0;
    int rc = ta_store_chat_import(s, call->params, &id, &err);
    if (!rc) ta_mem_index_note(call, ta_app_index_sync(call->app, &err), &err);
    ta_mem_unlock(call);
    if (rc) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:I}", "id", (json_int_t)id));
}

static const ta_field path_fields[] = {{.name = "path",
                                        .types = TA_T_STRING,
                                        .flags = TA_F_REQUIRED,
                                        .min_len = 1,
                                        .max_len = 4000,
                                        .description = "A file on the server's machine."},
                                       {0}};
static const ta_schema path_request = {.name = "MemoryFileRequest", .fields = path_fields};

static int do_backup(ta_call *call)
{
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    const char *path = ta_json_str(call->params, "path", "");
    int rc = ta_store_backup(s, path, &err);
    ta_mem_unlock(call);
    if (rc) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:s,s:b}", "path", path, "ok", 1));
}

static int do_restore(ta_call *call)
{
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    const char *path = ta_json_str(call->params, "path", "");
    int rc = ta_store_restore(s, path, &err);
    if (!rc) rc = ta_app_index_rebuild(call->app, NULL, NULL, &err);
    if (!rc) ta_mem_index_note(call, ta_app_index_save(call->app, &err), &err);
    ta_mem_unlock(call);
    if (rc) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:s,s:b}", "path", path, "restored", 1));
}

static const ta_field stats_fields[] = {
    {.name = "check",
     .types = TA_T_BOOL,
     .dflt = "false",
     .description = "Also run SQLite's integrity check over the whole file (slow on a big "
                    "database): \"integrity\" is \"ok\" or the first problem."},
    {0}};
static const ta_schema stats_request = {.name = "MemoryStatsRequest", .fields = stats_fields};

static int do_stats(ta_call *call)
{
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *st = ta_store_stats(s, &err);
    if (st) json_object_set_new(st, "path", json_string(ta_store_path(s)));
    if (st && json_is_true(json_object_get(call->params, "check"))) {
        ta_error cerr = {0};
        json_object_set_new(st, "integrity",
                            json_string(ta_store_check(s, &cerr) ? cerr.message : "ok"));
    }
    ta_mem_unlock(call);
    return st ? ta_call_reply(call, st) : ta_mem_fail(call, &err);
}

/* ---- knowledge ------------------------------------------------------------------------ */

static const ta_field alias_item = {.name = "alias", .types = TA_T_STRING, .max_len = 512};
static const ta_field entity_fields[] = {
    {.name = "label", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .min_len = 1, .max_len = 512},
    {.name = "type", .types = TA_T_STRING, .max_len = 128, .dflt = "\"\""},
    {.name = "aliases", .types = TA_T_ARRAY, .max_len = 256, .items = &alias_item},
    {.name = "confidence",
     .types = TA_T_NUMBER,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 0,
     .max = 1,
     .dflt = "1"},
    {.name = "embedding",
     .types = TA_T_ARRAY,
     .min_len = 1,
     .max_len = 16384,
     .items = &number_item,
     .description = "The entity's vector (replaces any earlier one): the weaver merges "
                    "entities whose vectors are nearly the same."},
    {.name = "embedding_model", .types = TA_T_STRING, .max_len = 256},
    {0}};
static const ta_schema entity_request = {
    .name = "EntityRequest",
    .description = "Adds an entity, or merges into the one with the same label and type.",
    .fields = entity_fields};

static int do_add_entity(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    int64_t id = 0;
    size_t dim = 0;
    float *vec = ta_mem_vector(json_object_get(p, "embedding"), &dim);
    const char *model = ta_json_str(p, "embedding_model", NULL);
    int rc = vec && !model
                 ? ta_error_set(&err, TA_EINVAL, "embedding_model: required with an embedding")
                 : ta_store_begin(s, &err);
    if (!rc)
        rc = ta_store_entity_upsert(s, ta_json_str(p, "label", ""), ta_json_str(p, "type", ""),
                                    json_object_get(p, "aliases"), ta_json_num(p, "confidence", 1),
                                    &id, &err);
    if (!rc && vec) rc = ta_store_entity_set_embedding(s, id, model, vec, (uint32_t)dim, &err);
    if (!rc)
        rc = ta_store_commit(s, &err);
    else
        ta_store_rollback(s);
    free(vec);
    json_t *e = rc ? NULL : ta_store_entity_get(s, id, &err);
    ta_mem_unlock(call);
    return e ? ta_call_reply(call, e) : ta_mem_fail(call, &err);
}

static const ta_field find_fields[] = {
    {.name = "name", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .min_len = 1, .max_len = 512},
    {0}};
static const ta_schema find_request = {.name = "FindEntitiesRequest", .fields = find_fields};

static int do_find_entities(ta_call *call)
{
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *found = ta_store_entity_find(s, ta_json_str(call->params, "name", ""), &err);
    ta_mem_unlock(call);
    if (!found) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:s,s:o}", "object", "list", "data", found));
}

static const ta_field relation_fields[] = {
    ID_FIELD("from"),
    ID_FIELD("to"),
    {.name = "type", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .min_len = 1, .max_len = 128},
    {.name = "weight", .types = TA_T_NUMBER, .dflt = "1"},
    {.name = "provenance", .types = TA_T_STRING, .max_len = 1024},
    {0}};
static const ta_schema relation_request = {.name = "RelationRequest", .fields = relation_fields};

static int do_add_relation(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    int64_t from = ta_mem_id(p, "from"), to = ta_mem_id(p, "to");
    if (from < 0 || to < 0) return ta_call_fail(call, TA_EINVAL, "from, to: positive entity ids");
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    int64_t id = 0;
    int rc =
        ta_store_relation_add(s, from, to, ta_json_str(p, "type", ""), ta_json_num(p, "weight", 1),
                              ta_json_str(p, "provenance", NULL), &id, &err);
    ta_mem_unlock(call);
    if (rc) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:I,s:I,s:I,s:s}", "id", (json_int_t)id, "from",
                                         (json_int_t)from, "to", (json_int_t)to, "type",
                                         ta_json_str(p, "type", "")));
}

static const ta_field neighbors_fields[] = {ID_FIELD("entity_id"),
                                            {.name = "hops",
                                             .types = TA_T_INT,
                                             .flags = TA_F_MIN | TA_F_MAX,
                                             .min = 1,
                                             .max = 6,
                                             .dflt = "1"},
                                            {0}};
static const ta_schema neighbors_request = {.name = "NeighborsRequest", .fields = neighbors_fields};

static int do_neighbors(ta_call *call)
{
    ta_error err = {0};
    int64_t id = ta_mem_id(call->params, "entity_id");
    if (id < 0) return ta_call_fail(call, TA_EINVAL, "entity_id: expected a positive id");
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *g = ta_store_neighborhood(s, id, (int)ta_json_int(call->params, "hops", 1), &err);
    ta_mem_unlock(call);
    return g ? ta_call_reply(call, g) : ta_mem_fail(call, &err);
}

static const ta_field path_ids_fields[] = {ID_FIELD("from"),
                                           ID_FIELD("to"),
                                           {.name = "max_hops",
                                            .types = TA_T_INT,
                                            .flags = TA_F_MIN | TA_F_MAX,
                                            .min = 1,
                                            .max = 8,
                                            .dflt = "6"},
                                           {0}};
static const ta_schema path_ids_request = {.name = "PathRequest", .fields = path_ids_fields};

static int do_path(ta_call *call)
{
    ta_error err = {0};
    int64_t from = ta_mem_id(call->params, "from"), to = ta_mem_id(call->params, "to");
    if (from < 0 || to < 0) return ta_call_fail(call, TA_EINVAL, "from, to: positive entity ids");
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *path =
        ta_store_shortest_path(s, from, to, (int)ta_json_int(call->params, "max_hops", 6), &err);
    ta_mem_unlock(call);
    if (!path) return ta_mem_fail(call, &err);
    return ta_call_reply(
        call, json_pack("{s:o,s:i}", "path", path, "hops", (int)json_array_size(path) - 1));
}

static const ta_field merge_fields[] = {ID_FIELD("keep"), ID_FIELD("drop"), {0}};
static const ta_schema merge_request = {
    .name = "MergeEntitiesRequest",
    .description = "Merges entity drop into keep (aliases, relations, mentions, provenance).",
    .fields = merge_fields};

static int do_merge(ta_call *call)
{
    ta_error err = {0};
    int64_t keep = ta_mem_id(call->params, "keep"), drop = ta_mem_id(call->params, "drop");
    if (keep < 0 || drop < 0) return ta_call_fail(call, TA_EINVAL, "keep, drop: entity ids");
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    int rc = ta_store_entity_merge(s, keep, drop, &err);
    json_t *e = rc ? NULL : ta_store_entity_get(s, keep, &err);
    ta_mem_unlock(call);
    return e ? ta_call_reply(call, e) : ta_mem_fail(call, &err);
}

static int do_duplicates(ta_call *call)
{
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *d = ta_store_duplicate_entities(s, &err);
    ta_mem_unlock(call);
    if (!d) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:o}", "pairs", d));
}

static const ta_action memory_actions[] = {
    {.name = "create_chat",
     .summary = "A new chat.",
     .request = &create_chat_request,
     .fn = do_create_chat},
    {.name = "list_chats",
     .summary = "Chats, newest first.",
     .request = &page_request,
     .fn = do_list_chats},
    {.name = "get_chat_messages",
     .summary = "A chat's messages, oldest first.",
     .request = &chat_request,
     .fn = do_chat_messages},
    {.name = "delete_chat",
     .summary = "Deletes a chat with its messages and embeddings.",
     .request = &export_request,
     .fn = do_delete_chat},
    {.name = "add_message",
     .summary = "Adds a message (with embedding and entities).",
     .request = &add_message_request,
     .fn = do_add_message},
    {.name = "search_memory",
     .summary = "Full-text search over messages.",
     .request = &search_request,
     .fn = do_search},
    {.name = "export_chat",
     .summary = "A chat as JSON.",
     .request = &export_request,
     .fn = do_export},
    {.name = "import_chat",
     .summary = "Imports an exported chat as a new chat.",
     .request = &import_request,
     .fn = do_import},
    {.name = "memory_backup",
     .summary = "A consistent copy of the memory database.",
     .request = &path_request,
     .fn = do_backup},
    {.name = "memory_restore",
     .summary = "Restores a checked backup (a bad file changes nothing).",
     .request = &path_request,
     .fn = do_restore},
    {.name = "memory_stats",
     .summary = "Row counts and file size (and an integrity check on request).",
     .request = &stats_request,
     .fn = do_stats},
    {.name = "add_entity",
     .summary = "Adds (or merges into) a knowledge entity.",
     .request = &entity_request,
     .fn = do_add_entity},
    {.name = "find_entities",
     .summary = "Entities by label or alias.",
     .request = &find_request,
     .fn = do_find_entities},
    {.name = "add_relation",
     .summary = "A relation between two entities.",
     .request = &relation_request,
     .fn = do_add_relation},
    {.name = "entity_neighbors",
     .summary = "The k-hop neighbourhood of an entity.",
     .request = &neighbors_request,
     .fn = do_neighbors},
    {.name = "entity_path",
     .summary = "A shortest path between two entities.",
     .request = &path_ids_request,
     .fn = do_path},
    {.name = "merge_entities",
     .summary = "Merges a duplicate entity into another.",
     .request = &merge_request,
     .fn = do_merge},
    {.name = "duplicate_entities",
     .summary = "Pairs of entities that look like one.",
     .fn = do_duplicates},
};

int ta_router_add_memory_actions(ta_router *r)
{
    int rc = ta_router_add_all(r, memory_actions, sizeof memory_actions / sizeof memory_actions[0]);
    if (!rc) rc = ta_router_add_weaver_actions(r);
    return rc ? rc : ta_router_add_record_actions(r);
}
