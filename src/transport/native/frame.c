/*
 * frame.c - see frame.h.
 */
#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../../core/error.h"

void ta_frame_decoder_init(ta_frame_decoder *d, uint32_t max_frame)
{
    memset(d, 0, sizeof *d);
    d->max_frame = max_frame;
}

void ta_frame_decoder_free(ta_frame_decoder *d)
{
    free(d->buf);
    d->buf = NULL;
    d->cap = d->have = 0;
}

int ta_frame_decoder_idle(const ta_frame_decoder *d)
{
    return d->hdr_have == 0 && !d->in_frame && d->skip == 0;
}

size_t ta_frame_decoder_feed(ta_frame_decoder *d, const uint8_t *data, size_t len,
                             ta_frame_event *ev)
{
    size_t used = 0;
    ev->kind = TA_FRAME_NONE;
    ev->data = NULL;
    ev->len = 0;
    ev->declared = 0;

    while (used < len) {
        if (d->skip) {
            size_t n = len - used < d->skip ? len - used : d->skip;
            d->skip -= (uint32_t)n;
            used += n;
            continue;
        }
        if (!d->in_frame) {
            size_t n = 4 - d->hdr_have;
            if (n > len - used) n = len - used;
            memcpy(d->hdr + d->hdr_have, data + used, n);
            d->hdr_have += n;
            used += n;
            if (d->hdr_have < 4) return used;
            uint32_t size;
            memcpy(&size, d->hdr, 4); /* native byte order, as Chromium writes it */
            d->hdr_have = 0;
            ev->declared = size;
            if (size == 0) {
                ev->kind = TA_FRAME_EMPTY;
                return used;
            }
            if (size > d->max_frame) {
                d->skip = size;
                ev->kind = TA_FRAME_TOO_BIG;
                return used;
            }
            d->need = size;
            d->have = 0;
            d->in_frame = 1;
            continue;
        }
        size_t n = d->need - d->have;
        if (n > len - used) n = len - used;
        if (d->have + n > d->cap) {
            /* Grow with the bytes that actually arrive, so a lying header costs nothing. */
            size_t cap = d->cap ? d->cap : 4096;
            while (cap < d->have + n)
                cap *= 2;
            if (cap > d->need) cap = d->need;
            char *nb = realloc(d->buf, cap + 1);
            if (!nb) return (size_t)-1;
            d->buf = nb;
            d->cap = cap;
        }
        memcpy(d->buf + d->have, data + used, n);
        d->have += n;
        used += n;
        if (d->have == d->need) {
            d->in_frame = 0;
            d->buf[d->have] = '\0';
            ev->kind = TA_FRAME_MESSAGE;
            ev->data = d->buf;
            ev->len = d->have;
            ev->declared = d->need;
            return used;
        }
    }
    return used;
}

int ta_frame_write(int fd, const char *data, size_t len)
{
    if (len > UINT32_MAX) return TA_ETOOBIG;
    uint32_t size = (uint32_t)len;
    struct iovec iov[2] = {{&size, 4}, {(void *)data, len}};
    int cnt = 2;
    struct iovec *v = iov;
    while (cnt > 0) {
        ssize_t w = writev(fd, v, cnt);
        if (w < 0) {
            if (errno == EINTR) continue;
            return TA_EIO;
        }
        size_t left = (size_t)w;
        while (cnt > 0 && left >= v->iov_len) {
            left -= v->iov_len;
            v++;
            cnt--;
        }
        if (cnt > 0) {
            v->iov_base = (char *)v->iov_base + left;
            v->iov_len -= left;
        }
    }
    return TA_OK;
}

/* Bytes this byte takes inside a JSON string, as jansson writes it (UTF-8 kept raw). */
static size_t escaped_size(unsigned char c)
{
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
        return 2;
    if (c < 0x20 || c == 0x7f) return 6;
    return 1;
}

size_t ta_frame_chunk_end(const char *text, size_t len, size_t start, size_t budget)
{
    size_t cost = 0, i = start, last_boundary = start;
    while (i < len) {
        unsigned char c = (unsigned char)text[i];
        /* Length of this UTF-8 sequence; treat stray continuation bytes as single. */
        size_t seq = 1;
        if (c >= 0xf0)
            seq = 4;
        else if (c >= 0xe0)
            seq = 3;
        else if (c >= 0xc0)
            seq = 2;
        if (i + seq > len) seq = len - i;
        size_t add = seq == 1 ? escaped_size(c) : seq;
        if (cost + add > budget) break;
        cost += add;
        i += seq;
        last_boundary = i;
    }
    /* Always make progress, even with an absurdly small budget. */
    if (last_boundary == start && start < len) {
        unsigned char c = (unsigned char)text[start];
        size_t seq = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        last_boundary = start + seq > len ? len : start + seq;
    }
    return last_boundary;
}
