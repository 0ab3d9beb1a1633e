/* internal.h - what the recorder and the reader share (internal). */
#ifndef HEED_TRACE_INTERNAL_H
#define HEED_TRACE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define HEED__TRACE_VERSION 1

/* splitmix64's finalizer: the batch sampler's hash. */
uint64_t heed__trace_mix(uint64_t x);
/* One kind name of n bytes to its bit, 0 if unknown. */
uint32_t heed__trace_kind_parse1(const char *s, size_t n);

#endif
