/*
 * hardware.h - what machine we run on, and what that means for running models.
 *
 * Two levels:
 *   - ta_hw_basic_probe: the few facts get_system_info and the thread pool need (OS,
 *     CPU model, cores, memory), cheap enough to call anywhere.
 *   - ta_hw_probe: everything: CPU (vendor, microarchitecture, topology, caches, ISA
 *     features), memory with cgroup limits, GPUs (PCI + DRM, names from pci.ids, VRAM,
 *     drivers), NPUs (/sys/class/accel), and the acceleration runtimes (CUDA, NVML,
 *     ROCm/HIP, Vulkan, OpenCL, OpenVINO, ...). providers.h turns it into the execution
 *     provider catalog, fit.h into decisions (will this model fit, where, how many
 *     threads).
 *
 * Every probe reads through a root prefix ("" or NULL for the real machine), so tests
 * point it at fixture trees (tests/fixtures/hardware/<machine>/). Under a root the
 * probes that can only describe the running host are skipped: CPUID (features come from
 * the fixture's /proc/cpuinfo instead), uname, sched_getaffinity, and loading libraries
 * (libraries are then only looked for as files in the root's library directories, and
 * nothing is initialized: their devices are reported as not probed).
 *
 * Probes never fail the caller: what cannot be read is reported as unknown (0 for
 * counts and sizes, "" for strings, TA_HW_UNKNOWN for yes/no), and JSON shows it as
 * null.
 */
#ifndef TA_HARDWARE_H
#define TA_HARDWARE_H

#include <jansson.h>
#include <stdbool.h>
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

/* ---- the full probe ---------------------------------------------------------------- */

typedef enum { TA_HW_UNKNOWN = -1, TA_HW_NO = 0, TA_HW_YES = 1 } ta_hw_tri;

/* ISA features the engine's kernels (or a future backend) care about. */
typedef enum {
    TA_HW_SSE4_2,
    TA_HW_AVX,
    TA_HW_AVX2,
    TA_HW_FMA,
    TA_HW_F16C,
    TA_HW_AVX_VNNI,
    TA_HW_AVX512F,
    TA_HW_AVX512BW,
    TA_HW_AVX512VL,
    TA_HW_AVX512_VNNI,
    TA_HW_AVX512_BF16,
    TA_HW_AMX_TILE,
    TA_HW_AMX_BF16,
    TA_HW_AMX_INT8,
    TA_HW_NEON,    /* asimd */
    TA_HW_FP16,    /* asimdhp: half-precision arithmetic */
    TA_HW_DOTPROD, /* asimddp */
    TA_HW_I8MM,
    TA_HW_BF16,
    TA_HW_SVE,
    TA_HW_SVE2,
    TA_HW_FEATURE_COUNT
} ta_hw_feature;

/* "sse4_2", "avx512_vnni", "neon", "dotprod", ... (the Linux /proc/cpuinfo spelling
 * where there is one); NULL out of range. */
const char *ta_hw_feature_name(int feature);

typedef struct ta_hw_cpu {
    char arch[32];               /* x86_64, aarch64, ... */
    char vendor[32];             /* "AMD", "Intel", "ARM", "Apple", "Ampere", ... */
    char vendor_id[32];          /* AuthenticAMD, GenuineIntel, or the ARM implementer "0x41" */
    char model_name[128];        /* "AMD EPYC 7B13" */
    char uarch[48];              /* "Zen 3", "Sapphire Rapids", "Neoverse N1"; "" unknown */
    int family, model, stepping; /* x86 display family/model; ARM: -1 */
    int implementer, part;       /* ARM "CPU implementer" / "CPU part"; x86: -1 */
    int logical_threads;         /* online processors */
    int physical_cores;
    int sockets;
    int numa_nodes;
    int affinity_cpus;                                 /* CPUs this process may run on */
    uint64_t l1d_bytes, l1i_bytes, l2_bytes, l3_bytes; /* one instance, as cpu0 sees it */
    bool features[TA_HW_FEATURE_COUNT];
    char features_source[16]; /* "cpuid", "cpuinfo", "" */
} ta_hw_cpu;

typedef struct ta_hw_memory {
    uint64_t total_bytes, available_bytes; /* the host's, /proc/meminfo */
    uint64_t swap_total_bytes, swap_free_bytes;
    uint64_t effective_total_bytes; /* min(host, cgroup limit): the numbers decisions use */
    uint64_t effective_available_bytes;
} ta_hw_memory;

typedef struct ta_hw_cgroup {
    int version;                          /* 2 or 1; 0 when none was found */
    char path[256];                       /* the process's cgroup ("/docker/abc...") */
    uint64_t memory_max_bytes;            /* 0: no limit */
    uint64_t memory_current_bytes;        /* 0: unknown */
    uint64_t cpu_quota_us, cpu_period_us; /* quota 0: no limit */
    int cpus;                             /* ceil(quota / period); 0: no limit */
} ta_hw_cgroup;

#define TA_HW_MAX_GPUS 16
#define TA_HW_MAX_NPUS 8
#define TA_HW_MAX_VK   8

typedef struct ta_hw_gpu {
    char pci_address[32]; /* "0000:01:00.0"; "" for a GPU that is not on PCI */
    unsigned vendor_id, device_id, pci_class;
    char vendor[16];                            /* NVIDIA, AMD, Intel, other */
    char name[128];                             /* from pci.ids; "" unknown */
    char driver[32];                            /* the bound kernel driver; "" none */
    char driver_version[64];                    /* "" unknown */
    char drm_card[16];                          /* "card0"; "" none */
    uint64_t vram_total_bytes, vram_used_bytes; /* 0 unknown */
    char vram_source[32];                       /* "mem_info_vram_total", "nvml", ... */
    bool integrated; /* shares system memory (Intel without local memory) */
} ta_hw_gpu;

typedef struct ta_hw_npu {
    char device[16]; /* "accel0" */
    char pci_address[32];
    unsigned vendor_id, device_id;
    char vendor[16];
    char kind[48];  /* "Intel NPU", "AMD XDNA NPU", ... */
    char name[128]; /* from pci.ids, else kind */
    char driver[32];
    char driver_version[64];
} ta_hw_npu;

/* Runtimes and libraries the providers depend on. */
typedef enum {
    TA_RT_CUDA,     /* libcuda.so.1: the NVIDIA driver API */
    TA_RT_NVML,     /* libnvidia-ml.so.1 */
    TA_RT_TENSORRT, /* libnvinfer */
    TA_RT_HIP,      /* libamdhip64 (+ /dev/kfd): ROCm */
    TA_RT_MIGRAPHX, /* libmigraphx_c */
    TA_RT_VULKAN,   /* libvulkan.so.1 and its physical devices */
    TA_RT_OPENCL,   /* libOpenCL.so.1 and its platforms */
    TA_RT_OPENVINO, /* libopenvino */
    TA_RT_ONEDNN,   /* libdnnl */
    TA_RT_ACL,      /* libarm_compute */
    TA_RT_ARMNN,    /* libarmnn */
    TA_RT_CANN,     /* libascendcl (+ /dev/davinci*) */
    TA_RT_QNN,      /* libQnnHtp */
    TA_RT_SNPE,     /* libSNPE */
    TA_RT_RKNN,     /* librknnrt */
    TA_RT_TVM,      /* libtvm_runtime */
    TA_RT_XRT,      /* libxrt_coreutil: the runtime of AMD XDNA NPUs */
    TA_RT_COUNT
} ta_hw_runtime_id;

typedef struct ta_hw_runtime {
    ta_hw_tri library;    /* the library file was found (and, on the real machine, loaded) */
    ta_hw_tri devices_ok; /* initialized and sees at least one device; UNKNOWN: not probed */
    int devices;          /* -1 unknown */
    char version[32];
    char path[256]; /* where the library was found */
    char note[160]; /* why it is unknown or not usable */
} ta_hw_runtime;

/* "cuda", "nvml", ... ; NULL out of range. */
const char *ta_hw_runtime_name(int rt);

typedef struct ta_hw_vkdev {
    char name[256];
    char type[16]; /* "discrete", "integrated", "virtual", "cpu", "other" */
    unsigned vendor_id, device_id;
    unsigned api_version;
} ta_hw_vkdev;

typedef struct ta_hw_info {
    bool sysroot; /* probed under a root (a fixture), not the running machine */
    char root[512];
    char os_name[64], os_release[128], os_pretty[128];
    ta_hw_cpu cpu;
    ta_hw_memory memory;
    ta_hw_cgroup cgroup;
    int effective_cpus; /* min(online, affinity, cgroup cpu.max): what threads should use */
    ta_hw_gpu gpus[TA_HW_MAX_GPUS];
    int n_gpus;
    ta_hw_npu npus[TA_HW_MAX_NPUS];
    int n_npus;
    ta_hw_runtime rt[TA_RT_COUNT];
    ta_hw_vkdev vk[TA_HW_MAX_VK];
    int n_vk;
    bool pci_ids; /* a PCI ids database was found */
    double probe_ms;
    double cpu_ms, memory_ms, devices_ms, runtimes_ms;
} ta_hw_info;

/* Probes everything below root ("" or NULL: this machine). Never fails. */
void ta_hw_probe(ta_hw_info *out, const char *root);

/* The running machine's probe, done once per process and kept; refresh re-probes.
 * Copies it into out (thread-safe). */
void ta_hw_cached(ta_hw_info *out, bool refresh);

/* Everything detected, as JSON (new reference). */
json_t *ta_hw_info_json(const ta_hw_info *info);

/* The CPU's vendor/family/model -> microarchitecture (uarch.c); "" when not in the
 * table. */
const char *ta_hw_x86_uarch(const char *vendor_id, int family, int model, int stepping);
const char *ta_hw_arm_uarch(int implementer, int part);

#endif
