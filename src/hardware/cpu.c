/*
 * cpu.c - the CPU: vendor, model, microarchitecture, topology (threads, cores, sockets,
 * NUMA nodes, the CPUs this process may use), caches and ISA features.
 *
 * On the running x86 machine the features come from CPUID, checked against XGETBV so
 * that a feature the OS does not save registers for is not reported (AVX-512 state,
 * AMX tiles). Under a root, and on other architectures, they come from /proc/cpuinfo
 * ("flags" on x86, "Features" on ARM): CPUID would describe the host, not the fixture.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define TA_HW_X86 1
#endif

#include "hw_internal.h"

/* The /proc/cpuinfo spelling on x86 (flags) and on ARM (Features). */
static const struct {
    const char *name;     /* reported */
    const char *x86_flag; /* NULL: not an x86 feature */
    const char *arm_flag; /* NULL: not an ARM feature */
} features[TA_HW_FEATURE_COUNT] = {
    [TA_HW_SSE4_2] = {"sse4_2", "sse4_2", NULL},
    [TA_HW_AVX] = {"avx", "avx", NULL},
    [TA_HW_AVX2] = {"avx2", "avx2", NULL},
    [TA_HW_FMA] = {"fma", "fma", NULL},
    [TA_HW_F16C] = {"f16c", "f16c", NULL},
    [TA_HW_AVX_VNNI] = {"avx_vnni", "avx_vnni", NULL},
    [TA_HW_AVX512F] = {"avx512f", "avx512f", NULL},
    [TA_HW_AVX512BW] = {"avx512bw", "avx512bw", NULL},
    [TA_HW_AVX512VL] = {"avx512vl", "avx512vl", NULL},
    [TA_HW_AVX512_VNNI] = {"avx512_vnni", "avx512_vnni", NULL},
    [TA_HW_AVX512_BF16] = {"avx512_bf16", "avx512_bf16", NULL},
    [TA_HW_AMX_TILE] = {"amx_tile", "amx_tile", NULL},
    [TA_HW_AMX_BF16] = {"amx_bf16", "amx_bf16", NULL},
    [TA_HW_AMX_INT8] = {"amx_int8", "amx_int8", NULL},
    [TA_HW_NEON] = {"neon", NULL, "asimd"},
    [TA_HW_FP16] = {"fp16", NULL, "asimdhp"},
    [TA_HW_DOTPROD] = {"dotprod", NULL, "asimddp"},
    [TA_HW_I8MM] = {"i8mm", NULL, "i8mm"},
    [TA_HW_BF16] = {"bf16", NULL, "bf16"},
    [TA_HW_SVE] = {"sve", NULL, "sve"},
    [TA_HW_SVE2] = {"sve2", NULL, "sve2"},
};

const char *ta_hw_feature_name(int f)
{
    return f >= 0 && f < TA_HW_FEATURE_COUNT ? features[f].name : NULL;
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n) {
        bool start = p == list || p[-1] == ' ' || p[-1] == '\t';
        bool end = p[n] == '\0' || p[n] == ' ' || p[n] == '\t' || p[n] == '\n';
        if (start && end) return true;
    }
    return false;
}

static void features_from_list(ta_hw_cpu *c, const char *list, bool arm)
{
    for (int i = 0; i < TA_HW_FEATURE_COUNT; i++) {
        const char *flag = arm ? features[i].arm_flag : features[i].x86_flag;
        if (flag && has_word(list, flag)) c->features[i] = true;
    }
    ta_hw_copy(c->features_source, sizeof c->features_source, "cpuinfo");
}

static const char *arm_vendor(int implementer)
{
    switch (implementer) {
    case 0x41: return "ARM";
    case 0x42: return "Broadcom";
    case 0x43: return "Cavium";
    case 0x46: return "Fujitsu";
    case 0x48: return "HiSilicon";
    case 0x4e: return "NVIDIA";
    case 0x51: return "Qualcomm";
    case 0x61: return "Apple";
    case 0xc0: return "Ampere";
    default: return "";
    }
}

static const char *x86_vendor(const char *id)
{
    if (!strcmp(id, "GenuineIntel")) return "Intel";
    if (!strcmp(id, "AuthenticAMD")) return "AMD";
    if (!strcmp(id, "HygonGenuine")) return "Hygon";
    if (!strcmp(id, "CentaurHauls") || !strcmp(id, "  Shanghai  ")) return "Zhaoxin";
    return "";
}

/* What the first processor block and the whole file say. */
typedef struct cpuinfo_facts {
    char flags[4096];
    char arm_features[1024];
    int processors;
    int cores;   /* distinct (physical id, core id) pairs */
    int sockets; /* distinct physical ids */
} cpuinfo_facts;

static void read_cpuinfo(ta_hw_cpu *c, const char *root, cpuinfo_facts *f)
{
    char path[4096];
    if (!ta_hw_path(path, sizeof path, root, "/proc/cpuinfo")) return;
    FILE *fp = fopen(path, "re");
    if (!fp) return;
    enum { MAX_PAIRS = 4096, MAX_SOCKETS = 64 };
    long *pairs = malloc(MAX_PAIRS * sizeof *pairs);
    long sockets[MAX_SOCKETS];
    int npairs = 0, nsockets = 0;
    long phys = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, fp)) > 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *val = colon + 1;
        while (*val == ' ' || *val == '\t')
            val++;
        *colon = '\0';
        for (char *k = colon - 1; k >= line && (*k == ' ' || *k == '\t'); k--)
            *k = '\0';
        const char *key = line;
        if (!strcmp(key, "processor")) f->processors++;
        bool first = f->processors <= 1;
        if (first && !strcmp(key, "vendor_id"))
            ta_hw_copy(c->vendor_id, sizeof c->vendor_id, val);
        else if (first && !c->model_name[0] &&
                 (!strcmp(key, "model name") || !strcmp(key, "Model") || !strcmp(key, "Hardware")))
            ta_hw_copy(c->model_name, sizeof c->model_name, val);
        else if (first && !strcmp(key, "cpu family"))
            c->family = atoi(val);
        else if (first && !strcmp(key, "model"))
            c->model = atoi(val);
        else if (first && !strcmp(key, "stepping"))
            c->stepping = atoi(val);
        else if (first && !strcmp(key, "flags"))
            ta_hw_copy(f->flags, sizeof f->flags, val);
        else if (first && !strcmp(key, "Features"))
            ta_hw_copy(f->arm_features, sizeof f->arm_features, val);
        else if (first && !strcmp(key, "CPU implementer"))
            c->implementer = (int)strtol(val, NULL, 0);
        else if (first && !strcmp(key, "CPU part"))
            c->part = (int)strtol(val, NULL, 0);
        else if (!strcmp(key, "physical id")) {
            phys = strtol(val, NULL, 10);
            bool seen = false;
            for (int i = 0; i < nsockets; i++)
                if (sockets[i] == phys) seen = true;
            if (!seen && nsockets < MAX_SOCKETS) sockets[nsockets++] = phys;
        } else if (!strcmp(key, "core id") && pairs) {
            long k = phys * 100000 + strtol(val, NULL, 10);
            bool seen = false;
            for (int i = 0; i < npairs && !seen; i++)
                seen = pairs[i] == k;
            if (!seen && npairs < MAX_PAIRS) pairs[npairs++] = k;
        }
    }
    free(line);
    free(pairs);
    fclose(fp);
    f->cores = npairs;
    f->sockets = nsockets;
}

/* Cores and packages from /sys/devices/system/cpu/cpuN/topology, where cpuinfo has no
 * "core id" (ARM). */
static void topology_from_sysfs(ta_hw_cpu *c, const char *root, int cpus)
{
    enum { MAX = 1024 };
    static _Thread_local long seen_core[MAX], seen_pkg[64];
    int ncore = 0, npkg = 0;
    for (int i = 0; i < cpus && i < MAX; i++) {
        char path[128];
        uint64_t core, pkg;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", i);
        if (!ta_hw_read_u64(root, path, &core)) return;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id",
                 i);
        if (!ta_hw_read_u64(root, path, &pkg)) return;
        long key = (long)pkg * 100000 + (long)core;
        bool seen = false;
        for (int j = 0; j < ncore && !seen; j++)
            seen = seen_core[j] == key;
        if (!seen) seen_core[ncore++] = key;
        seen = false;
        for (int j = 0; j < npkg && !seen; j++)
            seen = seen_pkg[j] == (long)pkg;
        if (!seen && npkg < 64) seen_pkg[npkg++] = (long)pkg;
    }
    if (!c->physical_cores) c->physical_cores = ncore;
    if (!c->sockets) c->sockets = npkg;
}

/* "32K", "1024K", "32M" -> bytes. */
static uint64_t parse_size(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s) return 0;
    switch (*end) {
    case 'K': return v << 10;
    case 'M': return v << 20;
    case 'G': return v << 30;
    default: return v;
    }
}

static void read_caches(ta_hw_cpu *c, const char *root)
{
    for (int i = 0; i < 10; i++) {
        char base[96], path[160], type[32], size[32];
        uint64_t level;
        snprintf(base, sizeof base, "/sys/devices/system/cpu/cpu0/cache/index%d", i);
        snprintf(path, sizeof path, "%s/level", base);
        if (!ta_hw_read_u64(root, path, &level)) continue;
        snprintf(path, sizeof path, "%s/type", base);
        if (ta_hw_read(root, path, type, sizeof type) <= 0) continue;
        snprintf(path, sizeof path, "%s/size", base);
        if (ta_hw_read(root, path, size, sizeof size) <= 0) continue;
        uint64_t bytes = parse_size(size);
        if (level == 1 && !strcmp(type, "Data"))
            c->l1d_bytes = bytes;
        else if (level == 1 && !strcmp(type, "Instruction"))
            c->l1i_bytes = bytes;
        else if (level == 2)
            c->l2_bytes = bytes;
        else if (level == 3)
            c->l3_bytes = bytes;
    }
}

static int count_numa_nodes(const char *root)
{
    char buf[256];
    if (ta_hw_read(root, "/sys/devices/system/node/online", buf, sizeof buf) > 0)
        return ta_hw_count_cpu_list(buf);
    int n = 0;
    for (int i = 0; i < 1024; i++) {
        char path[64];
        snprintf(path, sizeof path, "/sys/devices/system/node/node%d", i);
        if (!ta_hw_exists(root, path)) break;
        n++;
    }
    return n;
}

#ifdef TA_HW_X86
static uint64_t xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* This machine's CPU, by CPUID. */
static void probe_cpuid(ta_hw_cpu *c)
{
    unsigned a, b, cx, d;
    if (!__get_cpuid(0, &a, &b, &cx, &d)) return;
    unsigned max_leaf = a;
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &cx, 4);
    vendor[12] = '\0';
    ta_hw_copy(c->vendor_id, sizeof c->vendor_id, vendor);

    __get_cpuid(1, &a, &b, &cx, &d);
    int family = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
    c->stepping = a & 0xf;
    if (family == 0xf) family += (a >> 20) & 0xff;
    if (family == 0x6 || family >= 0xf) model += ((a >> 16) & 0xf) << 4;
    c->family = family;
    c->model = model;

    bool osxsave = cx & (1u << 27);
    uint64_t xcr = osxsave ? xcr0() : 0;
    bool avx_os = (xcr & 0x6) == 0x6;
    bool avx512_os = avx_os && (xcr & 0xe0) == 0xe0;
    bool amx_os = (xcr & (3u << 17)) == (3u << 17);

    bool *f = c->features;
    memset(f, 0, sizeof c->features);
    f[TA_HW_SSE4_2] = cx & (1u << 20);
    f[TA_HW_AVX] = avx_os && (cx & (1u << 28));
    f[TA_HW_FMA] = avx_os && (cx & (1u << 12));
    f[TA_HW_F16C] = avx_os && (cx & (1u << 29));
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, cx, d);
        unsigned subleaves = a;
        f[TA_HW_AVX2] = avx_os && (b & (1u << 5));
        f[TA_HW_AVX512F] = avx512_os && (b & (1u << 16));
        f[TA_HW_AVX512BW] = avx512_os && (b & (1u << 30));
        f[TA_HW_AVX512VL] = avx512_os && (b & (1u << 31));
        f[TA_HW_AVX512_VNNI] = avx512_os && (cx & (1u << 11));
        f[TA_HW_AMX_BF16] = amx_os && (d & (1u << 22));
        f[TA_HW_AMX_TILE] = amx_os && (d & (1u << 24));
        f[TA_HW_AMX_INT8] = amx_os && (d & (1u << 25));
        if (subleaves >= 1) {
            __cpuid_count(7, 1, a, b, cx, d);
            f[TA_HW_AVX_VNNI] = avx_os && (a & (1u << 4));
            f[TA_HW_AVX512_BF16] = avx512_os && (a & (1u << 5));
        }
    }
    ta_hw_copy(c->features_source, sizeof c->features_source, "cpuid");

    if (!c->model_name[0] && __get_cpuid(0x80000000, &a, &b, &cx, &d) && a >= 0x80000004) {
        unsigned brand[12];
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002 + i, &brand[i * 4], &brand[i * 4 + 1], &brand[i * 4 + 2],
                        &brand[i * 4 + 3]);
        char s[49];
        memcpy(s, brand, 48);
        s[48] = '\0';
        char *p = s;
        while (*p == ' ')
            p++;
        ta_hw_copy(c->model_name, sizeof c->model_name, p);
    }
}
#endif

void ta_hw_probe_cpu(ta_hw_info *hw, const char *root)
{
    ta_hw_cpu *c = &hw->cpu;
    c->family = c->model = c->stepping = c->implementer = c->part = -1;
    cpuinfo_facts *f = calloc(1, sizeof *f);
    if (!f) return;
    read_cpuinfo(c, root, f);

    if (!hw->sysroot) {
        struct utsname u;
        if (uname(&u) == 0) ta_hw_copy(c->arch, sizeof c->arch, u.machine);
    } else {
        char arch[32];
        if (ta_hw_read(root, "/proc/sys/kernel/arch", arch, sizeof arch) > 0)
            ta_hw_copy(c->arch, sizeof c->arch, arch);
        else if (c->vendor_id[0] || f->flags[0])
            ta_hw_copy(c->arch, sizeof c->arch, "x86_64");
        else if (c->implementer >= 0 || f->arm_features[0])
            ta_hw_copy(c->arch, sizeof c->arch, "aarch64");
    }
    bool x86 = strstr(c->arch, "86") != NULL;
    bool arm = !strncmp(c->arch, "aarch64", 7) || !strncmp(c->arch, "arm", 3);

#ifdef TA_HW_X86
    if (!hw->sysroot) probe_cpuid(c);
#endif
    if (!c->features_source[0]) {
        if (f->flags[0] && !arm)
            features_from_list(c, f->flags, false);
        else if (f->arm_features[0])
            features_from_list(c, f->arm_features, true);
    }

    if (x86 || c->vendor_id[0]) {
        ta_hw_copy(c->vendor, sizeof c->vendor, x86_vendor(c->vendor_id));
        ta_hw_copy(c->uarch, sizeof c->uarch,
                   ta_hw_x86_uarch(c->vendor_id, c->family, c->model, c->stepping));
    } else if (c->implementer >= 0) {
        snprintf(c->vendor_id, sizeof c->vendor_id, "0x%02x", c->implementer);
        ta_hw_copy(c->vendor, sizeof c->vendor, arm_vendor(c->implementer));
        ta_hw_copy(c->uarch, sizeof c->uarch, ta_hw_arm_uarch(c->implementer, c->part));
        c->family = c->model = c->stepping = -1;
    }
    if (!c->model_name[0] && c->uarch[0])
        snprintf(c->model_name, sizeof c->model_name, "%s %s", c->vendor, c->uarch);

    /* Threads: the online list, then cpuinfo's processors, then sysconf. */
    char list[1024];
    if (ta_hw_read(root, "/sys/devices/system/cpu/online", list, sizeof list) > 0)
        c->logical_threads = ta_hw_count_cpu_list(list);
    if (!c->logical_threads) c->logical_threads = f->processors;
    if (!c->logical_threads && !hw->sysroot) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->logical_threads = n > 0 ? (int)n : 0;
    }
    c->physical_cores = f->cores;
    c->sockets = f->sockets;
    if (!c->physical_cores || !c->sockets) topology_from_sysfs(c, root, c->logical_threads);
    if (!c->physical_cores) c->physical_cores = c->logical_threads;
    c->numa_nodes = count_numa_nodes(root);
    if (!hw->sysroot) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) == 0) c->affinity_cpus = CPU_COUNT(&set);
    }
    read_caches(c, root);
    free(f);
}
