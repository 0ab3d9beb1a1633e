/* rng.c - xoshiro256** seeded by splitmix64 (Blackman & Vigna). */
#include "heed/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void heed_rng_seed(heed_rng *rng, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++)
    rng->s[i] = splitmix64(&x);
}

uint64_t heed_rng_next(heed_rng *rng) {
  uint64_t *s = rng->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double heed_rng_uniform(heed_rng *rng) {
  /* The top 53 bits fill a double's mantissa exactly. */
  return (double)(heed_rng_next(rng) >> 11) * 0x1.0p-53;
}

double heed_rng_normal(heed_rng *rng) {
  /* Box-Muller, using one of the pair: simpler state, and the cost of the
   * discarded sample does not matter for initialization. 1 - u keeps the
   * log argument in (0, 1]. */
  double u1 = 1.0 - heed_rng_uniform(rng);
  double u2 = heed_rng_uniform(rng);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

uint64_t heed_rng_below(heed_rng *rng, uint64_t n) {
  if (n == 0)
    return 0;
  /* Reject the top partial block so every residue is equally likely. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t r;
  do
    r = heed_rng_next(rng);
  while (r >= limit);
  return r % n;
}
