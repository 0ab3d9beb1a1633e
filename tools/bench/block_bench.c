/*
 * block_bench.c - the cohort kernel alone: GFLOP per processor second of
 * heed's block() for one cohort shape, in the AVX2 and AVX-512 builds
 * (whichever this CPU runs), beside the one-neuron dot_rows. Processor time
 * rather than the clock, so a loaded machine disturbs it less.
 *
 *   gcc -O2 -std=gnu11 -Isrc -o build/block_bench tools/bench/block_bench.c \
 *       build/libheed.a -lm -lpthread -luv -lnng -lmsgpackc
 *   build/block_bench K LANES M REPS [ASTEP [SPACING]]
 *
 * K rows summed, LANES lanes, M neurons, REPS calls. ASTEP 1 (default): a
 * forward pass (M weight rows of K). ASTEP > 1: an attention sum, M
 * coefficient columns SPACING apart (1: a cohort on one loop, 2: on one
 * of two) in rows of ASTEP. The gradient is ASTEP 1 with K = samples and
 * LANES = inputs. Figures quoted in docs/benchmarks.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "net/kernels.h"

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static long arg(int argc, char **argv, int i, long dflt, long lo, long hi) {
  if (i >= argc)
    return dflt;
  char *end;
  long v = strtol(argv[i], &end, 10);
  if (end == argv[i] || *end || v < lo || v > hi) {
    fprintf(stderr, "block_bench: argument %d '%s': %ld..%ld\n", i, argv[i],
            lo, hi);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr,
            "usage: block_bench K LANES M REPS [ASTEP [SPACING]]\n");
    return 2;
  }
  size_t K = (size_t)arg(argc, argv, 1, 0, 1, 1 << 16);
  size_t S = (size_t)arg(argc, argv, 2, 0, 1, 1 << 16);
  size_t m = (size_t)arg(argc, argv, 3, 0, 1, HEED_COHORT);
  long reps = arg(argc, argv, 4, 0, 1, 1000000);
  size_t astep = (size_t)arg(argc, argv, 5, 1, 1, 1 << 16);
  size_t sp = (size_t)arg(argc, argv, 6, 1, 1, 64);
  if (astep > 1 && (m - 1) * sp >= astep) {
    fprintf(stderr, "block_bench: M columns SPACING apart must fit a row "
                    "of ASTEP\n");
    return 2;
  }
  size_t nw = astep == 1 ? m * K : K * astep;
  float *x = malloc(K * S * sizeof *x), *w = malloc(nw * sizeof *w),
        *o = malloc(m * S * sizeof *o), b[HEED_COHORT] = {0};
  if (!x || !w || !o) {
    fprintf(stderr, "block_bench: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < K * S; i++)
    x[i] = (float)(i % 7) * 0.1f;
  for (size_t i = 0; i < nw; i++)
    w[i] = (float)(i % 5) * 0.01f;
  const float *a[HEED_COHORT];
  float *out[HEED_COHORT];
  for (size_t q = 0; q < m; q++) {
    a[q] = astep == 1 ? w + q * K : w + q * sp;
    out[q] = o + q * S;
  }
  const heed_kernels *ks[] = {heed__kernels_avx2(), heed__kernels_avx512()};
  double flops = 2.0 * (double)K * (double)S * (double)m * (double)reps;
  for (int t = 0; t < 2; t++) {
    const heed_kernels *k = ks[t];
    if (!k)
      continue;
    double t0 = cpu_now();
    for (long r = 0; r < reps; r++)
      k->block(a, m, astep, K, x, S, S, astep == 1 ? b : NULL, out);
    printf("%-7s block    K=%zu lanes=%zu m=%zu astep=%zu spacing=%zu: "
           "%.1f GFLOP/s\n",
           k->name, K, S, m, astep, sp, flops / (cpu_now() - t0) / 1e9);
    if (astep == 1 && S % HEED_LANES == 0) {
      t0 = cpu_now();
      for (long r = 0; r < reps; r++)
        for (size_t q = 0; q < m; q++)
          k->dot_rows(a[q], K, x, S, 0.0f, out[q]);
      printf("%-7s dot_rows one neuron at a time: %.1f GFLOP/s\n", k->name,
             flops / (cpu_now() - t0) / 1e9);
    }
  }
  free(x);
  free(w);
  free(o);
  return 0;
}
