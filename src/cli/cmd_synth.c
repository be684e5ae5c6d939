/*
 * cmd_synth.c - `tabagent synth`: writes a random-weight model in a realistic shape
 * (engine/synth.h has the shapes, the weight distributions and the type rules).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../engine/synth.h"
#include "cli.h"

static const char usage_text[] =
    "usage: tabagent synth -o FILE --arch llama|qwen2|qwen3|phi3|bert|nomic-bert --shape NAME\n"
    "                      --type TYPE"
    " [--vocab VOCAB.gguf] [--seed S] [--threads N] [--json]\n"
    "       tabagent synth --list-shapes [--json]\n"
    "\n"
    "Writes a model with seeded random weights (the same seed gives the same file).\n"
    "TYPE: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K, or Q4_K_M\n"
    "(llama.cpp's mixture: Q6_K for the output and some attn_v/ffn_down). A type whose\n"
    "blocks do not divide a tensor's rows falls back per tensor as llama.cpp does.\n"
    "--vocab copies every tokenizer.* key from a GGUF (its size sets the vocabulary);\n"
    "without it the vocabulary is a synthetic byte-fallback one of the shape's size\n"
    "(WordPiece for the encoders bert and nomic-bert, whose shapes are listed apart).\n";

static json_t *shape_json(const ta_synth_shape *s)
{
    return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:b, s:b}", "name",
                     s->name, "about", s->about, "n_vocab", (json_int_t)s->n_vocab, "n_ctx",
                     (json_int_t)s->n_ctx, "n_embd", (json_int_t)s->n_embd, "n_layer",
                     (json_int_t)s->n_layer, "n_head", (json_int_t)s->n_head, "n_head_kv",
                     (json_int_t)s->n_head_kv, "head_dim",
                     (json_int_t)(s->head_dim ? s->head_dim : s->n_embd / s->n_head), "n_ff",
                     (json_int_t)s->n_ff, "rope_base", (double)s->rope_base, "tied", s->tied,
                     "encoder", s->encoder);
}

static int list_shapes(bool as_json)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ta_synth_shape_count(); i++) {
        const ta_synth_shape *s = ta_synth_shape_at(i);
        if (as_json)
            json_array_append_new(arr, shape_json(s));
        else
            printf("%-8s %-16s n_embd %-5u layers %-3u heads %-3u kv %-3u ff %-5u vocab %-6u  %s\n",
                   s->encoder ? "encoder" : "decoder", s->name, s->n_embd, s->n_layer, s->n_head,
                   s->n_head_kv, s->n_ff, s->n_vocab, s->about);
    }
    if (as_json) {
        char *out = json_dumps(arr, JSON_COMPACT);
        puts(out);
        free(out);
    }
    json_decref(arr);
    return 0;
}

/* The encoders (ta_enc_arch_name), then the decoders (ta_arch_name). */
static bool parse_arch(const char *s, ta_synth_params *p)
{
    for (int a = TA_ENC_BERT; a <= TA_ENC_NOMIC_BERT; a++) {
        if (!strcmp(s, ta_enc_arch_name((ta_enc_arch)a))) {
            p->encoder = true;
            p->enc_arch = (ta_enc_arch)a;
            return true;
        }
    }
    ta_arch *out = &p->arch;
    for (int a = 0; a < TA_ARCH_COUNT; a++) {
        if (!strcmp(s, ta_arch_name((ta_arch)a))) {
            *out = (ta_arch)a;
            return true;
        }
    }
    return false;
}

int ta_cli_synth(int argc, char **argv)
{
    const char *out_path = NULL, *arch_s = NULL, *shape_s = NULL, *type_s = NULL;
    const char *vocab = NULL;
    long seed = 42, threads = 0;
    bool as_json = false, list = false;
    enum { O_ARCH = 256, O_SHAPE, O_TYPE, O_VOCAB, O_SEED, O_THREADS, O_JSON, O_LIST };
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"arch", required_argument, NULL, O_ARCH},
                                         {"shape", required_argument, NULL, O_SHAPE},
                                         {"type", required_argument, NULL, O_TYPE},
                                         {"vocab", required_argument, NULL, O_VOCAB},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"threads", required_argument, NULL, O_THREADS},
                                         {"json", no_argument, NULL, O_JSON},
                                         {"list-shapes", no_argument, NULL, O_LIST},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case O_ARCH: arch_s = optarg; break;
        case O_SHAPE: shape_s = optarg; break;
        case O_TYPE: type_s = optarg; break;
        case O_VOCAB: vocab = optarg; break;
        case O_SEED:
            if (!ta_cli_parse_long("synth", "--seed", optarg, 0, 0x7fffffffffffffffL, &seed))
                return 2;
            break;
        case O_THREADS:
            if (!ta_cli_parse_long("synth", "--threads", optarg, 0, 1024, &threads)) return 2;
            break;
        case O_JSON: as_json = true; break;
        case O_LIST: list = true; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return ta_cli_usage_error("synth", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return ta_cli_usage_error("synth", "unexpected argument '%s'", argv[optind]);
    if (list) return list_shapes(as_json);
    if (!out_path) return ta_cli_usage_error("synth", "-o FILE is required");
    if (!arch_s) return ta_cli_usage_error("synth", "--arch is required");
    if (!shape_s) return ta_cli_usage_error("synth", "--shape is required");
    if (!type_s) return ta_cli_usage_error("synth", "--type is required");

    ta_synth_params p = {.seed = (uint64_t)seed, .threads = (int)threads, .vocab_path = vocab};
    if (!parse_arch(arch_s, &p))
        return ta_cli_usage_error(
            "synth", "unknown --arch '%s' (llama, qwen2, qwen3, phi3, bert, nomic-bert)", arch_s);
    p.shape = ta_synth_shape_find_kind(shape_s, p.encoder);
    if (!p.shape)
        return ta_cli_usage_error("synth",
                                  "unknown --shape '%s' for %s (tabagent synth --list-shapes)",
                                  shape_s, p.encoder ? "an encoder" : "a decoder");
    p.type = ta_synth_parse_type(type_s);
    if (p.type < 0)
        return ta_cli_usage_error("synth",
                                  "unknown --type '%s' (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 "
                                  "Q2_K Q3_K Q4_K Q5_K Q6_K Q4_K_M)",
                                  type_s);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ta_error err = {0};
    ta_synth_report rep;
    if (ta_synth_write(&p, out_path, &rep, &err) != TA_OK)
        return ta_cli_fail("synth", "%s", err.message);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;

    if (as_json) {
        json_t *types = json_object();
        for (uint32_t t = 0; t < TA_TYPE_COUNT; t++)
            if (rep.type_tensors[t])
                json_object_set_new(types, ta_type_get(t)->name, json_integer(rep.type_tensors[t]));
        json_t *o = json_pack(
            "{s:s, s:s, s:o, s:s, s:I, s:o, s:I, s:I, s:I, s:I, s:o, s:I, s:f}", "file", out_path,
            "arch", p.encoder ? ta_enc_arch_name(p.enc_arch) : ta_arch_name(p.arch), "shape",
            shape_json(p.shape), "type", ta_synth_type_name(p.type), "seed", (json_int_t)seed,
            "vocab", vocab ? json_string(vocab) : json_string("synthetic"), "n_vocab",
            (json_int_t)rep.n_vocab, "parameters", (json_int_t)rep.n_params, "tensors",
            (json_int_t)rep.n_tensors, "data_bytes", (json_int_t)rep.data_bytes, "tensor_types",
            types, "fallback_tensors", (json_int_t)rep.n_fallback, "seconds", secs);
        char *s = json_dumps(o, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("wrote %s: %s %s %s, %llu parameters in %llu tensors "
               "(%llu fell back to another type), vocabulary %u, %.1f s\n",
               out_path, p.encoder ? ta_enc_arch_name(p.enc_arch) : ta_arch_name(p.arch),
               p.shape->name, ta_synth_type_name(p.type), (unsigned long long)rep.n_params,
               (unsigned long long)rep.n_tensors, (unsigned long long)rep.n_fallback, rep.n_vocab,
               secs);
    }
    return 0;
}
