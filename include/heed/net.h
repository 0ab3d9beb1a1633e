/*
 * heed/net.h - a feed-forward network as a society of neuron actors.
 *
 * The network is an input actor, layers of neuron actors (one actor per
 * neuron, each owning its incoming weights, bias, activation, strategy and
 * strategy state), one hub actor per layer that gathers its neurons'
 * messages into one shared block, and a critic actor (softmax
 * cross-entropy). A mini-batch travels up as FORWARD messages and comes back
 * down as attention BIDs; see docs/algorithm.md.
 *
 * The driver functions here (train, eval, ...) are called from one thread
 * that is not a loop thread of the runtime; they block until the network
 * has finished the work.
 */
#ifndef HEED_NET_H
#define HEED_NET_H

#include <stddef.h>
#include <stdint.h>

#include "heed/error.h"
#include "heed/runtime.h"
#include "heed/strategy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum heed_activation {
  HEED_ACT_IDENTITY = 0,
  HEED_ACT_RELU = 1,
  HEED_ACT_TANH = 2,
  HEED_ACT_SIGMOID = 3,
} heed_activation;

HEED_API const char *heed_activation_name(heed_activation a);
/* "relu", "tanh", "sigmoid", "identity" (or "linear"). */
HEED_API int heed_activation_parse(const char *s, heed_activation *out);

/* Weight initialization, drawn from heed_rng (xoshiro256**, seeded by
 * splitmix64) in a fixed order: layer by layer, neuron by neuron.
 * AUTO is He for relu, Xavier otherwise. Biases start at 0 except with
 * TORCH. */
typedef enum heed_init {
  HEED_INIT_AUTO = 0,
  HEED_INIT_HE = 1,     /* normal, std sqrt(2 / fan_in) */
  HEED_INIT_XAVIER = 2, /* uniform, +-sqrt(6 / (fan_in + fan_out)) */
  HEED_INIT_TORCH = 3,  /* PyTorch's nn.Linear default: weights and biases
                           uniform, +-1/sqrt(fan_in) */
} heed_init;

typedef struct heed_net heed_net;

typedef struct heed_net_opts {
  size_t nsizes;               /* layer sizes including input: >= 2 */
  const uint32_t *sizes;       /* sizes[0] inputs ... sizes[nsizes-1] classes */
  const heed_activation *acts; /* nsizes-1 hidden/output activations; NULL:
                                  relu hidden, identity output */
  heed_init init;
  uint64_t seed;
  float lr;
  uint32_t max_batch;       /* largest batch for train or eval; 0 means 1024 */
  const heed_strategy *strategy; /* default for every neuron; NULL means bp */
} heed_net_opts;

typedef struct heed_batch_stats {
  double loss;      /* mean cross-entropy over the batch */
  uint32_t correct; /* argmax hits */
  uint32_t count;
} heed_batch_stats;

/* Builds the network on rt (which must outlive it and may already run). */
HEED_API int heed_net_new(heed_net **np, heed_runtime *rt,
                          const heed_net_opts *opts);
/* Stops the network's actors and frees it. NULL is ignored. */
HEED_API void heed_net_free(heed_net *net);

HEED_API size_t heed_net_nlayers(const heed_net *net); /* weight layers */
/* Size of layer l (0 = input, nlayers = output). */
HEED_API uint32_t heed_net_size(const heed_net *net, size_t l);
HEED_API heed_activation heed_net_activation(const heed_net *net, size_t l);
/* Training steps taken; may be read from any thread while the driver
 * trains (e.g. by a monitor reporting when a worker died). */
HEED_API uint64_t heed_net_step(const heed_net *net);
HEED_API float heed_net_lr(const heed_net *net);
HEED_API void heed_net_set_lr(heed_net *net, float lr);

/* Gives the neurons a strategy: layer 0 means every layer, neuron -1 every
 * neuron of the layer. The net keeps its own reference to s's ops and a
 * copy of its parameters; per-neuron state is reset. Not while a batch is
 * in flight. */
HEED_API int heed_net_set_strategy(heed_net *net, size_t layer, long neuron,
                                   const heed_strategy *s);
/* The strategy ops and parameters neuron (l, j) plays. */
HEED_API const heed_strategy_ops *heed_net_neuron_strategy(
    const heed_net *net, size_t l, uint32_t j, const double **params);

/* One training step on B samples: x is B rows of sizes[0] floats, y B
 * labels. Blocks until every neuron has updated (for async strategies,
 * until the previous batch has, so two batches overlap). In a run over
 * several processes it returns once the critic has judged the batch and
 * the previous batch has finished everywhere, so this batch's bids travel
 * while the next batch's input does (neurons hold that input until they
 * have updated, so the arithmetic is unchanged); heed_net_sync, and every
 * call that reads or changes parameters, waits for the rest. st (loss and
 * accuracy of this batch) may be NULL. */
HEED_API int heed_net_train_batch(heed_net *net, const float *x,
                                  const uint8_t *y, uint32_t batch,
                                  heed_batch_stats *st);
/* Waits until every batch in flight has finished. */
HEED_API int heed_net_sync(heed_net *net);

/* Forward passes without bids over n samples in batches of max_batch;
 * st sums loss (as a mean) and correct. Optional per-sample argmax in
 * pred (n entries) may be NULL. */
HEED_API int heed_net_eval(heed_net *net, const float *x, const uint8_t *y,
                           size_t n, heed_batch_stats *st);
/* Like eval but restricted to a subset of the output units (task-incremental
 * heads): argmax only over classes with mask[c] != 0. */
HEED_API int heed_net_eval_masked(heed_net *net, const float *x,
                                  const uint8_t *y, size_t n,
                                  const uint8_t *mask, heed_batch_stats *st);
/* Restricts training's softmax to classes with mask[c] != 0 (NULL: all). */
HEED_API int heed_net_set_train_mask(heed_net *net, const uint8_t *mask);

/* Sends a control event (enum heed_strategy_event) to every neuron. */
HEED_API int heed_net_control(heed_net *net, int event);

/* Parameters of weight layer l (1..nlayers): w is sizes[l] rows of
 * sizes[l-1] floats, b sizes[l] floats. Either pointer may be NULL. */
HEED_API int heed_net_params_get(const heed_net *net, size_t l, float *w,
                                 float *b);
HEED_API int heed_net_params_set(heed_net *net, size_t l, const float *w,
                                 const float *b);
/* Per-neuron strategy state of neuron (l, j): *len floats copied to out
 * when out is not NULL (call with NULL first to learn the length). */
HEED_API int heed_net_state_get(const heed_net *net, size_t l, uint32_t j,
                                float *out, size_t *len);
HEED_API int heed_net_state_set(heed_net *net, size_t l, uint32_t j,
                                const float *in, size_t len);
HEED_API void heed_net_set_step(heed_net *net, uint64_t step);

/* Attaches a tracer (heed/trace.h) that records every message the
 * network's actors handle; NULL detaches. Waits for the batches in flight
 * first; on a failed net that returns its error at once, and NULL still
 * detaches (t is not attached). The net does not own t; detach or free the
 * net before freeing t (after a failure, free the net: actors may still be
 * finishing messages). */
struct heed_trace;
HEED_API int heed_net_set_trace(heed_net *net, struct heed_trace *t);

/* Debug counters for tests and benchmarks. */
typedef struct heed_net_counters {
  uint64_t messages;     /* messages handled by the network's actors */
  uint32_t max_overlap;  /* most batches a neuron held in flight at once */
} heed_net_counters;
HEED_API void heed_net_counters_get(const heed_net *net,
                                    heed_net_counters *c);


/* ---- one network over several processes --------------------------------
 *
 * Every process of a run builds the same network (same sizes, seed and
 * strategy, so the same initial weights) with the same placement, which
 * says which neurons of each weight layer live on which process: whole
 * layers (weight layer l on process layer_proc[l-1]) or slices (a
 * contiguous range of every layer's neurons on each process, the lowest
 * indices on the lowest process). The input, the critic and the driver
 * live on process 0 (the coordinator). A process spawns actors only for
 * its own neurons. Each process's hub of layer l gathers its own neurons'
 * rows and sends that slice, as one block, to every process that reads
 * layer l's output (forward) or hosts neurons of layer l-1 (bids, cut to
 * the receiver's columns); the receiver puts the slices side by side
 * into the whole block its neurons read. Blocks from the input, the
 * critic and the driver go whole, through a proxy actor. Actors cannot
 * tell a remote peer from a local one; since every block is assembled by
 * index (never summed across processes) and every sum runs in sender
 * order, results are bitwise those of one process.
 */

/* What crosses a process boundary. */
enum heed_wire_kind {
  HEED_WIRE_FORWARD = 1, /* block for the neurons of `layer` (L+1: critic):
                            rows [word, word+rows) of layer `layer`-1 */
  HEED_WIRE_BID = 2,     /* bid block for the neurons of `layer`: rows
                            [word, word+rows) of layer `layer`+1's g, and
                            their coefficients for the receiver's neurons */
  HEED_WIRE_CONTROL = 3, /* control event `word` for the neurons of `layer` */
  HEED_WIRE_DONE = 4,    /* `word` neurons finished `batch` (to process 0) */
  HEED_WIRE_ACK = 5,     /* `word` neurons handled a control event */
  HEED_WIRE_PARAMS = 6,  /* weights, biases and states of neurons
                            [word, word+rows) of `layer` */
  HEED_WIRE_PULL = 7,    /* please send PARAMS of your layers to process 0 */
  HEED_WIRE_FORWARD_Z = 8, /* a FORWARD with its zeros left out: data is a
                              bitmap of rows*stride bits (32 a word, bit b
                              of word i: value 32i+b is not +0.0), then the
                              values that are not, in order */
};

typedef struct heed_wire_msg {
  uint32_t kind;  /* enum heed_wire_kind */
  uint32_t layer;
  uint64_t batch;
  uint64_t word;
  /* FORWARD/BID: the block: header fields and rows*stride + extra floats. */
  uint32_t mode, count, stride, rows, ldc;
  const float *data;
  size_t nfloats;
} heed_wire_msg;

typedef struct heed_net_remote {
  unsigned nprocs;            /* processes in the run (1..64) */
  unsigned self;              /* this process; 0 is the coordinator */
  const unsigned *layer_proc; /* per weight layer l (index l-1); ignored
                                 with share */
  /* Ships m to process `to`. Called from loop threads and the driver
   * thread; must copy what it needs before returning and must not block
   * for long. Returns 0 or a negative error (the net then fails). */
  int (*send)(void *arg, unsigned to, const heed_wire_msg *m);
  void *arg;
  /* Sliced placement, or NULL for whole layers by layer_proc: neurons of
   * weight layer l on process p, share[(l-1)*nprocs + p]; each layer's
   * shares sum to its size. */
  const uint32_t *share;
} heed_net_remote;

/* Builds this process's part of a distributed network. Without remote (or
 * with nprocs == 1) this is heed_net_new. */
HEED_API int heed_net_new_remote(heed_net **np, heed_runtime *rt,
                                 const heed_net_opts *opts,
                                 const heed_net_remote *remote);
/* Hands the net a message that arrived from process `from` (any thread).
 * Nothing a peer sends is trusted: a block must have the shape of the
 * slice it claims (first row, rows, ldc, samples, stride, floats), come
 * from the process hosting those rows and belong to a batch in flight; a
 * bid must answer a forward this process sent, once; DONE, ACK and PARAMS
 * must match the sender's share of the net and what was asked of it.
 * A message that breaks a rule is refused before any actor sees it: the
 * call returns HEED_EPROTO and the net fails as with heed_net_abort
 * (waiting driver calls return HEED_EPEER), since a peer that broke the
 * protocol once cannot be trusted with the rest of the run. */
HEED_API int heed_net_deliver(heed_net *net, unsigned from,
                              const heed_wire_msg *m);
/* heed_net_deliver that also writes a one-line reason for a refusal into
 * why (whylen bytes; "" when the message was accepted). */
HEED_API int heed_net_deliver_why(heed_net *net, unsigned from,
                                  const heed_wire_msg *m, char *why,
                                  size_t whylen);
/* Coordinator: fetches every remote neuron's weights, biases and states
 * into this process's copy (before params_get, checkpoints, exports). */
HEED_API int heed_net_pull(heed_net *net);
/* Coordinator: sends this process's copy of every remote neuron to the
 * process hosting it (after params_set or a checkpoint resume). */
HEED_API int heed_net_push(heed_net *net);
/* Marks the net failed (e.g. a peer died): waiting driver calls return
 * HEED_EPEER. */
HEED_API void heed_net_abort(heed_net *net);

#ifdef __cplusplus
}
#endif
#endif /* HEED_NET_H */
