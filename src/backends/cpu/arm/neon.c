/*
 * neon.c — the NEON path (ARMv8-A Advanced SIMD, every ARM64 CPU):
 * kernels.inc.c built for it, integer block dots by widening multiplies.
 */
#define ARM_DOTPROD 0
#include "backends/cpu/arm/hwcap.h"
#include "backends/cpu/arm/kernels.inc.c"

static const char *neon_missing(void) { return ts_arm_missing(TS_ARM_ASIMD); }

const cpu_path ts_cpu_path_neon = ARM_PATH("neon", neon_missing);
