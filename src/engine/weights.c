/*
 * weights.c - see weights.h.
 */
#include "weights.h"

#include <stdio.h>

#include "quant.h"

int ta_weight_check(const ta_gguf *g, const char *name, uint64_t ne0, uint64_t ne1, bool required,
                    const ta_gguf_tensor **out, ta_error *err)
{
    const ta_gguf_tensor *t = ta_gguf_tensor_find(g, name);
    *out = t;
    if (!t) {
        if (required) return ta_error_set(err, TA_EINVAL, "missing tensor %s", name);
        return TA_OK;
    }
    bool vec = ne1 == 0;
    bool any_rows = ne1 == UINT64_MAX;
    bool ok;
    if (vec)
        ok = t->ne[0] == ne0 && t->n_elems == ne0;
    else
        ok = t->ne[0] == ne0 && t->ne[1] >= 1 && t->n_elems == ne0 * t->ne[1] &&
             (any_rows || t->ne[1] == ne1);
    if (!ok) {
        char want_s[64], got_s[96];
        if (vec)
            snprintf(want_s, sizeof want_s, "[%llu]", (unsigned long long)ne0);
        else if (any_rows)
            snprintf(want_s, sizeof want_s, "[%llu, *]", (unsigned long long)ne0);
        else
            snprintf(want_s, sizeof want_s, "[%llu, %llu]", (unsigned long long)ne0,
                     (unsigned long long)ne1);
        int len = snprintf(got_s, sizeof got_s, "[%llu", (unsigned long long)t->ne[0]);
        for (uint32_t d = 1; d < t->n_dims && d < TA_GGUF_MAX_DIMS; d++)
            len += snprintf(got_s + len, sizeof got_s - (size_t)len, ", %llu",
                            (unsigned long long)t->ne[d]);
        snprintf(got_s + len, sizeof got_s - (size_t)len, "]");
        return ta_error_set(err, TA_EINVAL, "%s: expected shape %s, got %s", name, want_s, got_s);
    }
    const ta_type_traits *tt = ta_type_get(t->type);
    if (!tt->supported || !ta_quant_ops_get(t->type))
        return ta_error_set(err, TA_EINVAL, "%s: tensor type %s (%u) is not supported", name,
                            tt->name ? tt->name : "unknown", t->type);
    if (vec && t->type != TA_TYPE_F32 && t->type != TA_TYPE_F16 && t->type != TA_TYPE_BF16)
        return ta_error_set(err, TA_EINVAL, "%s: a %s vector; expected F32, F16 or BF16", name,
                            tt->name);
    return TA_OK;
}
