/*
 * fuzz_grammar.c - libFuzzer target for the GBNF grammar engine and the JSON Schema
 * compiler (src/engine/grammar*.c), both fed by users through response_format and
 * grammar parameters. The input is grammar text (or, when it parses as JSON, a schema),
 * optionally followed by a NUL byte and text to match. Parsing must succeed or fail with
 * a message; matching the text in small pieces must agree between accepts() and
 * advance(), leave a rejected state unchanged, and never crash, hang or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/grammar.h"

static void match(const ta_grammar *g, const uint8_t *text, size_t len)
{
    ta_error err;
    ta_grammar_state *s = ta_grammar_state_new(g, &err);
    if (!s) {
        if (!err.message[0]) abort();
        return;
    }
    size_t i = 0, chunk = 1;
    while (i < len) {
        size_t n = chunk < len - i ? chunk : len - i;
        chunk = chunk % 5 + 1;
        bool ok = ta_grammar_state_accepts(s, (const char *)text + i, n);
        bool was_complete = ta_grammar_state_complete(s);
        int rc = ta_grammar_state_advance(s, (const char *)text + i, n, &err);
        if (ok && rc != 0 && rc != TA_EINVAL) abort(); /* only limits may differ */
        if (!ok && rc == 0) abort();
        if (rc != 0) {
            if (ta_grammar_state_complete(s) != was_complete) abort();
            break;
        }
        i += n;
    }
    ta_grammar_state *c = ta_grammar_state_clone(s);
    if (c && ta_grammar_state_complete(c) != ta_grammar_state_complete(s)) abort();
    (void)ta_grammar_state_can_continue(s);
    ta_grammar_state_free(c);
    ta_grammar_state_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t glen = nul ? (size_t)(nul - data) : size;
    const uint8_t *text = nul ? nul + 1 : NULL;
    size_t tlen = nul ? size - glen - 1 : 0;

    char *src = malloc(glen + 1);
    if (!src) return 0;
    memcpy(src, data, glen);
    src[glen] = '\0';

    ta_error err;
    ta_grammar *g = NULL;
    json_t *schema = json_loads(src, 0, NULL);
    if (schema) {
        g = ta_grammar_from_json_schema(schema, &err);
        json_decref(schema);
    } else {
        g = ta_grammar_parse(src, NULL, &err);
    }
    if (!g) {
        if (err.code == 0 || !err.message[0]) abort();
    } else {
        if (text) match(g, text, tlen);
        ta_grammar_free(g);
    }
    free(src);
    return 0;
}
