/*
 * http_routes.c - the HTTP route table: the single list the server dispatches from
 * and the OpenAPI document is generated from.
 */
#include <string.h>

#include "http_internal.h"

static const ta_http_route routes[] = {
    {"GET", "/v1/health", "health", 0, TA_ROUTE_PUBLIC, "system"},
    {"GET", "/health", "health", 0, TA_ROUTE_PUBLIC | TA_ROUTE_HIDDEN, "system"},
    {"GET", "/v1/version", "version", 0, 0, "system"},
    {"GET", "/v1/system/info", "get_system_info", 0, 0, "system"},
    {"GET", "/v1/ping", "ping", 0, 0, "system"},
    {"POST", "/v1/ping", "ping", 0, 0, "system"},
    {"GET", "/v1/hardware/info", "get_hardware_info", 0, 0, "hardware"},
    {"POST", "/v1/hardware/feasibility", "check_model_feasibility", 0, 0, "hardware"},
    {"GET", "/v1/hardware/recommendations", "get_recommended_models", 0, 0, "hardware"},
    {"GET", "/v1/actions", "list_actions", 0, 0, "actions"},
    {"POST", "/v1/handshake", "handshake", 0, 0, "system"},
    {"POST", "/v1/actions/{action}", NULL, 0, 0, "actions"},
    {"POST", "/v1/chat/completions", "chat_completions", 0, 0, "openai"},
    {"POST", "/v1/completions", "completions", 0, 0, "openai"},
    {"POST", "/v1/embeddings", "embeddings", 0, 0, "openai"},
    {"GET", "/v1/models", "list_models", 0, 0, "models"},
    {"POST", "/v1/models/load", "load_model", 0, 0, "models"},
    {"POST", "/v1/models/unload", "unload_model", 0, 0, "models"},
    {"POST", "/v1/models/pull", "pull_model", 0, 0, "models"},
    {"GET", "/v1/models/{model*}", "get_model", 0, 0, "models"},
    {"DELETE", "/v1/models/{model*}", "delete_model", 0, 0, "models"},
    {"GET", "/v1/hf/token", "get_hf_token", 0, 0, "models"},
    {"POST", "/v1/hf/token", "set_hf_token", 0, 0, "models"},
    {"DELETE", "/v1/hf/token", "clear_hf_token", 0, 0, "models"},
    {"POST", "/tokenize", "tokenize", 0, 0, "models"},
    {"POST", "/detokenize", "detokenize", 0, 0, "models"},
    {"POST", "/v1/tokenize", "tokenize", 0, TA_ROUTE_HIDDEN, "models"},
    {"POST", "/v1/detokenize", "detokenize", 0, TA_ROUTE_HIDDEN, "models"},
    {"GET", "/v1/chats", "list_chats", 0, 0, "memory"},
    {"POST", "/v1/chats", "create_chat", 0, 0, "memory"},
    {"POST", "/v1/chats/import", "import_chat", 0, 0, "memory"},
    {"GET", "/v1/chats/{chat_id}/messages", "get_chat_messages", 0, 0, "memory"},
    {"POST", "/v1/chats/{chat_id}/messages", "add_message", 0, 0, "memory"},
    {"GET", "/v1/chats/{chat_id}/export", "export_chat", 0, 0, "memory"},
    {"DELETE", "/v1/chats/{chat_id}", "delete_chat", 0, 0, "memory"},
    {"POST", "/v1/memory/search", "search_memory", 0, 0, "memory"},
    {"POST", "/v1/memory/backup", "memory_backup", 0, 0, "memory"},
    {"POST", "/v1/memory/restore", "memory_restore", 0, 0, "memory"},
    {"GET", "/v1/memory/stats", "memory_stats", 0, 0, "memory"},
    {"POST", "/v1/memory/weave", "weave_memory", 0, 0, "memory"},
    {"GET", "/v1/memory/messages/{message_id}/related", "related_messages", 0, 0, "memory"},
    {"POST", "/v1/memory/pages", "add_page", 0, 0, "memory"},
    {"GET", "/v1/memory/pages", "list_pages", 0, 0, "memory"},
    {"GET", "/v1/memory/pages/{page_id}", "get_page", 0, 0, "memory"},
    {"POST", "/v1/memory/searches", "add_web_search", 0, 0, "memory"},
    {"GET", "/v1/memory/searches", "list_web_searches", 0, 0, "memory"},
    {"POST", "/v1/memory/tool-calls", "add_tool_call", 0, 0, "memory"},
    {"GET", "/v1/memory/tool-calls", "list_tool_calls", 0, 0, "memory"},
    {"POST", "/v1/memory/outcomes", "add_outcome", 0, 0, "memory"},
    {"GET", "/v1/memory/outcomes", "list_outcomes", 0, 0, "memory"},
    {"POST", "/v1/memory/outcomes/{outcome_id}/feedback", "set_outcome_feedback", 0, 0, "memory"},
    {"POST", "/v1/memory/summaries", "add_summary", 0, 0, "memory"},
    {"GET", "/v1/memory/summaries", "list_summaries", 0, 0, "memory"},
    {"DELETE", "/v1/memory/{kind}/{record_id}", "delete_record", 0, 0, "memory"},
    {"POST", "/v1/knowledge/entities", "add_entity", 0, 0, "knowledge"},
    {"GET", "/v1/knowledge/entities", "find_entities", 0, 0, "knowledge"},
    {"GET", "/v1/knowledge/entities/{entity_id}", "get_entity", 0, 0, "knowledge"},
    {"GET", "/v1/knowledge/entities/{entity_id}/neighbors", "entity_neighbors", 0, 0, "knowledge"},
    {"POST", "/v1/knowledge/relations", "add_relation", 0, 0, "knowledge"},
    {"GET", "/v1/knowledge/path", "entity_path", 0, 0, "knowledge"},
    {"POST", "/v1/knowledge/merge", "merge_entities", 0, 0, "knowledge"},
    {"GET", "/v1/knowledge/duplicates", "duplicate_entities", 0, 0, "knowledge"},
    {"GET", "/api-doc/openapi.json", NULL, TA_BUILTIN_OPENAPI, TA_ROUTE_PUBLIC, "docs"},
    {"GET", "/openapi.json", NULL, TA_BUILTIN_OPENAPI, TA_ROUTE_PUBLIC | TA_ROUTE_HIDDEN, "docs"},
    {"GET", "/docs", NULL, TA_BUILTIN_SWAGGER, TA_ROUTE_PUBLIC | TA_ROUTE_HIDDEN, "docs"},
    {"GET", "/redoc", NULL, TA_BUILTIN_REDOC, TA_ROUTE_PUBLIC | TA_ROUTE_HIDDEN, "docs"},
    {"GET", "/rapidoc", NULL, TA_BUILTIN_RAPIDOC, TA_ROUTE_PUBLIC | TA_ROUTE_HIDDEN, "docs"},
};

size_t ta_http_route_count(void)
{
    return sizeof routes / sizeof routes[0];
}

const ta_http_route *ta_http_route_at(size_t i)
{
    return i < ta_http_route_count() ? &routes[i] : NULL;
}

/* Matches pattern against path segment by segment; {name} captures one non-empty
 * segment, and a last {name*} the rest of the path, slashes and all (a model id such
 * as org/name:Q4_K_M). A trailing slash on the path is tolerated. */
static bool match(const char *pattern, const char *path, json_t *params)
{
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/') return false;
        p++;
        s++;
        const char *pend = strchr(p, '/');
        const char *send = strchr(s, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        size_t slen = send ? (size_t)(send - s) : strlen(s);
        if (plen >= 3 && p[0] == '{' && p[plen - 2] == '*' && p[plen - 1] == '}' && !pend) {
            size_t rest = strlen(s);
            while (rest && s[rest - 1] == '/')
                rest--;
            if (rest == 0) return false;
            if (params) {
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)(plen - 3), p + 1);
                json_object_set_new(params, name, json_stringn(s, rest));
            }
            return true;
        }
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0) return false;
            if (params) {
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)(plen - 2), p + 1);
                json_object_set_new(params, name, json_stringn(s, slen));
            }
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    if (!*p && s[0] == '/' && s[1] == '\0') return true;
    return !*p && !*s;
}

const ta_http_route *ta_http_route_match(const char *method, const char *path, json_t *params,
                                         char *allow, size_t allow_cap)
{
    if (allow && allow_cap) allow[0] = '\0';
    size_t used = 0;
    bool head = !strcmp(method, "HEAD");
    for (size_t i = 0; i < ta_http_route_count(); i++) {
        const ta_http_route *r = &routes[i];
        if (!match(r->pattern, path, NULL)) continue;
        if (!strcmp(r->method, method) || (head && !strcmp(r->method, "GET"))) {
            if (params) match(r->pattern, path, params);
            return r;
        }
        if (allow && used < allow_cap && !strstr(allow, r->method)) {
            int n = snprintf(allow + used, allow_cap - used, "%s%s", used ? ", " : "", r->method);
            if (n > 0) used += (size_t)n;
        }
    }
    return NULL;
}
