/*
 * hardware.c - see hardware.h.
 */
#include "hardware.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static FILE *open_under(const char *root, const char *path)
{
    char full[4096];
    snprintf(full, sizeof full, "%s%s", root ? root : "", path);
    return fopen(full, "re");
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '"'))
        s[--n] = '\0';
}

static void probe_cpuinfo(ta_hw_basic *out, const char *root)
{
    FILE *f = open_under(root, "/proc/cpuinfo");
    if (!f) return;
    char line[1024];
    /* Pairs of (physical id, core id); small machines have few, big ones <= 4096. */
    enum { MAX_PAIRS = 4096 };
    static _Thread_local long pairs[MAX_PAIRS];
    int npairs = 0;
    long phys = 0;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *val = colon + 1;
        while (*val == ' ' || *val == '\t')
            val++;
        trim(val);
        if (!out->cpu_model[0] && (!strncmp(line, "model name", 10) || !strncmp(line, "Model", 5) ||
                                   !strncmp(line, "Hardware", 8)))
            snprintf(out->cpu_model, sizeof out->cpu_model, "%s", val);
        else if (!strncmp(line, "physical id", 11))
            phys = strtol(val, NULL, 10);
        else if (!strncmp(line, "core id", 7)) {
            long key = phys * 100000 + strtol(val, NULL, 10);
            int seen = 0;
            for (int i = 0; i < npairs; i++)
                if (pairs[i] == key) seen = 1;
            if (!seen && npairs < MAX_PAIRS) pairs[npairs++] = key;
        }
    }
    fclose(f);
    if (npairs > 0) out->physical_cores = npairs;
}

static void probe_meminfo(ta_hw_basic *out, const char *root)
{
    FILE *f = open_under(root, "/proc/meminfo");
    if (!f) return;
    char key[64];
    unsigned long long kb;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%63[^:]: %llu", key, &kb) != 2) continue;
        if (!strcmp(key, "MemTotal")) out->ram_total_bytes = kb * 1024ull;
        if (!strcmp(key, "MemAvailable")) out->ram_available_bytes = kb * 1024ull;
    }
    fclose(f);
}

static void probe_os_release(ta_hw_basic *out, const char *root)
{
    FILE *f = open_under(root, "/etc/os-release");
    if (!f) f = open_under(root, "/usr/lib/os-release");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "PRETTY_NAME=", 12)) continue;
        char *v = line + 12;
        if (*v == '"') v++;
        trim(v);
        snprintf(out->os_pretty, sizeof out->os_pretty, "%s", v);
    }
    fclose(f);
}

void ta_hw_basic_probe(ta_hw_basic *out, const char *root)
{
    memset(out, 0, sizeof *out);
    bool real = !root || !root[0];
    if (real) {
        struct utsname u;
        if (uname(&u) == 0) {
            snprintf(out->os_name, sizeof out->os_name, "%s", u.sysname);
            snprintf(out->os_release, sizeof out->os_release, "%s", u.release);
            snprintf(out->arch, sizeof out->arch, "%s", u.machine);
        }
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        out->logical_threads = n > 0 ? (int)n : 0;
    }
    probe_os_release(out, root);
    probe_cpuinfo(out, root);
    probe_meminfo(out, root);
    if (out->physical_cores <= 0) out->physical_cores = out->logical_threads;
}
