/*
 * packcache.h - repacked weights kept in a file, so that a model loads by mapping it.
 *
 * Repacking (repack.h) copies every packed matrix into new memory: on a VM that first
 * touch of fresh pages costs about 0.5 s a GB, every load, and the copy is private to
 * the process. The first load of a model therefore writes its packed matrices into a
 * cache file (repacking straight into the file's pages); later loads validate and map
 * that file: no copy, page-cache pages shared by every process using the model.
 *
 * The file is <dir>/<hash>.tapack, dir from TABAGENT_PACK_CACHE (0 turns the cache off),
 * else $XDG_CACHE_HOME/tabagent/packed, else ~/.cache/tabagent/packed; the hash names
 * the model file (path, size, mtime, inode) and the kernel set. Its header repeats all
 * of that and the list of packed tensors with their offsets and sizes; anything that
 * does not match, or does not fit in the file, makes it ignored and rewritten. Files
 * are written under a temporary name and renamed when complete. Writing one removes
 * cache files nobody read for 30 days.
 */
#ifndef TA_ENGINE_PACKCACHE_H
#define TA_ENGINE_PACKCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ta_pack_entry {
    uint64_t tensor_offset; /* the tensor's data offset in the GGUF (its identity) */
    uint32_t pack;          /* ta_pack */
    uint64_t size;          /* packed bytes */
    uint64_t data_off;      /* where they are in the cache file (set by open) */
} ta_pack_entry;

typedef struct ta_packcache {
    uint8_t *map; /* the whole file */
    size_t bytes;
    bool filled; /* an existing valid file: nothing to write */
    int fd;      /* while filling */
    char tmp_path[4096], path[4096];
} ta_packcache;

/* Maps the cache file of model_path for these entries (their data_off are set). 0 and
 * pc->filled: the data is there. 0 and !filled: a writable mapping to repack into, then
 * ta_packcache_commit. -1: no cache (turned off, no directory, no space): the caller
 * packs into memory of its own. */
int ta_packcache_open(const char *model_path, const char *kernels, ta_pack_entry *e, size_t n,
                      ta_packcache *pc);

/* After filling: writes the header, publishes the file, leaves the mapping read-only. */
void ta_packcache_commit(ta_packcache *pc);

/* Unmaps (and, if never committed, removes the temporary file). */
void ta_packcache_close(ta_packcache *pc);

#endif
