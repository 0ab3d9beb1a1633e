/*
 * net_bp_test.c - the equivalence theorem, checked: a society of `bp`
 * neuron actors matches an independent matrix backpropagation weight for
 * weight, its updates match finite differences of the loss, and results
 * do not depend on the number of runtime threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <math.h>

#include <cmocka.h>

#include "net_test_util.h"
#include "refnet.h"

#define B 32
#define STEPS 100

static void load_ref(refnet *r, heed_net *net) {
  for (int l = 0; l < r->L; l++) {
    int n = r->sizes[l + 1], m = r->sizes[l];
    float *w = malloc(sizeof(float) * n * m), *b = malloc(sizeof(float) * n);
    assert_int_equal(heed_net_params_get(net, (size_t)l + 1, w, b), 0);
    for (int i = 0; i < n * m; i++)
      r->W[l][i] = w[i];
    for (int j = 0; j < n; j++)
      r->b[l][j] = b[j];
    free(w);
    free(b);
  }
}

/* Largest |heed - ref| relative to max(|ref|, 1e-2 * scale), where scale is
 * the largest |ref| in the layer: weights near zero are compared against
 * the layer's scale instead of themselves. */
static double compare(refnet *r, heed_net *net, int l) {
  int n = r->sizes[l + 1], m = r->sizes[l];
  float *w = malloc(sizeof(float) * n * m), *b = malloc(sizeof(float) * n);
  assert_int_equal(heed_net_params_get(net, (size_t)l + 1, w, b), 0);
  double scale = 0, worst = 0;
  for (int i = 0; i < n * m; i++)
    scale = fmax(scale, fabs(r->W[l][i]));
  for (int i = 0; i < n * m; i++) {
    double den = fmax(fabs(r->W[l][i]), 1e-2 * scale);
    worst = fmax(worst, fabs(w[i] - r->W[l][i]) / den);
  }
  for (int j = 0; j < n; j++) {
    double den = fmax(fabs(r->b[l][j]), 1e-2 * scale);
    worst = fmax(worst, fabs(b[j] - r->b[l][j]) / den);
  }
  free(w);
  free(b);
  return worst;
}

static void run_equivalence(const heed_activation *acts, const int *ract,
                            unsigned threads) {
  const uint32_t sizes[] = {784, 64, 32, 10};
  const int isizes[] = {784, 64, 32, 10};
  float *x = malloc(sizeof(float) * B * 784 * STEPS);
  uint8_t *y = malloc(B * STEPS);
  gen_data(7, B * STEPS, 784, 10, x, y);

  heed_runtime *rt = make_rt(threads);
  heed_net *net = make_net(rt, 4, sizes, acts, "bp", 0.05f, 42);
  refnet r;
  ref_init(&r, 3, isizes, ract);
  load_ref(&r, net);

  double first = 0, last = 0;
  for (int t = 0; t < STEPS; t++) {
    heed_batch_stats st;
    const float *xb = x + (size_t)t * B * 784;
    const uint8_t *yb = y + t * B;
    double rl = ref_sgd(&r, xb, yb, B, 0.05);
    assert_int_equal(heed_net_train_batch(net, xb, yb, B, &st), 0);
    assert_int_equal(st.count, B);
    /* the loss the critic reports is the loss of the same forward pass */
    assert_true(fabs(st.loss - rl) <= 1e-4 * fmax(1.0, fabs(rl)));
    if (t == 0)
      first = rl;
    last = rl;
  }
  for (int l = 0; l < 3; l++) {
    double worst = compare(&r, net, l);
    printf("# layer %d worst relative difference %.3g\n", l + 1, worst);
    assert_true(worst <= 1e-5);
  }
  assert_true(last < first); /* it learned something */
  assert_int_equal(heed_net_step(net), STEPS);
  heed_net_free(net);
  heed_runtime_free(rt);
  ref_free(&r);
  free(x);
  free(y);
}

static void test_bp_matches_reference_relu(void **state) {
  (void)state;
  const int ract[] = {1, 1, 0};
  run_equivalence(NULL, ract, 1);
}

static void test_bp_matches_reference_tanh_sigmoid(void **state) {
  (void)state;
  const heed_activation acts[] = {HEED_ACT_TANH, HEED_ACT_SIGMOID,
                                  HEED_ACT_IDENTITY};
  const int ract[] = {2, 3, 0};
  run_equivalence(acts, ract, 2);
}

/* heed's one-step update, divided by -lr, is the gradient of the loss:
 * check it against central differences of the reference loss (double
 * precision) at the same weights. */
static void run_finite_differences(uint32_t nb) {
  const uint32_t sizes[] = {20, 12, 8, 5};
  const int isizes[] = {20, 12, 8, 5};
  const heed_activation acts[] = {HEED_ACT_TANH, HEED_ACT_SIGMOID,
                                  HEED_ACT_IDENTITY};
  const int ract[] = {2, 3, 0};
  const float lr = 1e-3f;
  float x[16 * 20];
  uint8_t y[16];
  gen_data(3, nb, 20, 5, x, y);

  heed_runtime *rt = make_rt(1);
  heed_net *net = make_net(rt, 4, sizes, acts, "bp", lr, 9);
  refnet r;
  ref_init(&r, 3, isizes, ract);
  load_ref(&r, net);
  float before[3][240], after[3][240], bb[3][12], ba[3][12];
  for (int l = 0; l < 3; l++)
    assert_int_equal(heed_net_params_get(net, l + 1, before[l], bb[l]), 0);
  /* the forward pass alone (input-major rows) and in training (the
   * sample-major copy) give the reference's loss */
  double rl = ref_step(&r, x, y, (int)nb, NULL, NULL, NULL);
  heed_batch_stats ev, tr;
  assert_int_equal(heed_net_eval(net, x, y, nb, &ev), 0);
  assert_true(fabs(ev.loss - rl) <= 1e-5 * fmax(1.0, fabs(rl)));
  assert_int_equal(heed_net_train_batch(net, x, y, nb, &tr), 0);
  assert_true(fabs(tr.loss - rl) <= 1e-5 * fmax(1.0, fabs(rl)));
  for (int l = 0; l < 3; l++)
    assert_int_equal(heed_net_params_get(net, l + 1, after[l], ba[l]), 0);

  int checked = 0;
  for (int l = 0; l < 3; l++) {
    int n = isizes[l + 1], m = isizes[l];
    for (int i = 0; i < n * m + n; i++) {
      double *p = i < n * m ? &r.W[l][i] : &r.b[l][i - n * m];
      double heed_grad = i < n * m
                             ? -(after[l][i] - (double)before[l][i]) / lr
                             : -(ba[l][i - n * m] - (double)bb[l][i - n * m]) / lr;
      double h = 1e-5, keep = *p;
      *p = keep + h;
      double up = ref_step(&r, x, y, (int)nb, NULL, NULL, NULL);
      *p = keep - h;
      double down = ref_step(&r, x, y, (int)nb, NULL, NULL, NULL);
      *p = keep;
      double fd = (up - down) / (2 * h);
      /* float weights limit how exactly heed's step can be read back */
      double tol = 2e-3 * fabs(fd) + 2e-4;
      if (fabs(heed_grad - fd) > tol)
        fail_msg("layer %d param %d: heed %.6g vs finite difference %.6g",
                 l + 1, i, heed_grad, fd);
      checked++;
    }
  }
  assert_int_equal(checked, 20 * 12 + 12 + 12 * 8 + 8 + 8 * 5 + 5);
  heed_net_free(net);
  heed_runtime_free(rt);
  ref_free(&r);
}

static void test_bp_gradient_finite_differences(void **state) {
  (void)state;
  run_finite_differences(16);
}

/* Narrow batches take the kernels vectorized over inputs (HEED_NARROW). */
static void test_bp_gradient_finite_differences_narrow(void **state) {
  (void)state;
  run_finite_differences(1);
  run_finite_differences(3);
}

/* Same seed => bitwise-identical weights with 1 and 2 runtime threads. */
static void run_determinism_batch(const char *strategy, uint32_t nb) {
  const uint32_t sizes[] = {64, 48, 24, 10};
  float *w[2][3];
  float x[64 * 64];
  uint8_t y[64];
  for (unsigned threads = 1; threads <= 2; threads++) {
    heed_runtime *rt = make_rt(threads);
    heed_net *net = make_net(rt, 4, sizes, NULL, strategy, 0.1f, 5);
    for (int t = 0; t < 30; t++) {
      gen_data(100 + (uint64_t)t, nb, 64, 10, x, y);
      assert_int_equal(heed_net_train_batch(net, x, y, nb, NULL), 0);
      if (t == 14)
        assert_int_equal(heed_net_control(net, HEED_EVENT_CONSOLIDATE), 0);
    }
    for (int l = 0; l < 3; l++) {
      w[threads - 1][l] = malloc(sizeof(float) * sizes[l] * sizes[l + 1]);
      assert_int_equal(
          heed_net_params_get(net, l + 1, w[threads - 1][l], NULL), 0);
    }
    heed_net_free(net);
    heed_runtime_free(rt);
  }
  for (int l = 0; l < 3; l++) {
    assert_memory_equal(w[0][l], w[1][l],
                        sizeof(float) * sizes[l] * sizes[l + 1]);
    free(w[0][l]);
    free(w[1][l]);
  }
}

static void run_determinism(const char *strategy) {
  run_determinism_batch(strategy, 64);
}

static void test_determinism_threads(void **state) {
  (void)state;
  const char *strategies[] = {"bp", "sparse:q=0.3", "retain:lambda=10",
                              "guard:c=0.5"};
  for (size_t i = 0; i < 4; i++)
    run_determinism(strategies[i]);
}

/* The same at narrow batches (the input-vectorized kernels) and at a
 * batch of 5..8 (stride 8, the four-chain attention sum). */
static void test_determinism_threads_narrow(void **state) {
  (void)state;
  const uint32_t widths[] = {1, 2, 4, 5};
  for (size_t i = 0; i < 4; i++)
    run_determinism_batch("bp", widths[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bp_matches_reference_relu),
      cmocka_unit_test(test_bp_matches_reference_tanh_sigmoid),
      cmocka_unit_test(test_bp_gradient_finite_differences),
      cmocka_unit_test(test_determinism_threads),
      cmocka_unit_test(test_bp_gradient_finite_differences_narrow),
      cmocka_unit_test(test_determinism_threads_narrow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
