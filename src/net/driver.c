/*
 * driver.c - feeding batches to the network and waiting for results, and
 * reading or writing its parameters between batches.
 */
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "net/internal.h"
#include "trace/internal.h"

/* Returns the oldest batch still in flight, or UINT64_MAX. */
static uint64_t oldest_inflight(heed_net *net) {
  uint64_t oldest = UINT64_MAX;
  for (int i = 0; i < HEED_HUB_GATHERS; i++)
    if (net->done[i].batch < oldest)
      oldest = net->done[i].batch;
  return oldest;
}

static int is_async(const heed_net *net) {
  for (size_t i = 0; i < net->nplays; i++)
    if (net->plays[i].ops->flags & HEED_STRATEGY_ASYNC)
      return 1;
  return 0;
}

/* Transposes B rows of x into a block with one row per input, padded with
 * zeros to the stride, and sends it with the labels. */
static int submit(heed_net *net, uint32_t mode, const float *x,
                  const uint8_t *y, uint32_t B, const uint8_t *mask,
                  uint64_t *batch_out) {
  heed_runtime *rt = net->rt;
  uint32_t dim = net->sizes[0], C = net->sizes[net->nlayers];
  uint32_t S = heed__stride(B);
  uint64_t batch = net->next_batch;
  heed_buf *xb = NULL, *lb = NULL;
  heed_msg *mx = NULL, *ml = NULL;
  int rv;

  if ((rv = heed__block_alloc(rt, batch, mode, B, S, dim, (size_t)B * dim,
                              &xb)) != 0 ||
      (rv = heed__block_alloc(rt, batch, mode, B, S, 0,
                              (B + C + sizeof(float)) / sizeof(float),
                              &lb)) != 0 ||
      (rv = heed_msg_alloc(rt, &mx, HEED_NET_BATCH)) != 0 ||
      (rv = heed_msg_alloc(rt, &ml, HEED_NET_LABELS)) != 0)
    goto fail;
  float *X = heed__block_data(xb);
  for (uint32_t i = 0; i < dim; i++) {
    float *row = X + (size_t)i * S;
    for (uint32_t s = 0; s < B; s++)
      row[s] = x[(size_t)s * dim + i];
    for (uint32_t s = B; s < S; s++)
      row[s] = 0.0f;
  }
  /* x is already sample-major: it is the block's gradient copy as is */
  memcpy(X + (size_t)dim * S, x, (size_t)B * dim * sizeof *x);
  heed__block_hdr(xb)->xt = 1;
  uint8_t *lab = (uint8_t *)heed__block_data(lb);
  for (uint32_t s = 0; s < B; s++) {
    if (y[s] >= C) {
      rv = HEED_ERANGE;
      goto fail;
    }
    lab[s] = y[s];
  }
  for (uint32_t c = 0; c < C; c++)
    lab[B + c] = mask ? mask[c] != 0 : 1;
  if (mask)
    for (uint32_t s = 0; s < B; s++)
      if (!mask[y[s]]) {
        rv = HEED_ERANGE; /* a label outside the head it is trained on */
        goto fail;
      }

  heed_batch_done *d = &net->done[batch % HEED_HUB_GATHERS];
  pthread_mutex_lock(&net->mu);
  d->batch = batch;
  atomic_store(&d->critic_done, 0);
  atomic_store(&d->updated, 0);
  pthread_mutex_unlock(&net->mu);

  heed_msg_set_word(ml, 0, batch);
  heed_msg_set_buf(ml, lb);
  lb = NULL;
  if ((rv = heed_actor_send(rt, net->critic.self, ml)) != 0)
    goto fail;
  ml = NULL;
  heed_msg_set_word(mx, 0, batch);
  heed_msg_set_word(mx, 1, mode);
  heed_msg_set_buf(mx, xb);
  xb = NULL;
  if ((rv = heed_actor_send(rt, net->input.self, mx)) != 0)
    goto fail;
  net->next_batch++;
  *batch_out = batch;
  return 0;
fail:
  heed_msg_free(mx);
  heed_msg_free(ml);
  heed_buf_release(xb);
  heed_buf_release(lb);
  return rv;
}

static int batch_finished(heed_net *net, heed_batch_done *d, int train) {
  return atomic_load(&d->critic_done) &&
         (!train || atomic_load(&d->updated) == net->total_neurons);
}

/* Waits until batch has finished: judged by the critic and, when
 * `train`, updated by every neuron; the slot is then free. With `judged`
 * only the critic is waited for and the batch stays in flight. */
static int wait_batch(heed_net *net, uint64_t batch, int train, int judged,
                      heed_batch_stats *st);

static int wait_done(heed_net *net, uint64_t batch, int train,
                     heed_batch_stats *st) {
  return wait_batch(net, batch, train, 0, st);
}

static int wait_batch(heed_net *net, uint64_t batch, int train, int judged,
                      heed_batch_stats *st) {
  if (judged)
    train = 0;
  heed_batch_done *d = &net->done[batch % HEED_HUB_GATHERS];
  /* Poll as long as the loops do before blocking: a batch takes about a
   * millisecond, and a sleeping driver would be one more wake-up per
   * batch (heed_runtime_spin_ns). */
  long spin = heed_runtime_spin_ns(net->rt);
  if (spin > 0) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
      if (batch_finished(net, d, train))
        break;
      sched_yield();
      clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) <
             spin);
  }
  pthread_mutex_lock(&net->mu);
  if (d->batch != batch) { /* already waited for */
    pthread_mutex_unlock(&net->mu);
    if (st)
      memset(st, 0, sizeof *st);
    return heed__net_failed(net) ? heed__net_error(net) : 0;
  }
  while (!heed__net_failed(net) && !batch_finished(net, d, train))
    pthread_cond_wait(&net->cv, &net->mu);
  int failed = heed__net_failed(net);
  if (st && !failed)
    *st = d->stats;
  if (!judged)
    d->batch = UINT64_MAX;
  pthread_mutex_unlock(&net->mu);
  return failed ? heed__net_error(net) : 0;
}

int heed_net_sync(heed_net *net) {
  if (!net)
    return HEED_EINVAL;
  uint64_t b;
  int rv = 0;
  net->prev_train = UINT64_MAX;
  while ((b = oldest_inflight(net)) != UINT64_MAX) {
    int r = wait_done(net, b, 1, NULL);
    if (r)
      rv = r;
    if (r)
      break;
  }
  return rv;
}

int heed_net_train_batch(heed_net *net, const float *x, const uint8_t *y,
                         uint32_t B, heed_batch_stats *st) {
  if (!net || !x || !y || B == 0 || B > net->max_batch)
    return HEED_EINVAL;
  if (heed__net_failed(net))
    return heed__net_error(net);
  if (net->remote.self != 0) /* only the coordinator drives */
    return HEED_ESTATE;
  uint64_t batch;
  int rv = submit(net, HEED_MODE_TRAIN, x, y, B, net->train_mask, &batch);
  if (rv)
    return rv;
  heed__count(&net->step);
  if (is_async(net)) {
    /* Keep two training batches moving so forward passes of this batch can
     * overtake the backward pass of the previous one; report that one. */
    uint64_t prev = net->prev_train;
    net->prev_train = batch;
    if (prev == UINT64_MAX) {
      if (st)
        memset(st, 0, sizeof *st);
      return 0;
    }
    return wait_done(net, prev, 1, st);
  }
  if (heed__net_distributed(net)) {
    /* Over processes, report the batch once the critic has judged it and
     * let its bids travel while the next batch's input does: neurons hold
     * that forward until they have updated (C1/C3), so the arithmetic is
     * the same; the previous batch must have finished everywhere. */
    uint64_t prev = net->prev_train;
    net->prev_train = batch;
    if (prev != UINT64_MAX && (rv = wait_done(net, prev, 1, NULL)) != 0)
      return rv;
    return wait_batch(net, batch, 1, 1, st);
  }
  return wait_done(net, batch, 1, st);
}

static int eval_impl(heed_net *net, const float *x, const uint8_t *y,
                     size_t n, const uint8_t *mask, heed_batch_stats *st) {
  if (!net || !x || !y || !st)
    return HEED_EINVAL;
  if (net->remote.self != 0)
    return HEED_ESTATE;
  int rv = heed_net_sync(net);
  if (rv)
    return rv;
  double loss = 0;
  uint64_t correct = 0;
  size_t dim = net->sizes[0];
  for (size_t off = 0; off < n; off += net->max_batch) {
    uint32_t B = (uint32_t)(n - off < net->max_batch ? n - off : net->max_batch);
    uint64_t batch;
    heed_batch_stats bs;
    if ((rv = submit(net, HEED_MODE_EVAL, x + off * dim, y + off, B, mask,
                     &batch)) != 0 ||
        (rv = wait_done(net, batch, 0, &bs)) != 0)
      return rv;
    loss += bs.loss * B;
    correct += bs.correct;
  }
  st->loss = n ? loss / (double)n : 0;
  st->correct = (uint32_t)correct;
  st->count = (uint32_t)n;
  return 0;
}

int heed_net_eval(heed_net *net, const float *x, const uint8_t *y, size_t n,
                  heed_batch_stats *st) {
  return eval_impl(net, x, y, n, NULL, st);
}

int heed_net_eval_masked(heed_net *net, const float *x, const uint8_t *y,
                         size_t n, const uint8_t *mask, heed_batch_stats *st) {
  return eval_impl(net, x, y, n, mask, st);
}

int heed_net_set_train_mask(heed_net *net, const uint8_t *mask) {
  if (!net)
    return HEED_EINVAL;
  int rv = heed_net_sync(net);
  if (rv)
    return rv;
  uint32_t C = net->sizes[net->nlayers];
  if (!mask) {
    heed__free(net->train_mask);
    net->train_mask = NULL;
    return 0;
  }
  int any = 0;
  for (uint32_t c = 0; c < C; c++)
    any |= mask[c] != 0;
  if (!any)
    return HEED_EINVAL;
  if (!net->train_mask && !(net->train_mask = heed__malloc(C)))
    return HEED_ENOMEM;
  memcpy(net->train_mask, mask, C);
  return 0;
}

int heed_net_control(heed_net *net, int event) {
  if (!net)
    return HEED_EINVAL;
  int rv = heed_net_sync(net);
  if (rv)
    return rv;
  pthread_mutex_lock(&net->mu);
  net->control_acks = 0;
  pthread_mutex_unlock(&net->mu);
  for (size_t l = 0; l < net->nlayers; l++) {
    heed_layer *L = &net->layers[l];
    if ((rv = heed_actor_broadcast(net->rt, L->targets, L->ntargets,
                                   HEED_NET_CONTROL, 0, (uint64_t)event,
                                   NULL)) != 0)
      return rv;
  }
  pthread_mutex_lock(&net->mu);
  while (!heed__net_failed(net) && net->control_acks < net->total_neurons)
    pthread_cond_wait(&net->cv, &net->mu);
  rv = heed__net_failed(net) ? heed__net_error(net) : 0;
  pthread_mutex_unlock(&net->mu);
  return rv;
}

/* ---- parameters and introspection ------------------------------------- */

size_t heed_net_nlayers(const heed_net *net) { return net ? net->nlayers : 0; }

uint32_t heed_net_size(const heed_net *net, size_t l) {
  return net && l <= net->nlayers ? net->sizes[l] : 0;
}

heed_activation heed_net_activation(const heed_net *net, size_t l) {
  return net && l >= 1 && l <= net->nlayers ? net->layers[l - 1].act
                                            : HEED_ACT_IDENTITY;
}

uint64_t heed_net_step(const heed_net *net) {
  return net ? atomic_load_explicit(&net->step, memory_order_relaxed) : 0;
}
void heed_net_set_step(heed_net *net, uint64_t step) {
  if (net)
    atomic_store_explicit(&net->step, step, memory_order_relaxed);
}
float heed_net_lr(const heed_net *net) { return net ? net->lr : 0; }
void heed_net_set_lr(heed_net *net, float lr) {
  if (net && heed_net_sync(net) == 0)
    net->lr = lr;
}

static heed_layer *layer_of(const heed_net *net, size_t l) {
  return net && l >= 1 && l <= net->nlayers ? &net->layers[l - 1] : NULL;
}

int heed_net_params_get(const heed_net *net, size_t l, float *w, float *b) {
  heed_layer *L = layer_of(net, l);
  if (!L)
    return HEED_EINVAL;
  if (heed_net_sync((heed_net *)net) != 0)
    return HEED_ESTATE;
  if (w)
    memcpy(w, L->w, (size_t)L->n * L->fan_in * sizeof *w);
  if (b)
    memcpy(b, L->b, L->n * sizeof *b);
  return 0;
}

int heed_net_params_set(heed_net *net, size_t l, const float *w,
                        const float *b) {
  heed_layer *L = layer_of(net, l);
  if (!L)
    return HEED_EINVAL;
  if (heed_net_sync(net) != 0)
    return HEED_ESTATE;
  if (w)
    memcpy(L->w, w, (size_t)L->n * L->fan_in * sizeof *w);
  if (b)
    memcpy(L->b, b, L->n * sizeof *b);
  return 0;
}

int heed_net_state_get(const heed_net *net, size_t l, uint32_t j, float *out,
                       size_t *len) {
  heed_layer *L = layer_of(net, l);
  if (!L || j >= L->n || !len)
    return HEED_EINVAL;
  heed_neuron_actor *na = &L->neurons[j];
  if (out) {
    if (*len < na->nstate)
      return HEED_ERANGE;
    if (na->nstate)
      memcpy(out, na->state, na->nstate * sizeof *out);
  }
  *len = na->nstate;
  return 0;
}

int heed_net_state_set(heed_net *net, size_t l, uint32_t j, const float *in,
                       size_t len) {
  heed_layer *L = layer_of(net, l);
  if (!L || j >= L->n || (len && !in))
    return HEED_EINVAL;
  heed_neuron_actor *na = &L->neurons[j];
  if (len != na->nstate)
    return HEED_ERANGE;
  if (heed_net_sync(net) != 0)
    return HEED_ESTATE;
  if (len)
    memcpy(na->state, in, len * sizeof *in);
  return 0;
}

void heed_net_counters_get(const heed_net *net, heed_net_counters *c) {
  if (!net || !c)
    return;
  const memory_order r = memory_order_relaxed; /* see heed__count */
  uint64_t m = atomic_load_explicit(&net->input.handled, r) +
               atomic_load_explicit(&net->critic.handled, r);
  for (size_t l = 0; l < net->nlayers; l++) {
    m += atomic_load_explicit(&net->layers[l].hub.handled, r);
    for (uint32_t j = 0; j < net->layers[l].n; j++)
      m += atomic_load_explicit(&net->layers[l].neurons[j].handled, r);
  }
  c->messages = m;
  c->max_overlap = atomic_load(&net->max_overlap);
}

int heed_net_set_trace(heed_net *net, struct heed_trace *t) {
  if (!net)
    return HEED_EINVAL;
  /* Detached even when the net has failed (the sync then returns at once
   * with its error): the caller frees the tracer next. */
  int rv = heed_net_sync(net);
  if (rv && t)
    return rv;
  /* The actors are idle: each reports its trace event before the message
   * that can complete a batch (trace_hook.h), so none is still using the
   * old tracer after the sync above (on a worker, after the coordinator's;
   * on a failed net, the caller frees the tracer after the net). */
  heed_trace *old = atomic_exchange_explicit(&net->trace, t,
                                             memory_order_acq_rel);
  if (old && old != t)
    heed__trace_set_runtime(old, NULL); /* the runtime may go next */
  heed__trace_set_runtime(t, net->rt);  /* its loops, in the trace */
  return rv;
}
