/*
 * gemm.inc.c — x86 matrix kernels, included by avx2.c and avx512.c.
 */
#include "backends/cpu/cpu-impl.h"

#define X86_GEMM_TABLE {0}
