/*
 * tok_bpe.c - byte-level BPE ("gpt2" vocabularies: Llama 3, Qwen2, GPT-2, DeepSeek,
 * Falcon, StarCoder, ...): the pre-tokenizer that splits text into words, and the
 * merging of each word ranked by tokenizer.ggml.merges.
 *
 * Pre-tokenizer. Each family (tokenizer.ggml.pre) is a list of regexes applied in turn:
 * every regex splits each piece left by the previous one into its matches and the gaps
 * between them (both kept), exactly as llama.cpp's unicode_regex_split. The regexes are
 * llama.cpp's (and so the Hugging Face tokenizer.json ones), run by PCRE2 (JIT) on the
 * text with invalid UTF-8 replaced by U+FFFD. Two deliberate details:
 *   - \s means the Unicode White_Space set, \d means [0-9]: what llama.cpp's std::regex
 *     path matches (it maps non-ASCII whitespace to \v before matching).
 *   - Each piece is matched as its own subject, so lookaheads and $ stop at its end.
 *   - tekken and gpt-4o/llama4 use the original Hugging Face patterns with \p{Lu}/\p{Ll}
 *     classes (llama.cpp approximates them with lookaheads because std::regex lacks
 *     those classes).
 *   - "\s+$" (deepseek-llm) and the digit-triple lookahead of superbpe would backtrack
 *     quadratically on long runs; they are implemented by hand with the same result.
 *
 * Merging. A word's bytes become byte-level characters (GPT-2's byte-to-unicode map);
 * adjacent pairs that appear in the merge list go on a heap ordered by merge rank
 * (leftmost first on ties); the best pair merges until none is left (llama.cpp's
 * llm_tokenizer_bpe). Symbols are ids in the tokenizer's string table, and each merge
 * "a b" is stored as (id(a), id(b)) -> (rank, id(ab)), so a step is one hash probe.
 * A final symbol that is not a token is emitted byte by byte (tokens whose text is that
 * single byte; others are dropped, as llama.cpp does).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ---- pre-tokenizer patterns ---- */

/* clang-format off */

/* GPT-2's split. */
#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
/* Case-insensitive English contractions, spelled out (llama.cpp's form). */
#define RX_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
/* The usual tail: punctuation runs, newlines, whitespace. */
#define RX_TAIL     "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_TAIL_SL  "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_LLAMA3   RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" RX_TAIL
#define RX_QWEN2    RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" RX_TAIL
#define RX_BLOOM    " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"
#define RX_CJK_KO   "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* Upper-then-lower letter runs (tekken, gpt-4o). */
#define RX_UPPER "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]"
#define RX_LOWER "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]"
#define RX_PRE   "[^\\r\\n\\p{L}\\p{N}]?"

/* Hand-written splitters for patterns PCRE2 would run in quadratic time. */
#define RX_CUSTOM_TRAILING_SPACE "\\s+$"
#define RX_CUSTOM_DIGIT_TRIPLES  "(?=(\\d{3})+(?!\\d))"

static const char *const rx_default[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL};
static const char *const rx_llama3[] = {RX_LLAMA3, NULL};
static const char *const rx_deepseek_llm[] = {
    "[\r\n]",
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}"
    "\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}"
    "\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}"
    "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}"
    "\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}"
    "\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"
    "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}"
    "\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}"
    "\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}"
    "\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}"
    "\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}"
    "\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}"
    "\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
    RX_CUSTOM_TRAILING_SPACE,
    RX_CJK_KO,
    "\\p{N}+",
    NULL};
static const char *const rx_deepseek3[] = {
    "\\p{N}{1,3}",
    "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"
    "|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
    "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const rx_deepseek_coder[] = {
    "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RX_CJK_KO, "\\p{N}", NULL};
static const char *const rx_falcon[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]", NULL};
static const char *const rx_starcoder[] = {"\\p{N}", RX_GPT2, NULL};
static const char *const rx_gpt2[] = {RX_GPT2, NULL};
static const char *const rx_qwen2[] = {RX_QWEN2, NULL};
static const char *const rx_bloom[] = {RX_BLOOM, NULL};
static const char *const rx_viking[] = {RX_BLOOM, "\\p{N}", NULL};
static const char *const rx_tekken[] = {
    RX_PRE RX_UPPER "*" RX_LOWER "+"
    "|" RX_PRE RX_UPPER "+" RX_LOWER "*"
    "|\\p{N}" RX_TAIL_SL,
    NULL};
static const char *const rx_chameleon[] = {
    "<sentinel:[0-9]+>",
    "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
    "([\\t\\n]|    |  )",
    "\\p{N}",
    "[\\p{P}!-/:-@\\[-`{-~]",
    RX_GPT2,
    NULL};
static const char *const rx_gpt4o[] = {
    RX_PRE RX_UPPER "*" RX_LOWER "+" RX_CONTRACTIONS "?"
    "|" RX_PRE RX_UPPER "+" RX_LOWER "*" RX_CONTRACTIONS "?"
    "|\\p{N}{1,3}" RX_TAIL_SL,
    NULL};
static const char *const rx_superbpe[] = {"\\p{N}+", RX_CUSTOM_DIGIT_TRIPLES, NULL};
static const char *const rx_bailingmoe[] = {
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const rx_seed_coder[] = {
    RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}"
    "| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};

/* clang-format on */

static const char *const *const rx_sets[TOK_PRE_COUNT] = {
    [TOK_PRE_DEFAULT] = rx_default,
    [TOK_PRE_LLAMA3] = rx_llama3,
    [TOK_PRE_DEEPSEEK_LLM] = rx_deepseek_llm,
    [TOK_PRE_DEEPSEEK3] = rx_deepseek3,
    [TOK_PRE_DEEPSEEK_CODER] = rx_deepseek_coder,
    [TOK_PRE_FALCON] = rx_falcon,
    [TOK_PRE_STARCODER] = rx_starcoder,
    [TOK_PRE_GPT2] = rx_gpt2,
    [TOK_PRE_QWEN2] = rx_qwen2,
    [TOK_PRE_BLOOM] = rx_bloom,
    [TOK_PRE_CHATGLM4] = rx_llama3,
    [TOK_PRE_VIKING] = rx_viking,
    [TOK_PRE_TEKKEN] = rx_tekken,
    [TOK_PRE_CHAMELEON] = rx_chameleon,
    [TOK_PRE_GPT4O] = rx_gpt4o,
    [TOK_PRE_SUPERBPE] = rx_superbpe,
    [TOK_PRE_BAILINGMOE] = rx_bailingmoe,
    [TOK_PRE_SEED_CODER] = rx_seed_coder,
};

/* tokenizer.ggml.pre names (llama.cpp's list) -> family and flags. */
enum { F_IGNORE_MERGES = 1, F_ADD_BOS = 2, F_NO_CLEAN = 4, F_ADD_SEP = 8, F_NO_BOS = 16 };
static const struct {
    const char *name;
    tok_pre pre;
    unsigned flags;
} pre_names[] = {
    {"default", TOK_PRE_DEFAULT, 0},
    {"llama3", TOK_PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"llama-v3", TOK_PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"llama-bpe", TOK_PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"falcon3", TOK_PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"falcon-h1", TOK_PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"pixtral", TOK_PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"midm-2.0", TOK_PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"lfm2", TOK_PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"dbrx", TOK_PRE_LLAMA3, 0},
    {"smaug-bpe", TOK_PRE_LLAMA3, 0},
    {"deepseek-llm", TOK_PRE_DEEPSEEK_LLM, F_NO_CLEAN},
    {"deepseek-coder", TOK_PRE_DEEPSEEK_CODER, F_NO_CLEAN},
    {"deepseek-v3", TOK_PRE_DEEPSEEK3, F_NO_CLEAN},
    {"hunyuan-dense", TOK_PRE_DEEPSEEK3, F_NO_CLEAN},
    {"falcon", TOK_PRE_FALCON, 0},
    {"mpt", TOK_PRE_GPT2, 0},
    {"olmo", TOK_PRE_GPT2, 0},
    {"jais", TOK_PRE_GPT2, 0},
    {"gpt-2", TOK_PRE_GPT2, 0},
    {"phi-2", TOK_PRE_GPT2, 0},
    {"jina-es", TOK_PRE_GPT2, 0},
    {"jina-de", TOK_PRE_GPT2, 0},
    {"gigachat", TOK_PRE_GPT2, 0},
    {"jina-v2-es", TOK_PRE_GPT2, 0},
    {"jina-v2-de", TOK_PRE_GPT2, 0},
    {"a.x-4.0", TOK_PRE_GPT2, 0},
    {"mellum", TOK_PRE_GPT2, 0},
    {"exaone4", TOK_PRE_GPT2, 0},
    {"jina-v1-en", TOK_PRE_GPT2, F_ADD_SEP},
    {"jina-v2-code", TOK_PRE_GPT2, F_ADD_SEP},
    {"roberta-bpe", TOK_PRE_GPT2, F_ADD_SEP},
    {"trillion", TOK_PRE_GPT2, F_NO_CLEAN},
    {"granite-docling", TOK_PRE_GPT2, F_NO_CLEAN},
    {"starcoder", TOK_PRE_STARCODER, 0},
    {"refact", TOK_PRE_STARCODER, 0},
    {"command-r", TOK_PRE_STARCODER, F_NO_CLEAN},
    {"smollm", TOK_PRE_STARCODER, F_NO_CLEAN},
    {"codeshell", TOK_PRE_STARCODER, 0},
    {"exaone", TOK_PRE_STARCODER, 0},
    {"minerva-7b", TOK_PRE_STARCODER, 0},
    {"qwen2", TOK_PRE_QWEN2, F_NO_CLEAN},
    {"deepseek-r1-qwen", TOK_PRE_QWEN2, F_NO_CLEAN},
    {"kormo", TOK_PRE_QWEN2, F_NO_CLEAN},
    {"megrez", TOK_PRE_QWEN2, 0},
    {"stablelm2", TOK_PRE_QWEN2, 0},
    {"hunyuan", TOK_PRE_QWEN2, F_NO_CLEAN},
    {"grok-2", TOK_PRE_QWEN2, F_NO_CLEAN},
    {"poro-chat", TOK_PRE_BLOOM, F_NO_CLEAN},
    {"bloom", TOK_PRE_BLOOM, 0},
    {"gpt3-finnish", TOK_PRE_BLOOM, 0},
    {"chatglm-bpe", TOK_PRE_CHATGLM4, F_NO_BOS},
    {"glm4", TOK_PRE_CHATGLM4, F_NO_BOS},
    {"viking", TOK_PRE_VIKING, F_NO_CLEAN},
    {"tekken", TOK_PRE_TEKKEN, F_NO_CLEAN | F_IGNORE_MERGES | F_ADD_BOS},
    {"chameleon", TOK_PRE_CHAMELEON, F_ADD_BOS | F_NO_CLEAN},
    {"gpt-4o", TOK_PRE_GPT4O, F_NO_CLEAN},
    {"llama4", TOK_PRE_GPT4O, F_NO_CLEAN},
    {"minimax-m2", TOK_PRE_GPT4O, F_NO_CLEAN},
    {"superbpe", TOK_PRE_SUPERBPE, F_NO_CLEAN},
    {"bailingmoe", TOK_PRE_BAILINGMOE, F_NO_CLEAN},
    {"bailingmoe2", TOK_PRE_BAILINGMOE, F_NO_CLEAN},
    {"llada-moe", TOK_PRE_BAILINGMOE, F_NO_CLEAN},
    {"seed-coder", TOK_PRE_SEED_CODER, F_NO_CLEAN},
};

bool tok_pre_lookup(const char *name, tok_pre *pre, bool *ignore_merges, bool *add_bos,
                    bool *clean_spaces, bool *add_sep, bool *no_bos)
{
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
        if (strcmp(pre_names[i].name, name) != 0) continue;
        unsigned f = pre_names[i].flags;
        *pre = pre_names[i].pre;
        *ignore_merges = f & F_IGNORE_MERGES;
        *add_bos = f & F_ADD_BOS;
        *clean_spaces = !(f & F_NO_CLEAN);
        *add_sep = f & F_ADD_SEP;
        *no_bos = f & F_NO_BOS;
        return true;
    }
    return false;
}

/* ---- compiled regexes ---- */

typedef enum { RX_PCRE, RX_TRAILING_SPACE, RX_DIGIT_TRIPLES } rx_kind;

struct tok_regex {
    rx_kind kind;
    pcre2_code *code;
};

/* The White_Space set, for use inside a character class. */
#define WS_CLASS                                                                                   \
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"          \
    "\\x{205F}\\x{3000}"

/* Rewrites \s, \S and \d into explicit classes (see the file comment). */
static int translate(const char *src, tok_buf *out)
{
    bool in_class = false;
    for (size_t i = 0; src[i]; i++) {
        char c = src[i];
        int rc = 0;
        if (c == '\\' && src[i + 1]) {
            char e = src[++i];
            if (e == 's')
                rc = in_class ? tok_buf_put(out, WS_CLASS, strlen(WS_CLASS))
                              : tok_buf_put(out, "[" WS_CLASS "]", strlen("[" WS_CLASS "]"));
            else if (e == 'S' && !in_class)
                rc = tok_buf_put(out, "[^" WS_CLASS "]", strlen("[^" WS_CLASS "]"));
            else if (e == 'd')
                rc = in_class ? tok_buf_put(out, "0-9", 3) : tok_buf_put(out, "[0-9]", 5);
            else {
                char esc[2] = {'\\', e};
                rc = tok_buf_put(out, esc, 2);
            }
        } else {
            if (c == '[' && !in_class) {
                in_class = true;
                rc = tok_buf_put(out, "[", 1);
                if (!rc && src[i + 1] == '^') rc = tok_buf_put(out, "^", 1), i++;
            } else {
                if (c == ']' && in_class) in_class = false;
                rc = tok_buf_put(out, &c, 1);
            }
        }
        if (rc) return rc;
    }
    return 0;
}

static int compile_regexes(ta_tokenizer *t, ta_error *err)
{
    const char *const *set = rx_sets[t->pre];
    size_t n = 0;
    while (set[n])
        n++;
    t->regexes = calloc(n, sizeof *t->regexes);
    if (!t->regexes) return ta_error_set(err, TA_ENOMEM, "out of memory");
    t->n_regexes = n;
    for (size_t i = 0; i < n; i++) {
        struct tok_regex *rx = &t->regexes[i];
        if (!strcmp(set[i], RX_CUSTOM_TRAILING_SPACE)) {
            rx->kind = RX_TRAILING_SPACE;
            continue;
        }
        if (!strcmp(set[i], RX_CUSTOM_DIGIT_TRIPLES)) {
            rx->kind = RX_DIGIT_TRIPLES;
            continue;
        }
        tok_buf pat = {0};
        if (translate(set[i], &pat)) {
            free(pat.p);
            return ta_error_set(err, TA_ENOMEM, "out of memory");
        }
        int code;
        PCRE2_SIZE where;
        rx->kind = RX_PCRE;
        rx->code = pcre2_compile((PCRE2_SPTR)pat.p, pat.len, PCRE2_UTF | PCRE2_NO_AUTO_CAPTURE,
                                 &code, &where, NULL);
        free(pat.p);
        if (!rx->code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            return ta_error_set(err, TA_EINTERNAL,
                                "pre-tokenizer %s: regex %zu does not compile at %zu: %s",
                                t->pre_name, i, (size_t)where, (const char *)msg);
        }
        pcre2_jit_compile(rx->code, PCRE2_JIT_COMPLETE); /* interpreted when JIT is absent */
    }
    return 0;
}

/* ---- merges and byte-level tables ---- */

static uint64_t merge_hash(uint64_t key)
{
    key ^= key >> 31;
    key *= 0x9E3779B97F4A7C15ull;
    key ^= key >> 29;
    return key;
}

static const tok_merge_slot *merge_find(const ta_tokenizer *t, int32_t l, int32_t r)
{
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    for (uint64_t i = merge_hash(key) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        const tok_merge_slot *s = &t->merges[i];
        if (s->rank < 0) return NULL;
        if (s->key == key) return s;
    }
}

static int load_merges(ta_tokenizer *t, const ta_gguf *g, ta_error *err)
{
    ta_gguf_vtype et;
    uint64_t n;
    if (!ta_gguf_get_array(g, "tokenizer.ggml.merges", &et, &n))
        return ta_error_set(err, TA_EINVAL,
                            "tokenizer.ggml.merges is missing (a gpt2 "
                            "tokenizer needs it)");
    if (et != TA_GGUF_STRING)
        return ta_error_set(err, TA_EINVAL, "tokenizer.ggml.merges is not a string array");
    if (n > (1u << 26))
        return ta_error_set(err, TA_EINVAL, "tokenizer.ggml.merges has %llu entries",
                            (unsigned long long)n);
    uint64_t slots = 1024;
    while (slots < 2 * n)
        slots *= 2;
    t->merges = malloc(slots * sizeof *t->merges);
    if (!t->merges) return ta_error_set(err, TA_ENOMEM, "out of memory for the merges");
    for (uint64_t i = 0; i < slots; i++)
        t->merges[i].rank = -1;
    t->merge_mask = slots - 1;

    tok_buf cat = {0};
    int rc = 0;
    for (uint64_t i = 0; i < n && !rc; i++) {
        ta_gguf_str s;
        if (!ta_gguf_array_str(g, "tokenizer.ggml.merges", i, &s)) {
            rc = ta_error_set(err, TA_EINVAL, "tokenizer.ggml.merges[%llu] is unreadable",
                              (unsigned long long)i);
            break;
        }
        /* "left right": the first space after the first byte separates the halves. */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', (size_t)s.len - 1) : NULL;
        if (!sp) continue;
        size_t ln = (size_t)(sp - s.ptr), rn = (size_t)s.len - ln - 1;
        if (!rn) continue;
        cat.len = 0;
        if (tok_buf_put(&cat, s.ptr, ln) || tok_buf_put(&cat, sp + 1, rn)) {
            rc = TA_ENOMEM;
            break;
        }
        int32_t l = tok_strtab_intern(&t->strs, s.ptr, ln);
        int32_t r = tok_strtab_intern(&t->strs, sp + 1, rn);
        int32_t res = tok_strtab_intern(&t->strs, cat.p, cat.len);
        if (l < 0 || r < 0 || res < 0) {
            rc = TA_ENOMEM;
            break;
        }
        uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
        uint64_t j = merge_hash(key) & t->merge_mask;
        while (t->merges[j].rank >= 0 && t->merges[j].key != key)
            j = (j + 1) & t->merge_mask;
        if (t->merges[j].rank >= 0) continue; /* a repeated pair keeps its first rank */
        t->merges[j] = (tok_merge_slot){key, (int32_t)i, res};
        t->n_merges++;
    }
    free(cat.p);
    if (rc == TA_ENOMEM) return ta_error_set(err, TA_ENOMEM, "out of memory for the merges");
    return rc;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68
 * bytes for U+0100.. in order. */
static void build_byte_tables(ta_tokenizer *t)
{
    int next = 256;
    for (int i = 0; i < 324; i++)
        t->byte_dec[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        uint32_t cp = printable ? (uint32_t)b : (uint32_t)next++;
        t->byte_enc_len[b] = (uint8_t)tok_utf8_encode(cp, t->byte_enc[b]);
        t->byte_dec[cp] = (int16_t)b;
        t->byte_sid[b] = tok_strtab_find(&t->strs, t->byte_enc[b], t->byte_enc_len[b]);
        char c = (char)b;
        int32_t id = tok_strtab_find(&t->strs, &c, 1);
        t->single_byte_token[b] = id < t->n_vocab ? id : -1;
    }
}

int tok_bpe_init(ta_tokenizer *t, const ta_gguf *g, ta_error *err)
{
    int rc = load_merges(t, g, err);
    if (rc) return rc;
    build_byte_tables(t);
    return compile_regexes(t, err);
}

void tok_bpe_free(ta_tokenizer *t)
{
    for (size_t i = 0; i < t->n_regexes; i++)
        pcre2_code_free(t->regexes[i].code);
    free(t->regexes);
    free(t->merges);
    t->regexes = NULL;
    t->merges = NULL;
}

int tok_bpe_decode_text(const ta_tokenizer *t, const char *s, size_t n, tok_buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tok_utf8_decode(u + i, n - i, &cp);
        if (k && cp < 324 && t->byte_dec[cp] >= 0) {
            char b = (char)t->byte_dec[cp];
            if (tok_buf_put(out, &b, 1)) return TA_ENOMEM;
        } else {
            /* Not a byte-level character: keep it as it is (llama.cpp writes an
             * "[UNK_BYTE_...]" marker instead). */
            if (!k) k = 1;
            if (tok_buf_put(out, s + i, k)) return TA_ENOMEM;
        }
        i += k;
    }
    return 0;
}

/* ---- splitting ---- */

typedef struct span {
    size_t off, len;
} span;

typedef struct span_list {
    span *v;
    size_t len, cap;
} span_list;

static int span_push(span_list *l, size_t off, size_t len)
{
    if (!len) return 0;
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        span *v = realloc(l->v, cap * sizeof *v);
        if (!v) return TA_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->len++] = (span){off, len};
    return 0;
}

/* Length of the UTF-8 character at s[i] (the text is valid UTF-8). */
static size_t char_len(const char *s, size_t i)
{
    return tok_utf8_len((unsigned char)s[i]);
}

/* Matches and gaps of one PCRE2 regex over the piece s[0, n) (offsets relative to base). */
static int split_pcre(const pcre2_code *code, pcre2_match_data *md, const char *s, size_t n,
                      size_t base, span_list *out)
{
    size_t pos = 0, prev = 0;
    uint32_t opts = 0;
    while (pos <= n) {
        int rc = pcre2_match(code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK | opts, md, NULL);
        if (rc < 0) {
            if (rc == PCRE2_ERROR_NOMATCH && opts) {
                /* No non-empty match right after an empty one: move one character on. */
                opts = 0;
                if (pos >= n) break;
                pos += char_len(s, pos);
                continue;
            }
            break; /* no more matches (or a match-limit error: the rest stays one piece) */
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (ms > prev && span_push(out, base + prev, ms - prev)) return TA_ENOMEM;
        if (me == ms) {
            /* Empty match (a lookahead): a split point; then look for a non-empty match
             * at the same place, as std::regex_iterator does. */
            prev = ms;
            pos = ms;
            opts = PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED;
            continue;
        }
        if (span_push(out, base + ms, me - ms)) return TA_ENOMEM;
        prev = pos = me;
        opts = 0;
    }
    return prev < n ? span_push(out, base + prev, n - prev) : 0;
}

/* "\s+$": the whitespace run that ends the piece, if any, becomes its own piece. */
static int split_trailing_space(const char *s, size_t n, size_t base, span_list *out)
{
    size_t ws_start = 0; /* start of the current whitespace run */
    bool in_ws = false;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tok_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (!k) k = 1, cp = 0xFFFD;
        bool ws = tok_is_whitespace(cp);
        if (ws && !in_ws) ws_start = i;
        in_ws = ws;
        i += k;
    }
    if (!in_ws) return span_push(out, base, n);
    if (span_push(out, base, ws_start)) return TA_ENOMEM;
    return span_push(out, base + ws_start, n - ws_start);
}

/* "(?=(\d{3})+(?!\d))": splits before every position from which a multiple of three
 * ASCII digits runs to the end of the digit run (1234567 -> 1 234 567). */
static int split_digit_triples(const char *s, size_t n, size_t base, span_list *out)
{
    size_t prev = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] < '0' || s[i] > '9') {
            i++;
            continue;
        }
        size_t a = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        for (size_t p = a + (i - a) % 3; p < i; p += 3) {
            if (p > prev && span_push(out, base + prev, p - prev)) return TA_ENOMEM;
            if (p > prev) prev = p;
        }
    }
    return span_push(out, base + prev, n - prev);
}

/* ---- merging one word ---- */

typedef struct bpe_sym {
    uint32_t off, len; /* in the byte-level text; len 0 = merged away */
    int32_t prev, next;
    int32_t sid;       /* string-table id of the symbol's text, -1 if it has none */
    int32_t merged;    /* sid of this symbol merged with its next, when pair_key is set */
    uint64_t pair_key; /* heap key of (this, next), UINT64_MAX when not a merge */
} bpe_sym;

typedef struct bpe_ctx {
    const ta_tokenizer *t;
    tok_buf enc; /* the word in byte-level characters */
    bpe_sym *sym;
    size_t sym_cap;
    tok_heap heap;
    ta_tok_ids *out;
} bpe_ctx;

/* Records (and queues) the pair symbol l forms with its next. */
static int bpe_pair(bpe_ctx *c, int32_t l)
{
    if (l < 0) return 0;
    bpe_sym *ls = &c->sym[l];
    ls->pair_key = UINT64_MAX;
    if (ls->next < 0) return 0;
    int32_t a = ls->sid, b = c->sym[ls->next].sid;
    if (a < 0 || b < 0) return 0;
    const tok_merge_slot *m = merge_find(c->t, a, b);
    if (!m) return 0;
    ls->pair_key = ((uint64_t)(uint32_t)m->rank << 32) | (uint32_t)l;
    ls->merged = m->result;
    return tok_heap_push(&c->heap, ls->pair_key);
}

static int bpe_word(bpe_ctx *c, const char *w, size_t n)
{
    const ta_tokenizer *t = c->t;
    c->enc.len = 0;
    if (tok_buf_reserve(&c->enc, 2 * n)) return TA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)w[i];
        memcpy(c->enc.p + c->enc.len, t->byte_enc[b], t->byte_enc_len[b]);
        c->enc.len += t->byte_enc_len[b];
    }
    if (t->ignore_merges) {
        int32_t id = tok_strtab_find(&t->strs, c->enc.p, c->enc.len);
        if (id >= 0 && id < t->n_vocab) return tok_ids_push(c->out, id);
    }
    if (n > c->sym_cap) {
        bpe_sym *s = realloc(c->sym, n * sizeof *s);
        if (!s) return TA_ENOMEM;
        c->sym = s;
        c->sym_cap = n;
    }
    uint32_t off = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)w[i];
        c->sym[i] =
            (bpe_sym){off, t->byte_enc_len[b], (int32_t)i - 1, (int32_t)i + 1, t->byte_sid[b],
                      -1,  UINT64_MAX};
        off += t->byte_enc_len[b];
    }
    c->sym[n - 1].next = -1;

    c->heap.len = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (bpe_pair(c, (int32_t)i)) return TA_ENOMEM;
    while (c->heap.len) {
        uint64_t key = tok_heap_pop(&c->heap);
        int32_t l = (int32_t)(key & 0xFFFFFFFFu);
        bpe_sym *ls = &c->sym[l];
        if (!ls->len || ls->pair_key != key) continue; /* stale: a side was merged since */
        bpe_sym *rs = &c->sym[ls->next];
        ls->len += rs->len;
        ls->sid = ls->merged;
        rs->len = 0;
        ls->next = rs->next;
        if (rs->next >= 0) c->sym[rs->next].prev = l;
        if (bpe_pair(c, ls->prev) || bpe_pair(c, l)) return TA_ENOMEM;
    }

    for (int32_t i = 0; i >= 0; i = c->sym[i].next) {
        const bpe_sym *s = &c->sym[i];
        if (s->sid >= 0 && s->sid < t->n_vocab) {
            if (tok_ids_push(c->out, s->sid)) return TA_ENOMEM;
            continue;
        }
        for (uint32_t k = 0; k < s->len; k++) {
            int32_t id = t->single_byte_token[(unsigned char)c->enc.p[s->off + k]];
            if (id >= 0 && tok_ids_push(c->out, id)) return TA_ENOMEM;
        }
    }
    return 0;
}

int tok_bpe_encode(const ta_tokenizer *t, const char *text, size_t len, ta_tok_ids *out)
{
    tok_buf clean = {0};
    span_list a = {0}, b = {0};
    bpe_ctx c = {.t = t, .out = out};
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc = md ? tok_utf8_sanitize(&clean, text, len) : TA_ENOMEM;
    if (!rc) rc = span_push(&a, 0, clean.len);

    for (size_t r = 0; r < t->n_regexes && !rc; r++) {
        const struct tok_regex *rx = &t->regexes[r];
        b.len = 0;
        for (size_t i = 0; i < a.len && !rc; i++) {
            const char *s = clean.p + a.v[i].off;
            size_t n = a.v[i].len;
            switch (rx->kind) {
            case RX_PCRE: rc = split_pcre(rx->code, md, s, n, a.v[i].off, &b); break;
            case RX_TRAILING_SPACE: rc = split_trailing_space(s, n, a.v[i].off, &b); break;
            case RX_DIGIT_TRIPLES: rc = split_digit_triples(s, n, a.v[i].off, &b); break;
            }
        }
        span_list tmp = a;
        a = b;
        b = tmp;
    }
    for (size_t i = 0; i < a.len && !rc; i++)
        rc = bpe_word(&c, clean.p + a.v[i].off, a.v[i].len);

    pcre2_match_data_free(md);
    free(clean.p);
    free(a.v);
    free(b.v);
    free(c.enc.p);
    free(c.sym);
    free(c.heap.v);
    return rc;
}
