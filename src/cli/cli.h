/*
 * cli.h - the `tabagent` command line: one function per subcommand, each taking its
 * own argv (argv[0] = the subcommand name) and returning the exit status
 * (0 ok, 1 failure, 2 usage error). JSON goes to stdout with --json; messages to stderr.
 */
#ifndef TA_CLI_H
#define TA_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "../engine/context.h"

int ta_cli_info(int argc, char **argv);
int ta_cli_tokenize(int argc, char **argv);
int ta_cli_generate(int argc, char **argv);
int ta_cli_embed(int argc, char **argv);
int ta_cli_synth(int argc, char **argv);
int ta_cli_bench(int argc, char **argv);
int ta_cli_pull(int argc, char **argv);
int ta_cli_ls(int argc, char **argv);
int ta_cli_rm(int argc, char **argv);
int ta_cli_hardware(int argc, char **argv);

/* Shared helpers (cli_common.c). */
int ta_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ta_cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads a whole file (limit bytes at most); caller frees. NULL with a message on failure. */
char *ta_cli_read_file(const char *cmd, const char *path, size_t limit, size_t *len);
/* Parses a number argument; false (and a message) when it is not one. */
bool ta_cli_parse_long(const char *cmd, const char *flag, const char *s, long min, long max,
                       long *out);
/* --cache-type f16|q8_0|f32 -> *out; false (after a usage message) otherwise. */
bool ta_cli_parse_cache_type(const char *cmd, const char *s, ta_kv_type *out);
bool ta_cli_parse_float(const char *cmd, const char *flag, const char *s, float *out);

#endif
