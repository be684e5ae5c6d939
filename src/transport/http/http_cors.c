/*
 * http_cors.c - origin matching for CORS.
 *
 * Patterns, comma-separated:
 *   *                          any origin
 *   http://localhost:*         that scheme and host, any port (or no port)
 *   chrome-extension://<any>   any extension id (written with a star)
 *   https://app.example.com    exactly this origin
 * Matching is exact and case-sensitive except for the '*' forms; a '*' only ever
 * stands for a port or for the whole host part of an extension origin, so
 * "http://localhost:*" never matches "http://localhost.evil.com".
 */
#include <string.h>

#include "http_internal.h"

static bool port_ok(const char *s, size_t n)
{
    if (n == 0 || n > 5) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

static bool id_ok(const char *s, size_t n)
{
    if (n == 0 || n > 128) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '{' || c == '}' || c == '.' || c == '_' || c == '@'))
            return false;
    }
    return true;
}

static bool match_one(const char *pat, size_t plen, const char *origin)
{
    size_t olen = strlen(origin);
    if (plen == 1 && pat[0] == '*') return true;
    if (plen >= 2 && pat[plen - 1] == '*') {
        size_t pre = plen - 1;
        if (olen < pre || memcmp(origin, pat, pre) != 0) return false;
        const char *rest = origin + pre;
        size_t rlen = olen - pre;
        if (pat[pre - 1] == ':') {
            /* "scheme://host:*": the rest is a port. */
            return port_ok(rest, rlen);
        }
        if (pre >= 3 && !memcmp(pat + pre - 3, "://", 3)) {
            /* "scheme://<star>": the rest is an id without a path (a trailing '/' is allowed). */
            if (rlen && rest[rlen - 1] == '/') rlen--;
            return id_ok(rest, rlen);
        }
        return false;
    }
    return olen == plen && !memcmp(origin, pat, plen);
}

bool ta_http_origin_allowed(const char *patterns, const char *origin)
{
    if (!patterns || !origin || !*origin) return false;
    const char *p = patterns;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && p[n - 1] == ' ')
            n--;
        if (n) {
            if (match_one(p, n, origin)) return true;
            /* A port wildcard also admits the portless origin. */
            if (n > 2 && p[n - 1] == '*' && p[n - 2] == ':' && strlen(origin) == n - 2 &&
                !memcmp(origin, p, n - 2))
                return true;
        }
        p += n;
        while (*p && *p != ',')
            p++;
    }
    return false;
}
