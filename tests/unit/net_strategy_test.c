/*
 * net_strategy_test.c - each strategy's defining property, each learns
 * XOR, mixed societies, and strategy plugins (good and broken).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "net_test_util.h"

/* A hand-made neuron: fan_in inputs, a batch of 8. */
typedef struct toy {
  float w[16], b, x[16 * 8], z[8], y[8], dphi[8], beta[8], g[8], c[16],
      scratch[16], state[128];
  double params[HEED_STRATEGY_MAX_PARAMS];
  heed_neuron n;
} toy;

static void toy_init(toy *t, const heed_strategy_ops *ops, uint32_t fan_in) {
  memset(t, 0, sizeof *t);
  heed_rng r;
  heed_rng_seed(&r, 11);
  for (uint32_t i = 0; i < fan_in; i++)
    t->w[i] = (float)(heed_rng_uniform(&r) * 2 - 1);
  for (uint32_t i = 0; i < fan_in * 8; i++)
    t->x[i] = (float)heed_rng_uniform(&r);
  for (int s = 0; s < 8; s++) {
    t->z[s] = t->y[s] = (float)heed_rng_uniform(&r);
    t->dphi[s] = 1;
    t->beta[s] = (float)(heed_rng_uniform(&r) - 0.3);
  }
  for (size_t p = 0; p < ops->nparams; p++)
    t->params[p] = ops->params[p].value;
  t->n = (heed_neuron){.layer = 2, .fan_in = fan_in, .batch = 8, .stride = 8,
                       .w = t->w, .b = &t->b, .x = t->x, .z = t->z,
                       .y = t->y, .dphi = t->dphi, .beta = t->beta,
                       .g = t->g, .c = t->c, .scratch = t->scratch,
                       .state = t->state, .params = t->params, .lr = 0.1f};
}

static void test_sparse_bids_exactly_top_q(void **state) {
  (void)state;
  const heed_strategy_ops *ops = heed_strategy_find("sparse");
  assert_non_null(ops);
  for (double q = 0.1; q <= 1.0; q += 0.15) {
    toy t;
    toy_init(&t, ops, 16);
    t.params[0] = q;
    float w0[16], score[16];
    memcpy(w0, t.w, sizeof w0);
    for (int i = 0; i < 16; i++) {
      float m = 0;
      for (int s = 0; s < 8; s++)
        m += fabsf(t.x[i * 8 + s]);
      score[i] = fabsf(w0[i]) * m / 8;
    }
    ops->respond(&t.n);
    int want = (int)ceil(q * 16), got = 0;
    for (int i = 0; i < 16; i++) {
      if (t.c[i] == 0)
        continue;
      got++;
      assert_true(t.c[i] == w0[i]); /* bids with forward-pass weights */
      int better = 0;              /* no unselected input scores higher */
      for (int k = 0; k < 16; k++)
        better += t.c[k] == 0 && score[k] > score[i];
      assert_int_equal(better, 0);
    }
    assert_int_equal(got, want);
  }
}

static void test_retain_step_shrinks_with_omega(void **state) {
  (void)state;
  const heed_strategy_ops *ops = heed_strategy_find("retain");
  assert_non_null(ops);
  assert_int_equal(ops->state_floats(NULL, 16), 1);
  double moved[3];
  const float omegas[3] = {0, 0.5f, 5};
  for (int k = 0; k < 3; k++) {
    toy t;
    toy_init(&t, ops, 16);
    t.params[0] = 2.0;
    t.state[0] = omegas[k];
    float w0[16];
    memcpy(w0, t.w, sizeof w0);
    ops->respond(&t.n);
    moved[k] = 0;
    for (int i = 0; i < 16; i++)
      moved[k] += fabs(t.w[i] - w0[i]);
    assert_true(t.state[0] > omegas[k]); /* it earned attention */
  }
  assert_true(moved[0] > moved[1] && moved[1] > moved[2]);
  /* exactly lr / (1 + lambda * Omega) */
  assert_true(fabs(moved[1] / moved[0] - 1.0 / (1 + 2.0 * 0.5)) < 1e-4);
  assert_true(fabs(moved[2] / moved[0] - 1.0 / (1 + 2.0 * 5)) < 1e-4);
}

static void test_guard_anchors_important_synapses(void **state) {
  (void)state;
  const heed_strategy_ops *ops = heed_strategy_find("guard");
  assert_non_null(ops);
  toy t;
  toy_init(&t, ops, 4);
  t.params[0] = 50; /* strong anchor */
  /* earn an account on task A, then consolidate */
  for (int k = 0; k < 20; k++)
    ops->respond(&t.n);
  ops->control(&t.n, HEED_EVENT_CONSOLIDATE);
  float anchor[4];
  memcpy(anchor, t.w, sizeof anchor);
  float *omega = t.state + 4;
  int important = 0;
  for (int i = 0; i < 4; i++)
    important += omega[i] > 0;
  assert_true(important > 0);
  /* task B pushes the other way; a guarded neuron stays nearer its anchor
   * than the same neuron without the guard (c = 0) */
  toy free_t = t;
  free_t.n.params = free_t.params;
  free_t.params[0] = 0;
  free_t.n.w = free_t.w, free_t.n.b = &free_t.b, free_t.n.x = free_t.x;
  free_t.n.beta = free_t.beta, free_t.n.g = free_t.g, free_t.n.c = free_t.c;
  free_t.n.state = free_t.state, free_t.n.scratch = free_t.scratch;
  free_t.n.z = free_t.z, free_t.n.y = free_t.y, free_t.n.dphi = free_t.dphi;
  for (int s = 0; s < 8; s++)
    t.beta[s] = free_t.beta[s] = -t.beta[s];
  for (int k = 0; k < 50; k++) {
    ops->respond(&t.n);
    ops->respond(&free_t.n);
  }
  double d_guard = 0, d_free = 0;
  for (int i = 0; i < 4; i++) {
    d_guard += omega[i] * fabs(t.w[i] - anchor[i]);
    d_free += omega[i] * fabs(free_t.w[i] - anchor[i]);
  }
  assert_true(d_guard < 0.5 * d_free);
}

/* guard's variants: keep=0 replaces the importance at a consolidation,
 * keep=1 accumulates it; sharp keeps the sum of the new importances. */
static void test_guard_keep_and_sharp(void **state) {
  (void)state;
  const heed_strategy_ops *ops = heed_strategy_find("guard");
  assert_non_null(ops);
  double om[3][2]; /* per variant: sum of Omega after 1 and 2 points */
  double var[3][2] = {{1, 1}, {0, 1}, {1, 2}}; /* keep, sharp */
  for (int v = 0; v < 3; v++) {
    toy t;
    toy_init(&t, ops, 4);
    t.params[4] = var[v][0];
    t.params[7] = var[v][1];
    for (int k = 0; k < 2; k++) {
      for (int s = 0; s < 10; s++)
        ops->respond(&t.n);
      ops->control(&t.n, HEED_EVENT_CONSOLIDATE);
      om[v][k] = 0;
      for (int i = 0; i < 4; i++)
        om[v][k] += t.state[4 + i];
    }
    assert_true(om[v][0] > 0);
  }
  /* the first point is the same for keep=0 and keep=1 */
  assert_true(fabs(om[1][0] - om[0][0]) < 1e-6 * om[0][0]);
  /* accumulating keeps more than replacing */
  assert_true(om[0][1] > om[1][1]);
  /* sharp=2 redistributes, the sum stays */
  assert_true(fabs(om[2][0] - om[0][0]) < 1e-4 * om[0][0]);
}

/* guard's auto mode: a neuron consolidates by itself when the attention it
 * is bid jumps (mean |beta| above auto x its running average), not while
 * it is steady, never with auto=0, and no longer once a CONSOLIDATE from
 * the driver has reached it (it trusts the driver's boundaries then). */
static double guard_cons_after_jump(double autok, int told) {
  const heed_strategy_ops *ops = heed_strategy_find("guard");
  toy t;
  toy_init(&t, ops, 4);
  if (autok >= 0) /* else the registered default */
    t.params[2] = autok; /* auto */
  t.params[3] = 5;     /* warm: batches before a detection */
  float *cons = t.state + 4 * 4 + 7;
  for (int k = 0; k < 20; k++) /* steady attention: no boundary */
    ops->respond(&t.n);
  assert_true(*cons == 0);
  if (told) {
    ops->control(&t.n, HEED_EVENT_CONSOLIDATE);
    assert_true(*cons == 1);
  }
  for (int s = 0; s < 8; s++) /* the market changes: 10x the attention */
    t.beta[s] *= 10;
  double before = *cons;
  for (int k = 0; k < 3; k++)
    ops->respond(&t.n);
  return *cons - before;
}

static void test_guard_auto_detects_until_told(void **state) {
  (void)state;
  assert_true(guard_cons_after_jump(4, 0) == 1); /* exactly one detection */
  assert_true(guard_cons_after_jump(0, 0) == 0); /* auto off */
  assert_true(guard_cons_after_jump(4, 1) == 0); /* the driver marks them */
  assert_true(guard_cons_after_jump(20, 0) == 0); /* a jump below auto */
  /* plain "guard" finds boundaries without being told (auto defaults on) */
  assert_true(guard_cons_after_jump(-1, 0) == 1);
  assert_true(guard_cons_after_jump(-1, 1) == 0);
}

/* claim's refusal: a neuron bid only downwards in a batch neither moves
 * nor passes the bids on; one positive bid and it plays as usual. */
static void test_claim_refuses_when_unwanted(void **state) {
  (void)state;
  const heed_strategy_ops *ops = heed_strategy_find("claim");
  assert_non_null(ops);
  for (int up = 0; up < 2; up++) {
    toy t;
    toy_init(&t, ops, 4);
    for (int s = 0; s < 8; s++)
      t.beta[s] = -fabsf(t.beta[s]) - 0.01f;
    if (up)
      t.beta[3] = 0.2f;
    float w0[4], b0 = t.b;
    memcpy(w0, t.w, sizeof w0);
    ops->respond(&t.n);
    double moved = fabs(t.b - b0), bid = 0;
    for (int i = 0; i < 4; i++)
      moved += fabs(t.w[i] - w0[i]);
    for (int s = 0; s < 8; s++) {
      bid += fabs(t.g[s]);
      if (up) /* the best response's signal, unchanged */
        assert_true(t.g[s] == t.dphi[s] * t.beta[s]);
    }
    for (int i = 0; i < 4; i++)
      assert_true(t.c[i] == w0[i]); /* bids with forward-pass weights */
    if (up) {
      assert_true(moved > 0 && bid > 0);
    } else {
      assert_true(moved == 0);
      assert_true(bid == 0);
    }
  }
}

/* claim's prototype: an output neuron's answer is temp * ((1 - norm) *
 * (2 mu'.x' - |mu'|^2) + norm * mu'.x' / |mu'|), mu the mean input over
 * the samples it was bid up on, x' = u x, mu' = u mu with u_i = 1 /
 * sqrt(var_i + spread) over every sample (1 at spread 0); bids on other
 * samples never move it; it passes down teach * w. */
static void test_claim_output_is_class_mean(void **state) {
  (void)state;
  const heed_strategy_ops *ops = heed_strategy_find("claim");
  assert_non_null(ops);
  const double norms[4] = {0, 0.5, 1, 0}, spreads[4] = {0, 0, 0, 0.5};
  for (int v = 0; v < 4; v++) {
    const double norm = norms[v], spread = spreads[v];
    toy t;
    toy_init(&t, ops, 4);
    t.n.output = 1;
    t.params[1] = 0; /* cov: the diagonal metric */
    t.params[3] = spread;
    t.params[5] = 0.5;  /* temp */
    t.params[6] = norm; /* norm */
    t.params[7] = 0.25; /* teach */
    const int mine[3] = {0, 2, 5};
    for (int s = 0; s < 8; s++)
      t.beta[s] = -0.1f;
    for (int k = 0; k < 3; k++)
      t.beta[mine[k]] = 0.1f;
    float w0[4];
    memcpy(w0, t.w, sizeof w0);
    ops->respond(&t.n);
    double mu[4], u[4], sq = 0;
    for (int i = 0; i < 4; i++) {
      double mean = 0, var = 0;
      for (int s = 0; s < 8; s++)
        mean += t.x[i * 8 + s] / 8.0;
      for (int s = 0; s < 8; s++)
        var += (t.x[i * 8 + s] - mean) * (t.x[i * 8 + s] - mean) / 8.0;
      u[i] = spread > 0 ? 1 / sqrt(var + spread) : 1;
      mu[i] = 0;
      for (int k = 0; k < 3; k++)
        mu[i] += t.x[i * 8 + mine[k]];
      mu[i] /= 3;
      sq += mu[i] * u[i] * mu[i] * u[i];
      assert_true(t.c[i] == 0.25f * w0[i]); /* forward-pass weights */
    }
    for (int i = 0; i < 4; i++) {
      double want = 0.5 * ((1 - norm) * 2 + norm / sqrt(sq)) * mu[i] * u[i] *
                    u[i];
      assert_true(fabs(t.w[i] - want) < 1e-5 * (1 + fabs(want)));
    }
    assert_true(fabs(t.b + 0.5 * (1 - norm) * sq) < 1e-5 * (1 + sq));
    /* a batch of other classes only: nothing moves, nothing is bid */
    float w1[4], b1 = t.b;
    memcpy(w1, t.w, sizeof w1);
    for (int s = 0; s < 8; s++)
      t.beta[s] = -0.1f;
    ops->respond(&t.n);
    if (spread == 0) { /* (with spread, the statistics moved: by design) */
      assert_memory_equal(t.w, w1, sizeof w1);
      assert_true(t.b == b1);
    }
    for (int s = 0; s < 8; s++)
      assert_true(t.g[s] == 0);
  }
}

/* claim with a full covariance (cov >= fan_in): the answer's weights
 * solve (cov + k I) w = 2 temp mu (norm 0), k = spread * trace(cov) /
 * (seen / 4 + 1), b = -temp w.mu / 2, for the covariance the neuron keeps
 * of its inputs. */
static void test_claim_full_covariance_metric(void **state) {
  (void)state;
  const heed_strategy_ops *ops = heed_strategy_find("claim");
  assert_non_null(ops);
  toy t;
  toy_init(&t, ops, 4);
  assert_true(ops->state_floats(t.params, 4) <= 128);
  assert_true(ops->state_floats(t.params, 4) >
              ops->state_floats((double[8]){[1] = 0}, 4));
  t.n.output = 1;
  t.params[3] = 0.5;  /* spread */
  t.params[5] = 0.25; /* temp */
  t.params[6] = 0;    /* norm: nearest mean in the metric */
  for (int k = 0; k < 6; k++) { /* a few batches: the solve warm-starts */
    for (int s = 0; s < 8; s++)
      t.beta[s] = s % 3 == 0 ? 0.1f : -0.1f;
    for (int i = 0; i < 4 * 8; i++)
      t.x[i] = (float)fmod(t.x[i] * 7.3 + 0.1 * k, 1.0);
    ops->respond(&t.n);
  }
  const float *mu = t.state + 4 * 4 + 8, *seen = mu + 4 + 1 + 2 * 4;
  const float *cov = seen + 1;
  double wm = 0, cnorm = 0, tr = 0;
  for (int i = 0; i < 4; i++)
    tr += cov[i * 4 + i];
  assert_true(*seen == 6 * 8);
  double k = 0.5 * tr / (*seen / 4 + 1);
  for (int i = 0; i < 4; i++) {
    double a = k * t.w[i];
    for (int j = 0; j < 4; j++) {
      a += (double)cov[i * 4 + j] * t.w[j];
      cnorm += fabs(cov[i * 4 + j]);
    }
    assert_true(fabs(a - 2 * 0.25 * mu[i]) < 1e-4);
    wm += t.w[i] * mu[i];
  }
  assert_true(cnorm > 0); /* it did learn a covariance */
  assert_true(fabs(t.b + wm / 2) < 1e-5);
}

/* Accuracy on the samples of x (n of them) with labels below `below`. */
static double old_class_accuracy(heed_net *net, const float *x,
                                 const uint8_t *y, int n, int below) {
  float xs[256 * 32];
  uint8_t ys[256];
  int k = 0;
  for (int s = 0; s < n && k < 256; s++)
    if (y[s] < below) {
      memcpy(xs + (size_t)k * 32, x + (size_t)s * 32, 32 * sizeof *xs);
      ys[k++] = y[s];
    }
  heed_batch_stats st;
  assert_int_equal(heed_net_eval(net, xs, ys, (uint32_t)k, &st), 0);
  return st.correct / (double)k;
}

/* The defining property in a network: classes 0-1, then classes 2-3 only
 * (class-incremental, no replay). bp then answers 2 or 3 to everything;
 * claim still tells 0 from 1 and from the new classes. */
static void test_claim_keeps_old_classes(void **state) {
  (void)state;
  const uint32_t sizes[] = {32, 64, 4};
  const heed_activation acts[] = {HEED_ACT_RELU, HEED_ACT_IDENTITY};
  enum { N = 2048 };
  static float x[N * 32], xb[32 * 32];
  static uint8_t y[N], yb[32];
  gen_data(5, N, 32, 4, x, y);
  double acc[2];
  for (int a = 0; a < 2; a++) {
    heed_runtime *rt = make_rt(2);
    heed_net *net = make_net(rt, 3, sizes, acts, a ? "claim" : "bp", 0.05f, 3);
    for (int task = 0; task < 2; task++) {
      int k = 0;
      for (int s = 0; s < N; s++) {
        if (y[s] / 2 != task)
          continue;
        memcpy(xb + (size_t)k * 32, x + (size_t)s * 32, 32 * sizeof *xb);
        yb[k++] = y[s];
        if (k == 32) {
          assert_int_equal(heed_net_train_batch(net, xb, yb, 32, NULL), 0);
          k = 0;
        }
      }
      assert_int_equal(heed_net_control(net, HEED_EVENT_CONSOLIDATE), 0);
    }
    acc[a] = old_class_accuracy(net, x, y, N, 2);
    heed_net_free(net);
    heed_runtime_free(rt);
  }
  printf("# old classes after the new ones: bp %.3f, claim %.3f\n", acc[0],
         acc[1]);
  assert_true(acc[1] > 0.7);
  assert_true(acc[1] > acc[0] + 0.5);
}

static int learns_xor(const char *spec, unsigned threads) {
  const float x[8] = {0, 0, 0, 1, 1, 0, 1, 1};
  const uint8_t y[4] = {0, 1, 1, 0};
  const uint32_t sizes[] = {2, 8, 2};
  const heed_activation acts[] = {HEED_ACT_TANH, HEED_ACT_IDENTITY};
  heed_runtime *rt = make_rt(threads);
  heed_net *net = make_net(rt, 3, sizes, acts, spec, 0.5f, 1);
  for (int k = 0; k < 2000; k++)
    assert_int_equal(heed_net_train_batch(net, x, y, 4, NULL), 0);
  heed_batch_stats st;
  assert_int_equal(heed_net_eval(net, x, y, 4, &st), 0);
  heed_net_free(net);
  heed_runtime_free(rt);
  return (int)st.correct;
}

static void test_every_strategy_learns_xor(void **state) {
  (void)state;
  const char *specs[] = {"bp", "sparse:q=0.5", "retain:lambda=1", "guard",
                         "guard:auto=3", "guard:grow=2,sharp=2", "async",
                         "claim:temp=0"};
  for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
    int ok = learns_xor(specs[i], 2);
    printf("# %s: %d/4\n", specs[i], ok);
    assert_int_equal(ok, 4);
  }
}

static void test_async_overlaps_batches(void **state) {
  (void)state;
  const uint32_t sizes[] = {32, 64, 64, 10};
  float x[32 * 32];
  uint8_t y[32];
  for (int a = 0; a < 2; a++) {
    heed_runtime *rt = make_rt(2);
    heed_net *net = make_net(rt, 4, sizes, NULL, a ? "async" : "bp", 0.05f, 3);
    for (int t = 0; t < 50; t++) {
      gen_data((uint64_t)t, 32, 32, 10, x, y);
      assert_int_equal(heed_net_train_batch(net, x, y, 32, NULL), 0);
      if (t % 10 == 5) { /* evaluation between training batches (epoch end) */
        heed_batch_stats ev;
        assert_int_equal(heed_net_eval(net, x, y, 32, &ev), 0);
        assert_int_equal(ev.count, 32);
      }
    }
    assert_int_equal(heed_net_sync(net), 0);
    heed_net_counters c;
    heed_net_counters_get(net, &c);
    if (a)
      assert_true(c.max_overlap >= 2); /* a neuron held two batches */
    else
      assert_int_equal(c.max_overlap, 1); /* the barrier held */
    assert_int_equal(heed_net_step(net), 50);
    heed_net_free(net);
    heed_runtime_free(rt);
  }
}

static void test_mixed_society(void **state) {
  (void)state;
  const uint32_t sizes[] = {2, 8, 2};
  const heed_activation acts[] = {HEED_ACT_TANH, HEED_ACT_IDENTITY};
  heed_runtime *rt = make_rt(2);
  heed_net *net = make_net(rt, 3, sizes, acts, "bp", 0.5f, 1);
  heed_strategy *r, *s;
  char err[128];
  assert_int_equal(heed_strategy_new(&r, "retain:lambda=3", err, sizeof err), 0);
  assert_int_equal(heed_strategy_new(&s, "sparse:q=0.5", err, sizeof err), 0);
  assert_int_equal(heed_net_set_strategy(net, 1, -1, r), 0);
  assert_int_equal(heed_net_set_strategy(net, 1, 3, s), 0);
  assert_int_equal(heed_net_set_strategy(net, 9, -1, s), HEED_EINVAL);
  assert_int_equal(heed_net_set_strategy(net, 1, 8, s), HEED_EINVAL);
  const double *p;
  assert_string_equal(heed_net_neuron_strategy(net, 1, 0, &p)->name, "retain");
  assert_true(p[0] == 3.0);
  assert_string_equal(heed_net_neuron_strategy(net, 1, 3, &p)->name, "sparse");
  assert_string_equal(heed_net_neuron_strategy(net, 2, 0, &p)->name, "bp");
  size_t len = 0;
  assert_int_equal(heed_net_state_get(net, 1, 0, NULL, &len), 0);
  assert_int_equal(len, 1);
  const float x[8] = {0, 0, 0, 1, 1, 0, 1, 1};
  const uint8_t y[4] = {0, 1, 1, 0};
  for (int k = 0; k < 3000; k++)
    assert_int_equal(heed_net_train_batch(net, x, y, 4, NULL), 0);
  heed_batch_stats st;
  assert_int_equal(heed_net_eval(net, x, y, 4, &st), 0);
  assert_int_equal(st.correct, 4);
  float omega = 0;
  len = 1;
  assert_int_equal(heed_net_state_get(net, 1, 0, &omega, &len), 0);
  assert_true(omega > 0);
  heed_strategy_free(r);
  heed_strategy_free(s);
  heed_net_free(net);
  heed_runtime_free(rt);
}

static void test_strategy_specs(void **state) {
  (void)state;
  heed_strategy *s;
  char err[256], spec[128];
  assert_int_equal(heed_strategy_new(&s, "sparse:q=0.1", err, sizeof err), 0);
  assert_int_equal(heed_strategy_spec(s, spec, sizeof spec), 0);
  assert_string_equal(spec, "sparse:q=0.1");
  heed_strategy_free(s);
  assert_int_equal(heed_strategy_new(&s, "nope", err, sizeof err), HEED_ENOENT);
  assert_non_null(strstr(err, "unknown strategy 'nope'"));
  assert_int_equal(heed_strategy_new(&s, "sparse:z=1", err, sizeof err),
                   HEED_EINVAL);
  assert_non_null(strstr(err, "no parameter 'z'"));
  assert_int_equal(heed_strategy_new(&s, "sparse:q=abc", err, sizeof err),
                   HEED_EINVAL);
  assert_int_equal(heed_strategy_new(&s, "sparse:q", err, sizeof err),
                   HEED_EINVAL);
  assert_null(strchr(err, '\n'));
  assert_int_equal(heed_strategy_register(heed_strategy_find("bp")),
                   HEED_EEXIST);
}

static void noop_respond(heed_neuron *n) { (void)n; }

/* Every parameter has a declared range, enforced wherever a strategy is
 * made: out-of-range values are HEED_ERANGE with the parameter and its
 * range named, on one printable line. */
static void test_strategy_param_ranges(void **state) {
  (void)state;
  static const struct {
    const char *spec, *want;
  } bad[] = {
      {"sparse:q=5", "sparse: q=5 is out of range [0, 1]"},
      {"sparse:q=-1", "sparse: q=-1 is out of range [0, 1]"},
      {"retain:lambda=-5", "retain: lambda=-5 is out of range [0, 1e+06]"},
      {"retain:lambda=1e308", "lambda=1e+308 is out of range [0, 1e+06]"},
      {"guard:xi=0", "guard: xi=0 is out of range [1e-09, 1e+06]"},
      {"guard:keep=1.5", "keep=1.5 is out of range [0, 1]"},
  };
  heed_strategy *s = NULL;
  char err[256];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(heed_strategy_new(&s, bad[i].spec, err, sizeof err),
                     HEED_ERANGE);
    if (!strstr(err, bad[i].want))
      fail_msg("%s: '%s' lacks '%s'", bad[i].spec, err, bad[i].want);
  }
  /* Overflow to infinity is not a number; control characters and long
   * input are escaped and bounded in the message. */
  assert_int_equal(heed_strategy_new(&s, "retain:lambda=1e999", err,
                                     sizeof err), HEED_EINVAL);
  assert_int_equal(heed_strategy_new(&s, "no\npe\x1b[2J", err, sizeof err),
                   HEED_ENOENT);
  assert_non_null(strstr(err, "'no\\x0ape\\x1b[2J'"));
  char longname[300];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  assert_int_equal(heed_strategy_new(&s, longname, err, sizeof err),
                   HEED_EINVAL);
  assert_true(strlen(err) < 120);
  assert_non_null(strstr(err, "..."));
  /* The bounds themselves are in, and a spec prints back exactly. */
  assert_int_equal(heed_strategy_new(&s, "sparse:q=1", err, sizeof err), 0);
  heed_strategy_free(s);
  assert_int_equal(heed_strategy_new(&s, "retain:lambda=0.1", err, sizeof err),
                   0);
  char spec[128];
  assert_int_equal(heed_strategy_spec(s, spec, sizeof spec), 0);
  assert_string_equal(spec, "retain:lambda=0.1");
  heed_strategy_free(s);
  assert_int_equal(heed_strategy_new(&s, "retain:lambda=0.30000000000000004",
                                     err, sizeof err), 0);
  assert_int_equal(heed_strategy_spec(s, spec, sizeof spec), 0);
  assert_string_equal(spec, "retain:lambda=0.30000000000000004");
  heed_strategy_free(s);
  /* Every built-in declares a finite range holding its default. */
  for (size_t i = 0; i < heed_strategy_count(); i++) {
    const heed_strategy_ops *ops = heed_strategy_at(i);
    for (size_t p = 0; p < ops->nparams; p++)
      assert_int_equal(heed_strategy_param_check(ops, p, ops->params[p].value,
                                                 NULL, 0), 0);
  }
  /* Registering a strategy whose range is missing or wrong is refused. */
  static heed_strategy_ops norange = {
      .abi = HEED_STRATEGY_ABI, .name = "norange", .description = "x",
      .nparams = 1, .params = {{"k", 0.5, "no range given"}},
      .respond = noop_respond};
  assert_int_equal(heed_strategy_register(&norange), HEED_EINVAL);
  norange.params[0].min = 0;
  norange.params[0].max = 1.0 / 0.0;
  assert_int_equal(heed_strategy_register(&norange), HEED_EINVAL);
  norange.params[0].max = 1;
  assert_int_equal(heed_strategy_register(&norange), 0);
  assert_int_equal(heed_strategy_new(&s, "norange:k=2", err, sizeof err),
                   HEED_ERANGE);
}

/* Every neuron sees the run's seed and its own coordinates (strategy ABI
 * 3), so a stochastic strategy can draw independently and repeatably. */
static uint64_t seen_seed[2][8];
static uint32_t seen_layer[2][8], seen_index[2][8];
static void record_respond(heed_neuron *n) {
  if (n->layer >= 1 && n->layer <= 2 && n->index < 8) {
    seen_seed[n->layer - 1][n->index] = n->seed;
    seen_layer[n->layer - 1][n->index] = n->layer;
    seen_index[n->layer - 1][n->index] = n->index + 1;
  }
}

static void test_neuron_sees_seed(void **state) {
  (void)state;
  static heed_strategy_ops rec = {.abi = HEED_STRATEGY_ABI, .name = "seedrec",
                                  .description = "records what it sees",
                                  .respond = record_respond};
  assert_int_equal(heed_strategy_register(&rec), 0);
  const uint32_t sizes[] = {2, 8, 2};
  const heed_activation acts[] = {HEED_ACT_TANH, HEED_ACT_IDENTITY};
  heed_runtime *rt = make_rt(2);
  heed_net *net = make_net(rt, 3, sizes, acts, "seedrec", 0.5f, 4242);
  const float x[8] = {0, 0, 0, 1, 1, 0, 1, 1};
  const uint8_t y[4] = {0, 1, 1, 0};
  assert_int_equal(heed_net_train_batch(net, x, y, 4, NULL), 0);
  heed_net_sync(net);
  for (uint32_t l = 1; l <= 2; l++)
    for (uint32_t j = 0; j < sizes[l]; j++) {
      assert_int_equal(seen_seed[l - 1][j], 4242);
      assert_int_equal(seen_layer[l - 1][j], l);
      assert_int_equal(seen_index[l - 1][j], j + 1);
    }
  heed_net_free(net);
  heed_runtime_free(rt);
}

static void test_plugins(void **state) {
  (void)state;
  const char *dir = getenv("HEED_PLUGIN_DIR");
  assert_non_null(dir);
  char path[1024], err[512];
  snprintf(path, sizeof path, "%s/libsignbid.so", dir);
  assert_int_equal(heed_strategy_plugin_load(path, err, sizeof err), 0);
  assert_non_null(heed_strategy_find("signbid"));
  assert_int_equal(learns_xor("signbid:scale=1", 1), 4);

  snprintf(path, sizeof path, "%s/libbroken.so", dir);
  assert_int_equal(heed_strategy_plugin_load(path, err, sizeof err),
                   HEED_EVERSION);
  assert_non_null(strstr(err, "ABI"));
  assert_null(strchr(err, '\n'));
  snprintf(path, sizeof path, "%s/libnosymbol.so", dir);
  assert_int_equal(heed_strategy_plugin_load(path, err, sizeof err),
                   HEED_ESYMBOL);
  assert_non_null(strstr(err, HEED_STRATEGY_PLUGIN_SYMBOL));
  snprintf(path, sizeof path, "%s/missing.so", dir);
  assert_int_equal(heed_strategy_plugin_load(path, err, sizeof err), HEED_EIO);
  assert_null(heed_strategy_find("future"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sparse_bids_exactly_top_q),
      cmocka_unit_test(test_retain_step_shrinks_with_omega),
      cmocka_unit_test(test_guard_anchors_important_synapses),
      cmocka_unit_test(test_guard_keep_and_sharp),
      cmocka_unit_test(test_guard_auto_detects_until_told),
      cmocka_unit_test(test_claim_refuses_when_unwanted),
      cmocka_unit_test(test_claim_output_is_class_mean),
      cmocka_unit_test(test_claim_full_covariance_metric),
      cmocka_unit_test(test_claim_keeps_old_classes),
      cmocka_unit_test(test_every_strategy_learns_xor),
      cmocka_unit_test(test_async_overlaps_batches),
      cmocka_unit_test(test_mixed_society),
      cmocka_unit_test(test_strategy_specs),
      cmocka_unit_test(test_strategy_param_ranges),
      cmocka_unit_test(test_plugins),
      cmocka_unit_test(test_neuron_sees_seed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
