/*
 * cpuid.h — x86 feature detection for the CPU paths (internal).
 */
#ifndef TS_X86_CPUID_H
#define TS_X86_CPUID_H

#include <stdbool.h>

enum {
    TS_X86_AVX2 = 1u << 0,
    TS_X86_FMA = 1u << 1,
    TS_X86_F16C = 1u << 2,
    TS_X86_AVX512F = 1u << 3,
    TS_X86_AVX512BW = 1u << 4,
    TS_X86_AVX512VL = 1u << 5,
    TS_X86_AVX512DQ = 1u << 6,
    TS_X86_AVX512VNNI = 1u << 7,
};

/* TS_X86_* bits of what the CPU has and the OS enables. */
unsigned ts_x86_features(void);

/* The name of the first feature of `need` that is missing, NULL if none. */
const char *ts_x86_missing(unsigned need);

#endif /* TS_X86_CPUID_H */
