/*
 * cmd_hardware.c - `tabagent hardware`: what this machine (or a sysroot fixture) has,
 * which execution providers it can use, and optionally whether a model fits
 * (--check FILE) and which library models fit (--recommend). A table by default, the
 * same JSON as GET /v1/hardware/info with --json.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../hardware/fit.h"
#include "../hardware/providers.h"
#include "../modelcache/library.h"
#include "cli.h"

static const char usage_text[] =
    "usage: tabagent hardware [--json] [--sysroot DIR] [--check FILE.gguf] [--recommend]\n"
    "                         [--context N] [--kv-type f16|q8_0|f32]\n"
    "  --sysroot DIR  probe the tree below DIR (tests/fixtures/hardware/<machine>) instead of\n"
    "                 this machine; libraries are then only looked for, never loaded\n"
    "  --check FILE   will this GGUF model fit: weights + KV cache + overhead, where, threads\n"
    "  --recommend    the models of the default library that fit\n";

int ta_cli_hardware(int argc, char **argv);

static void human_bytes(uint64_t b, char *out, size_t cap)
{
    if (!b)
        snprintf(out, cap, "unknown");
    else if (b >= (1ull << 30))
        snprintf(out, cap, "%.1f GiB", b / 1073741824.0);
    else if (b >= (1ull << 20))
        snprintf(out, cap, "%.1f MiB", b / 1048576.0);
    else
        snprintf(out, cap, "%llu KiB", (unsigned long long)(b >> 10));
}

static const char *or_unknown(const char *s)
{
    return s && s[0] ? s : "unknown";
}

static void print_table(const ta_hw_info *hw)
{
    char a[32], b[32], c[32], d[32];
    const ta_hw_cpu *cpu = &hw->cpu;
    if (hw->sysroot) printf("%-12s %s\n", "sysroot", hw->root);
    printf("%-12s %s%s%s\n", "os", or_unknown(hw->os_pretty[0] ? hw->os_pretty : hw->os_name),
           hw->os_release[0] ? ", kernel " : "", hw->os_release);
    printf("%-12s %s (%s, %s)\n", "cpu", or_unknown(cpu->model_name), or_unknown(cpu->vendor),
           or_unknown(cpu->arch));
    printf("%-12s %s", "  uarch", or_unknown(cpu->uarch));
    if (cpu->family >= 0)
        printf(" (family %d model %d stepping %d)", cpu->family, cpu->model, cpu->stepping);
    if (cpu->implementer >= 0)
        printf(" (implementer 0x%02x part 0x%03x)", cpu->implementer, cpu->part);
    printf("\n%-12s %d socket(s), %d core(s), %d thread(s), %d NUMA node(s); usable CPUs %d\n",
           "  topology", cpu->sockets, cpu->physical_cores, cpu->logical_threads, cpu->numa_nodes,
           hw->effective_cpus);
    human_bytes(cpu->l1d_bytes, a, sizeof a);
    human_bytes(cpu->l1i_bytes, b, sizeof b);
    human_bytes(cpu->l2_bytes, c, sizeof c);
    human_bytes(cpu->l3_bytes, d, sizeof d);
    printf("%-12s L1d %s, L1i %s, L2 %s, L3 %s\n", "  caches", a, b, c, d);
    printf("%-12s", "  features");
    for (int i = 0; i < TA_HW_FEATURE_COUNT; i++)
        if (cpu->features[i]) printf(" %s", ta_hw_feature_name(i));
    printf(" (%s)\n", or_unknown(cpu->features_source));
    human_bytes(hw->memory.total_bytes, a, sizeof a);
    human_bytes(hw->memory.available_bytes, b, sizeof b);
    human_bytes(hw->memory.swap_total_bytes, c, sizeof c);
    printf("%-12s %s total, %s available, swap %s\n", "memory", a, b,
           hw->memory.swap_total_bytes ? c : "none");
    human_bytes(hw->memory.effective_total_bytes, a, sizeof a);
    human_bytes(hw->memory.effective_available_bytes, b, sizeof b);
    printf("%-12s %s total, %s available (what decisions use)\n", "  effective", a, b);
    if (hw->cgroup.version) {
        human_bytes(hw->cgroup.memory_max_bytes, a, sizeof a);
        printf("%-12s v%d %s: memory limit %s, ", "cgroup", hw->cgroup.version,
               or_unknown(hw->cgroup.path), hw->cgroup.memory_max_bytes ? a : "none");
        if (hw->cgroup.cpus)
            printf("cpu.max %llu/%llu = %d CPU(s)\n", (unsigned long long)hw->cgroup.cpu_quota_us,
                   (unsigned long long)hw->cgroup.cpu_period_us, hw->cgroup.cpus);
        else
            printf("no CPU limit\n");
    }
    if (!hw->n_gpus) printf("%-12s none\n", "gpus");
    for (int i = 0; i < hw->n_gpus; i++) {
        const ta_hw_gpu *g = &hw->gpus[i];
        human_bytes(g->vram_total_bytes, a, sizeof a);
        printf("%-12s %s %s [%04x:%04x] %s; VRAM %s%s%s%s; driver %s%s%s%s%s\n", i ? "" : "gpus",
               or_unknown(g->pci_address), g->vendor, g->vendor_id, g->device_id,
               or_unknown(g->name), g->integrated ? "shared" : a, g->vram_source[0] ? " (" : "",
               g->vram_source, g->vram_source[0] ? ")" : "", or_unknown(g->driver),
               g->driver_version[0] ? " " : "", g->driver_version, g->drm_card[0] ? ", " : "",
               g->drm_card);
    }
    if (!hw->n_npus) printf("%-12s none\n", "npus");
    for (int i = 0; i < hw->n_npus; i++) {
        const ta_hw_npu *n = &hw->npus[i];
        printf("%-12s %s %s: %s [%04x:%04x]; driver %s%s%s\n", i ? "" : "npus", n->device, n->kind,
               or_unknown(n->name), n->vendor_id, n->device_id, or_unknown(n->driver),
               n->driver_version[0] ? " " : "", n->driver_version);
    }
    printf("%-12s", "runtimes");
    int shown = 0;
    for (int i = 0; i < TA_RT_COUNT; i++) {
        const ta_hw_runtime *r = &hw->rt[i];
        if (r->library != TA_HW_YES) continue;
        printf("%s %s%s%s", shown++ ? "," : "", ta_hw_runtime_name(i),
               r->devices_ok == TA_HW_YES  ? ""
               : r->devices_ok == TA_HW_NO ? " (no device)"
                                           : " (not probed)",
               r->version[0] ? "" : "");
        if (r->version[0]) printf(" %s", r->version);
    }
    printf("%s\n", shown ? "" : " none found");
    for (int i = 0; i < hw->n_vk; i++)
        printf("%-12s %s (%s)\n", i ? "" : "vulkan", hw->vk[i].name, hw->vk[i].type);
    printf("%-12s", "providers");
    for (size_t i = 0; i < ta_hw_provider_count(); i++) {
        const ta_hw_provider *p = ta_hw_provider_at(i);
        if (ta_hw_provider_usable(p, hw, NULL, 0)) printf(" %s", p->id);
    }
    printf(" (usable); backend: %s\n", ta_hw_choose_backend(hw));
    for (size_t i = 0; i < ta_hw_provider_count(); i++) {
        const ta_hw_provider *p = ta_hw_provider_at(i);
        char why[256];
        if (!ta_hw_provider_usable(p, hw, why, sizeof why) && strstr(p->platforms, "linux"))
            printf("%-12s %-9s %s\n", "", p->id, why);
    }
    printf("%-12s %.2f ms (cpu %.2f, memory %.2f, devices %.2f, runtimes %.2f)\n", "probe",
           hw->probe_ms, hw->cpu_ms, hw->memory_ms, hw->devices_ms, hw->runtimes_ms);
}

static void print_fit(const char *label, const ta_fit_result *r)
{
    char a[32], b[32], c[32], d[32], e[32];
    human_bytes(r->weights_bytes, a, sizeof a);
    human_bytes(r->kv_cache_bytes, b, sizeof b);
    human_bytes(r->overhead_bytes, c, sizeof c);
    human_bytes(r->required_bytes, d, sizeof d);
    human_bytes(r->available_bytes, e, sizeof e);
    printf("%-24s %-4s %-11s needs %s (weights %s + KV %s + overhead %s) of %s; ctx %llu, %d "
           "threads\n",
           label, r->fits ? r->where : "no", r->rating, d, a, r->kv_cache_bytes ? b : "0", c, e,
           (unsigned long long)r->context, r->threads);
}

int ta_cli_hardware(int argc, char **argv)
{
    bool as_json = false, recommend = false;
    const char *root = NULL, *check = NULL, *kv_s = "f16";
    long context = 0;
    enum { O_JSON = 1000, O_SYSROOT, O_CHECK, O_RECOMMEND, O_CONTEXT, O_KV };
    static const struct option opts[] = {{"json", no_argument, NULL, O_JSON},
                                         {"sysroot", required_argument, NULL, O_SYSROOT},
                                         {"check", required_argument, NULL, O_CHECK},
                                         {"recommend", no_argument, NULL, O_RECOMMEND},
                                         {"context", required_argument, NULL, O_CONTEXT},
                                         {"kv-type", required_argument, NULL, O_KV},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_JSON: as_json = true; break;
        case O_SYSROOT: root = optarg; break;
        case O_CHECK: check = optarg; break;
        case O_RECOMMEND: recommend = true; break;
        case O_CONTEXT:
            if (!ta_cli_parse_long("hardware", "--context", optarg, 1, 1 << 24, &context)) return 2;
            break;
        case O_KV: kv_s = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return ta_cli_usage_error("hardware", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return ta_cli_usage_error("hardware", "unexpected '%s'", argv[optind]);
    ta_fit_kv_type kv;
    if (!ta_fit_parse_kv_type(kv_s, &kv))
        return ta_cli_usage_error("hardware", "--kv-type: expected f16, q8_0 or f32");
    char rootbuf[512] = "";
    if (root) {
        struct stat st;
        if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
            return ta_cli_usage_error("hardware", "--sysroot %s: not a directory", root);
        snprintf(rootbuf, sizeof rootbuf, "%s", root);
        size_t n = strlen(rootbuf);
        while (n > 1 && rootbuf[n - 1] == '/')
            rootbuf[--n] = '\0';
        if (!strcmp(rootbuf, "/")) rootbuf[0] = '\0';
    }

    ta_hw_info *hw = malloc(sizeof *hw);
    if (!hw) return ta_cli_fail("hardware", "out of memory");
    ta_hw_probe(hw, rootbuf);
    json_t *out = ta_hw_info_json(hw);
    int rc = 0;
    if (check) {
        ta_fit_shape shape;
        uint64_t size = 0;
        ta_error err = {0};
        if (ta_fit_shape_from_gguf(check, &shape, &size, &err) != TA_OK) {
            rc = ta_cli_fail("hardware", "%s", err.message);
        } else {
            ta_fit_result r;
            ta_fit_decide(hw, size, &shape, (uint64_t)context, kv, &r);
            json_t *f = ta_fit_result_json(hw, &r);
            json_object_set_new(f, "path", json_string(check));
            json_object_set_new(out, "feasibility", f);
            if (!as_json) print_fit(check, &r);
        }
    }
    if (recommend) {
        json_t *rec = ta_fit_recommend(hw, ta_library(), (uint64_t)context);
        if (!as_json) {
            static const char *const kinds[] = {"chat", "embedding", "too_big"};
            for (int k = 0; k < 3; k++) {
                size_t i;
                json_t *m;
                json_array_foreach(json_object_get(rec, kinds[k]), i, m)
                {
                    char need[32];
                    human_bytes((uint64_t)json_integer_value(json_object_get(m, "required_bytes")),
                                need, sizeof need);
                    printf("%-12s %-24s %-11s needs %s at context %lld\n", i ? "" : kinds[k],
                           json_string_value(json_object_get(m, "name")),
                           json_string_value(json_object_get(m, "rating")), need,
                           (long long)json_integer_value(json_object_get(m, "context")));
                }
            }
        }
        json_object_set_new(out, "recommendations", rec);
    }
    if (as_json && rc == 0) {
        char *s = json_dumps(out, JSON_COMPACT);
        puts(s);
        free(s);
    } else if (!as_json && !check && !recommend) {
        print_table(hw);
    }
    json_decref(out);
    free(hw);
    return rc;
}
