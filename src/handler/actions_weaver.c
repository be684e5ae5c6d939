/*
 * actions_weaver.c - the weaver over HTTP and native messaging (weaver/weaver.h): a
 * weaving pass over the whole memory (message links, entity merges; dry-run to see
 * what it would do), the messages related to one, and an entity with its provenance.
 */
#include <stdlib.h>

#include "../weaver/weaver.h"
#include "actions_memory.h"

static const ta_field weave_fields[] = {
    {.name = "links",
     .types = TA_T_BOOL,
     .dflt = "true",
     .description = "Link every message to its most similar messages."},
    {.name = "merges",
     .types = TA_T_BOOL,
     .dflt = "true",
     .description = "Merge duplicate entities (an untyped mention into the one typed entity "
                    "of its label; entities with nearly the same embedding)."},
    {.name = "link_threshold",
     .types = TA_T_NUMBER,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 0.01,
     .max = 1,
     .dflt = "0.8",
     .description = "Cosine similarity at or above which two messages are linked."},
    {.name = "link_k",
     .types = TA_T_INT,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 1,
     .max = 64,
     .dflt = "8",
     .description = "Nearest messages looked at per message."},
    {.name = "merge_threshold",
     .types = TA_T_NUMBER,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 0.5,
     .max = 1,
     .dflt = "0.92",
     .description = "Cosine similarity of entity embeddings at or above which they merge."},
    {.name = "dry_run",
     .types = TA_T_BOOL,
     .dflt = "false",
     .description = "Report what would be linked and merged, change nothing."},
    {0}};
static const ta_schema weave_request = {
    .name = "WeaveRequest",
    .description = "A weaving pass over the memory; the reply counts the links and lists "
                   "the merges (keep, drop, reason, similarity).",
    .fields = weave_fields};

static int do_weave(ta_call *call)
{
    const json_t *p = call->params;
    ta_weave_opts o = {.link_threshold = ta_json_num(p, "link_threshold", 0.8),
                       .link_k = (uint32_t)ta_json_int(p, "link_k", 8),
                       .merge_threshold = ta_json_num(p, "merge_threshold", 0.92),
                       .links = !json_is_false(json_object_get(p, "links")),
                       .merges = !json_is_false(json_object_get(p, "merges")),
                       .dry_run = json_is_true(json_object_get(p, "dry_run"))};
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *report = ta_weaver_run(s, call->app->msg_index, &o, &err);
    ta_mem_unlock(call);
    return report ? ta_call_reply(call, report) : ta_mem_fail(call, &err);
}

static const ta_field related_fields[] = {ID_FIELD("message_id"),
                                          {.name = "limit",
                                           .types = TA_T_INT,
                                           .flags = TA_F_MIN | TA_F_MAX,
                                           .min = 1,
                                           .max = 1000,
                                           .dflt = "20"},
                                          {0}};
static const ta_schema related_request = {.name = "RelatedMessagesRequest",
                                          .fields = related_fields};

static int do_related(ta_call *call)
{
    int64_t id = ta_mem_id(call->params, "message_id");
    if (id < 0) return ta_call_fail(call, TA_EINVAL, "message_id: expected a positive id");
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *m = ta_store_message_get(s, id, &err);
    json_t *links =
        m ? ta_store_message_links(s, id, ta_json_int(call->params, "limit", 20), &err) : NULL;
    ta_mem_unlock(call);
    json_decref(m);
    if (!links) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:s,s:I,s:o}", "object", "list", "message_id",
                                         (json_int_t)id, "data", links));
}

static const ta_field get_entity_fields[] = {ID_FIELD("entity_id"), {0}};
static const ta_schema get_entity_request = {.name = "GetEntityRequest",
                                             .fields = get_entity_fields};

static int do_get_entity(ta_call *call)
{
    int64_t id = ta_mem_id(call->params, "entity_id");
    if (id < 0) return ta_call_fail(call, TA_EINVAL, "entity_id: expected a positive id");
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *e = ta_store_entity_get(s, id, &err);
    ta_mem_unlock(call);
    return e ? ta_call_reply(call, e) : ta_mem_fail(call, &err);
}

static const ta_action weaver_actions[] = {
    {.name = "weave_memory",
     .summary = "Links similar messages and merges duplicate entities.",
     .request = &weave_request,
     .fn = do_weave},
    {.name = "related_messages",
     .summary = "The messages most similar to one (its links).",
     .request = &related_request,
     .fn = do_related},
    {.name = "get_entity",
     .summary = "An entity, with the entities merged into it.",
     .request = &get_entity_request,
     .fn = do_get_entity},
};

int ta_router_add_weaver_actions(ta_router *r)
{
    return ta_router_add_all(r, weaver_actions, sizeof weaver_actions / sizeof weaver_actions[0]);
}
