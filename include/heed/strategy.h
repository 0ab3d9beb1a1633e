/*
 * heed/strategy.h - how a neuron plays the attention game.
 *
 * A strategy decides, for one neuron and one mini-batch, (a) the attention
 * bids the neuron sends to its inputs and (b) its own parameter update, from
 * what it received (its inputs x, its pre-activation z, and beta, the total
 * attention the next layer bid for its output) and its own state.
 *
 * Bids are factored: neuron j's bid to input i is pi_ji = g_j * c_ji, where
 * g_j is a B-vector (one value per sample) and c_j a fan_in-vector of
 * coefficients. The best response (`bp`) uses g_j = phi'(z_j) * beta_j and
 * c_j = w_j as they were in the forward pass. Every built-in strategy fits
 * this form; it keeps a bid message at B + fan_in floats instead of
 * B * fan_in.
 *
 * Strategies are ops tables, registered by name; a plugin is a shared object
 * exporting heed_strategy_plugin_v1 (see docs/strategies.md).
 */
#ifndef HEED_STRATEGY_H
#define HEED_STRATEGY_H

#include <stddef.h>
#include <stdint.h>

#include "heed/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever heed_strategy_ops or heed_neuron changes shape (2: every
 * parameter declares its range; 3: heed_neuron.seed; 4: heed_neuron.output).
 * A plugin built for another ABI is refused when loaded, with both numbers
 * in the message. */
#define HEED_STRATEGY_ABI 4
#define HEED_STRATEGY_MAX_PARAMS 8

/* Control events a neuron's strategy may react to. */
enum heed_strategy_event {
  HEED_EVENT_CONSOLIDATE = 1, /* a task boundary, sent by the driver */
};

/* Flags in heed_strategy_ops.flags. */
enum heed_strategy_flags {
  /* No barrier: the next batch's forward pass may overtake this batch's
   * backward pass (relaxes conditions C1 and C3). Not deterministic. */
  HEED_STRATEGY_ASYNC = 1u << 0,
};

/* What one neuron sees when it responds to a batch. Pointers are valid only
 * during the call. Vectors over the batch have length `batch`. */
typedef struct heed_neuron {
  uint32_t layer;   /* 1-based layer index */
  uint32_t index;   /* neuron index in its layer */
  uint32_t fan_in;  /* inputs */
  uint32_t batch;   /* B, samples in this batch */
  uint32_t stride;  /* length of every batch vector below (B rounded up to a
                       multiple of 8); entries from batch on are zero in x,
                       beta and g and must stay zero in g */
  float *w;         /* fan_in incoming weights (the neuron's own) */
  float *b;         /* its bias */
  const float *x;   /* inputs: row i (x + i*stride) holds input i's values */
  const float *z;   /* pre-activations */
  const float *y;   /* outputs phi(z) */
  const float *dphi;/* phi'(z) */
  const float *beta;/* attention received: sum of the next layer's bids */
  float *g;         /* OUT: bid signal, stride values (zeroed on entry) */
  float *c;         /* OUT: bid coefficients, fan_in values; NULL when nobody
                       listens (layer 1: the input does not take bids) */
  float *scratch;   /* fan_in floats of scratch space */
  float *state;     /* the strategy's per-neuron state (state_floats long) */
  const double *params; /* the strategy's parameters, in declared order */
  float lr;         /* the network's learning rate */
  uint64_t step;    /* batches this neuron has trained before this one */
  const float *xt;  /* the inputs again, sample by sample (batch rows of
                       fan_in values), or NULL; the helpers below use it */
  uint64_t seed;    /* the run's seed (heed_net_opts.seed): a stochastic
                       strategy draws from (seed, layer, index, step) so a
                       run repeats exactly and neurons draw independently */
  uint32_t output;  /* 1 when the critic is the one bidding for this neuron
                       (an output neuron), else 0 (ABI 4). The critic's bid
                       is -(p - t)/B: positive exactly on the samples that
                       carry this output's class */
} heed_neuron;

/* One parameter. Values outside the closed range [min, max] are refused
 * wherever a strategy is made (command-line specs, checkpoints, plugins'
 * defaults), so respond() may rely on them: declare the range in which the
 * strategy's arithmetic stays finite. min and max must be finite with
 * min <= value <= max; a parameter left at {0, 0} accepts only 0. */
typedef struct heed_strategy_param {
  const char *name;
  double value; /* default */
  const char *help;
  double min, max;
} heed_strategy_param;

typedef struct heed_strategy_ops {
  uint32_t abi; /* HEED_STRATEGY_ABI */
  const char *name;
  const char *description; /* one line */
  uint32_t flags;
  size_t nparams;
  heed_strategy_param params[HEED_STRATEGY_MAX_PARAMS];
  /* Floats of per-neuron state (zero-initialized, saved in checkpoints).
   * NULL means none. The state is also valid in `control`. */
  size_t (*state_floats)(const double *params, uint32_t fan_in);
  /* One batch: write n->g (and n->c unless NULL) first, then update
   * n->w and n->b. Required. */
  void (*respond)(heed_neuron *n);
  /* A control event (enum heed_strategy_event); x, z, beta are NULL. May be
   * NULL. */
  void (*control)(heed_neuron *n, int event);
} heed_strategy_ops;

/* A strategy with its parameter values. */
typedef struct heed_strategy heed_strategy;

/* Plugins export this symbol; it returns the plugin's ops. */
typedef const heed_strategy_ops *(*heed_strategy_plugin_fn)(void);
#define HEED_STRATEGY_PLUGIN_SYMBOL "heed_strategy_plugin_v1"

/* Registers ops under ops->name (the ops must outlive heed). Returns
 * HEED_EEXIST for a taken name, HEED_EVERSION for a wrong abi, HEED_EINVAL
 * for a missing name or respond, too many parameters, or a parameter whose
 * range is not finite or does not hold its default. */
HEED_API int heed_strategy_register(const heed_strategy_ops *ops);
/* Number of registered strategies, and the i-th one (built-ins first). */
HEED_API size_t heed_strategy_count(void);
HEED_API const heed_strategy_ops *heed_strategy_at(size_t i);
HEED_API const heed_strategy_ops *heed_strategy_find(const char *name);

/* Parses "NAME" or "NAME:k=v,k=v" into a new strategy. Every value must be
 * a finite number within its parameter's declared range; a strategy made
 * here is the only kind heed_net_set_strategy accepts, so no neuron ever
 * plays an out-of-range parameter. On error returns a negative code
 * (HEED_ENOENT: unknown name, HEED_ERANGE: a value out of its range,
 * HEED_EINVAL: anything else) and writes a one-line reason to err, with
 * the spec's text escaped (no control characters, bounded length). */
HEED_API int heed_strategy_new(heed_strategy **sp, const char *spec, char *err,
                               size_t errlen);
HEED_API void heed_strategy_free(heed_strategy *s);
HEED_API const heed_strategy_ops *heed_strategy_ops_of(const heed_strategy *s);
HEED_API const double *heed_strategy_params(const heed_strategy *s);
/* Checks value v for parameter i of ops against its declared range:
 * 0, HEED_ERANGE (out of range or not finite) or HEED_EINVAL (no such
 * parameter), with "strategy S: k=v is out of range [min, max]" in err. */
HEED_API int heed_strategy_param_check(const heed_strategy_ops *ops, size_t i,
                                       double v, char *err, size_t errlen);
/* Canonical spec, e.g. "sparse:q=0.25", into buf; every value printed so
 * that parsing the spec gives back exactly the same double. */
HEED_API int heed_strategy_spec(const heed_strategy *s, char *buf, size_t len);

/* Loads a strategy plugin (dlopen + HEED_STRATEGY_PLUGIN_SYMBOL) and
 * registers it. One-line reason in err on failure: HEED_EIO (cannot open),
 * HEED_ESYMBOL (entry point missing), HEED_EVERSION (abi mismatch). */
HEED_API int heed_strategy_plugin_load(const char *path, char *err,
                                       size_t errlen);

/* ---- helpers strategies build on (the best response's pieces) -------- */

/* g = dphi * beta: the best-response bid signal. */
HEED_API void heed_neuron_signal(const heed_neuron *n, float *g);
/* dw[i] = <g, x_i> for every input i: the gradient of the neuron's utility
 * with respect to each weight (for one unit of learning rate). */
HEED_API void heed_neuron_grad(const heed_neuron *n, const float *g,
                               float *dw);
/* w += scale * <g, x_i>;  b += scale * sum(g). */
HEED_API void heed_neuron_ascend(heed_neuron *n, const float *g, float scale);

#ifdef __cplusplus
}
#endif
#endif /* HEED_STRATEGY_H */
