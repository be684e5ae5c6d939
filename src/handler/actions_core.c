/*
 * actions_core.c - the first actions: ping, health, version, get_system_info,
 * list_actions. Each is a schema pair plus a handler, nothing transport-specific.
 */
#include <time.h>
#include <unistd.h>

#include "../hardware/hardware.h"
#include "router.h"

/* ---- ping ------------------------------------------------------------------------ */

static const ta_field ping_fields[] = {
    {.name = "count",
     .types = TA_T_INT,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 1,
     .max = 10000,
     .dflt = "1",
     .description = "How many pongs; with stream=true each one is sent as an event."},
    {.name = "interval_ms",
     .types = TA_T_INT,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 0,
     .max = 60000,
     .dflt = "0",
     .description = "Pause between pongs, in milliseconds."},
    {.name = "stream",
     .types = TA_T_BOOL,
     .dflt = "false",
     .description = "Send each pong as a stream event (SSE over HTTP)."},
    {0}};
static const ta_schema ping_request = {.name = "PingRequest",
                                       .description = "Liveness check, optionally streamed.",
                                       .fields = ping_fields};

static const ta_field ping_result_fields[] = {
    {.name = "response", .types = TA_T_STRING, .description = "Always \"pong\"."},
    {.name = "version", .types = TA_T_STRING, .description = "Server version."},
    {.name = "pid", .types = TA_T_INT, .description = "Server process id."},
    {.name = "count", .types = TA_T_INT, .description = "Pongs sent."},
    {0}};
static const ta_schema ping_response = {.name = "PingResponse", .fields = ping_result_fields};

/* Sleeps up to ms, waking early when the call is cancelled. */
static void nap(ta_call *call, long ms)
{
    while (ms > 0 && !ta_call_cancelled(call)) {
        long step = ms < 20 ? ms : 20;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static int do_ping(ta_call *call)
{
    long long count = ta_json_int(call->params, "count", 1);
    long long interval = ta_json_int(call->params, "interval_ms", 0);
    long long sent = 0;
    for (long long i = 0; i < count; i++) {
        if (ta_call_cancelled(call))
            return ta_call_fail(call, TA_ECANCELLED, "ping cancelled after %lld pongs", sent);
        if (i > 0) nap(call, (long)interval);
        if (ta_call_cancelled(call))
            return ta_call_fail(call, TA_ECANCELLED, "ping cancelled after %lld pongs", sent);
        if (call->stream) {
            json_t *ev = json_pack("{s:s,s:I}", "response", "pong", "seq", (json_int_t)i + 1);
            int rc = ta_call_event(call, "pong", ev);
            json_decref(ev);
            if (rc) return ta_call_fail(call, TA_ECANCELLED, "client went away");
        }
        sent++;
    }
    return ta_call_reply(call,
                         json_pack("{s:s,s:s,s:I,s:I}", "response", "pong", "version", TA_VERSION,
                                   "pid", (json_int_t)getpid(), "count", (json_int_t)sent));
}

/* ---- health / version --------------------------------------------------------------- */

static const ta_field health_fields[] = {
    {.name = "status", .types = TA_T_STRING, .description = "\"ok\" while serving."},
    {.name = "version", .types = TA_T_STRING},
    {.name = "uptime_s", .types = TA_T_NUMBER, .description = "Seconds since start."},
    {0}};
static const ta_schema health_response = {.name = "HealthResponse", .fields = health_fields};

static int do_health(ta_call *call)
{
    const char *status = atomic_load(&call->app->shutting_down) ? "stopping" : "ok";
    return ta_call_reply(call, json_pack("{s:s,s:s,s:f}", "status", status, "version", TA_VERSION,
                                         "uptime_s", ta_app_uptime(call->app)));
}

static const ta_field version_fields[] = {
    {.name = "version", .types = TA_T_STRING},
    {.name = "api", .types = TA_T_STRING, .description = "API generation, \"v1\"."},
    {.name = "compiler", .types = TA_T_STRING},
    {.name = "built", .types = TA_T_STRING, .description = "Build date."},
    {0}};
static const ta_schema version_response = {.name = "VersionResponse", .fields = version_fields};

static int do_version(ta_call *call)
{
#if defined(__clang__)
    const char *compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
    const char *compiler = "gcc " __VERSION__;
#else
    const char *compiler = "unknown";
#endif
    return ta_call_reply(call, json_pack("{s:s,s:s,s:s,s:s}", "version", TA_VERSION, "api", "v1",
                                         "compiler", compiler, "built", __DATE__));
}

/* ---- get_system_info ----------------------------------------------------------------- */

static const ta_field sysinfo_fields[] = {
    {.name = "os", .types = TA_T_STRING, .description = "Operating system and release."},
    {.name = "kernel", .types = TA_T_STRING},
    {.name = "arch", .types = TA_T_STRING},
    {.name = "cpu", .types = TA_T_STRING, .description = "CPU model name."},
    {.name = "cores", .types = TA_T_INT, .description = "Physical cores."},
    {.name = "threads", .types = TA_T_INT, .description = "Logical processors."},
    {.name = "ram", .types = TA_T_INT, .description = "Total memory in bytes."},
    {.name = "ram_available", .types = TA_T_INT, .description = "Available memory in bytes."},
    {0}};
static const ta_schema sysinfo_response = {.name = "SystemInfo", .fields = sysinfo_fields};

static int do_system_info(ta_call *call)
{
    ta_hw_basic hw;
    ta_hw_basic_probe(&hw, NULL);
    const char *os = hw.os_pretty[0] ? hw.os_pretty : hw.os_name;
    return ta_call_reply(call, json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:I,s:I}", "os", os, "kernel",
                                         hw.os_release, "arch", hw.arch, "cpu",
                                         hw.cpu_model[0] ? hw.cpu_model : "unknown", "cores",
                                         hw.physical_cores, "threads", hw.logical_threads, "ram",
                                         (json_int_t)hw.ram_total_bytes, "ram_available",
                                         (json_int_t)hw.ram_available_bytes));
}

/* ---- handshake ----------------------------------------------------------------------- */

/* The TabAgent extension opens every native port with {"action":"handshake",
 * "source":"extension"}; the reply tells it who answered and what it speaks. */
static const ta_field handshake_fields[] = {
    {.name = "source",
     .types = TA_T_STRING,
     .max_len = 64,
     .description = "Who is connecting, e.g. \"extension\"."},
    {0}};
static const ta_schema handshake_request = {.name = "HandshakeRequest", .fields = handshake_fields};

static const ta_field handshake_result_fields[] = {
    {.name = "server", .types = TA_T_STRING, .description = "Always \"tabagent\"."},
    {.name = "version", .types = TA_T_STRING},
    {.name = "pid", .types = TA_T_INT},
    {.name = "transport", .types = TA_T_STRING, .description = "How this request arrived."},
    {.name = "actions", .types = TA_T_INT, .description = "How many actions the server answers."},
    {0}};
static const ta_schema handshake_response = {.name = "HandshakeResponse",
                                             .fields = handshake_result_fields};

static int do_handshake(ta_call *call)
{
    ta_log_info("handshake from %s over %s", ta_json_str(call->params, "source", "a client"),
                call->transport);
    return ta_call_reply(call, json_pack("{s:s,s:s,s:I,s:s,s:I}", "server", "tabagent", "version",
                                         TA_VERSION, "pid", (json_int_t)getpid(), "transport",
                                         call->transport, "actions",
                                         (json_int_t)ta_router_count(call->router)));
}

/* ---- list_actions -------------------------------------------------------------------- */

static const ta_field list_fields[] = {{.name = "schemas",
                                        .types = TA_T_BOOL,
                                        .dflt = "false",
                                        .description = "Include each action's request schema."},
                                       {0}};
static const ta_schema list_request = {.name = "ListActionsRequest", .fields = list_fields};

static int do_list_actions(ta_call *call);

static const ta_action core_actions[] = {
    {"ping", "Liveness check; replies pong (streams pongs when asked).", &ping_request,
     &ping_response, do_ping, TA_ACTION_STREAMS},
    {"health", "Server status and version.", NULL, &health_response, do_health, 0},
    {"handshake", "First message of a client session: who answers, and its version.",
     &handshake_request, &handshake_response, do_handshake, 0},
    {"version", "Server version and build.", NULL, &version_response, do_version, 0},
    {"get_system_info", "Operating system, CPU, cores and memory.", NULL, &sysinfo_response,
     do_system_info, 0},
    {"list_actions", "Every action this server answers, with its parameters.", &list_request, NULL,
     do_list_actions, 0},
};

static int do_list_actions(ta_call *call)
{
    const ta_router *r = call->router;
    bool schemas = ta_json_bool(call->params, "schemas", false);
    json_t *list = json_array();
    for (size_t i = 0; r && i < ta_router_count(r); i++) {
        const ta_action *a = ta_router_at(r, i);
        json_t *o =
            json_pack("{s:s,s:s,s:b}", "name", a->name, "summary", a->summary ? a->summary : "",
                      "streams", (a->flags & TA_ACTION_STREAMS) != 0);
        if (schemas && a->request)
            json_object_set_new(o, "request", ta_values_json_schema(a->request));
        json_array_append_new(list, o);
    }
    return ta_call_reply(
        call, json_pack("{s:o,s:I}", "actions", list, "count", (json_int_t)json_array_size(list)));
}

int ta_router_add_core_actions(ta_router *r)
{
    return ta_router_add_all(r, core_actions, sizeof core_actions / sizeof core_actions[0]);
}
