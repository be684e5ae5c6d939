/*
 * cmd_embed.c - `tabagent embed -m FILE (--text STR | --file PATH) [--threads T] [--json]`:
 * the sentence embedding of a text by a bert / nomic-bert encoder.
 *
 * The text is tokenized with the model's own tokenizer, special tokens added ([CLS] ...
 * [SEP] for WordPiece), then pooled and L2-normalized as the model's metadata says.
 * --json prints {"embedding":[...]}; otherwise the numbers, space-separated, on one
 * line. A text longer than the model's context is refused with both lengths: it is
 * never cut silently.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/encoder.h"
#include "../tokenizer/tokenizer.h"
#include "cli.h"

#define MAX_TEXT ((size_t)64 << 20)

int ta_cli_embed(int argc, char **argv)
{
    const char *path = NULL, *text = NULL, *file = NULL;
    long threads = 0;
    bool as_json = false;
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"text", required_argument, NULL, 'p'},
                                         {"file", required_argument, NULL, 'f'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:p:f:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': path = optarg; break;
        case 'p': text = optarg; break;
        case 'f': file = optarg; break;
        case 't':
            if (!ta_cli_parse_long("embed", "--threads", optarg, 1, 256, &threads)) return 2;
            break;
        case 'j': as_json = true; break;
        case 'h':
            printf("usage: tabagent embed -m FILE (--text STR | --file PATH) [--threads T] "
                   "[--json]\n");
            return 0;
        default: return ta_cli_usage_error("embed", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!path) return ta_cli_usage_error("embed", "-m FILE is required");
    if (!text == !file) return ta_cli_usage_error("embed", "give exactly one of --text, --file");

    size_t len = 0;
    char *owned = NULL;
    if (file) {
        owned = ta_cli_read_file("embed", file, MAX_TEXT, &len);
        if (!owned) return 1;
        text = owned;
    } else {
        len = strlen(text);
    }

    ta_error err;
    ta_encoder *enc = ta_encoder_load(path, &err);
    if (!enc) {
        free(owned);
        return ta_cli_fail("embed", "%s: %s", path, err.message);
    }
    ta_tokenizer *tok = ta_tokenizer_from_gguf(ta_encoder_gguf(enc), &err);
    if (!tok) {
        free(owned);
        ta_encoder_free(enc);
        return ta_cli_fail("embed", "%s: %s", path, err.message);
    }
    ta_tok_ids ids = {0};
    int rc = ta_tok_encode(tok, text, len, true, false, &ids, &err);
    free(owned);
    ta_tokenizer_free(tok);
    if (rc) {
        ta_encoder_free(enc);
        return ta_cli_fail("embed", "%s", err.message);
    }
    uint32_t n_ctx = ta_encoder_n_ctx(enc);
    if (ids.len > n_ctx) {
        ta_cli_fail("embed",
                    "the text is %zu tokens (with [CLS]/[SEP]); this model reads at most %u. "
                    "Shorten it or split it into parts",
                    ids.len, n_ctx);
        ta_tok_ids_free(&ids);
        ta_encoder_free(enc);
        return 1;
    }

    uint32_t dim = ta_encoder_n_embd(enc);
    float *vec = malloc(dim * sizeof *vec);
    ta_pool *pool = ta_pool_new((int)threads);
    if (!vec || !pool) {
        free(vec);
        ta_pool_free(pool);
        ta_tok_ids_free(&ids);
        ta_encoder_free(enc);
        return ta_cli_fail("embed", "out of memory");
    }
    rc = ta_encoder_embed(enc, ids.ids, (uint32_t)ids.len, vec, pool, &err);
    ta_pool_free(pool);
    ta_tok_ids_free(&ids);
    ta_encoder_free(enc);
    if (rc) {
        free(vec);
        return ta_cli_fail("embed", "%s", err.message);
    }
    if (as_json) {
        json_t *arr = json_array();
        for (uint32_t i = 0; i < dim; i++)
            json_array_append_new(arr, json_real(vec[i]));
        json_t *out = json_pack("{s:o}", "embedding", arr);
        /* Floats need no more than 9 significant digits to round-trip. */
        char *s = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(9));
        if (s) puts(s);
        free(s);
        json_decref(out);
    } else {
        for (uint32_t i = 0; i < dim; i++)
            printf("%s%.9g", i ? " " : "", (double)vec[i]);
        putchar('\n');
    }
    free(vec);
    return 0;
}
