/*
 * model.c — loading a model: open the GGUF file, pick the architecture by
 * general.architecture, let it read hyperparameters and bind weights.
 * Weights stay in the read-only mapping (zero copy).
 */
#include "core/core-impl.h"
#include "models/models-impl.h"
#include "tessera/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ts_arch *const archs[] = {&ts_arch_llama, &ts_arch_qwen2, &ts_arch_qwen3};
#define N_ARCHS (sizeof archs / sizeof archs[0])

const char *ts_model_archs(void) { return "llama, qwen2, qwen3"; }

ts_model_params ts_model_default_params(void) {
    return (ts_model_params){.struct_size = sizeof(ts_model_params)};
}

/* ============================================================== helpers */

static void shape_str(char *buf, size_t cap, int n_dims, const int64_t *ne) {
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n_dims && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

ts_status ts_model_bind(ts_model *m, ts_tensor *t, const char *name, int n_dims,
                        const int64_t *ne, bool f32_only, bool optional) {
    memset(t, 0, sizeof *t);
    int64_t i = ts_gguf_find_tensor(m->gguf, name);
    if (i < 0) {
        if (optional) return TS_OK;
        return ts_error(TS_ERR_NOT_FOUND, "tensor '%s' is missing from the model file", name);
    }
    const ts_gguf_tensor_info *ti = ts_gguf_tensor(m->gguf, i);
    bool same = (int)ti->n_dims == n_dims;
    for (int d = 0; d < TS_MAX_DIMS && same; d++) same = ti->ne[d] == (d < n_dims ? ne[d] : 1);
    if (!same) {
        char got[96], want[96];
        shape_str(got, sizeof got, (int)ti->n_dims, ti->ne);
        shape_str(want, sizeof want, n_dims, ne);
        return ts_error(TS_ERR_FORMAT, "tensor '%s' has shape %s, expected %s", name, got, want);
    }
    if (f32_only && ti->type != TS_TYPE_F32)
        return ts_error(TS_ERR_FORMAT, "tensor '%s' has type %s, expected F32", name,
                        ts_type_name(ti->type));
    ts_status st = ts_type_check_kernels(ti->type, name);
    if (st != TS_OK) return st;
    st = ts_tensor_init(t, ti->type, n_dims, ne, (void *)ti->data);
    if (st != TS_OK) return st;
    snprintf(t->name, sizeof t->name, "%s", name);
    m->n_params += (uint64_t)ts_tensor_nelements(t);
    m->weight_bytes += ti->nbytes;
    return TS_OK;
}

static ts_status get_key(const ts_model *m, const char *suffix, bool f32, const void *def,
                         void *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", m->arch->name, suffix);
    ts_status st = f32 ? ts_gguf_get_f32(m->gguf, key, out) : ts_gguf_get_u32(m->gguf, key, out);
    if (st == TS_ERR_NOT_FOUND && def) {
        memcpy(out, def, 4);
        return TS_OK;
    }
    if (st == TS_ERR_NOT_FOUND)
        return ts_error(TS_ERR_NOT_FOUND, "metadata key '%s' is missing from the model file", key);
    return st;
}

ts_status ts_model_get_u32(const ts_model *m, const char *suffix, const uint32_t *def,
                           uint32_t *out) {
    return get_key(m, suffix, false, def, out);
}

ts_status ts_model_get_f32(const ts_model *m, const char *suffix, const float *def, float *out) {
    return get_key(m, suffix, true, def, out);
}

/* ================================================================= load */

static ts_status find_arch(const ts_gguf *g, const ts_arch **out) {
    ts_str name;
    ts_status st = ts_gguf_get_str(g, "general.architecture", &name);
    if (st == TS_ERR_NOT_FOUND)
        return ts_error(TS_ERR_FORMAT,
                        "the file has no general.architecture key: not a model file");
    if (st != TS_OK) return st;
    for (size_t i = 0; i < N_ARCHS; i++) {
        if (strlen(archs[i]->name) == name.len && !memcmp(archs[i]->name, name.ptr, name.len)) {
            *out = archs[i];
            return TS_OK;
        }
    }
    return ts_error(TS_ERR_UNSUPPORTED, "architecture '%.*s' is not supported (supported: %s)",
                    (int)(name.len > 64 ? 64 : name.len), name.ptr, ts_model_archs());
}

ts_status ts_model_load(const char *path, const ts_model_params *p, ts_model **out) {
    *out = NULL;
    if (p && p->struct_size != sizeof(ts_model_params))
        return ts_error(TS_ERR_INVALID_ARG, "ts_model_params.struct_size is %u, expected %zu",
                        p->struct_size, sizeof(ts_model_params));
    ts_model *m = calloc(1, sizeof *m);
    if (!m) return ts_error(TS_ERR_NOMEM, "no memory for a model");
    ts_status st = ts_gguf_open(path, &m->gguf);
    if (st == TS_OK) st = find_arch(m->gguf, &m->arch);
    if (st == TS_OK) st = m->arch->load(m);
    if (st != TS_OK) {
        ts_model_free(m);
        return st;
    }
    *out = m;
    return TS_OK;
}

void ts_model_free(ts_model *m) {
    if (!m) return;
    free(m->layers);
    ts_gguf_close(m->gguf);
    free(m);
}

const ts_gguf *ts_model_gguf(const ts_model *m) { return m->gguf; }
const char *ts_model_arch(const ts_model *m) { return m->arch->name; }
int32_t ts_model_n_vocab(const ts_model *m) { return m->hp.n_vocab; }
int32_t ts_model_n_ctx_train(const ts_model *m) { return m->hp.n_ctx_train; }
int32_t ts_model_n_layer(const ts_model *m) { return m->hp.n_layer; }
int32_t ts_model_n_embd(const ts_model *m) { return m->hp.n_embd; }
uint64_t ts_model_n_params(const ts_model *m) { return m->n_params; }
uint64_t ts_model_weight_bytes(const ts_model *m) { return m->weight_bytes; }
