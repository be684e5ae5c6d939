/*
 * chat_template.c - see chat_template.h.
 */
#include "chat_template.h"

#include <stdlib.h>
#include <string.h>

#include "jinja.h"

/* Message content as a string: a plain string stays; text parts of an array join. */
#define CONTENT "message.content"

static const struct {
    const char *name;
    const char *src;
} builtins[] = {
    {"chatml",
     "{%- for message in messages -%}\n"
     "{{- '<|im_start|>' + message.role + '\\n' + (" CONTENT " or '') + '<|im_end|>\\n' -}}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n"},
    {"llama3", "{{- bos_token -}}\n"
               "{%- for message in messages -%}\n"
               "{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\\n\\n' -}}\n"
               "{{- (" CONTENT " or '')|trim + '<|eot_id|>' -}}\n"
               "{%- endfor -%}\n"
               "{%- if add_generation_prompt -%}\n"
               "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
               "{%- endif -%}\n"},
    /* system text goes inside the first [INST] in <<SYS>> markers */
    {"llama2", "{%- if messages and messages[0].role == 'system' -%}\n"
               "{%- set system = messages[0].content -%}{%- set chat = messages[1:] -%}\n"
               "{%- else -%}{%- set system = '' -%}{%- set chat = messages -%}{%- endif -%}\n"
               "{%- for message in chat -%}\n"
               "{%- if message.role == 'user' -%}\n"
               "{%- set text = (" CONTENT " or '')|trim -%}\n"
               "{%- if loop.first and system -%}\n"
               "{%- set text = '<<SYS>>\\n' + system|trim + '\\n<</SYS>>\\n\\n' + text -%}\n"
               "{%- endif -%}\n"
               "{{- bos_token + '[INST] ' + text + ' [/INST]' -}}\n"
               "{%- elif message.role == 'assistant' -%}\n"
               "{{- ' ' + (" CONTENT " or '')|trim + ' ' + eos_token -}}\n"
               "{%- endif -%}\n"
               "{%- endfor -%}\n"},
    /* system text is put before the first user message */
    {"mistral", "{{- bos_token -}}\n"
                "{%- set ns = namespace(system='') -%}\n"
                "{%- for message in messages -%}\n"
                "{%- if message.role == 'system' -%}\n"
                "{%- set ns.system = ns.system + (" CONTENT " or '') + '\\n\\n' -%}\n"
                "{%- elif message.role == 'user' -%}\n"
                "{{- '[INST] ' + ns.system + (" CONTENT " or '') + ' [/INST]' -}}\n"
                "{%- set ns.system = '' -%}\n"
                "{%- elif message.role == 'assistant' -%}\n"
                "{{- ' ' + (" CONTENT " or '')|trim + eos_token -}}\n"
                "{%- endif -%}\n"
                "{%- endfor -%}\n"},
    {"phi3", "{%- for message in messages -%}\n"
             "{{- '<|' + message.role + '|>\\n' + (" CONTENT " or '') + '<|end|>\\n' -}}\n"
             "{%- endfor -%}\n"
             "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}\n"},
    /* Gemma has no system role: its text opens the first user turn */
    {"gemma", "{{- bos_token -}}\n"
              "{%- if messages and messages[0].role == 'system' -%}\n"
              "{%- set prefix = (messages[0].content or '')|trim + '\\n\\n' -%}"
              "{%- set chat = messages[1:] -%}\n"
              "{%- else -%}{%- set prefix = '' -%}{%- set chat = messages -%}{%- endif -%}\n"
              "{%- for message in chat -%}\n"
              "{%- set role = 'model' if message.role == 'assistant' else message.role -%}\n"
              "{{- '<start_of_turn>' + role + '\\n' + (prefix if loop.first else '') -}}\n"
              "{{- (" CONTENT " or '')|trim + '<end_of_turn>\\n' -}}\n"
              "{%- endfor -%}\n"
              "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}\n"},
    {"zephyr", "{%- for message in messages -%}\n"
               "{{- '<|' + message.role + '|>\\n' + (" CONTENT " or '') + eos_token + '\\n' -}}\n"
               "{%- endfor -%}\n"
               "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}\n"},
};

const char *ta_chat_template_builtin(const char *name)
{
    for (size_t i = 0; name && i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(builtins[i].name, name)) return builtins[i].src;
    return NULL;
}

const char *ta_chat_template_guess(const char *src, const char *arch)
{
    if (src) {
        if (strstr(src, "<|im_start|>")) return "chatml";
        if (strstr(src, "<|start_header_id|>")) return "llama3";
        if (strstr(src, "<start_of_turn>")) return "gemma";
        if (strstr(src, "[INST]")) return strstr(src, "<<SYS>>") ? "llama2" : "mistral";
        if (strstr(src, "<|user|>")) return strstr(src, "<|end|>") ? "phi3" : "zephyr";
    }
    if (arch) {
        static const struct {
            const char *prefix, *name;
        } archs[] = {{"qwen", "chatml"},     {"gemma", "gemma"},     {"phi3", "phi3"},
                     {"mistral", "mistral"}, {"mixtral", "mistral"}, {"llama", "llama3"},
                     {"smollm", "chatml"}};
        for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
            if (!strncmp(arch, archs[i].prefix, strlen(archs[i].prefix))) return archs[i].name;
    }
    return "chatml";
}

/* Text parts of an array joined with "\n"; NULL (and err) for anything malformed. */
static json_t *join_parts(const json_t *parts, size_t idx, ta_error *err)
{
    size_t total = 0, i;
    json_t *p;
    json_array_foreach(parts, i, p)
    {
        const char *type = json_string_value(json_object_get(p, "type"));
        if (!json_is_object(p) || !type) {
            ta_error_set(err, TA_EINVAL, "messages[%zu].content[%zu]: expected {type, ...}", idx,
                         i);
            return NULL;
        }
        json_t *text = json_object_get(p, "text");
        if (!strcmp(type, "text") && json_is_string(text)) total += json_string_length(text) + 1;
    }
    char *buf = malloc(total + 1), *o = buf;
    if (!buf) {
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    json_array_foreach(parts, i, p)
    {
        json_t *text = json_object_get(p, "text");
        if (strcmp(json_string_value(json_object_get(p, "type")), "text") || !json_is_string(text))
            continue;
        if (o != buf) *o++ = '\n';
        memcpy(o, json_string_value(text), json_string_length(text));
        o += json_string_length(text);
    }
    json_t *s = json_stringn(buf, (size_t)(o - buf));
    free(buf);
    if (!s) ta_error_set(err, TA_EINVAL, "messages[%zu].content: text is not valid UTF-8", idx);
    return s;
}

/* A copy of messages, normalized for templates (see the header). */
static json_t *normalize(const json_t *messages, bool typed_content, ta_error *err)
{
    json_t *out = json_array();
    if (!out) return NULL;
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        if (!json_is_object(m) || !json_is_string(json_object_get(m, "role"))) {
            ta_error_set(err, TA_EINVAL, "messages[%zu]: expected an object with a role", i);
            json_decref(out);
            return NULL;
        }
        json_t *c = json_deep_copy(m);
        if (!c || json_array_append_new(out, c)) {
            ta_error_set(err, TA_ENOMEM, "out of memory");
            json_decref(out);
            return NULL;
        }
        json_t *content = json_object_get(c, "content");
        if (json_is_array(content) && !typed_content) {
            json_t *s = join_parts(content, i, err);
            if (!s) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(c, "content", s);
        }
        size_t k;
        json_t *call;
        json_array_foreach(json_object_get(c, "tool_calls"), k, call)
        {
            json_t *fn = json_object_get(call, "function");
            json_t *args = json_object_get(fn, "arguments");
            if (!json_is_string(args)) continue;
            json_t *parsed = json_loadb(json_string_value(args), json_string_length(args),
                                        JSON_DECODE_ANY, NULL);
            if (json_is_object(parsed))
                json_object_set_new(fn, "arguments", parsed);
            else
                json_decref(parsed);
        }
    }
    return out;
}

int ta_chat_template_apply(const char *template_src, const char *fallback_name,
                           const json_t *messages, const json_t *tools, bool add_generation_prompt,
                           const char *bos, const char *eos, const json_t *extra, char **out,
                           ta_error *err)
{
    *out = NULL;
    if (!json_is_array(messages)) return ta_error_set(err, TA_EINVAL, "messages must be an array");
    if (extra && !json_is_object(extra))
        return ta_error_set(err, TA_EINVAL, "template variables must be a JSON object");
    const char *src = template_src;
    if (!src) {
        src = ta_chat_template_builtin(fallback_name ? fallback_name : "chatml");
        if (!src)
            return ta_error_set(err, TA_EINVAL, "unknown built-in chat template '%s'",
                                fallback_name);
    }
    ta_jinja *t = ta_jinja_parse(src, strlen(src), err);
    if (!t) {
        ta_error_prefix(err, "chat template: ");
        return err ? err->code : TA_EINVAL;
    }
    /* a template that looks at part types gets the parts as they are */
    bool typed = strstr(src, "['type']") || strstr(src, ".type") || strstr(src, "[\"type\"]");
    json_t *ctx = extra ? json_copy((json_t *)extra) : json_object();
    json_t *msgs = normalize(messages, typed, err);
    int rc = 0;
    if (!msgs || !ctx) {
        rc = msgs ? ta_error_set(err, TA_ENOMEM, "out of memory") : (err ? err->code : TA_EINVAL);
    } else {
        json_object_set_new(ctx, "messages", msgs);
        msgs = NULL;
        json_object_set(ctx, "tools", tools ? (json_t *)tools : json_null());
        if (!json_object_get(ctx, "documents")) json_object_set_new(ctx, "documents", json_null());
        json_object_set_new(ctx, "add_generation_prompt", json_boolean(add_generation_prompt));
        if (bos || !json_object_get(ctx, "bos_token"))
            json_object_set_new(ctx, "bos_token", json_string(bos ? bos : ""));
        if (eos || !json_object_get(ctx, "eos_token"))
            json_object_set_new(ctx, "eos_token", json_string(eos ? eos : ""));
        rc = ta_jinja_render(t, ctx, NULL, out, NULL, err);
        if (rc) ta_error_prefix(err, "chat template: ");
    }
    json_decref(msgs);
    json_decref(ctx);
    ta_jinja_free(t);
    return rc;
}
