/*
 * fuzz_jinja.c - libFuzzer target for the Jinja interpreter that renders chat
 * templates taken from model files. The input is a template, optionally followed by
 * a NUL byte and a JSON object of variables; without valid variables a fixed chat
 * (system/user/assistant with a tool call/tool) and tools are used. Parsing must
 * either succeed or fail with a message; rendering runs under small limits and must
 * either produce NUL-terminated output of the reported length, within the output
 * limit, or fail with a limit or template error. Never a crash, a hang or a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/jinja.h"

static const char default_ctx[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"Weather in Paris?\"},"
    " {\"role\": \"assistant\", \"content\": \"<think>\\nhm\\n</think>\\n\\nok\", \"tool_calls\":"
    " [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\":"
    " {\"location\": \"Paris\"}}}]},"
    " {\"role\": \"tool\", \"content\": \"22C\"}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\","
    " \"parameters\": {\"type\": \"object\", \"properties\": {\"location\": {\"type\": "
    "\"string\"}}}}}],"
    " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\","
    " \"n\": 3, \"f\": 2.5, \"u\": \"h\\u00e9llo\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *fixed;
    if (!fixed && !(fixed = json_loads(default_ctx, 0, NULL))) abort();
    const char *src = (const char *)data;
    const char *nul = memchr(data, '\0', size);
    size_t len = nul ? (size_t)(nul - src) : size;
    json_t *own = NULL;
    if (nul) own = json_loadb(nul + 1, size - len - 1, 0, NULL);
    const json_t *ctx = json_is_object(own) ? own : fixed;

    ta_error err;
    ta_jinja *t = ta_jinja_parse(src, len, &err);
    if (!t) {
        if (err.code == 0 || !err.message[0]) abort();
        json_decref(own);
        return 0;
    }
    ta_jinja_limits lim = {
        .max_output = 1 << 16, .max_steps = 200000, .max_memory = 32 << 20, .max_depth = 64};
    char *out = NULL;
    size_t out_len = 0;
    int rc = ta_jinja_render(t, ctx, &lim, &out, &out_len, &err);
    if (rc == 0) {
        if (!out || out[out_len] != '\0' || out_len > lim.max_output) abort();
    } else if (out || err.code != rc || !err.message[0]) {
        abort();
    }
    free(out);
    ta_jinja_free(t);
    json_decref(own);
    return 0;
}
