/*
 * hardware.h - what machine we run on. This first part answers the basics that
 * get_system_info reports (OS, CPU model, cores, memory) from uname, /proc and
 * sysconf; GPU, NPU, cgroup and ISA detection grow here later.
 *
 * Probes never fail the caller: what cannot be read is reported as unknown
 * ("" for strings, 0 for numbers).
 */
#ifndef TA_HARDWARE_H
#define TA_HARDWARE_H

#include <stdint.h>

typedef struct ta_hw_basic {
    char os_name[64];     /* "Linux" */
    char os_release[128]; /* kernel release */
    char os_pretty[128];  /* PRETTY_NAME from os-release, e.g. "Debian GNU/Linux 12 (bookworm)" */
    char arch[32];        /* "x86_64", "aarch64" */
    char cpu_model[128];  /* "AMD EPYC 7B13" */
    int physical_cores;   /* distinct (package, core) pairs; falls back to threads */
    int logical_threads;  /* online processors */
    uint64_t ram_total_bytes;
    uint64_t ram_available_bytes;
} ta_hw_basic;

/* Reads everything below root ("" or NULL for the real machine). */
void ta_hw_basic_probe(ta_hw_basic *out, const char *root);

#endif
