/*
 * test_hardware.c - the hardware probes against the fixture machines in
 * tests/fixtures/hardware (exact values), the JSON shape, and the running machine
 * (CPUID agrees with /proc/cpuinfo; the probe time is reported, not asserted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hardware/hardware.h"
#include "hardware/hw_internal.h"
#include "hardware/providers.h"

#define FIXTURES TA_SOURCE_DIR "/tests/fixtures/hardware/"

static ta_hw_info *probe(const char *machine)
{
    ta_hw_info *hw = malloc(sizeof *hw);
    assert_non_null(hw);
    ta_hw_probe(hw, machine ? machine : "");
    return hw;
}

static ta_hw_info *fixture(const char *name)
{
    char root[1024];
    snprintf(root, sizeof root, FIXTURES "%s", name);
    struct stat st;
    if (stat(root, &st) != 0) fail_msg("missing fixture %s", root);
    return probe(root);
}

/* The features reported, as one space-separated string. */
static void features(const ta_hw_cpu *c, char *out, size_t cap)
{
    out[0] = '\0';
    for (int i = 0; i < TA_HW_FEATURE_COUNT; i++)
        if (c->features[i]) {
            strncat(out, out[0] ? " " : "", cap - strlen(out) - 1);
            strncat(out, ta_hw_feature_name(i), cap - strlen(out) - 1);
        }
}

static bool usable(const ta_hw_info *hw, const char *id, char *why, size_t cap)
{
    const ta_hw_provider *p = ta_hw_provider_find(id);
    assert_non_null(p);
    return ta_hw_provider_usable(p, hw, why, cap);
}

static void test_nvidia(void **state)
{
    (void)state;
    ta_hw_info *hw = fixture("nvidia");
    assert_true(hw->sysroot);
    assert_string_equal(hw->os_pretty, "Debian GNU/Linux 12 (bookworm)");
    assert_string_equal(hw->os_release, "6.1.0-18-amd64");
    const ta_hw_cpu *c = &hw->cpu;
    assert_string_equal(c->arch, "x86_64");
    assert_string_equal(c->vendor, "Intel");
    assert_string_equal(c->vendor_id, "GenuineIntel");
    assert_string_equal(c->model_name, "13th Gen Intel(R) Core(TM) i9-13900K");
    assert_string_equal(c->uarch, "Raptor Lake");
    assert_int_equal(c->family, 6);
    assert_int_equal(c->model, 183);
    assert_int_equal(c->stepping, 1);
    assert_int_equal(c->implementer, -1);
    assert_int_equal(c->logical_threads, 4);
    assert_int_equal(c->physical_cores, 2);
    assert_int_equal(c->sockets, 1);
    assert_int_equal(c->numa_nodes, 1);
    assert_int_equal(c->affinity_cpus, 0); /* not probed under a root */
    assert_int_equal(c->l1d_bytes, 48 << 10);
    assert_int_equal(c->l1i_bytes, 32 << 10);
    assert_int_equal(c->l2_bytes, 2048 << 10);
    assert_int_equal(c->l3_bytes, 36864 << 10);
    char f[512];
    features(c, f, sizeof f);
    assert_string_equal(f, "sse4_2 avx avx2 fma f16c avx_vnni");
    assert_string_equal(c->features_source, "cpuinfo");
    assert_int_equal(hw->memory.total_bytes, 65536000ull << 10);
    assert_int_equal(hw->memory.available_bytes, 60000000ull << 10);
    assert_int_equal(hw->memory.swap_total_bytes, 2097148ull << 10);
    assert_int_equal(hw->memory.effective_available_bytes, 60000000ull << 10);
    assert_int_equal(hw->cgroup.memory_max_bytes, 0);
    assert_int_equal(hw->effective_cpus, 4);

    /* The host bridge and the GPU's audio function are not GPUs. */
    assert_int_equal(hw->n_gpus, 1);
    const ta_hw_gpu *g = &hw->gpus[0];
    assert_string_equal(g->pci_address, "0000:01:00.0");
    assert_string_equal(g->vendor, "NVIDIA");
    assert_int_equal(g->vendor_id, 0x10de);
    assert_int_equal(g->device_id, 0x2684);
    assert_int_equal(g->pci_class, 0x030000);
    assert_string_equal(g->name, "AD102 [GeForce RTX 4090]");
    assert_string_equal(g->driver, "nvidia");            /* the driver symlink */
    assert_string_equal(g->driver_version, "550.54.14"); /* /proc/driver/nvidia/version */
    assert_string_equal(g->drm_card, "card0");           /* card0-HDMI-A-1 skipped */
    assert_int_equal(g->vram_total_bytes, 0);            /* NVML is never loaded here */
    assert_false(g->integrated);
    assert_int_equal(hw->n_npus, 0);
    assert_true(hw->pci_ids);

    assert_int_equal(hw->rt[TA_RT_CUDA].library, TA_HW_YES);
    assert_int_equal(hw->rt[TA_RT_CUDA].devices_ok, TA_HW_UNKNOWN);
    assert_string_equal(hw->rt[TA_RT_CUDA].path, "/usr/lib/x86_64-linux-gnu/libcuda.so.1");
    assert_int_equal(hw->rt[TA_RT_TENSORRT].library, TA_HW_NO);
    char why[256];
    assert_true(usable(hw, "cpu", why, sizeof why));
    assert_true(usable(hw, "cuda", why, sizeof why));
    assert_true(usable(hw, "vulkan", why, sizeof why));
    assert_true(usable(hw, "xnnpack", why, sizeof why));
    assert_false(usable(hw, "tensorrt", why, sizeof why));
    assert_string_equal(why, "TensorRT (libnvinfer) not found");
    assert_false(usable(hw, "rocm", why, sizeof why));
    assert_string_equal(why, "no AMD GPU");
    assert_false(usable(hw, "openvino", why, sizeof why));
    assert_string_equal(why, "the OpenVINO runtime (libopenvino) not found");
    assert_false(usable(hw, "coreml", why, sizeof why));
    assert_string_equal(why, "not available on Linux (only on macos,ios)");
    assert_false(usable(hw, "webgpu", why, sizeof why));
    assert_false(usable(hw, "acl", why, sizeof why));
    assert_string_equal(why, "needs an ARM CPU");
    /* This build computes on the CPU, whatever the machine has. */
    assert_string_equal(ta_hw_choose_backend(hw), "cpu");
    free(hw);
}

static void test_amd(void **state)
{
    (void)state;
    ta_hw_info *hw = fixture("amd");
    assert_string_equal(hw->cpu.vendor, "AMD");
    assert_string_equal(hw->cpu.uarch, "Zen 4");
    assert_int_equal(hw->cpu.family, 25);
    assert_int_equal(hw->cpu.model, 97);
    char f[512];
    features(&hw->cpu, f, sizeof f);
    assert_string_equal(f, "sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni "
                           "avx512_bf16");
    assert_int_equal(hw->n_gpus, 1);
    const ta_hw_gpu *g = &hw->gpus[0];
    assert_string_equal(g->pci_address, "0000:03:00.0");
    assert_string_equal(g->vendor, "AMD");
    assert_string_equal(g->name, "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]");
    assert_string_equal(g->driver, "amdgpu"); /* from uevent: no driver link here */
    assert_string_equal(g->driver_version, "6.7.0");
    assert_string_equal(g->drm_card, "card1"); /* from the card's uevent PCI_SLOT_NAME */
    assert_int_equal(g->vram_total_bytes, 25769803776ull);
    assert_int_equal(g->vram_used_bytes, 1073741824ull);
    assert_string_equal(g->vram_source, "mem_info_vram_total");
    assert_true(hw->pci_ids); /* /usr/share/hwdata/pci.ids */
    char why[256];
    assert_true(usable(hw, "rocm", why, sizeof why));
    assert_false(usable(hw, "migraphx", why, sizeof why));
    assert_string_equal(why, "MIGraphX (libmigraphx_c) not found");
    assert_false(usable(hw, "cuda", why, sizeof why));
    assert_string_equal(why, "no NVIDIA GPU");
    assert_true(usable(hw, "vulkan", why, sizeof why));
    assert_int_equal(hw->rt[TA_RT_OPENCL].library, TA_HW_YES);
    free(hw);
}

static void test_intel(void **state)
{
    (void)state;
    ta_hw_info *hw = fixture("intel");
    assert_string_equal(hw->cpu.uarch, "Tiger Lake");
    assert_string_equal(hw->os_pretty, "Fedora Linux 40 (Workstation Edition)");
    assert_int_equal(hw->memory.swap_free_bytes, 8000000ull << 10);
    assert_int_equal(hw->n_gpus, 2);
    const ta_hw_gpu *igpu = &hw->gpus[0], *arc = &hw->gpus[1];
    assert_string_equal(igpu->pci_address, "0000:00:02.0");
    assert_string_equal(igpu->name, "TigerLake-LP GT2 [Iris Xe Graphics]");
    assert_string_equal(igpu->driver, "i915");
    assert_string_equal(igpu->driver_version, "");
    assert_true(igpu->integrated);
    assert_int_equal(igpu->vram_total_bytes, 0);
    assert_string_equal(arc->pci_address, "0000:03:00.0");
    assert_string_equal(arc->name, "DG2 [Arc A770]");
    assert_string_equal(arc->driver, "xe");
    assert_string_equal(arc->drm_card, "card1");
    assert_false(arc->integrated);
    assert_int_equal(arc->vram_total_bytes, 17179869184ull);
    assert_string_equal(arc->vram_source, "physical_vram_size_bytes");
    /* OpenVINO is found through ld.so.conf's include, by a versioned name. */
    assert_int_equal(hw->rt[TA_RT_OPENVINO].library, TA_HW_YES);
    assert_string_equal(hw->rt[TA_RT_OPENVINO].path,
                        "/opt/intel/openvino/runtime/lib/intel64/libopenvino_c.so.2024.0.0");
    char why[256];
    assert_true(usable(hw, "openvino", why, sizeof why));
    assert_false(usable(hw, "vulkan", why, sizeof why));
    assert_string_equal(why, "the Vulkan loader (libvulkan.so.1) not found");
    free(hw);
}

static void test_npu(void **state)
{
    (void)state;
    ta_hw_info *hw = fixture("npu");
    assert_string_equal(hw->cpu.uarch, "Meteor Lake");
    /* The NPU is a processing accelerator (class 0x12), not a GPU. */
    assert_int_equal(hw->n_gpus, 1);
    assert_string_equal(hw->gpus[0].name, "Meteor Lake-P [Intel Arc Graphics]");
    assert_true(hw->gpus[0].integrated);
    assert_int_equal(hw->n_npus, 1);
    const ta_hw_npu *n = &hw->npus[0];
    assert_string_equal(n->device, "accel0");
    assert_string_equal(n->kind, "Intel NPU");
    assert_string_equal(n->name, "Meteor Lake NPU");
    assert_string_equal(n->driver, "intel_vpu");
    assert_string_equal(n->pci_address, "0000:00:0b.0");
    assert_int_equal(n->vendor_id, 0x8086);
    assert_int_equal(n->device_id, 0x7d1d);
    assert_string_equal(n->vendor, "Intel");
    char why[256];
    assert_false(usable(hw, "openvino", why, sizeof why)); /* the NPU is there, the runtime not */
    assert_string_equal(why, "the OpenVINO runtime (libopenvino) not found");
    assert_false(usable(hw, "vitisai", why, sizeof why));
    assert_string_equal(why, "no AMD XDNA NPU");
    free(hw);
}

static void test_container(void **state)
{
    (void)state;
    ta_hw_info *hw = fixture("container");
    assert_string_equal(hw->cpu.uarch, "Zen 3");
    assert_int_equal(hw->cpu.logical_threads, 16);
    assert_int_equal(hw->cpu.physical_cores, 8);
    const ta_hw_cgroup *cg = &hw->cgroup;
    assert_int_equal(cg->version, 2);
    assert_string_equal(cg->path, "/docker/4f1c2a");
    assert_int_equal(cg->memory_max_bytes, 4294967296ull);
    /* memory.current less the reclaimable inactive_file of memory.stat */
    assert_int_equal(cg->memory_current_bytes, 1073741824ull - 268435456ull);
    assert_int_equal(cg->cpu_quota_us, 150000);
    assert_int_equal(cg->cpu_period_us, 100000);
    assert_int_equal(cg->cpus, 2); /* ceil(1.5) */
    assert_int_equal(hw->memory.total_bytes, 64ull << 30);
    assert_int_equal(hw->memory.available_bytes, 48ull << 30);
    assert_int_equal(hw->memory.effective_total_bytes, 4294967296ull);
    assert_int_equal(hw->memory.effective_available_bytes, 4294967296ull - 805306368ull);
    assert_int_equal(hw->effective_cpus, 2);
    assert_int_equal(hw->n_gpus, 0);
    assert_false(hw->pci_ids);
    free(hw);
}

static void test_arm(void **state)
{
    (void)state;
    ta_hw_info *hw = fixture("arm");
    const ta_hw_cpu *c = &hw->cpu;
    assert_string_equal(c->arch, "aarch64");
    assert_string_equal(c->vendor, "ARM");
    assert_string_equal(c->vendor_id, "0x41");
    assert_string_equal(c->uarch, "Neoverse V1");
    assert_string_equal(c->model_name, "ARM Neoverse V1");
    assert_int_equal(c->implementer, 0x41);
    assert_int_equal(c->part, 0xd40);
    assert_int_equal(c->family, -1);
    assert_int_equal(c->logical_threads, 4);
    assert_int_equal(c->physical_cores, 4); /* from sysfs topology: cpuinfo has no core ids */
    assert_int_equal(c->sockets, 1);
    assert_int_equal(c->l1d_bytes, 64 << 10);
    char f[512];
    features(c, f, sizeof f);
    /* "svei8mm" must not count as a second i8mm, nor sve2 appear from "sve". */
    assert_string_equal(f, "neon fp16 dotprod i8mm bf16 sve");
    assert_string_equal(hw->rt[TA_RT_ACL].path, "/usr/lib/aarch64-linux-gnu/libarm_compute.so");
    char why[256];
    assert_true(usable(hw, "acl", why, sizeof why));
    assert_true(usable(hw, "xnnpack", why, sizeof why));
    assert_false(usable(hw, "armnn", why, sizeof why));
    assert_string_equal(why, "Arm NN (libarmnn) not found");
    assert_false(usable(hw, "qnn", why, sizeof why));
    assert_string_equal(why, "the QNN SDK (libQnnHtp) not found");
    free(hw);
}

/* A root with nothing in it: every value unknown, nothing crashes. */
static void test_empty_root(void **state)
{
    (void)state;
    ta_hw_info *hw = probe("/nonexistent-ta-hw-root");
    assert_int_equal(hw->cpu.logical_threads, 0);
    assert_int_equal(hw->memory.total_bytes, 0);
    assert_int_equal(hw->n_gpus, 0);
    assert_int_equal(hw->cgroup.version, 0);
    json_t *j = ta_hw_info_json(hw);
    assert_true(json_is_null(json_object_get(json_object_get(j, "cpu"), "logical_threads")));
    assert_true(json_is_null(json_object_get(json_object_get(j, "cpu"), "vendor")));
    assert_true(json_is_null(json_object_get(json_object_get(j, "memory"), "total_bytes")));
    assert_true(json_is_null(json_object_get(j, "cgroup")));
    json_decref(j);
    free(hw);
}

static void test_json_shape(void **state)
{
    (void)state;
    ta_hw_info *hw = fixture("amd");
    json_t *j = ta_hw_info_json(hw);
    static const char *const keys[] = {"sysroot",
                                       "os",
                                       "cpu",
                                       "memory",
                                       "cgroup",
                                       "gpus",
                                       "npus",
                                       "runtimes",
                                       "vulkan_devices",
                                       "providers",
                                       "backend",
                                       "probe_ms",
                                       "probe_ms_parts",
                                       "effective_cpus",
                                       "pci_ids_database"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(j, keys[i])) fail_msg("missing %s", keys[i]);
    json_t *cpu = json_object_get(j, "cpu");
    assert_string_equal(json_string_value(json_object_get(cpu, "microarchitecture")), "Zen 4");
    assert_true(json_is_null(json_object_get(cpu, "implementer")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(cpu, "cache"), "l3_bytes")),
                     32 << 20);
    assert_int_equal(json_array_size(json_object_get(cpu, "features")), 10);
    json_t *g = json_array_get(json_object_get(j, "gpus"), 0);
    assert_string_equal(json_string_value(json_object_get(g, "vendor_id")), "0x1002");
    assert_string_equal(json_string_value(json_object_get(g, "device_id")), "0x744c");
    assert_int_equal(json_integer_value(json_object_get(g, "vram_bytes")), 25769803776ll);
    json_t *rocm = json_object_get(json_object_get(j, "runtimes"), "rocm");
    assert_true(json_is_true(json_object_get(rocm, "library")));
    assert_true(json_is_null(json_object_get(rocm, "devices_ok"))); /* not probed */
    json_t *providers = json_object_get(j, "providers");
    assert_int_equal(json_array_size(providers), ta_hw_provider_count());
    size_t i;
    json_t *p;
    json_array_foreach(providers, i, p)
    {
        assert_true(json_is_string(json_object_get(p, "id")));
        assert_true(json_is_string(json_object_get(p, "vendor")));
        assert_true(json_array_size(json_object_get(p, "devices")) >= 1);
        assert_true(json_array_size(json_object_get(p, "platforms")) >= 1);
        bool ok = json_is_true(json_object_get(p, "usable"));
        /* why_not is a sentence exactly when it is not usable */
        assert_true(ok ? json_is_null(json_object_get(p, "why_not"))
                       : json_string_length(json_object_get(p, "why_not")) > 0);
    }
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "backend"), "chosen")),
                        "cpu");
    assert_true(json_is_real(json_object_get(j, "probe_ms")));
    assert_string_equal(json_string_value(json_object_get(j, "sysroot")), hw->root);
    json_decref(j);
    free(hw);
}

static void test_catalog(void **state)
{
    (void)state;
    static const char *const required[] = {
        "cpu",      "cuda",  "tensorrt", "rocm",  "migraphx", "openvino", "onednn",  "coreml",
        "directml", "qnn",   "xnnpack",  "nnapi", "vulkan",   "webgpu",   "acl",     "armnn",
        "cann",     "azure", "js",       "rknpu", "snpe",     "tvm",      "vitisai", NULL};
    for (int i = 0; required[i]; i++)
        if (!ta_hw_provider_find(required[i])) fail_msg("no provider %s", required[i]);
    for (size_t i = 0; i < ta_hw_provider_count(); i++) {
        const ta_hw_provider *p = ta_hw_provider_at(i);
        for (size_t k = i + 1; k < ta_hw_provider_count(); k++)
            assert_string_not_equal(p->id, ta_hw_provider_at(k)->id);
        assert_int_equal(ta_hw_provider_built(p), !strcmp(p->id, "cpu"));
    }
    assert_null(ta_hw_provider_find("nope"));
    const char *const *pref = ta_hw_backend_preference();
    assert_string_equal(pref[0], "cuda");
    int n = 0;
    while (pref[n])
        n++;
    assert_string_equal(pref[n - 1], "cpu");
}

static void test_uarch_tables(void **state)
{
    (void)state;
    assert_string_equal(ta_hw_x86_uarch("AuthenticAMD", 25, 1, 1), "Zen 3");
    assert_string_equal(ta_hw_x86_uarch("AuthenticAMD", 25, 0x61, 2), "Zen 4");
    assert_string_equal(ta_hw_x86_uarch("AuthenticAMD", 25, 0x44, 1), "Zen 3+");
    assert_string_equal(ta_hw_x86_uarch("AuthenticAMD", 23, 0x31, 0), "Zen 2");
    assert_string_equal(ta_hw_x86_uarch("AuthenticAMD", 23, 0x08, 2), "Zen+");
    assert_string_equal(ta_hw_x86_uarch("AuthenticAMD", 26, 0x44, 0), "Zen 5");
    assert_string_equal(ta_hw_x86_uarch("AuthenticAMD", 25, 0x90, 0), "");
    assert_string_equal(ta_hw_x86_uarch("GenuineIntel", 6, 0x8F, 8), "Sapphire Rapids");
    assert_string_equal(ta_hw_x86_uarch("GenuineIntel", 6, 0x55, 7), "Cascade Lake");
    assert_string_equal(ta_hw_x86_uarch("GenuineIntel", 6, 0x55, 4), "Skylake-SP");
    assert_string_equal(ta_hw_x86_uarch("GenuineIntel", 6, 0x01, 0), "");
    assert_string_equal(ta_hw_x86_uarch("GenuineIntel", 15, 0x01, 0), "");
    assert_string_equal(ta_hw_arm_uarch(0x41, 0xd0c), "Neoverse N1");
    assert_string_equal(ta_hw_arm_uarch(0x61, 0x022), "");
}

static void test_helpers(void **state)
{
    (void)state;
    assert_int_equal(ta_hw_count_cpu_list("0-3,8-11"), 8);
    assert_int_equal(ta_hw_count_cpu_list("0"), 1);
    assert_int_equal(ta_hw_count_cpu_list("0,2,4-5\n"), 4);
    assert_int_equal(ta_hw_count_cpu_list(""), 0);
    assert_int_equal(ta_hw_count_cpu_list("x"), 0);
    assert_int_equal(ta_hw_count_cpu_list("5-3"), 0);
}

/* The running machine: no assertion on time, but it is reported; CPUID must not miss a
 * feature the kernel lists in /proc/cpuinfo. */
static void test_this_machine(void **state)
{
    (void)state;
    double best = 1e9, total = 0;
    for (int i = 0; i < 5; i++) {
        ta_hw_info *hw = probe(NULL);
        if (hw->probe_ms < best) best = hw->probe_ms;
        total += hw->probe_ms;
        free(hw);
    }
    ta_hw_info *hw = probe(NULL);
    print_message("probe of this machine: best %.2f ms, mean %.2f ms over 5 (cpu %.2f, memory "
                  "%.2f, devices %.2f, runtimes %.2f)\n",
                  best, total / 5, hw->cpu_ms, hw->memory_ms, hw->devices_ms, hw->runtimes_ms);
    assert_false(hw->sysroot);
    assert_true(hw->probe_ms > 0);
    assert_true(hw->cpu.logical_threads >= 1);
    assert_true(hw->cpu.physical_cores >= 1);
    assert_true(hw->cpu.physical_cores <= hw->cpu.logical_threads);
    assert_true(hw->memory.total_bytes > 0);
    assert_true(hw->memory.effective_available_bytes <= hw->memory.total_bytes);
    assert_true(hw->effective_cpus >= 1 && hw->effective_cpus <= hw->cpu.logical_threads);
    assert_string_equal(ta_hw_choose_backend(hw), "cpu");

    ta_hw_info cached1, cached2;
    ta_hw_cached(&cached1, false);
    ta_hw_cached(&cached2, false);
    assert_true(cached1.probe_ms == cached2.probe_ms); /* the same probe, not a new one */

#if defined(__x86_64__)
    assert_string_equal(hw->cpu.features_source, "cpuid");
    /* The same machine read from a copy of its /proc/cpuinfo. */
    char dir[] = "/tmp/ta_hw_cpuinfo_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], cmd[512];
    snprintf(path, sizeof path, "%s/proc", dir);
    mkdir(path, 0700);
    snprintf(cmd, sizeof cmd, "cp /proc/cpuinfo %s/proc/cpuinfo", dir);
    assert_int_equal(system(cmd), 0);
    ta_hw_info *viaproc = probe(dir);
    for (int i = 0; i < TA_HW_FEATURE_COUNT; i++)
        if (viaproc->cpu.features[i] && !hw->cpu.features[i])
            fail_msg("/proc/cpuinfo lists %s, CPUID does not", ta_hw_feature_name(i));
    assert_string_equal(viaproc->cpu.uarch, hw->cpu.uarch);
    assert_int_equal(viaproc->cpu.family, hw->cpu.family);
    assert_int_equal(viaproc->cpu.model, hw->cpu.model);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(viaproc);
#endif
    free(hw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nvidia),     cmocka_unit_test(test_amd),
        cmocka_unit_test(test_intel),      cmocka_unit_test(test_npu),
        cmocka_unit_test(test_container),  cmocka_unit_test(test_arm),
        cmocka_unit_test(test_empty_root), cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_catalog),    cmocka_unit_test(test_uarch_tables),
        cmocka_unit_test(test_helpers),    cmocka_unit_test(test_this_machine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
