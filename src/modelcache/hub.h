/*
 * hub.h - the Hugging Face Hub's HTTP API, as huggingface_hub speaks it: the file list
 * of a repository (the tree API, following Link pagination) and a file's metadata (a
 * HEAD of its resolve URL, not following the redirect to the CDN: the commit, the
 * ETag - the sha256 of an LFS file - the size and where the bytes are).
 *
 * Endpoint: HF_ENDPOINT, else https://huggingface.co. Token (sent as Authorization:
 * Bearer): HF_TOKEN, else the one set through tabagent's API (a 0600 file in its data
 * directory), else huggingface_hub's token file ($HF_TOKEN_PATH, else $HF_HOME/token,
 * else ~/.cache/huggingface/token). Errors are told apart as the Hub sends them
 * (X-Error-Code): a gated repository, a missing or private one, a missing file or
 * revision, a bad token; 429 is waited out (Retry-After) a few times.
 */
#ifndef TA_MODELCACHE_HUB_H
#define TA_MODELCACHE_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

typedef struct ta_hub {
    char endpoint[1024];
    char token[1024];          /* "" without one */
    char token_source[32];     /* "HF_TOKEN", "tabagent", "huggingface", or "" */
    char api_token_path[4096]; /* where the token set through the API lives */
    unsigned max_rate_waits;   /* 429s waited out per request (default 3) */
    unsigned max_wait_s;       /* longest Retry-After honoured (default 60) */
} ta_hub;

/* Fills h from the environment; api_token_path may be NULL (no API-set token). */
void ta_hub_init(ta_hub *h, const char *api_token_path);

/* Stores (or, token NULL, removes) the API-set token (0600) and re-reads the sources. */
int ta_hub_set_token(ta_hub *h, const char *token, ta_error *err);

typedef struct ta_hub_file {
    char path[1024];
    uint64_t size;
    char sha256[65]; /* LFS files: their sha256; "" otherwise */
    char oid[41];    /* the git blob id */
} ta_hub_file;

/* The files of repo ("org/name") at rev (NULL: main), recursively; malloc'd. */
int ta_hub_list(const ta_hub *h, const char *repo, const char *rev, ta_hub_file **files, size_t *n,
                ta_error *err);

typedef struct ta_hub_meta {
    char commit[64]; /* X-Repo-Commit */
    char etag[80];   /* X-Linked-Etag, else ETag, without quotes or W/ */
    bool lfs;        /* etag is a sha256 (64 hex) */
    uint64_t size;   /* X-Linked-Size, else Content-Length */
    char url[4096];  /* where to GET the bytes: the CDN URL, or the resolve URL */
} ta_hub_meta;

int ta_hub_head(const ta_hub *h, const char *repo, const char *rev, const char *file,
                ta_hub_meta *m, ta_error *err);

/* The account the token belongs to ({"name":...} from /api/whoami-v2): checks a token. */
int ta_hub_whoami(const ta_hub *h, char *name, size_t cap, ta_error *err);

/* The resolve URL of a file (what ta_hub_head asks). */
void ta_hub_resolve_url(const ta_hub *h, const char *repo, const char *rev, const char *file,
                        char *out, size_t cap);

#endif
