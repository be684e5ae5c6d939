/*
 * test_tokenizer.c - the tokenizers against the reference tokenizations in
 * ../shared/vocab (every case of every vocabulary), plus round trips, streaming decode
 * of characters split across tokens, BOS/EOS/SEP as the metadata says, special-token
 * parsing, end-of-generation ids, invalid input, metadata errors and 1 MB inputs
 * (time printed, bounded generously so the test also passes under ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#define VOCAB_DIR TA_SOURCE_DIR "/../shared/vocab"

enum {
    SPM_LLAMA,
    BPE_LLAMA3,
    BPE_QWEN2,
    SPM_PHI3,
    BPE_GPT2,
    WPM_BGE,
    BPE_DEEPSEEK,
    BPE_FALCON,
    NV
};
static const char *const vocab_names[NV] = {"llama-spm", "llama-bpe", "qwen2",          "phi-3",
                                            "gpt-2",     "bert-bge",  "deepseek-coder", "falcon"};

static ta_tokenizer *toks[NV];

/* ---- helpers ---- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    *len = n;
    return buf;
}

static void vocab_path(char *out, size_t cap, const char *name, const char *suffix)
{
    snprintf(out, cap, "%s/ggml-vocab-%s.gguf%s", VOCAB_DIR, name, suffix);
}

static int load_all(void **state)
{
    (void)state;
    for (int v = 0; v < NV; v++) {
        char path[1024];
        vocab_path(path, sizeof path, vocab_names[v], "");
        ta_error err = {0};
        ta_gguf *g = ta_gguf_open(path, &err);
        if (!g) {
            fprintf(stderr, "MISSING reference vocabulary %s: %s\n", path, err.message);
            return -1;
        }
        toks[v] = ta_tokenizer_from_gguf(g, &err);
        ta_gguf_close(g); /* the tokenizer keeps its own copies */
        if (!toks[v]) {
            fprintf(stderr, "cannot build the %s tokenizer: %s\n", vocab_names[v], err.message);
            return -1;
        }
    }
    return 0;
}

static int free_all(void **state)
{
    (void)state;
    for (int v = 0; v < NV; v++)
        ta_tokenizer_free(toks[v]);
    return 0;
}

static ta_tok_ids enc(int v, const char *s, size_t n, bool add_special, bool parse_special)
{
    ta_tok_ids ids = {0};
    ta_error err = {0};
    int rc = ta_tok_encode(toks[v], s, n, add_special, parse_special, &ids, &err);
    if (rc) fail_msg("%s: encode failed: %s", vocab_names[v], err.message);
    return ids;
}

static ta_tok_ids encs(int v, const char *s, bool add_special, bool parse_special)
{
    return enc(v, s, strlen(s), add_special, parse_special);
}

static char *dec(int v, const ta_tok_ids *ids, unsigned flags, size_t *len)
{
    ta_error err = {0};
    char *s = ta_tok_decode(toks[v], ids->ids, ids->len, flags, len, &err);
    assert_non_null(s);
    return s;
}

static void print_escaped(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stderr);
        else if (c == '\t')
            fputs("\\t", stderr);
        else if (c < 0x20 || c == 0x7F)
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
}

static bool valid_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t k;
        uint32_t v, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 2, v = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 3, v = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 4, v = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + k > n) return false;
        for (size_t j = 1; j < k; j++) {
            if ((u[i + j] & 0xC0) != 0x80) return false;
            v = (v << 6) | (u[i + j] & 0x3F);
        }
        if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return false;
        i += k;
    }
    return true;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* ---- reference cases ---- */

/* .inp: cases separated by "\n__ggml_vocab_test__\n" (the newline before the separator
 * is not part of the case); .out: one line of space-separated ids per case, produced
 * without BOS/EOS and without special-token parsing. */
static void run_reference(int v)
{
    char ip[1024], op[1024];
    vocab_path(ip, sizeof ip, vocab_names[v], ".inp");
    vocab_path(op, sizeof op, vocab_names[v], ".out");
    size_t ni, no;
    char *inp = slurp(ip, &ni), *outp = slurp(op, &no);
    if (!inp || !outp) fail_msg("MISSING reference data %s / %s", ip, op);

    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *p = inp, *line = outp;
    int ncase = 0, nfail = 0;
    for (;;) {
        char *q = memmem(p, ni - (size_t)(p - inp), sep, sizeof sep - 1);
        if (!q) break;
        size_t len = (size_t)(q - p);
        char *eol = strchr(line, '\n');
        if (!eol) fail_msg("%s: .out has fewer lines than .inp has cases", vocab_names[v]);
        *eol = '\0';

        ta_tok_ids want = {0};
        for (char *s = line, *end; *s; s = end) {
            long id = strtol(s, &end, 10);
            if (end == s) break;
            want.ids = realloc(want.ids, (want.len + 1) * sizeof *want.ids);
            want.ids[want.len++] = (int32_t)id;
        }
        ta_tok_ids got = enc(v, p, len, false, false);
        if (got.len != want.len ||
            (got.len && memcmp(got.ids, want.ids, got.len * sizeof *got.ids) != 0)) {
            nfail++;
            fprintf(stderr, "%s case %d FAILED\n  text: \"", vocab_names[v], ncase);
            print_escaped(p, len);
            fprintf(stderr, "\"\n  expected:%s\n  got:     ", line);
            for (size_t i = 0; i < got.len; i++)
                fprintf(stderr, " %d", got.ids[i]);
            fputc('\n', stderr);
        }
        free(want.ids);
        ta_tok_ids_free(&got);
        ncase++;
        p = q + sizeof sep - 1;
        line = eol + 1;
    }
    printf("%-15s %d/%d reference cases pass\n", vocab_names[v], ncase - nfail, ncase);
    free(inp);
    free(outp);
    assert_true(ncase >= 40);
    assert_int_equal(nfail, 0);
}

static void test_reference_llama_spm(void **s)
{
    (void)s;
    run_reference(SPM_LLAMA);
}
static void test_reference_llama_bpe(void **s)
{
    (void)s;
    run_reference(BPE_LLAMA3);
}
static void test_reference_qwen2(void **s)
{
    (void)s;
    run_reference(BPE_QWEN2);
}
static void test_reference_phi3(void **s)
{
    (void)s;
    run_reference(SPM_PHI3);
}
static void test_reference_gpt2(void **s)
{
    (void)s;
    run_reference(BPE_GPT2);
}
static void test_reference_bert_bge(void **s)
{
    (void)s;
    run_reference(WPM_BGE);
}
static void test_reference_deepseek_coder(void **s)
{
    (void)s;
    run_reference(BPE_DEEPSEEK);
}
static void test_reference_falcon(void **s)
{
    (void)s;
    run_reference(BPE_FALCON);
}

/* ---- metadata ---- */

static void test_metadata(void **state)
{
    (void)state;
    static const ta_tok_kind kinds[NV] = {TA_TOK_SPM, TA_TOK_BPE, TA_TOK_BPE, TA_TOK_SPM,
                                          TA_TOK_BPE, TA_TOK_WPM, TA_TOK_BPE, TA_TOK_BPE};
    static const size_t sizes[NV] = {32000, 128256, 151936, 32064, 50257, 30522, 32256, 65024};
    for (int v = 0; v < NV; v++) {
        assert_int_equal(ta_tok_get_kind(toks[v]), kinds[v]);
        assert_int_equal(ta_tok_vocab_size(toks[v]), sizes[v]);
    }
    assert_string_equal(ta_tok_kind_name(TA_TOK_SPM), "SPM");
    assert_string_equal(ta_tok_kind_name(TA_TOK_BPE), "BPE");
    assert_string_equal(ta_tok_kind_name(TA_TOK_WPM), "WPM");
    assert_string_equal(ta_tok_pre_name(toks[BPE_LLAMA3]), "llama-bpe");
    assert_string_equal(ta_tok_pre_name(toks[BPE_QWEN2]), "qwen2");
    assert_string_equal(ta_tok_pre_name(toks[SPM_LLAMA]), "");
    assert_true(ta_tok_merge_count(toks[BPE_GPT2]) == 50000);
    assert_int_equal(ta_tok_merge_count(toks[SPM_LLAMA]), 0);

    assert_int_equal(ta_tok_bos(toks[SPM_LLAMA]), 1);
    assert_int_equal(ta_tok_eos(toks[SPM_LLAMA]), 2);
    assert_int_equal(ta_tok_unk(toks[SPM_LLAMA]), 0);
    assert_int_equal(ta_tok_bos(toks[BPE_LLAMA3]), 128000);
    assert_int_equal(ta_tok_eos(toks[BPE_LLAMA3]), 128001);
    assert_int_equal(ta_tok_eot(toks[BPE_LLAMA3]), 128009);
    assert_int_equal(ta_tok_eot(toks[BPE_QWEN2]), 151645); /* <|im_end|> */
    assert_int_equal(ta_tok_bos(toks[WPM_BGE]), 101);      /* [CLS] */
    assert_int_equal(ta_tok_sep(toks[WPM_BGE]), 102);
    assert_int_equal(ta_tok_pad(toks[WPM_BGE]), 0);
    assert_int_equal(ta_tok_mask(toks[WPM_BGE]), 103);
    assert_int_equal(ta_tok_unk(toks[WPM_BGE]), 100);
    assert_int_equal(ta_tok_eos(toks[WPM_BGE]), TA_TOK_NULL);
    assert_int_equal(ta_tok_unk(toks[BPE_GPT2]), TA_TOK_NULL);

    assert_int_equal(ta_tok_find(toks[BPE_QWEN2], "<|im_start|>", 12), 151644);
    assert_int_equal(ta_tok_find(toks[BPE_QWEN2], "no such token at all", 20), TA_TOK_NULL);
    assert_int_equal(ta_tok_token_type(toks[BPE_QWEN2], 151644), TA_TOK_TYPE_CONTROL);
    assert_int_equal(ta_tok_token_type(toks[SPM_LLAMA], 3), TA_TOK_TYPE_BYTE);
    assert_int_equal(ta_tok_token_type(toks[SPM_LLAMA], -5), TA_TOK_TYPE_UNDEFINED);
    size_t n;
    const char *txt = ta_tok_token_text(toks[SPM_LLAMA], 1, &n);
    assert_non_null(txt);
    assert_int_equal(n, 3);
    assert_memory_equal(txt, "<s>", 3);
    assert_null(ta_tok_token_text(toks[SPM_LLAMA], 999999, &n));
    assert_true(ta_tok_token_score(toks[SPM_LLAMA], 400) != 0.0f);
}

/* ---- BOS / EOS / SEP ---- */

static void test_add_special(void **state)
{
    (void)state;
    static const struct {
        int v;
        bool add_bos, add_eos;
        int32_t first, last; /* -1: no check */
    } want[] = {
        {SPM_LLAMA, true, false, 1, -1},        {BPE_LLAMA3, true, false, 128000, -1},
        {BPE_QWEN2, false, false, -1, -1},      {SPM_PHI3, true, false, 1, -1},
        {BPE_GPT2, false, false, -1, -1},       {WPM_BGE, true, false, 101, 102},
        {BPE_DEEPSEEK, true, false, 32013, -1}, {BPE_FALCON, false, false, -1, -1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int v = want[i].v;
        assert_int_equal(ta_tok_add_bos(toks[v]), want[i].add_bos);
        assert_int_equal(ta_tok_add_eos(toks[v]), want[i].add_eos);
        ta_tok_ids plain = encs(v, "Hello world", false, false);
        ta_tok_ids sp = encs(v, "Hello world", true, false);
        size_t extra = (want[i].first >= 0) + (want[i].last >= 0);
        assert_int_equal(sp.len, plain.len + extra);
        if (want[i].first >= 0) assert_int_equal(sp.ids[0], want[i].first);
        if (want[i].last >= 0) assert_int_equal(sp.ids[sp.len - 1], want[i].last);
        assert_memory_equal(sp.ids + (want[i].first >= 0), plain.ids,
                            plain.len * sizeof *plain.ids);
        ta_tok_ids_free(&plain);
        ta_tok_ids_free(&sp);
    }
    /* An empty text still gets BOS (SPM: tokenizer.encode("") -> [1]). */
    ta_tok_ids e = encs(SPM_LLAMA, "", true, false);
    assert_int_equal(e.len, 1);
    assert_int_equal(e.ids[0], 1);
    ta_tok_ids_free(&e);
    /* encode appends to what out already holds */
    ta_tok_ids acc = encs(BPE_GPT2, "Hello", false, false);
    size_t first = acc.len;
    ta_error err;
    assert_int_equal(ta_tok_encode(toks[BPE_GPT2], " world", 6, false, false, &acc, &err), 0);
    assert_true(acc.len > first);
    ta_tok_ids_free(&acc);
}

/* ---- special tokens in the text ---- */

static bool contains(const ta_tok_ids *ids, int32_t id)
{
    for (size_t i = 0; i < ids->len; i++)
        if (ids->ids[i] == id) return true;
    return false;
}

static void test_parse_special(void **state)
{
    (void)state;
    const char *chat = "<|im_start|>user\nHi there<|im_end|>\n";
    ta_tok_ids on = encs(BPE_QWEN2, chat, false, true);
    assert_true(on.len >= 4);
    assert_int_equal(on.ids[0], 151644);
    assert_true(contains(&on, 151645));
    ta_tok_ids off = encs(BPE_QWEN2, chat, false, false);
    assert_false(contains(&off, 151644));
    assert_false(contains(&off, 151645));
    assert_true(off.len > on.len);
    /* decoding shows the special tokens only when asked */
    size_t n;
    char *txt = dec(BPE_QWEN2, &on, TA_TOK_DECODE_SPECIAL, &n);
    assert_string_equal(txt, chat);
    free(txt);
    txt = dec(BPE_QWEN2, &on, 0, &n);
    assert_string_equal(txt, "user\nHi there\n");
    free(txt);
    /* the same text with control tokens off decodes back to itself */
    txt = dec(BPE_QWEN2, &off, 0, &n);
    assert_string_equal(txt, chat);
    free(txt);
    ta_tok_ids_free(&on);
    ta_tok_ids_free(&off);

    ta_tok_ids l3 =
        encs(BPE_LLAMA3, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>", false, true);
    assert_int_equal(l3.len, 4);
    assert_int_equal(l3.ids[0], 128000);
    assert_int_equal(l3.ids[1], 128006);
    assert_int_equal(l3.ids[3], 128007);
    ta_tok_ids_free(&l3);

    /* SPM: text after a special token gets the space prefix again. */
    ta_tok_ids a = encs(SPM_LLAMA, "<s>Hello</s>", false, true);
    ta_tok_ids b = encs(SPM_LLAMA, "Hello", false, false);
    assert_int_equal(a.len, b.len + 2);
    assert_int_equal(a.ids[0], 1);
    assert_memory_equal(a.ids + 1, b.ids, b.len * sizeof *b.ids);
    assert_int_equal(a.ids[a.len - 1], 2);
    ta_tok_ids_free(&a);
    ta_tok_ids_free(&b);

    /* User-defined tokens are recognized even without parse_special (deepseek-coder
     * types "ü" and friends as user-defined). */
    ta_tok_ids u = encs(BPE_DEEPSEEK, "F\xC3\xBChrer", false, false);
    assert_true(contains(&u, 32009));
    ta_tok_ids_free(&u);

    /* Phi-3: whitespace after its special tokens is dropped (RSTRIP). */
    ta_tok_ids p1 = encs(SPM_PHI3, "<|user|>   Hi<|end|>", false, true);
    ta_tok_ids p2 = encs(SPM_PHI3, "<|user|>Hi<|end|>", false, true);
    assert_int_equal(p1.len, p2.len);
    assert_memory_equal(p1.ids, p2.ids, p1.len * sizeof *p1.ids);
    assert_int_equal(p1.ids[0], 32010);
    ta_tok_ids_free(&p1);
    ta_tok_ids_free(&p2);
}

/* ---- end of generation ---- */

static void test_eog(void **state)
{
    (void)state;
    assert_true(ta_tok_is_eog(toks[SPM_LLAMA], 2));
    assert_false(ta_tok_is_eog(toks[SPM_LLAMA], 1));
    assert_true(ta_tok_is_eog(toks[BPE_LLAMA3], 128001));
    assert_true(ta_tok_is_eog(toks[BPE_LLAMA3], 128009)); /* <|eot_id|> */
    assert_false(ta_tok_is_eog(toks[BPE_LLAMA3], 128000));
    assert_true(ta_tok_is_eog(toks[BPE_QWEN2], 151643)); /* <|endoftext|> */
    assert_true(ta_tok_is_eog(toks[BPE_QWEN2], 151645)); /* <|im_end|> */
    assert_false(ta_tok_is_eog(toks[BPE_QWEN2], 151644));
    assert_true(ta_tok_is_eog(toks[SPM_PHI3], 32000)); /* <|endoftext|> */
    assert_true(ta_tok_is_eog(toks[SPM_PHI3], 32007)); /* <|end|> */
    assert_true(ta_tok_is_eog(toks[BPE_GPT2], 50256));
    assert_true(ta_tok_is_eog(toks[BPE_DEEPSEEK], 32014));
    for (int v = 0; v < NV; v++) {
        assert_false(ta_tok_is_eog(toks[v], 300));
        assert_false(ta_tok_is_eog(toks[v], -1));
        assert_false(ta_tok_is_eog(toks[v], 1 << 30));
    }
}

/* ---- round trips ---- */

static const char *const samples[] = {
    "Hello world",
    " Hello World!",
    "  leading spaces and trailing  ",
    "\n\n\tTabs\tand\nnewlines\n",
    "I've been 'told he's there, 'RE you sure?",
    "3.14159 + 2,718 = 5.85",
    "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xE4\xBD\xA0\xE5\xA5\xBD",
    " \xF0\x9F\x98\x81\xF0\x9F\xA6\x99 x",
    "C\xE1\xBB\xAD\x61 Vi\xE1\xBB\x87t",
    "def f(x):\n    return x ** 2  # comment\n",
    "",
};

static void test_round_trip(void **state)
{
    (void)state;
    for (int v = 0; v < NV; v++) {
        if (v == WPM_BGE) continue; /* WordPiece lowercases and drops spaces */
        for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
            ta_tok_ids ids = encs(v, samples[i], false, false);
            size_t n;
            char *back = dec(v, &ids, TA_TOK_DECODE_STRIP_LEADING_SPACE, &n);
            if (strcmp(back, samples[i]) != 0)
                fail_msg("%s: round trip of \"%s\" gave \"%s\"", vocab_names[v], samples[i], back);
            free(back);
            /* with BOS added (and hidden when decoding) the text is the same */
            ta_tok_ids sp = encs(v, samples[i], true, false);
            back = dec(v, &sp, TA_TOK_DECODE_STRIP_LEADING_SPACE, &n);
            assert_string_equal(back, samples[i]);
            free(back);
            ta_tok_ids_free(&ids);
            ta_tok_ids_free(&sp);
        }
    }
    /* SPM keeps every byte through byte fallback: any bytes round-trip exactly (except
     * a literal "▁", SentencePiece's space). */
    for (int it = 0; it < 200; it++) {
        char buf[64];
        size_t n = rnd() % sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(rnd() & 0xFF);
        if (memmem(buf, n, "\xE2\x96\x81", 3)) continue; /* "▁" decodes as a space */
        for (int v = SPM_LLAMA; v <= SPM_PHI3; v += SPM_PHI3 - SPM_LLAMA) {
            ta_tok_ids ids = enc(v, buf, n, false, false);
            size_t m;
            char *back = dec(v, &ids, TA_TOK_DECODE_STRIP_LEADING_SPACE, &m);
            assert_int_equal(m, n);
            assert_memory_equal(back, buf, n);
            free(back);
            ta_tok_ids_free(&ids);
        }
    }
    /* WordPiece: lowercased, accents stripped, punctuation split. */
    ta_tok_ids w = encs(WPM_BGE, "Hello, Caf\xC3\xA9!", false, false);
    size_t n;
    char *back = dec(WPM_BGE, &w, TA_TOK_DECODE_STRIP_LEADING_SPACE, &n);
    assert_string_equal(back, " hello , cafe !");
    free(back);
    back = dec(WPM_BGE, &w, TA_TOK_DECODE_CLEAN_SPACES, &n);
    assert_string_equal(back, " hello, cafe!");
    free(back);
    ta_tok_ids_free(&w);
}

/* ---- streaming ---- */

static void stream_check(int v, const char *text, unsigned flags, const char *want)
{
    ta_tok_ids ids = encs(v, text, false, false);
    ta_tok_stream *s = ta_tok_stream_new(toks[v], flags);
    assert_non_null(s);
    char out[512];
    size_t total = 0;
    for (size_t i = 0; i < ids.len; i++) {
        size_t n;
        const char *p = ta_tok_stream_push(s, ids.ids[i], &n);
        assert_non_null(p);
        assert_true(valid_utf8(p, n)); /* never a partial character */
        assert_true(total + n < sizeof out);
        memcpy(out + total, p, n);
        total += n;
    }
    size_t n;
    const char *p = ta_tok_stream_flush(s, &n);
    assert_int_equal(n, 0);
    (void)p;
    out[total] = '\0';
    assert_string_equal(out, want);
    ta_tok_stream_free(s);
    ta_tok_ids_free(&ids);
}

static void test_stream(void **state)
{
    (void)state;
    /* SPM: the llama emoji is not a token, so it becomes four byte tokens. */
    const char *llama = "a \xF0\x9F\xA6\x99 b";
    ta_tok_ids ids = encs(SPM_LLAMA, llama, false, false);
    ta_tok_stream *s = ta_tok_stream_new(toks[SPM_LLAMA], 0);
    size_t nbytes = 0, n;
    for (size_t i = 0; i < ids.len; i++) {
        const char *p = ta_tok_stream_push(s, ids.ids[i], &n);
        if (ta_tok_token_type(toks[SPM_LLAMA], ids.ids[i]) == TA_TOK_TYPE_BYTE) {
            nbytes++;
            /* nothing comes out until the fourth byte completes the character */
            if (nbytes < 4) assert_int_equal(n, 0);
            if (nbytes == 4) {
                assert_int_equal(n, 4);
                assert_memory_equal(p, "\xF0\x9F\xA6\x99", 4);
            }
        }
    }
    assert_int_equal(nbytes, 4);
    ta_tok_stream_free(s);
    ta_tok_ids_free(&ids);

    stream_check(SPM_LLAMA, llama, 0, " a \xF0\x9F\xA6\x99 b");
    stream_check(SPM_LLAMA, llama, TA_TOK_DECODE_STRIP_LEADING_SPACE, llama);
    /* byte-level BPE: an emoji splits into tokens holding partial UTF-8 */
    for (int v = 0; v < NV; v++) {
        if (v == WPM_BGE || ta_tok_get_kind(toks[v]) != TA_TOK_BPE) continue;
        stream_check(v, "x\xF0\x9F\xA6\x99y \xE6\x88\x91\xE6\x83\xB3 \xF0\x9F\x98\x81!", 0,
                     "x\xF0\x9F\xA6\x99y \xE6\x88\x91\xE6\x83\xB3 \xF0\x9F\x98\x81!");
    }

    /* An unfinished character at the end becomes U+FFFD; a stray byte too. */
    s = ta_tok_stream_new(toks[SPM_LLAMA], 0);
    int32_t f0 = ta_tok_find(toks[SPM_LLAMA], "<0xF0>", 6);
    int32_t x9f = ta_tok_find(toks[SPM_LLAMA], "<0x9F>", 6);
    int32_t xff = ta_tok_find(toks[SPM_LLAMA], "<0xFF>", 6);
    int32_t a41 = ta_tok_find(toks[SPM_LLAMA], "<0x41>", 6);
    assert_true(f0 >= 0 && x9f >= 0 && xff >= 0 && a41 >= 0);
    const char *p = ta_tok_stream_push(s, f0, &n);
    assert_int_equal(n, 0);
    p = ta_tok_stream_push(s, x9f, &n);
    assert_int_equal(n, 0);
    p = ta_tok_stream_push(s, a41, &n); /* 'A' cannot continue F0 9F */
    assert_int_equal(n, 4);
    assert_memory_equal(p,
                        "\xEF\xBF\xBD"
                        "A",
                        4);
    p = ta_tok_stream_push(s, xff, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "\xEF\xBF\xBD", 3);
    p = ta_tok_stream_push(s, f0, &n);
    assert_int_equal(n, 0);
    p = ta_tok_stream_flush(s, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "\xEF\xBF\xBD", 3);
    /* control tokens are silent unless asked for; invalid ids are silent */
    p = ta_tok_stream_push(s, 2, &n);
    assert_int_equal(n, 0);
    p = ta_tok_stream_push(s, -7, &n);
    assert_int_equal(n, 0);
    ta_tok_stream_free(s);
    s = ta_tok_stream_new(toks[SPM_LLAMA], TA_TOK_DECODE_SPECIAL);
    p = ta_tok_stream_push(s, 2, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(p, "</s>", 4);
    ta_tok_stream_free(s);

    /* pieces */
    p = ta_tok_piece(toks[SPM_LLAMA], a41, false, &n);
    assert_int_equal(n, 1);
    assert_int_equal(p[0], 'A');
    p = ta_tok_piece(toks[SPM_LLAMA], 1, false, &n);
    assert_int_equal(n, 0);
    p = ta_tok_piece(toks[SPM_LLAMA], 1, true, &n);
    assert_int_equal(n, 3);
    p = ta_tok_piece(toks[BPE_GPT2], ta_tok_find(toks[BPE_GPT2], "\xC4\xA0the", 5), false, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(p, " the", 4);
}

/* ---- invalid input ---- */

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xFF",      "\xC0\x80",     "\xED\xA0\x80",         "\xF4\x90\x80\x80", "\xE2\x82",
        "a\x80\x62", "\xF0\x9F\x98", "\xF8\x88\x80\x80\x80", "<|im_start|\xFF>",
    };
    for (int v = 0; v < NV; v++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            ta_tok_ids ids = encs(v, bad[i], true, true);
            size_t n;
            char *back = dec(v, &ids, 0, &n);
            /* BPE and WPM see U+FFFD in place of invalid bytes: valid text comes back */
            if (ta_tok_get_kind(toks[v]) != TA_TOK_SPM) assert_true(valid_utf8(back, n));
            free(back);
            ta_tok_ids_free(&ids);
        }
        /* NUL bytes are ordinary bytes */
        ta_tok_ids z = enc(v, "a\0b", 3, false, false);
        if (v != WPM_BGE) assert_true(z.len >= 2);
        ta_tok_ids_free(&z);
        /* random bytes */
        for (int it = 0; it < 50; it++) {
            char buf[256];
            size_t n = rnd() % sizeof buf;
            for (size_t i = 0; i < n; i++)
                buf[i] = (char)(rnd() & 0xFF);
            ta_tok_ids ids = enc(v, buf, n, rnd() & 1, rnd() & 1);
            for (size_t i = 0; i < ids.len; i++) {
                assert_true(ids.ids[i] >= 0);
                assert_true((size_t)ids.ids[i] < ta_tok_vocab_size(toks[v]));
            }
            size_t m;
            free(dec(v, &ids, TA_TOK_DECODE_SPECIAL | TA_TOK_DECODE_CLEAN_SPACES, &m));
            ta_tok_ids_free(&ids);
        }
    }
    /* BPE: an invalid byte encodes like U+FFFD */
    ta_tok_ids a = encs(BPE_GPT2, "x\xFFy", false, false);
    ta_tok_ids b = encs(BPE_GPT2, "x\xEF\xBF\xBDy", false, false);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.ids, b.ids, a.len * sizeof *a.ids);
    ta_tok_ids_free(&a);
    ta_tok_ids_free(&b);
}

/* ---- metadata errors ---- */

/* Writes a GGUF with the "tokenizer.ggml." keys of vocab v, changed by edit. */
static ta_tokenizer *build_variant(int v, void (*edit)(ta_gguf_writer *, const ta_gguf *),
                                   ta_error *err)
{
    char path[1024], tmp[] = "/tmp/tabagent-tok-XXXXXX";
    vocab_path(path, sizeof path, vocab_names[v], "");
    ta_gguf *g = ta_gguf_open(path, err);
    assert_non_null(g);
    ta_gguf_writer *w = ta_gguf_writer_new();
    assert_non_null(w);
    edit(w, g);
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ta_gguf_writer_write(w, tmp, err), 0);
    ta_gguf_writer_free(w);
    ta_gguf_close(g);
    ta_gguf *g2 = ta_gguf_open(tmp, err);
    assert_non_null(g2);
    ta_tokenizer *t = ta_tokenizer_from_gguf(g2, err);
    ta_gguf_close(g2);
    unlink(tmp);
    return t;
}

static void edit_no_merges(ta_gguf_writer *w, const ta_gguf *g)
{
    ta_gguf_writer_copy_kv(w, g, "tokenizer.ggml.model");
    ta_gguf_writer_copy_kv(w, g, "tokenizer.ggml.tokens");
}

static void edit_t5(ta_gguf_writer *w, const ta_gguf *g)
{
    ta_gguf_writer_copy_kv(w, g, "tokenizer.ggml.");
    ta_gguf_writer_set_str(w, "tokenizer.ggml.model", "t5", 2);
}

static void edit_unknown_pre(ta_gguf_writer *w, const ta_gguf *g)
{
    ta_gguf_writer_copy_kv(w, g, "tokenizer.ggml.");
    ta_gguf_writer_set_str(w, "tokenizer.ggml.pre", "no-such-pre", 11);
    ta_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    ta_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", true);
}

static void edit_no_tokens(ta_gguf_writer *w, const ta_gguf *g)
{
    (void)g;
    ta_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", 5);
}

static void edit_bad_scores(ta_gguf_writer *w, const ta_gguf *g)
{
    ta_gguf_writer_copy_kv(w, g, "tokenizer.ggml.");
    float s[3] = {0};
    ta_gguf_writer_set_array(w, "tokenizer.ggml.scores", TA_GGUF_F32, s, 3);
}

static void edit_bad_ids(ta_gguf_writer *w, const ta_gguf *g)
{
    ta_gguf_writer_copy_kv(w, g, "tokenizer.ggml.");
    ta_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1000000);
    ta_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false);
}

static void edit_squeeze(ta_gguf_writer *w, const ta_gguf *g)
{
    ta_gguf_writer_copy_kv(w, g, "tokenizer.ggml.");
    ta_gguf_writer_set_bool(w, "tokenizer.ggml.remove_extra_whitespaces", true);
}

static void test_metadata_errors(void **state)
{
    (void)state;
    ta_error err = {0};
    assert_null(build_variant(BPE_GPT2, edit_no_merges, &err));
    assert_int_equal(err.code, TA_EINVAL);
    assert_non_null(strstr(err.message, "tokenizer.ggml.merges"));

    assert_null(build_variant(SPM_LLAMA, edit_t5, &err));
    assert_non_null(strstr(err.message, "t5"));

    assert_null(build_variant(SPM_LLAMA, edit_no_tokens, &err));
    assert_non_null(strstr(err.message, "tokenizer.ggml.tokens"));

    assert_null(build_variant(SPM_LLAMA, edit_bad_scores, &err));
    assert_non_null(strstr(err.message, "tokenizer.ggml.scores"));

    assert_null(ta_tokenizer_from_gguf(NULL, &err));

    /* An unknown pre-tokenizer falls back to "default"; the add_* flags are honoured. */
    ta_tokenizer *t = build_variant(BPE_GPT2, edit_unknown_pre, &err);
    assert_non_null(t);
    assert_string_equal(ta_tok_pre_name(t), "default");
    ta_tok_ids ids = {0};
    assert_int_equal(ta_tok_encode(t, "Hello world", 11, true, false, &ids, &err), 0);
    assert_true(ids.len >= 3);
    assert_int_equal(ids.ids[0], 50256);
    assert_int_equal(ids.ids[ids.len - 1], 50256);
    ta_tok_ids_free(&ids);
    ta_tokenizer_free(t);

    /* An out-of-range special id keeps the default; add_space_prefix=false is read. */
    t = build_variant(SPM_LLAMA, edit_bad_ids, &err);
    assert_non_null(t);
    assert_int_equal(ta_tok_bos(t), 1);
    assert_int_equal(ta_tok_encode(t, "Hello", 5, false, false, &ids, &err), 0);
    ta_tok_ids ref = encs(SPM_LLAMA, "Hello", false, false);
    assert_true(ids.len != ref.len || ids.ids[0] != ref.ids[0]); /* no "▁Hello" */
    ta_tok_ids_free(&ids);
    ta_tok_ids_free(&ref);
    ta_tokenizer_free(t);

    /* SPM remove_extra_whitespaces: runs of spaces collapse, ends are trimmed. */
    t = build_variant(SPM_LLAMA, edit_squeeze, &err);
    assert_non_null(t);
    assert_int_equal(ta_tok_encode(t, "   Hello    big  world  ", 24, false, false, &ids, &err), 0);
    ref = encs(SPM_LLAMA, "Hello big world", false, false);
    assert_int_equal(ids.len, ref.len);
    assert_memory_equal(ids.ids, ref.ids, ids.len * sizeof *ids.ids);
    ta_tok_ids_free(&ids);
    ta_tok_ids_free(&ref);
    ta_tokenizer_free(t);
}

/* ---- every pre-tokenizer family ---- */

static const char *variant_pre;

static void edit_pre(ta_gguf_writer *w, const ta_gguf *g)
{
    ta_gguf_writer_copy_kv(w, g, "tokenizer.ggml.");
    ta_gguf_writer_set_str(w, "tokenizer.ggml.pre", variant_pre, strlen(variant_pre));
}

/* ids(a + b) == ids(a) ++ ids(b): the pre-tokenizer cuts between a and b. */
static void expect_cut(ta_tokenizer *t, const char *a, const char *b)
{
    char ab[256];
    snprintf(ab, sizeof ab, "%s%s", a, b);
    ta_tok_ids x = {0}, y = {0};
    ta_error err;
    assert_int_equal(ta_tok_encode(t, ab, strlen(ab), false, false, &x, &err), 0);
    assert_int_equal(ta_tok_encode(t, a, strlen(a), false, false, &y, &err), 0);
    assert_int_equal(ta_tok_encode(t, b, strlen(b), false, false, &y, &err), 0);
    if (x.len != y.len || memcmp(x.ids, y.ids, x.len * sizeof *x.ids) != 0)
        fail_msg("%s: \"%s\" is not cut before \"%s\"", variant_pre, a, b);
    ta_tok_ids_free(&x);
    ta_tok_ids_free(&y);
}

static void test_pre_tokenizers(void **state)
{
    (void)state;
    static const char *const pres[] = {
        "default",        "llama3",      "llama-bpe",   "dbrx",      "smaug-bpe",  "deepseek-llm",
        "deepseek-coder", "deepseek-v3", "falcon",      "starcoder", "refact",     "command-r",
        "smollm",         "exaone",      "minerva-7b",  "gpt-2",     "phi-2",      "mpt",
        "olmo",           "jais",        "trillion",    "qwen2",     "stablelm2",  "bloom",
        "gpt3-finnish",   "poro-chat",   "chatglm-bpe", "viking",    "tekken",     "chameleon",
        "gpt-4o",         "llama4",      "pixtral",     "superbpe",  "bailingmoe", "seed-coder",
    };
    static const char text[] =
        "Hello WORLD, I'm here!  It's 12345 o'clock\n\n  \t x = [1, 2]; // \xE6\x88\x91\xE6"
        "\x83\xB3 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xF0\x9F\x98\x81 <sentinel:12> "
        "IMGIMGABZ   ";
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
        variant_pre = pres[i];
        ta_error err = {0};
        ta_tokenizer *t = build_variant(BPE_GPT2, edit_pre, &err);
        if (!t) fail_msg("pre-tokenizer %s: %s", pres[i], err.message);
        assert_string_equal(ta_tok_pre_name(t), pres[i]);
        ta_tok_ids ids = {0};
        assert_int_equal(ta_tok_encode(t, text, sizeof text - 1, false, false, &ids, &err), 0);
        size_t n;
        char *back = ta_tok_decode(t, ids.ids, ids.len, 0, &n, &err);
        assert_non_null(back);
        if (n != sizeof text - 1 || memcmp(back, text, n) != 0)
            fail_msg("pre-tokenizer %s does not round-trip", pres[i]);
        free(back);
        ta_tok_ids_free(&ids);

        if (!strcmp(pres[i], "superbpe")) { /* digits in threes from the right */
            expect_cut(t, "1", "234567");
            expect_cut(t, "1234", "567");
            expect_cut(t, "x ", "12");
        }
        if (!strcmp(pres[i], "deepseek-llm")) /* "\s+$": the trailing run is its own piece */
            expect_cut(t, "1", "    ");
        if (!strcmp(pres[i], "llama3")) expect_cut(t, "123", "456");
        if (!strcmp(pres[i], "qwen2")) expect_cut(t, "1", "2");
        ta_tokenizer_free(t);
    }
}

/* ---- long inputs ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_long_inputs(void **state)
{
    (void)state;
    const size_t n = 1 << 20;
    static const char para[] =
        "The quick brown fox jumps over the lazy dog. I've seen 3.14159 of them, y'all!\n"
        "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xE6\x88\x91\xE6\x83\xB3 Caf\xC3\xA9 "
        "\xF0\x9F\x98\x81   def f(x):\n\treturn x**2\n\n";
    char *texts[3];
    static const char *const names[3] = {"paragraphs", "no spaces", "one char"};
    for (int k = 0; k < 3; k++)
        texts[k] = malloc(n);
    for (size_t i = 0; i < n; i++) {
        texts[0][i] = para[i % (sizeof para - 1)];
        texts[1][i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7 + i / 13) % 36];
        texts[2][i] = 'a';
    }
    double worst = 0;
    for (int v = 0; v < NV; v++) {
        for (int k = 0; k < 3; k++) {
            double t0 = now();
            ta_tok_ids ids = enc(v, texts[k], n, false, false);
            double dt = now() - t0;
            printf("%-15s 1 MiB %-10s %8zu ids %.3f s\n", vocab_names[v], names[k], ids.len, dt);
            if (dt > worst) worst = dt;
            assert_true(ids.len > 0);
            /* Generous (sanitizer builds run it too): a quadratic algorithm would take hours
             * on 1 MiB, so any bound in seconds catches one. */
            assert_true(dt < 10.0);
            ta_tok_ids_free(&ids);
        }
    }
    printf("slowest 1 MiB encode: %.3f s\n", worst);
    for (int k = 0; k < 3; k++)
        free(texts[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_llama_spm),
        cmocka_unit_test(test_reference_llama_bpe),
        cmocka_unit_test(test_reference_qwen2),
        cmocka_unit_test(test_reference_phi3),
        cmocka_unit_test(test_reference_gpt2),
        cmocka_unit_test(test_reference_bert_bge),
        cmocka_unit_test(test_reference_deepseek_coder),
        cmocka_unit_test(test_reference_falcon),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_add_special),
        cmocka_unit_test(test_parse_special),
        cmocka_unit_test(test_eog),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_metadata_errors),
        cmocka_unit_test(test_pre_tokenizers),
        cmocka_unit_test(test_long_inputs),
    };
    return cmocka_run_group_tests_name("tokenizer", tests, load_all, free_all);
}
