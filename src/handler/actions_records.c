/*
 * actions_records.c - the smaller memory databases over HTTP and native messaging
 * (storage/storage.h, records.c): scraped pages (kept once per text), web searches and
 * function-call results; action outcomes with the user's feedback; session, daily and
 * weekly summaries; and deleting any of these records.
 */
#include <stdlib.h>
#include <string.h>

#include "actions_memory.h"

#define TEXT_MAX (16u << 20) /* a page's text, a summary: 16 MiB */
#define TIME_FIELD(n, d)                                                                           \
    {                                                                                              \
        .name = n, .types = TA_T_INT, .flags = TA_F_MIN, .min = 0, .description = d                \
    }

static int reply_id(ta_call *call, int rc, int64_t id, const ta_error *err)
{
    if (rc) return ta_mem_fail(call, err);
    return ta_call_reply(call, json_pack("{s:I}", "id", (json_int_t)id));
}

/* ---- tool results ------------------------------------------------------------------------ */

static const ta_field page_fields[] = {
    {.name = "url", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .min_len = 1, .max_len = 8192},
    {.name = "title", .types = TA_T_STRING | TA_T_NULL, .max_len = 4096},
    {.name = "text", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .max_len = TEXT_MAX},
    TIME_FIELD("fetched_ms", "When it was fetched (default: now)."),
    {0}};
static const ta_schema page_request = {
    .name = "AddPageRequest",
    .description = "A scraped page. The same text stored before is kept once: the reply "
                   "names that page and says duplicate.",
    .fields = page_fields};

static int do_add_page(ta_call *call)
{
    const json_t *p = call->params;
    ta_page_in in = {.url = ta_json_str(p, "url", ""),
                     .title = ta_json_str(p, "title", NULL),
                     .text = ta_json_str(p, "text", ""),
                     .fetched_ms = ta_json_int(p, "fetched_ms", 0)};
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    int64_t id = 0;
    bool dup = false;
    int rc = ta_store_page_add(s, &in, &id, &dup, &err);
    ta_mem_unlock(call);
    if (rc) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:I,s:b}", "id", (json_int_t)id, "duplicate", dup));
}

static const ta_field page_id_fields[] = {ID_FIELD("page_id"), {0}};
static const ta_schema page_id_request = {.name = "PageIdRequest", .fields = page_id_fields};

static int do_get_page(ta_call *call)
{
    int64_t id = ta_mem_id(call->params, "page_id");
    if (id < 0) return ta_call_fail(call, TA_EINVAL, "page_id: expected a positive id");
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *pg = ta_store_page_get(s, id, &err);
    ta_mem_unlock(call);
    return pg ? ta_call_reply(call, pg) : ta_mem_fail(call, &err);
}

static const ta_field search_fields[] = {
    {.name = "query", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .min_len = 1, .max_len = 8192},
    {.name = "results", .types = TA_T_ARRAY | TA_T_OBJECT, .max_len = 10000},
    TIME_FIELD("timestamp_ms", "When it ran (default: now)."),
    {0}};
static const ta_schema search_request = {.name = "AddWebSearchRequest",
                                         .description = "A web search and its results.",
                                         .fields = search_fields};

static int do_add_search(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    int64_t id = 0;
    int rc = ta_store_web_search_add(s, ta_json_str(p, "query", ""), json_object_get(p, "results"),
                                     ta_json_int(p, "timestamp_ms", 0), &id, &err);
    ta_mem_unlock(call);
    return reply_id(call, rc, id, &err);
}

static const ta_field call_fields[] = {
    {.name = "name", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .min_len = 1, .max_len = 256},
    {.name = "arguments", .types = TA_T_OBJECT},
    {.name = "result", .types = TA_T_ANY},
    TIME_FIELD("timestamp_ms", "When it ran (default: now)."),
    {0}};
static const ta_schema call_request = {.name = "AddToolCallRequest",
                                       .description = "A function call's arguments and result.",
                                       .fields = call_fields};

static int do_add_call(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    int64_t id = 0;
    int rc = ta_store_tool_call_add(s, ta_json_str(p, "name", ""), json_object_get(p, "arguments"),
                                    json_object_get(p, "result"), ta_json_int(p, "timestamp_ms", 0),
                                    &id, &err);
    ta_mem_unlock(call);
    return reply_id(call, rc, id, &err);
}

/* One list action per kind of tool result, each with its own match field. */
#define LIST_FIELDS(match, what)                                                                   \
    {                                                                                              \
        {.name = match, .types = TA_T_STRING, .max_len = 8192, .description = what}, PAGE_FIELDS,  \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }
static const ta_field list_pages_fields[] = LIST_FIELDS("url", "Only the pages of this url.");
static const ta_field list_searches_fields[] = LIST_FIELDS("query", "Only this query's runs.");
static const ta_field list_calls_fields[] = LIST_FIELDS("name", "Only the calls of this function.");
static const ta_schema list_pages_request = {.name = "ListPagesRequest",
                                             .fields = list_pages_fields};
static const ta_schema list_searches_request = {.name = "ListWebSearchesRequest",
                                                .fields = list_searches_fields};
static const ta_schema list_calls_request = {.name = "ListToolCallsRequest",
                                             .fields = list_calls_fields};

static int list_tool_results(ta_call *call, const char *kind, const char *match)
{
    const json_t *p = call->params;
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *d =
        ta_store_tool_results(s, kind, ta_json_str(p, match, NULL), ta_json_int(p, "offset", 0),
                              ta_json_int(p, "limit", 100), &err);
    ta_mem_unlock(call);
    if (!d) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:s,s:o}", "object", "list", "data", d));
}

static int do_list_pages(ta_call *call)
{
    return list_tool_results(call, "pages", "url");
}
static int do_list_searches(ta_call *call)
{
    return list_tool_results(call, "searches", "query");
}
static int do_list_calls(ta_call *call)
{
    return list_tool_results(call, "calls", "name");
}

/* ---- experience -------------------------------------------------------------------------- */

static const char *const feedbacks[] = {"correction", "approval", "rejection", "neutral", NULL};
static const ta_field outcome_fields[] = {
    {.name = "action_type",
     .types = TA_T_STRING,
     .flags = TA_F_REQUIRED,
     .min_len = 1,
     .max_len = 256},
    {.name = "arguments", .types = TA_T_OBJECT},
    {.name = "result", .types = TA_T_ANY},
    {.name = "feedback", .types = TA_T_STRING, .one_of = feedbacks, .dflt = "\"neutral\""},
    TIME_FIELD("timestamp_ms", "When the action ran (default: now)."),
    {0}};
static const ta_schema outcome_request = {.name = "AddOutcomeRequest",
                                          .description =
                                              "What an action did, and how the user judged it.",
                                          .fields = outcome_fields};

static int do_add_outcome(ta_call *call)
{
    const json_t *p = call->params;
    ta_outcome_in in = {.action_type = ta_json_str(p, "action_type", ""),
                        .arguments = json_object_get(p, "arguments"),
                        .result = json_object_get(p, "result"),
                        .feedback = ta_json_str(p, "feedback", "neutral"),
                        .ts_ms = ta_json_int(p, "timestamp_ms", 0)};
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    int64_t id = 0;
    int rc = ta_store_outcome_add(s, &in, &id, &err);
    ta_mem_unlock(call);
    return reply_id(call, rc, id, &err);
}

static const ta_field feedback_fields[] = {
    ID_FIELD("outcome_id"),
    {.name = "feedback", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .one_of = feedbacks},
    {0}};
static const ta_schema feedback_request = {.name = "OutcomeFeedbackRequest",
                                           .fields = feedback_fields};

static int do_feedback(ta_call *call)
{
    int64_t id = ta_mem_id(call->params, "outcome_id");
    if (id < 0) return ta_call_fail(call, TA_EINVAL, "outcome_id: expected a positive id");
    const char *fb = ta_json_str(call->params, "feedback", "");
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    int rc = ta_store_outcome_feedback(s, id, fb, &err);
    ta_mem_unlock(call);
    if (rc) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:I,s:s}", "id", (json_int_t)id, "feedback", fb));
}

static const ta_field list_outcomes_fields[] = {
    {.name = "action_type", .types = TA_T_STRING, .max_len = 256},
    {.name = "feedback", .types = TA_T_STRING, .one_of = feedbacks},
    PAGE_FIELDS,
    {0}};
static const ta_schema list_outcomes_request = {
    .name = "ListOutcomesRequest",
    .description = "Outcomes, newest first, with how often each feedback was given.",
    .fields = list_outcomes_fields};

static int do_list_outcomes(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *r =
        ta_store_outcomes(s, ta_json_str(p, "action_type", NULL), ta_json_str(p, "feedback", NULL),
                          ta_json_int(p, "offset", 0), ta_json_int(p, "limit", 100), &err);
    ta_mem_unlock(call);
    if (!r) return ta_mem_fail(call, &err);
    json_object_set_new(r, "object", json_string("list"));
    return ta_call_reply(call, r);
}

/* ---- summaries --------------------------------------------------------------------------- */

static const char *const kinds[] = {"session", "daily", "weekly", NULL};
static const ta_field message_id_item = {.name = "message_id", .types = TA_T_INT};
static const ta_field summary_fields[] = {
    {.name = "kind", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .one_of = kinds},
    {.name = "chat_id", .types = TA_T_INT, .flags = TA_F_MIN, .min = 1},
    {.name = "text",
     .types = TA_T_STRING,
     .flags = TA_F_REQUIRED,
     .min_len = 1,
     .max_len = TEXT_MAX},
    {.name = "message_ids", .types = TA_T_ARRAY, .max_len = 100000, .items = &message_id_item},
    {.name = "start_ms", .types = TA_T_INT, .flags = TA_F_REQUIRED | TA_F_MIN, .min = 0},
    {.name = "end_ms", .types = TA_T_INT, .flags = TA_F_REQUIRED | TA_F_MIN, .min = 0},
    {0}};
static const ta_schema summary_request = {
    .name = "AddSummaryRequest",
    .description = "A session, daily or weekly summary, with the messages it covers (each "
                   "must exist) and its time span.",
    .fields = summary_fields};

static int do_add_summary(ta_call *call)
{
    const json_t *p = call->params, *ids = json_object_get(p, "message_ids");
    size_t n = json_array_size(ids);
    int64_t *mids = n ? malloc(n * sizeof *mids) : NULL;
    if (n && !mids) return ta_call_fail(call, TA_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        mids[i] = json_integer_value(json_array_get(ids, i));
    ta_summary_in in = {.kind = ta_json_str(p, "kind", ""),
                        .chat_id = ta_json_int(p, "chat_id", 0),
                        .text = ta_json_str(p, "text", ""),
                        .message_ids = mids,
                        .n_messages = n,
                        .start_ms = ta_json_int(p, "start_ms", 0),
                        .end_ms = ta_json_int(p, "end_ms", 0)};
    ta_error err = {0};
    int64_t id = 0;
    int rc = TA_EUNAVAILABLE;
    ta_store *s = ta_mem_lock(call);
    if (s) {
        rc = ta_store_summary_add(s, &in, &id, &err);
        ta_mem_unlock(call);
    }
    free(mids);
    if (!s) return rc;
    return reply_id(call, rc, id, &err);
}

static const ta_field list_summaries_fields[] = {
    {.name = "kind", .types = TA_T_STRING, .one_of = kinds},
    {.name = "chat_id", .types = TA_T_INT, .flags = TA_F_MIN, .min = 1},
    TIME_FIELD("since_ms", "Only summaries whose span ends at or after this time."),
    TIME_FIELD("until_ms", "Only summaries whose span starts at or before this time."),
    PAGE_FIELDS,
    {0}};
static const ta_schema list_summaries_request = {.name = "ListSummariesRequest",
                                                 .fields = list_summaries_fields};

static int do_list_summaries(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    json_t *d = ta_store_summaries(s, ta_json_str(p, "kind", NULL), ta_json_int(p, "chat_id", 0),
                                   ta_json_int(p, "since_ms", 0), ta_json_int(p, "until_ms", 0),
                                   ta_json_int(p, "offset", 0), ta_json_int(p, "limit", 100), &err);
    ta_mem_unlock(call);
    if (!d) return ta_mem_fail(call, &err);
    return ta_call_reply(call, json_pack("{s:s,s:o}", "object", "list", "data", d));
}

/* ---- deletes ------------------------------------------------------------------------------ */

/* The collection names of the routes, and the store's record kinds. */
static const char *const collections[] = {"pages",    "searches",  "tool-calls",
                                          "outcomes", "summaries", NULL};
static const char *const record_kinds[] = {"page", "search", "call", "outcome", "summary"};
static const ta_field delete_fields[] = {
    {.name = "kind", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .one_of = collections},
    ID_FIELD("record_id"),
    {0}};
static const ta_schema delete_request = {.name = "DeleteRecordRequest", .fields = delete_fields};

static int do_delete_record(ta_call *call)
{
    int64_t id = ta_mem_id(call->params, "record_id");
    if (id < 0) return ta_call_fail(call, TA_EINVAL, "record_id: expected a positive id");
    const char *kind = ta_json_str(call->params, "kind", "");
    size_t k = 0;
    while (collections[k] && strcmp(collections[k], kind))
        k++;
    if (!collections[k]) return ta_call_fail(call, TA_EINVAL, "kind: unknown collection");
    ta_error err = {0};
    ta_store *s = ta_mem_lock(call);
    if (!s) return TA_EUNAVAILABLE;
    int rc = ta_store_record_delete(s, record_kinds[k], id, &err);
    ta_mem_unlock(call);
    if (rc) return ta_mem_fail(call, &err);
    return ta_call_reply(
        call, json_pack("{s:I,s:s,s:b}", "id", (json_int_t)id, "kind", kind, "deleted", 1));
}

static const ta_action record_actions[] = {
    {.name = "add_page",
     .summary = "Stores a scraped page (once per text).",
     .request = &page_request,
     .fn = do_add_page},
    {.name = "get_page",
     .summary = "A page with its text.",
     .request = &page_id_request,
     .fn = do_get_page},
    {.name = "list_pages",
     .summary = "Pages, newest first.",
     .request = &list_pages_request,
     .fn = do_list_pages},
    {.name = "add_web_search",
     .summary = "Stores a web search and its results.",
     .request = &search_request,
     .fn = do_add_search},
    {.name = "list_web_searches",
     .summary = "Web searches, newest first.",
     .request = &list_searches_request,
     .fn = do_list_searches},
    {.name = "add_tool_call",
     .summary = "Stores a function call and its result.",
     .request = &call_request,
     .fn = do_add_call},
    {.name = "list_tool_calls",
     .summary = "Function calls, newest first.",
     .request = &list_calls_request,
     .fn = do_list_calls},
    {.name = "add_outcome",
     .summary = "Stores an action's outcome and feedback.",
     .request = &outcome_request,
     .fn = do_add_outcome},
    {.name = "set_outcome_feedback",
     .summary = "The user's judgement of an outcome.",
     .request = &feedback_request,
     .fn = do_feedback},
    {.name = "list_outcomes",
     .summary = "Outcomes with feedback counts.",
     .request = &list_outcomes_request,
     .fn = do_list_outcomes},
    {.name = "add_summary",
     .summary = "Stores a session, daily or weekly summary.",
     .request = &summary_request,
     .fn = do_add_summary},
    {.name = "list_summaries",
     .summary = "Summaries, newest first.",
     .request = &list_summaries_request,
     .fn = do_list_summaries},
    {.name = "delete_record",
     .summary = "Deletes a page, search, tool call, outcome or summary.",
     .request = &delete_request,
     .fn = do_delete_record},
};

int ta_router_add_record_actions(ta_router *r)
{
    return ta_router_add_all(r, record_actions, sizeof record_actions / sizeof record_actions[0]);
}
