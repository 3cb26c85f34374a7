/*
 * gguf-impl.h — internals of the GGUF module: one parsed file, and the
 * model-level handle that joins the parts of a split model.
 */
#ifndef TS_GGUF_IMPL_H
#define TS_GGUF_IMPL_H

#include "core/core-impl.h"
#include "tessera/gguf.h"

#define TS_GGUF_MAGIC "GGUF"
#define TS_GGUF_VERSION 3
#define TS_GGUF_MAX_KEY 65535 /* keys are length-prefixed, 16-bit per spec */

#define TS_KEY_ALIGNMENT "general.alignment"
#define TS_KEY_ARCHITECTURE "general.architecture"
#define TS_KEY_SPLIT_NO "split.no"
#define TS_KEY_SPLIT_COUNT "split.count"
#define TS_KEY_SPLIT_TENSORS "split.tensors.count"
#define TS_SPLIT_PREFIX "split."
/* "%s-%05d-of-%05d.gguf", as llama.cpp's gguf-split names parts. */
#define TS_SPLIT_SUFFIX_LEN (sizeof "-00001-of-00002.gguf" - 1)

typedef struct gguf_kv {
    char *key; /* owned, NUL-terminated */
    ts_gguf_value val;
} gguf_kv;

/* One validated GGUF file (or memory image). */
typedef struct gguf_file {
    char *path;          /* owned; "" for a memory image */
    const uint8_t *base; /* mapping or borrowed memory */
    uint64_t size;
    bool mapped;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    gguf_kv *kv; /* (n_kv) */
    int64_t n_kv;
    ts_gguf_tensor_info *tensors; /* (n_tensors); names owned */
    int64_t n_tensors;
    /* split.* values, or split_count == 0 when the file has none */
    uint32_t split_no, split_count;
    int64_t split_tensors;
} gguf_file;

/* Parse and validate base[0, size). On success *f is filled (the caller
 * frees with gguf_file_free); on failure *f is freed and a message set. */
ts_status gguf_file_parse(gguf_file *f, const uint8_t *base, uint64_t size, const char *path);
/* Map `path` and parse it. */
ts_status gguf_file_open(gguf_file *f, const char *path);
void gguf_file_free(gguf_file *f);
/* Index of `key` in f's metadata, or -1 (linear; files have few keys). */
int64_t gguf_file_find_kv(const gguf_file *f, const char *key);

/* "uint32", or "array of string" for an array; may use buf (n bytes). */
const char *gguf_type_desc(ts_gguf_type type, ts_gguf_type elem, char *buf, size_t n);

struct ts_gguf {
    gguf_file *files; /* (n_files) */
    uint32_t n_files;
    const gguf_kv **kv; /* (n_kv) model metadata: files[0]'s minus split.* */
    int64_t n_kv;
    ts_gguf_tensor_info *tensors; /* (n_tensors) all parts, names borrowed */
    int64_t n_tensors;
    ts_strmap kv_index;
    ts_strmap tensor_index;
};

/* Build the joined view of g->files (already opened and validated against
 * each other). */
ts_status gguf_join(ts_gguf *g);

#endif /* TS_GGUF_IMPL_H */
