/*
 * cmd_tokenize.c - `tabagent tokenize -m FILE (--text STR | --file PATH) [--no-bos]
 * [--parse-special] [--json]`: the ids the model's tokenizer gives a text.
 *
 * Special tokens (BOS, and EOS / [CLS] [SEP] where the metadata says so) are added as
 * the model's metadata says, unless --no-bos. The text is plain text unless
 * --parse-special, which turns control-token texts such as "<|im_start|>" into their ids.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tokenizer/tokenizer.h"
#include "cli.h"

#define MAX_TEXT ((size_t)1 << 30)

int ta_cli_tokenize(int argc, char **argv)
{
    const char *path = NULL, *text = NULL, *file = NULL;
    bool as_json = false, no_bos = false, parse_special = false;
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},   {"text", required_argument, NULL, 't'},
        {"file", required_argument, NULL, 'f'},    {"no-bos", no_argument, NULL, 'b'},
        {"parse-special", no_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:t:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': path = optarg; break;
        case 't': text = optarg; break;
        case 'f': file = optarg; break;
        case 'b': no_bos = true; break;
        case 's': parse_special = true; break;
        case 'j': as_json = true; break;
        case 'h':
            printf("usage: tabagent tokenize -m FILE (--text STR | --file PATH) [--no-bos] "
                   "[--parse-special] [--json]\n");
            return 0;
        default: return ta_cli_usage_error("tokenize", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!path) return ta_cli_usage_error("tokenize", "-m FILE is required");
    if (!text == !file) return ta_cli_usage_error("tokenize", "give exactly one of --text, --file");

    size_t len = 0;
    char *owned = NULL;
    if (file) {
        owned = ta_cli_read_file("tokenize", file, MAX_TEXT, &len);
        if (!owned) return 1;
        text = owned;
    } else {
        len = strlen(text);
    }
    ta_error err;
    ta_gguf *g = ta_gguf_open(path, &err);
    if (!g) {
        free(owned);
        return ta_cli_fail("tokenize", "%s", err.message);
    }
    ta_tokenizer *tok = ta_tokenizer_from_gguf(g, &err);
    ta_gguf_close(g);
    if (!tok) {
        free(owned);
        return ta_cli_fail("tokenize", "%s: %s", path, err.message);
    }
    ta_tok_ids ids = {0};
    int rc = ta_tok_encode(tok, text, len, !no_bos, parse_special, &ids, &err);
    free(owned);
    if (rc) {
        ta_tokenizer_free(tok);
        return ta_cli_fail("tokenize", "%s", err.message);
    }
    if (as_json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < ids.len; i++)
            json_array_append_new(arr, json_integer(ids.ids[i]));
        json_t *out = json_pack("{s:o}", "ids", arr);
        char *s = json_dumps(out, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(out);
    } else {
        for (size_t i = 0; i < ids.len; i++)
            printf("%s%d", i ? " " : "", ids.ids[i]);
        putchar('\n');
    }
    ta_tok_ids_free(&ids);
    ta_tokenizer_free(tok);
    return 0;
}
