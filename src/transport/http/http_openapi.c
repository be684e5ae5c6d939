/*
 * http_openapi.c - the OpenAPI 3.1 document, generated from the route table and the
 * actions' schemas: the same tables that dispatch and validate, so the document
 * cannot drift from the server.
 */
#include <string.h>

#include "http_internal.h"

static json_t *error_schema(void)
{
    return json_pack("{s:s,s:{s:{s:s,s:{s:{s:s},s:{s:s},s:{s:s}},s:[s,s,s]}},s:[s]}", "type",
                     "object", "properties", "error", "type", "object", "properties", "message",
                     "type", "string", "type", "type", "string", "code", "type", "string",
                     "required", "message", "type", "code", "required", "error");
}

static json_t *ref(const char *name)
{
    char buf[160];
    snprintf(buf, sizeof buf, "#/components/schemas/%s", name);
    return json_pack("{s:s}", "$ref", buf);
}

/* Query parameters for a GET route: the scalar fields of the request schema. */
static void add_query_params(json_t *params, const ta_schema *s)
{
    for (const ta_field *f = s ? s->fields : NULL; f && f->name; f++) {
        if (f->types & (TA_T_OBJECT | TA_T_ARRAY)) continue;
        json_t *p =
            json_pack("{s:s,s:s,s:b,s:o}", "name", f->name, "in", "query", "required",
                      (f->flags & TA_F_REQUIRED) != 0, "schema", ta_values_field_json_schema(f));
        if (f->description) json_object_set_new(p, "description", json_string(f->description));
        json_array_append_new(params, p);
    }
}

static json_t *operation(const ta_http_route *rt, const ta_action *a, json_t *schemas,
                         bool auth_enabled)
{
    json_t *op = json_object();
    json_t *params = json_array();
    json_t *responses = json_object();
    char opid[128];
    const char *summary = a && a->summary ? a->summary : NULL;

    snprintf(opid, sizeof opid, "%s_%s", rt->method, rt->action ? rt->action : rt->pattern);
    for (char *c = opid; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            *c = '_';
    json_object_set_new(op, "operationId", json_string(opid));
    json_object_set_new(op, "tags", json_pack("[s]", rt->tag ? rt->tag : "default"));

    /* Path parameters. */
    for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        if (!e) break;
        size_t nl = (size_t)(e - p - 1);
        if (nl && p[nl] == '*') nl--; /* {model*}: the rest of the path */
        json_t *name = json_stringn(p + 1, nl);
        json_array_append_new(params, json_pack("{s:o,s:s,s:b,s:{s:s}}", "name", name, "in", "path",
                                                "required", 1, "schema", "type", "string"));
    }

    if (rt->builtin == TA_BUILTIN_OPENAPI) {
        summary = "This OpenAPI 3.1 document.";
        json_object_set_new(responses, "200",
                            json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", "The document",
                                      "content", "application/json", "schema", "type", "object"));
    } else if (a) {
        if (a->request && !strcmp(rt->method, "GET")) {
            add_query_params(params, a->request);
        } else if (a->request) {
            json_object_set_new(schemas, a->request->name, ta_values_json_schema(a->request));
            json_object_set_new(op, "requestBody",
                                json_pack("{s:b,s:{s:{s:o}}}", "required", 0, "content",
                                          "application/json", "schema", ref(a->request->name)));
        }
        json_t *ok_schema;
        if (a->response) {
            json_object_set_new(schemas, a->response->name, ta_values_json_schema(a->response));
            ok_schema = ref(a->response->name);
        } else {
            ok_schema = json_pack("{s:s}", "type", "object");
        }
        json_t *content = json_pack("{s:{s:o}}", "application/json", "schema", ok_schema);
        if (a->flags & TA_ACTION_STREAMS)
            json_object_set_new(
                content, "text/event-stream",
                json_pack("{s:{s:s,s:s}}", "schema", "type", "string", "description",
                          "With stream=true: one `data: <json>` line per event, ended by `data: "
                          "[DONE]`."));
        json_object_set_new(responses, "200",
                            json_pack("{s:s,s:o}", "description", "Success", "content", content));
    } else {
        /* The generic action route: any action, any parameters. */
        summary = "Run any action by name (the same actions as native messaging).";
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b,s:{s:{s:{s:s}}}}", "required", 0, "content",
                                      "application/json", "schema", "type", "object"));
        json_object_set_new(responses, "200",
                            json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", "The action's result",
                                      "content", "application/json", "schema", "type", "object"));
    }
    if (summary) json_object_set_new(op, "summary", json_string(summary));
    if (json_array_size(params))
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);
    json_object_set_new(responses, "4XX",
                        json_pack("{s:s}", "$ref", "#/components/responses/ClientError"));
    json_object_set_new(responses, "5XX",
                        json_pack("{s:s}", "$ref", "#/components/responses/ServerError"));
    json_object_set_new(op, "responses", responses);
    if (auth_enabled && (rt->flags & TA_ROUTE_PUBLIC))
        json_object_set_new(op, "security", json_array());
    return op;
}

json_t *ta_http_openapi(const ta_router *router, bool auth_enabled)
{
    json_t *paths = json_object();
    json_t *schemas = json_object();
    json_object_set_new(schemas, "Error", error_schema());
    for (size_t i = 0; i < ta_http_route_count(); i++) {
        const ta_http_route *rt = ta_http_route_at(i);
        if (rt->flags & TA_ROUTE_HIDDEN) continue;
        const ta_action *a = rt->action ? ta_router_find(router, rt->action) : NULL;
        if (rt->action && !a) continue; /* an action this build does not have */
        char key[512];                  /* the pattern as OpenAPI writes it: {model*} is {model} */
        size_t kl = 0;
        for (const char *c = rt->pattern; *c && kl + 1 < sizeof key; c++)
            if (!(*c == '*' && c[1] == '}')) key[kl++] = *c;
        key[kl] = '\0';
        json_t *item = json_object_get(paths, key);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, key, item);
        }
        char method[16];
        size_t n = strlen(rt->method);
        if (n >= sizeof method) continue;
        for (size_t k = 0; k <= n; k++)
            method[k] = (char)(rt->method[k] >= 'A' && rt->method[k] <= 'Z' ? rt->method[k] + 32
                                                                            : rt->method[k]);
        json_object_set_new(item, method, operation(rt, a, schemas, auth_enabled));
    }
    json_t *responses = json_pack(
        "{s:{s:s,s:{s:{s:o}}},s:{s:s,s:{s:{s:o}}}}", "ClientError", "description",
        "The request was refused: 400 validation (the message names the field), 401 missing or "
        "wrong API key, 404 unknown route or action, 405 wrong method, 413 body too large, 415 "
        "not JSON.",
        "content", "application/json", "schema", ref("Error"), "ServerError", "description",
        "500 internal error, 503 unavailable (busy, loading, shutting down).", "content",
        "application/json", "schema", ref("Error"));
    json_t *doc = json_pack(
        "{s:s,s:{s:s,s:s,s:s},s:[{s:s}],s:o,s:{s:o,s:o,s:{s:{s:s,s:s}}}}", "openapi", "3.1.0",
        "info", "title", "tabagent", "version", TA_VERSION, "description",
        "Local AI server: OpenAI-compatible HTTP API and TabAgent actions. Every action is also "
        "reachable over browser native messaging with the same parameters.",
        "servers", "url", "/", "paths", paths, "components", "schemas", schemas, "responses",
        responses, "securitySchemes", "bearerAuth", "type", "http", "scheme", "bearer");
    /* Without --api-key nothing needs credentials: say so explicitly. */
    json_object_set_new(doc, "security",
                        auth_enabled ? json_pack("[{s:[]}]", "bearerAuth") : json_array());
    return doc;
}
