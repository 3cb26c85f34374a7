/*
 * avx2.c — the AVX2 path (AVX2, FMA, F16C): kernels.inc.c built for it.
 */
#define X86_AVX512 0
#include "backends/cpu/x86/kernels.inc.c"

static const char *avx2_missing(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2")) return "AVX2";
    if (!__builtin_cpu_supports("fma")) return "FMA";
    if (!__builtin_cpu_supports("f16c")) return "F16C";
    return NULL;
}

const cpu_path ts_cpu_path_avx2 = X86_PATH("avx2", avx2_missing);
