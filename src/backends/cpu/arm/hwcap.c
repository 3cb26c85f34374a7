/*
 * hwcap.c — which ARM64 features this CPU offers, from the kernel's
 * hardware capability bits (getauxval(AT_HWCAP)): user space cannot read
 * the ID registers portably, and the kernel sets a bit only when it also
 * lets user space use the instructions.
 */
#include "backends/cpu/arm/hwcap.h"

#include <stddef.h>
#include <sys/auxv.h>

unsigned ts_arm_features(void) {
    const unsigned long hw = getauxval(AT_HWCAP);
    unsigned f = 0;
    if (hw & HWCAP_ASIMD) f |= TS_ARM_ASIMD;
    if (hw & HWCAP_ASIMDDP) f |= TS_ARM_DOTPROD;
    return f;
}

const char *ts_arm_missing(unsigned need) {
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {TS_ARM_ASIMD, "Advanced SIMD (asimd)"},
        {TS_ARM_DOTPROD, "the dot product instructions (asimddp)"},
    };
    const unsigned have = ts_arm_features();
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((need & names[i].bit) && !(have & names[i].bit)) return names[i].name;
    return NULL;
}
