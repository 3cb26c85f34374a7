/*
 * membw.h — main-memory bandwidth as the STREAM benchmark's triad measures
 * it, for `tessera bench`: a[i] = b[i] + s * c[i] over three arrays of
 * doubles much larger than the last-level cache, split into one contiguous
 * part per thread.
 *
 * Each thread writes its own part first (so that on a NUMA machine its
 * pages are local to it), then every thread runs the triad on its part, all
 * started and stopped together; a pass counts 3 arrays' bytes (two read,
 * one written: STREAM's convention, write-allocate traffic not counted).
 * The first pass is a warm-up; the fastest of the timed passes counts.
 */
#ifndef TS_MEMBW_H
#define TS_MEMBW_H

#include <stdbool.h>
#include <stddef.h>

#define MEMBW_DEFAULT_MIB 256 /* per array: 8 x a 32 MiB last-level cache */
#define MEMBW_ENV         "TESSERA_BENCH_STREAM_MIB"

/* Bytes per array: MEMBW_DEFAULT_MIB MiB, or the integer number of MiB
 * (1..65536) in the environment variable MEMBW_ENV. False (and *bytes
 * untouched) when that variable is set to anything else. */
bool membw_array_bytes(size_t *bytes);

/* Run the triad with n_threads threads (>= 1) over three arrays of
 * array_bytes bytes each, 1 warm-up pass then `passes` (>= 1) timed ones.
 * *bytes_per_s: 3 * array_bytes / the fastest pass's seconds. False, with
 * errno set, when the arrays cannot be mapped or a thread cannot start; the
 * arrays are unmapped before it returns either way. */
bool membw_triad(int n_threads, size_t array_bytes, int passes, double *bytes_per_s);

#endif /* TS_MEMBW_H */
