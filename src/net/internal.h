/*
 * internal.h - the network's actors and the messages they exchange.
 *
 * Actors:  driver thread -> input -> [neurons of layer 1] -> hub 1 ->
 *          [neurons of layer 2] -> hub 2 -> ... -> hub L -> critic
 * and bids flow back: critic -> neurons of layer L -> hub L -> neurons of
 * layer L-1 -> ... A hub gathers its layer's per-neuron messages into one
 * block and broadcasts that block (one buffer, many references) to the
 * next layer, so a layer of 256 neurons costs 256 small messages plus one
 * broadcast per direction instead of 256 x 256 messages.
 */
#ifndef HEED_NET_INTERNAL_H
#define HEED_NET_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "heed/net.h"
#include "heed/trace.h"
#include "net/kernels.h"

/* Message types (heed_msg_type). w0 is always the batch id. */
enum heed_net_msg {
  HEED_NET_BATCH = 0x100, /* driver -> input: buf = block, w1 = mode */
  HEED_NET_LABELS,        /* driver -> critic: buf = labels block */
  HEED_NET_FORWARD,       /* input/hub -> neuron, hub -> critic: buf = block;
                             neuron -> hub: buf = one row, w1 = sender */
  HEED_NET_BID,           /* critic/hub -> neuron: buf = block;
                             neuron -> hub: buf = g then c, w1 = sender */
  HEED_NET_CONTROL,       /* driver -> neuron: w1 = event */
  HEED_NET_SLICE_FWD,     /* delivery -> hub: buf = rows of the hub's layer
                             from another process; w1 = the first row, and
                             the process << 32 */
  HEED_NET_SLICE_BID,     /* delivery -> hub: buf = g rows and coefficient
                             rows (this process's columns); w1 as above */
};

enum heed_net_mode { HEED_MODE_TRAIN = 1, HEED_MODE_EVAL = 2 };

/* Every block buffer starts with this header; data follows at 64 bytes. */
typedef struct heed_block {
  uint64_t batch;
  uint32_t mode;   /* enum heed_net_mode */
  uint32_t count;  /* samples B */
  uint32_t stride; /* lanes per row */
  uint32_t rows;   /* rows of stride floats (FORWARD) or of g (BID) */
  uint32_t ldc;    /* BID from a hub: coefficient row length; 0 otherwise */
  uint32_t xt;     /* FORWARD: nonzero when the same values follow sample
                      by sample (count rows of `rows` floats) for the
                      gradient kernel */
  uint32_t pad[8];
} heed_block;

#define HEED_BLOCK_HDR 64
static inline float *heed__block_data(heed_buf *b) {
  return (float *)((char *)heed_buf_data(b) + HEED_BLOCK_HDR);
}
static inline heed_block *heed__block_hdr(heed_buf *b) {
  return (heed_block *)heed_buf_data(b);
}
/* The sample-major copy of a FORWARD block, or NULL. */
static inline const float *heed__block_xt(heed_buf *b) {
  const heed_block *h = heed__block_hdr(b);
  return h->xt ? heed__block_data(b) + (size_t)h->rows * h->stride : NULL;
}
/* Fills the sample-major copy from the input-major rows, 16 rows at a
 * time: each sample's 16 values land in one cache line, and the 16 rows
 * read stay in L1 across the samples (row by row, every write touched
 * another line: 1,024 rows of 128 samples is 512 KiB of scattered
 * writes). */
static inline void heed__block_fill_xt(heed_buf *b) {
  heed_block *h = heed__block_hdr(b);
  const float *x = heed__block_data(b);
  float *xt = heed__block_data(b) + (size_t)h->rows * h->stride;
  for (uint32_t i0 = 0; i0 < h->rows; i0 += 16) {
    uint32_t i1 = h->rows - i0 < 16 ? h->rows : i0 + 16;
    for (uint32_t s = 0; s < h->count; s++)
      for (uint32_t i = i0; i < i1; i++)
        xt[(size_t)s * h->rows + i] = x[(size_t)i * h->stride + s];
  }
  h->xt = 1;
}

/* Strategies in use: a neuron points at one of these. */
typedef struct heed_net_play {
  const heed_strategy_ops *ops;
  double params[HEED_STRATEGY_MAX_PARAMS];
} heed_net_play;

/* A batch a neuron has forwarded and awaits bids for. */
typedef struct heed_slot {
  uint64_t batch;
  heed_buf *x; /* the input block, held until the update */
  uint32_t count, stride;
  int busy;
  float *z, *y, *dphi; /* max_stride each */
} heed_slot;

#define HEED_NET_SLOTS 2     /* batches a neuron can hold at once */
#define HEED_NET_INFLIGHT 2  /* batches the driver keeps in flight */

typedef struct heed_layer heed_layer;
typedef struct heed_net heed_net;

typedef struct heed_neuron_actor {
  heed_net *net;
  heed_layer *layer;
  uint32_t index;
  heed_actor self;
  const heed_net_play *play;
  float *state;
  size_t nstate;
  uint64_t step;
  _Atomic uint64_t handled; /* messages, for counters (heed__count) */
  float *beta;      /* max_stride: attention received */
  float *g_local;   /* max_stride: bid signal when nobody listens (layer 1) */
  float *scratch;   /* fan_in floats for the strategy */
  heed_slot slots[HEED_NET_SLOTS];
  /* FORWARD messages held back until a slot is free (C1/C3 barrier) */
  heed_msg **deferred;
  size_t ndeferred, capdeferred;
  uint32_t inflight;
  /* Cohorts: a neighbour on the same loop may compute this neuron's z for
   * a batch together with its own (one pass over the shared block). */
  float *pre_z;        /* max_stride */
  uint64_t pre_batch;
  int pre_valid;
  uint64_t seen;       /* 1 + the last batch this neuron forwarded; 0: none */
  /* The same for the attention sum of a bid block. */
  float *pre_beta;     /* max_stride */
  uint64_t pre_beta_batch;
  int pre_beta_valid;
  /* And for the gradient: <pre_g, x_i> for the batch's inputs, where
   * pre_g is the signal the neighbour predicted (net/neuron.c). */
  float *pre_g;        /* max_stride */
  float *pre_dw;       /* fan_in */
  uint64_t pre_dw_batch;
  int pre_dw_valid;
} heed_neuron_actor;

/* A hub's block under construction for one batch. */
typedef struct heed_gather {
  uint64_t batch;
  heed_buf *buf;
  uint32_t have;  /* rows filled */
  uint32_t local; /* of them, rows from this process's neurons */
  uint64_t peers; /* processes whose slice is in (one each) */
  int used;
} heed_gather;

#define HEED_HUB_GATHERS 4

typedef struct heed_hub {
  heed_net *net;
  heed_layer *layer;
  heed_actor self;
  heed_gather fwd[HEED_HUB_GATHERS];
  heed_gather bid[HEED_HUB_GATHERS];
  _Atomic uint64_t handled;
  /* Rows that complete a gather: the whole layer when this process has a
   * reader for the block (neurons of the next or previous layer, or the
   * critic), else only its own slice, which it sends on and forgets. */
  uint32_t need_fwd, need_bid;
  float *pack; /* a bid slice cut to one peer's columns, before sending */
} heed_hub;

struct heed_layer {
  uint32_t l;      /* 1-based */
  uint32_t n;      /* neurons */
  uint32_t fan_in; /* neurons of layer l-1 */
  heed_activation act;
  float *w;        /* n rows of fan_in */
  float *b;        /* n */
  heed_neuron_actor *neurons;
  heed_actor *handles; /* of the neurons, for broadcasts ([lo, hi) here) */
  heed_hub hub;
  /* Neurons [lo, hi) live on this process (placement: net->first). */
  uint32_t lo, hi;
  int local;           /* lo < hi */
  /* Where messages from the input, the critic and the driver for this
   * layer's neurons go: the local neurons, then one proxy actor per other
   * process hosting some of them (only process 0 has proxies). */
  heed_actor *targets;
  uint32_t ntargets;
};

typedef struct heed_critic {
  heed_net *net;
  heed_actor self;
  struct {
    uint64_t batch;
    heed_buf *labels;
    heed_buf *logits;
    int used;
  } pending[HEED_HUB_GATHERS];
  _Atomic uint64_t handled;
} heed_critic;

typedef struct heed_input {
  heed_net *net;
  heed_actor self;
  _Atomic uint64_t handled;
} heed_input;

/* Per-batch completion, filled by actors and awaited by the driver. */
typedef struct heed_batch_done {
  uint64_t batch;
  _Atomic uint32_t updated; /* neurons done with the batch */
  _Atomic int critic_done; /* polled by the driver without the lock */
  heed_batch_stats stats;
} heed_batch_done;

struct heed_net {
  heed_runtime *rt;
  const heed_kernels *k;
  size_t nlayers; /* weight layers L */
  uint32_t *sizes;
  heed_layer *layers; /* [0..L-1] for layers 1..L */
  heed_input input;
  heed_critic critic;
  uint32_t max_batch, max_stride;
  uint32_t threads; /* runtime loops, for cohorts */
  float lr;
  uint64_t seed;
  uint64_t next_batch; /* id of the next batch the driver sends */
  uint64_t prev_train; /* async: the training batch still in flight */
  /* Written by the driver only, read from any thread (a monitor reports
   * the step a worker died at): relaxed, a number that needs no order. */
  _Atomic uint64_t step;
  uint32_t total_neurons;
  uint8_t *train_mask; /* classes; NULL = all */

  /* Distributed runs (net/remote.c); nprocs == 1 when all is local.
   * Placement: neurons [first[(l-1)*(nprocs+1) + p], ...[.. + p + 1]) of
   * layer l live on process p; whole-layer placement is the case where
   * one process has them all. */
  heed_net_remote remote;
  uint32_t *first;
  int sliced;                 /* some layer is split between processes */
  uint32_t local_neurons;     /* neurons this process hosts */
  struct heed_proxy *proxies; /* process 0: [(l-1)*nprocs + p] */
  struct heed_await *awaits;  /* [(l-1)*nprocs + p]: bids for layer l due
                                 from process p (net/remote.c) */
  _Atomic uint32_t worker_done[HEED_HUB_GATHERS]; /* per batch, on workers */
  _Atomic uint32_t worker_acks;
  uint32_t pull_pending;

  heed_net_play *plays;
  size_t nplays, capplays;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  heed_batch_done done[HEED_HUB_GATHERS];
  uint32_t control_acks;
  /* Set under mu (with a broadcast of cv), read anywhere: */
  _Atomic int failed;  /* an actor hit an error (e.g. out of memory) */
  _Atomic int aborted; /* a peer process died (heed_net_abort) */

  /* The tracer, or NULL. Written by heed_net_set_trace (release), read by
   * the actors (acquire; trace_hook.h). Atomic because on a worker, or on a
   * failed net, the write is not ordered after the actors' last reads by
   * anything in this process. Not owned. */
  _Atomic(heed_trace *) trace;
  _Atomic uint64_t messages;
  _Atomic uint32_t max_overlap;
};

/* A proxy actor on process 0: forwards whole blocks from the input, the
 * critic and the driver for the neurons of `layer` that process `proc`
 * hosts. */
typedef struct heed_proxy {
  heed_net *net;
  uint32_t layer;
  unsigned proc;
  heed_actor self;
  int pulling; /* coordinator: a PARAMS answer is due; under net->mu */
} heed_proxy;

/* Training batches whose activations this process sent to another one
 * (a hub's slice, or the output to the critic) and whose bids have not
 * come back: a BID from that peer must answer one of them, once, with the
 * same samples (net/remote.c). Guarded by net->mu. */
#define HEED_PROXY_AWAIT 8
typedef struct heed_await {
  struct {
    uint64_t batch;
    uint32_t count;
    int used;
  } e[HEED_PROXY_AWAIT];
} heed_await;

#define HEED_NET_MAX_PROCS 64 /* processes a net spans (heed_gather.peers) */

static inline int heed__net_distributed(const heed_net *net) {
  return net->remote.nprocs > 1;
}

/* Neurons [heed__lo, heed__hi) of layer l (1..L) live on process p. */
static inline uint32_t heed__lo(const heed_net *net, size_t l, unsigned p) {
  return net->first[(l - 1) * (net->remote.nprocs + 1) + p];
}
static inline uint32_t heed__hi(const heed_net *net, size_t l, unsigned p) {
  return net->first[(l - 1) * (net->remote.nprocs + 1) + p + 1];
}
static inline uint32_t heed__share(const heed_net *net, size_t l,
                                   unsigned p) {
  return heed__hi(net, l, p) - heed__lo(net, l, p);
}

/* Hub side of the placement (net/remote.c): sends this process's finished
 * slice of a gather to every other process that reads the block. */
int heed__hub_send_fwd(heed_hub *hub, heed_gather *g);
int heed__hub_send_bid(heed_hub *hub, heed_gather *g);

/* Adds one to a counter that one thread writes and others may read (the
 * messages an actor handled, on its loop; the driver's step): a relaxed
 * load and store suffice, with no locked add on the hot path. Readers load
 * it relaxed: a statistic, exact once the net is synced. */
static inline void heed__count(_Atomic uint64_t *c) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                        memory_order_relaxed);
}

/* Whether the net has failed (any thread; pairs with heed__net_fail). */
static inline int heed__net_failed(const heed_net *net) {
  return atomic_load_explicit(&net->failed, memory_order_acquire);
}

/* The error a driver call returns once the net has failed. */
static inline int heed__net_error(const heed_net *net) {
  return atomic_load_explicit(&net->aborted, memory_order_acquire)
             ? HEED_EPEER
             : HEED_ESTATE;
}

/* Actor behaviours. */
void heed__proxy_behaviour(heed_runtime *rt, heed_actor self, void *state,
                           heed_msg *msg);
void heed__neuron_behaviour(heed_runtime *rt, heed_actor self, void *state,
                            heed_msg *msg);
void heed__hub_behaviour(heed_runtime *rt, heed_actor self, void *state,
                         heed_msg *msg);
void heed__critic_behaviour(heed_runtime *rt, heed_actor self, void *state,
                            heed_msg *msg);
void heed__input_behaviour(heed_runtime *rt, heed_actor self, void *state,
                           heed_msg *msg);

/* Completion signals to the driver. */
void heed__net_neuron_done(heed_net *net, uint64_t batch);
void heed__net_critic_done(heed_net *net, uint64_t batch,
                           const heed_batch_stats *st);
void heed__net_control_ack(heed_net *net);
void heed__net_fail(heed_net *net);
/* Takes and drops net->mu. A worker's actors write weights and states,
 * then the last of them reports DONE or ACK; the coordinator may then PULL,
 * and the thread delivering that frame reads them (deliver_pull). The
 * frames order the two, but through another process, which neither this
 * process's memory model nor ThreadSanitizer sees: the reporting loop
 * calls this before it sends, the delivering thread before it reads. */
void heed__net_handoff(heed_net *net);

/* Allocates a block buffer with a header for `rows` rows of `stride`
 * floats plus `extra` floats. */
int heed__block_alloc(heed_runtime *rt, uint64_t batch, uint32_t mode,
                      uint32_t count, uint32_t stride, uint32_t rows,
                      size_t extra, heed_buf **out);

/* Activation and its derivative over n lanes. */
void heed__activate(heed_activation a, const float *z, float *y, float *dphi,
                    size_t n);

#endif
