/*
 * storage_bench.c - the memory database through its API against raw SQLite on the same
 * machine, as JSON lines:
 *   - messages/s with one transaction per message, and in batches of 1000
 *     (ta_store_messages_add), each without and with the full-text indexing of what was
 *     written (ta_store_fts_sync right after the load, timed on its own);
 *   - point reads of messages by id per second on 1 and 2 threads, a connection per
 *     thread: ta_store_message_view inside ta_store_read_begin/end (the fast path) and
 *     ta_store_message_get (JSON);
 *   - full-text query latency (two Zipf-drawn words, top 10) over the whole corpus:
 *     p50, p99, max and the first query after the load, every query counted.
 * The raw SQLite side opens its file with the same pragmas as the API and writes rows
 * (id, chat_id, content), one transaction per row or per 1000, then the same rows with
 * an FTS5 entry each in the same transaction, reads rows back by id, and runs the same
 * queries with the same query form on its FTS5 table. Texts are generated before each
 * timed loop, so neither side pays for the generator.
 *
 * Usage: storage_bench [--messages N] [--batched N] [--reads N] [--queries N]
 *                      [--slow-ms X: print queries slower than X ms to stderr]
 */
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage.h"

/* The pragmas of ta_store_open (storage.c), for the raw side. */
#define RAW_PRAGMAS                                                                                \
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384;"          \
    "PRAGMA mmap_size = 268435456;"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* A word of a 20,000-word vocabulary, log-uniformly drawn (Zipf-like: a few words are
 * everywhere, most are rare), as text "w<rank>". */
static void word(char *out, size_t cap)
{
    double u = (double)(next() % 1000000) / 1e6;
    snprintf(out, cap, "w%u", (unsigned)pow(20000.0, u));
}

enum { TEXT = 128 }; /* a text slot: about 100 bytes of words */

static void sentence(char *out)
{
    size_t o = 0;
    char w[16];
    while (o < 100) {
        word(w, sizeof w);
        o += (size_t)snprintf(out + o, TEXT - o, "%s%s", o ? " " : "", w);
    }
}

/* n texts of TEXT bytes each, generated before a timed loop. */
static char *texts(long n)
{
    char *t = malloc((size_t)(n > 0 ? n : 1) * TEXT);
    if (!t) exit(1);
    for (long i = 0; i < n; i++)
        sentence(t + (size_t)i * TEXT);
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    const char *dir;
    const char *raw;
    int64_t max_id;
    long n;
    double rate;
} reader;

static void *read_view(void *arg)
{
    reader *r = arg;
    ta_error err;
    ta_store *s = ta_store_open(r->dir, &err);
    if (!s) return NULL;
    uint64_t x = (uint64_t)(uintptr_t)r | 1;
    size_t sum = 0;
    double t0 = now_s();
    ta_store_read_begin(s, &err); /* as the raw side: one read transaction */
    for (long i = 0; i < r->n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ta_message_view v;
        if (!ta_store_message_view(s, (int64_t)(x % (uint64_t)r->max_id) + 1, &v, &err))
            sum += (unsigned char)v.content[0] + v.content_len;
    }
    ta_store_read_end(s);
    r->rate = (double)r->n / (now_s() - t0);
    ta_store_close(s);
    return sum ? NULL : r;
}

static void *read_json(void *arg)
{
    reader *r = arg;
    ta_error err;
    ta_store *s = ta_store_open(r->dir, &err);
    if (!s) return NULL;
    uint64_t x = (uint64_t)(uintptr_t)r | 1;
    double t0 = now_s();
    ta_store_read_begin(s, &err);
    for (long i = 0; i < r->n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        json_decref(ta_store_message_get(s, (int64_t)(x % (uint64_t)r->max_id) + 1, &err));
    }
    ta_store_read_end(s);
    r->rate = (double)r->n / (now_s() - t0);
    ta_store_close(s);
    return NULL;
}

static void *read_raw(void *arg)
{
    reader *r = arg;
    sqlite3 *db;
    sqlite3_open_v2(r->raw, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    sqlite3_exec(db, RAW_PRAGMAS, NULL, NULL, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT id, chat_id, content FROM rows WHERE id = ?", -1, &st, NULL);
    uint64_t x = (uint64_t)(uintptr_t)r | 1;
    size_t sum = 0;
    double t0 = now_s();
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (long i = 0; i < r->n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        sqlite3_bind_int64(st, 1, (int64_t)(x % (uint64_t)r->max_id) + 1);
        if (sqlite3_step(st) == SQLITE_ROW)
            sum += *sqlite3_column_text(st, 2) + (size_t)sqlite3_column_bytes(st, 2);
        sqlite3_reset(st);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    r->rate = (double)r->n / (now_s() - t0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return sum ? NULL : r;
}

static double reads(void *(*fn)(void *), const char *dir, const char *raw, int64_t max_id, long n,
                    int threads)
{
    reader r[2];
    pthread_t th[2];
    for (int t = 0; t < threads; t++) {
        r[t] = (reader){dir, raw, max_id, n / threads, 0};
        pthread_create(&th[t], NULL, fn, &r[t]);
    }
    double sum = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        sum += r[t].rate;
    }
    return sum;
}

/* The queries: two words each, drawn as the texts' words are. */
static char (*make_queries(long n))[40]
{
    char(*q)[40] = malloc((size_t)(n > 0 ? n : 1) * sizeof *q);
    if (!q) exit(1);
    for (long i = 0; i < n; i++) {
        char w1[16], w2[16];
        word(w1, sizeof w1);
        word(w2, sizeof w2);
        snprintf(q[i], sizeof q[i], "%s %s", w1, w2);
    }
    return q;
}

typedef struct {
    double p50, p99, max, first;
} latencies;

static latencies summarize(double *lat, long n)
{
    latencies l = {0};
    if (n <= 0) return l;
    l.first = lat[0] * 1e3;
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    l.p50 = lat[n / 2] * 1e3;
    l.p99 = lat[(long)((double)n * 0.99)] * 1e3;
    l.max = lat[n - 1] * 1e3;
    return l;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "storage_bench: %s: %s\n", what, msg);
    exit(1);
}

int main(int argc, char **argv)
{
    long n_tx = 20000, n_batched = 100000, n_reads = 200000, n_queries = 1000;
    double slow_ms = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        long v = atol(argv[i + 1]);
        if (!strcmp(argv[i], "--messages")) n_tx = v;
        if (!strcmp(argv[i], "--batched")) n_batched = v;
        if (!strcmp(argv[i], "--reads")) n_reads = v;
        if (!strcmp(argv[i], "--queries")) n_queries = v;
        if (!strcmp(argv[i], "--slow-ms")) slow_ms = atof(argv[i + 1]);
    }
    enum { BATCH = 1000 };
    n_batched = n_batched / BATCH * BATCH;
    char dir[] = "/tmp/ta-storage-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    ta_error err;
    ta_store *s = ta_store_open(dir, &err);
    if (!s) die("open", err.message);
    int64_t chat;
    if (ta_store_chat_create(s, "bench", "", &chat, &err)) die("chat", err.message);

    /* ours: a transaction per message, then the index of what it wrote */
    char *tx_texts = texts(n_tx);
    double t0 = now_s();
    for (long i = 0; i < n_tx; i++) {
        ta_message_in m = {.chat_id = chat,
                           .role = "user",
                           .content = tx_texts + (size_t)i * TEXT,
                           .token_count = -1};
        if (ta_store_message_add(s, &m, NULL, &err)) die("message_add", err.message);
    }
    double tx_s = now_s() - t0;
    t0 = now_s();
    if (ta_store_fts_sync(s, 0, &err) < 0) die("fts_sync", err.message);
    double tx_sync_s = now_s() - t0;

    /* ours: batches of 1000, then the index of what they left unindexed (if anything) */
    char *b_texts = texts(n_batched);
    static ta_message_in batch[BATCH];
    t0 = now_s();
    for (long i = 0; i < n_batched; i += BATCH) {
        for (int j = 0; j < BATCH; j++)
            batch[j] = (ta_message_in){.chat_id = chat,
                                       .role = "assistant",
                                       .content = b_texts + (size_t)(i + j) * TEXT,
                                       .token_count = -1};
        if (ta_store_messages_add(s, batch, BATCH, NULL, &err)) die("messages_add", err.message);
    }
    double b_s = now_s() - t0;
    t0 = now_s();
    if (ta_store_fts_sync(s, 0, &err) < 0) die("fts_sync", err.message);
    double b_sync_s = now_s() - t0;
    int64_t max_id = n_tx + n_batched;

    /* full-text queries, every one timed, the first right after the load */
    char(*queries)[40] = make_queries(n_queries);
    double *lat = malloc((size_t)(n_queries > 0 ? n_queries : 1) * sizeof *lat);
    for (long q = 0; q < n_queries; q++) {
        double a = now_s();
        json_t *hits = ta_store_search_text(s, queries[q], 0, 10, &err);
        lat[q] = now_s() - a;
        if (!hits) die("search", err.message);
        if (slow_ms > 0 && lat[q] * 1e3 > slow_ms)
            fprintf(stderr, "slow api query '%s': %.1f ms, %zu hits\n", queries[q], lat[q] * 1e3,
                    json_array_size(hits));
        json_decref(hits);
    }
    latencies api_q = summarize(lat, n_queries);
    ta_store_close(s);

    /* raw SQLite, the same pragmas */
    char raw[128];
    snprintf(raw, sizeof raw, "%s/raw.db", dir);
    sqlite3 *db;
    sqlite3_open_v2(raw, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                    NULL);
    sqlite3_exec(db,
                 RAW_PRAGMAS
                 "CREATE TABLE rows(id INTEGER PRIMARY KEY, chat_id INTEGER, content TEXT);"
                 "CREATE VIRTUAL TABLE rows_fts USING fts5(content, content='rows',"
                 " content_rowid='id');",
                 NULL, NULL, NULL);
    sqlite3_stmt *ins, *ins_fts, *begin, *commit;
    sqlite3_prepare_v2(db, "INSERT INTO rows(chat_id, content) VALUES (1, ?)", -1, &ins, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO rows_fts(rowid, content) VALUES (last_insert_rowid(), ?)",
                       -1, &ins_fts, NULL);
    sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL);
    sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL);
    t0 = now_s();
    for (long i = 0; i < n_tx; i++) {
        sqlite3_step(begin), sqlite3_reset(begin);
        sqlite3_bind_text(ins, 1, tx_texts + (size_t)i * TEXT, -1, SQLITE_STATIC);
        sqlite3_step(ins), sqlite3_reset(ins);
        sqlite3_step(commit), sqlite3_reset(commit);
    }
    double raw_tx = (double)n_tx / (now_s() - t0);
    t0 = now_s();
    for (long i = 0; i < n_batched; i += BATCH) {
        sqlite3_step(begin), sqlite3_reset(begin);
        for (int j = 0; j < BATCH; j++) {
            sqlite3_bind_text(ins, 1, b_texts + (size_t)(i + j) * TEXT, -1, SQLITE_STATIC);
            sqlite3_step(ins), sqlite3_reset(ins);
        }
        sqlite3_step(commit), sqlite3_reset(commit);
    }
    double raw_batched = (double)n_batched / (now_s() - t0);
    /* the same batches again, each row with its FTS5 entry in the same transaction
     * (rows n_tx + n_batched + 1 on, which the reads below do not touch) */
    t0 = now_s();
    for (long i = 0; i < n_batched; i += BATCH) {
        sqlite3_step(begin), sqlite3_reset(begin);
        for (int j = 0; j < BATCH; j++) {
            const char *t = b_texts + (size_t)(i + j) * TEXT;
            sqlite3_bind_text(ins, 1, t, -1, SQLITE_STATIC);
            sqlite3_step(ins), sqlite3_reset(ins);
            sqlite3_bind_text(ins_fts, 1, t, -1, SQLITE_STATIC);
            sqlite3_step(ins_fts), sqlite3_reset(ins_fts);
        }
        sqlite3_step(commit), sqlite3_reset(commit);
    }
    double raw_fts_batched = (double)n_batched / (now_s() - t0);
    sqlite3_finalize(ins);
    sqlite3_finalize(ins_fts);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);

    /* raw full-text queries: the same words, the query form of ta_store_search_text
     * (quoted terms, ORDER BY rank LIMIT), over the n_batched rows with an entry */
    sqlite3_stmt *qst;
    sqlite3_prepare_v2(db,
                       "SELECT rowid, rank FROM rows_fts WHERE rows_fts MATCH ?"
                       " ORDER BY rank LIMIT 10",
                       -1, &qst, NULL);
    for (long q = 0; q < n_queries; q++) {
        char fq[64];
        char *sp = strchr(queries[q], ' ');
        snprintf(fq, sizeof fq, "\"%.*s\" \"%s\"", (int)(sp - queries[q]), queries[q], sp + 1);
        double a = now_s();
        sqlite3_bind_text(qst, 1, fq, -1, SQLITE_STATIC);
        while (sqlite3_step(qst) == SQLITE_ROW)
            ;
        sqlite3_reset(qst);
        lat[q] = now_s() - a;
    }
    sqlite3_finalize(qst);
    latencies raw_q = summarize(lat, n_queries);
    free(lat);
    free(queries);
    sqlite3_close(db);
    free(tx_texts);
    free(b_texts);

    /* reads, API and raw alternating */
    for (int threads = 1; threads <= 2; threads++) {
        double api_r = reads(read_view, dir, raw, max_id, n_reads, threads);
        double raw_r = reads(read_raw, dir, raw, max_id, n_reads, threads);
        double json_r = reads(read_json, dir, raw, max_id, n_reads, threads);
        printf("{\"bench\":\"storage_reads\",\"threads\":%d,\"api_view_reads_per_s\":%.0f,"
               "\"api_json_reads_per_s\":%.0f,\"raw_sqlite_reads_per_s\":%.0f,"
               "\"view_ratio\":%.3f}\n",
               threads, api_r, json_r, raw_r, api_r / raw_r);
    }
    printf("{\"bench\":\"storage_writes\",\"messages_tx_each\":%ld,"
           "\"api_msgs_per_s\":%.0f,\"api_msgs_per_s_indexed\":%.0f,"
           "\"raw_sqlite_rows_per_s\":%.0f,\"batched\":%ld,\"api_batched_msgs_per_s\":%.0f,"
           "\"api_batched_msgs_per_s_indexed\":%.0f,\"raw_sqlite_batched_rows_per_s\":%.0f,"
           "\"raw_sqlite_batched_rows_fts_per_s\":%.0f,\"fts_sync_after_tx_ms\":%.1f,"
           "\"fts_sync_after_batched_ms\":%.1f}\n",
           n_tx, (double)n_tx / tx_s, (double)n_tx / (tx_s + tx_sync_s), raw_tx, n_batched,
           (double)n_batched / b_s, (double)n_batched / (b_s + b_sync_s), raw_batched,
           raw_fts_batched, tx_sync_s * 1e3, b_sync_s * 1e3);
    printf("{\"bench\":\"storage_fts\",\"messages\":%lld,\"queries\":%ld,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"first_ms\":%.3f,\"raw_sqlite_messages\":%ld,"
           "\"raw_sqlite_p50_ms\":%.3f,\"raw_sqlite_p99_ms\":%.3f,\"raw_sqlite_max_ms\":%.3f}\n",
           (long long)max_id, n_queries, api_q.p50, api_q.p99, api_q.max, api_q.first, n_batched,
           raw_q.p50, raw_q.p99, raw_q.max);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
