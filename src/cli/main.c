/*
 * main.c - `tabagent`: the command-line tool for models (info, synth, tokenize, embed, generate,
 * bench, and the model cache: pull, ls, rm).
 */
#include <stdio.h>
#include <string.h>

#include "../core/core.h"
#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"info", ta_cli_info, "info -m FILE [--json]                      what a GGUF model holds"},
    {"synth", ta_cli_synth,
     "synth -o FILE --arch A --shape S --type T [--vocab V] [--seed N] [--json]   random weights "
     "(decoders, encoders)"},
    {"tokenize", ta_cli_tokenize,
     "tokenize -m FILE (--text S | --file P) [--no-bos] [--json]   text -> token ids"},
    {"embed", ta_cli_embed,
     "embed -m FILE (--text S | --file P) [--threads T] [--json]   text -> embedding"},
    {"generate", ta_cli_generate,
     "generate -m FILE -p PROMPT -n N [--temp T] [--seed S] [--top-k K] [--top-p P] "
     "[--threads T] [--json]"},
    {"bench", ta_cli_bench,
     "bench -m FILE [-p 512] [-n 128] [-t THREADS] [-r REPEATS] [--json]   prompt and decoding "
     "speed"},
    {"pull", ta_cli_pull,
     "pull [MODEL] [--parts N] [--offline] [--stall-timeout S] [--model-cache-path DIR]   "
     "download from the Hugging Face Hub (NDJSON progress); MODEL: org/name[@rev][:QUANT|:FILE] "
     "or a library name; none: the default chat model"},
    {"ls", ta_cli_ls, "ls [--json] [--model-cache-path DIR]      the cached models"},
    {"rm", ta_cli_rm, "rm MODEL [--model-cache-path DIR]         delete a cached model"},
    {"hardware", ta_cli_hardware,
     "hardware [--json] [--sysroot DIR] [--check FILE] [--recommend] [--context N]   CPU, "
     "memory, GPUs, NPUs, execution providers; will a model fit"},
};

static void usage(FILE *f)
{
    fprintf(f, "tabagent %s - local models from the command line\n\nUsage:\n", TA_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  tabagent %s\n", commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("tabagent %s\n", TA_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "tabagent: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
