/*
 * probe.c - the full probe in order (OS, CPU, memory and cgroup, GPUs and NPUs, then
 * the runtimes, which need to know which devices exist), timed part by part, and the
 * process-wide copy of this machine's result.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "hw_internal.h"

void ta_hw_probe_os(ta_hw_info *hw, const char *root)
{
    if (!hw->sysroot) {
        struct utsname u;
        if (uname(&u) == 0) {
            ta_hw_copy(hw->os_name, sizeof hw->os_name, u.sysname);
            ta_hw_copy(hw->os_release, sizeof hw->os_release, u.release);
        }
    } else {
        ta_hw_read(root, "/proc/sys/kernel/ostype", hw->os_name, sizeof hw->os_name);
        ta_hw_read(root, "/proc/sys/kernel/osrelease", hw->os_release, sizeof hw->os_release);
    }
    char buf[4096];
    if (ta_hw_read(root, "/etc/os-release", buf, sizeof buf) <= 0 &&
        ta_hw_read(root, "/usr/lib/os-release", buf, sizeof buf) <= 0)
        return;
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "PRETTY_NAME=", 12)) continue;
        char *v = line + 12;
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v[n - 1] = '\0';
            v++;
        }
        ta_hw_copy(hw->os_pretty, sizeof hw->os_pretty, v);
    }
}

void ta_hw_probe(ta_hw_info *out, const char *root)
{
    double t0 = ta_hw_now_ms();
    memset(out, 0, sizeof *out);
    if (!root) root = "";
    out->sysroot = root[0] != '\0';
    ta_hw_copy(out->root, sizeof out->root, root);
    ta_hw_probe_os(out, root);
    ta_hw_probe_cpu(out, root);
    double t1 = ta_hw_now_ms();
    ta_hw_probe_memory(out, root);
    double t2 = ta_hw_now_ms();
    ta_hw_probe_devices(out, root);
    double t3 = ta_hw_now_ms();
    ta_hw_probe_runtimes(out, root);
    double t4 = ta_hw_now_ms();

    int cpus = out->cpu.logical_threads;
    if (out->cpu.affinity_cpus > 0 && (!cpus || out->cpu.affinity_cpus < cpus))
        cpus = out->cpu.affinity_cpus;
    if (out->cgroup.cpus > 0 && (!cpus || out->cgroup.cpus < cpus)) cpus = out->cgroup.cpus;
    out->effective_cpus = cpus;

    out->cpu_ms = t1 - t0;
    out->memory_ms = t2 - t1;
    out->devices_ms = t3 - t2;
    out->runtimes_ms = t4 - t3;
    out->probe_ms = t4 - t0;
}

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static ta_hw_info *cache;

void ta_hw_cached(ta_hw_info *out, bool refresh)
{
    pthread_mutex_lock(&cache_lock);
    if (!cache) cache = malloc(sizeof *cache);
    if (!cache) {
        pthread_mutex_unlock(&cache_lock);
        ta_hw_probe(out, NULL);
        return;
    }
    static bool probed;
    if (!probed || refresh) {
        ta_hw_probe(cache, NULL);
        probed = true;
    }
    memcpy(out, cache, sizeof *out);
    pthread_mutex_unlock(&cache_lock);
}
