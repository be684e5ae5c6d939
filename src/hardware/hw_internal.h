/*
 * hw_internal.h - what the hardware probes share and nothing else may use: reading
 * small files through the root prefix, sysfs links and uevent files, and the probes'
 * entry points that probe.c calls in order.
 */
#ifndef TA_HW_INTERNAL_H
#define TA_HW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hardware.h"

/* root + path into out; false when it does not fit. */
bool ta_hw_path(char *out, size_t cap, const char *root, const char *path);
/* Reads a small file (at most cap - 1 bytes) below root, trailing whitespace trimmed;
 * -1 when it cannot be read. */
int ta_hw_read(const char *root, const char *path, char *buf, size_t cap);
/* A decimal (or 0x hex) number from a file; false when absent or not a number. */
bool ta_hw_read_u64(const char *root, const char *path, uint64_t *out);
bool ta_hw_exists(const char *root, const char *path);
/* The last component of a symbolic link's target ("../../bus/pci/drivers/nvidia" ->
 * "nvidia"); false when path is not a link. Dangling links are fine. */
bool ta_hw_link_name(const char *root, const char *path, char *out, size_t cap);
/* KEY=value from a sysfs uevent file (dir/uevent); false when absent. */
bool ta_hw_uevent(const char *root, const char *dir, const char *key, char *out, size_t cap);
/* "0-3,8-11" -> 8; 0 when it cannot be parsed. */
int ta_hw_count_cpu_list(const char *list);
double ta_hw_now_ms(void);
/* snprintf into a fixed field, quietly truncating. */
void ta_hw_copy(char *dst, size_t cap, const char *src);

/* The probes, in the order probe.c runs them. */
void ta_hw_probe_os(ta_hw_info *hw, const char *root);
void ta_hw_probe_cpu(ta_hw_info *hw, const char *root);
void ta_hw_probe_memory(ta_hw_info *hw, const char *root);
void ta_hw_probe_devices(ta_hw_info *hw, const char *root); /* GPUs and NPUs */
void ta_hw_probe_runtimes(ta_hw_info *hw, const char *root);

/* Names for PCI ids from pci.ids below root; fills the GPU and NPU names that are still
 * empty. Returns false when no database was found. */
bool ta_hw_pci_names(ta_hw_info *hw, const char *root);

#endif
