/*
 * avx2.c — the AVX2 path (AVX2, FMA, F16C): kernels.inc.c built for it.
 */
#define X86_AVX512 0
#include "backends/cpu/x86/cpuid.h"
#include "backends/cpu/x86/kernels.inc.c"

static const char *avx2_missing(void) {
    return ts_x86_missing(TS_X86_AVX2 | TS_X86_FMA | TS_X86_F16C);
}

const cpu_path ts_cpu_path_avx2 = X86_PATH("avx2", avx2_missing);
