/*
 * runtimes.c - the acceleration runtimes and libraries the execution providers need.
 *
 * Every library is first looked for as a file in the dynamic loader's directories
 * below the root (ld.so.conf and its includes, the multiarch and default directories,
 * and LD_LIBRARY_PATH on the running machine). Under a root that is all: a fixture
 * "has" CUDA when it holds an (empty) usr/lib/x86_64-linux-gnu/libcuda.so.1, and its
 * devices are reported as not probed.
 *
 * On the running machine the runtimes that match a device found in sysfs are loaded
 * with dlopen and asked what they see, through a few entry points looked up with dlsym
 * (no vendor headers; the handful of types used are declared here from the APIs'
 * documented C signatures):
 *   CUDA    libcuda.so.1        cuInit, cuDriverGetVersion, cuDeviceGetCount   (NVIDIA GPU)
 *   NVML    libnvidia-ml.so.1   driver version, each GPU's memory by PCI bus id (NVIDIA GPU)
 *   HIP     libamdhip64.so      hipGetDeviceCount, when /dev/kfd exists         (AMD GPU)
 *   Vulkan  libvulkan.so.1      vkCreateInstance + vkEnumeratePhysicalDevices   (any GPU)
 *   OpenCL  libOpenCL.so.1      clGetPlatformIDs                                (any GPU)
 * Without a matching device they are not initialized: that is what keeps the probe
 * fast on machines without GPUs (and avoids starting driver threads for nothing).
 * Libraries stay loaded: some drivers start threads that must not lose their code.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw_internal.h"

static const char *const rt_names[TA_RT_COUNT] = {
    [TA_RT_CUDA] = "cuda",     [TA_RT_NVML] = "nvml",         [TA_RT_TENSORRT] = "tensorrt",
    [TA_RT_HIP] = "rocm",      [TA_RT_MIGRAPHX] = "migraphx", [TA_RT_VULKAN] = "vulkan",
    [TA_RT_OPENCL] = "opencl", [TA_RT_OPENVINO] = "openvino", [TA_RT_ONEDNN] = "onednn",
    [TA_RT_ACL] = "acl",       [TA_RT_ARMNN] = "armnn",       [TA_RT_CANN] = "cann",
    [TA_RT_QNN] = "qnn",       [TA_RT_SNPE] = "snpe",         [TA_RT_RKNN] = "rknn",
    [TA_RT_TVM] = "tvm",       [TA_RT_XRT] = "xrt",
};

/* Library file names per runtime, in order of preference; a trailing '*' matches any
 * version suffix ("libopenvino.so*" finds libopenvino.so.2024.0.0). */
static const char *const rt_libs[TA_RT_COUNT][4] = {
    [TA_RT_CUDA] = {"libcuda.so.1"},
    [TA_RT_NVML] = {"libnvidia-ml.so.1"},
    [TA_RT_TENSORRT] = {"libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so*"},
    [TA_RT_HIP] = {"libamdhip64.so.6", "libamdhip64.so.5", "libamdhip64.so*"},
    [TA_RT_MIGRAPHX] = {"libmigraphx_c.so.3", "libmigraphx_c.so*"},
    [TA_RT_VULKAN] = {"libvulkan.so.1"},
    [TA_RT_OPENCL] = {"libOpenCL.so.1"},
    [TA_RT_OPENVINO] = {"libopenvino_c.so*", "libopenvino.so*"},
    [TA_RT_ONEDNN] = {"libdnnl.so.3", "libdnnl.so.2", "libdnnl.so*"},
    [TA_RT_ACL] = {"libarm_compute.so*"},
    [TA_RT_ARMNN] = {"libarmnn.so*"},
    [TA_RT_CANN] = {"libascendcl.so"},
    [TA_RT_QNN] = {"libQnnHtp.so", "libQnnCpu.so"},
    [TA_RT_SNPE] = {"libSNPE.so"},
    [TA_RT_RKNN] = {"librknnrt.so"},
    [TA_RT_TVM] = {"libtvm_runtime.so"},
    [TA_RT_XRT] = {"libxrt_coreutil.so.2", "libxrt_coreutil.so*"},
};

const char *ta_hw_runtime_name(int rt)
{
    return rt >= 0 && rt < TA_RT_COUNT ? rt_names[rt] : NULL;
}

/* ---- finding library files --------------------------------------------------------- */

enum { MAX_DIRS = 48 };
typedef struct lib_dirs {
    char dir[MAX_DIRS][256];
    int n;
} lib_dirs;

static void add_dir(lib_dirs *d, const char *dir)
{
    if (!dir[0] || dir[0] != '/' || d->n >= MAX_DIRS || strlen(dir) >= 256) return;
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->dir[i], dir)) return;
    ta_hw_copy(d->dir[d->n++], 256, dir);
}

static void read_ld_conf(lib_dirs *d, const char *root, const char *file, int depth)
{
    char buf[8192];
    if (depth > 3 || ta_hw_read(root, file, buf, sizeof buf) <= 0) return;
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        size_t n = strlen(line);
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (!strncmp(line, "include", 7) && (line[7] == ' ' || line[7] == '\t')) {
            char *pat = line + 8;
            while (*pat == ' ' || *pat == '\t')
                pat++;
            char full[4096];
            if (!ta_hw_path(full, sizeof full, root, pat)) continue;
            glob_t g;
            if (glob(full, 0, NULL, &g) == 0) {
                size_t rlen = root ? strlen(root) : 0;
                for (size_t i = 0; i < g.gl_pathc; i++)
                    read_ld_conf(d, root, g.gl_pathv[i] + rlen, depth + 1);
            }
            globfree(&g);
        } else if (line[0] == '/') {
            add_dir(d, line);
        }
    }
}

static void loader_dirs(lib_dirs *d, const ta_hw_info *hw, const char *root)
{
    if (!hw->sysroot) {
        const char *env = getenv("LD_LIBRARY_PATH");
        char buf[4096];
        ta_hw_copy(buf, sizeof buf, env);
        for (char *save = NULL, *p = strtok_r(buf, ":", &save); p; p = strtok_r(NULL, ":", &save))
            add_dir(d, p);
    }
    read_ld_conf(d, root, "/etc/ld.so.conf", 0);
    const char *triplet = !strcmp(hw->cpu.arch, "aarch64")  ? "aarch64-linux-gnu"
                          : !strcmp(hw->cpu.arch, "x86_64") ? "x86_64-linux-gnu"
                                                            : NULL;
    char dir[64];
    if (triplet) {
        snprintf(dir, sizeof dir, "/lib/%s", triplet);
        add_dir(d, dir);
        snprintf(dir, sizeof dir, "/usr/lib/%s", triplet);
        add_dir(d, dir);
    }
    static const char *const defaults[] = {"/lib64",   "/usr/lib64",     "/lib",
                                           "/usr/lib", "/usr/local/lib", NULL};
    for (int i = 0; defaults[i]; i++)
        add_dir(d, defaults[i]);
}

/* Does file name match pattern (exact, or with a trailing '*' any name that starts
 * with the rest)? */
static bool name_matches(const char *pattern, const char *name)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*') return !strncmp(name, pattern, n - 1);
    return !strcmp(name, pattern);
}

/* One pass over each directory (they can hold thousands of files), in the loader's
 * order; within a directory the preferred file name wins. */
static void find_libs(const lib_dirs *d, const char *root, ta_hw_info *hw)
{
    int best[TA_RT_COUNT];
    for (int rt = 0; rt < TA_RT_COUNT; rt++)
        best[rt] = hw->rt[rt].path[0] ? -1 : 99;
    for (int i = 0; i < d->n; i++) {
        char full[4096];
        if (!ta_hw_path(full, sizeof full, root, d->dir[i])) continue;
        DIR *dir = opendir(full);
        if (!dir) continue;
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (strncmp(e->d_name, "lib", 3)) continue;
            for (int rt = 0; rt < TA_RT_COUNT; rt++)
                for (int k = 0; k < 4 && rt_libs[rt][k] && k < best[rt]; k++)
                    if (name_matches(rt_libs[rt][k], e->d_name)) {
                        best[rt] = k;
                        snprintf(hw->rt[rt].path, sizeof hw->rt[rt].path, "%s/%s", d->dir[i],
                                 e->d_name);
                        break;
                    }
        }
        closedir(dir);
        /* Found in an earlier directory: later ones do not override it. */
        for (int rt = 0; rt < TA_RT_COUNT; rt++)
            if (best[rt] < 99) best[rt] = -1;
    }
}

/* ---- loading (the running machine only) -------------------------------------------- */

static void *load(ta_hw_runtime *r, int rt)
{
    for (int k = 0; k < 4 && rt_libs[rt][k]; k++) {
        const char *name = rt_libs[rt][k];
        if (name[strlen(name) - 1] == '*') continue;
        void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (h) {
            r->library = TA_HW_YES;
            if (!r->path[0]) ta_hw_copy(r->path, sizeof r->path, name);
            return h;
        }
    }
    if (r->library == TA_HW_YES)
        snprintf(r->note, sizeof r->note, "found but dlopen failed: %.120s", dlerror());
    else
        ta_hw_copy(r->note, sizeof r->note, "not found by the dynamic loader");
    r->library = TA_HW_NO;
    return NULL;
}

static void *sym(void *h, const char *name)
{
    return h ? dlsym(h, name) : NULL;
}

static void probe_cuda(ta_hw_runtime *r)
{
    void *h = load(r, TA_RT_CUDA);
    int (*init)(unsigned) = (int (*)(unsigned))sym(h, "cuInit");
    int (*version)(int *) = (int (*)(int *))sym(h, "cuDriverGetVersion");
    int (*count)(int *) = (int (*)(int *))sym(h, "cuDeviceGetCount");
    if (!h) return;
    if (!init || !count) {
        ta_hw_copy(r->note, sizeof r->note, "libcuda lacks cuInit/cuDeviceGetCount");
        r->devices_ok = TA_HW_NO;
        return;
    }
    int v = 0, n = 0, rc = init(0);
    if (version && version(&v) == 0 && v > 0)
        snprintf(r->version, sizeof r->version, "%d.%d", v / 1000, (v % 1000) / 10);
    if (rc != 0 || count(&n) != 0) {
        snprintf(r->note, sizeof r->note, "cuInit failed (CUresult %d)", rc);
        r->devices_ok = TA_HW_NO;
        return;
    }
    r->devices = n;
    r->devices_ok = n > 0 ? TA_HW_YES : TA_HW_NO;
    if (n == 0) ta_hw_copy(r->note, sizeof r->note, "the CUDA driver sees no device");
}

typedef struct {
    unsigned long long total, free, used;
} nvml_memory;

static void probe_nvml(ta_hw_info *hw, ta_hw_runtime *r)
{
    void *h = load(r, TA_RT_NVML);
    int (*init)(void) = (int (*)(void))sym(h, "nvmlInit_v2");
    int (*shutdown)(void) = (int (*)(void))sym(h, "nvmlShutdown");
    int (*drv)(char *, unsigned) = (int (*)(char *, unsigned))sym(h, "nvmlSystemGetDriverVersion");
    int (*by_bus)(const char *, void **) =
        (int (*)(const char *, void **))sym(h, "nvmlDeviceGetHandleByPciBusId_v2");
    int (*mem)(void *, nvml_memory *) =
        (int (*)(void *, nvml_memory *))sym(h, "nvmlDeviceGetMemoryInfo");
    int (*count)(unsigned *) = (int (*)(unsigned *))sym(h, "nvmlDeviceGetCount_v2");
    if (!h) return;
    if (!init || !shutdown || init() != 0) {
        ta_hw_copy(r->note, sizeof r->note, "nvmlInit failed");
        r->devices_ok = TA_HW_NO;
        return;
    }
    char version[80] = "";
    if (drv && drv(version, sizeof version) == 0)
        ta_hw_copy(r->version, sizeof r->version, version);
    unsigned n = 0;
    if (count && count(&n) == 0) r->devices = (int)n;
    r->devices_ok = n > 0 ? TA_HW_YES : TA_HW_NO;
    for (int i = 0; i < hw->n_gpus && by_bus && mem; i++) {
        ta_hw_gpu *g = &hw->gpus[i];
        if (g->vendor_id != 0x10de || !g->pci_address[0]) continue;
        void *dev = NULL;
        nvml_memory m = {0};
        if (by_bus(g->pci_address, &dev) != 0 || mem(dev, &m) != 0) continue;
        g->vram_total_bytes = m.total;
        g->vram_used_bytes = m.used;
        ta_hw_copy(g->vram_source, sizeof g->vram_source, "nvml");
        if (!g->driver_version[0] && version[0])
            ta_hw_copy(g->driver_version, sizeof g->driver_version, version);
    }
    shutdown();
}

static void probe_hip(ta_hw_runtime *r)
{
    void *h = load(r, TA_RT_HIP);
    int (*count)(int *) = (int (*)(int *))sym(h, "hipGetDeviceCount");
    int (*version)(int *) = (int (*)(int *))sym(h, "hipRuntimeGetVersion");
    if (!h) return;
    int n = 0, v = 0;
    if (version && version(&v) == 0 && v > 0)
        snprintf(r->version, sizeof r->version, "%d.%d", v / 10000000, (v / 100000) % 100);
    if (!count || count(&n) != 0) {
        ta_hw_copy(r->note, sizeof r->note, "hipGetDeviceCount failed");
        r->devices_ok = TA_HW_NO;
        return;
    }
    r->devices = n;
    r->devices_ok = n > 0 ? TA_HW_YES : TA_HW_NO;
}

/* The few Vulkan 1.0 declarations needed to list physical devices. */
typedef struct {
    int sType; /* VK_STRUCTURE_TYPE_APPLICATION_INFO = 0 */
    const void *pNext;
    const char *pApplicationName;
    uint32_t applicationVersion;
    const char *pEngineName;
    uint32_t engineVersion;
    uint32_t apiVersion;
} vk_application_info;
typedef struct {
    int sType; /* VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO = 1 */
    const void *pNext;
    uint32_t flags;
    const vk_application_info *pApplicationInfo;
    uint32_t enabledLayerCount;
    const char *const *ppEnabledLayerNames;
    uint32_t enabledExtensionCount;
    const char *const *ppEnabledExtensionNames;
} vk_instance_create_info;
/* VkPhysicalDeviceProperties begins with these; the whole struct (with its limits) is
 * 824 bytes on LP64, so it is read into a larger buffer. */
typedef struct {
    uint32_t apiVersion, driverVersion, vendorID, deviceID;
    int deviceType;
    char deviceName[256];
} vk_properties_head;
typedef void (*vk_void_fn)(void);
typedef vk_void_fn (*vk_get_proc_fn)(void *instance, const char *name);
typedef int (*vk_create_fn)(const vk_instance_create_info *, const void *, void **);
typedef int (*vk_enum_fn)(void *, uint32_t *, void **);
typedef void (*vk_props_fn)(void *, void *);
typedef void (*vk_destroy_fn)(void *, const void *);

static void probe_vulkan(ta_hw_info *hw, ta_hw_runtime *r)
{
    void *h = load(r, TA_RT_VULKAN);
    vk_get_proc_fn gpa = (vk_get_proc_fn)sym(h, "vkGetInstanceProcAddr");
    if (!h) return;
    r->devices_ok = TA_HW_NO;
    vk_create_fn create = gpa ? (vk_create_fn)gpa(NULL, "vkCreateInstance") : NULL;
    if (!create) {
        ta_hw_copy(r->note, sizeof r->note, "the Vulkan loader has no vkCreateInstance");
        return;
    }
    vk_application_info app = {.sType = 0,
                               .pApplicationName = "tabagent",
                               .pEngineName = "tabagent",
                               .apiVersion = (1u << 22)}; /* 1.0 */
    vk_instance_create_info ci = {.sType = 1, .pApplicationInfo = &app};
    void *inst = NULL;
    int rc = create(&ci, NULL, &inst);
    if (rc != 0 || !inst) {
        snprintf(r->note, sizeof r->note, "vkCreateInstance failed (VkResult %d)", rc);
        return;
    }
    vk_enum_fn enumerate = (vk_enum_fn)gpa(inst, "vkEnumeratePhysicalDevices");
    vk_props_fn props = (vk_props_fn)gpa(inst, "vkGetPhysicalDeviceProperties");
    vk_destroy_fn destroy = (vk_destroy_fn)gpa(inst, "vkDestroyInstance");
    void *devs[TA_HW_MAX_VK];
    uint32_t n = TA_HW_MAX_VK;
    if (enumerate && props && enumerate(inst, &n, devs) >= 0) {
        static const char *const types[] = {"other", "integrated", "discrete", "virtual", "cpu"};
        int gpus = 0;
        for (uint32_t i = 0; i < n && hw->n_vk < TA_HW_MAX_VK; i++) {
            union {
                vk_properties_head head;
                unsigned char bytes[2048];
                double align;
            } p;
            memset(&p, 0, sizeof p);
            props(devs[i], &p);
            ta_hw_vkdev *v = &hw->vk[hw->n_vk++];
            p.head.deviceName[255] = '\0';
            ta_hw_copy(v->name, sizeof v->name, p.head.deviceName);
            int t = p.head.deviceType;
            ta_hw_copy(v->type, sizeof v->type, t >= 0 && t <= 4 ? types[t] : "other");
            v->vendor_id = p.head.vendorID;
            v->device_id = p.head.deviceID;
            v->api_version = p.head.apiVersion;
            if (t != 4) gpus++;
        }
        r->devices = (int)n;
        r->devices_ok = gpus > 0 ? TA_HW_YES : TA_HW_NO;
        if (!gpus) ta_hw_copy(r->note, sizeof r->note, "the Vulkan loader sees no GPU");
    }
    if (destroy) destroy(inst, NULL);
}

static void probe_opencl(ta_hw_runtime *r)
{
    void *h = load(r, TA_RT_OPENCL);
    int (*platforms)(unsigned, void **, unsigned *) =
        (int (*)(unsigned, void **, unsigned *))sym(h, "clGetPlatformIDs");
    if (!h) return;
    unsigned n = 0;
    int rc = platforms ? platforms(0, NULL, &n) : -1;
    r->devices = rc == 0 ? (int)n : 0;
    r->devices_ok = rc == 0 && n > 0 ? TA_HW_YES : TA_HW_NO;
    if (r->devices_ok != TA_HW_YES)
        snprintf(r->note, sizeof r->note, "no OpenCL platform (clGetPlatformIDs %d)", rc);
}

void ta_hw_probe_runtimes(ta_hw_info *hw, const char *root)
{
    lib_dirs *d = calloc(1, sizeof *d);
    if (!d) return;
    loader_dirs(d, hw, root);
    bool nvidia = false, amd = false, any_gpu = hw->n_gpus > 0;
    for (int i = 0; i < hw->n_gpus; i++) {
        nvidia |= hw->gpus[i].vendor_id == 0x10de;
        amd |= hw->gpus[i].vendor_id == 0x1002;
    }
    for (int rt = 0; rt < TA_RT_COUNT; rt++)
        memset(&hw->rt[rt], 0, sizeof hw->rt[rt]);
    find_libs(d, root, hw);
    for (int rt = 0; rt < TA_RT_COUNT; rt++) {
        ta_hw_runtime *r = &hw->rt[rt];
        r->devices = -1;
        r->devices_ok = TA_HW_UNKNOWN;
        r->library = r->path[0] ? TA_HW_YES : TA_HW_NO;
        if (r->library == TA_HW_NO)
            ta_hw_copy(r->note, sizeof r->note, "library not found");
        else
            ta_hw_copy(r->note, sizeof r->note,
                       hw->sysroot ? "library found under the sysroot; not loaded"
                                   : "library found; not initialized");
    }
    free(d);
    if (hw->sysroot) return;

    ta_hw_runtime *rt = hw->rt;
    if (nvidia) {
        probe_cuda(&rt[TA_RT_CUDA]);
        probe_nvml(hw, &rt[TA_RT_NVML]);
    }
    if (amd && ta_hw_exists(root, "/dev/kfd")) probe_hip(&rt[TA_RT_HIP]);
    if (amd && !ta_hw_exists(root, "/dev/kfd") && rt[TA_RT_HIP].library == TA_HW_YES) {
        rt[TA_RT_HIP].devices_ok = TA_HW_NO;
        ta_hw_copy(rt[TA_RT_HIP].note, sizeof rt[TA_RT_HIP].note,
                   "/dev/kfd is missing (amdgpu without ROCm support, or no access)");
    }
    if (any_gpu) {
        probe_vulkan(hw, &rt[TA_RT_VULKAN]);
        probe_opencl(&rt[TA_RT_OPENCL]);
    }
}
