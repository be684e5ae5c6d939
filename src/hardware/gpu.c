/*
 * gpu.c - GPUs and NPUs from sysfs: display controllers (PCI class 0x03) under
 * /sys/bus/pci/devices, their DRM cards (/sys/class/drm/cardN, which also finds GPUs
 * that are not on PCI), and accelerators under /sys/class/accel (Intel NPU, AMD XDNA).
 *
 * sysfs links (a device's driver, a card's device) are read with readlink, so relative
 * links in a fixture tree work even when they dangle; where a link is missing the
 * device's uevent file (DRIVER=, PCI_SLOT_NAME=, PCI_ID=) answers instead, as it does
 * in real sysfs.
 *
 * VRAM: AMD's mem_info_vram_total/used; Intel's xe driver tileN/physical_vram_size_bytes
 * and the out-of-tree i915's lmem_total_bytes; NVIDIA's comes from NVML (runtimes.c).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw_internal.h"

static const char *vendor_name(unsigned id)
{
    switch (id) {
    case 0x10de: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x1022: return "AMD";
    case 0x8086: return "Intel";
    default: return "other";
    }
}

/* The driver bound to a device directory: its driver link, else uevent's DRIVER. */
static void device_driver(const char *root, const char *dir, char *out, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/driver", dir);
    if (!ta_hw_link_name(root, path, out, cap)) ta_hw_uevent(root, dir, "DRIVER", out, cap);
}

/* A module's version: /sys/module/<m>/version, or for nvidia the version in
 * /proc/driver/nvidia/version ("... Kernel Module  550.54.14  Thu Feb ..."). */
static void driver_version(const char *root, const char *driver, char *out, size_t cap)
{
    if (!driver[0]) return;
    char path[256], buf[512];
    snprintf(path, sizeof path, "/sys/module/%s/version", driver);
    if (ta_hw_read(root, path, buf, sizeof buf) > 0) {
        ta_hw_copy(out, cap, buf);
        return;
    }
    if (strcmp(driver, "nvidia") ||
        ta_hw_read(root, "/proc/driver/nvidia/version", buf, sizeof buf) <= 0)
        return;
    const char *p = strstr(buf, "Kernel Module");
    p = p ? p + strlen("Kernel Module") : buf;
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, " \t\n");
    if (n && n < cap) snprintf(out, cap, "%.*s", (int)n, p);
}

static unsigned read_hex(const char *root, const char *dir, const char *name)
{
    char path[4096];
    uint64_t v = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return ta_hw_read_u64(root, path, &v) ? (unsigned)v : 0;
}

static void gpu_vram(ta_hw_gpu *g, const char *root, const char *dir)
{
    char path[4096];
    uint64_t v;
    snprintf(path, sizeof path, "%s/mem_info_vram_total", dir);
    if (ta_hw_read_u64(root, path, &v) && v) {
        g->vram_total_bytes = v;
        ta_hw_copy(g->vram_source, sizeof g->vram_source, "mem_info_vram_total");
        snprintf(path, sizeof path, "%s/mem_info_vram_used", dir);
        if (ta_hw_read_u64(root, path, &v)) g->vram_used_bytes = v;
        return;
    }
    uint64_t sum = 0;
    for (int t = 0; t < 4; t++) {
        snprintf(path, sizeof path, "%s/tile%d/physical_vram_size_bytes", dir, t);
        if (ta_hw_read_u64(root, path, &v)) sum += v;
    }
    if (sum) {
        g->vram_total_bytes = sum;
        ta_hw_copy(g->vram_source, sizeof g->vram_source, "physical_vram_size_bytes");
        return;
    }
    snprintf(path, sizeof path, "%s/lmem_total_bytes", dir);
    if (ta_hw_read_u64(root, path, &v) && v) {
        g->vram_total_bytes = v;
        ta_hw_copy(g->vram_source, sizeof g->vram_source, "lmem_total_bytes");
    }
}

static void probe_pci(ta_hw_info *hw, const char *root)
{
    char full[4096];
    if (!ta_hw_path(full, sizeof full, root, "/sys/bus/pci/devices")) return;
    DIR *d = opendir(full);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && hw->n_gpus < TA_HW_MAX_GPUS) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= 32) continue;
        char dir[128];
        snprintf(dir, sizeof dir, "/sys/bus/pci/devices/%s", e->d_name);
        unsigned cls = read_hex(root, dir, "class");
        if ((cls >> 16) != 0x03) continue;
        ta_hw_gpu *g = &hw->gpus[hw->n_gpus++];
        memset(g, 0, sizeof *g);
        ta_hw_copy(g->pci_address, sizeof g->pci_address, e->d_name);
        g->pci_class = cls;
        g->vendor_id = read_hex(root, dir, "vendor");
        g->device_id = read_hex(root, dir, "device");
        ta_hw_copy(g->vendor, sizeof g->vendor, vendor_name(g->vendor_id));
        device_driver(root, dir, g->driver, sizeof g->driver);
        driver_version(root, g->driver, g->driver_version, sizeof g->driver_version);
        gpu_vram(g, root, dir);
        /* Intel's integrated GPU is always device 2 on bus 0. */
        size_t n = strlen(g->pci_address);
        g->integrated = g->vendor_id == 0x8086 && !g->vram_total_bytes && n >= 7 &&
                        !strcmp(g->pci_address + n - 7, "00:02.0");
    }
    closedir(d);
}

static bool is_card_name(const char *s)
{
    if (strncmp(s, "card", 4) || !s[4]) return false;
    for (const char *p = s + 4; *p; p++)
        if (*p < '0' || *p > '9') return false;
    return true;
}

/* DRM cards: which card each PCI GPU is, and GPUs that are not on PCI (SoCs). */
static void probe_drm(ta_hw_info *hw, const char *root)
{
    char full[4096];
    if (!ta_hw_path(full, sizeof full, root, "/sys/class/drm")) return;
    DIR *d = opendir(full);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_card_name(e->d_name) || strlen(e->d_name) >= 16) continue;
        char card[64], dev[96], addr[64] = "";
        snprintf(card, sizeof card, "/sys/class/drm/%s", e->d_name);
        snprintf(dev, sizeof dev, "%s/device", card);
        if (!ta_hw_link_name(root, dev, addr, sizeof addr))
            ta_hw_uevent(root, dev, "PCI_SLOT_NAME", addr, sizeof addr);
        ta_hw_gpu *g = NULL;
        for (int i = 0; i < hw->n_gpus && !g; i++)
            if (!strcmp(hw->gpus[i].pci_address, addr)) g = &hw->gpus[i];
        if (!g) {
            /* Not a PCI display controller we saw: a SoC GPU, unless it is only a
             * framebuffer. */
            char driver[32] = "";
            device_driver(root, dev, driver, sizeof driver);
            static const char *const not_gpus[] = {
                "simple-framebuffer", "simpledrm", "efifb", "vkms", "vgem", "evdi", NULL};
            bool skip = !driver[0];
            for (int i = 0; not_gpus[i] && !skip; i++)
                skip = !strcmp(driver, not_gpus[i]);
            char pcls[64];
            if (skip || ta_hw_uevent(root, dev, "PCI_CLASS", pcls, sizeof pcls) ||
                hw->n_gpus >= TA_HW_MAX_GPUS)
                continue;
            g = &hw->gpus[hw->n_gpus++];
            memset(g, 0, sizeof *g);
            ta_hw_copy(g->vendor, sizeof g->vendor, "other");
            ta_hw_copy(g->driver, sizeof g->driver, driver);
            ta_hw_copy(g->name, sizeof g->name, driver);
            driver_version(root, driver, g->driver_version, sizeof g->driver_version);
            g->integrated = true;
        }
        if (!g->drm_card[0]) ta_hw_copy(g->drm_card, sizeof g->drm_card, e->d_name);
        /* The out-of-tree i915 puts lmem_total_bytes on the card, not the device. */
        if (!g->vram_total_bytes) {
            gpu_vram(g, root, card);
            if (g->vram_total_bytes) g->integrated = false;
        }
    }
    closedir(d);
}

static const char *npu_kind(const char *driver)
{
    if (!strcmp(driver, "intel_vpu")) return "Intel NPU";
    if (!strcmp(driver, "amdxdna")) return "AMD XDNA NPU";
    if (!strcmp(driver, "habanalabs")) return "Intel Gaudi";
    if (!strcmp(driver, "qaic")) return "Qualcomm Cloud AI";
    if (!strcmp(driver, "rocket")) return "Rockchip NPU";
    if (!strcmp(driver, "ethosu")) return "Arm Ethos-U NPU";
    return "";
}

static void probe_accel(ta_hw_info *hw, const char *root)
{
    char full[4096];
    if (!ta_hw_path(full, sizeof full, root, "/sys/class/accel")) return;
    DIR *d = opendir(full);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && hw->n_npus < TA_HW_MAX_NPUS) {
        if (strncmp(e->d_name, "accel", 5) || !e->d_name[5] || strlen(e->d_name) >= 16) continue;
        char dev[96];
        snprintf(dev, sizeof dev, "/sys/class/accel/%s/device", e->d_name);
        ta_hw_npu *n = &hw->npus[hw->n_npus++];
        memset(n, 0, sizeof *n);
        ta_hw_copy(n->device, sizeof n->device, e->d_name);
        device_driver(root, dev, n->driver, sizeof n->driver);
        if (!ta_hw_link_name(root, dev, n->pci_address, sizeof n->pci_address))
            ta_hw_uevent(root, dev, "PCI_SLOT_NAME", n->pci_address, sizeof n->pci_address);
        n->vendor_id = read_hex(root, dev, "vendor");
        n->device_id = read_hex(root, dev, "device");
        char id[32];
        if (!n->vendor_id && ta_hw_uevent(root, dev, "PCI_ID", id, sizeof id)) {
            unsigned v, dv;
            if (sscanf(id, "%x:%x", &v, &dv) == 2) {
                n->vendor_id = v;
                n->device_id = dv;
            }
        }
        ta_hw_copy(n->vendor, sizeof n->vendor, n->vendor_id ? vendor_name(n->vendor_id) : "other");
        const char *kind = npu_kind(n->driver);
        if (kind[0])
            ta_hw_copy(n->kind, sizeof n->kind, kind);
        else
            snprintf(n->kind, sizeof n->kind, "NPU (%s)", n->driver[0] ? n->driver : "unknown");
        driver_version(root, n->driver, n->driver_version, sizeof n->driver_version);
    }
    closedir(d);
}

static int by_gpu_address(const void *a, const void *b)
{
    const ta_hw_gpu *x = a, *y = b;
    if (!x->pci_address[0] != !y->pci_address[0]) return x->pci_address[0] ? -1 : 1;
    return strcmp(x->pci_address, y->pci_address);
}

static int by_npu_device(const void *a, const void *b)
{
    const ta_hw_npu *x = a, *y = b;
    size_t lx = strlen(x->device), ly = strlen(y->device);
    return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x->device, y->device);
}

void ta_hw_probe_devices(ta_hw_info *hw, const char *root)
{
    probe_pci(hw, root);
    qsort(hw->gpus, (size_t)hw->n_gpus, sizeof hw->gpus[0], by_gpu_address);
    probe_drm(hw, root);
    probe_accel(hw, root);
    qsort(hw->npus, (size_t)hw->n_npus, sizeof hw->npus[0], by_npu_device);
    hw->pci_ids = ta_hw_pci_names(hw, root);
    for (int i = 0; i < hw->n_npus; i++)
        if (!hw->npus[i].name[0])
            ta_hw_copy(hw->npus[i].name, sizeof hw->npus[i].name, hw->npus[i].kind);
}
