/*
 * providers.c - the execution provider catalog and which providers this machine can
 * use (providers.h). The platforms are where each provider exists at all; on Linux a
 * provider is usable when its device was found in sysfs and its runtime library is
 * installed (and, on the running machine, initializes and sees a device).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hw_internal.h"
#include "providers.h"

static const ta_hw_provider catalog[] = {
    {"cpu", "CPUExecutionProvider", "any", "cpu", "linux,windows,macos,android,ios,web"},
    {"cuda", "CUDAExecutionProvider", "NVIDIA", "gpu", "linux,windows"},
    {"tensorrt", "TensorrtExecutionProvider", "NVIDIA", "gpu", "linux,windows"},
    {"rocm", "ROCMExecutionProvider", "AMD", "gpu", "linux"},
    {"migraphx", "MIGraphXExecutionProvider", "AMD", "gpu", "linux"},
    {"openvino", "OpenVINOExecutionProvider", "Intel", "cpu,gpu,npu", "linux,windows"},
    {"onednn", "DnnlExecutionProvider", "Intel", "cpu", "linux,windows"},
    {"xnnpack", "XnnpackExecutionProvider", "Google", "cpu", "linux,windows,macos,android,ios,web"},
    {"vulkan", NULL, "Khronos", "gpu", "linux,windows,android"},
    {"coreml", "CoreMLExecutionProvider", "Apple", "cpu,gpu,npu", "macos,ios"},
    {"directml", "DmlExecutionProvider", "Microsoft", "gpu", "windows"},
    {"qnn", "QNNExecutionProvider", "Qualcomm", "npu,gpu,cpu", "windows,android,linux"},
    {"snpe", "SNPEExecutionProvider", "Qualcomm", "npu,gpu,cpu", "android,windows,linux"},
    {"nnapi", "NnapiExecutionProvider", "Google", "npu,gpu,cpu", "android"},
    {"acl", "ACLExecutionProvider", "Arm", "cpu", "linux,android"},
    {"armnn", "ArmNNExecutionProvider", "Arm", "cpu,gpu", "linux,android"},
    {"cann", "CANNExecutionProvider", "Huawei", "npu", "linux"},
    {"rknpu", "RknpuExecutionProvider", "Rockchip", "npu", "linux"},
    {"vitisai", "VitisAIExecutionProvider", "AMD", "npu", "linux,windows"},
    {"vsinpu", "VSINPUExecutionProvider", "VeriSilicon", "npu", "linux"},
    {"tvm", "TvmExecutionProvider", "Apache", "cpu,gpu", "linux,windows"},
    {"azure", "AzureExecutionProvider", "Microsoft", "cloud", "linux,windows,macos"},
    {"webgpu", "WebGpuExecutionProvider", "W3C", "gpu", "web"},
    {"webnn", "WebNNExecutionProvider", "W3C", "npu,gpu,cpu", "web"},
    {"js", "JsExecutionProvider", "Microsoft", "gpu", "web"},
};

size_t ta_hw_provider_count(void)
{
    return sizeof catalog / sizeof catalog[0];
}

const ta_hw_provider *ta_hw_provider_at(size_t i)
{
    return i < ta_hw_provider_count() ? &catalog[i] : NULL;
}

const ta_hw_provider *ta_hw_provider_find(const char *id)
{
    for (size_t i = 0; id && i < ta_hw_provider_count(); i++)
        if (!strcmp(catalog[i].id, id)) return &catalog[i];
    return NULL;
}

static bool has_gpu(const ta_hw_info *hw, unsigned vendor)
{
    for (int i = 0; i < hw->n_gpus; i++)
        if (!vendor || hw->gpus[i].vendor_id == vendor) return true;
    return false;
}

static bool has_npu(const ta_hw_info *hw, const char *driver)
{
    for (int i = 0; i < hw->n_npus; i++)
        if (!strcmp(hw->npus[i].driver, driver)) return true;
    return false;
}

static bool is_arm(const ta_hw_info *hw)
{
    return !strncmp(hw->cpu.arch, "aarch64", 7) || !strncmp(hw->cpu.arch, "arm", 3);
}

static bool is_x86(const ta_hw_info *hw)
{
    return !strcmp(hw->cpu.arch, "x86_64") || !strcmp(hw->cpu.arch, "i686");
}

static bool fail(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(char *why, size_t cap, const char *fmt, ...)
{
    if (why && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* The runtime is there: the library was found and did not fail to see a device
 * (unknown - not probed under a sysroot - counts as there). */
static bool runtime_ok(const ta_hw_info *hw, int rt, const char *what, char *why, size_t cap)
{
    const ta_hw_runtime *r = &hw->rt[rt];
    if (r->library != TA_HW_YES) return fail(why, cap, "%s not found", what);
    if (r->devices_ok == TA_HW_NO) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %s", what, r->note);
        return fail(why, cap, "%s", msg);
    }
    return true;
}

/* "linux" in a comma-separated list. */
static bool on_platform(const char *platforms, const char *os)
{
    size_t n = strlen(os);
    for (const char *p = platforms; (p = strstr(p, os)); p += n)
        if ((p == platforms || p[-1] == ',') && (p[n] == ',' || !p[n])) return true;
    return false;
}

bool ta_hw_provider_usable(const ta_hw_provider *p, const ta_hw_info *hw, char *why, size_t cap)
{
    if (why && cap) why[0] = '\0';
    if (!p) return fail(why, cap, "unknown provider");
    /* The probes are Linux probes; a sysroot fixture is a Linux machine. */
    if (!on_platform(p->platforms, "linux")) {
        if (!strcmp(p->platforms, "web"))
            return fail(why, cap, "%s", "runs in a web browser only (the extension's page)");
        return fail(why, cap, "not available on Linux (only on %s)", p->platforms);
    }
    const char *id = p->id;
    if (!strcmp(id, "cpu")) return true;
    if (!strcmp(id, "xnnpack")) {
        if (is_x86(hw) || is_arm(hw)) return true;
        return fail(why, cap, "needs an x86-64 or ARM CPU (this one is %s)",
                    hw->cpu.arch[0] ? hw->cpu.arch : "unknown");
    }
    if (!strcmp(id, "onednn")) {
        if (!is_x86(hw) && !is_arm(hw)) return fail(why, cap, "%s", "needs an x86-64 or ARM CPU");
        return runtime_ok(hw, TA_RT_ONEDNN, "the oneDNN library (libdnnl)", why, cap);
    }
    if (!strcmp(id, "cuda") || !strcmp(id, "tensorrt")) {
        if (!has_gpu(hw, 0x10de)) return fail(why, cap, "%s", "no NVIDIA GPU");
        if (!runtime_ok(hw, TA_RT_CUDA, "the CUDA driver (libcuda.so.1)", why, cap)) return false;
        if (!strcmp(id, "tensorrt"))
            return runtime_ok(hw, TA_RT_TENSORRT, "TensorRT (libnvinfer)", why, cap);
        return true;
    }
    if (!strcmp(id, "rocm") || !strcmp(id, "migraphx")) {
        if (!has_gpu(hw, 0x1002)) return fail(why, cap, "%s", "no AMD GPU");
        if (!hw->sysroot || hw->rt[TA_RT_HIP].library == TA_HW_YES) {
            /* stat, never open: opening the KFD device starts a ROCm context. */
            if (!ta_hw_exists(hw->root, "/dev/kfd"))
                return fail(why, cap, "%s", "/dev/kfd is missing (no ROCm kernel support)");
        }
        if (!runtime_ok(hw, TA_RT_HIP, "the HIP runtime (libamdhip64)", why, cap)) return false;
        if (!strcmp(id, "migraphx"))
            return runtime_ok(hw, TA_RT_MIGRAPHX, "MIGraphX (libmigraphx_c)", why, cap);
        return true;
    }
    if (!strcmp(id, "openvino")) {
        bool intel =
            !strcmp(hw->cpu.vendor, "Intel") || has_gpu(hw, 0x8086) || has_npu(hw, "intel_vpu");
        if (!intel) return fail(why, cap, "%s", "no Intel CPU, GPU or NPU");
        return runtime_ok(hw, TA_RT_OPENVINO, "the OpenVINO runtime (libopenvino)", why, cap);
    }
    if (!strcmp(id, "vulkan")) {
        if (!has_gpu(hw, 0)) return fail(why, cap, "%s", "no GPU");
        return runtime_ok(hw, TA_RT_VULKAN, "the Vulkan loader (libvulkan.so.1)", why, cap);
    }
    if (!strcmp(id, "qnn") || !strcmp(id, "snpe")) {
        if (!is_arm(hw)) return fail(why, cap, "%s", "needs a Qualcomm Snapdragon (ARM) SoC");
        return !strcmp(id, "qnn") ? runtime_ok(hw, TA_RT_QNN, "the QNN SDK (libQnnHtp)", why, cap)
                                  : runtime_ok(hw, TA_RT_SNPE, "the SNPE SDK (libSNPE)", why, cap);
    }
    if (!strcmp(id, "acl") || !strcmp(id, "armnn")) {
        if (!is_arm(hw)) return fail(why, cap, "%s", "needs an ARM CPU");
        return !strcmp(id, "acl")
                   ? runtime_ok(hw, TA_RT_ACL, "the Arm Compute Library (libarm_compute)", why, cap)
                   : runtime_ok(hw, TA_RT_ARMNN, "Arm NN (libarmnn)", why, cap);
    }
    if (!strcmp(id, "cann")) {
        if (!ta_hw_exists(hw->root, "/dev/davinci0"))
            return fail(why, cap, "%s", "no Huawei Ascend NPU (/dev/davinci0)");
        return runtime_ok(hw, TA_RT_CANN, "the CANN runtime (libascendcl)", why, cap);
    }
    if (!strcmp(id, "rknpu")) {
        if (!is_arm(hw)) return fail(why, cap, "%s", "needs a Rockchip (ARM) SoC");
        return runtime_ok(hw, TA_RT_RKNN, "the RKNN runtime (librknnrt)", why, cap);
    }
    if (!strcmp(id, "vitisai")) {
        if (!has_npu(hw, "amdxdna")) return fail(why, cap, "%s", "no AMD XDNA NPU");
        return runtime_ok(hw, TA_RT_XRT, "the XRT runtime (libxrt_coreutil)", why, cap);
    }
    if (!strcmp(id, "tvm")) return runtime_ok(hw, TA_RT_TVM, "the TVM runtime", why, cap);
    if (!strcmp(id, "vsinpu"))
        return fail(why, cap, "%s", "VeriSilicon NPUs are not detected by this probe");
    if (!strcmp(id, "azure"))
        return fail(why, cap, "%s", "runs models on Azure endpoints, not on local hardware");
    return fail(why, cap, "%s", "no detection for this provider");
}

bool ta_hw_provider_built(const ta_hw_provider *p)
{
    /* The engine (src/engine/) computes on the CPU only, with its own kernels. */
    return p && !strcmp(p->id, "cpu");
}

static const char *const preference[] = {"cuda", "rocm", "vulkan", "openvino", "cpu", NULL};

const char *const *ta_hw_backend_preference(void)
{
    return preference;
}

const char *ta_hw_choose_backend(const ta_hw_info *hw)
{
    for (int i = 0; preference[i]; i++) {
        const ta_hw_provider *p = ta_hw_provider_find(preference[i]);
        if (ta_hw_provider_built(p) && ta_hw_provider_usable(p, hw, NULL, 0)) return p->id;
    }
    return "cpu";
}

static json_t *split(const char *list)
{
    json_t *a = json_array();
    char buf[128];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(a, json_string(t));
    return a;
}

json_t *ta_hw_providers_json(const ta_hw_info *hw)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ta_hw_provider_count(); i++) {
        const ta_hw_provider *p = &catalog[i];
        char why[256];
        bool usable = ta_hw_provider_usable(p, hw, why, sizeof why);
        json_t *o =
            json_pack("{s:s,s:s?,s:s,s:o,s:o,s:b,s:b}", "id", p->id, "ort_name", p->ort_name,
                      "vendor", p->vendor, "devices", split(p->devices), "platforms",
                      split(p->platforms), "usable", usable, "built", ta_hw_provider_built(p));
        json_object_set_new(o, "why_not", usable ? json_null() : json_string(why));
        json_array_append_new(arr, o);
    }
    return arr;
}
