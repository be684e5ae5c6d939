/*
 * storage_bench.c - the memory database through its API against raw SQLite on the same
 * machine, as JSON lines:
 *   - messages/s with one transaction per message (a message and its FTS entry);
 *   - messages/s in batches of 1000;
 *   - point reads of messages by id (ta_store_message_view) per second, 1 and 2 threads;
 *   - full-text query latency p50/p99 over the batched corpus.
 * The raw SQLite side writes rows (id, chat_id, content) into a WAL table with the
 * same pragmas, one transaction per row or per 1000, and reads them back by id.
 *
 * Usage: storage_bench [--messages N] [--batched N] [--reads N] [--queries N]
 */
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage.h"

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

/* About 100 bytes of words. */
static void sentence(char *out, size_t cap)
{
    size_t o = 0;
    char w[16];
    while (o + 16 < cap && o < 100) {
        word(w, sizeof w);
        o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? " " : "", w);
    }
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

static void *read_api(void *arg)
{
    reader *r = arg;
    ta_error err;
    ta_store *s = ta_store_open(r->dir, &err);
    if (!s) return NULL;
    uint64_t x = (uint64_t)(uintptr_t)r | 1;
    double t0 = now_s();
    ta_store_read_begin(s, &err); /* as the raw side: one read transaction */
    for (long i = 0; i < r->n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ta_message_view v;
        if (!ta_store_message_view(s, (int64_t)(x % (uint64_t)r->max_id) + 1, &v, &err))
            (void)v.content[0];
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
    sqlite3_open_v2(r->raw, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT id, chat_id, content FROM rows WHERE id = ?", -1, &st, NULL);
    uint64_t x = (uint64_t)(uintptr_t)r | 1;
    double t0 = now_s();
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (long i = 0; i < r->n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        sqlite3_bind_int64(st, 1, (int64_t)(x % (uint64_t)r->max_id) + 1);
        if (sqlite3_step(st) == SQLITE_ROW) (void)sqlite3_column_text(st, 2);
        sqlite3_reset(st);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    r->rate = (double)r->n / (now_s() - t0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
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

int main(int argc, char **argv)
{
    long n_tx = 20000, n_batched = 100000, n_reads = 200000, n_queries = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        long v = atol(argv[i + 1]);
        if (!strcmp(argv[i], "--messages")) n_tx = v;
        if (!strcmp(argv[i], "--batched")) n_batched = v;
        if (!strcmp(argv[i], "--reads")) n_reads = v;
        if (!strcmp(argv[i], "--queries")) n_queries = v;
    }
    char dir[] = "/tmp/ta-storage-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    ta_error err;
    ta_store *s = ta_store_open(dir, &err);
    if (!s) {
        fprintf(stderr, "storage_bench: %s\n", err.message);
        return 1;
    }
    int64_t chat;
    ta_store_chat_create(s, "bench", "", &chat, &err);
    char text[256];

    /* ours: a transaction per message */
    double t0 = now_s();
    for (long i = 0; i < n_tx; i++) {
        sentence(text, sizeof text);
        ta_message_in m = {.chat_id = chat, .role = "user", .content = text, .token_count = -1};
        if (ta_store_message_add(s, &m, NULL, &err)) {
            fprintf(stderr, "storage_bench: %s\n", err.message);
            return 1;
        }
    }
    double api_tx = (double)n_tx / (now_s() - t0);

    /* ours: batches of 1000 */
    enum { BATCH = 1000 };
    static char texts[BATCH][256];
    ta_message_in batch[BATCH];
    t0 = now_s();
    for (long i = 0; i < n_batched; i += BATCH) {
        for (int j = 0; j < BATCH; j++) {
            sentence(texts[j], sizeof texts[j]);
            batch[j] = (ta_message_in){
                .chat_id = chat, .role = "assistant", .content = texts[j], .token_count = -1};
        }
        if (ta_store_messages_add(s, batch, BATCH, NULL, &err)) {
            fprintf(stderr, "storage_bench: %s\n", err.message);
            return 1;
        }
    }
    double api_batched = (double)n_batched / (now_s() - t0);
    int64_t max_id = n_tx + n_batched;

    /* full-text queries */
    double *lat = malloc((size_t)n_queries * sizeof *lat);
    for (long q = 0; q < n_queries; q++) {
        char query[64], w1[16], w2[16];
        word(w1, sizeof w1);
        word(w2, sizeof w2);
        snprintf(query, sizeof query, "%s %s", w1, w2);
        double a = now_s();
        json_t *hits = ta_store_search_text(s, query, 0, 10, &err);
        lat[q] = now_s() - a;
        json_decref(hits);
    }
    qsort(lat, (size_t)n_queries, sizeof *lat, cmp_double);
    double p50 = lat[n_queries / 2] * 1e3, p99 = lat[(long)(n_queries * 0.99)] * 1e3;
    free(lat);
    ta_store_close(s);

    /* raw SQLite */
    char raw[128];
    snprintf(raw, sizeof raw, "%s/raw.db", dir);
    sqlite3 *db;
    sqlite3_open(raw, &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                 "CREATE TABLE rows(id INTEGER PRIMARY KEY, chat_id INTEGER, content TEXT)",
                 NULL, NULL, NULL);
    sqlite3_stmt *ins;
    sqlite3_prepare_v2(db, "INSERT INTO rows(chat_id, content) VALUES (1, ?)", -1, &ins, NULL);
    t0 = now_s();
    for (long i = 0; i < n_tx; i++) {
        sentence(text, sizeof text);
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        sqlite3_bind_text(ins, 1, text, -1, SQLITE_STATIC);
        sqlite3_step(ins);
        sqlite3_reset(ins);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double raw_tx = (double)n_tx / (now_s() - t0);
    t0 = now_s();
    for (long i = 0; i < n_batched; i += BATCH) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        for (int j = 0; j < BATCH; j++) {
            sentence(text, sizeof text);
            sqlite3_bind_text(ins, 1, text, -1, SQLITE_STATIC);
            sqlite3_step(ins);
            sqlite3_reset(ins);
        }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double raw_batched = (double)n_batched / (now_s() - t0);
    sqlite3_finalize(ins);
    sqlite3_close(db);

    for (int threads = 1; threads <= 2; threads++) {
        double api_r = reads(read_api, dir, raw, max_id, n_reads, threads);
        double raw_r = reads(read_raw, dir, raw, max_id, n_reads, threads);
        printf("{\"bench\":\"storage_reads\",\"threads\":%d,\"api_reads_per_s\":%.0f,"
               "\"raw_sqlite_reads_per_s\":%.0f,\"ratio\":%.3f}\n",
               threads, api_r, raw_r, api_r / raw_r);
    }
    printf("{\"bench\":\"storage_writes\",\"messages_tx_each\":%ld,\"api_msgs_per_s\":%.0f,"
           "\"raw_sqlite_rows_per_s\":%.0f,\"batched\":%ld,\"api_batched_msgs_per_s\":%.0f,"
           "\"raw_sqlite_batched_rows_per_s\":%.0f}\n",
           n_tx, api_tx, raw_tx, n_batched, api_batched, raw_batched);
    printf("{\"bench\":\"storage_fts\",\"messages\":%lld,\"queries\":%ld,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f}\n",
           (long long)max_id, n_queries, p50, p99);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
