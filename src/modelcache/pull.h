/*
 * pull.h - getting a model into the cache: resolve a spec against the Hub (or, offline,
 * only the cache), download what is missing (download.c), and record it in the
 * huggingface_hub layout (cache.c), reporting progress as events. Two pulls of the
 * same file in one process share one download: the second follows the first's
 * progress (and takes over if the first is cancelled); other processes wait on the
 * file's lock.
 */
#ifndef TA_MODELCACHE_PULL_H
#define TA_MODELCACHE_PULL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "hub.h"

typedef struct ta_pull_event {
    const char *status; /* "resolving", "downloading", "cached", "done" */
    const char *file;   /* the file it is about (NULL: the whole pull) */
    uint64_t completed, total;
    double bytes_per_s;
} ta_pull_event;

typedef void (*ta_pull_fn)(void *ud, const ta_pull_event *e);

typedef struct ta_pull_opts {
    unsigned parts;           /* parallel ranged parts per file (0: 8) */
    unsigned stall_timeout_s; /* 0: 30 */
    bool offline;             /* only the cache (also HF_HUB_OFFLINE=1) */
    const atomic_bool *cancel;
    ta_pull_fn on_event;
    void *ud;
} ta_pull_opts;

typedef struct ta_pull_result {
    char repo[256], commit[64];
    char **paths; /* the local files, the first being what to load */
    size_t n;
    uint64_t fetched, total; /* bytes over the network; bytes of the files */
    bool from_cache;         /* nothing had to be downloaded */
} ta_pull_result;

int ta_pull(const ta_cache *c, const ta_hub *h, const char *spec, const ta_pull_opts *o,
            ta_pull_result *res, ta_error *err);
void ta_pull_result_free(ta_pull_result *r);

/* True when offline mode is asked for by the environment (HF_HUB_OFFLINE=1). */
bool ta_pull_env_offline(void);

#endif
