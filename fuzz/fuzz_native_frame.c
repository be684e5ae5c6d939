/*
 * fuzz_native_frame.c - libFuzzer target for the native-messaging input path: the
 * frame decoder fed in fuzzer-chosen chunk sizes, and every complete frame through
 * the envelope decoder and reply encoder, as the host does.
 *
 * Input layout: byte 0 picks the chunk size, the rest is the byte stream.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "transport/native/envelope.h"
#include "transport/native/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t step = (size_t)data[0] + 1;
    data++;
    size--;
    ta_frame_decoder d;
    ta_frame_decoder_init(&d, 1u << 16); /* small limit so the skip path is reachable */
    for (size_t at = 0; at < size;) {
        size_t n = size - at < step ? size - at : step;
        size_t off = 0;
        while (off < n) {
            ta_frame_event ev;
            size_t used = ta_frame_decoder_feed(&d, data + at + off, n - off, &ev);
            if (used == (size_t)-1) abort();
            if (used == 0 && ev.kind == TA_FRAME_NONE) abort(); /* no progress: a hang */
            off += used;
            if (ev.kind == TA_FRAME_MESSAGE) {
                if (ev.len != ev.declared) abort();
                ta_envelope env;
                ta_error err;
                int rc = ta_envelope_decode(ev.data, ev.len, &env, &err);
                json_t *reply = ta_envelope_reply(&env, rc ? NULL : env.params, rc ? &err : NULL);
                if (!reply) abort();
                char *text = json_dumps(reply, JSON_COMPACT);
                if (!text) abort();
                /* Splitting the reply text must cover it exactly, in order. */
                size_t len = 0;
                while (text[len])
                    len++;
                for (size_t pos = 0; pos < len;) {
                    size_t end = ta_frame_chunk_end(text, len, pos, 7);
                    if (end <= pos || end > len) abort();
                    pos = end;
                }
                free(text);
                json_decref(reply);
                ta_envelope_clear(&env);
            }
        }
        at += n;
    }
    ta_frame_decoder_free(&d);
    return 0;
}
