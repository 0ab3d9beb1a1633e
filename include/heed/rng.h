/*
 * heed/rng.h - a small deterministic pseudo-random generator.
 *
 * xoshiro256** seeded through splitmix64, so any 64-bit seed (even 0) gives
 * a well-mixed state, and the same seed gives the same stream on every
 * platform. Used wherever heed must be reproducible: weight initialization,
 * dataset splits and per-epoch shuffles. Not for cryptography.
 *
 * A heed_rng is a plain value: no allocation, copy it to fork a stream.
 * Not thread-safe: give each thread (or actor) its own.
 */
#ifndef HEED_RNG_H
#define HEED_RNG_H

#include <stdint.h>

#include "heed/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct heed_rng {
  uint64_t s[4];
} heed_rng;

/* Seeds rng from seed via splitmix64. */
HEED_API void heed_rng_seed(heed_rng *rng, uint64_t seed);

/* Next 64 uniformly distributed bits. */
HEED_API uint64_t heed_rng_next(heed_rng *rng);

/* Uniform double in [0, 1), 53 bits of precision. */
HEED_API double heed_rng_uniform(heed_rng *rng);

/* Standard normal (mean 0, variance 1), Box-Muller. */
HEED_API double heed_rng_normal(heed_rng *rng);

/* Uniform integer in [0, n) without modulo bias; returns 0 when n is 0. */
HEED_API uint64_t heed_rng_below(heed_rng *rng, uint64_t n);

#ifdef __cplusplus
}
#endif
#endif /* HEED_RNG_H */
