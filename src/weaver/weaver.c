/*
 * weaver.c - see weaver.h.
 */
#include "weaver.h"

#include <stdlib.h>
#include <string.h>

ta_weave_opts ta_weave_defaults(const ta_weave_opts *o)
{
    ta_weave_opts d = o ? *o : (ta_weave_opts){.links = true, .merges = true};
    if (d.link_threshold <= 0) d.link_threshold = 0.80;
    if (!d.link_k) d.link_k = 8;
    if (d.merge_threshold <= 0) d.merge_threshold = 0.92;
    return d;
}

/* ---- message links ------------------------------------------------------------------ */

typedef struct {
    ta_store_link *v;
    size_t n, cap;
} link_list;

static int push_link(link_list *l, int64_t a, int64_t b, double sim)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        ta_store_link *v = realloc(l->v, cap * sizeof *v);
        if (!v) return TA_ENOMEM;
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = (ta_store_link){a < b ? a : b, a < b ? b : a, sim};
    return TA_OK;
}

/* The links of one message into l: its nearest messages above the threshold. */
static int find_links(const ta_hnsw *idx, int64_t id, const float *vec, const ta_weave_opts *o,
                      link_list *l, ta_error *err)
{
    ta_hnsw_hit hits[65];
    uint32_t k = o->link_k + 1 > 65 ? 65 : o->link_k + 1, n = 0;
    int rc = ta_hnsw_search(idx, vec, k, 0, NULL, NULL, hits, &n, err);
    for (uint32_t i = 0; !rc && i < n; i++) {
        double sim = 1.0 - (double)hits[i].distance; /* cosine distance */
        if ((int64_t)hits[i].id == id || sim < o->link_threshold) continue;
        if (push_link(l, id, (int64_t)hits[i].id, sim))
            rc = ta_error_set(err, TA_ENOMEM, "out of memory for message links");
    }
    return rc;
}

static bool is_cosine(const ta_hnsw *idx, uint32_t dim)
{
    ta_hnsw_params p;
    ta_hnsw_get_params(idx, &p);
    return p.dist == TA_DIST_COSINE && p.dim == dim;
}

int ta_weaver_link_message(ta_store *s, const ta_hnsw *idx, int64_t message_id, const float *vec,
                           uint32_t dim, const ta_weave_opts *opts, size_t *added, ta_error *err)
{
    ta_weave_opts o = ta_weave_defaults(opts);
    if (added) *added = 0;
    if (!idx || !is_cosine(idx, dim)) return TA_OK;
    link_list l = {0};
    int rc = find_links(idx, message_id, vec, &o, &l, err);
    if (!rc && !o.dry_run) rc = ta_store_links_add(s, l.v, l.n, err);
    if (!rc && added) *added = l.n;
    free(l.v);
    return rc;
}

typedef struct {
    const ta_hnsw *idx;
    const ta_weave_opts *o;
    link_list links;
    size_t messages;
    ta_error *err;
} link_pass;

static int link_one(void *ud, int64_t id, const char *model, const float *vec, uint32_t dim)
{
    (void)model;
    link_pass *p = ud;
    if (!is_cosine(p->idx, dim) || !ta_hnsw_contains(p->idx, (uint64_t)id)) return 0;
    p->messages++;
    return find_links(p->idx, id, vec, p->o, &p->links, p->err);
}

static int cmp_link(const void *x, const void *y)
{
    const ta_store_link *a = x, *b = y;
    if (a->a != b->a) return a->a < b->a ? -1 : 1;
    if (a->b != b->b) return a->b < b->b ? -1 : 1;
    return (a->similarity < b->similarity) - (a->similarity > b->similarity); /* best first */
}

/* Every message's links, found first (the store is read while nothing is written),
 * each pair once, then written in one transaction. */
static int link_all(ta_store *s, const ta_hnsw *idx, const ta_weave_opts *o, json_t *report,
                    ta_error *err)
{
    link_pass p = {.idx = idx, .o = o, .err = err};
    int rc = idx ? ta_store_message_embeddings_after(s, 0, link_one, &p, err) : TA_OK;
    size_t n = 0;
    if (!rc && p.links.n) {
        qsort(p.links.v, p.links.n, sizeof *p.links.v, cmp_link);
        for (size_t i = 0; i < p.links.n; i++)
            if (!n || p.links.v[i].a != p.links.v[n - 1].a || p.links.v[i].b != p.links.v[n - 1].b)
                p.links.v[n++] = p.links.v[i];
        if (!o->dry_run) rc = ta_store_links_add(s, p.links.v, n, err);
    }
    free(p.links.v);
    if (!rc) {
        json_object_set_new(report, "messages_linked", json_integer((json_int_t)p.messages));
        json_object_set_new(report, "links", json_integer((json_int_t)n));
    }
    return rc;
}

/* ---- entity merges -------------------------------------------------------------------- */

typedef struct {
    int64_t id;
    char type[64];
    double confidence;
    float *vec;
} entity;

typedef struct {
    entity *v;
    size_t n, cap;
    uint32_t dim; /* the first size seen; others are left out */
} entity_list;

static int collect_entity(void *ud, int64_t id, const char *type, double confidence,
                          const float *vec, uint32_t dim)
{
    entity_list *l = ud;
    if (!l->dim) l->dim = dim;
    if (dim != l->dim) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        entity *v = realloc(l->v, cap * sizeof *v);
        if (!v) return TA_ENOMEM;
        l->v = v, l->cap = cap;
    }
    entity *e = &l->v[l->n];
    e->vec = malloc(dim * sizeof(float));
    if (!e->vec) return TA_ENOMEM;
    memcpy(e->vec, vec, dim * sizeof(float));
    e->id = id;
    e->confidence = confidence;
    snprintf(e->type, sizeof e->type, "%s", type ? type : "");
    l->n++;
    return 0;
}

/* Where merged entities went: drop -> keep, followed to the end. */
typedef struct {
    int64_t *from, *to;
    size_t n, cap;
} merge_map;

static int64_t resolve(const merge_map *m, int64_t id)
{
    for (size_t guard = 0; guard <= m->n; guard++) {
        size_t i = 0;
        while (i < m->n && m->from[i] != id)
            i++;
        if (i == m->n) return id;
        id = m->to[i];
    }
    return id;
}

static int map_add(merge_map *m, int64_t from, int64_t to)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        int64_t *f = realloc(m->from, cap * sizeof *f);
        if (!f) return TA_ENOMEM;
        m->from = f;
        int64_t *t = realloc(m->to, cap * sizeof *t);
        if (!t) return TA_ENOMEM;
        m->to = t, m->cap = cap;
    }
    m->from[m->n] = from, m->to[m->n] = to, m->n++;
    return TA_OK;
}

static int do_merge(ta_store *s, const ta_weave_opts *o, merge_map *map, json_t *merges,
                    int64_t keep, int64_t drop, const char *reason, double sim, ta_error *err)
{
    if (!o->dry_run) {
        int rc = ta_store_entity_merge_why(s, keep, drop, reason, sim, err);
        if (rc) return rc;
    }
    if (map_add(map, drop, keep)) return ta_error_set(err, TA_ENOMEM, "out of memory");
    json_t *m = json_pack("{s:I,s:I,s:s}", "keep", (json_int_t)keep, "drop", (json_int_t)drop,
                          "reason", reason);
    if (sim >= 0) json_object_set_new(m, "similarity", json_real(sim));
    json_array_append_new(merges, m);
    return TA_OK;
}

typedef struct {
    size_t a, b; /* indexes into the entity list */
    double sim;
} pair;

static int cmp_pair(const void *x, const void *y)
{
    const pair *a = x, *b = y;
    if (a->sim != b->sim) return a->sim > b->sim ? -1 : 1;
    if (a->a != b->a) return a->a < b->a ? -1 : 1;
    return (a->b > b->b) - (a->b < b->b);
}

static const entity *find_entity(const entity_list *l, int64_t id)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (l->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n && l->v[lo].id == id ? &l->v[lo] : NULL;
}

/* The kept one of two: a typed entity over an untyped one, then the higher
 * confidence, then the older. */
static bool keeps_first(const entity *a, const entity *b)
{
    if (!a->type[0] != !b->type[0]) return a->type[0] != 0;
    if (a->confidence != b->confidence) return a->confidence > b->confidence;
    return a->id < b->id;
}

static int merge_similar(ta_store *s, const ta_weave_opts *o, merge_map *map, json_t *merges,
                         ta_error *err)
{
    entity_list l = {0};
    int rc = ta_store_entity_embeddings(s, collect_entity, &l, err);
    if (rc == TA_ENOMEM) rc = ta_error_set(err, TA_ENOMEM, "out of memory for entity vectors");
    pair *pairs = NULL;
    size_t np = 0, cap = 0;
    ta_hnsw *h = NULL;
    if (!rc && l.n > 1) {
        ta_hnsw_params p = {.dim = l.dim, .dist = TA_DIST_COSINE, .seed = 7, .capacity_hint = l.n};
        h = ta_hnsw_new(&p, err);
        if (!h) rc = err ? err->code : TA_ENOMEM;
        for (size_t i = 0; !rc && i < l.n; i++)
            (void)ta_hnsw_add(h, (uint64_t)i, l.v[i].vec, NULL); /* a zero vector: left out */
        for (size_t i = 0; !rc && i < l.n; i++) {
            ta_hnsw_hit hits[9];
            uint32_t n = 0;
            if (!ta_hnsw_contains(h, i)) continue;
            rc = ta_hnsw_search(h, l.v[i].vec, 9, 0, NULL, NULL, hits, &n, err);
            for (uint32_t j = 0; !rc && j < n; j++) {
                size_t other = (size_t)hits[j].id;
                double sim = 1.0 - (double)hits[j].distance;
                if (other <= i || sim < o->merge_threshold) continue;
                if (np == cap) {
                    cap = cap ? cap * 2 : 32;
                    pair *v = realloc(pairs, cap * sizeof *v);
                    if (!v) {
                        rc = ta_error_set(err, TA_ENOMEM, "out of memory");
                        break;
                    }
                    pairs = v;
                }
                pairs[np++] = (pair){i, other, sim};
            }
        }
    }
    if (!rc && np > 1) qsort(pairs, np, sizeof *pairs, cmp_pair);
    for (size_t i = 0; !rc && i < np; i++) {
        const entity *a = find_entity(&l, resolve(map, l.v[pairs[i].a].id));
        const entity *b = find_entity(&l, resolve(map, l.v[pairs[i].b].id));
        if (!a || !b || a == b) continue; /* merged already (or kept one has no vector) */
        if (a->type[0] && b->type[0] && strcmp(a->type, b->type)) continue; /* other kinds */
        if (!keeps_first(a, b)) {
            const entity *t = a;
            a = b, b = t;
        }
        rc = do_merge(s, o, map, merges, a->id, b->id, "similar embedding", pairs[i].sim, err);
    }
    ta_hnsw_free(h);
    free(pairs);
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i].vec);
    free(l.v);
    return rc;
}

static int merge_all(ta_store *s, const ta_weave_opts *o, json_t *report, ta_error *err)
{
    json_t *merges = json_array();
    merge_map map = {0};
    json_t *same = ta_store_untyped_duplicates(s, err);
    int rc = same ? TA_OK : TA_EIO;
    size_t i;
    json_t *p;
    json_array_foreach(same, i, p)
    {
        if (rc) break;
        int64_t keep = json_integer_value(json_array_get(p, 0));
        int64_t drop = json_integer_value(json_array_get(p, 1));
        rc = do_merge(s, o, &map, merges, keep, drop, "same label", -1, err);
    }
    json_decref(same);
    if (!rc) rc = merge_similar(s, o, &map, merges, err);
    free(map.from);
    free(map.to);
    if (rc) {
        json_decref(merges);
        return rc;
    }
    json_object_set_new(report, "merges", merges);
    return TA_OK;
}

json_t *ta_weaver_run(ta_store *s, const ta_hnsw *idx, const ta_weave_opts *opts, ta_error *err)
{
    ta_weave_opts o = ta_weave_defaults(opts);
    json_t *report = json_pack("{s:b,s:i,s:i,s:[]}", "dry_run", o.dry_run, "messages_linked", 0,
                               "links", 0, "merges");
    int rc = o.links ? link_all(s, idx, &o, report, err) : TA_OK;
    if (!rc && o.merges) rc = merge_all(s, &o, report, err);
    if (rc) {
        json_decref(report);
        return NULL;
    }
    return report;
}
