/*
 * fuzz_model_spec.c - libFuzzer target for model names (src/modelcache/cache.c): the
 * first line of the input is a spec (org/name[@rev][:selector]) as a user or a request
 * gives it, the other lines a repository's file list as the Hub would send it. Parsing
 * must accept or refuse with a reason, never let a path leave the repository, and the
 * selection must pick existing entries only, parts of a split file in order.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modelcache/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *lines[65];
    size_t n = 0;
    for (char *p = text, *nl; p && n < 65; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        lines[n++] = p;
    }
    ta_model_spec sp;
    ta_error err = {0};
    if (ta_spec_parse(lines[0], &sp, &err) != TA_OK) {
        if (!err.message[0]) abort(); /* a refusal says why */
        free(text);
        return 0;
    }
    /* what was accepted stays inside the repository */
    if (strstr(sp.repo, "..") || strstr(sp.selector, "..") || sp.selector[0] == '/' ||
        !strchr(sp.repo, '/'))
        abort();
    size_t *pick = NULL, np = 0;
    if (ta_spec_select(&sp, (const char *const *)(lines + 1), n - 1, &pick, &np, &err) == TA_OK) {
        if (!np) abort();
        for (size_t i = 0; i < np; i++)
            if (pick[i] >= n - 1) abort();
    } else if (!err.message[0]) {
        abort();
    }
    free(pick);
    (void)ta_spec_like(lines[0]);
    free(text);
    return 0;
}
