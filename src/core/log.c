/*
 * log.c - see log.h.
 */
#include "log.h"
#include "error.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = TA_LOG_INFO;
static atomic_int log_fd = 2;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

int ta_log_level_parse(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < 5; i++)
        if (strcasecmp(name, level_names[i]) == 0) return i;
    if (strcasecmp(name, "warning") == 0) return TA_LOG_WARN;
    return -1;
}

const char *ta_log_level_name(ta_log_level level)
{
    return (level >= 0 && level <= TA_LOG_TRACE) ? level_names[level] : "?";
}

void ta_log_set_level(ta_log_level level)
{
    atomic_store(&log_level, level);
}

ta_log_level ta_log_get_level(void)
{
    return (ta_log_level)atomic_load(&log_level);
}

int ta_log_set_file(const char *path)
{
    int fd = 2;
    if (path) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0) return TA_EIO;
    }
    int old = atomic_exchange(&log_fd, fd);
    if (old > 2) close(old);
    return TA_OK;
}

void ta_log(ta_log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level)) return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%ld] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], (long)syscall(SYS_gettid));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(atomic_load(&log_fd), line, len);
    (void)w; /* nowhere to report a failed log write */
}
