/*
 * native_host.h - the native messaging host: reads request frames from a file
 * descriptor (stdin when a browser launched us), dispatches each through the router
 * on a worker thread, and writes replies and stream events as frames.
 *
 * Bad frames (zero length, oversized, invalid JSON or UTF-8, unknown action, wrong
 * types) get an error reply and the host keeps running. EOF on input ends the host:
 * in-flight requests are cancelled and waited for, then ta_native_host_run returns 0.
 * Replies longer than one frame (1 MiB) are split into "partial" frames:
 *   {"messageId":ID,"type":"partial","part":i,"parts":n,"chunk":"<text>"}
 * whose chunks, concatenated in order, are the JSON text of the reply.
 */
#ifndef TA_NATIVE_HOST_H
#define TA_NATIVE_HOST_H

#include <stdint.h>

#include "../../handler/router.h"

typedef struct ta_native_host ta_native_host;

typedef struct ta_native_config {
    int in_fd, out_fd;
    unsigned max_inflight;  /* concurrent requests; 0 = 16 */
    uint32_t max_in_frame;  /* 0 = TA_NATIVE_MAX_IN */
    uint32_t max_out_frame; /* 0 = TA_NATIVE_MAX_OUT (tests make it small) */
} ta_native_config;

ta_native_host *ta_native_host_new(ta_router *router, const ta_native_config *cfg);
/* Serves until EOF (returns 0) or a read error (TA_EIO), or until stop is called. */
int ta_native_host_run(ta_native_host *h);
/* Asks a running host to stop: cancels in-flight requests; safe from any thread. */
void ta_native_host_stop(ta_native_host *h);
void ta_native_host_free(ta_native_host *h);

#endif
