/*
 * tokenize_speed.c - encode/decode speed of the tokenizers on the reference
 * vocabularies (../shared/vocab).
 *
 * For each vocabulary: the load time, then for each input of SIZE bytes (default 1 MiB)
 * the best of N encodes (default 3) and one decode of the resulting ids:
 *   paragraphs  repeated mixed text (English, code, Cyrillic, CJK, emoji)
 *   no_spaces   one run of letters and digits without any whitespace
 *   one_char    a single repeated character ("a")
 *   spaces      a single repeated space
 * One JSON object per line on stdout, e.g.
 *   {"bench":"tokenize","vocab":"qwen2","kind":"BPE","input":"paragraphs","bytes":1048576,
 *    "ids":354664,"encode_s":0.041,"encode_mb_s":25.6,"decode_s":0.004,"load_s":0.120}
 * Progress and errors go to stderr. Not a test: no thresholds.
 *
 * Usage: tokenize_speed [--size BYTES] [--repeat N] [--vocab NAME]... [--dir DIR]
 *   DIR defaults to $TA_SHARED_DIR/vocab, else ../shared/vocab beside the source tree.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static const char *const all_vocabs[] = {"llama-spm", "llama-bpe", "qwen2",          "phi-3",
                                         "gpt-2",     "bert-bge",  "deepseek-coder", "falcon"};
#define N_ALL (sizeof all_vocabs / sizeof all_vocabs[0])

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void default_dir(char *dir, size_t cap)
{
    const char *env = getenv("TA_SHARED_DIR");
    if (env) {
        snprintf(dir, cap, "%s/vocab", env);
        return;
    }
    snprintf(dir, cap, "%s", __FILE__); /* <root>/bench/tokenize_speed.c */
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, cap, "."); /* compiled from the root with a relative path */
    strncat(dir, "/../shared/vocab", cap - strlen(dir) - 1);
}

static void fill(char *buf, size_t n, int kind)
{
    static const char para[] =
        "The quick brown fox jumps over the lazy dog. I've seen 3.14159 of them, y'all!\n"
        "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xE6\x88\x91\xE6\x83\xB3 Caf\xC3\xA9 "
        "\xF0\x9F\x98\x81   def f(x):\n\treturn x**2\n\n";
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case 0: buf[i] = para[i % (sizeof para - 1)]; break;
        case 1: buf[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7 + i / 13) % 36]; break;
        case 2: buf[i] = 'a'; break;
        default: buf[i] = ' '; break;
        }
    }
}

int main(int argc, char **argv)
{
    size_t size = 1 << 20;
    int repeat = 3;
    char dir[4096];
    const char *chosen[N_ALL];
    size_t n_chosen = 0;
    default_dir(dir, sizeof dir);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            size = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            repeat = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            snprintf(dir, sizeof dir, "%s", argv[++i]);
        } else if (!strcmp(argv[i], "--vocab") && i + 1 < argc && n_chosen < N_ALL) {
            chosen[n_chosen++] = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--size BYTES] [--repeat N] [--vocab NAME]... [--dir DIR]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!n_chosen)
        for (size_t v = 0; v < N_ALL; v++)
            chosen[n_chosen++] = all_vocabs[v];
    if (size == 0 || repeat < 1) {
        fprintf(stderr, "tokenize_speed: --size and --repeat must be positive\n");
        return 2;
    }

    static const char *const inputs[] = {"paragraphs", "no_spaces", "one_char", "spaces"};
    char *text = malloc(size);
    if (!text) return 1;
    int status = 0;
    for (size_t v = 0; v < n_chosen; v++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, chosen[v]);
        ta_error err;
        ta_gguf *g = ta_gguf_open(path, &err);
        if (!g) {
            fprintf(stderr, "tokenize_speed: %s: %s\n", path, err.message);
            status = 1;
            continue;
        }
        double t0 = now();
        ta_tokenizer *t = ta_tokenizer_from_gguf(g, &err);
        double load_s = now() - t0;
        ta_gguf_close(g);
        if (!t) {
            fprintf(stderr, "tokenize_speed: %s: %s\n", chosen[v], err.message);
            status = 1;
            continue;
        }
        for (int k = 0; k < 4; k++) {
            fill(text, size, k);
            double best = 1e30;
            ta_tok_ids ids = {0};
            for (int r = 0; r < repeat; r++) {
                ids.len = 0;
                t0 = now();
                if (ta_tok_encode(t, text, size, false, false, &ids, &err)) {
                    fprintf(stderr, "tokenize_speed: %s: %s\n", chosen[v], err.message);
                    status = 1;
                    break;
                }
                double dt = now() - t0;
                if (dt < best) best = dt;
            }
            t0 = now();
            size_t out_len = 0;
            char *back = ta_tok_decode(t, ids.ids, ids.len, 0, &out_len, &err);
            double dec_s = now() - t0;
            free(back);
            printf("{\"bench\":\"tokenize\",\"vocab\":\"%s\",\"kind\":\"%s\",\"input\":\"%s\","
                   "\"bytes\":%zu,\"ids\":%zu,\"encode_s\":%.4f,\"encode_mb_s\":%.1f,"
                   "\"decode_s\":%.4f,\"load_s\":%.3f}\n",
                   chosen[v], ta_tok_kind_name(ta_tok_get_kind(t)), inputs[k], size, ids.len, best,
                   (double)size / 1048576.0 / best, dec_s, load_s);
            fflush(stdout);
            ta_tok_ids_free(&ids);
        }
        ta_tokenizer_free(t);
    }
    free(text);
    return status;
}
