/*
 * net_kernels_test.c - the neuron kernels' promises, checked directly for
 * both builds (AVX2+FMA where the CPU has it, and the portable one): a
 * cohort kernel gives each neuron bitwise what the one-neuron kernel
 * gives, at every stride (including the 8/16/24-lane tails), and the
 * input-vectorized dot product gives the same sum from contiguous and
 * strided inputs, close to a double-precision reference; the blocked
 * cohort kernel gives each neuron of any cohort bitwise what the forward,
 * attention and gradient kernels give it alone; and the AVX2 and AVX-512
 * builds agree bitwise on every kernel.
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

/* block against dot_rows, gather and grad_t, one neuron at a time, for
 * cohorts of 1..HEED_COHORT neurons (tiles of 8, 6, 4, 2, 1 and their
 * mixes), strides with 8-lane and 16-lane tails, and fan-ins that are not
 * multiples of 8 (the gradient's lanes). */
static void check_block(const heed_kernels *k) {
  const size_t strides[] = {16, 24, 32, 40, 72, 128, 136};
  const size_t fans[] = {1, 5, 31, 64, 100};
  const size_t ms[] = {1, 2, 3, 5, 7, 8, 13, HEED_COHORT};
  unsigned seed = 11;
  for (size_t a = 0; a < sizeof strides / sizeof *strides; a++)
    for (size_t f = 0; f < sizeof fans / sizeof *fans; f++)
      for (size_t c = 0; c < sizeof ms / sizeof *ms; c++) {
        size_t S = strides[a], n = fans[f], m = ms[c];
        float *x = malloc(n * S * sizeof *x), *w = malloc(m * n * sizeof *w);
        float *xt = malloc(S * n * sizeof *xt), *g = malloc(m * S * sizeof *g);
        float *got = malloc(m * (S + n) * sizeof *got);
        float *want = malloc((S + n) * sizeof *want), b[HEED_COHORT];
        const float *ws[HEED_COHORT], *cs[HEED_COHORT], *gs[HEED_COHORT];
        float *outs[HEED_COHORT];
        for (size_t i = 0; i < n * S; i++)
          x[i] = xt[i] = rnd(&seed);
        for (size_t i = 0; i < m * n; i++)
          w[i] = rnd(&seed);
        for (size_t i = 0; i < m * S; i++)
          g[i] = rnd(&seed);
        for (size_t q = 0; q < m; q++) {
          b[q] = rnd(&seed);
          ws[q] = w + q * n;
          cs[q] = w + q;   /* column q of n rows of m coefficients */
          gs[q] = g + q * S;
          outs[q] = got + q * (S + n);
        }
        k->block(ws, m, 1, n, x, S, S, b, outs); /* forward */
        for (size_t q = 0; q < m; q++) {
          k->dot_rows(ws[q], n, x, S, b[q], want);
          assert_memory_equal(want, outs[q], S * sizeof(float));
        }
        if (n <= m) { /* attention: n bidders, ldc m, adjacent columns */
          k->block(cs, m, m, n, x, S, S, NULL, outs);
          for (size_t q = 0; q < m; q++) {
            k->gather(cs[q], m, x, n, S, want);
            assert_memory_equal(want, outs[q], S * sizeof(float));
          }
        }
        if (2 * n <= m) { /* columns two apart (a cohort on 1 of 2 loops) */
          const float *c2[HEED_COHORT];
          size_t half = (m + 1) / 2;
          for (size_t q = 0; q < half; q++)
            c2[q] = w + 2 * q;
          k->block(c2, half, m, n / 2 ? n / 2 : 1, x, S, S, NULL, outs);
          for (size_t q = 0; q < half; q++) {
            k->gather(c2[q], m, x, n / 2 ? n / 2 : 1, S, want);
            assert_memory_equal(want, outs[q], S * sizeof(float));
          }
        }
        for (size_t cnt = S - 7; cnt <= S; cnt += 7) { /* gradient */
          k->block(gs, m, 1, cnt, xt, n, n, NULL, outs);
          for (size_t q = 0; q < m; q++) {
            k->grad_t(gs[q], xt, n, cnt, want);
            assert_memory_equal(want, outs[q], n * sizeof(float));
          }
        }
        free(x);
        free(w);
        free(xt);
        free(g);
        free(got);
        free(want);
      }
}

/* ascend rounds the product, then the sum: what plain C (this file, no
 * fused multiply-add) computes. */
static void check_ascend(const heed_kernels *k) {
  unsigned seed = 5;
  float w[77], w2[77], dw[77];
  for (size_t i = 0; i < 77; i++) {
    w[i] = w2[i] = rnd(&seed);
    dw[i] = rnd(&seed);
  }
  volatile float scale = 0.037f;
  for (size_t i = 0; i < 77; i++) {
    volatile float step = scale * dw[i];
    w2[i] = w2[i] + step;
  }
  k->ascend(w, dw, 77, scale);
  assert_memory_equal(w, w2, sizeof w);
}

static void check_all(const heed_kernels *k) {
  check_cohorts(k);
  check_dot_in(k);
  check_block(k);
  check_ascend(k);
}

static void test_generic(void **state) {
  (void)state;
  check_all(heed__kernels_generic());
}

/* Every AVX2 kernel against its AVX-512 twin on the same inputs. */
static void test_avx2_avx512_agree(void **state) {
  (void)state;
  const heed_kernels *a = heed__kernels_avx2(), *z = heed__kernels_avx512();
  if (!a || !z) {
    printf("# no AVX-512 on this CPU: nothing to compare\n");
    return;
  }
  check_all(a);
  check_all(z);
  unsigned seed = 3;
  const size_t S = 40, n = 100, m = 9;
  float *x = malloc(n * S * sizeof *x), *w = malloc(m * n * sizeof *w);
  float r1[4][128], r2[4][128], bs[4] = {0.5f, -1, 2, 0};
  memset(r1, 0, sizeof r1); /* lanes a kernel leaves alone compare equal */
  memset(r2, 0, sizeof r2);
  for (size_t i = 0; i < n * S; i++)
    x[i] = rnd(&seed);
  for (size_t i = 0; i < m * n; i++)
    w[i] = rnd(&seed);
  const float *ws[4] = {w, w + n, w + 2 * n, w + 3 * n};
  float *o1[4] = {r1[0], r1[1], r1[2], r1[3]};
  float *o2[4] = {r2[0], r2[1], r2[2], r2[3]};
  for (size_t st = 8; st <= S; st += 8) {
    a->dot_rows(w, n, x, st, 0.25f, r1[0]);
    z->dot_rows(w, n, x, st, 0.25f, r2[0]);
    assert_memory_equal(r1[0], r2[0], st * sizeof(float));
    a->dot_rows4(ws, n, x, st, bs, o1);
    z->dot_rows4(ws, n, x, st, bs, o2);
    assert_memory_equal(r1, r2, sizeof r1);
    a->gather(w, m, x, 10, st, r1[0]);
    z->gather(w, m, x, 10, st, r2[0]);
    assert_memory_equal(r1[0], r2[0], st * sizeof(float));
    const float *cs[4] = {w, w + 1, w + 2, w + 3};
    a->gather4(cs, m, x, 10, st, o1);
    z->gather4(cs, m, x, 10, st, o2);
    assert_memory_equal(r1, r2, sizeof r1);
    a->grad(x, w, 12, st, r1[0]);
    z->grad(x, w, 12, st, r2[0]);
    assert_memory_equal(r1[0], r2[0], 12 * sizeof(float));
    a->grad_t(w, x, 99, st - 3, r1[0]); /* 99 inputs, st - 3 samples */
    z->grad_t(w, x, 99, st - 3, r2[0]);
    assert_memory_equal(r1[0], r2[0], 99 * sizeof(float));
    float d1 = a->dot_in(w, n, x, st, 0.5f), d2 = z->dot_in(w, n, x, st, 0.5f);
    assert_memory_equal(&d1, &d2, sizeof d1);
  }
  free(x);
  free(w);
}

static void test_fastest(void **state) {
  (void)state;
  const heed_kernels *k = heed__kernels();
  printf("# kernels %s\n", k->name);
  check_all(k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generic),
      cmocka_unit_test(test_fastest),
      cmocka_unit_test(test_avx2_avx512_agree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
