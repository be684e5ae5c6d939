/*
 * packcache.c - see packcache.h.
 *
 * File layout (little-endian, the header padded to a page):
 *     char     magic[8]      "TAPACK01"
 *     uint32   n             entries
 *     uint32   reserved
 *     uint64   src_size, src_mtime_ns, src_ino, src_dev
 *     char     kernels[16]   the kernel set's name
 *     uint64   file_bytes
 *     n x { uint64 tensor_offset; uint32 pack; uint32 reserved; uint64 data_off, size }
 *     data, each entry at a 64-byte aligned data_off
 * The header is written last, so a file cut short by a crash has no valid magic.
 */
#include "packcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC       "TAPACK01"
#define HEAD_FIXED  72
#define ENTRY_BYTES 32

static size_t header_bytes(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (HEAD_FIXED + n * ENTRY_BYTES + page - 1) / page * page;
}

/* mkdir -p; 0 when dir exists afterwards. */
static int make_dirs(char *dir)
{
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    return mkdir(dir, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static int cache_dir(char *out, size_t cap)
{
    const char *env = getenv("TABAGENT_PACK_CACHE");
    if (env && !strcmp(env, "0")) return -1;
    int w;
    if (env && *env)
        w = snprintf(out, cap, "%s", env);
    else if (getenv("XDG_CACHE_HOME") && *getenv("XDG_CACHE_HOME"))
        w = snprintf(out, cap, "%s/tabagent/packed", getenv("XDG_CACHE_HOME"));
    else if (getenv("HOME") && *getenv("HOME"))
        w = snprintf(out, cap, "%s/.cache/tabagent/packed", getenv("HOME"));
    else
        return -1;
    if (w < 0 || (size_t)w >= cap) return -1;
    return make_dirs(out);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Before writing a new file: removes cache files nobody has read for 30 days (their
 * models are likely gone or changed) and temporary files a crashed writer left a day
 * ago. */
static void prune(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        bool pack = len > 7 && !strcmp(e->d_name + len - 7, ".tapack");
        bool tmp = len > 4 && !strcmp(e->d_name + len - 4, ".tmp") && strstr(e->d_name, ".tapack.");
        if (!pack && !tmp) continue;
        char path[4096];
        struct stat st;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path ||
            lstat(path, &st) || !S_ISREG(st.st_mode))
            continue;
        if ((pack && now - st.st_atime > 30 * 86400) || (tmp && now - st.st_mtime > 86400))
            unlink(path);
    }
    closedir(d);
}

typedef struct ident {
    uint64_t size, mtime_ns, ino, dev;
    char kernels[16];
} ident;

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void lay_out(ta_pack_entry *e, size_t n, size_t *total)
{
    size_t at = header_bytes(n);
    for (size_t i = 0; i < n; i++) {
        e[i].data_off = at;
        at += (e[i].size + 63) & ~(size_t)63;
    }
    *total = at;
}

/* An existing file that matches in every field. */
static bool valid(const uint8_t *m, size_t bytes, const ident *id, const ta_pack_entry *e, size_t n)
{
    if (bytes < header_bytes(n) || memcmp(m, MAGIC, 8)) return false;
    uint32_t fn;
    memcpy(&fn, m + 8, 4);
    if (fn != n || get64(m + 16) != id->size || get64(m + 24) != id->mtime_ns ||
        get64(m + 32) != id->ino || get64(m + 40) != id->dev || memcmp(m + 48, id->kernels, 16) ||
        get64(m + 64) != bytes)
        return false;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *en = m + HEAD_FIXED + i * ENTRY_BYTES;
        uint32_t pack;
        memcpy(&pack, en + 8, 4);
        uint64_t off = get64(en + 16), size = get64(en + 24);
        if (get64(en) != e[i].tensor_offset || pack != e[i].pack || off != e[i].data_off ||
            size != e[i].size || off > bytes || size > bytes - off)
            return false;
    }
    return true;
}

int ta_packcache_open(const char *model_path, const char *kernels, ta_pack_entry *e, size_t n,
                      ta_packcache *pc)
{
    memset(pc, 0, sizeof *pc);
    pc->fd = -1;
    char dir[2048];
    struct stat st;
    if (!model_path || cache_dir(dir, sizeof dir) || stat(model_path, &st)) return -1;
    ident id = {(uint64_t)st.st_size,
                (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec,
                (uint64_t)st.st_ino,
                (uint64_t)st.st_dev,
                {0}};
    snprintf(id.kernels, sizeof id.kernels, "%s", kernels);
    char real[4096];
    if (!realpath(model_path, real)) return -1;
    uint64_t h = fnv(fnv(0xcbf29ce484222325ull, real, strlen(real)), &id, sizeof id);
    for (size_t i = 0; i < n; i++)
        h = fnv(h, &e[i], sizeof e[i].tensor_offset + sizeof e[i].pack);
    size_t total;
    lay_out(e, n, &total);
    if ((size_t)snprintf(pc->path, sizeof pc->path, "%s/%016llx.tapack", dir,
                         (unsigned long long)h) >= sizeof pc->path)
        return -1;

    int fd = open(pc->path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat cs;
        if (!fstat(fd, &cs) && (uint64_t)cs.st_size == total) {
            void *m = mmap(NULL, total, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
            if (m != MAP_FAILED) {
                if (valid(m, total, &id, e, n)) {
                    close(fd);
                    pc->map = m;
                    pc->bytes = total;
                    pc->filled = true;
                    return 0;
                }
                munmap(m, total);
            }
        }
        close(fd);
    }

    prune(dir);
    /* Write a new one: reserve the blocks first, so that filling the mapping cannot
     * fail for want of space (that would be SIGBUS, not an error). */
    snprintf(pc->tmp_path, sizeof pc->tmp_path, "%s.%ld.tmp", pc->path, (long)getpid());
    fd = open(pc->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    if (posix_fallocate(fd, 0, (off_t)total) != 0) {
        close(fd);
        unlink(pc->tmp_path);
        return -1;
    }
    void *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        unlink(pc->tmp_path);
        return -1;
    }
    pc->map = m;
    pc->bytes = total;
    pc->fd = fd;
    /* The header, but with the magic zeroed until commit. */
    uint8_t *hd = pc->map;
    memset(hd, 0, header_bytes(n));
    uint32_t n32 = (uint32_t)n;
    memcpy(hd + 8, &n32, 4);
    put64(hd + 16, id.size);
    put64(hd + 24, id.mtime_ns);
    put64(hd + 32, id.ino);
    put64(hd + 40, id.dev);
    memcpy(hd + 48, id.kernels, 16);
    put64(hd + 64, total);
    for (size_t i = 0; i < n; i++) {
        uint8_t *en = hd + HEAD_FIXED + i * ENTRY_BYTES;
        put64(en, e[i].tensor_offset);
        memcpy(en + 8, &e[i].pack, 4);
        put64(en + 16, e[i].data_off);
        put64(en + 24, e[i].size);
    }
    return 0;
}

void ta_packcache_commit(ta_packcache *pc)
{
    if (pc->filled || pc->fd < 0) return;
    msync(pc->map, pc->bytes, MS_SYNC); /* the data before the magic that vouches for it */
    memcpy(pc->map, MAGIC, 8);
    msync(pc->map, (size_t)sysconf(_SC_PAGESIZE), MS_SYNC);
    if (rename(pc->tmp_path, pc->path) == 0) pc->tmp_path[0] = '\0';
    mprotect(pc->map, pc->bytes, PROT_READ);
    close(pc->fd);
    pc->fd = -1;
    pc->filled = true;
}

void ta_packcache_close(ta_packcache *pc)
{
    if (pc->map) munmap(pc->map, pc->bytes);
    if (pc->fd >= 0) close(pc->fd);
    if (pc->tmp_path[0]) unlink(pc->tmp_path);
    memset(pc, 0, sizeof *pc);
    pc->fd = -1;
}
