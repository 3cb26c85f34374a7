/*
 * avx512.c — the AVX-512 path (F, BW, VL, DQ with VNNI, on top of AVX2,
 * FMA, F16C): kernels.inc.c built for it, integer dot products with vpdpbusd.
 */
#define X86_AVX512 1
#include "backends/cpu/x86/kernels.inc.c"

static const char *avx512_missing(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2")) return "AVX2";
    if (!__builtin_cpu_supports("fma")) return "FMA";
    if (!__builtin_cpu_supports("f16c")) return "F16C";
    if (!__builtin_cpu_supports("avx512f")) return "AVX-512 F";
    if (!__builtin_cpu_supports("avx512bw")) return "AVX-512 BW";
    if (!__builtin_cpu_supports("avx512vl")) return "AVX-512 VL";
    if (!__builtin_cpu_supports("avx512dq")) return "AVX-512 DQ";
    if (!__builtin_cpu_supports("avx512vnni")) return "AVX-512 VNNI";
    return NULL;
}

const cpu_path ts_cpu_path_avx512 = X86_PATH("avx512", avx512_missing);
