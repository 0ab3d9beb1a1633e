/* actor.c - spawn, stop and send.
 *
 * A send from a loop thread to an actor on the same loop appends to the
 * mailbox directly; any other send goes through the target loop's MPSC
 * queue. Flow control is decided here (see heed/runtime.h): the sender
 * parks, blocks, or gets HEED_EAGAIN, and the message is never dropped.
 */
#include "common/alloc.h"
#include "runtime/internal.h"

int heed_actor_spawn(heed_runtime *rt, const heed_actor_spec *spec,
                     heed_actor *out) {
  if (out != NULL)
    *out = HEED_ACTOR_NONE;
  if (rt == NULL || spec == NULL || spec->fn == NULL || out == NULL ||
      spec->loop < -1 || spec->loop >= (int)rt->nloops)
    return HEED_EINVAL;
  if (atomic_load_explicit(&rt->state, memory_order_acquire) >=
      HEED__RT_STOPPING)
    return HEED_ECLOSED;
  unsigned loop = spec->loop >= 0
                      ? (unsigned)spec->loop
                      : atomic_fetch_add_explicit(&rt->rr, 1,
                                                  memory_order_relaxed) %
                            rt->nloops;
  heed__actor *a;
  int rc = heed__table_alloc(rt, spec->fini, &a);
  if (rc != 0)
    return rc;
  a->fn = spec->fn;
  a->state = spec->state;
  a->mtail = NULL;
  a->waiters = NULL;
  atomic_store_explicit(&a->len, 0, memory_order_relaxed);
  a->loop = (uint8_t)loop;
  a->flags = 0;
  /* Publishes the fields above to any thread that looks the id up. */
  atomic_store_explicit(&a->st, HEED__ST_LIVE, memory_order_release);
  out->id = heed__actor_id(a);
  return 0;
}

static inline uint32_t mailbox_total(const heed__actor *a) {
  return atomic_load_explicit(&a->len, memory_order_relaxed) +
         atomic_load_explicit(&a->remote, memory_order_relaxed);
}

/* Cross-loop (or cross-thread) enqueue. */
static void post(heed_runtime *rt, heed__actor *a, heed_msg *m) {
  atomic_fetch_add_explicit(&a->remote, 1, memory_order_relaxed);
  heed__loop *dst = rt->loops[a->loop];
  heed__mpsc_push(&dst->inq, &m->node);
  heed__loop_notify(dst);
}

/* A thread that is not a loop thread sent to a full mailbox: its message
 * carries b to the target's loop, which releases b once the mailbox has
 * drained to half (or the actor is gone). Once the loops are joined nobody
 * will, and the runtime is stopping anyway. No timeout: see sched.c. */
static void wait_released(heed_runtime *rt, heed__blocker *b) {
  uv_mutex_lock(&rt->block_mu);
  while (!b->released && !rt->joined)
    uv_cond_wait(&rt->block_cv, &rt->block_mu);
  uv_mutex_unlock(&rt->block_mu);
}

/* Sends from a thread that is not one of rt's loops. `senders` lets
 * heed_runtime_stop() wait until no such thread is touching the queues. */
static int send_outside(heed_runtime *rt, heed_actor to, heed_msg *msg,
                        int try_only) {
  heed__actor *a;
  int rc;
  atomic_fetch_add(&rt->senders, 1);
  if (atomic_load(&rt->state) >= HEED__RT_STOPPING) {
    rc = HEED_ECLOSED;
    goto out;
  }
  rc = heed__lookup(rt, to.id, &a, 0);
  if (rc != 0)
    goto out;
  int full = mailbox_total(a) >= rt->limit;
  if (full && try_only) {
    rc = HEED_EAGAIN;
    goto out;
  }
  /* Before start nobody can drain, and blocking here would deadlock the
   * thread that is about to start the runtime: accept the message. */
  int block = full && atomic_load(&rt->state) == HEED__RT_RUNNING;
  heed__blocker b = {NULL, NULL, 0};
  msg->to = to.id;
  msg->sender = block ? (uint64_t)(uintptr_t)&b : 0;
  msg->flags = block ? HEED__MSG_BLOCK : 0;
  post(rt, a, msg);
  if (block)
    wait_released(rt, &b);
out:
  atomic_fetch_sub(&rt->senders, 1);
  return rc;
}

static int send_msg(heed_runtime *rt, heed_actor to, heed_msg *msg, int try_only) {
  if (rt == NULL || msg == NULL)
    return HEED_EINVAL;
  heed__loop *l = heed__here(rt);
  if (l == NULL)
    return send_outside(rt, to, msg, try_only);
  heed__actor *a;
  int rc = heed__lookup(rt, to.id, &a, 0);
  if (rc != 0)
    return rc;
  heed__actor *cur = heed__tls.cur;
  uint32_t len = atomic_load_explicit(&a->len, memory_order_relaxed);
  int full = len + atomic_load_explicit(&a->remote, memory_order_relaxed) >=
             rt->limit;
  if (full && try_only)
    return HEED_EAGAIN;
  msg->to = to.id;
  msg->sender = heed__tls.cur_id;
  msg->flags = 0;
  /* Park the sending actor (once per handler; never on its own mailbox,
   * which only it could drain). */
  int park = full && cur != NULL && cur != a && !(cur->flags & HEED__F_PARKING);
  if (a->loop == l->idx) {
    heed__mailbox_push(a, msg);
    atomic_store_explicit(&a->len, len + 1, memory_order_relaxed);
    heed__loop_queued(l, 1, len + 1);
    heed__schedule(l, a);
    if (park) {
      cur->flags |= HEED__F_PARKING;
      atomic_store_explicit(&cur->node.next, (heed__node *)a->waiters,
                            memory_order_relaxed);
      a->waiters = cur;
    }
    return 0;
  }
  if (park) {
    /* The target's loop registers us as a waiter when the message lands. */
    cur->flags |= HEED__F_PARKING;
    msg->flags = HEED__MSG_PARK;
  }
  post(rt, a, msg);
  return 0;
}

int heed_actor_send(heed_runtime *rt, heed_actor to, heed_msg *msg) {
  return send_msg(rt, to, msg, 0);
}

int heed_actor_try_send(heed_runtime *rt, heed_actor to, heed_msg *msg) {
  return send_msg(rt, to, msg, 1);
}

int heed_actor_broadcast(heed_runtime *rt, const heed_actor *to, size_t n,
                         uint32_t type, uint64_t w0, uint64_t w1,
                         heed_buf *buf) {
  if (rt == NULL || (to == NULL && n > 0))
    return HEED_EINVAL;
  for (size_t i = 0; i < n; i++) {
    heed_msg *m;
    int rc = heed_msg_alloc(rt, &m, type);
    if (rc != 0)
      return rc;
    m->w[0] = w0;
    m->w[1] = w1;
    m->buf = heed_buf_hold(buf);
    rc = heed_actor_send(rt, to[i], m);
    if (rc != 0) {
      heed_msg_free(m);
      return rc;
    }
  }
  return 0;
}

/* nng's convention: stop waits until the object is idle. A thread that is
 * not a loop thread waits until the actor's loop has destroyed it (fini has
 * returned), so the caller may free the actor's state right after. Loop
 * threads never wait: that could deadlock two loops stopping each other's
 * actors. */
static void wait_destroyed(heed_runtime *rt, heed__actor *a, uint64_t id) {
  /* destroy() changes the generation, then broadcasts under block_mu; the
   * runtime's stop changes the state, then does the same. */
  uv_mutex_lock(&rt->block_mu);
  while (atomic_load(&a->gen) == (uint32_t)(id >> 32) &&
         atomic_load(&rt->state) == HEED__RT_RUNNING)
    uv_cond_wait(&rt->block_cv, &rt->block_mu);
  uv_mutex_unlock(&rt->block_mu);
}

int heed_actor_stop(heed_runtime *rt, heed_actor h) {
  if (rt == NULL)
    return HEED_EINVAL;
  heed__actor *a;
  int rc = heed__lookup(rt, h.id, &a, 1);
  heed__loop *l = heed__here(rt);
  if (rc == 1) {
    /* Already stopping (another thread asked): still wait like it does. */
    if (l == NULL) {
      atomic_fetch_add(&rt->senders, 1);
      if (atomic_load(&rt->state) == HEED__RT_RUNNING)
        wait_destroyed(rt, a, h.id);
      atomic_fetch_sub(&rt->senders, 1);
    }
    return 0;
  }
  if (rc == HEED_ECLOSED)
    return 0; /* already stopped */
  if (rc != 0)
    return rc;
  uint8_t live = HEED__ST_LIVE;
  if (l != NULL && a->loop == l->idx) {
    /* On its own loop: the scheduler destroys it when it next runs (after
     * the current handler if it is stopping itself). */
    if (atomic_compare_exchange_strong(&a->st, &live, HEED__ST_STOPPING))
      heed__schedule(l, a);
    return 0;
  }
  if (l == NULL)
    atomic_fetch_add(&rt->senders, 1);
  if (atomic_load(&rt->state) >= HEED__RT_STOPPING) {
    /* Loops are gone: heed_runtime_free() will call fini. */
    atomic_compare_exchange_strong(&a->st, &live, HEED__ST_STOPPING);
    rc = 0;
    goto out;
  }
  /* Another thread: a control message makes the owner loop run it. */
  heed_msg *m;
  rc = heed_msg_alloc(rt, &m, 0);
  if (rc != 0)
    goto out;
  if (!atomic_compare_exchange_strong(&a->st, &live, HEED__ST_STOPPING)) {
    heed_msg_free(m);
    goto out;
  }
  m->to = h.id;
  m->flags = HEED__MSG_STOP;
  post(rt, a, m);
  if (l == NULL)
    wait_destroyed(rt, a, h.id);
out:
  if (l == NULL)
    atomic_fetch_sub(&rt->senders, 1);
  return rc;
}

heed_actor heed_actor_self(void) { return (heed_actor){heed__tls.cur_id}; }

int heed_actor_loop(heed_runtime *rt, heed_actor h) {
  if (rt == NULL)
    return HEED_EINVAL;
  heed__actor *a;
  int rc = heed__lookup(rt, h.id, &a, 1);
  return rc < 0 ? rc : a->loop;
}
