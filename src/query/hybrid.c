/*
 * hybrid.c - see hybrid.h. Each list gives (offset + limit) * 4 + 20 candidates, so
 * that filtering and fusion still fill the page; candidates are merged by message id,
 * filtered through the stored message, scored and sorted.
 */
#include "hybrid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RRF_K 60.0 /* reciprocal-rank fusion: 1 / (60 + rank), as in Cormack et al. */

typedef struct cand {
    int64_t id;
    int fts_rank, vec_rank; /* 1-based; 0: not in that list */
    double bm25, distance;
    char *snippet;
    double score;
    int64_t chat_id, ts;
    char role[16];
} cand;

static cand *find_or_add(cand **c, size_t *n, size_t *cap, int64_t id)
{
    for (size_t i = 0; i < *n; i++)
        if ((*c)[i].id == id) return &(*c)[i];
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        cand *g = realloc(*c, nc * sizeof *g);
        if (!g) return NULL;
        *c = g;
        *cap = nc;
    }
    cand *x = &(*c)[(*n)++];
    memset(x, 0, sizeof *x);
    x->id = id;
    return x;
}

static int by_score(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
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
    uint32_t limit = p->limit ? p->limit : 20;
    uint32_t depth = (p->offset + limit) * 4 + 20;
    cand *c = NULL;
    size_t n = 0, cap = 0;
    int rc = TA_OK;
    if (text) {
        json_t *hits = ta_store_search_text(s, p->text, p->chat_id, depth, err);
        if (!hits) return NULL;
        size_t i;
        json_t *h;
        json_array_foreach(hits, i, h)
        {
            cand *x = find_or_add(&c, &n, &cap, json_integer_value(json_object_get(h, "id")));
            if (!x) {
                rc = ta_error_set(err, TA_ENOMEM, "out of memory");
                break;
            }
            x->fts_rank = (int)i + 1;
            x->bm25 = json_number_value(json_object_get(h, "score"));
            x->snippet = strdup(json_string_value(json_object_get(h, "snippet")));
        }
        json_decref(hits);
    }
    if (!rc && vec && idx) {
        ta_hnsw_hit *hits = malloc(depth * sizeof *hits);
        uint32_t got = 0;
        if (!hits)
            rc = ta_error_set(err, TA_ENOMEM, "out of memory");
        else
            rc = ta_hnsw_search(idx, p->vector, depth, depth > 64 ? depth : 64, NULL, NULL, hits,
                                &got, err);
        for (uint32_t i = 0; !rc && i < got; i++) {
            cand *x = find_or_add(&c, &n, &cap, (int64_t)hits[i].id);
            if (!x) {
                rc = ta_error_set(err, TA_ENOMEM, "out of memory");
                break;
            }
            x->vec_rank = (int)i + 1;
            x->distance = hits[i].distance;
        }
        free(hits);
    }
    /* filters, through the stored message (a vector hit may be gone already) */
    size_t kept = 0;
    double max_bm25 = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        ta_message_view v;
        if (ta_store_message_view(s, c[i].id, &v, NULL) != TA_OK) goto drop;
        if (p->chat_id && v.chat_id != p->chat_id) goto drop;
        if (p->since_ms && v.timestamp_ms < p->since_ms) goto drop;
        if (p->until_ms && v.timestamp_ms > p->until_ms) goto drop;
        if (p->role && strcmp(p->role, v.role)) goto drop;
        c[i].chat_id = v.chat_id;
        c[i].ts = v.timestamp_ms;
        snprintf(c[i].role, sizeof c[i].role, "%s", v.role);
        if (!c[i].snippet) { /* a vector-only hit: the start of its text */
            size_t len = v.content_len < 160 ? v.content_len : 160;
            while (len < v.content_len && len > 0 && ((unsigned char)v.content[len] & 0xc0) == 0x80)
                len--; /* whole UTF-8 characters */
            c[i].snippet = strndup(v.content, len);
        }
        if (c[i].bm25 > max_bm25) max_bm25 = c[i].bm25;
        c[kept++] = c[i];
        continue;
    drop:
        free(c[i].snippet);
    }
    n = rc ? n : kept;
    json_t *out = NULL;
    if (!rc) {
        for (size_t i = 0; i < n; i++) {
            if (p->weighted) { /* both parts in [0, 1] */
                double t = c[i].fts_rank && max_bm25 > 0 ? c[i].bm25 / max_bm25 : 0;
                double v = c[i].vec_rank ? 1.0 - c[i].distance / 2.0 : 0; /* cosine distance */
                c[i].score = p->w_text * t + p->w_vector * v;
            } else {
                c[i].score = (c[i].fts_rank ? 1.0 / (RRF_K + c[i].fts_rank) : 0) +
                             (c[i].vec_rank ? 1.0 / (RRF_K + c[i].vec_rank) : 0);
            }
        }
        if (n > 1) qsort(c, n, sizeof *c, by_score);
        json_t *data = json_array();
        for (size_t i = p->offset; i < n && i < (size_t)p->offset + limit; i++) {
            json_t *ex = json_object();
            if (c[i].fts_rank)
                json_object_set_new(
                    ex, "text", json_pack("{s:i,s:f}", "rank", c[i].fts_rank, "bm25", c[i].bm25));
            if (c[i].vec_rank)
                json_object_set_new(
                    ex, "vector",
                    json_pack("{s:i,s:f}", "rank", c[i].vec_rank, "distance", c[i].distance));
            json_t *sn = json_string(c[i].snippet ? c[i].snippet : "");
            json_array_append_new(
                data, json_pack("{s:I,s:I,s:s,s:I,s:o,s:f,s:o}", "id", (json_int_t)c[i].id,
                                "chat_id", (json_int_t)c[i].chat_id, "role", c[i].role,
                                "timestamp_ms", (json_int_t)c[i].ts, "snippet",
                                sn ? sn : json_string(""), "score", c[i].score, "explain", ex));
        }
        out =
            json_pack("{s:o,s:i,s:i,s:s,s:i}", "data", data, "offset", (int)p->offset, "limit",
                      (int)limit, "fusion", p->weighted ? "weighted" : "rrf", "candidates", (int)n);
    }
    for (size_t i = 0; i < n; i++)
        free(c[i].snippet);
    free(c);
    return out;
}
