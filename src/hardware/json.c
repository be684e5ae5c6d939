/*
 * json.c - a ta_hw_info as JSON: what GET /v1/hardware/info, get_hardware_info and
 * `tabagent hardware --json` answer. Unknown values are null, never 0 or "".
 */
#include <math.h>

#include "providers.h"

static json_t *str(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

static json_t *count(long long v)
{
    return v > 0 ? json_integer(v) : json_null();
}

static json_t *id_or_null(int v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

static json_t *tri(ta_hw_tri t)
{
    return t == TA_HW_UNKNOWN ? json_null() : json_boolean(t == TA_HW_YES);
}

static json_t *hex4(unsigned v)
{
    char b[16];
    snprintf(b, sizeof b, "0x%04x", v);
    return v ? json_string(b) : json_null();
}

static json_t *ms(double v)
{
    return json_real(round(v * 1000.0) / 1000.0);
}

static json_t *cpu_json(const ta_hw_cpu *c)
{
    json_t *features = json_array();
    for (int i = 0; i < TA_HW_FEATURE_COUNT; i++)
        if (c->features[i]) json_array_append_new(features, json_string(ta_hw_feature_name(i)));
    json_t *o = json_object();
    json_object_set_new(o, "arch", str(c->arch));
    json_object_set_new(o, "vendor", str(c->vendor));
    json_object_set_new(o, "vendor_id", str(c->vendor_id));
    json_object_set_new(o, "model_name", str(c->model_name));
    json_object_set_new(o, "microarchitecture", str(c->uarch));
    json_object_set_new(o, "family", id_or_null(c->family));
    json_object_set_new(o, "model", id_or_null(c->model));
    json_object_set_new(o, "stepping", id_or_null(c->stepping));
    json_object_set_new(o, "implementer", id_or_null(c->implementer));
    json_object_set_new(o, "part", id_or_null(c->part));
    json_object_set_new(o, "physical_cores", count(c->physical_cores));
    json_object_set_new(o, "logical_threads", count(c->logical_threads));
    json_object_set_new(o, "sockets", count(c->sockets));
    json_object_set_new(o, "numa_nodes", count(c->numa_nodes));
    json_object_set_new(o, "affinity_cpus", count(c->affinity_cpus));
    json_object_set_new(o, "cache",
                        json_pack("{s:o,s:o,s:o,s:o}", "l1d_bytes", count((long long)c->l1d_bytes),
                                  "l1i_bytes", count((long long)c->l1i_bytes), "l2_bytes",
                                  count((long long)c->l2_bytes), "l3_bytes",
                                  count((long long)c->l3_bytes)));
    json_object_set_new(o, "features", features);
    json_object_set_new(o, "features_source", str(c->features_source));
    return o;
}

static json_t *memory_json(const ta_hw_memory *m)
{
    return json_pack("{s:o,s:o,s:I,s:I,s:o,s:o}", "total_bytes", count((long long)m->total_bytes),
                     "available_bytes", count((long long)m->available_bytes), "swap_total_bytes",
                     (json_int_t)m->swap_total_bytes, "swap_free_bytes",
                     (json_int_t)m->swap_free_bytes, "effective_total_bytes",
                     count((long long)m->effective_total_bytes), "effective_available_bytes",
                     count((long long)m->effective_available_bytes));
}

static json_t *cgroup_json(const ta_hw_cgroup *cg)
{
    if (!cg->version) return json_null();
    return json_pack("{s:i,s:o,s:o,s:o,s:o,s:o,s:o}", "version", cg->version, "path", str(cg->path),
                     "memory_max_bytes", count((long long)cg->memory_max_bytes),
                     "memory_current_bytes", count((long long)cg->memory_current_bytes),
                     "cpu_quota_us", count((long long)cg->cpu_quota_us), "cpu_period_us",
                     count((long long)cg->cpu_period_us), "cpus", count(cg->cpus));
}

static json_t *gpu_json(const ta_hw_gpu *g)
{
    json_t *o = json_object();
    json_object_set_new(o, "pci_address", str(g->pci_address));
    json_object_set_new(o, "vendor", str(g->vendor));
    json_object_set_new(o, "vendor_id", hex4(g->vendor_id));
    json_object_set_new(o, "device_id", hex4(g->device_id));
    json_object_set_new(o, "name", str(g->name));
    json_object_set_new(o, "driver", str(g->driver));
    json_object_set_new(o, "driver_version", str(g->driver_version));
    json_object_set_new(o, "drm_card", str(g->drm_card));
    json_object_set_new(o, "vram_bytes", count((long long)g->vram_total_bytes));
    json_object_set_new(o, "vram_used_bytes",
                        g->vram_source[0] && g->vram_total_bytes
                            ? json_integer((json_int_t)g->vram_used_bytes)
                            : json_null());
    json_object_set_new(o, "vram_source", str(g->vram_source));
    json_object_set_new(o, "integrated", json_boolean(g->integrated));
    return o;
}

static json_t *npu_json(const ta_hw_npu *n)
{
    return json_pack("{s:s,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o}", "device", n->device, "pci_address",
                     str(n->pci_address), "vendor", str(n->vendor), "vendor_id", hex4(n->vendor_id),
                     "device_id", hex4(n->device_id), "kind", n->kind, "name", str(n->name),
                     "driver", str(n->driver), "driver_version", str(n->driver_version));
}

static json_t *runtimes_json(const ta_hw_info *hw)
{
    json_t *o = json_object();
    for (int i = 0; i < TA_RT_COUNT; i++) {
        const ta_hw_runtime *r = &hw->rt[i];
        json_object_set_new(o, ta_hw_runtime_name(i),
                            json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "library", tri(r->library),
                                      "devices_ok", tri(r->devices_ok), "devices",
                                      r->devices >= 0 ? json_integer(r->devices) : json_null(),
                                      "version", str(r->version), "path", str(r->path), "note",
                                      str(r->note)));
    }
    return o;
}

json_t *ta_hw_info_json(const ta_hw_info *hw)
{
    json_t *o = json_object();
    json_object_set_new(o, "sysroot", hw->sysroot ? json_string(hw->root) : json_null());
    json_object_set_new(o, "os",
                        json_pack("{s:o,s:o,s:o}", "name", str(hw->os_name), "release",
                                  str(hw->os_release), "pretty", str(hw->os_pretty)));
    json_object_set_new(o, "cpu", cpu_json(&hw->cpu));
    json_object_set_new(o, "memory", memory_json(&hw->memory));
    json_object_set_new(o, "cgroup", cgroup_json(&hw->cgroup));
    json_object_set_new(o, "effective_cpus", count(hw->effective_cpus));
    json_t *gpus = json_array(), *npus = json_array(), *vk = json_array();
    for (int i = 0; i < hw->n_gpus; i++)
        json_array_append_new(gpus, gpu_json(&hw->gpus[i]));
    for (int i = 0; i < hw->n_npus; i++)
        json_array_append_new(npus, npu_json(&hw->npus[i]));
    for (int i = 0; i < hw->n_vk; i++) {
        const ta_hw_vkdev *v = &hw->vk[i];
        char api[32];
        snprintf(api, sizeof api, "%u.%u.%u", v->api_version >> 22, (v->api_version >> 12) & 0x3ff,
                 v->api_version & 0xfff);
        json_array_append_new(vk, json_pack("{s:s,s:s,s:o,s:o,s:s}", "name", v->name, "type",
                                            v->type, "vendor_id", hex4(v->vendor_id), "device_id",
                                            hex4(v->device_id), "api_version", api));
    }
    json_object_set_new(o, "gpus", gpus);
    json_object_set_new(o, "npus", npus);
    json_object_set_new(o, "runtimes", runtimes_json(hw));
    json_object_set_new(o, "vulkan_devices", vk);
    json_object_set_new(o, "pci_ids_database", json_boolean(hw->pci_ids));
    json_object_set_new(o, "providers", ta_hw_providers_json(hw));
    json_t *pref = json_array();
    for (const char *const *p = ta_hw_backend_preference(); *p; p++)
        json_array_append_new(pref, json_string(*p));
    json_object_set_new(o, "backend",
                        json_pack("{s:s,s:o,s:s}", "chosen", ta_hw_choose_backend(hw), "preference",
                                  pref, "note",
                                  "this build's engine computes on the CPU only; the order is "
                                  "the one GPU builds will follow"));
    json_object_set_new(o, "probe_ms", ms(hw->probe_ms));
    json_object_set_new(o, "probe_ms_parts",
                        json_pack("{s:o,s:o,s:o,s:o}", "cpu", ms(hw->cpu_ms), "memory",
                                  ms(hw->memory_ms), "devices", ms(hw->devices_ms), "runtimes",
                                  ms(hw->runtimes_ms)));
    return o;
}
