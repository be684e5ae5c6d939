/*
 * test_grammar.c - the GBNF engine and the JSON Schema compiler (src/engine/grammar*.c):
 * every syntax feature and the errors with line/column, matching (accepts / advance /
 * complete / can_continue) on arithmetic and JSON grammars, repetition bounds, negated
 * classes and UTF-8 split across pieces; schemas checked on valid and invalid texts fed
 * byte by byte and in random chunks; and a simulated constrained generation over a
 * small vocabulary whose every output must parse as JSON and match its schema.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "engine/grammar.h"

/* ---- helpers ---------------------------------------------------------------------- */

static ta_grammar *parse_ok(const char *gbnf)
{
    ta_error err = {0};
    ta_grammar *g = ta_grammar_parse(gbnf, NULL, &err);
    if (!g) fail_msg("grammar failed to parse: %s\n%s", err.message, gbnf);
    return g;
}

static void parse_err(const char *gbnf, const char *want1, const char *want2)
{
    ta_error err = {0};
    ta_grammar *g = ta_grammar_parse(gbnf, NULL, &err);
    if (g) fail_msg("grammar parsed but should not: %s", gbnf);
    assert_int_not_equal(err.code, 0);
    if (want1 && !strstr(err.message, want1))
        fail_msg("error '%s' lacks '%s' (grammar %s)", err.message, want1, gbnf);
    if (want2 && !strstr(err.message, want2))
        fail_msg("error '%s' lacks '%s' (grammar %s)", err.message, want2, gbnf);
}

/* Feeds text byte by byte; returns the offset of the first rejected byte or -1, and
 * whether the whole text ended complete. Checks accepts() against advance(). */
static long feed_bytes(const ta_grammar *g, const char *text, size_t len, bool *complete)
{
    ta_error err = {0};
    ta_grammar_state *s = ta_grammar_state_new(g, &err);
    assert_non_null(s);
    long bad = -1;
    for (size_t i = 0; i < len; i++) {
        bool ok = ta_grammar_state_accepts(s, text + i, 1);
        int rc = ta_grammar_state_advance(s, text + i, 1, &err);
        assert_int_equal(ok, rc == 0);
        if (!ok) {
            bad = (long)i;
            break;
        }
    }
    *complete = bad < 0 && ta_grammar_state_complete(s);
    ta_grammar_state_free(s);
    return bad;
}

/* Feeds text in random chunks (1..12 bytes), checking accepts() of each chunk against
 * advance() and that a rejected chunk leaves the state unchanged. Returns whether all
 * of it was accepted and complete. */
static bool feed_chunks(const ta_grammar *g, const char *text, unsigned seed)
{
    ta_error err = {0};
    ta_grammar_state *s = ta_grammar_state_new(g, &err);
    assert_non_null(s);
    size_t len = strlen(text), i = 0;
    srand(seed);
    bool ok = true;
    while (i < len && ok) {
        size_t n = 1 + (size_t)(rand() % 12);
        if (n > len - i) n = len - i;
        ok = ta_grammar_state_accepts(s, text + i, n);
        int rc = ta_grammar_state_advance(s, text + i, n, &err);
        assert_int_equal(ok, rc == 0);
        i += n;
    }
    ok = ok && ta_grammar_state_complete(s);
    ta_grammar_state_free(s);
    return ok;
}

static void assert_full(const ta_grammar *g, const char *text)
{
    bool complete;
    long bad = feed_bytes(g, text, strlen(text), &complete);
    if (bad >= 0) fail_msg("rejected at %ld: %s", bad, text);
    if (!complete) fail_msg("accepted but not complete: %s", text);
    for (unsigned seed = 1; seed <= 5; seed++)
        if (!feed_chunks(g, text, seed)) fail_msg("chunked (seed %u) failed: %s", seed, text);
}

/* The text is a valid prefix but not complete. */
static void assert_prefix(const ta_grammar *g, const char *text)
{
    bool complete;
    long bad = feed_bytes(g, text, strlen(text), &complete);
    if (bad >= 0) fail_msg("prefix rejected at %ld: %s", bad, text);
    if (complete) fail_msg("prefix should not be complete: %s", text);
}

/* The first rejected byte is at offset `at` (-2: accepted but incomplete). */
static void assert_reject_at(const ta_grammar *g, const char *text, long at)
{
    bool complete;
    long bad = feed_bytes(g, text, strlen(text), &complete);
    if (at == -2) {
        if (bad >= 0 || complete) fail_msg("expected incomplete, got bad=%ld: %s", bad, text);
        return;
    }
    if (bad != at) fail_msg("expected rejection at %ld, got %ld: %s", at, bad, text);
}

static ta_grammar *schema_grammar(const char *schema_json)
{
    json_error_t je;
    json_t *s = json_loads(schema_json, JSON_DECODE_ANY, &je);
    if (!s) fail_msg("bad schema json: %s", je.text);
    ta_error err = {0};
    ta_grammar *g = ta_grammar_from_json_schema(s, &err);
    if (!g) {
        char *t = ta_grammar_schema_to_gbnf(s, &err);
        fail_msg("schema failed: %s\n%s", err.message, t ? t : "");
    }
    json_decref(s);
    return g;
}

static void schema_err(const char *schema_json, const char *want1, const char *want2)
{
    json_t *s = json_loads(schema_json, 0, NULL);
    assert_non_null(s);
    ta_error err = {0};
    ta_grammar *g = ta_grammar_from_json_schema(s, &err);
    json_decref(s);
    if (g) fail_msg("schema compiled but should not: %s", schema_json);
    assert_int_equal(err.code, TA_EINVAL);
    if (want1 && !strstr(err.message, want1)) fail_msg("'%s' lacks '%s'", err.message, want1);
    if (want2 && !strstr(err.message, want2)) fail_msg("'%s' lacks '%s'", err.message, want2);
}

/* ---- GBNF parsing ---------------------------------------------------------------- */

static void test_syntax_features(void **state)
{
    (void)state;
    ta_grammar *g = parse_ok("# a comment line\n"
                             "root ::= greeting \" \" name-2 tail? # trailing comment\n"
                             "greeting ::= \"hi\" | \"hello\"\n"
                             "  | \"hey\"   # alternative on its own line\n"
                             "name-2 ::= [A-Z] [a-z]+\n"
                             "tail ::= (\n"
                             "    \"!\"{1,3}\n"
                             "  | \".\"\n"
                             ")\n");
    assert_full(g, "hi Bob");
    assert_full(g, "hey Al!!!");
    assert_full(g, "hello Zed.");
    assert_reject_at(g, "hi Bob!!!!", 9);
    assert_reject_at(g, "hi bob", 3);
    assert_reject_at(g, "hi B", -2);
    ta_grammar_free(g);

    /* Escapes in literals and classes, '.', {m}, {m,}, custom root name. */
    ta_error err = {0};
    g = ta_grammar_parse("start ::= \"\\x41\\u00e9\\U0001F600\\n\\t\\\\\\\"\" [\\]\\-a-c] . d\n"
                         "d ::= [0-9]{2} [x]{2,} \"\"\n",
                         "start", &err);
    assert_non_null(g);
    assert_full(g, "A\xc3\xa9\xf0\x9f\x98\x80\n\t\\\"]?42xx");
    assert_full(g, "A\xc3\xa9\xf0\x9f\x98\x80\n\t\\\"-\xe2\x82\xac"
                   "42xxxxx");
    assert_reject_at(g, "A\xc3\xa9\xf0\x9f\x98\x80\n\t\\\"d", 11);
    assert_reject_at(g, "A\xc3\xa9\xf0\x9f\x98\x80\n\t\\\"b.42x", -2);
    ta_grammar_free(g);

    /* A missing root is an error naming it. */
    g = ta_grammar_parse("a ::= \"x\"\n", "start", &err);
    assert_null(g);
    assert_non_null(strstr(err.message, "start"));

    /* Repetition applies to the whole literal; empty rules; nullable references. */
    g = parse_ok("root ::= \"ab\"* e \"c\"\ne ::= \"\" | \"e\"\n");
    assert_full(g, "ababc");
    assert_full(g, "c");
    assert_full(g, "abec");
    assert_reject_at(g, "aac", 1);
    ta_grammar_free(g);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    parse_err("root ::= \"abc", "line 1, column 10", "unterminated literal");
    parse_err("root ::= a\na ::= \"x\" foo\n", "line 2, column 11", "undefined rule 'foo'");
    parse_err("root ::= [z-a]", "line 1, column 11", "range");
    parse_err("root ::= [abc", "line 1, column 10", "unterminated character class");
    parse_err("root ::= []", "line 1, column 10", "empty character class");
    parse_err("root ::= \"a\"{3,1}", "line 1, column 13", "bad repetition");
    parse_err("root ::= \"a\"{x}", "line 1, column 14", "bad repetition");
    parse_err("root ::= \"a\"{2", "line 1", "bad repetition");
    parse_err("root ::= * \"a\"", "line 1, column 10", "bad repetition");
    parse_err("root ::= \"a\"{99999999}", "line 1", "repetition");
    parse_err("", "line 1, column 1", "empty grammar");
    parse_err("   # nothing but a comment\n\n", "line 3, column 1", "empty grammar");
    parse_err(NULL, "empty grammar", NULL);
    parse_err("root ::= \"\\q\"", "line 1, column 11", "unknown escape");
    parse_err("root = \"a\"", "line 1, column 6", "expected '::='");
    parse_err("root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1", "defined twice");
    parse_err("root ::= (\"a\" ", "line 1", "expected ')'");
    parse_err("root ::= \"a\" )", "line 1, column 14", "unexpected character");
    parse_err("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"", "line 2, column 1",
              "left-recursive");
    parse_err("root ::= a\na ::= b? a \"x\" | \"y\"\nb ::= \"b\"", "rule 'a'", "left-recursive");
    parse_err("root ::= (\"x\"? root)", "left-recursive", NULL);
    parse_err("root ::= \"\xff\"", "invalid UTF-8", NULL);

    /* Nesting and size limits fail cleanly. */
    char *deep = malloc(10000);
    strcpy(deep, "root ::= ");
    size_t n = strlen(deep);
    for (int i = 0; i < 3000; i++)
        deep[n++] = '(';
    deep[n] = '\0';
    parse_err(deep, "nested too deeply", NULL);
    free(deep);
    /* Repeating a long literal copies it: 200 x 10000 elements is over the limit. */
    char *big = malloc(400);
    strcpy(big, "root ::= \"");
    for (int i = 0; i < 200; i++)
        strcat(big, "x");
    strcat(big, "\"{10000}");
    parse_err(big, "too large", NULL);
    free(big);
}

/* ---- matching -------------------------------------------------------------------- */

static const char *arith = "root ::= expr\n"
                           "expr ::= term ((\"+\" | \"-\") term)*\n"
                           "term ::= factor ((\"*\" | \"/\") factor)*\n"
                           "factor ::= [0-9]+ | \"(\" expr \")\" | \"-\" factor\n";

static void test_arithmetic(void **state)
{
    (void)state;
    ta_grammar *g = parse_ok(arith);
    assert_full(g, "1+2*3");
    assert_full(g, "(1+2)*-(30/4)");
    assert_full(g, "((((7))))");
    assert_prefix(g, "(1+");
    assert_prefix(g, "((((7)))");
    assert_reject_at(g, "1+*2", 2);
    assert_reject_at(g, "(1))", 3);
    assert_reject_at(g, "a", 0);

    ta_error err = {0};
    ta_grammar_state *s = ta_grammar_state_new(g, &err);
    assert_false(ta_grammar_state_complete(s));
    assert_true(ta_grammar_state_can_continue(s));
    assert_int_equal(ta_grammar_state_advance(s, "12", 2, &err), 0);
    assert_true(ta_grammar_state_complete(s));
    assert_true(ta_grammar_state_can_continue(s));
    /* accepts() never changes the state. */
    assert_true(ta_grammar_state_accepts(s, "+3)", 2));
    assert_false(ta_grammar_state_accepts(s, "+3)", 3));
    assert_true(ta_grammar_state_accepts(s, "", 0));
    assert_true(ta_grammar_state_complete(s));
    /* A rejected advance leaves it as it was. */
    assert_int_equal(ta_grammar_state_advance(s, "+)", 2, &err), TA_EINVAL);
    assert_true(ta_grammar_state_complete(s));
    assert_int_equal(ta_grammar_state_advance(s, "*(", 2, &err), 0);
    assert_false(ta_grammar_state_complete(s));
    /* A clone moves on independently. */
    ta_grammar_state *c = ta_grammar_state_clone(s);
    assert_non_null(c);
    assert_int_equal(ta_grammar_state_advance(c, "1)", 2, &err), 0);
    assert_true(ta_grammar_state_complete(c));
    assert_false(ta_grammar_state_complete(s));
    assert_true(ta_grammar_state_accepts(s, "2-1)", 4));
    ta_grammar_state_free(c);
    ta_grammar_state_free(s);
    ta_grammar_free(g);
}

static const char *json_gbnf =
    "root   ::= object\n"
    "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
    "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n"
    "array  ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" "
    "[0-9a-fA-F]{4}) )* \"\\\"\" ws\n"
    "number ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15}) (\".\" [0-9]+)? ([eE] [-+]? [0-9]{1,3})? ws\n"
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";

static void test_json_grammar(void **state)
{
    (void)state;
    ta_grammar *g = parse_ok(json_gbnf);
    assert_full(g, "{}");
    assert_full(g, "{\"a\": [1, -2.5e+3, true, null, \"x\\n\\u00e9\"], \"b\": {\"c\": []}}");
    assert_full(g, "{\n  \"k\": \"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\"\n}\n");
    assert_prefix(g, "{\"a\": [1, 2");
    assert_reject_at(g, "[1]", 0);
    assert_reject_at(g, "{\"a\" 1}", 5);
    assert_reject_at(g, "{\"a\": 01}", 7);
    assert_reject_at(g, "{\"a\": \"\x01\"}", 7);
    assert_reject_at(g, "{\"a\": \"\\x\"}", 8);
    assert_reject_at(g, "{}   ", 3); /* whitespace is bounded */
    assert_reject_at(g, "{\"a\":1,}", 7);
    ta_grammar_free(g);
}

static void test_repetition_bounds(void **state)
{
    (void)state;
    ta_grammar *g = parse_ok("root ::= \"a\"{2,4} \"b\"{3} \"c\"{0,2} \"d\"{1,}\n");
    assert_full(g, "aabbbd");
    assert_full(g, "aaaabbbccdddd");
    assert_reject_at(g, "abbbd", 1);
    assert_reject_at(g, "aaaaab", 4);
    assert_reject_at(g, "aabbbb", 5);
    assert_reject_at(g, "aabbbcccd", 7);
    assert_reject_at(g, "aabbbcc", -2);
    ta_grammar_free(g);

    g = parse_ok("root ::= x? y+ z*\nx ::= \"x\"\ny ::= [0-1]\nz ::= \"z\"\n");
    assert_full(g, "x0");
    assert_full(g, "0110zzz");
    assert_reject_at(g, "xx", 1);
    assert_reject_at(g, "xz", 1);
    ta_grammar_free(g);

    /* {0} matches nothing; {1} exactly once. */
    g = parse_ok("root ::= \"q\"{0} \"r\"{1}\n");
    assert_full(g, "r");
    assert_reject_at(g, "qr", 0);
    ta_grammar_free(g);

    /* A finite language ends: can_continue false once everything is used. */
    ta_error err = {0};
    g = parse_ok("root ::= \"ab\"{1,2}\n");
    ta_grammar_state *s = ta_grammar_state_new(g, &err);
    assert_int_equal(ta_grammar_state_advance(s, "ab", 2, &err), 0);
    assert_true(ta_grammar_state_complete(s));
    assert_true(ta_grammar_state_can_continue(s));
    assert_int_equal(ta_grammar_state_advance(s, "ab", 2, &err), 0);
    assert_true(ta_grammar_state_complete(s));
    assert_false(ta_grammar_state_can_continue(s));
    assert_false(ta_grammar_state_accepts(s, "a", 1));
    ta_grammar_state_free(s);
    ta_grammar_free(g);
}

static void test_negated_classes(void **state)
{
    (void)state;
    ta_grammar *g = parse_ok("root ::= \"<\" [^<>\\n]* \">\"\n");
    assert_full(g, "<abc def>");
    assert_full(g, "<\xc3\xa9\xe2\x82\xac>");
    assert_reject_at(g, "<a<", 2);
    assert_reject_at(g, "<a\n", 2);
    ta_grammar_free(g);

    g = parse_ok("root ::= [^a-z\\u00e0-\\u00ff]+\n");
    assert_full(g, "ABC123");
    assert_full(g, "\xc4\x80"); /* U+0100 */
    assert_reject_at(g, "Ab", 1);
    assert_reject_at(g, "A\xc3\xa9", 2); /* U+00E9 is excluded: rejected at its last byte */
    ta_grammar_free(g);
}

static void test_utf8(void **state)
{
    (void)state;
    ta_error err = {0};
    /* A multibyte literal and a class with a non-ASCII range. */
    ta_grammar *g =
        parse_ok("root ::= \"\xe6\x97\xa5\xe6\x9c\xac\" [\\u0400-\\u04ff]+ \"\xf0\x9f\x98\x80\"\n");
    assert_full(g, "\xe6\x97\xa5\xe6\x9c\xac\xd0\x9f\xd1\x80\xf0\x9f\x98\x80");
    assert_reject_at(g,
                     "\xe6\x97\xa5\xe6\x9c\xac"
                     "a",
                     6);
    assert_reject_at(g, "\xe6\x97\xa5\xe6\x9c\xad", 5);

    ta_grammar_state *s = ta_grammar_state_new(g, &err);
    /* A token that ends in the middle of a character, then the rest. */
    assert_true(ta_grammar_state_accepts(s, "\xe6", 1));
    assert_true(ta_grammar_state_accepts(s, "\xe6\x97", 2));
    assert_false(ta_grammar_state_accepts(s, "\xe7", 1));     /* no accepted char starts so */
    assert_false(ta_grammar_state_accepts(s, "\xe6\x98", 2)); /* U+6600.. is not 日 */
    assert_false(ta_grammar_state_accepts(s, "\x97", 1));     /* stray continuation byte */
    assert_int_equal(ta_grammar_state_advance(s, "\xe6\x97", 2, &err), 0);
    assert_false(ta_grammar_state_complete(s));
    assert_true(ta_grammar_state_can_continue(s));
    assert_true(ta_grammar_state_accepts(s, "\xa5", 1));
    assert_true(ta_grammar_state_accepts(s, "\xa5\xe6\x9c\xac\xd0", 5));
    assert_false(ta_grammar_state_accepts(s, "\xa6", 1));
    assert_false(ta_grammar_state_accepts(s, "a", 1));
    assert_int_equal(ta_grammar_state_advance(s, "\xa6", 1, &err), TA_EINVAL);
    assert_int_equal(ta_grammar_state_advance(s, "\xa5\xe6\x9c\xac\xd0", 5, &err), 0);
    /* The Cyrillic range: D0 can start U+0400..U+043F; D5 (U+0540..) cannot. */
    assert_true(ta_grammar_state_accepts(s, "\x9f", 1));
    assert_int_equal(ta_grammar_state_advance(s, "\x9f\xd1", 2, &err), 0);
    assert_false(ta_grammar_state_accepts(s, "\xc0", 1)); /* never valid UTF-8 */
    assert_int_equal(ta_grammar_state_advance(s, "\x80\xf0\x9f", 3, &err), 0);
    assert_false(ta_grammar_state_complete(s));
    assert_false(ta_grammar_state_accepts(s, "\x98\x81", 2));
    assert_int_equal(ta_grammar_state_advance(s, "\x98\x80", 2, &err), 0);
    assert_true(ta_grammar_state_complete(s));
    assert_false(ta_grammar_state_can_continue(s));
    ta_grammar_state_free(s);
    ta_grammar_free(g);

    /* Partial bytes must be able to start an accepted code point. */
    g = parse_ok("root ::= [a-z\\u00e0-\\u00ef]*\n");
    s = ta_grammar_state_new(g, &err);
    assert_true(ta_grammar_state_accepts(s, "\xc3", 1));  /* U+00C0..U+00FF overlaps */
    assert_false(ta_grammar_state_accepts(s, "\xc4", 1)); /* U+0100..U+013F does not */
    assert_true(ta_grammar_state_accepts(s, "a\xc3\xa9", 3));
    assert_false(ta_grammar_state_accepts(s, "a\xc3\xb0", 3));    /* U+00F0 */
    assert_false(ta_grammar_state_accepts(s, "\xed\xa0\x80", 3)); /* a surrogate */
    assert_false(ta_grammar_state_accepts(s, "\xc1\x81", 2));     /* overlong */
    ta_grammar_state_free(s);
    ta_grammar_free(g);
}

/* ---- JSON Schema ----------------------------------------------------------------- */

static const char *person_schema =
    "{\"type\": \"object\", \"properties\": {"
    "  \"name\": {\"type\": \"string\", \"maxLength\": 8},"
    "  \"age\": {\"type\": \"integer\"},"
    "  \"email\": {\"type\": \"string\", \"description\": \"ignored annotation\"},"
    "  \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"maxItems\": 3},"
    "  \"active\": {\"type\": \"boolean\"}},"
    " \"required\": [\"name\", \"age\"], \"additionalProperties\": false}";

static void test_schema_object(void **state)
{
    (void)state;
    ta_grammar *g = schema_grammar(person_schema);
    assert_full(g, "{\"name\":\"Ann\",\"age\":31}");
    assert_full(g, "{ \"name\": \"J\\u00f6rg\", \"age\": -4, \"tags\": [\"a\", \"b\"] }");
    assert_full(g, "{\"name\":\"\xc3\xa9\xc3\xa9\",\"age\":0,\"email\":\"a@b\",\"active\":true}");
    assert_full(g, "{\n  \"name\": \"x\",\n  \"age\": 2,\n  \"active\": false\n}");
    /* missing required property */
    assert_reject_at(g, "{\"age\":31}", 2);
    assert_reject_at(g, "{\"name\":\"Ann\"}", 13);
    /* wrong type */
    assert_reject_at(g, "{\"name\":3", 8);
    assert_reject_at(g, "{\"name\":\"A\",\"age\":1.5}", 19);
    assert_reject_at(g, "{\"name\":\"A\",\"age\":1,\"active\":\"yes\"}", 29);
    /* extra property */
    assert_reject_at(g, "{\"name\":\"A\",\"age\":1,\"zip\":1}", 21);
    /* too many items, too long a string */
    assert_reject_at(g, "{\"name\":\"A\",\"age\":1,\"tags\":[\"a\",\"b\",\"c\",\"d\"]}", 39);
    assert_reject_at(g, "{\"name\":\"123456789\"", 17);
    /* optional ones only in properties order */
    assert_reject_at(g, "{\"name\":\"A\",\"age\":1,\"active\":true,\"tags\":[]}", 33);
    ta_grammar_free(g);

    /* Nested objects, optional-only properties. */
    g = schema_grammar(
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\",\"properties\":"
        "{\"b\":{\"type\":\"object\",\"properties\":{\"c\":{\"type\":\"null\"}},"
        "\"required\":[\"c\"]}}},\"d\":{\"type\":\"number\"}}}");
    assert_full(g, "{}");
    assert_full(g, "{\"a\":{}}");
    assert_full(g, "{\"a\":{\"b\":{\"c\":null}},\"d\":-1.25e3}");
    assert_full(g, "{\"d\":0.5}");
    assert_reject_at(g, "{\"a\":{\"b\":{}}}", 11);
    assert_reject_at(g, "{,", 1);
    ta_grammar_free(g);

    /* additionalProperties: a schema / true. */
    g = schema_grammar("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"}},"
                       "\"required\":[\"id\"],\"additionalProperties\":{\"type\":\"string\"}}");
    assert_full(g, "{\"id\":1}");
    assert_full(g, "{\"id\":1,\"x\":\"y\",\"z\":\"w\"}");
    assert_reject_at(g, "{\"id\":1,\"x\":2", 12);
    ta_grammar_free(g);
}

static void test_schema_arrays_enums(void **state)
{
    (void)state;
    ta_grammar *g =
        schema_grammar("{\"type\":\"object\",\"properties\":{\"xs\":{\"type\":\"array\","
                       "\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":3}},"
                       "\"required\":[\"xs\"]}");
    assert_full(g, "{\"xs\":[1,2]}");
    assert_full(g, "{\"xs\":[1, 2, 3]}");
    assert_reject_at(g, "{\"xs\":[1]", 8);
    assert_reject_at(g, "{\"xs\":[]", 7);
    assert_reject_at(g, "{\"xs\":[1,2,3,4]}", 12);
    ta_grammar_free(g);

    g = schema_grammar("{\"type\":\"object\",\"properties\":{"
                       "\"color\":{\"enum\":[\"red\",\"green\",7,null]},"
                       "\"v\":{\"const\":\"fixed\"},"
                       "\"n\":{\"const\":2.5}},\"required\":[\"color\",\"v\",\"n\"]}");
    assert_full(g, "{\"color\":\"red\",\"v\":\"fixed\",\"n\":2.5}");
    assert_full(g, "{\"color\":7,\"v\":\"fixed\",\"n\":2.5}");
    assert_full(g, "{\"color\":null,\"v\":\"fixed\",\"n\":2.5}");
    assert_reject_at(g, "{\"color\":\"blue\"", 10);
    assert_reject_at(g, "{\"color\":8", 9);
    assert_reject_at(g, "{\"color\":\"red\",\"v\":\"fixes\"", 24);
    assert_reject_at(g, "{\"color\":\"red\",\"v\":\"fixed\",\"n\":2.6", 33);
    ta_grammar_free(g);

    /* A top-level array with prefixItems; a bare enum. */
    g = schema_grammar("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":"
                       "\"boolean\"}],\"items\":false}");
    assert_full(g, "[\"a\",true]");
    assert_reject_at(g, "[\"a\",true,", 9);
    assert_reject_at(g, "[true", 1);
    ta_grammar_free(g);
}

static void test_schema_anyof_ref_types(void **state)
{
    (void)state;
    ta_grammar *g = schema_grammar(
        "{\"type\":\"object\",\"properties\":{\"v\":{\"anyOf\":[{\"type\":\"integer\"},"
        "{\"type\":\"string\",\"maxLength\":2}]},\"w\":{\"type\":[\"number\",\"null\"]}},"
        "\"required\":[\"v\",\"w\"]}");
    assert_full(g, "{\"v\":12,\"w\":null}");
    assert_full(g, "{\"v\":\"ab\",\"w\":1.5}");
    assert_reject_at(g, "{\"v\":\"abc\"", 8);
    assert_reject_at(g, "{\"v\":true", 5);
    assert_reject_at(g, "{\"v\":1,\"w\":\"x\"", 11);
    ta_grammar_free(g);

    /* integer vs number */
    g = schema_grammar("{\"type\":\"object\",\"properties\":{\"i\":{\"type\":\"integer\"},"
                       "\"u\":{\"type\":\"integer\",\"minimum\":0}},\"required\":[\"i\",\"u\"]}");
    assert_full(g, "{\"i\":-5,\"u\":5}");
    assert_reject_at(g, "{\"i\":1.0", 6);
    assert_reject_at(g, "{\"i\":1e3", 6);
    assert_reject_at(g, "{\"i\":1,\"u\":-1", 11);
    ta_grammar_free(g);

    /* Recursive $ref: a tree. */
    const char *tree = "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{"
                       "\"value\":{\"type\":\"integer\"},\"children\":{\"type\":\"array\","
                       "\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"value\"]}},"
                       "\"$ref\":\"#/$defs/node\"}";
    g = schema_grammar(tree);
    assert_full(g, "{\"value\":1}");
    assert_full(g, "{\"value\":1,\"children\":[{\"value\":2},{\"value\":3,\"children\":"
                   "[{\"value\":4,\"children\":[]}]}]}");
    assert_reject_at(g, "{\"value\":1,\"children\":[{\"children\":[]}]}", 25);
    ta_grammar_free(g);

    /* definitions + allOf merge + formats */
    g = schema_grammar(
        "{\"definitions\":{\"base\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":"
        "\"string\",\"format\":\"uuid\"}},\"required\":[\"id\"]}},"
        "\"allOf\":[{\"$ref\":\"#/definitions/base\"},{\"properties\":{\"when\":{\"type\":"
        "\"string\",\"format\":\"date-time\"},\"day\":{\"type\":\"string\",\"format\":\"date\"}},"
        "\"required\":[\"when\"]}]}");
    assert_full(g, "{\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"when\":"
                   "\"2024-02-29T13:45:00Z\",\"day\":\"2024-12-31\"}");
    assert_reject_at(g, "{\"id\":\"123e4567-e89b-12d3-a456-42661417400\"", 42);
    assert_reject_at(g, "{\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"when\":\"2024-13", 59);
    ta_grammar_free(g);
}

static void test_schema_any_object(void **state)
{
    (void)state;
    ta_error err = {0};
    ta_grammar *g = ta_grammar_from_json_schema(NULL, &err);
    assert_non_null(g);
    assert_full(g, "{}");
    assert_full(g, "{\"a\": [1, {\"b\": null}], \"c\": \"d\"}");
    assert_reject_at(g, "[1]", 0);
    assert_reject_at(g, "12", 0);
    assert_reject_at(g, "\"s\"", 0);
    ta_grammar_free(g);
    const char *same[] = {"{}", "{\"type\":\"object\"}", "true"};
    for (size_t i = 0; i < 3; i++) {
        g = schema_grammar(same[i]);
        assert_full(g, "{\"x\":{\"y\":[]}}");
        assert_reject_at(g, "[]", 0);
        ta_grammar_free(g);
    }
}

static void test_schema_errors(void **state)
{
    (void)state;
    schema_err("{\"type\":\"object\",\"properties\":{\"a\":{\"not\":{}}}}", "'not'",
               "#/properties/a");
    schema_err(
        "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"pattern\":\"^a\"}}}",
        "'pattern'", "#/properties/s");
    schema_err("{\"type\":\"array\",\"items\":{\"type\":\"array\",\"uniqueItems\":true}}",
               "'uniqueItems'", "#/items");
    schema_err("{\"$ref\":\"#/$defs/missing\"}", "not found", NULL);
    schema_err("{\"$ref\":\"http://example.com/x\"}", "not found", NULL);
    schema_err("{\"type\":\"thing\"}", "unknown type 'thing'", NULL);
    schema_err("{\"type\":\"object\",\"properties\":{\"a\":false}}", "false", "#/properties/a");
    schema_err("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}",
               "left-recursive", NULL);
    schema_err("{\"type\":\"object\",\"properties\":{\"e\":{\"enum\":[]}}}", "enum", NULL);
}

/* ---- simulated constrained generation ------------------------------------------- */

static char **vocab;
static size_t n_vocab;

static void vocab_add(const char *s)
{
    vocab = realloc(vocab, (n_vocab + 1) * sizeof *vocab);
    vocab[n_vocab++] = strdup(s);
}

static void build_vocab(void)
{
    if (vocab) return;
    char one[2] = {0};
    for (int c = 32; c < 127; c++) {
        one[0] = (char)c;
        vocab_add(one);
    }
    static const char *frags[] = {"{\"",
                                  "\":",
                                  "\": ",
                                  "\",\"",
                                  "\", \"",
                                  "\"}",
                                  "\"]",
                                  "},",
                                  "],",
                                  "{}",
                                  "[]",
                                  "[\"",
                                  "true",
                                  "false",
                                  "null",
                                  "tru",
                                  "e",
                                  "nu",
                                  "ll",
                                  ", ",
                                  ": ",
                                  "\n",
                                  "\n  ",
                                  "  ",
                                  "\n}",
                                  "\\n",
                                  "\\\"",
                                  "\\u00e9",
                                  "\\\\",
                                  "name",
                                  "age",
                                  "email",
                                  "tags",
                                  "active",
                                  "value",
                                  "children",
                                  "kind",
                                  "val",
                                  "\"name\"",
                                  "\"age\":",
                                  "\"value\":",
                                  "\"children\":",
                                  "\"kind\":",
                                  "\"val\":",
                                  "\"tags\":",
                                  "hello",
                                  " world",
                                  "ab",
                                  "foo",
                                  "bar",
                                  "\xc3\xa9",
                                  "\xc3\xbc",
                                  "\xe6\x97\xa5\xe6\x9c\xac",
                                  "\xf0\x9f\x98\x80",
                                  "\xc3",
                                  "\xa9",
                                  "\xe6\x97",
                                  "\xa5",
                                  "-1",
                                  "0.",
                                  ".5",
                                  "e+",
                                  "E-",
                                  "1e",
                                  "-0",
                                  "12",
                                  "\"a\"",
                                  "\"b\"",
                                  "\"red\"",
                                  "\"green\"",
                                  "\"\"",
                                  ",\"",
                                  "\"\n",
                                  "\t",
                                  "}}",
                                  "]]",
                                  "[{",
                                  "{\"value\":",
                                  "\"x",
                                  "y\"",
                                  NULL};
    for (size_t i = 0; frags[i]; i++)
        vocab_add(frags[i]);
    char num[8];
    for (int i = 0; n_vocab < 300; i++) {
        snprintf(num, sizeof num, "%d", 10 + i * 7);
        vocab_add(num);
    }
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void check_person(const json_t *v)
{
    assert_true(json_is_object(v));
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        if (strcmp(k, "name") == 0) {
            assert_true(json_is_string(x));
            assert_true(utf8_len(json_string_value(x)) <= 8);
        } else if (strcmp(k, "age") == 0) {
            assert_true(json_is_integer(x));
        } else if (strcmp(k, "email") == 0) {
            assert_true(json_is_string(x));
        } else if (strcmp(k, "tags") == 0) {
            assert_true(json_is_array(x) && json_array_size(x) <= 3);
            for (size_t i = 0; i < json_array_size(x); i++)
                assert_true(json_is_string(json_array_get(x, i)));
        } else if (strcmp(k, "active") == 0) {
            assert_true(json_is_boolean(x));
        } else {
            fail_msg("unexpected key %s", k);
        }
    }
    assert_non_null(json_object_get(v, "name"));
    assert_non_null(json_object_get(v, "age"));
}

static void check_any_object(const json_t *v)
{
    assert_true(json_is_object(v));
}

static void check_tree(const json_t *v)
{
    assert_true(json_is_object(v));
    assert_true(json_is_integer(json_object_get(v, "value")));
    json_t *c = json_object_get(v, "children");
    assert_true(json_object_size(v) == (c ? 2u : 1u));
    if (c) {
        assert_true(json_is_array(c));
        for (size_t i = 0; i < json_array_size(c); i++)
            check_tree(json_array_get(c, i));
    }
}

static void check_kind(const json_t *v)
{
    assert_true(json_is_object(v));
    assert_int_equal(json_object_size(v), 2);
    json_t *k = json_object_get(v, "kind"), *val = json_object_get(v, "val");
    assert_non_null(k);
    assert_non_null(val);
    assert_true(json_is_null(k) || json_integer_value(k) == 1 ||
                (json_is_string(k) && strlen(json_string_value(k)) == 1));
    assert_true(json_is_number(val) ||
                (json_is_string(val) && utf8_len(json_string_value(val)) <= 3));
}

/* Preferred pieces once a generation runs long: they close what is open. */
static bool closing(const char *p)
{
    return strcmp(p, "\"") == 0 || strcmp(p, "}") == 0 || strcmp(p, "]") == 0 ||
           strcmp(p, "\"}") == 0 || strcmp(p, "1") == 0;
}

static void simulate(const ta_grammar *g, unsigned seed, void (*check)(const json_t *))
{
    ta_error err = {0};
    ta_grammar_state *s = ta_grammar_state_new(g, &err);
    assert_non_null(s);
    size_t *ok = malloc(n_vocab * sizeof *ok), *pref = malloc(n_vocab * sizeof *pref);
    char text[16384];
    size_t len = 0;
    uint64_t r = seed * 6364136223846793005ull + 1442695040888963407ull;
    int step;
    for (step = 0; step < 2000; step++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        unsigned coin = (unsigned)(r >> 33);
        if (!ta_grammar_state_can_continue(s)) break;
        if (ta_grammar_state_complete(s) && coin % 3 == 0) break;
        size_t n_ok = 0, n_pref = 0;
        for (size_t i = 0; i < n_vocab; i++) {
            if (ta_grammar_state_accepts(s, vocab[i], strlen(vocab[i]))) {
                ok[n_ok++] = i;
                if (closing(vocab[i])) pref[n_pref++] = i;
            }
        }
        if (n_ok == 0) {
            if (ta_grammar_state_complete(s)) break;
            text[len] = '\0';
            fail_msg("dead end after '%s' (seed %u)", text, seed);
        }
        size_t pick = (step > 40 && n_pref) ? pref[(coin >> 4) % n_pref] : ok[(coin >> 4) % n_ok];
        size_t pl = strlen(vocab[pick]);
        assert_true(len + pl < sizeof text);
        assert_int_equal(ta_grammar_state_advance(s, vocab[pick], pl, &err), 0);
        memcpy(text + len, vocab[pick], pl);
        len += pl;
    }
    text[len] = '\0';
    if (step == 2000) fail_msg("generation did not end (seed %u): %s", seed, text);
    assert_true(ta_grammar_state_complete(s));
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!v) fail_msg("generated text is not JSON (%s, seed %u): %s", je.text, seed, text);
    check(v);
    json_decref(v);
    ta_grammar_state_free(s);
    free(ok);
    free(pref);
}

static void test_simulated_generation(void **state)
{
    (void)state;
    build_vocab();
    const char *tree = "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{"
                       "\"value\":{\"type\":\"integer\"},\"children\":{\"type\":\"array\","
                       "\"items\":{\"$ref\":\"#/$defs/node\"},\"maxItems\":3}},"
                       "\"required\":[\"value\"]}},\"$ref\":\"#/$defs/node\"}";
    const char *kind = "{\"type\":\"object\",\"properties\":{\"kind\":{\"enum\":[\"a\",\"b\",1,"
                       "null]},\"val\":{\"anyOf\":[{\"type\":\"number\"},{\"type\":\"string\","
                       "\"maxLength\":3}]}},\"required\":[\"kind\",\"val\"]}";
    ta_grammar *gs[4];
    ta_error err = {0};
    gs[0] = schema_grammar(person_schema);
    gs[1] = ta_grammar_from_json_schema(NULL, &err);
    gs[2] = schema_grammar(tree);
    gs[3] = schema_grammar(kind);
    assert_non_null(gs[1]);
    void (*checks[4])(const json_t *) = {check_person, check_any_object, check_tree, check_kind};
    for (unsigned seed = 1; seed <= 200; seed++)
        simulate(gs[seed % 4], seed, checks[seed % 4]);

    /* Rough speed of accepts() for a JSON state inside a string value and the vocabulary
     * (about 5 bytes a piece on average), printed for the record, not asserted. */
    ta_grammar_state *s = ta_grammar_state_new(gs[0], &err);
    assert_int_equal(ta_grammar_state_advance(s, "{\"name\": \"Jo", 12, &err), 0);
    static const char *five[] = {"hello",   "\", \"a", "ab\"}", "\xc3\xa9t\xc3\xa9", "12345",
                                 "\",\"ag", "\\n\\tx", "world", "\"age\"",           "{\"a\":"};
    size_t total = 0, accepted = 0;
    clock_t t0 = clock();
    for (int rep = 0; rep < 20000; rep++) {
        for (size_t i = 0; i < 10; i++) {
            accepted += ta_grammar_state_accepts(s, five[i], strlen(five[i]));
            total++;
        }
    }
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    ta_grammar_state_advance(s, "\",", 2, &err);
    size_t total2 = 0;
    clock_t t1 = clock();
    for (int rep = 0; rep < 200; rep++)
        for (size_t i = 0; i < n_vocab; i++) {
            accepted += ta_grammar_state_accepts(s, vocab[i], strlen(vocab[i]));
            total2++;
        }
    double secs2 = (double)(clock() - t1) / CLOCKS_PER_SEC;
    fprintf(stderr,
            "grammar accepts(): %.2f M calls/s for 5-byte pieces inside a string, %.2f M "
            "calls/s over the vocabulary after a comma (%zu accepted)\n",
            secs > 0 ? total / secs / 1e6 : 0.0, secs2 > 0 ? total2 / secs2 / 1e6 : 0.0, accepted);
    ta_grammar_state_free(s);
    for (int i = 0; i < 4; i++)
        ta_grammar_free(gs[i]);
    for (size_t i = 0; i < n_vocab; i++)
        free(vocab[i]);
    free(vocab);
    vocab = NULL;
    n_vocab = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax_features),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_json_grammar),
        cmocka_unit_test(test_repetition_bounds),
        cmocka_unit_test(test_negated_classes),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_schema_object),
        cmocka_unit_test(test_schema_arrays_enums),
        cmocka_unit_test(test_schema_anyof_ref_types),
        cmocka_unit_test(test_schema_any_object),
        cmocka_unit_test(test_schema_errors),
        cmocka_unit_test(test_simulated_generation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
