/*
 * cli_common.c - helpers shared by the subcommands: error messages, files, numbers.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"

int ta_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tabagent %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see tabagent %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

int ta_cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tabagent %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

char *ta_cli_read_file(const char *cmd, const char *path, size_t limit, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ta_cli_fail(cmd, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            if (cap >= limit) {
                ta_cli_fail(cmd, "%s is larger than %zu bytes", path, limit);
                free(buf);
                buf = NULL;
                break;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (buf && ferror(f)) {
        ta_cli_fail(cmd, "cannot read %s", path);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

bool ta_cli_parse_long(const char *cmd, const char *flag, const char *s, long min, long max,
                       long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        ta_cli_usage_error(cmd, "%s expects an integer from %ld to %ld, got '%s'", flag, min, max,
                           s);
        return false;
    }
    *out = v;
    return true;
}

bool ta_cli_parse_float(const char *cmd, const char *flag, const char *s, float *out)
{
    char *end = NULL;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
        ta_cli_usage_error(cmd, "%s expects a number, got '%s'", flag, s);
        return false;
    }
    *out = v;
    return true;
}

bool ta_cli_parse_cache_type(const char *cmd, const char *s, ta_kv_type *out)
{
    if (!strcasecmp(s, "f16"))
        *out = TA_KV_F16;
    else if (!strcasecmp(s, "q8_0"))
        *out = TA_KV_Q8_0;
    else if (!strcasecmp(s, "f32"))
        *out = TA_KV_F32;
    else
        return ta_cli_usage_error(cmd, "--cache-type expects f16, q8_0 or f32"), false;
    return true;
}
