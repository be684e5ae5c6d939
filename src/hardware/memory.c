/*
 * memory.c - memory and the container's limits: /proc/meminfo, and the cgroup the
 * process runs in (v2: memory.max, memory.current, cpu.max, walked up to the root of
 * the hierarchy because an ancestor's limit binds too; v1 as a fallback:
 * memory.limit_in_bytes, cpu.cfs_quota_us). The effective numbers, which decisions use,
 * are the smaller of the host's and the cgroup's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw_internal.h"

/* Limits this high mean "none" (cgroup v1 reports 2^63 rounded down to a page). */
#define NO_LIMIT (1ull << 60)

static void read_meminfo(ta_hw_memory *m, const char *root)
{
    char path[4096];
    if (!ta_hw_path(path, sizeof path, root, "/proc/meminfo")) return;
    FILE *f = fopen(path, "re");
    if (!f) return;
    char line[256], key[64];
    unsigned long long kb, free_kb = 0, buffers = 0, cached = 0;
    bool have_avail = false;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%63[^:]: %llu", key, &kb) != 2) continue;
        if (!strcmp(key, "MemTotal"))
            m->total_bytes = kb << 10;
        else if (!strcmp(key, "MemAvailable")) {
            m->available_bytes = kb << 10;
            have_avail = true;
        } else if (!strcmp(key, "MemFree"))
            free_kb = kb;
        else if (!strcmp(key, "Buffers"))
            buffers = kb;
        else if (!strcmp(key, "Cached"))
            cached = kb;
        else if (!strcmp(key, "SwapTotal"))
            m->swap_total_bytes = kb << 10;
        else if (!strcmp(key, "SwapFree"))
            m->swap_free_bytes = kb << 10;
    }
    fclose(f);
    /* Kernels before 3.14 have no MemAvailable. */
    if (!have_avail) m->available_bytes = (free_kb + buffers + cached) << 10;
}

/* "max" -> no limit; a number -> it. false when absent or unreadable. */
static bool read_limit(const char *root, const char *path, uint64_t *out)
{
    char buf[64];
    if (ta_hw_read(root, path, buf, sizeof buf) <= 0) return false;
    if (!strcmp(buf, "max")) {
        *out = 0;
        return true;
    }
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (end == buf || *end) return false;
    *out = v >= NO_LIMIT ? 0 : v;
    return true;
}

/* The "inactive_file" (or v1 "total_inactive_file") line of memory.stat: page cache the
 * kernel reclaims before it hits the limit, so it does not count as used. */
static uint64_t inactive_file(const char *root, const char *dir, const char *key)
{
    char path[4096], buf[8192];
    snprintf(path, sizeof path, "%s/memory.stat", dir);
    if (ta_hw_read(root, path, buf, sizeof buf) <= 0) return 0;
    size_t klen = strlen(key);
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        if (!strncmp(line, key, klen) && line[klen] == ' ')
            return strtoull(line + klen + 1, NULL, 10);
    return 0;
}

static void set_cpu_limit(ta_hw_cgroup *cg, uint64_t quota, uint64_t period)
{
    if (!quota || !period) return;
    double have = cg->cpu_quota_us ? (double)cg->cpu_quota_us / (double)cg->cpu_period_us : 1e18;
    if ((double)quota / (double)period >= have) return;
    cg->cpu_quota_us = quota;
    cg->cpu_period_us = period;
    cg->cpus = (int)((quota + period - 1) / period);
}

/* cgroup v2: the limits on the way from the process's cgroup up to the root. */
static bool probe_v2(ta_hw_cgroup *cg, const char *root, const char *cgpath)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", strcmp(cgpath, "/") ? cgpath : "");
    /* A v2 hierarchy is there when its controllers file is. */
    char probe[4200];
    snprintf(probe, sizeof probe, "/sys/fs/cgroup/cgroup.controllers");
    if (!ta_hw_exists(root, probe)) return false;
    cg->version = 2;
    ta_hw_copy(cg->path, sizeof cg->path, cgpath);
    char path[4200];
    snprintf(path, sizeof path, "%s/memory.current", dir);
    ta_hw_read_u64(root, path, &cg->memory_current_bytes);
    uint64_t inactive = inactive_file(root, dir, "inactive_file");
    if (inactive < cg->memory_current_bytes) cg->memory_current_bytes -= inactive;
    for (;;) {
        uint64_t limit;
        snprintf(path, sizeof path, "%s/memory.max", dir);
        if (read_limit(root, path, &limit) && limit &&
            (!cg->memory_max_bytes || limit < cg->memory_max_bytes))
            cg->memory_max_bytes = limit;
        char buf[64];
        snprintf(path, sizeof path, "%s/cpu.max", dir);
        if (ta_hw_read(root, path, buf, sizeof buf) > 0 && strncmp(buf, "max", 3)) {
            unsigned long long quota, period = 100000;
            if (sscanf(buf, "%llu %llu", &quota, &period) >= 1) set_cpu_limit(cg, quota, period);
        }
        char *slash = strrchr(dir, '/');
        if (!slash || !strcmp(dir, "/sys/fs/cgroup")) break;
        *slash = '\0';
    }
    return true;
}

/* A v1 controller's directory: the process's path under the controller's mount, or the
 * mount itself (inside a container the mount is already the container's cgroup). */
static bool v1_dir(const char *root, const char *mount, const char *cgpath, const char *file,
                   char *dir, size_t cap)
{
    char path[4300];
    snprintf(dir, cap, "/sys/fs/cgroup/%s%s", mount, strcmp(cgpath, "/") ? cgpath : "");
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (ta_hw_exists(root, path)) return true;
    snprintf(dir, cap, "/sys/fs/cgroup/%s", mount);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return ta_hw_exists(root, path);
}

static void probe_v1(ta_hw_cgroup *cg, const char *root, const char *mem_path, const char *cpu_path)
{
    char dir[4096], path[4200];
    if (mem_path && v1_dir(root, "memory", mem_path, "memory.limit_in_bytes", dir, sizeof dir)) {
        cg->version = 1;
        ta_hw_copy(cg->path, sizeof cg->path, mem_path);
        snprintf(path, sizeof path, "%s/memory.limit_in_bytes", dir);
        read_limit(root, path, &cg->memory_max_bytes);
        snprintf(path, sizeof path, "%s/memory.usage_in_bytes", dir);
        ta_hw_read_u64(root, path, &cg->memory_current_bytes);
        uint64_t inactive = inactive_file(root, dir, "total_inactive_file");
        if (inactive < cg->memory_current_bytes) cg->memory_current_bytes -= inactive;
    }
    static const char *const cpu_mounts[] = {"cpu,cpuacct", "cpu", "cpuacct,cpu"};
    for (size_t i = 0; cpu_path && i < 3; i++) {
        if (!v1_dir(root, cpu_mounts[i], cpu_path, "cpu.cfs_quota_us", dir, sizeof dir)) continue;
        if (!cg->version) {
            cg->version = 1;
            ta_hw_copy(cg->path, sizeof cg->path, cpu_path);
        }
        char buf[64];
        snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
        long long quota = ta_hw_read(root, path, buf, sizeof buf) > 0 ? atoll(buf) : -1;
        uint64_t period = 0;
        snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
        ta_hw_read_u64(root, path, &period);
        if (quota > 0) set_cpu_limit(cg, (uint64_t)quota, period);
        break;
    }
}

static void probe_cgroup(ta_hw_cgroup *cg, const char *root)
{
    char buf[8192];
    if (ta_hw_read(root, "/proc/self/cgroup", buf, sizeof buf) <= 0) return;
    char v2[1024] = "", mem[1024] = "", cpu[1024] = "";
    bool have_v2 = false, have_mem = false, have_cpu = false;
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = '\0';
        const char *controllers = c1 + 1, *path = c2 + 1;
        if (!strncmp(line, "0:", 2) && !*controllers) {
            ta_hw_copy(v2, sizeof v2, path);
            have_v2 = true;
        }
        char list[256];
        ta_hw_copy(list, sizeof list, controllers);
        for (char *save2 = NULL, *tok = strtok_r(list, ",", &save2); tok;
             tok = strtok_r(NULL, ",", &save2)) {
            if (!strcmp(tok, "memory")) {
                ta_hw_copy(mem, sizeof mem, path);
                have_mem = true;
            } else if (!strcmp(tok, "cpu")) {
                ta_hw_copy(cpu, sizeof cpu, path);
                have_cpu = true;
            }
        }
    }
    if (have_v2 && probe_v2(cg, root, v2) && (cg->memory_max_bytes || cg->cpus || !have_mem))
        return;
    /* Hybrid hosts mount v2 without the controllers: v1 holds the limits. */
    if (have_mem || have_cpu) {
        ta_hw_cgroup v1 = {0};
        probe_v1(&v1, root, have_mem ? mem : NULL, have_cpu ? cpu : NULL);
        if (v1.version) *cg = v1;
    }
}

void ta_hw_probe_memory(ta_hw_info *hw, const char *root)
{
    ta_hw_memory *m = &hw->memory;
    read_meminfo(m, root);
    probe_cgroup(&hw->cgroup, root);
    m->effective_total_bytes = m->total_bytes;
    m->effective_available_bytes = m->available_bytes;
    const ta_hw_cgroup *cg = &hw->cgroup;
    if (cg->memory_max_bytes) {
        uint64_t limit = cg->memory_max_bytes;
        uint64_t free_in_cg =
            cg->memory_current_bytes < limit ? limit - cg->memory_current_bytes : 0;
        if (!m->total_bytes || limit < m->effective_total_bytes) m->effective_total_bytes = limit;
        if (!m->available_bytes || free_in_cg < m->effective_available_bytes)
            m->effective_available_bytes = free_in_cg;
    }
}
