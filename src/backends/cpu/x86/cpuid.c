/*
 * cpuid.c — which x86 features this CPU and OS offer, from CPUID and XGETBV
 * (compiler builtins differ in the feature names they know; this does not).
 * A feature counts only when the OS saves its registers: XCR0 must enable
 * the YMM state for AVX-class features and the opmask/ZMM states for
 * AVX-512.
 */
#include "backends/cpu/x86/cpuid.h"

#include <cpuid.h>
#include <stddef.h>
#include <stdint.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

unsigned ts_x86_features(void) {
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const bool osxsave = c >> 27 & 1;
    const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    const bool ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
    if (ymm && (c >> 12 & 1)) f |= TS_X86_FMA;
    if (ymm && (c >> 29 & 1)) f |= TS_X86_F16C;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    if (ymm && (b >> 5 & 1)) f |= TS_X86_AVX2;
    if (zmm && (b >> 16 & 1)) f |= TS_X86_AVX512F;
    if (zmm && (b >> 17 & 1)) f |= TS_X86_AVX512DQ;
    if (zmm && (b >> 30 & 1)) f |= TS_X86_AVX512BW;
    if (zmm && (b >> 31 & 1)) f |= TS_X86_AVX512VL;
    if (zmm && (c >> 11 & 1)) f |= TS_X86_AVX512VNNI;
    return f;
}

const char *ts_x86_missing(unsigned need) {
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {TS_X86_AVX2, "AVX2"},           {TS_X86_FMA, "FMA"},
        {TS_X86_F16C, "F16C"},           {TS_X86_AVX512F, "AVX-512 F"},
        {TS_X86_AVX512BW, "AVX-512 BW"}, {TS_X86_AVX512VL, "AVX-512 VL"},
        {TS_X86_AVX512DQ, "AVX-512 DQ"}, {TS_X86_AVX512VNNI, "AVX-512 VNNI"},
    };
    const unsigned have = ts_x86_features();
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((need & names[i].bit) && !(have & names[i].bit)) return names[i].name;
    return NULL;
}
