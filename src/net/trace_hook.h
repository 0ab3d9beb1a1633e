/*
 * trace_hook.h - how the network's actors report messages to a tracer
 * (internal). Every message an actor handles is reported once, at its
 * receiver, with the time its handling took and the values the receiver
 * takes from it: a row (y_j or g_j) for a row sent to a hub, the attention
 * beta_j for a bid block delivered to neuron j, nothing for a forward block;
 * a bid to a hub also gives its coefficients c_j (who pays whom).
 * Without a tracer (or for a batch the sampler skips) this costs a branch.
 *
 * An actor ends its event before it sends the message (or signals the
 * driver) that can complete a batch: once the batch is complete the driver
 * may detach and free the tracer (heed_net_set_trace). net->trace itself
 * is an atomic pointer: a worker's tracer is attached and detached by the
 * thread that delivers frames, ordered after the actors only through the
 * coordinator.
 */
#ifndef HEED_NET_TRACE_HOOK_H
#define HEED_NET_TRACE_HOOK_H

#include <time.h>

#include "heed/trace.h"
#include "net/internal.h"

static inline uint64_t heed__trace_clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Start time if this (batch, kind) is traced, else 0. */
static inline uint64_t heed__trace_begin(const heed_net *net, uint64_t batch,
                                         uint32_t kind) {
  heed_trace *t = atomic_load_explicit(&net->trace, memory_order_acquire);
  if (!t || !heed_trace_wants(t, batch, kind))
    return 0;
  return heed__trace_clock();
}

static inline heed_trace_who heed__who(uint8_t role, uint32_t layer,
                                       uint32_t index) {
  heed_trace_who w = {role, layer, index};
  return w;
}

/* Ends an event; coef (ncoef of them, or NULL): a bid's coefficients,
 * stored with the values (heed_trace_event.coef). */
static inline void heed__trace_end_coef(heed_net *net, uint64_t t0,
                                        uint64_t batch, uint32_t kind,
                                        heed_trace_who from, heed_trace_who to,
                                        uint32_t fanout, const float *values,
                                        uint32_t count, const float *coef,
                                        uint32_t ncoef) {
  heed_trace *t = atomic_load_explicit(&net->trace, memory_order_acquire);
  if (!t0 || !t) /* not traced, or detached meanwhile (a failed net) */
    return;
  heed_trace_event ev = {
      .t_ns = t0,
      .dur_ns = heed__trace_clock() - t0,
      .batch = batch,
      .kind = kind,
      .sender = from,
      .receiver = to,
      .fanout = fanout,
      .values = values,
      .count = count,
      .loop = (uint32_t)heed_runtime_current_loop(net->rt),
      .coef = coef,
      .ncoef = ncoef,
  };
  heed_trace_record(t, &ev);
}

static inline void heed__trace_end(heed_net *net, uint64_t t0, uint64_t batch,
                                   uint32_t kind, heed_trace_who from,
                                   heed_trace_who to, uint32_t fanout,
                                   const float *values, uint32_t count) {
  heed__trace_end_coef(net, t0, batch, kind, from, to, fanout, values, count,
                       NULL, 0);
}

#endif
