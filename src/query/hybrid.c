/*
 * hybrid.c - see hybrid.h.
 *
 * Each list (full-text per database, vectors) gives (offset + limit) * 4 + 20
 * candidates, so that filtering and fusion still fill the page; an entity filter asks
 * the full-text list for more (it filters afterwards) while the vector search takes the
 * entity's messages as an allow-list. Candidates are merged by (database, id), filtered
 * through the stored record, scored and sorted.
 */
#include "hybrid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RRF_K 60.0 /* reciprocal-rank fusion: 1 / (60 + rank), as in Cormack et al. */
/* Allow-lists (a chat's, an entity's messages) up to this size are searched exactly:
 * their vectors read and compared instead of walking the graph, which wanders far when
 * few nodes qualify, and their text matched one message at a time. */
#define EXACT_MAX 4096

enum { DB_MESSAGES, DB_PAGES, DB_SUMMARIES, N_DBS };
static const char *const db_names[N_DBS] = {"conversations", "tool_results", "summaries"};

typedef struct cand {
    int db;
    int64_t id;
    int fts_rank, vec_rank; /* 1-based; 0: not in that list */
    double bm25, distance;
    char *snippet;
    double score;
    int64_t chat_id, ts; /* chat_id 0: none */
    char type[16];       /* a message's role, "page", a summary's kind */
    char *title, *url;   /* pages */
} cand;

typedef struct {
    cand *v;
    size_t n, cap;
} cands;

static cand *add(cands *c, int db, int64_t id)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        cand *v = realloc(c->v, cap * sizeof *v);
        if (!v) return NULL;
        c->v = v, c->cap = cap;
    }
    cand *x = &c->v[c->n++];
    memset(x, 0, sizeof *x);
    x->db = db, x->id = id;
    return x;
}

static void cand_free(cand *x)
{
    free(x->snippet);
    free(x->title);
    free(x->url);
}

static int by_key(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->db != y->db) return x->db - y->db;
    return (x->id > y->id) - (x->id < y->id);
}

static int by_score(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return by_key(a, b);
}

/* One candidate per (database, id): the text and vector parts of a record joined. */
static void merge_dups(cands *c)
{
    if (c->n > 1) qsort(c->v, c->n, sizeof *c->v, by_key);
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (k && !by_key(&c->v[k - 1], &c->v[i])) {
            cand *d = &c->v[k - 1], *x = &c->v[i];
            if (x->fts_rank) {
                d->fts_rank = x->fts_rank, d->bm25 = x->bm25;
                if (!d->snippet) d->snippet = x->snippet, x->snippet = NULL;
            }
            if (x->vec_rank) d->vec_rank = x->vec_rank, d->distance = x->distance;
            cand_free(x);
            continue;
        }
        c->v[k++] = c->v[i];
    }
    c->n = k;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The full-text list of one database into c. */
static int text_list(ta_store *s, int db, const ta_hybrid_params *p, uint32_t depth,
                     const int64_t *allow, size_t n_allow, bool restrict_ids, cands *c,
                     ta_error *err)
{
    json_t *hits;
    if (db == DB_MESSAGES) { /* snippets later, for the page's results only */
        bool exact = restrict_ids && n_allow <= EXACT_MAX;
        hits = ta_store_search_text_ex(s, p->text, p->chat_id, exact ? allow : NULL,
                                       exact ? n_allow : 0, depth, false, err);
    } else {
        ta_record_filter f = {.since_ms = p->since_ms,
                              .until_ms = p->until_ms,
                              .type = p->type,
                              .chat_id = p->chat_id};
        hits = ta_store_search_records(s, db_names[db], p->text, &f, depth, err);
    }
    if (!hits) return err ? err->code : TA_EIO;
    size_t i;
    json_t *h;
    int rc = TA_OK;
    json_array_foreach(hits, i, h)
    {
        cand *x = add(c, db, json_integer_value(json_object_get(h, "id")));
        if (!x) {
            rc = ta_error_set(err, TA_ENOMEM, "out of memory");
            break;
        }
        x->fts_rank = (int)i + 1;
        x->bm25 = json_number_value(json_object_get(h, "score"));
        x->snippet = dup_or_null(jstr(h, "snippet"));
        if (db != DB_MESSAGES) { /* records come whole from their search */
            x->ts = json_integer_value(json_object_get(h, "timestamp_ms"));
            x->chat_id = json_integer_value(json_object_get(h, "chat_id"));
            snprintf(x->type, sizeof x->type, "%s", jstr(h, "type") ? jstr(h, "type") : "");
            x->title = dup_or_null(jstr(h, "title"));
            x->url = dup_or_null(jstr(h, "url"));
        }
    }
    json_decref(hits);
    return rc;
}

typedef struct {
    const float *q;
    uint32_t dim, k, n;
    double qnorm;
    ta_hnsw_hit *hits; /* the k nearest so far, nearest first */
} exact;

static int exact_one(void *ud, int64_t id, const char *model, const float *v, uint32_t dim)
{
    (void)model;
    exact *e = ud;
    if (dim != e->dim) return 0;
    double dot = 0, vv = 0;
    for (uint32_t i = 0; i < dim; i++)
        dot += (double)e->q[i] * v[i], vv += (double)v[i] * v[i];
    if (vv <= 0 || e->qnorm <= 0) return 0;
    float d = (float)(1.0 - dot / (sqrt(vv) * e->qnorm)); /* cosine distance, as the index */
    if (e->n == e->k && d >= e->hits[e->n - 1].distance) return 0;
    uint32_t i = e->n < e->k ? e->n++ : e->n - 1;
    while (i > 0 && e->hits[i - 1].distance > d) {
        e->hits[i] = e->hits[i - 1];
        i--;
    }
    e->hits[i] = (ta_hnsw_hit){(uint64_t)id, d};
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Keeps in a (sorted) the ids also in b (sorted). */
static void intersect(int64_t *a, size_t *na, const int64_t *b, size_t nb)
{
    size_t i = 0, j = 0, k = 0;
    while (i < *na && j < nb) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else
            a[k++] = a[i++], j++;
    }
    *na = k;
}

static bool allowed(const int64_t *ids, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == id;
}

/* A message candidate checked against the filters through its stored row (a vector
 * hit may be gone already), and filled in. */
static bool keep_message(ta_store *s, const ta_hybrid_params *p, const int64_t *allow,
                         size_t n_allow, bool entity, cand *x)
{
    if (entity && !allowed(allow, n_allow, x->id)) return false;
    ta_message_view v;
    if (ta_store_message_view(s, x->id, &v, NULL) != TA_OK) return false;
    if (p->chat_id && v.chat_id != p->chat_id) return false;
    if (p->since_ms && v.timestamp_ms < p->since_ms) return false;
    if (p->until_ms && v.timestamp_ms > p->until_ms) return false;
    if (p->role && strcmp(p->role, v.role)) return false;
    if (p->type && strcmp(p->type, v.role)) return false;
    x->chat_id = v.chat_id;
    x->ts = v.timestamp_ms;
    snprintf(x->type, sizeof x->type, "%s", v.role);
    return true;
}

/* A message of the page gets its snippet: the matching words in context for a text hit,
 * else the start of its text. */
static void message_snippet(ta_store *s, const ta_hybrid_params *p, cand *x)
{
    if (x->snippet) return;
    if (x->fts_rank && (x->snippet = ta_store_snippet(s, p->text, x->id))) return;
    ta_message_view v;
    if (ta_store_message_view(s, x->id, &v, NULL) != TA_OK) return;
    size_t len = v.content_len < 160 ? v.content_len : 160;
    while (len < v.content_len && len > 0 && ((unsigned char)v.content[len] & 0xc0) == 0x80)
        len--; /* whole UTF-8 characters */
    x->snippet = strndup(v.content, len);
}

static json_t *result(const cand *x)
{
    json_t *ex = json_object();
    if (x->fts_rank)
        json_object_set_new(ex, "text",
                            json_pack("{s:i,s:f}", "rank", x->fts_rank, "bm25", x->bm25));
    if (x->vec_rank)
        json_object_set_new(ex, "vector",
                            json_pack("{s:i,s:f}", "rank", x->vec_rank, "distance", x->distance));
    json_t *sn = json_string(x->snippet ? x->snippet : "");
    json_t *o = json_pack("{s:s,s:I,s:s,s:o,s:I,s:f,s:o}", "database", db_names[x->db], "id",
                          (json_int_t)x->id, "type", x->type, "snippet", sn ? sn : json_string(""),
                          "timestamp_ms", (json_int_t)x->ts, "score", x->score, "explain", ex);
    if (x->db == DB_MESSAGES) {
        json_object_set_new(o, "chat_id", json_integer((json_int_t)x->chat_id));
        json_object_set_new(o, "role", json_string(x->type));
    } else if (x->db == DB_PAGES) {
        json_object_set_new(o, "title", x->title ? json_string(x->title) : json_null());
        json_object_set_new(o, "url", json_string(x->url ? x->url : ""));
    } else {
        json_object_set_new(o, "chat_id",
                            x->chat_id ? json_integer((json_int_t)x->chat_id) : json_null());
    }
    return o;
}

json_t *ta_hybrid_search(ta_store *s, const ta_hnsw *idx, const ta_hybrid_params *p, ta_error *err)
{
    bool text = p->text && p->text[0], vec = p->vector != NULL;
    if (!text && !vec) {
        ta_error_set(err, TA_EINVAL, "give a query text, an embedding, or both");
        return NULL;
    }
    if (vec && idx) {
        ta_hnsw_params hp;
        ta_hnsw_get_params(idx, &hp);
        if (hp.dim != p->dim) {
            ta_error_set(err, TA_EINVAL,
                         "embedding: %u values; the index holds %u-dimensional "
                         "vectors",
                         p->dim, hp.dim);
            return NULL;
        }
    }
    unsigned dbs = p->databases ? p->databases : TA_HYBRID_CONVERSATIONS;
    bool entity = p->entity_id > 0 || p->entity;
    if (entity) dbs &= TA_HYBRID_CONVERSATIONS;               /* only messages mention entities */
    if (p->chat_id) dbs &= ~(unsigned)TA_HYBRID_TOOL_RESULTS; /* pages belong to no chat */
    if (p->role) dbs &= TA_HYBRID_CONVERSATIONS;
    uint32_t limit = p->limit ? p->limit : 20;
    uint32_t depth = (p->offset + limit) * 4 + 20;
    /* The messages a chat or entity filter allows (sorted), for the vector part and the
     * entity check. */
    int64_t *allow = NULL;
    size_t n_allow = 0;
    bool restrict_ids = entity || p->chat_id;
    int rc = entity ? ta_store_entity_message_ids(s, p->entity_id, p->entity, &allow, &n_allow, err)
                    : TA_OK;
    if (!rc && p->chat_id && (dbs & TA_HYBRID_CONVERSATIONS)) {
        int64_t *in_chat = NULL;
        size_t n_chat = 0;
        rc = ta_store_chat_message_ids(s, p->chat_id, &in_chat, &n_chat, err);
        if (rc == TA_ENOTFOUND) rc = TA_OK, n_chat = 0; /* an unknown chat: nothing matches */
        if (!rc && n_chat > 1) qsort(in_chat, n_chat, sizeof *in_chat, cmp_i64);
        if (!rc && entity) {
            intersect(allow, &n_allow, in_chat, n_chat);
            free(in_chat);
        } else if (!rc) {
            allow = in_chat, n_allow = n_chat;
        } else {
            free(in_chat);
        }
    }
    cands c = {0};
    for (int db = 0; !rc && text && db < N_DBS; db++) {
        if (!(dbs & (1u << db))) continue;
        uint32_t d = depth;
        if (db == DB_MESSAGES && entity) d = depth * 8 < 20000 ? depth * 8 : 20000;
        if (!(db == DB_MESSAGES && restrict_ids && !n_allow))
            rc = text_list(s, db, p, d, allow, n_allow, restrict_ids, &c, err);
    }
    if (!rc && vec && idx && (dbs & TA_HYBRID_CONVERSATIONS) && !(restrict_ids && !n_allow)) {
        ta_hnsw_hit *hits = malloc(depth * sizeof *hits);
        uint32_t got = 0;
        ta_hnsw_allow al = {(const uint64_t *)allow, n_allow};
        if (!hits) {
            rc = ta_error_set(err, TA_ENOMEM, "out of memory");
        } else if (restrict_ids && n_allow <= EXACT_MAX) {
            double qq = 0;
            for (uint32_t i = 0; i < p->dim; i++)
                qq += (double)p->vector[i] * p->vector[i];
            exact e = {.q = p->vector, .dim = p->dim, .k = depth, .qnorm = sqrt(qq), .hits = hits};
            rc = ta_store_message_vectors(s, allow, n_allow, exact_one, &e, err);
            got = e.n;
        } else {
            rc = ta_hnsw_search(idx, p->vector, depth, depth > 64 ? depth : 64,
                                restrict_ids ? ta_hnsw_filter_allow : NULL,
                                restrict_ids ? &al : NULL, hits, &got, err);
        }
        for (uint32_t i = 0; !rc && i < got; i++) {
            cand *x = add(&c, DB_MESSAGES, (int64_t)hits[i].id);
            if (!x) {
                rc = ta_error_set(err, TA_ENOMEM, "out of memory");
                break;
            }
            x->vec_rank = (int)i + 1;
            x->distance = hits[i].distance;
        }
        free(hits);
    }
    json_t *out = NULL;
    if (!rc) {
        merge_dups(&c);
        size_t kept = 0;
        double max_bm25[N_DBS] = {0};
        for (size_t i = 0; i < c.n; i++) {
            cand *x = &c.v[i];
            if (x->db == DB_MESSAGES && !keep_message(s, p, allow, n_allow, entity, x)) {
                cand_free(x);
                continue;
            }
            if (x->bm25 > max_bm25[x->db]) max_bm25[x->db] = x->bm25;
            c.v[kept++] = *x;
        }
        c.n = kept;
        for (size_t i = 0; i < c.n; i++) {
            cand *x = &c.v[i];
            if (p->weighted) { /* both parts in [0, 1] */
                double t = x->fts_rank && max_bm25[x->db] > 0 ? x->bm25 / max_bm25[x->db] : 0;
                double v = x->vec_rank ? 1.0 - x->distance / 2.0 : 0; /* cosine distance */
                x->score = p->w_text * t + p->w_vector * v;
            } else {
                x->score = (x->fts_rank ? 1.0 / (RRF_K + x->fts_rank) : 0) +
                           (x->vec_rank ? 1.0 / (RRF_K + x->vec_rank) : 0);
            }
        }
        if (c.n > 1) qsort(c.v, c.n, sizeof *c.v, by_score);
        json_t *data = json_array();
        for (size_t i = p->offset; i < c.n && i < (size_t)p->offset + limit; i++) {
            if (c.v[i].db == DB_MESSAGES) message_snippet(s, p, &c.v[i]);
            json_array_append_new(data, result(&c.v[i]));
        }
        out = json_pack("{s:o,s:i,s:i,s:s,s:i}", "data", data, "offset", (int)p->offset, "limit",
                        (int)limit, "fusion", p->weighted ? "weighted" : "rrf", "candidates",
                        (int)c.n);
    }
    for (size_t i = 0; i < c.n; i++)
        cand_free(&c.v[i]);
    free(c.v);
    free(allow);
    return out;
}
