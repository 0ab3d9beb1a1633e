/*
 * claim.c - output neurons that claim a class instead of fighting over it.
 *
 * The critic bids an output neuron beta = -(p - t)/B: positive exactly on
 * the samples that carry the neuron's class, negative (the other classes'
 * claims) on the rest. Under bp every output is bid down on every sample
 * of a class not its own, so in class-incremental learning the outputs of
 * old classes are pushed under the new ones until only the last task's
 * classes are ever answered. A claim neuron plays two rules:
 *
 * Refusal (every neuron): in a batch where it receives no positive bid at
 * all, it refuses the fraction `refuse` of the bids: it neither moves nor
 * passes them on. For an output neuron that is "my class is not in this
 * market, I keep my job": an agent-level form of the labels trick. A
 * hidden neuron is nearly always bid both ways, so it is rarely touched.
 *
 * Prototype (output neurons, temp > 0): the neuron keeps mu, the running
 * mean of its inputs over the samples it was bid up on (its own class),
 * and answers temp * mu.x / |mu| (norm 1, the default: the class mean at
 * the smallest angle) or temp * (2 mu.x - |mu|^2) (norm 0: since |x|^2 is
 * the same for every output, the nearest class mean). No output competes
 * with another, so none needs the classes it never sees with its own.
 * With spread > 0 it measures each input in units of its spread over
 * every sample it has seen (all classes: every output sees every input),
 * 1 / sqrt(var_i + spread): a shared diagonal metric. With fan_in <= cov
 * it keeps the full covariance of its inputs instead and measures in
 * (cov + k I)^-1, k = spread * trace(cov) / samples (a shrinkage that fades
 * as samples accumulate, so a few hundred samples for 256 inputs stay
 * usable): the nearest mean becomes linear discriminant analysis on the
 * layer below. state_floats cannot tell outputs from
 * hidden neurons, so a hidden neuron with fan_in <= cov carries the
 * covariance's fan_in^2 floats unused (784-256-256-10 at cov=256: the
 * second hidden layer, about 67 MB). A neuron that has
 * claimed nothing yet abstains (bias ABSTAIN). It passes down the fraction
 * `teach` of its bid (c = teach * w): at teach 0 the hidden layers receive
 * no attention and stay as initialized.
 *
 * Hidden neurons (and output neurons at temp 0) step with guard's
 * per-synapse anchoring (anchor.h): consolidation on CONSOLIDATE or, with
 * auto > 0, when the attention they are bid jumps.
 *
 * State: the anchor's floats (anchor.h), then mu[fan_in] and the count of
 * samples claimed, then each input's mean and variance over every sample
 * and the count of samples seen, then (fan_in <= cov) the covariance and
 * the solve's vectors. State is float, so the counts are exact up to 2^24
 * samples; past that they stop counting and the means move with a fixed
 * step of 2^-24.
 */
#include <math.h>
#include <string.h>

#include "strategy/anchor.h"
#include "strategy/builtin.h"

enum { P_C, P_COV, P_AUTO, P_SPREAD, P_REFUSE, P_TEMP, P_NORM, P_TEACH };
/* guard's defaults for what claim does not expose: batches after a
 * self-detected boundary before detecting another, importance damping. */
#define WARM 50
#define XI 1e-3
/* The covariance learns from every COV_EVERY-th sample (a quarter of the
 * cost, still thousands of samples per task), and the metric's solve takes
 * CG_STEPS conjugate-gradient steps per batch from the last solution. */
#define COV_EVERY 4
#define CG_STEPS 5

/* An unclaimed output's bias: far below any claimed output's answer (at
 * most temp * |x|^2), so it takes no softmax mass and is never the argmax. */
#define ABSTAIN (-1e4f)

/* Whether a neuron with this many inputs keeps a full covariance. */
static int full(const double *params, uint32_t fan_in) {
  return fan_in <= params[P_COV];
}

/* After the anchor's floats: mu[n], count, then the spread of every input
 * over every sample seen: mean[n], var[n], seen; with a full covariance
 * also cov[n*n] and the solve's v[n], r[n], p[n], q[n]. */
static size_t claim_state(const double *params, uint32_t fan_in) {
  size_t k = heed__anchor_floats(fan_in) + 3 * (size_t)fan_in + 2;
  if (full(params, fan_in))
    k += (size_t)fan_in * fan_in + 4 * (size_t)fan_in;
  return k;
}

static const heed__anchor_cfg cfg = {XI, 1, 1, 1};

/* Whether any sample bid this neuron up. */
static int wanted(const heed_neuron *n) {
  for (uint32_t s = 0; s < n->batch; s++)
    if (n->beta[s] > 0)
      return 1;
  return 0;
}

/* Every sample into the input statistics (mean, variance: Welford), the
 * samples bid up on into mu. */
static void observe(heed_neuron *n) {
  uint32_t m = n->fan_in;
  float *mu = n->state + heed__anchor_floats(m), *count = mu + m;
  float *mean = count + 1, *var = mean + m, *seen = var + m;
  for (uint32_t s = 0; s < n->batch; s++) {
    float e = 1.0f / (*seen += 1);
    for (uint32_t i = 0; i < m; i++) {
      float x = n->x[(size_t)i * n->stride + s], d = x - mean[i];
      mean[i] += e * d;
      var[i] += e * (d * (x - mean[i]) - var[i]);
    }
    if (!(n->beta[s] > 0))
      continue;
    float eta = 1.0f / (*count += 1);
    for (uint32_t i = 0; i < m; i++)
      mu[i] += eta * (n->x[(size_t)i * n->stride + s] - mu[i]);
  }
}

/* The answer, in units u_i = 1 / sqrt(var_i + spread) of each input (1
 * when spread is 0), with x' = u x and mu' = u mu:
 *   temp * ((1 - norm) (2 mu'.x' - |mu'|^2) + norm mu'.x' / |mu'|):
 * at norm 0 the nearest class mean, at 1 the class mean at the smallest
 * angle (|x'| is the same for every output, so both rank classes alike
 * whatever x's size). Recomputed every batch: an old class's weights
 * follow the input statistics, never the bids of other classes. */
static void prototype(heed_neuron *n) {
  uint32_t m = n->fan_in;
  const float *mu = n->state + heed__anchor_floats(m), *count = mu + m;
  const float *var = count + 1 + m;
  double temp = n->params[P_TEMP], norm = n->params[P_NORM];
  double spread = n->params[P_SPREAD], sq = 0;
  observe(n);
  for (uint32_t i = 0; i < m; i++) {
    double u = spread > 0 ? 1 / sqrt(var[i] + spread) : 1;
    sq += (mu[i] * u) * (mu[i] * u);
  }
  double len = sqrt(sq);
  double per = temp * (2 * (1 - norm) + (len > 0 ? norm / len : 0));
  for (uint32_t i = 0; i < m; i++) {
    double u = spread > 0 ? 1 / (var[i] + spread) : 1;
    n->w[i] = (float)(per * mu[i] * u);
  }
  *n->b = *count > 0 ? (float)(-temp * (1 - norm) * sq) : ABSTAIN;
}

/* cov (Welford, every COV_EVERY-th sample) from the samples of this batch;
 * runs before observe() so the means are the ones before the batch. */
static void covariance(heed_neuron *n, float *cov, float *d) {
  uint32_t m = n->fan_in;
  const float *mu = n->state + heed__anchor_floats(m);
  const float *mean = mu + m + 1, *seen = mean + 2 * (size_t)m;
  for (uint32_t s = 0; s < n->batch; s++) {
    uint64_t k = (uint64_t)*seen + s;
    if (k % COV_EVERY)
      continue;
    float e = 1.0f / (float)(k / COV_EVERY + 1);
    for (uint32_t i = 0; i < m; i++)
      d[i] = n->x[(size_t)i * n->stride + s] - mean[i];
    for (uint32_t i = 0; i < m; i++) {
      float *row = cov + (size_t)i * m, di = d[i] * (1 - e);
      for (uint32_t j = 0; j < m; j++)
        row[j] += e * (di * d[j] - row[j]);
    }
  }
}

/* out = (cov + spread I) v */
static void apply(const float *cov, double spread, uint32_t m, const float *v,
                  float *out) {
  for (uint32_t i = 0; i < m; i++) {
    const float *row = cov + (size_t)i * m;
    double a = spread * v[i];
    for (uint32_t j = 0; j < m; j++)
      a += (double)row[j] * v[j];
    out[i] = (float)a;
  }
}

/* CG_STEPS of conjugate gradients on (cov + spread I) v = mu, from the v
 * of the last batch (the metric moves slowly, so v stays close). */
static void solve(const float *cov, double spread, uint32_t m,
                  const float *mu, float *v, float *r, float *p, float *q) {
  double rr = 0;
  apply(cov, spread, m, v, q);
  for (uint32_t i = 0; i < m; i++) {
    r[i] = p[i] = mu[i] - q[i];
    rr += (double)r[i] * r[i];
  }
  for (int k = 0; k < CG_STEPS && rr > 0; k++) {
    apply(cov, spread, m, p, q);
    double pq = 0, rr2 = 0;
    for (uint32_t i = 0; i < m; i++)
      pq += (double)p[i] * q[i];
    if (!(pq > 0))
      return;
    double a = rr / pq;
    for (uint32_t i = 0; i < m; i++) {
      v[i] += (float)(a * p[i]);
      r[i] -= (float)(a * q[i]);
      rr2 += (double)r[i] * r[i];
    }
    for (uint32_t i = 0; i < m; i++)
      p[i] = r[i] + (float)(rr2 / rr) * p[i];
    rr = rr2;
  }
}

/* As prototype(), in the metric of the full covariance: with v = (cov +
 * k I)^-1 mu, k = spread * trace(cov) / samples, mu'.x' = v.x and
 * |mu'|^2 = v.mu. */
static void prototype_full(heed_neuron *n) {
  uint32_t m = n->fan_in;
  float *mu = n->state + heed__anchor_floats(m), *count = mu + m;
  float *cov = count + 1 + 2 * (size_t)m + 1, *v = cov + (size_t)m * m;
  float *r = v + m, *p = r + m, *q = p + m;
  double temp = n->params[P_TEMP], norm = n->params[P_NORM];
  double spread = n->params[P_SPREAD], vm = 0;
  covariance(n, cov, q);
  observe(n);
  /* shrinkage that fades as evidence accumulates: spread times the trace
   * over the samples the covariance has seen (about seen / COV_EVERY) */
  double tr = 0;
  const float *seen = count + 1 + 2 * (size_t)m;
  for (uint32_t i = 0; i < m; i++)
    tr += cov[(size_t)i * m + i];
  spread *= tr / (*seen / COV_EVERY + 1);
  solve(cov, spread, m, mu, v, r, p, q);
  for (uint32_t i = 0; i < m; i++)
    vm += (double)v[i] * mu[i];
  double len = vm > 0 ? sqrt(vm) : 0;
  double per = temp * (2 * (1 - norm) + (len > 0 ? norm / len : 0));
  for (uint32_t i = 0; i < m; i++)
    n->w[i] = (float)(per * v[i]);
  *n->b = *count > 0 ? (float)(-temp * (1 - norm) * vm) : ABSTAIN;
}

static void claim_respond(heed_neuron *n) {
  int proto = n->output && n->params[P_TEMP] > 0;
  heed__anchor_begin(n);
  heed__anchor_detect(n, &cfg, n->params[P_AUTO], WARM);
  heed_neuron_signal(n, n->g);
  if (!wanted(n)) { /* nobody bids me up: refuse to be talked down */
    float keep = (float)(1 - n->params[P_REFUSE]);
    for (uint32_t s = 0; s < n->stride; s++)
      n->g[s] *= keep;
  }
  if (n->c) { /* C1: the forward pass's weights, before any change */
    float teach = proto ? (float)n->params[P_TEACH] : 1.0f;
    for (uint32_t i = 0; i < n->fan_in; i++)
      n->c[i] = teach * n->w[i];
  }
  if (proto && full(n->params, n->fan_in))
    prototype_full(n);
  else if (proto)
    prototype(n);
  else
    heed__anchor_step(n, n->g, heed__anchor_strength(n, n->params[P_C], 0));
}

static void claim_control(heed_neuron *n, int event) {
  heed__anchor_control(n, &cfg, event);
}

const heed_strategy_ops heed__strategy_claim = {
    .abi = HEED_STRATEGY_ABI,
    .name = "claim",
    .description = "outputs claim their class (prototype of the inputs "
                   "they are bid up on); no neuron is bid down while "
                   "nobody wants it",
    .nparams = 8,
    /* Ranges: temp <= 1 keeps a claimed answer (at most temp * |x'|) far
     * above ABSTAIN unless the inputs are huge against sqrt(spread). */
    .params = {{"c", 1.0, "strength of the pull back to the anchor (hidden "
                          "neurons)", 0, 1e6},
               {"cov", 256, "outputs with at most this many inputs measure "
                            "in their inputs' full covariance (0: never)",
                0, 4096},
               {"auto", 0.0, "self-detect boundaries when mean|beta| jumps "
                             "by this factor (0: only on CONSOLIDATE)", 0, 1e6},
               {"spread", 0.1, "ridge of the metric: cov + spread*trace/"
                               "samples, or variance + spread (cov=0)", 0,
                1e6},
               {"refuse", 1.0, "fraction of the bids refused in a batch "
                               "with no positive bid", 0, 1},
               {"temp", 0.01, "scale of an output's answer to its class mean "
                              "mu (0: no prototypes, ordinary outputs)", 0,
                1},
               {"norm", 1.0, "answer temp*((1-norm)*(2mu.x-|mu|^2) + "
                             "norm*mu.x/|mu|)", 0, 1},
               {"teach", 0.0, "fraction of its bid a prototype output "
                              "passes down (0: hidden layers stay put)", 0,
                1}},
    .state_floats = claim_state,
    .respond = claim_respond,
    .control = claim_control,
};
