/*
 * providers.h - the execution provider catalog: every provider ONNX Runtime knows (and
 * Vulkan, which llama.cpp-style engines use), with its vendor, the kinds of device it
 * runs on and the platforms it exists for, and whether this machine can use it - and
 * when not, why not - judged from a ta_hw_info.
 *
 * "usable" is about the machine (the device and its runtime are there); "built" is
 * about this build of tabagent (today: the CPU engine only). ta_hw_choose_backend
 * walks the preference order and returns the first provider that is both.
 */
#ifndef TA_HW_PROVIDERS_H
#define TA_HW_PROVIDERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hardware.h"

typedef struct ta_hw_provider {
    const char *id;        /* "cuda" */
    const char *ort_name;  /* "CUDAExecutionProvider"; NULL when not an ORT provider */
    const char *vendor;    /* "NVIDIA" */
    const char *devices;   /* "gpu", "cpu", "npu", "gpu,npu", "cloud" */
    const char *platforms; /* "linux,windows" ... */
} ta_hw_provider;

size_t ta_hw_provider_count(void);
const ta_hw_provider *ta_hw_provider_at(size_t i);
const ta_hw_provider *ta_hw_provider_find(const char *id);

/* Can this machine use it? Fills why (when not) with a sentence. */
bool ta_hw_provider_usable(const ta_hw_provider *p, const ta_hw_info *hw, char *why, size_t cap);
/* Is it compiled into this build? */
bool ta_hw_provider_built(const ta_hw_provider *p);

/* The backend the engine should use: the first provider in the preference order
 * (ta_hw_backend_preference) that is usable and built. Today that is always "cpu". */
const char *ta_hw_choose_backend(const ta_hw_info *hw);
/* The preference order, NULL-terminated. */
const char *const *ta_hw_backend_preference(void);

/* The catalog with usable/built/why for hw (new reference): an array of objects. */
json_t *ta_hw_providers_json(const ta_hw_info *hw);

#endif
