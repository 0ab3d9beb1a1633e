/* sched.c - one loop: mailboxes, the run queue, turns, wake-ups, shutdown.
 *
 * Everything here runs on the loop's own thread except heed__loop_notify()
 * and the shutdown functions (which run after the thread is joined), so
 * mailboxes, the run queue and actor flags need no atomics beyond what
 * other threads read (the mailbox length, for flow control).
 *
 * Sleep protocol: `notified` is 1 while the loop is awake and will poll its
 * queues again before sleeping. A producer pushes, then exchanges the flag
 * to 1 and only calls uv_async_send() if it was 0, so a busy loop gets no
 * syscalls. Before sleeping the loop stores 0 and checks the queues once
 * more (all seq_cst), so a push can never be missed.
 *
 * Flow control: an actor that sent to a full mailbox is parked in that
 * mailbox's waiter list; a thread that did is a heed__blocker in the
 * target loop's `blockers` list. Both are registered when the message
 * lands (on this loop) and released here when the mailbox drains to half,
 * so the decision to wake never races with the decision to wait.
 */
#include "runtime/internal.h"

#include <sched.h>

/* Messages one loop handles before returning to libuv, so timers and I/O
 * sharing the loop still run while actors are busy. */
#define TURN_MSGS 16384

_Thread_local struct heed__tls heed__tls;

/* ---- mailbox and run queue (owner loop only) ---------------------------- */

static inline heed__node *link_of(void *p) { return (heed__node *)p; }

static inline void *next_of(void *p) {
  return atomic_load_explicit(&link_of(p)->next, memory_order_relaxed);
}

static inline void set_next(void *p, void *n) {
  atomic_store_explicit(&link_of(p)->next, (heed__node *)n,
                        memory_order_relaxed);
}

/* The mailbox is a circular list addressed by its tail: one pointer per
 * actor instead of two keeps the actor in one cache line. */
void heed__mailbox_push(heed__actor *a, heed_msg *m) {
  heed_msg *t = a->mtail;
  if (t == NULL) {
    set_next(m, m);
  } else {
    set_next(m, next_of(t));
    set_next(t, m);
  }
  a->mtail = m;
}

static inline heed_msg *mailbox_pop(heed__actor *a) {
  heed_msg *t = a->mtail;
  heed_msg *h = next_of(t);
  if (h == t)
    a->mtail = NULL;
  else
    set_next(t, next_of(h));
  return h;
}

static inline void runq_push(heed__loop *l, heed__actor *a) {
  set_next(a, NULL);
  if (l->rq_tail != NULL)
    set_next(l->rq_tail, a);
  else
    l->rq_head = a;
  l->rq_tail = a;
  l->rq_n++;
}

static inline heed__actor *runq_pop(heed__loop *l) {
  heed__actor *a = l->rq_head;
  l->rq_head = next_of(a);
  if (l->rq_head == NULL)
    l->rq_tail = NULL;
  l->rq_n--;
  return a;
}

void heed__schedule(heed__loop *l, heed__actor *a) {
  if (a->flags & (HEED__F_RUNQ | HEED__F_RUNNING | HEED__F_PARKING |
                  HEED__F_PARKED))
    return;
  a->flags |= HEED__F_RUNQ;
  runq_push(l, a);
}

/* ---- wake-ups ------------------------------------------------------------ */

void heed__loop_notify(heed__loop *l) {
  if (atomic_exchange(&l->notified, 1) == 0)
    uv_async_send(&l->async);
}

/* On a's own loop: a may run again. */
static void wake_local(heed__loop *l, heed__actor *a) {
  if (a->flags & HEED__F_PARKING) {
    /* Still inside the handler that parked it: cancel the park. */
    a->flags &= (uint8_t)~HEED__F_PARKING;
    return;
  }
  a->flags &= (uint8_t)~HEED__F_PARKED;
  if (a->mtail != NULL ||
      atomic_load_explicit(&a->st, memory_order_relaxed) != HEED__ST_LIVE)
    heed__schedule(l, a);
}

void heed__wake(heed__loop *from, heed__actor *a) {
  if (a->loop == from->idx) {
    wake_local(from, a);
    return;
  }
  heed__loop *dst = from->rt->loops[a->loop];
  heed__mpsc_push(&dst->wakeq, &a->node);
  heed__loop_notify(dst);
}

static void wake_waiters(heed__loop *l, heed__actor *a) {
  heed__actor *w = a->waiters;
  a->waiters = NULL;
  while (w != NULL) {
    heed__actor *next = next_of(w);
    heed__wake(l, w);
    w = next;
  }
}

void heed__signal_blocked(heed_runtime *rt) {
  uv_mutex_lock(&rt->block_mu);
  uv_cond_broadcast(&rt->block_cv);
  uv_mutex_unlock(&rt->block_mu);
}

/* Releases the threads blocked on a and wakes every thread waiting on
 * block_cv, so a stopper sees a destroyed actor too. A blocker is not
 * touched once `released` is set: its thread may return and its stack
 * frame go at once. */
static void release_blockers(heed__loop *l, const heed__actor *a) {
  heed_runtime *rt = l->rt;
  uv_mutex_lock(&rt->block_mu);
  heed__blocker **pp = &l->blockers;
  while (*pp != NULL) {
    heed__blocker *b = *pp;
    if (b->target == a) {
      *pp = b->next;
      b->released = 1;
    } else {
      pp = &b->next;
    }
  }
  uv_cond_broadcast(&rt->block_cv);
  uv_mutex_unlock(&rt->block_mu);
}

/* A message from a blocked thread landed in a's mailbox, which now holds
 * `total` messages: the thread waits until it drains to half. */
static void add_blocker(heed__loop *l, heed__actor *a, heed_msg *m,
                        uint32_t total) {
  heed__blocker *b = (heed__blocker *)(uintptr_t)m->sender;
  m->sender = 0; /* the behaviour sees a message from no actor */
  m->flags &= ~(uint32_t)HEED__MSG_BLOCK;
  b->target = a;
  b->next = l->blockers;
  l->blockers = b;
  if (total <= l->rt->half)
    release_blockers(l, a);
}

/* After a pop: a mailbox that drained to half its watermark releases the
 * actors parked on it and the threads blocked on it. */
static inline void after_pop(heed_runtime *rt, heed__loop *l, heed__actor *a,
                             uint32_t len) {
  if (a->waiters == NULL && l->blockers == NULL)
    return;
  uint32_t total =
      len + atomic_load_explicit(&a->remote, memory_order_relaxed);
  if (total > rt->half)
    return;
  if (a->waiters != NULL)
    wake_waiters(l, a);
  for (heed__blocker *b = l->blockers; b != NULL; b = b->next)
    if (b->target == a) {
      release_blockers(l, a);
      break;
    }
}

/* ---- delivery of cross-loop messages ------------------------------------ */

static void deliver(heed__loop *l, heed_msg *m) {
  heed_runtime *rt = l->rt;
  heed__actor *a = heed__slot(rt, (uint32_t)m->to);
  atomic_fetch_sub_explicit(&a->remote, 1, memory_order_relaxed);
  int same_gen = atomic_load_explicit(&a->gen, memory_order_relaxed) ==
                 (uint32_t)(m->to >> 32);
  if (!same_gen ||
      atomic_load_explicit(&a->st, memory_order_relaxed) != HEED__ST_LIVE) {
    /* Stopped or gone: drop it, and make sure its sender is not left
     * parked on a mailbox that will never drain. */
    if (m->flags & HEED__MSG_PARK)
      heed__wake(l, heed__slot(rt, (uint32_t)m->sender));
    if (m->flags & HEED__MSG_BLOCK)
      add_blocker(l, a, m, 0); /* released at once */
    if (same_gen)
      heed__schedule(l, a); /* a stopping actor is destroyed when run */
    heed_msg_free(m);
    return;
  }
  uint32_t len = atomic_load_explicit(&a->len, memory_order_relaxed) + 1;
  heed__mailbox_push(a, m);
  atomic_store_explicit(&a->len, len, memory_order_relaxed);
  heed__loop_queued(l, 1, len);
  if (m->flags & HEED__MSG_PARK) {
    heed__actor *w = heed__slot(rt, (uint32_t)m->sender);
    m->flags &= ~(uint32_t)HEED__MSG_PARK;
    uint32_t total =
        len + atomic_load_explicit(&a->remote, memory_order_relaxed);
    if (total > rt->half) {
      set_next(w, a->waiters);
      a->waiters = w;
    } else {
      heed__wake(l, w);
    }
  }
  if (m->flags & HEED__MSG_BLOCK)
    add_blocker(l, a, m,
                len + atomic_load_explicit(&a->remote, memory_order_relaxed));
  heed__schedule(l, a);
}

/* Returns nonzero if a producer was caught mid-push (poll again soon). */
static int drain_incoming(heed__loop *l) {
  int busy = 0;
  heed__node *n;
  while ((n = heed__mpsc_pop(&l->inq, &busy)) != NULL)
    deliver(l, (heed_msg *)n);
  while ((n = heed__mpsc_pop(&l->wakeq, &busy)) != NULL)
    wake_local(l, (heed__actor *)n);
  return busy;
}

/* ---- running actors ------------------------------------------------------ */

static void free_mailbox(heed__actor *a) {
  while (a->mtail != NULL)
    heed_msg_free(mailbox_pop(a));
  atomic_store_explicit(&a->len, 0, memory_order_relaxed);
}

static void destroy(heed__loop *l, heed__actor *a) {
  heed_runtime *rt = l->rt;
  uint64_t q = atomic_load_explicit(&l->st_queued, memory_order_relaxed),
           n = atomic_load_explicit(&a->len, memory_order_relaxed);
  atomic_store_explicit(&l->st_queued, q > n ? q - n : 0,
                        memory_order_relaxed);
  free_mailbox(a);
  wake_waiters(l, a);
  heed_actor_fini_fn fini = heed__table_fini(rt, a->fini);
  void *state = a->state;
  a->fn = NULL;
  a->state = NULL;
  a->flags = 0;
  if (fini != NULL)
    fini(state);
  heed__table_release(rt, a);
  /* The generation changed before this lock is taken: a stopper waiting
   * in heed_actor_stop() checks it under the same lock, so it either sees
   * it or is already waiting for this broadcast. Threads blocked sending to
   * a are released too. Destroying is rare: the lock is cheap here. */
  release_blockers(l, a);
}

static unsigned run_actor(heed__loop *l, heed__actor *a) {
  heed_runtime *rt = l->rt;
  unsigned n = 0;
  a->flags = (uint8_t)((a->flags & ~HEED__F_RUNQ) | HEED__F_RUNNING);
  if (atomic_load_explicit(&a->st, memory_order_relaxed) == HEED__ST_LIVE) {
    heed_actor self = {heed__actor_id(a)};
    heed__tls.cur = a;
    heed__tls.cur_id = self.id;
    unsigned budget = rt->budget;
    while (n < budget && a->mtail != NULL) {
      heed_msg *m = mailbox_pop(a);
      uint32_t len = atomic_load_explicit(&a->len, memory_order_relaxed) - 1;
      atomic_store_explicit(&a->len, len, memory_order_relaxed);
      after_pop(rt, l, a, len);
      heed__loop_queued(l, -1, 0);
      n++;
      a->fn(rt, self, a->state, m);
      if ((a->flags & HEED__F_PARKING) ||
          atomic_load_explicit(&a->st, memory_order_relaxed) != HEED__ST_LIVE)
        break;
    }
    heed__tls.cur = NULL;
    heed__tls.cur_id = 0;
  }
  a->flags &= (uint8_t)~HEED__F_RUNNING;
  atomic_store_explicit(
      &l->st_handled,
      atomic_load_explicit(&l->st_handled, memory_order_relaxed) + n,
      memory_order_relaxed);
  atomic_store_explicit(
      &l->st_turns, atomic_load_explicit(&l->st_turns, memory_order_relaxed) + 1,
      memory_order_relaxed);
  if (a->flags & HEED__F_PARKING) {
    /* Parked: not run again until the full mailbox drains (a stop waits
     * for that too, since the actor sits in that mailbox's waiter list). */
    a->flags = (uint8_t)((a->flags & ~HEED__F_PARKING) | HEED__F_PARKED);
    return n;
  }
  if (atomic_load_explicit(&a->st, memory_order_relaxed) != HEED__ST_LIVE)
    destroy(l, a);
  else if (a->mtail != NULL)
    heed__schedule(l, a);
  return n;
}

static void on_idle(uv_idle_t *h);

/* Out of work: poll the cross-loop queues for up to spin_ns before going
 * to sleep, yielding the core to any other runnable thread meanwhile (the
 * thread that drives the actors, most often). `notified` stays 1, so a
 * producer pushes without a syscall. Returns 1 if work arrived. */
static int spin_for_work(heed__loop *l) {
  if (l->rt->spin_ns <= 0)
    return 0;
  uint64_t t0 = uv_hrtime();
  for (;;) {
    if (!heed__mpsc_empty(&l->inq) || !heed__mpsc_empty(&l->wakeq))
      return 1;
    if (atomic_load_explicit(&l->rt->state, memory_order_relaxed) >=
            HEED__RT_STOPPING ||
        uv_hrtime() - t0 > (uint64_t)l->rt->spin_ns)
      return 0;
    sched_yield();
  }
}

static void run_turn(heed__loop *l) {
  size_t done = 0, polled = 0;
  int busy = drain_incoming(l);
  for (;;) {
    size_t n = l->rq_n;
    if (n == 0) {
      busy = drain_incoming(l);
      polled = done;
      if (l->rq_n == 0)
        break;
      continue;
    }
    /* One round: every actor runnable now gets one budget, in order, so a
     * busy actor cannot starve the others. */
    while (n-- > 0)
      done += run_actor(l, runq_pop(l));
    if (done >= TURN_MSGS)
      break;
    /* Poll the cross-loop queues every few hundred messages rather than
     * every round: with one token in flight a round is one message. */
    if (done - polled >= 256) {
      busy = drain_incoming(l);
      polled = done;
    }
  }
  if (done != polled)
    busy = drain_incoming(l);
  if (l->rq_n == 0 && !busy && spin_for_work(l))
    busy = drain_incoming(l);
  if (l->rq_n == 0 && !busy) {
    atomic_store(&l->notified, 0);
    if (heed__mpsc_empty(&l->inq) && heed__mpsc_empty(&l->wakeq)) {
      if (l->idle_on) {
        uv_idle_stop(&l->idle);
        l->idle_on = 0;
      }
      return; /* sleep in epoll until an async wake-up */
    }
    atomic_store(&l->notified, 1);
  }
  if (!l->idle_on) {
    /* An active idle handle makes libuv poll with a zero timeout. */
    uv_idle_start(&l->idle, on_idle);
    l->idle_on = 1;
  }
}

static void on_wakeup(heed__loop *l) {
  if (atomic_load(&l->rt->state) >= HEED__RT_STOPPING) {
    uv_stop(&l->uv);
    return;
  }
  run_turn(l);
}

static void on_async(uv_async_t *h) { on_wakeup(h->data); }

static void on_idle(uv_idle_t *h) { on_wakeup(h->data); }

static void loop_main(void *arg) {
  heed__loop *l = arg;
  heed__tls.loop = l;
  uv_run(&l->uv, UV_RUN_DEFAULT);
  heed__tls.loop = NULL;
}

/* ---- lifecycle ------------------------------------------------------------ */

int heed__loop_init(heed_runtime *rt, heed__loop *l, unsigned idx) {
  heed__mpsc_init(&l->inq);
  heed__mpsc_init(&l->wakeq);
  atomic_store(&l->notified, 0);
  atomic_store(&l->st_handled, 0);
  atomic_store(&l->st_turns, 0);
  atomic_store(&l->st_queued, 0);
  atomic_store(&l->st_peak, 0);
  l->rt = rt;
  l->idx = idx;
  if (uv_loop_init(&l->uv) != 0)
    return HEED_ENOMEM;
  if (uv_async_init(&l->uv, &l->async, on_async) != 0) {
    uv_loop_close(&l->uv);
    return HEED_ENOMEM;
  }
  l->async.data = l;
  uv_idle_init(&l->uv, &l->idle);
  l->idle.data = l;
  return 0;
}

int heed__loop_start(heed__loop *l) {
  return uv_thread_create(&l->thread, loop_main, l) == 0 ? 0 : HEED_ENOMEM;
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

int heed__loop_shutdown(heed__loop *l) {
  int busy = 0;
  heed__node *n;
  /* All producers are gone, so the queues are consistent; free what is
   * still in flight. */
  while ((n = heed__mpsc_pop(&l->inq, &busy)) != NULL) {
    heed_msg *m = (heed_msg *)n;
    atomic_fetch_sub_explicit(&heed__slot(l->rt, (uint32_t)m->to)->remote, 1,
                              memory_order_relaxed);
    heed_msg_free(m);
  }
  while (heed__mpsc_pop(&l->wakeq, &busy) != NULL)
    ;
  /* Blocked threads left when the loops were joined (rt->joined); their
   * records may be gone with their stack frames. */
  l->blockers = NULL;
  /* The runtime owns the loop, so it closes every handle on it, including
   * any another module left open, and uv_loop_close() must then succeed. */
  uv_walk(&l->uv, close_walk, NULL);
  uv_run(&l->uv, UV_RUN_DEFAULT);
  return uv_loop_close(&l->uv) == 0 ? 0 : HEED_EIO;
}

void heed__loop_free_mailboxes(heed_runtime *rt) {
  uv_mutex_lock(&rt->tab_mu);
  uint32_t n = rt->next_index;
  uv_mutex_unlock(&rt->tab_mu);
  for (uint32_t i = 0; i < n; i++) {
    heed__actor *a = heed__slot(rt, i);
    free_mailbox(a);
    a->waiters = NULL;
    a->flags = 0;
  }
}
