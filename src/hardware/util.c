/*
 * util.c - file reading through the root prefix for the hardware probes
 * (hw_internal.h). Everything read here is small (sysfs attributes, /proc lines).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hw_internal.h"

bool ta_hw_path(char *out, size_t cap, const char *root, const char *path)
{
    int n = snprintf(out, cap, "%s%s", root ? root : "", path);
    return n >= 0 && (size_t)n < cap;
}

int ta_hw_read(const char *root, const char *path, char *buf, size_t cap)
{
    char full[4096];
    if (!cap || !ta_hw_path(full, sizeof full, root, path)) return -1;
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t used = 0;
    while (used + 1 < cap) {
        ssize_t n = read(fd, buf + used, cap - 1 - used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    while (used && isspace((unsigned char)buf[used - 1]))
        buf[--used] = '\0';
    return (int)used;
}

bool ta_hw_read_u64(const char *root, const char *path, uint64_t *out)
{
    char buf[64];
    if (ta_hw_read(root, path, buf, sizeof buf) <= 0) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 0);
    if (errno || end == buf || *end) return false;
    *out = v;
    return true;
}

bool ta_hw_exists(const char *root, const char *path)
{
    char full[4096];
    struct stat st;
    return ta_hw_path(full, sizeof full, root, path) && stat(full, &st) == 0;
}

bool ta_hw_link_name(const char *root, const char *path, char *out, size_t cap)
{
    char full[4096], target[4096];
    if (!ta_hw_path(full, sizeof full, root, path)) return false;
    ssize_t n = readlink(full, target, sizeof target - 1);
    if (n <= 0) return false;
    target[n] = '\0';
    while (n > 1 && target[n - 1] == '/')
        target[--n] = '\0';
    const char *slash = strrchr(target, '/');
    ta_hw_copy(out, cap, slash ? slash + 1 : target);
    return out[0] != '\0';
}

bool ta_hw_uevent(const char *root, const char *dir, const char *key, char *out, size_t cap)
{
    char path[4096], buf[4096];
    snprintf(path, sizeof path, "%s/uevent", dir);
    if (ta_hw_read(root, path, buf, sizeof buf) < 0) return false;
    size_t klen = strlen(key);
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, key, klen) && line[klen] == '=') {
            ta_hw_copy(out, cap, line + klen + 1);
            return true;
        }
    }
    return false;
}

int ta_hw_count_cpu_list(const char *list)
{
    int count = 0;
    const char *p = list;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10);
        if (end == p || a < 0) return 0;
        long b = a;
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            if (end == p + 1 || b < a) return 0;
            p = end;
        }
        count += (int)(b - a + 1);
        if (*p == ',')
            p++;
        else if (*p && !isspace((unsigned char)*p))
            return 0;
        else
            break;
    }
    return count;
}

double ta_hw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void ta_hw_copy(char *dst, size_t cap, const char *src)
{
    if (cap) snprintf(dst, cap, "%s", src ? src : "");
}
