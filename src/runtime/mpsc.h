/*
 * mpsc.h - intrusive multi-producer single-consumer queue (internal).
 *
 * Dmitry Vyukov's non-intrusive-allocation design: producers do one atomic
 * exchange and one store, so a send to another loop takes no lock and
 * allocates nothing. The consumer (one loop thread) may briefly observe a
 * producer between its two steps; pop then reports "busy" and the loop
 * simply polls again on its next turn instead of spinning.
 */
#ifndef HEED_RUNTIME_MPSC_H
#define HEED_RUNTIME_MPSC_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct heed__node {
  _Atomic(struct heed__node *) next;
} heed__node;

typedef struct heed__mpsc {
  _Atomic(heed__node *) head; /* last pushed; written by producers */
  char pad_[64 - sizeof(void *)]; /* keep producers off the consumer's line */
  heed__node *tail;               /* next to pop; consumer only */
  heed__node stub;
  char pad2_[64 - 2 * sizeof(void *)]; /* whatever follows gets its own line */
} heed__mpsc;

static inline void heed__mpsc_init(heed__mpsc *q) {
  atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
  atomic_store_explicit(&q->head, &q->stub, memory_order_relaxed);
  q->tail = &q->stub;
}

/* seq_cst exchange: the wake-up protocol (see sched.c) relies on the push
 * being ordered before the producer's read of the loop's `notified` flag. */
static inline void heed__mpsc_push(heed__mpsc *q, heed__node *n) {
  atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
  heed__node *prev = atomic_exchange(&q->head, n);
  atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Returns the oldest node or NULL. Sets *busy when a producer is between its
 * exchange and its link store (the queue is not empty but not yet poppable). */
static inline heed__node *heed__mpsc_pop(heed__mpsc *q, int *busy) {
  heed__node *tail = q->tail;
  heed__node *next = atomic_load_explicit(&tail->next, memory_order_acquire);
  if (tail == &q->stub) {
    if (next == NULL) {
      if (atomic_load_explicit(&q->head, memory_order_acquire) != tail)
        *busy = 1;
      return NULL;
    }
    q->tail = next;
    tail = next;
    next = atomic_load_explicit(&next->next, memory_order_acquire);
  }
  if (next != NULL) {
    q->tail = next;
    return tail;
  }
  if (atomic_load_explicit(&q->head, memory_order_acquire) != tail) {
    *busy = 1;
    return NULL;
  }
  /* tail is the last node: push the stub behind it so it can be unlinked. */
  heed__mpsc_push(q, &q->stub);
  next = atomic_load_explicit(&tail->next, memory_order_acquire);
  if (next != NULL) {
    q->tail = next;
    return tail;
  }
  *busy = 1;
  return NULL;
}

/* True when nothing has been pushed that is not yet popped. seq_cst load so
 * it pairs with the producers' exchange in the sleep protocol. */
static inline int heed__mpsc_empty(heed__mpsc *q) {
  return q->tail == &q->stub && atomic_load(&q->head) == &q->stub;
}

#endif
