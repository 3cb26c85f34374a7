/*
 * avx2.c — the AVX2 path (AVX2, FMA, F16C): gemm.inc.c built for it.
 */
#define X86_AVX512 0
#include "backends/cpu/x86/gemm.inc.c"

static const char *avx2_missing(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2")) return "AVX2";
    if (!__builtin_cpu_supports("fma")) return "FMA";
    if (!__builtin_cpu_supports("f16c")) return "F16C";
    return NULL;
}

const cpu_path ts_cpu_path_avx2 = {
    .name = "avx2",
    .missing = avx2_missing,
    .gemm = X86_GEMM_TABLE,
};
