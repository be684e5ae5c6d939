/*
 * http_sse.h - Server-Sent Events for streaming actions.
 *
 * The handler runs on its own thread and writes events into a queue; the connection
 * thread drains the queue through libmicrohttpd's content reader, one flush per
 * event. Wire format (OpenAI's): "data: <json>\n\n" per event, the final result (if
 * any) as one more data line, then "data: [DONE]\n\n"; an error ends the stream with
 * "data: {"error":{...}}\n\n". A client that disconnects cancels the handler.
 */
#ifndef TA_HTTP_SSE_H
#define TA_HTTP_SSE_H

#include "http_internal.h"

/* Starts `action` with params (stolen) on a new thread and returns the streaming
 * response once the handler has sent its first event (or ended well). A handler that
 * fails before its first event (unknown model, prompt too long, busy) gets no stream:
 * NULL, with its error in *early, for a plain reply with the right status. NULL with
 * early->code 0: the thread could not start. sock is the client socket, watched for
 * disconnects. */
struct MHD_Response *ta_http_sse_start(ta_router *router, const char *action, json_t *params,
                                       int sock, ta_error *early);

/* True when the peer on sock has closed or reset the connection. */
bool ta_http_peer_gone(int sock);

#endif
