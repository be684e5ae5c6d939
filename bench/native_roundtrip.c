/*
 * native_roundtrip.c - native-messaging round trip through a pipe.
 *
 * Spawns `tabagent-server --mode native` the way a browser does (stdin/stdout pipes, frames of
 * a 4-byte native-endian length + UTF-8 JSON) and sends small `ping` requests:
 *
 *   sequential  one request at a time, each waiting for its reply; every round trip is timed
 *               with CLOCK_MONOTONIC (write of the request frame -> last byte of the reply).
 *   pipelined   (--pipelined) all requests are written without waiting for replies, then the
 *               replies are collected. The writer never blocks on a full pipe: replies are read
 *               while requests are still going out, so any N works. Latency there is
 *               send -> reply and includes queueing behind the earlier requests.
 *
 * Every reply must echo its messageId with "status":"success" (sequential: the very id just
 * sent; pipelined: each id exactly once, in any order - the host answers on worker threads).
 * At the end stdin is closed and the host must exit 0 on EOF with nothing left on stdout.
 *
 * Prints one JSON object on stdout; progress and errors go to stderr. Exit 0 only if every
 * check held.
 *
 * Usage: native_roundtrip [-n N] [--warmup W] [--pipelined] [--server PATH] [PATH]
 *   server path: --server/positional, else $TABAGENT_SERVER_BIN, else the build's default.
 *
 * Only libc/POSIX. The host's data dir is a fresh temp dir (XDG_DATA_HOME), removed at the end.
 */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp, posix_spawn, clock_gettime */
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef TA_BENCH_DEFAULT_SERVER
#define TA_BENCH_DEFAULT_SERVER "build/tabagent-server"
#endif

extern char **environ;

enum { REPLY_TIMEOUT_MS = 10000, EXIT_TIMEOUT_MS = 10000, MAX_REPLY = 1 << 20 };

/* ---- small helpers ------------------------------------------------------------------ */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char g_tmpdir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tmpdir(void)
{
    if (g_tmpdir[0]) nftw(g_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    g_tmpdir[0] = '\0';
}

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("native_roundtrip: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    remove_tmpdir();
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples. */
static double pct(const double *sorted, size_t n, double p)
{
    if (n == 0) return 0;
    double rank = p / 100.0 * (double)n;
    size_t i = (size_t)rank;
    if ((double)i < rank) i++; /* ceil */
    if (i == 0) i = 1;
    if (i > n) i = n;
    return sorted[i - 1];
}

/* ---- the host process --------------------------------------------------------------- */

typedef struct host {
    pid_t pid;
    int to_host;   /* our write end of its stdin */
    int from_host; /* our read end of its stdout */
    /* buffered reply reader */
    unsigned char *buf;
    size_t cap, start, end;
} host;

static void set_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) fail("fcntl: %s", strerror(errno));
}

static void host_spawn(host *h, const char *path)
{
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) fail("pipe: %s", strerror(errno));
    set_cloexec(in[1]);
    set_cloexec(out[0]);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, in[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);

    /* The child's environment: ours, with XDG_DATA_HOME pointing into the temp dir. */
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    static char xdg[128];
    if (!env) fail("out of memory");
    snprintf(xdg, sizeof xdg, "XDG_DATA_HOME=%s", g_tmpdir);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "XDG_DATA_HOME=", 14) != 0) env[k++] = environ[i];
    env[k++] = xdg;
    env[k] = NULL;

    /* Like a browser launch: host path plus the mode. Its log goes to our stderr. */
    char *argv[] = {(char *)path, "--mode", "native", "--log-level", "warn", NULL};
    int rc = posix_spawn(&h->pid, path, &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    if (rc != 0) fail("cannot start %s: %s", path, strerror(rc));
    close(in[0]);
    close(out[1]);
    h->to_host = in[1];
    h->from_host = out[0];
    h->cap = 64 * 1024;
    h->buf = malloc(h->cap);
    h->start = h->end = 0;
    if (!h->buf) fail("out of memory");
}

/* Reads more bytes from the host into the buffer; waits at most timeout_ms.
 * Returns bytes read, 0 on EOF; fails on timeout or error. */
static size_t host_fill(host *h, int timeout_ms)
{
    if (h->start > 0 && h->start == h->end) h->start = h->end = 0;
    if (h->end == h->cap) {
        if (h->start > 0) {
            memmove(h->buf, h->buf + h->start, h->end - h->start);
            h->end -= h->start;
            h->start = 0;
        } else {
            h->cap *= 2;
            unsigned char *nb = realloc(h->buf, h->cap);
            if (!nb) fail("out of memory");
            h->buf = nb;
        }
    }
    for (;;) {
        struct pollfd p = {h->from_host, POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("poll: %s", strerror(errno));
        if (r == 0) fail("no reply from the host within %d ms", timeout_ms);
        ssize_t got = read(h->from_host, h->buf + h->end, h->cap - h->end);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (got < 0) fail("read from host: %s", strerror(errno));
        h->end += (size_t)got;
        return (size_t)got;
    }
}

/* If a whole frame is buffered, points *msg and *len at it, consumes it, and returns true. */
static bool host_take_frame(host *h, const char **msg, size_t *len)
{
    size_t have = h->end - h->start;
    if (have < 4) return false;
    uint32_t n;
    memcpy(&n, h->buf + h->start, 4); /* native byte order, as the protocol says */
    if (n > MAX_REPLY) fail("reply frame of %" PRIu32 " bytes (over the 1 MiB host limit)", n);
    if (have - 4 < n) {
        if (h->cap < (size_t)n + 4) { /* make room for a large frame */
            memmove(h->buf, h->buf + h->start, have);
            h->start = 0;
            h->end = have;
            h->cap = (size_t)n + 4;
            unsigned char *nb = realloc(h->buf, h->cap);
            if (!nb) fail("out of memory");
            h->buf = nb;
        }
        return false;
    }
    *msg = (const char *)h->buf + h->start + 4;
    *len = n;
    h->start += 4 + (size_t)n;
    return true;
}

/* Blocks until one whole reply frame is in. */
static void host_read_frame(host *h, const char **msg, size_t *len)
{
    while (!host_take_frame(h, msg, len))
        if (host_fill(h, REPLY_TIMEOUT_MS) == 0) fail("host closed stdout before replying");
}

static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) fail("write to host: %s", strerror(errno));
        p += w;
        len -= (size_t)w;
    }
}

/* Builds the frame for ping number i into buf; returns its length. */
static size_t make_ping(char *buf, size_t cap, size_t i)
{
    int n = snprintf(buf + 4, cap - 4, "{\"action\":\"ping\",\"messageId\":\"m%zu\"}", i);
    if (n < 0 || (size_t)n >= cap - 4) fail("message too long");
    uint32_t len = (uint32_t)n;
    memcpy(buf, &len, 4);
    return 4 + (size_t)n;
}

/* Finds the string value of "key" in a flat JSON object (our replies are compact, but allow
 * whitespace). Returns a pointer to the value's first char and its length via *vlen. */
static const char *json_str(const char *msg, size_t len, const char *key, size_t *vlen)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i + klen + 2 <= len; i++) {
        if (msg[i] != '"' || memcmp(msg + i + 1, key, klen) != 0 || msg[i + 1 + klen] != '"')
            continue;
        size_t j = i + klen + 2;
        while (j < len && (msg[j] == ' ' || msg[j] == '\t' || msg[j] == '\n' || msg[j] == '\r'))
            j++;
        if (j >= len || msg[j] != ':') continue;
        j++;
        while (j < len && (msg[j] == ' ' || msg[j] == '\t' || msg[j] == '\n' || msg[j] == '\r'))
            j++;
        if (j >= len || msg[j] != '"') return NULL;
        size_t v = ++j;
        while (j < len && msg[j] != '"' && msg[j] != '\\')
            j++;
        if (j >= len || msg[j] != '"') return NULL;
        *vlen = j - v;
        return msg + v;
    }
    return NULL;
}

/* Checks a reply and returns the ping number its messageId names. */
static size_t check_reply(const char *msg, size_t len)
{
    size_t idl = 0, stl = 0;
    const char *id = json_str(msg, len, "messageId", &idl);
    const char *st = json_str(msg, len, "status", &stl);
    if (!id || idl < 2 || id[0] != 'm')
        fail("reply without a usable messageId: %.*s", (int)(len > 300 ? 300 : len), msg);
    if (!st || stl != 7 || memcmp(st, "success", 7) != 0)
        fail("reply is not a success: %.*s", (int)(len > 300 ? 300 : len), msg);
    size_t v = 0;
    for (size_t i = 1; i < idl; i++) {
        if (id[i] < '0' || id[i] > '9') fail("unexpected messageId %.*s", (int)idl, id);
        v = v * 10 + (size_t)(id[i] - '0');
    }
    return v;
}

/* Closes the host's stdin and requires exit status 0 with nothing more on stdout. */
static int host_finish(host *h)
{
    close(h->to_host);
    h->to_host = -1;
    double deadline = now_us() + EXIT_TIMEOUT_MS * 1e3;
    /* Drain stdout to EOF: anything left is an unsolicited frame. */
    size_t extra = 0;
    for (;;) {
        struct pollfd p = {h->from_host, POLLIN, 0};
        int left = (int)((deadline - now_us()) / 1e3);
        if (left <= 0) break;
        int r = poll(&p, 1, left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        char tmp[4096];
        ssize_t got = read(h->from_host, tmp, sizeof tmp);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        extra += (size_t)got;
    }
    extra += h->end - h->start;
    close(h->from_host);
    free(h->buf);
    h->buf = NULL;
    if (extra) fail("host wrote %zu unexpected bytes on stdout", extra);

    int status = 0;
    for (;;) {
        pid_t r = waitpid(h->pid, &status, WNOHANG);
        if (r == h->pid) break;
        if (r < 0 && errno != EINTR) fail("waitpid: %s", strerror(errno));
        if (now_us() > deadline) {
            kill(h->pid, SIGKILL);
            waitpid(h->pid, &status, 0);
            fail("host did not exit within %d ms of EOF on stdin", EXIT_TIMEOUT_MS);
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (WIFSIGNALED(status)) fail("host killed by signal %d", WTERMSIG(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("host exited with status %d after EOF", WEXITSTATUS(status));
    return 0;
}

/* ---- the two modes ------------------------------------------------------------------ */

typedef struct stats {
    size_t n;
    double p50, p90, p99, max, min, mean, total_s;
} stats;

static stats summarize(double *lat, size_t n, double total_us)
{
    stats s = {0};
    qsort(lat, n, sizeof *lat, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += lat[i];
    s.n = n;
    s.p50 = pct(lat, n, 50);
    s.p90 = pct(lat, n, 90);
    s.p99 = pct(lat, n, 99);
    s.max = n ? lat[n - 1] : 0;
    s.min = n ? lat[0] : 0;
    s.mean = n ? sum / (double)n : 0;
    s.total_s = total_us / 1e6;
    return s;
}

/* Sequential: ids base..base+n-1, each round trip timed. lat may be NULL (warm-up). */
static double run_sequential(host *h, size_t base, size_t n, double *lat)
{
    char frame[128];
    double t0 = now_us();
    for (size_t i = 0; i < n; i++) {
        size_t flen = make_ping(frame, sizeof frame, base + i);
        double s = now_us();
        write_all(h->to_host, frame, flen);
        const char *msg;
        size_t len;
        host_read_frame(h, &msg, &len);
        double e = now_us();
        size_t got = check_reply(msg, len);
        if (got != base + i) fail("sent m%zu, reply echoes m%zu", base + i, got);
        if (lat) lat[i] = e - s;
    }
    return now_us() - t0;
}

/* Pipelined: ids base..base+n-1 written back to back; replies read as they come. */
static double run_pipelined(host *h, size_t base, size_t n, double *lat)
{
    double *sent = calloc(n, sizeof *sent);
    bool *seen = calloc(n, sizeof *seen);
    if (!sent || !seen) fail("out of memory");
    int fl = fcntl(h->to_host, F_GETFL);
    if (fl < 0 || fcntl(h->to_host, F_SETFL, fl | O_NONBLOCK) < 0)
        fail("fcntl: %s", strerror(errno));

    char frame[128];
    size_t next = 0, received = 0, flen = 0, foff = 0;
    double t0 = now_us();
    while (received < n) {
        struct pollfd p[2] = {{h->from_host, POLLIN, 0}, {h->to_host, POLLOUT, 0}};
        nfds_t np = next < n ? 2 : 1;
        int r = poll(p, np, REPLY_TIMEOUT_MS);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("poll: %s", strerror(errno));
        if (r == 0) fail("pipelined: stalled with %zu of %zu replies", received, n);
        if (np == 2 && (p[1].revents & (POLLOUT | POLLERR))) {
            /* Write as many requests as the pipe takes right now. */
            while (next < n) {
                if (foff == flen) {
                    flen = make_ping(frame, sizeof frame, base + next);
                    foff = 0;
                    sent[next] = now_us();
                }
                ssize_t w = write(h->to_host, frame + foff, flen - foff);
                if (w < 0 && errno == EINTR) continue;
                if (w < 0 && errno == EAGAIN) break;
                if (w < 0) fail("write to host: %s", strerror(errno));
                foff += (size_t)w;
                if (foff == flen) next++;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (host_fill(h, 0) == 0)
                fail("host closed stdout with %zu of %zu replies", received, n);
            const char *msg;
            size_t len;
            double e = now_us();
            while (host_take_frame(h, &msg, &len)) {
                size_t got = check_reply(msg, len);
                if (got < base || got >= base + next)
                    fail("reply for m%zu, which was not sent", got);
                if (seen[got - base]) fail("second reply for m%zu", got);
                seen[got - base] = true;
                lat[got - base] = e - sent[got - base];
                received++;
            }
        }
    }
    double total = now_us() - t0;
    if (fcntl(h->to_host, F_SETFL, fl) < 0) fail("fcntl: %s", strerror(errno));
    free(sent);
    free(seen);
    return total;
}

static void print_stats_fields(const stats *s)
{
    printf("\"messages\":%zu,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
           "\"min_us\":%.1f,\"mean_us\":%.1f,\"total_s\":%.4f,\"msgs_per_s\":%.0f",
           s->n, s->p50, s->p90, s->p99, s->max, s->min, s->mean, s->total_s,
           s->total_s > 0 ? (double)s->n / s->total_s : 0.0);
}

static size_t parse_count(const char *s, const char *what)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end || s[0] == '-' || v > 100000000ull) fail("bad %s: %s", what, s);
    return (size_t)v;
}

static void usage(FILE *f)
{
    fputs("usage: native_roundtrip [-n N] [--warmup W] [--pipelined] [--server PATH] [PATH]\n"
          "  -n, --messages N   pings to time (default 1000)\n"
          "  --warmup W         untimed pings first (default 20)\n"
          "  --pipelined        also run the pipelined mode (reported under \"pipelined\")\n"
          "  --server PATH      tabagent-server (else $TABAGENT_SERVER_BIN, "
          "else " TA_BENCH_DEFAULT_SERVER ")\n",
          f);
}

int main(int argc, char **argv)
{
    size_t n = 1000, warmup = 20;
    bool pipelined = false;
    const char *server = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-n") || !strcmp(a, "--messages")) && i + 1 < argc)
            n = parse_count(argv[++i], "message count");
        else if (!strcmp(a, "--warmup") && i + 1 < argc)
            warmup = parse_count(argv[++i], "warm-up count");
        else if (!strcmp(a, "--pipelined"))
            pipelined = true;
        else if (!strcmp(a, "--server") && i + 1 < argc)
            server = argv[++i];
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] != '-' && !server)
            server = a;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (n == 0) fail("need at least one message");
    if (!server) server = getenv("TABAGENT_SERVER_BIN");
    if (!server || !*server) server = TA_BENCH_DEFAULT_SERVER;
    if (access(server, X_OK) != 0) fail("server binary %s: %s", server, strerror(errno));

    signal(SIGPIPE, SIG_IGN); /* a dead host shows up as EPIPE, not as our death */
    const char *tmpbase = getenv("TMPDIR");
    snprintf(g_tmpdir, sizeof g_tmpdir, "%s/tabagent-bench-native.XXXXXX",
             tmpbase && *tmpbase && strlen(tmpbase) < 30 ? tmpbase : "/tmp");
    if (!mkdtemp(g_tmpdir)) {
        g_tmpdir[0] = '\0';
        fail("mkdtemp: %s", strerror(errno));
    }

    double *lat = calloc(n, sizeof *lat);
    if (!lat) fail("out of memory");

    host h = {0};
    host_spawn(&h, server);
    run_sequential(&h, 0, warmup, NULL); /* page in code, start the first workers */
    double total = run_sequential(&h, warmup, n, lat);
    stats seq = summarize(lat, n, total);

    stats pip = {0};
    if (pipelined) {
        memset(lat, 0, n * sizeof *lat);
        total = run_pipelined(&h, warmup + n, n, lat);
        pip = summarize(lat, n, total);
    }
    host_finish(&h);
    remove_tmpdir();
    free(lat);

    printf("{\"bench\":\"native_roundtrip\",");
    print_stats_fields(&seq);
    printf(",\"warmup\":%zu", warmup);
    if (pipelined) {
        printf(",\"pipelined\":{");
        print_stats_fields(&pip);
        printf("}");
    }
    printf(",\"host_exit\":0}\n");
    return 0;
}
