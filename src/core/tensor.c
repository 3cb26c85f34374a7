/*
 * tensor.c — the tensor descriptor: contiguous layout and sizes.
 */
#include "core/core-impl.h"

#include <string.h>

ts_status ts_tensor_init(ts_tensor *t, ts_type type, int n_dims, const int64_t *ne,
                         void *data) {
    memset(t, 0, sizeof *t);
    if (!ts_type_valid(type))
        return ts_error(TS_ERR_INVALID_ARG, "tensor type id %d is not a known type", (int)type);
    if (n_dims < 1 || n_dims > TS_MAX_DIMS)
        return ts_error(TS_ERR_INVALID_ARG, "tensor has %d dimensions (1..%d allowed)", n_dims,
                        TS_MAX_DIMS);
    t->type = type;
    t->n_dims = n_dims;
    t->data = data;
    for (int i = 0; i < TS_MAX_DIMS; i++) {
        t->ne[i] = i < n_dims ? ne[i] : 1;
        if (t->ne[i] < 0)
            return ts_error(TS_ERR_INVALID_ARG, "tensor dimension %d is negative", i);
    }
    size_t row;
    if (!ts_type_row_size(type, t->ne[0], &row))
        return ts_error(TS_ERR_INVALID_ARG,
                        "tensor row of %lld elements is not a multiple of the %s block (%lld)",
                        (long long)t->ne[0], ts_type_name(type),
                        (long long)ts_type_get(type)->block_size);
    t->nb[0] = ts_type_get(type)->type_size;
    t->nb[1] = row;
    uint64_t stride = row;
    for (int i = 2; i < TS_MAX_DIMS; i++) {
        if (!ts_mul_u64(stride, (uint64_t)t->ne[i - 1], &stride) || stride > SIZE_MAX)
            return ts_error(TS_ERR_INVALID_ARG, "tensor size overflows");
        t->nb[i] = (size_t)stride;
    }
    uint64_t total;
    if (!ts_mul_u64(stride, (uint64_t)t->ne[TS_MAX_DIMS - 1], &total) || total > SIZE_MAX)
        return ts_error(TS_ERR_INVALID_ARG, "tensor size overflows");
    return TS_OK;
}

int64_t ts_tensor_nelements(const ts_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

size_t ts_tensor_nbytes(const ts_tensor *t) { return t->nb[TS_MAX_DIMS - 1] * (size_t)t->ne[TS_MAX_DIMS - 1]; }
