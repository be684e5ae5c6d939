/*
 * gguf.h - GGUF files (versions 2 and 3): a validating reader over a read-only memory
 * mapping, and a writer.
 *
 * The reader checks everything before returning: header, every metadata key and value
 * (types, lengths, nesting, counts against the bytes that remain), every tensor info
 * (name, dimensions, type, offset alignment, extent inside the file, no overlaps).
 * After ta_gguf_open succeeds, every accessor is a plain lookup that cannot read out
 * of bounds. A bad file gives TA_EINVAL with a message that names the problem and the
 * byte offset where it was found.
 *
 * Strings in the file are not NUL-terminated and may contain NUL bytes; the reader
 * exposes them as (pointer, length) pairs into the mapping, plus NUL-terminated copies
 * of keys and tensor names (which must not contain NUL).
 */
#ifndef TA_GGUF_H
#define TA_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "ggml_types.h"

#define TA_GGUF_MAX_DIMS          4
#define TA_GGUF_DEFAULT_ALIGNMENT 32

typedef enum {
    TA_GGUF_U8 = 0,
    TA_GGUF_I8 = 1,
    TA_GGUF_U16 = 2,
    TA_GGUF_I16 = 3,
    TA_GGUF_U32 = 4,
    TA_GGUF_I32 = 5,
    TA_GGUF_F32 = 6,
    TA_GGUF_BOOL = 7,
    TA_GGUF_STRING = 8,
    TA_GGUF_ARRAY = 9,
    TA_GGUF_U64 = 10,
    TA_GGUF_I64 = 11,
    TA_GGUF_F64 = 12,
} ta_gguf_vtype;

typedef struct ta_gguf_str {
    const char *ptr; /* into the mapping; not NUL-terminated */
    uint64_t len;
} ta_gguf_str;

typedef struct ta_gguf_tensor {
    const char *name; /* NUL-terminated copy */
    uint32_t type;    /* ta_type */
    uint32_t n_dims;
    uint64_t ne[TA_GGUF_MAX_DIMS]; /* ne[0] is the fastest-moving (row length); unused = 1 */
    uint64_t n_elems;
    uint64_t offset;  /* from the start of the data section */
    size_t size;      /* bytes */
    const void *data; /* into the mapping */
} ta_gguf_tensor;

typedef struct ta_gguf ta_gguf;

/* Maps and validates a file. */
ta_gguf *ta_gguf_open(const char *path, ta_error *err);
/* Validates a caller-owned buffer (borrowed; must outlive the handle). */
ta_gguf *ta_gguf_open_memory(const void *buf, size_t len, ta_error *err);
void ta_gguf_close(ta_gguf *g);

/* Asks the OS to read the whole mapping ahead (weights about to be used). */
void ta_gguf_prefetch(ta_gguf *g);
/* Locks the mapping in RAM so it is never paged out; TA_EIO with the reason (often
 * RLIMIT_MEMLOCK) when the OS refuses. Files opened from memory need no lock. */
int ta_gguf_lock(ta_gguf *g, ta_error *err);

uint32_t ta_gguf_version(const ta_gguf *g);
size_t ta_gguf_alignment(const ta_gguf *g);
size_t ta_gguf_file_size(const ta_gguf *g);

/* ---- metadata ---- */

size_t ta_gguf_kv_count(const ta_gguf *g);
const char *ta_gguf_kv_key(const ta_gguf *g, size_t i); /* NUL-terminated */
ta_gguf_vtype ta_gguf_kv_type(const ta_gguf *g, size_t i);
/* Index of key, or -1. */
int64_t ta_gguf_find(const ta_gguf *g, const char *key);

/* Typed getters: true when key exists and converts exactly (any integer type in range
 * for the integer getters; F32 or F64 for the float getter). */
bool ta_gguf_get_u32(const ta_gguf *g, const char *key, uint32_t *out);
bool ta_gguf_get_i64(const ta_gguf *g, const char *key, int64_t *out);
bool ta_gguf_get_u64(const ta_gguf *g, const char *key, uint64_t *out);
bool ta_gguf_get_f32(const ta_gguf *g, const char *key, float *out);
bool ta_gguf_get_bool(const ta_gguf *g, const char *key, bool *out);
bool ta_gguf_get_str(const ta_gguf *g, const char *key, ta_gguf_str *out);

/* Arrays: element type and count (nested arrays report TA_GGUF_ARRAY and cannot be
 * read element-wise here). */
bool ta_gguf_get_array(const ta_gguf *g, const char *key, ta_gguf_vtype *elem_type,
                       uint64_t *count);
/* Element i of a string array (i < count checked). */
bool ta_gguf_array_str(const ta_gguf *g, const char *key, uint64_t i, ta_gguf_str *out);
/* Element i of a numeric array, converted: integer types to int64, F32/F64 to double. */
bool ta_gguf_array_i64(const ta_gguf *g, const char *key, uint64_t i, int64_t *out);
bool ta_gguf_array_f64(const ta_gguf *g, const char *key, uint64_t i, double *out);

/* ---- tensors ---- */

size_t ta_gguf_tensor_count(const ta_gguf *g);
const ta_gguf_tensor *ta_gguf_tensor_at(const ta_gguf *g, size_t i);
const ta_gguf_tensor *ta_gguf_tensor_find(const ta_gguf *g, const char *name);

/* ---- writer ---- */

typedef struct ta_gguf_writer ta_gguf_writer;

ta_gguf_writer *ta_gguf_writer_new(void); /* version 3, alignment 32 */
void ta_gguf_writer_free(ta_gguf_writer *w);

/* Setting a key twice replaces the earlier value. Keys keep insertion order. */
int ta_gguf_writer_set_u32(ta_gguf_writer *w, const char *key, uint32_t v);
int ta_gguf_writer_set_i32(ta_gguf_writer *w, const char *key, int32_t v);
int ta_gguf_writer_set_u64(ta_gguf_writer *w, const char *key, uint64_t v);
int ta_gguf_writer_set_f32(ta_gguf_writer *w, const char *key, float v);
int ta_gguf_writer_set_bool(ta_gguf_writer *w, const char *key, bool v);
int ta_gguf_writer_set_str(ta_gguf_writer *w, const char *key, const char *s, size_t len);
/* A numeric array: count elements of elem_type, packed little-endian (copied). */
int ta_gguf_writer_set_array(ta_gguf_writer *w, const char *key, ta_gguf_vtype elem_type,
                             const void *data, uint64_t count);
/* A string array (copied). lens may be NULL for NUL-terminated strings. */
int ta_gguf_writer_set_str_array(ta_gguf_writer *w, const char *key, const char *const *strs,
                                 const size_t *lens, uint64_t count);
/* Copies every metadata key of g whose name starts with prefix ("" for all). */
int ta_gguf_writer_copy_kv(ta_gguf_writer *w, const ta_gguf *g, const char *prefix);

/* A tensor: data is copied (size must equal the type's size for ne). */
int ta_gguf_writer_add_tensor(ta_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                              const uint64_t *ne, const void *data, size_t size);

/* Writes the file atomically (temp file + rename). */
int ta_gguf_writer_write(ta_gguf_writer *w, const char *path, ta_error *err);

#endif
