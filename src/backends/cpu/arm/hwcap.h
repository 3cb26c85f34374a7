/*
 * hwcap.h — ARM64 feature detection for the CPU paths (internal).
 */
#ifndef TS_ARM_HWCAP_H
#define TS_ARM_HWCAP_H

enum {
    TS_ARM_ASIMD = 1u << 0,   /* Advanced SIMD (NEON) */
    TS_ARM_DOTPROD = 1u << 1, /* SDOT/UDOT (ARMv8.2 FEAT_DotProd, "asimddp") */
};

/* TS_ARM_* bits of what the CPU has, as the kernel reports it. */
unsigned ts_arm_features(void);

/* The name of the first feature of `need` that is missing, NULL if none. */
const char *ts_arm_missing(unsigned need);

#endif /* TS_ARM_HWCAP_H */
