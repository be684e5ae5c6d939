/*
 * frame.h - native messaging framing: a 4-byte native-endian length, then that many
 * bytes of UTF-8 JSON.
 *
 * The decoder is an incremental state machine over arbitrary byte chunks, so the host
 * can read(2) whatever arrives and the fuzzer can drive it with any split. Frames over
 * the limit are skipped without buffering them (the host answers with an error and
 * keeps the connection); zero-length frames are reported as such.
 */
#ifndef TA_NATIVE_FRAME_H
#define TA_NATIVE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define TA_NATIVE_MAX_IN  (64u << 20) /* browser -> host: Chromium's own limit */
#define TA_NATIVE_MAX_OUT (1u << 20)  /* host -> browser: larger frames kill the port */

typedef enum {
    TA_FRAME_NONE = 0, /* need more bytes */
    TA_FRAME_MESSAGE,  /* a complete frame: data/len */
    TA_FRAME_EMPTY,    /* a zero-length frame */
    TA_FRAME_TOO_BIG,  /* a frame over the limit was (or is being) skipped: declared */
} ta_frame_kind;

typedef struct ta_frame_event {
    ta_frame_kind kind;
    const char *data; /* TA_FRAME_MESSAGE: valid until the next feed */
    size_t len;
    uint32_t declared; /* the length from the header */
} ta_frame_event;

typedef struct ta_frame_decoder {
    uint32_t max_frame;
    uint8_t hdr[4];
    size_t hdr_have;
    uint32_t need; /* payload bytes of the frame being read */
    char *buf;     /* payload so far (grown as bytes arrive, never beyond need) */
    size_t have, cap;
    uint32_t skip; /* bytes still to discard from an oversized frame */
    int in_frame;
} ta_frame_decoder;

void ta_frame_decoder_init(ta_frame_decoder *d, uint32_t max_frame);
void ta_frame_decoder_free(ta_frame_decoder *d);

/* Consumes bytes from data and stops at the first complete event, which it stores in
 * *ev (kind NONE if none yet). Returns how many bytes were consumed; call again with
 * the rest. Returns (size_t)-1 only when memory runs out. */
size_t ta_frame_decoder_feed(ta_frame_decoder *d, const uint8_t *data, size_t len,
                             ta_frame_event *ev);

/* True when the decoder is between frames (EOF here is clean). */
int ta_frame_decoder_idle(const ta_frame_decoder *d);

/* Writes one frame (header + payload) to fd, retrying short writes and EINTR.
 * Returns 0, or a negative TA_E* code (TA_EIO when the reader is gone). */
int ta_frame_write(int fd, const char *data, size_t len);

/* Where to end a chunk of text that starts at `start`, such that the chunk encoded as
 * a JSON string is at most `budget` bytes and never splits a UTF-8 character. Used to
 * split replies over TA_NATIVE_MAX_OUT into several frames. */
size_t ta_frame_chunk_end(const char *text, size_t len, size_t start, size_t budget);

#endif
