/*
 * download.h - one file over HTTP(S), fast and resumable (libcurl's multi interface).
 *
 * The file is split into parts (8 by default) fetched in parallel with Range requests
 * into a preallocated <dest>.incomplete. A small sidecar, <dest>.parts (JSON, replaced
 * atomically), records how much of each part is on disk, so that after a crash or a
 * restart only what is missing is fetched again. A part that receives nothing for the
 * stall timeout is restarted; failed parts are retried with exponential back-off; a
 * server that answers 200 to a Range request gets one whole-file transfer instead. The
 * finished file is checked against its sha256 (or git blob sha1) before it is renamed to
 * <dest>; a mismatch deletes it (nothing half-published). Free disk space is checked
 * first. While a download runs, a lock file is held (flock) so that two processes
 * pulling the same file do not fetch it twice: the second waits and finds it done.
 */
#ifndef TA_MODELCACHE_DOWNLOAD_H
#define TA_MODELCACHE_DOWNLOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/error.h"

typedef struct ta_dl_progress {
    uint64_t completed, total; /* bytes on disk of the file, and its size */
    double bytes_per_s;        /* network rate over the last second or so */
    unsigned active_parts;     /* transfers running now */
} ta_dl_progress;

/* Called from the downloading thread about 10 times a second, and once at the end. */
typedef void (*ta_dl_progress_fn)(void *ud, const ta_dl_progress *p);

typedef struct ta_dl_request {
    const char *url;           /* where the bytes are (the CDN URL after the hub's redirect) */
    const char *bearer;        /* Authorization: Bearer token, or NULL */
    uint64_t size;             /* the file's size (from the hub's HEAD) */
    const char *sha256;        /* expected digest (64 hex), or NULL */
    const char *git_sha1;      /* expected git blob id (40 hex) when there is no sha256 */
    const char *dest;          /* the final path; <dest>.incomplete and .parts beside it */
    const char *lock_path;     /* the lock file (NULL: <dest>.lock) */
    unsigned parts;            /* parallel ranged parts; 0: 8 */
    unsigned stall_timeout_s;  /* a part with no bytes for this long is restarted; 0: 30 */
    unsigned max_retries;      /* failures allowed per part before giving up; 0: 6 */
    const atomic_bool *cancel; /* set to stop (the parts stay on disk for a resume) */
    ta_dl_progress_fn progress;
    void *ud;
} ta_dl_request;

typedef struct ta_dl_result {
    uint64_t fetched;   /* bytes received over the network by this call */
    uint64_t resumed;   /* bytes already on disk from an earlier attempt */
    unsigned restarts;  /* part transfers restarted (errors, stalls) */
    bool whole_file;    /* the server ignored Range: one transfer of everything */
    bool already_there; /* dest existed (or another process finished it) */
    double seconds;
} ta_dl_result;

/* Downloads r->url into r->dest. TA_OK with the file published; otherwise the error
 * says why: TA_EIO (network, disk, not enough free space), TA_EINVAL (the checksum does
 * not match: the partial file is deleted), TA_EFORBIDDEN (the server refused: a signed
 * URL may have expired), TA_ECANCELLED (cancelled; what arrived stays for a resume). */
int ta_download(const ta_dl_request *r, ta_dl_result *res, ta_error *err);

/* Sha-256 of a file as 64 hex digits (and the git blob id when git_sha1 is non-NULL). */
int ta_file_digest(const char *path, char sha256[65], char *git_sha1 /* [41] or NULL */,
                   ta_error *err);

#endif
