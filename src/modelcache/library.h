/*
 * library.h - the default model library (data/library.json, compiled in): a short list
 * of good small models for chat and for embeddings, with their files, quantizations and
 * sizes. `pull` without a name takes the default chat model; a library name
 * ("qwen2.5-0.5b-instruct") stands for its repo:file spec; the hardware
 * recommendations choose from it.
 */
#ifndef TA_MODELCACHE_LIBRARY_H
#define TA_MODELCACHE_LIBRARY_H

#include <jansson.h>
#include <stddef.h>

/* The whole library (borrowed; parsed once). */
const json_t *ta_library(void);

/* The library entry named name, or NULL. */
const json_t *ta_library_find(const char *name);

/* The spec to pull for name: a library name becomes "repo:file"; anything else is
 * copied as it is; NULL or "" gives the default chat model. */
void ta_library_spec(const char *name, char *out, size_t cap);

#endif
