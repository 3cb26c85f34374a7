/*
 * dotprod.c — the NEON path with the dot product instructions (ARMv8.2
 * FEAT_DotProd: Neoverse, Kunpeng 920, Apple M1 and later, Cortex-A55/A76
 * and later): kernels.inc.c built for it, integer block dots with sdot.
 */
#define ARM_DOTPROD 1
#include "backends/cpu/arm/hwcap.h"
#include "backends/cpu/arm/kernels.inc.c"

static const char *dotprod_missing(void) { return ts_arm_missing(TS_ARM_ASIMD | TS_ARM_DOTPROD); }

const cpu_path ts_cpu_path_dotprod = ARM_PATH("dotprod", dotprod_missing);
