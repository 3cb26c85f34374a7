/*
 * avx512.c — the AVX-512 path (F, BW, VL, DQ with VNNI, on top of AVX2,
 * FMA, F16C): kernels.inc.c built for it, integer dot products with vpdpbusd.
 */
#define X86_AVX512 1
#include "backends/cpu/x86/cpuid.h"
#include "backends/cpu/x86/kernels.inc.c"

static const char *avx512_missing(void) {
    return ts_x86_missing(TS_X86_AVX2 | TS_X86_FMA | TS_X86_F16C | TS_X86_AVX512F | TS_X86_AVX512BW |
                          TS_X86_AVX512VL | TS_X86_AVX512DQ | TS_X86_AVX512VNNI);
}

const cpu_path ts_cpu_path_avx512 = X86_PATH("avx512", avx512_missing);
