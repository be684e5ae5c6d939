/*
 * pciids.c - device names from the PCI ids database (Debian's pci.ids package puts it
 * in /usr/share/misc/pci.ids; other systems use /usr/share/hwdata/pci.ids). It is
 * optional: without it GPUs are named by vendor and id only.
 *
 * The file is about 1.3 MB; one pass resolves every device we found. Format: a vendor
 * line "10de  NVIDIA Corporation", its devices on lines starting with one tab
 * ("\t2684  AD102 [GeForce RTX 4090]"), subsystems with two tabs (ignored); the device
 * classes section ("C 03  Display controller") ends the vendor list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw_internal.h"

static const char *const db_paths[] = {"/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids",
                                       "/usr/share/pci.ids", NULL};

typedef struct wanted {
    unsigned vendor, device;
    char *name; /* where the device name goes */
    size_t cap;
    bool other; /* prefix the vendor's name (the vendor field only says "other") */
} wanted;

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
}

bool ta_hw_pci_names(ta_hw_info *hw, const char *root)
{
    FILE *f = NULL;
    for (int i = 0; db_paths[i] && !f; i++) {
        char path[4096];
        if (ta_hw_path(path, sizeof path, root, db_paths[i])) f = fopen(path, "re");
    }
    if (!f) return false;
    wanted w[TA_HW_MAX_GPUS + TA_HW_MAX_NPUS];
    int nw = 0;
    for (int i = 0; i < hw->n_gpus; i++)
        if (!hw->gpus[i].name[0] && hw->gpus[i].vendor_id)
            w[nw++] = (wanted){hw->gpus[i].vendor_id, hw->gpus[i].device_id, hw->gpus[i].name,
                               sizeof hw->gpus[i].name, !strcmp(hw->gpus[i].vendor, "other")};
    for (int i = 0; i < hw->n_npus; i++)
        if (!hw->npus[i].name[0] && hw->npus[i].vendor_id)
            w[nw++] = (wanted){hw->npus[i].vendor_id, hw->npus[i].device_id, hw->npus[i].name,
                               sizeof hw->npus[i].name, false};
    char line[512], vendor_text[256] = "";
    unsigned vendor = 0;
    bool vendor_wanted = false;
    while (nw && fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (line[0] == 'C' && line[1] == ' ') break;
        trim(line);
        if (line[0] != '\t') {
            char *end;
            vendor = (unsigned)strtoul(line, &end, 16);
            vendor_wanted = false;
            if (end - line != 4) continue;
            while (*end == ' ')
                end++;
            ta_hw_copy(vendor_text, sizeof vendor_text, end);
            for (int i = 0; i < nw; i++)
                if (w[i].vendor == vendor) vendor_wanted = true;
            continue;
        }
        if (!vendor_wanted || line[1] == '\t') continue;
        char *end;
        unsigned device = (unsigned)strtoul(line + 1, &end, 16);
        if (end - (line + 1) != 4) continue;
        while (*end == ' ')
            end++;
        for (int i = 0; i < nw; i++) {
            if (w[i].vendor != vendor || w[i].device != device || w[i].name[0]) continue;
            if (w[i].other)
                snprintf(w[i].name, w[i].cap, "%s %s", vendor_text, end);
            else
                ta_hw_copy(w[i].name, w[i].cap, end);
        }
    }
    fclose(f);
    return true;
}
