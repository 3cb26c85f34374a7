/*
 * tessera/gguf.h — reading and writing GGUF model files.
 *
 * Reader: memory-maps a GGUF v2/v3 little-endian file and validates all of it
 * before returning: every count, length, type id, dimension, offset and size
 * is checked with overflow-safe arithmetic against the file, so that a
 * returned handle can be used without further checks (every tensor's data
 * lies inside the mapping, tensors do not overlap, keys and tensor names are
 * unique). A bad file yields TS_ERR_FORMAT (or TS_ERR_UNSUPPORTED) and a
 * message naming the field and its byte offset; nothing aborts.
 *
 * A model split across files (NAME-00001-of-0000N.gguf, with split.no,
 * split.count and split.tensors.count) opens as one: the metadata is the
 * first part's, the tensors are all parts' in part order. The split.* keys
 * describe the file set, not the model, and are not listed as metadata.
 *
 * Writer: builds a file in memory-light fashion (tensor data is borrowed
 * until the write) and writes GGUF v3 that llama.cpp and the `gguf` Python
 * package read: no arrays of arrays, tensors in insertion order, each
 * aligned to general.alignment. It can also write split files.
 */
#ifndef TESSERA_GGUF_H
#define TESSERA_GGUF_H

#include "tessera/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata value types; values are GGUF's on-disk ids. */
typedef enum ts_gguf_type {
    TS_GGUF_TYPE_UINT8 = 0,
    TS_GGUF_TYPE_INT8 = 1,
    TS_GGUF_TYPE_UINT16 = 2,
    TS_GGUF_TYPE_INT16 = 3,
    TS_GGUF_TYPE_UINT32 = 4,
    TS_GGUF_TYPE_INT32 = 5,
    TS_GGUF_TYPE_FLOAT32 = 6,
    TS_GGUF_TYPE_BOOL = 7,
    TS_GGUF_TYPE_STRING = 8,
    TS_GGUF_TYPE_ARRAY = 9,
    TS_GGUF_TYPE_UINT64 = 10,
    TS_GGUF_TYPE_INT64 = 11,
    TS_GGUF_TYPE_FLOAT64 = 12,
    TS_GGUF_TYPE_COUNT
} ts_gguf_type;

#define TS_GGUF_DEFAULT_ALIGNMENT 32

/* "uint32", "string", ...; "?" for an invalid id. */
const char *ts_gguf_type_name(int64_t type);

/* Bytes of one scalar of `type` on disk; 0 for STRING, ARRAY and invalid. */
size_t ts_gguf_type_size(ts_gguf_type type);

/* A byte string; NOT NUL-terminated (GGUF strings are length-prefixed and may
 * hold any bytes). */
typedef struct ts_str {
    const char *ptr;
    size_t len;
} ts_str;

/* One metadata value. Scalars are held in the union; arrays hold `n`
 * elements of `elem` type: numeric ones as a host-aligned copy in `data`
 * (read it as elem's C type: uint8_t ... double, bool as uint8_t), strings
 * in `strs`. */
typedef struct ts_gguf_value {
    ts_gguf_type type;
    uint64_t offset; /* byte offset of the value in its file */
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        float f32;
        bool b;
        uint64_t u64;
        int64_t i64;
        double f64;
        ts_str str;
        struct {
            ts_gguf_type elem;
            uint64_t n;
            const void *data; /* numeric elements, or NULL */
            const ts_str *strs; /* string elements, or NULL */
        } arr;
    } v;
} ts_gguf_value;

/* One tensor of the file (or of one part of a split model). */
typedef struct ts_gguf_tensor_info {
    const char *name; /* NUL-terminated, < TS_MAX_NAME bytes */
    ts_type type;
    uint32_t n_dims;  /* 0..TS_MAX_DIMS */
    int64_t ne[TS_MAX_DIMS]; /* unused dimensions are 1 */
    uint64_t offset;  /* from the start of its file's data section */
    uint64_t nbytes;
    const void *data; /* inside the read-only mapping */
    uint32_t file;    /* index of the part holding it (0 unless split) */
} ts_gguf_tensor_info;

typedef struct ts_gguf ts_gguf;

/* ---------------------------------------------------------------- reader */

/* Open and validate a GGUF file; when it is one part of a split model, open
 * and validate every part. On success *out is a handle the caller closes
 * with ts_gguf_close. Returns TS_ERR_IO (missing/unreadable file),
 * TS_ERR_FORMAT (malformed), TS_ERR_UNSUPPORTED (v1, big-endian, nested
 * arrays), TS_ERR_NOMEM; the message names the field and byte offset. */
ts_status ts_gguf_open(const char *path, ts_gguf **out);

/* Validate a GGUF image held in memory (one file; split keys are validated
 * but no other part is opened). `data` is borrowed and must outlive the
 * handle. Same failures as ts_gguf_open. */
ts_status ts_gguf_open_memory(const void *data, size_t size, ts_gguf **out);

/* Unmap and free; NULL is a no-op. Every pointer obtained from the handle
 * becomes invalid. */
void ts_gguf_close(ts_gguf *g);

/* Files making up the model: 1, or the split count. */
uint32_t ts_gguf_n_files(const ts_gguf *g);
/* Path of part i ("" for a memory image); borrowed. */
const char *ts_gguf_file_path(const ts_gguf *g, uint32_t i);
uint64_t ts_gguf_file_size(const ts_gguf *g, uint32_t i);
/* Byte offset of part i's data section. */
uint64_t ts_gguf_data_offset(const ts_gguf *g, uint32_t i);
/* First part's GGUF version (2 or 3) and alignment. */
uint32_t ts_gguf_version(const ts_gguf *g);
uint32_t ts_gguf_alignment(const ts_gguf *g);

/* Metadata, in file order (the first part's, split.* keys left out). */
int64_t ts_gguf_n_kv(const ts_gguf *g);
const char *ts_gguf_kv_key(const ts_gguf *g, int64_t i); /* borrowed */
const ts_gguf_value *ts_gguf_kv_value(const ts_gguf *g, int64_t i);
/* Index of key, or -1. */
int64_t ts_gguf_find_kv(const ts_gguf *g, const char *key);

/* Typed lookups for keys a caller relies on. TS_ERR_NOT_FOUND when the key
 * is absent; TS_ERR_FORMAT when it has another type ("key 'x' at offset N
 * has type string, expected uint32"). */
ts_status ts_gguf_get_u32(const ts_gguf *g, const char *key, uint32_t *out);
ts_status ts_gguf_get_f32(const ts_gguf *g, const char *key, float *out);
ts_status ts_gguf_get_bool(const ts_gguf *g, const char *key, bool *out);
ts_status ts_gguf_get_str(const ts_gguf *g, const char *key, ts_str *out);
/* An array whose elements have type `elem`; *out borrowed from g. */
ts_status ts_gguf_get_arr(const ts_gguf *g, const char *key, ts_gguf_type elem,
                          const ts_gguf_value **out);

/* Tensors, in file order (part order for a split model). */
int64_t ts_gguf_n_tensors(const ts_gguf *g);
const ts_gguf_tensor_info *ts_gguf_tensor(const ts_gguf *g, int64_t i);
/* Index of the tensor named `name`, or -1. */
int64_t ts_gguf_find_tensor(const ts_gguf *g, const char *name);

/* ---------------------------------------------------------------- writer */

typedef struct ts_gguf_writer ts_gguf_writer;

/* A new, empty writer; NULL when out of memory. Free with
 * ts_gguf_writer_free. */
ts_gguf_writer *ts_gguf_writer_new(void);
void ts_gguf_writer_free(ts_gguf_writer *w);

/* Set a key (keys are kept in first-set order; setting a key again replaces
 * its value). Strings are copied. TS_ERR_INVALID_ARG for an empty key, a key
 * over 65535 bytes, or a split.* key (the writer owns those). */
ts_status ts_gguf_writer_set_u8(ts_gguf_writer *w, const char *key, uint8_t v);
ts_status ts_gguf_writer_set_i8(ts_gguf_writer *w, const char *key, int8_t v);
ts_status ts_gguf_writer_set_u16(ts_gguf_writer *w, const char *key, uint16_t v);
ts_status ts_gguf_writer_set_i16(ts_gguf_writer *w, const char *key, int16_t v);
ts_status ts_gguf_writer_set_u32(ts_gguf_writer *w, const char *key, uint32_t v);
ts_status ts_gguf_writer_set_i32(ts_gguf_writer *w, const char *key, int32_t v);
ts_status ts_gguf_writer_set_f32(ts_gguf_writer *w, const char *key, float v);
ts_status ts_gguf_writer_set_bool(ts_gguf_writer *w, const char *key, bool v);
ts_status ts_gguf_writer_set_u64(ts_gguf_writer *w, const char *key, uint64_t v);
ts_status ts_gguf_writer_set_i64(ts_gguf_writer *w, const char *key, int64_t v);
ts_status ts_gguf_writer_set_f64(ts_gguf_writer *w, const char *key, double v);
ts_status ts_gguf_writer_set_str(ts_gguf_writer *w, const char *key, const char *v);
ts_status ts_gguf_writer_set_strn(ts_gguf_writer *w, const char *key, ts_str v);
/* Array of n numeric elements of type elem (read as elem's C type, bool as
 * uint8_t); copied. STRING and ARRAY elements are refused. */
ts_status ts_gguf_writer_set_arr(ts_gguf_writer *w, const char *key,
                                 ts_gguf_type elem, const void *data, uint64_t n);
/* Array of n strings; copied. */
ts_status ts_gguf_writer_set_arr_str(ts_gguf_writer *w, const char *key,
                                     const ts_str *strs, uint64_t n);
/* general.alignment: a power of two (default 32). */
ts_status ts_gguf_writer_set_alignment(ts_gguf_writer *w, uint32_t alignment);

/* Add a tensor with n_dims (1..TS_MAX_DIMS) dimensions ne (ne[0]
 * innermost). `data` holds its bytes (row size times rows) and is borrowed:
 * it must stay valid until the last write. TS_ERR_INVALID_ARG for a
 * duplicate or too long name, a bad type or shape. */
ts_status ts_gguf_writer_add_tensor(ts_gguf_writer *w, const char *name,
                                    ts_type type, int n_dims,
                                    const int64_t *ne, const void *data);

/* Write one GGUF v3 file. The file appears complete or not at all (written
 * to PATH.tmp, then renamed). TS_ERR_IO with the path and errno message. */
ts_status ts_gguf_writer_write(const ts_gguf_writer *w, const char *path);

/* Write a split model: PREFIX-00001-of-0000N.gguf ... with at most
 * max_tensors tensors per part (>= 1), as llama.cpp's gguf-split does: every
 * part carries split.no, split.count and split.tensors.count; the first also
 * carries all metadata. *n_parts receives N (may be NULL). */
ts_status ts_gguf_writer_write_split(const ts_gguf_writer *w, const char *prefix,
                                     int64_t max_tensors, uint32_t *n_parts);

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_GGUF_H */
