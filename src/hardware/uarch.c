/*
 * uarch.c - CPU family/model -> microarchitecture name. The tables are short on
 * purpose: they name the parts a local AI server is likely to meet (recent Intel and
 * AMD desktop/server cores, common ARM cores); anything else is "" (unknown) rather
 * than a guess.
 */
#include <string.h>

#include "hardware.h"

typedef struct {
    int model;
    const char *name;
} model_name;

/* Intel family 6, by display model. 0x55 is resolved by stepping below. */
static const model_name intel6[] = {
    {0x3C, "Haswell"},
    {0x3F, "Haswell"},
    {0x45, "Haswell"},
    {0x46, "Haswell"},
    {0x3D, "Broadwell"},
    {0x47, "Broadwell"},
    {0x4F, "Broadwell"},
    {0x56, "Broadwell"},
    {0x4E, "Skylake"},
    {0x5E, "Skylake"},
    {0x8E, "Kaby Lake / Coffee Lake"},
    {0x9E, "Kaby Lake / Coffee Lake"},
    {0xA5, "Comet Lake"},
    {0xA6, "Comet Lake"},
    {0x7D, "Ice Lake"},
    {0x7E, "Ice Lake"},
    {0x6A, "Ice Lake-SP"},
    {0x6C, "Ice Lake-SP"},
    {0x8C, "Tiger Lake"},
    {0x8D, "Tiger Lake"},
    {0xA7, "Rocket Lake"},
    {0x97, "Alder Lake"},
    {0x9A, "Alder Lake"},
    {0xB7, "Raptor Lake"},
    {0xBA, "Raptor Lake"},
    {0xBF, "Raptor Lake"},
    {0xAA, "Meteor Lake"},
    {0xAC, "Meteor Lake"},
    {0xBD, "Lunar Lake"},
    {0xC5, "Arrow Lake"},
    {0xC6, "Arrow Lake"},
    {0x8F, "Sapphire Rapids"},
    {0xCF, "Emerald Rapids"},
    {0xAD, "Granite Rapids"},
    {0xAE, "Granite Rapids"},
    {0xAF, "Sierra Forest"},
};

static const char *amd_uarch(int family, int model)
{
    switch (family) {
    case 0x15: return "Bulldozer family";
    case 0x16: return "Jaguar / Puma";
    case 0x17:
        if (model == 0x08 || model == 0x18) return "Zen+";
        return model < 0x30 ? "Zen" : "Zen 2";
    case 0x19:
        if ((model >= 0x10 && model <= 0x1F) || (model >= 0x60 && model <= 0x7F) ||
            (model >= 0xA0 && model <= 0xAF))
            return "Zen 4";
        if (model >= 0x40 && model <= 0x4F) return "Zen 3+";
        if (model <= 0x0F || (model >= 0x20 && model <= 0x2F) || (model >= 0x50 && model <= 0x5F))
            return "Zen 3";
        return "";
    case 0x1A: return "Zen 5";
    default: return "";
    }
}

const char *ta_hw_x86_uarch(const char *vendor_id, int family, int model, int stepping)
{
    if (!vendor_id) return "";
    if (!strcmp(vendor_id, "AuthenticAMD")) return amd_uarch(family, model);
    if (strcmp(vendor_id, "GenuineIntel") || family != 6) return "";
    if (model == 0x55) {
        if (stepping < 0) return "Skylake-SP / Cascade Lake";
        return stepping >= 10 ? "Cooper Lake" : stepping >= 5 ? "Cascade Lake" : "Skylake-SP";
    }
    for (size_t i = 0; i < sizeof intel6 / sizeof intel6[0]; i++)
        if (intel6[i].model == model) return intel6[i].name;
    return "";
}

/* Arm Ltd. (implementer 0x41) cores by part number. */
static const model_name arm_parts[] = {
    {0xd03, "Cortex-A53"},  {0xd05, "Cortex-A55"},  {0xd07, "Cortex-A57"}, {0xd08, "Cortex-A72"},
    {0xd09, "Cortex-A73"},  {0xd0a, "Cortex-A75"},  {0xd0b, "Cortex-A76"}, {0xd0c, "Neoverse N1"},
    {0xd0d, "Cortex-A77"},  {0xd40, "Neoverse V1"}, {0xd41, "Cortex-A78"}, {0xd44, "Cortex-X1"},
    {0xd46, "Cortex-A510"}, {0xd47, "Cortex-A710"}, {0xd48, "Cortex-X2"},  {0xd49, "Neoverse N2"},
    {0xd4f, "Neoverse V2"},
};

const char *ta_hw_arm_uarch(int implementer, int part)
{
    if (implementer != 0x41) return "";
    for (size_t i = 0; i < sizeof arm_parts / sizeof arm_parts[0]; i++)
        if (arm_parts[i].model == part) return arm_parts[i].name;
    return "";
}
