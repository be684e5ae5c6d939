/*
 * cache.h - the model cache on disk, laid out as huggingface_hub lays it out, so that
 * either tool can use what the other downloaded:
 *
 *   <root>/models--<org>--<name>/
 *       blobs/<etag>                      the files' bytes (etag: sha256 for LFS files)
 *       snapshots/<commit>/<path>         relative symlinks to ../../blobs/<etag>
 *       refs/<revision>                   the commit a branch pointed at when pulled
 *
 * The writable root is --model-cache-path; an existing Hugging Face cache
 * ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub) is searched too,
 * read-only.
 *
 * A model is named by a spec: org/name[@revision][:selector], where the selector is a
 * file path (it has a dot) or a quantization (Q4_K_M, q8_0, F16, ...: the GGUF of that
 * type, all of its parts when split as -00001-of-0000N.gguf). Without a selector: the
 * Q4_K_M GGUF, else the only GGUF.
 */
#ifndef TA_MODELCACHE_CACHE_H
#define TA_MODELCACHE_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

typedef struct ta_cache {
    char root[4096];    /* writable */
    char hf_root[4096]; /* read-only Hugging Face cache ("" when none) */
} ta_cache;

void ta_cache_init(ta_cache *c, const char *root);

typedef struct ta_model_spec {
    char repo[256];
    char rev[128];       /* "main" when not given */
    char selector[1024]; /* "" when not given */
    bool selector_is_file;
} ta_model_spec;

/* TA_EINVAL (with the reason) when s is not a spec. */
int ta_spec_parse(const char *s, ta_model_spec *out, ta_error *err);
/* True when s looks like a spec rather than a file path or a loaded model's name. */
bool ta_spec_like(const char *s);

/* The files of `names` (n of them) a spec selects: indexes into names, in order, into
 * *picked (malloc'd). TA_ENOTFOUND naming what there is when nothing matches, TA_EINVAL
 * when the choice is ambiguous. */
int ta_spec_select(const ta_model_spec *sp, const char *const *names, size_t n, size_t **picked,
                   size_t *n_picked, ta_error *err);

/* <root>/models--org--name (into out). */
void ta_cache_repo_dir(const char *root, const char *repo, char *out, size_t cap);

/* The local paths of a spec's files when they are all in a cache (ours first, then
 * Hugging Face's), the first one being what to load; TA_ENOTFOUND otherwise. The
 * commit is filled in too. paths: malloc'd array of malloc'd strings. */
int ta_cache_find(const ta_cache *c, const ta_model_spec *sp, char ***paths, size_t *n,
                  char *commit, size_t commit_cap, ta_error *err);
void ta_cache_free_paths(char **paths, size_t n);

/* Records a downloaded blob as repo's file at commit (the snapshot link) and, when rev
 * is a branch, the ref. */
int ta_cache_link(const ta_cache *c, const char *repo, const char *rev, const char *commit,
                  const char *file, const char *etag, ta_error *err);

/* Every cached model file: [{id, repo, file, commit, size, path, source, current}]
 * (source "tabagent" or "huggingface"; current: the commit the ref points at). */
json_t *ta_cache_list(const ta_cache *c, ta_error *err);

/* Deletes what a spec names from the writable cache (snapshot links, then the blobs
 * nothing links to any more, then the repository when it is empty); *removed gets
 * the bytes freed. TA_ENOTFOUND when nothing matched. */
int ta_cache_remove(const ta_cache *c, const ta_model_spec *sp, uint64_t *removed, size_t *files,
                    ta_error *err);

#endif
