/*
 * net_kernels_test.c - the neuron kernels' promises, checked directly for
 * both builds (AVX2+FMA where the CPU has it, and the portable one): a
 * cohort kernel gives each neuron bitwise what the one-neuron kernel
 * gives, at every stride (including the 8/16/24-lane tails), and the
 * input-vectorized dot product gives the same sum from contiguous and
 * strided inputs, close to a double-precision reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/kernels.h"

static float rnd(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void check_cohorts(const heed_kernels *k) {
  const size_t strides[] = {8, 16, 24, 32, 40, 64, 72};
  const size_t fans[] = {1, 5, 31, 33, 100};
  unsigned seed = 1;
  for (size_t a = 0; a < sizeof strides / sizeof *strides; a++)
    for (size_t f = 0; f < sizeof fans / sizeof *fans; f++) {
      size_t S = strides[a], n = fans[f];
      float *x = malloc(n * S * sizeof *x), *w = malloc(4 * n * sizeof *w);
      float z1[4][72], z4[4][72], b[4];
      for (size_t i = 0; i < n * S; i++)
        x[i] = rnd(&seed);
      for (size_t i = 0; i < 4 * n; i++)
        w[i] = rnd(&seed);
      const float *ws[4];
      float *zs[4];
      for (int q = 0; q < 4; q++) {
        b[q] = rnd(&seed);
        ws[q] = w + q * n;
        zs[q] = z4[q];
        k->dot_rows(ws[q], n, x, S, b[q], z1[q]);
      }
      k->dot_rows4(ws, n, x, S, b, zs);
      for (int q = 0; q < 4; q++)
        assert_memory_equal(z1[q], z4[q], S * sizeof(float));
      /* gather4 against gather: n bidders, ldc 4, columns q */
      float *beta[4], b1[72];
      for (int q = 0; q < 4; q++)
        beta[q] = z4[q];
      const float *cs[4] = {w, w + 1, w + 2, w + 3};
      k->gather4(cs, 4, x, n, S, beta);
      for (int q = 0; q < 4; q++) {
        k->gather(w + q, 4, x, n, S, b1);
        assert_memory_equal(b1, beta[q], S * sizeof(float));
      }
      free(x);
      free(w);
    }
}

static void check_dot_in(const heed_kernels *k) {
  const size_t fans[] = {1, 7, 32, 33, 100, 784};
  unsigned seed = 7;
  for (size_t f = 0; f < sizeof fans / sizeof *fans; f++) {
    size_t n = fans[f];
    float *x = malloc(n * 8 * sizeof *x), *xt = malloc(n * sizeof *xt),
          *w = malloc(n * sizeof *w);
    double ref = 0.25;
    for (size_t i = 0; i < n; i++) {
      w[i] = rnd(&seed);
      xt[i] = x[i * 8] = rnd(&seed);
      ref += (double)w[i] * xt[i];
    }
    float a = k->dot_in(w, n, xt, 1, 0.25f);
    float b = k->dot_in(w, n, x, 8, 0.25f);
    assert_memory_equal(&a, &b, sizeof a);
    assert_true(fabs(a - ref) <= 1e-5 * (double)n);
    free(x);
    free(xt);
    free(w);
  }
}

static void test_generic(void **state) {
  (void)state;
  check_cohorts(heed__kernels_generic());
  check_dot_in(heed__kernels_generic());
}

static void test_fastest(void **state) {
  (void)state;
  const heed_kernels *k = heed__kernels();
  printf("# kernels %s\n", k->name);
  check_cohorts(k);
  check_dot_in(k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generic),
      cmocka_unit_test(test_fastest),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
