/*
 * paths.c - see paths.h.
 */
#include "paths.h"

#include <errno.h>
#include <stdatomic.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int copy_out(char *out, size_t cap, const char *s, ta_error *err)
{
    size_t n = strlen(s);
    if (n + 1 > cap) return ta_error_set(err, TA_EINVAL, "path too long: %.64s...", s);
    memcpy(out, s, n + 1);
    return TA_OK;
}

int ta_paths_join(char *out, size_t cap, const char *a, const char *b, ta_error *err)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    int n = snprintf(out, cap, "%.*s/%s", (int)la, a, b);
    if (n < 0 || (size_t)n >= cap) return ta_error_set(err, TA_EINVAL, "path too long");
    return TA_OK;
}

int ta_paths_home(char *out, size_t cap, ta_error *err)
{
    const char *home = getenv("HOME");
    if (home && home[0] == '/') return copy_out(out, cap, home, err);
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res && res->pw_dir)
        return copy_out(out, cap, res->pw_dir, err);
    return ta_error_set(err, TA_ENOTFOUND, "cannot find the home directory (HOME is not set)");
}

int ta_paths_data_dir(char *out, size_t cap, ta_error *err)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    /* The XDG spec says relative values are invalid and must be ignored. */
    if (xdg && xdg[0] == '/') return ta_paths_join(out, cap, xdg, "TabAgent", err);
    char home[4096];
    int rc = ta_paths_home(home, sizeof home, err);
    if (rc) return rc;
    return ta_paths_join(out, cap, home, ".local/share/TabAgent", err);
}

static int below_data(char *out, size_t cap, const char *leaf, ta_error *err)
{
    char data[4096];
    int rc = ta_paths_data_dir(data, sizeof data, err);
    if (rc) return rc;
    return ta_paths_join(out, cap, data, leaf, err);
}

int ta_paths_db_dir(char *out, size_t cap, ta_error *err)
{
    return below_data(out, cap, "tabagent_db", err);
}

int ta_paths_models_dir(char *out, size_t cap, ta_error *err)
{
    return below_data(out, cap, "models", err);
}

int ta_paths_mkdirs(const char *path, unsigned mode, ta_error *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return ta_error_set(err, TA_EINVAL, "bad directory path");
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
                return ta_error_set(err, TA_EIO, "cannot create directory %s: %s", buf,
                                    strerror(errno));
            *p = saved;
            if (saved == '\0') break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return ta_error_set(err, TA_EIO, "%s exists and is not a directory", path);
    return TA_OK;
}

int ta_paths_tmp_name(char *out, size_t cap, const char *path, ta_error *err)
{
    static atomic_ulong counter;
    unsigned long n = atomic_fetch_add(&counter, 1);
    int len = snprintf(out, cap, "%s.tmp-%ld-%lu", path, (long)getpid(), n);
    if (len < 0 || (size_t)len >= cap)
        return ta_error_set(err, TA_EINVAL, "path too long: %.200s", path);
    return TA_OK;
}
