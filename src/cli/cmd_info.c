/*
 * cmd_info.c - `tabagent info -m FILE [--json]`: what a GGUF model file holds.
 *
 * Reads the metadata directly, so it also describes files the engine cannot run (and
 * says why under "supported").
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "../engine/model.h"
#include "cli.h"

static json_t *str_or_null(const ta_gguf *g, const char *key)
{
    ta_gguf_str s;
    if (!ta_gguf_get_str(g, key, &s)) return json_null();
    json_t *v = json_stringn(s.ptr, (size_t)s.len);
    return v ? v : json_string("(not UTF-8)");
}

int ta_cli_info(int argc, char **argv)
{
    const char *path = NULL;
    bool as_json = false;
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': path = optarg; break;
        case 'j': as_json = true; break;
        case 'h': printf("usage: tabagent info -m FILE [--json]\n"); return 0;
        default: return ta_cli_usage_error("info", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!path) return ta_cli_usage_error("info", "-m FILE is required");

    ta_error err;
    ta_gguf *g = ta_gguf_open(path, &err);
    if (!g) return ta_cli_fail("info", "%s: %s", path, err.message);

    json_t *out = json_object();
    json_object_set_new(out, "file", json_string(path));
    json_object_set_new(out, "file_size", json_integer((json_int_t)ta_gguf_file_size(g)));
    json_object_set_new(out, "gguf_version", json_integer(ta_gguf_version(g)));
    json_object_set_new(out, "architecture", str_or_null(g, "general.architecture"));
    json_object_set_new(out, "name", str_or_null(g, "general.name"));

    uint64_t params = 0;
    json_t *types = json_object();
    for (size_t i = 0; i < ta_gguf_tensor_count(g); i++) {
        const ta_gguf_tensor *t = ta_gguf_tensor_at(g, i);
        params += t->n_elems;
        const char *tn = ta_type_get(t->type)->name;
        json_t *cur = json_object_get(types, tn ? tn : "unknown");
        json_object_set_new(types, tn ? tn : "unknown",
                            json_integer(cur ? json_integer_value(cur) + 1 : 1));
    }
    json_object_set_new(out, "parameters", json_integer((json_int_t)params));
    json_object_set_new(out, "tensors", json_integer((json_int_t)ta_gguf_tensor_count(g)));
    json_object_set_new(out, "tensor_types", types);

    ta_gguf_str arch;
    char key[160];
    if (ta_gguf_get_str(g, "general.architecture", &arch) && arch.len < 64) {
        uint32_t v;
        static const char *const fields[][2] = {{"context_length", "context_length"},
                                                {"embedding_length", "embedding_length"},
                                                {"block_count", "layers"},
                                                {"attention.head_count", "heads"},
                                                {"attention.head_count_kv", "kv_heads"},
                                                {"feed_forward_length", "feed_forward_length"}};
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            snprintf(key, sizeof key, "%.*s.%s", (int)arch.len, arch.ptr, fields[i][0]);
            if (ta_gguf_get_u32(g, key, &v))
                json_object_set_new(out, fields[i][1], json_integer(v));
        }
    }
    json_t *model_kind = str_or_null(g, "tokenizer.ggml.model");
    const char *kind = json_string_value(model_kind);
    const char *tok = !kind                    ? "none"
                      : !strcmp(kind, "llama") ? "spm"
                      : !strcmp(kind, "gpt2")  ? "bpe"
                      : !strcmp(kind, "bert")  ? "wordpiece"
                                               : kind;
    json_object_set_new(out, "tokenizer", json_string(tok));
    json_decref(model_kind);
    json_object_set_new(out, "tokenizer_pre", str_or_null(g, "tokenizer.ggml.pre"));
    uint64_t nv = 0;
    ta_gguf_vtype et;
    if (ta_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &nv))
        json_object_set_new(out, "vocab_size", json_integer((json_int_t)nv));
    json_object_set_new(out, "chat_template",
                        json_boolean(ta_gguf_find(g, "tokenizer.chat_template") >= 0));

    /* Can the engine run it? Validation takes ownership of g. */
    ta_model *m = ta_model_from_gguf(g, &err);
    json_object_set_new(out, "supported", json_boolean(m != NULL));
    if (!m) json_object_set_new(out, "unsupported_reason", json_string(err.message));
    ta_model_free(m);

    if (as_json) {
        char *s = json_dumps(out, JSON_COMPACT);
        puts(s);
        free(s);
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(out, k, v)
        {
            char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            printf("%-20s %s\n", k, s);
            free(s);
        }
    }
    json_decref(out);
    return 0;
}
