/*
 * hnsw.h - the project's own approximate nearest-neighbor index: a Hierarchical
 * Navigable Small World graph (Malkov & Yashunin, 2016) over fixed-size vectors, each
 * known by the caller's 64-bit id.
 *
 * Metrics (smaller is nearer, as every distance this API returns):
 *   TA_DIST_L2      squared Euclidean distance |a - b|^2
 *   TA_DIST_IP      negative inner product -a.b
 *   TA_DIST_COSINE  1 - cos(a, b); vectors are normalized on the way in, so a zero
 *                   vector is refused
 * Storage: float32, or int8 with one symmetric scale per vector (max |x| / 127); int8
 * distances are computed on the int8 values and the scales (queries are quantized the
 * same way), for a quarter of the memory and bandwidth at a small loss of recall.
 * float32 + int8 keeps both: the graph is built on the float32 vectors (the same graph
 * as float32 alone), searches walk it on the int8 copy, a quarter of the bytes per
 * step, and re-rank the ef candidates they end with by float32 distance, so the
 * distances returned are exact and the recall is float32's within noise. The copy costs
 * dim bytes rounded up to 64, plus 8, per vector, in memory only: the file holds the
 * float32 vectors and the copy is made again at load.
 *
 * Updates: adding an id that is present replaces its vector. Removing tombstones the
 * node: searches walk through it but never return it, and its neighbors' links are
 * repaired at once (each neighbor that linked to it re-chooses among its own and the
 * removed node's neighbors). A later add reuses a tombstoned slot.
 *
 * Concurrency: any number of threads may search (and count, save) while one thread at
 * a time adds or removes. Writers are serialized by a mutex and do their graph searches
 * and neighbor choices without blocking readers; they take the write side of a
 * read-write lock only to publish the finished links (and to grow the arrays).
 *
 * Persistence: ta_hnsw_save writes a single file atomically (temp file, fsync, rename)
 * with a header (magic, version, parameters, counts, a caller tag) and a 64-bit
 * checksum over everything after it. ta_hnsw_load checks all of it - checksum, sizes,
 * every count, level and neighbor id - and refuses a corrupt, truncated or foreign file
 * with a clear error; the caller then rebuilds from its own store. The tag (for
 * example the generation of the table the vectors came from) lets it notice a stale one.
 */
#ifndef TA_INDEX_HNSW_H
#define TA_INDEX_HNSW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

typedef enum { TA_DIST_L2 = 0, TA_DIST_IP, TA_DIST_COSINE } ta_dist;
typedef enum { TA_VEC_F32 = 0, TA_VEC_I8, TA_VEC_F32_I8 } ta_vec_storage;

#define TA_HNSW_MAX_DIM 65536u
#define TA_HNSW_MAX_M   256u
#define TA_HNSW_MAX_EF  65536u

typedef struct ta_hnsw_params {
    uint32_t dim;             /* 1..TA_HNSW_MAX_DIM */
    ta_dist dist;             /* metric */
    ta_vec_storage storage;   /* float32, int8, or float32 walked as int8 */
    uint32_t M;               /* links per node above level 0 (2*M at level 0); 0: 16 */
    uint32_t ef_construction; /* candidate list while inserting; 0: 200 */
    uint32_t ef_search;       /* default candidate list of a search (ef 0); 0: 64 */
    uint64_t seed;            /* level generator; equal seeds and inserts give equal graphs */
    uint64_t capacity_hint;   /* vectors to make room for up front (0: grow as needed) */
} ta_hnsw_params;

typedef struct ta_hnsw ta_hnsw;

/* A new empty index; NULL (err filled) on bad parameters or no memory. */
ta_hnsw *ta_hnsw_new(const ta_hnsw_params *p, ta_error *err);
void ta_hnsw_free(ta_hnsw *h);

/* The parameters in use (defaults filled in). */
void ta_hnsw_get_params(const ta_hnsw *h, ta_hnsw_params *out);

/* Adds vec (dim floats, all finite) as id, or replaces id's vector if present. */
int ta_hnsw_add(ta_hnsw *h, uint64_t id, const float *vec, ta_error *err);

/* Tombstones id and repairs its neighbors' links; TA_ENOTFOUND if absent. */
int ta_hnsw_remove(ta_hnsw *h, uint64_t id, ta_error *err);

bool ta_hnsw_contains(const ta_hnsw *h, uint64_t id);

/* Live (not removed) vectors. */
size_t ta_hnsw_count(const ta_hnsw *h);

/* Return false to leave id out of the results (it is still walked through). Called
 * from the searching thread, under the index's read lock: it must not call the index. */
typedef bool (*ta_hnsw_filter)(uint64_t id, void *ud);

/* An allow-list for ta_hnsw_filter_allow: ids sorted ascending (duplicates harmless). */
typedef struct ta_hnsw_allow {
    const uint64_t *ids;
    size_t n;
} ta_hnsw_allow;

/* A ready-made filter: ud is a const ta_hnsw_allow *; binary search. */
bool ta_hnsw_filter_allow(uint64_t id, void *ud);

typedef struct ta_hnsw_hit {
    uint64_t id;
    float distance; /* by the metric above: smaller is nearer */
} ta_hnsw_hit;

/* The k nearest live vectors to query (dim finite floats) that pass filter (NULL: all),
 * nearest first, into out[0.. *n_out), *n_out <= k (fewer when fewer qualify or are
 * found). ef is the candidate list size: 0 for max(k, ef_search), else ef >= k. */
int ta_hnsw_search(const ta_hnsw *h, const float *query, uint32_t k, uint32_t ef,
                   ta_hnsw_filter filter, void *ud, ta_hnsw_hit *out, uint32_t *n_out,
                   ta_error *err);

/* The caller's tag stored in the file (0 in a new index). */
uint64_t ta_hnsw_tag(const ta_hnsw *h);
void ta_hnsw_set_tag(ta_hnsw *h, uint64_t tag);

/* Writes the index to path atomically (path.tmp.XXXXXX, fsync, rename, fsync dir). */
int ta_hnsw_save(const ta_hnsw *h, const char *path, ta_error *err);

/* Reads an index saved by ta_hnsw_save; NULL (err filled) if the file is missing
 * (TA_ENOTFOUND), unreadable (TA_EIO) or not a valid index (TA_EINVAL). */
ta_hnsw *ta_hnsw_load(const char *path, ta_error *err);

/* The same from an in-memory image of a file (borrowed; never modified). */
ta_hnsw *ta_hnsw_load_mem(const void *buf, size_t len, ta_error *err);

/* Rewrites the checksum of an in-memory image so that it verifies (when len is at least
 * a header): lets the fuzzer and tests reach the structural checks behind it. */
void ta_hnsw_image_reseal(void *buf, size_t len);

#endif
