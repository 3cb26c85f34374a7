/*
 * dispatch.c — which instruction-set path the CPU kernels run, chosen once
 * per process: the best the CPU has (x86: CPUID, with the OS's
 * register-state support, x86/cpuid.c; ARM64: the kernel's AT_HWCAP bits,
 * arm/hwcap.c), or the one TESSERA_CPU names. An unknown name, or a path this CPU lacks,
 * selects nothing: the backend then refuses to start with the reason (never a silent fallback,
 * never an illegal instruction later).
 *
 * AMX is never used: some VMs advertise it and fault on tile instructions.
 */
#include "backends/cpu/cpu-impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reference: no gemm kernel (each element is ts_vec_dot), the plain C
 * vector primitives. */
const cpu_path ts_cpu_path_scalar = {
    .name = "scalar",
    .dot_f16 = ts_cpu_dot_f16,
    .dot_f32 = ts_cpu_dot_f32,
    .mad_f16 = ts_cpu_mad_f16,
    .mad_f32 = ts_cpu_mad_f32,
    .softmax = ts_cpu_softmax,
    .silu_mul = ts_cpu_silu_mul,
};

static const cpu_path *selected;
static char why_not[160];
static pthread_once_t select_once = PTHREAD_ONCE_INIT;

/* The paths, best first. */
static const cpu_path *const paths[] = {
#if defined(__x86_64__) && defined(TS_CPU_X86)
    &ts_cpu_path_avx512,
    &ts_cpu_path_avx2,
#endif
#if defined(__aarch64__) && defined(TS_CPU_ARM)
    &ts_cpu_path_dotprod,
    &ts_cpu_path_neon,
#endif
    &ts_cpu_path_scalar,
};
#define N_PATHS (sizeof paths / sizeof paths[0])

static void select_path(void) {
    const char *want = getenv("TESSERA_CPU");
    if (want && !*want) want = NULL;
    for (size_t i = 0; i < N_PATHS; i++) {
        const cpu_path *p = paths[i];
        if (want && strcmp(want, p->name) != 0) continue;
        const char *missing = p->missing ? p->missing() : NULL;
        if (!missing) {
            selected = p;
            return;
        }
        if (want) {
            snprintf(why_not, sizeof why_not, "TESSERA_CPU=%s: this CPU lacks %s", want, missing);
            return;
        }
    }
    if (want) {
        int used =
            snprintf(why_not, sizeof why_not, "TESSERA_CPU=%s is not a CPU path (known:", want);
        for (size_t i = 0; i < N_PATHS && used > 0 && (size_t)used < sizeof why_not; i++)
            used += snprintf(why_not + used, sizeof why_not - (size_t)used, " %s", paths[i]->name);
        if (used > 0 && (size_t)used < sizeof why_not)
            snprintf(why_not + used, sizeof why_not - (size_t)used, ")");
    }
}

const cpu_path *ts_cpu_path_get(void) {
    pthread_once(&select_once, select_path);
    return selected;
}

ts_status ts_cpu_path_check(void) {
    if (ts_cpu_path_get()) return TS_OK;
    return ts_error(TS_ERR_UNSUPPORTED, "cpu backend: %s", why_not);
}

const char *ts_backend_cpu_path(void) {
    const cpu_path *p = ts_cpu_path_get();
    return p ? p->name : NULL;
}
