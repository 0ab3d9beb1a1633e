/*
 * internal.h - the runtime's private structures, shared by the files of src/runtime.
 *
 * Layout decisions are explained in docs/architecture.md ("Runtime"). In
 * short: an actor is 64 bytes in a slab that never moves, a message is 64
 * bytes from a pool, a buffer is a 64-byte header followed by 64-byte
 * aligned data, and every intrusive link is the first field so one MPSC
 * implementation serves both messages and actors.
 */
#ifndef HEED_RUNTIME_INTERNAL_H
#define HEED_RUNTIME_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "heed/runtime.h"
#include "runtime/mpsc.h"

/* ---- pools (pool.c) ---------------------------------------------------- */

/* A pool of fixed-size objects carved from slabs. Each loop keeps a private
 * cache of two "magazines" (lists of up to `batch` objects) so the hot path
 * takes no lock; whole magazines move to and from the shared depot under a
 * mutex, which also serves threads that are not loop threads. */
typedef struct heed__pool {
  uv_mutex_t mu;
  size_t obj;      /* object size, a multiple of 64 */
  unsigned batch;  /* objects per magazine and per slab */
  void *full;      /* stack of full magazines */
  void *part;      /* one partial magazine */
  unsigned npart;
  size_t nfull;    /* magazines on the full stack */
  void *slabs;     /* every slab, freed at runtime_free */
  size_t nslabs;
  _Atomic size_t *mem; /* the runtime's byte counter */
} heed__pool;

typedef struct heed__cache {
  void *cur, *spare;
  unsigned ncur, nspare;
} heed__cache;

int heed__pool_init(heed__pool *p, size_t obj, unsigned batch,
                    _Atomic size_t *mem);
void heed__pool_destroy(heed__pool *p);
void *heed__pool_get(heed__pool *p, heed__cache *c);
void heed__pool_put(heed__pool *p, heed__cache *c, void *o);
/* Objects handed out and not returned (valid only when no thread uses the
 * pool and the caches are passed in). */
size_t heed__pool_outstanding(heed__pool *p, heed__cache *const *caches,
                              size_t ncaches);

static inline void *heed__cache_get(heed__pool *p, heed__cache *c) {
  void *o = c->cur;
  if (o != NULL) {
    c->cur = *(void **)o;
    c->ncur--;
    return o;
  }
  return heed__pool_get(p, c);
}

static inline void heed__cache_put(heed__pool *p, heed__cache *c, void *o) {
  if (c->ncur < p->batch) {
    *(void **)o = c->cur;
    c->cur = o;
    c->ncur++;
    return;
  }
  heed__pool_put(p, c, o);
}

/* ---- messages and buffers ---------------------------------------------- */

enum {
  HEED__MSG_PARK = 1u,  /* the sender parked on this send (cross-loop) */
  HEED__MSG_STOP = 2u,  /* control: stop the target (from another thread) */
  HEED__MSG_BLOCK = 4u, /* a thread blocked on this send: `sender` holds
                           its heed__blocker until the message lands */
};

/* A thread that is not a loop thread and sent to a full mailbox (actor.c).
 * It lives on that thread's stack while it waits. The message carries it to
 * the target's loop, which keeps it in its `blockers` list until the
 * mailbox drains to half (as for a parked actor), then sets `released`
 * under rt->block_mu and broadcasts rt->block_cv. Every decision is taken
 * on the target's loop thread, so no wake-up can be lost; the waiter
 * checks `released` under the lock the loop sets it with. */
typedef struct heed__blocker {
  struct heed__blocker *next; /* in the loop's list; loop thread only */
  const void *target;         /* the heed__actor it waits on */
  int released;               /* guarded by rt->block_mu */
} heed__blocker;

struct heed_msg {
  heed__node node; /* mailbox, MPSC, or free-list link */
  heed_runtime *rt;
  uint64_t to;
  uint64_t sender;
  uint64_t w[2];
  heed_buf *buf;
  uint32_t type;
  uint32_t flags;
};

#define HEED__BUF_CLASSES 9
#define HEED__BUF_HDR 64

struct heed_buf {
  heed__node node; /* free-list link (pool words 0..2 while free) */
  void *pad0_;
  void *pad1_;
  heed_runtime *rt;
  size_t size;
  _Atomic uint32_t refs;
  int32_t cls; /* size class, or -1 for a large buffer */
  char pad2_[HEED__BUF_HDR - 5 * sizeof(void *) - 2 * sizeof(uint32_t)];
};

/* ---- actors -------------------------------------------------------------- */

enum { HEED__ST_FREE = 0, HEED__ST_LIVE = 1, HEED__ST_STOPPING = 2 };

enum {
  HEED__F_RUNQ = 1u,    /* on the loop's run queue */
  HEED__F_RUNNING = 2u, /* its behaviour is on the stack */
  HEED__F_PARKING = 4u, /* sent to a full mailbox in this handler */
  HEED__F_PARKED = 8u,  /* waiting for a mailbox to drain to half */
};

/* 64 bytes. `node.next` links the actor into exactly one of: its loop's run
 * queue, a full mailbox's waiter list, a loop's wake queue, or the table's
 * free list; the flags say which, and these uses never overlap. */
typedef struct heed__actor {
  heed__node node;
  heed_behaviour_fn fn;
  void *state;
  heed_msg *mtail; /* circular mailbox: mtail->next is the head */
  struct heed__actor *waiters; /* actors parked on this mailbox */
  _Atomic uint32_t gen; /* generation; bumped when destroyed */
  uint32_t index;
  _Atomic uint32_t len;    /* messages in the mailbox; owner loop writes */
  _Atomic uint32_t remote; /* cross-loop messages not yet in the mailbox */
  uint16_t fini;           /* index into the runtime's fini table; 0: none */
  uint8_t loop;
  _Atomic uint8_t st;
  uint8_t flags; /* HEED__F_*, owner loop only */
  uint8_t pad_[3];
} heed__actor;

_Static_assert(sizeof(heed__actor) == 64, "an actor is one cache line");
_Static_assert(sizeof(struct heed_msg) == 64, "a message is one cache line");
_Static_assert(sizeof(struct heed_buf) == HEED__BUF_HDR,
               "buffer data starts 64 bytes after its header");

#define HEED__CHUNK_BITS 12
#define HEED__CHUNK (1u << HEED__CHUNK_BITS)
#define HEED__TOP 4096u
#define HEED__MAX_ACTORS (HEED__TOP * HEED__CHUNK)

static inline uint64_t heed__actor_id(const heed__actor *a) {
  return ((uint64_t)atomic_load_explicit(&a->gen, memory_order_relaxed) << 32) |
         a->index;
}

/* ---- loops and the runtime --------------------------------------------- */

typedef struct heed__loop {
  heed__mpsc inq;   /* messages from other threads */
  heed__mpsc wakeq; /* parked actors whose mailbox drained (other loops) */
  char pad0_[64];
  _Atomic int notified; /* 1: loop is awake and will poll before sleeping */
  char pad1_[60];
  /* Written by the loop thread only, read by observers
   * (heed_runtime_loop_stats): relaxed, one writer. */
  _Atomic uint64_t st_handled, st_turns, st_queued;
  _Atomic uint32_t st_peak;
  char pad2_[36];
  heed_runtime *rt; /* from here on: the loop thread's own fields */
  unsigned idx;
  int idle_on;
  heed__actor *rq_head, *rq_tail;
  size_t rq_n;
  heed__blocker *blockers; /* threads waiting on this loop's mailboxes */
  heed__cache msg_cache;
  heed__cache buf_cache[HEED__BUF_CLASSES];
  uv_loop_t uv;
  uv_async_t async;
  uv_idle_t idle;
  uv_thread_t thread;
} heed__loop;

enum {
  HEED__RT_NEW = 0,
  HEED__RT_RUNNING = 1,
  HEED__RT_STOPPING = 2,
  HEED__RT_STOPPED = 3,
};

struct heed_runtime {
  unsigned nloops, limit, half, budget;
  long spin_ns; /* poll this long before sleeping (0: never) */
  heed__loop **loops;
  _Atomic int state;
  int started;
  _Atomic unsigned rr; /* round-robin loop choice */
  _Atomic size_t mem;  /* bytes in slabs and tables */

  heed__pool msg_pool;
  heed__pool buf_pool[HEED__BUF_CLASSES];

  /* Actor table: top[] is allocated once; chunks are added, never moved. */
  _Atomic(heed__actor *) *top;
  void **top_raw; /* what calloc returned, before aligning to 64 bytes */
  uv_mutex_t tab_mu;
  uint32_t next_index;
  heed__actor *free_slots;
  heed_actor_fini_fn *finis;
  unsigned nfinis, capfinis;
  heed_actor_fini_fn last_fini; /* spawn fast path: same fini as last time */
  uint16_t last_fini_idx;

  /* Threads that are not loop threads wait here: blocked senders for
   * their heed__blocker, stoppers for an actor's generation to change.
   * Whoever changes what they wait for broadcasts under block_mu. */
  uv_mutex_t block_mu;
  uv_cond_t block_cv;
  int joined; /* loops joined: no blocker is released any more (block_mu) */
  _Atomic unsigned senders; /* non-loop threads inside send/stop */
};

struct heed__tls {
  heed__loop *loop;
  heed__actor *cur;
  uint64_t cur_id;
};
extern _Thread_local struct heed__tls heed__tls;

/* The calling thread's loop in rt, or NULL. */
static inline heed__loop *heed__here(const heed_runtime *rt) {
  heed__loop *l = heed__tls.loop;
  return (l != NULL && l->rt == rt) ? l : NULL;
}

/* table.c */
int heed__table_init(heed_runtime *rt);
void heed__table_destroy(heed_runtime *rt); /* calls fini of live actors */
int heed__table_alloc(heed_runtime *rt, heed_actor_fini_fn fini,
                      heed__actor **ap);
void heed__table_release(heed_runtime *rt, heed__actor *a);
heed_actor_fini_fn heed__table_fini(heed_runtime *rt, uint16_t idx);

static inline heed__actor *heed__slot(const heed_runtime *rt, uint32_t index) {
  heed__actor *chunk = atomic_load_explicit(&rt->top[index >> HEED__CHUNK_BITS],
                                            memory_order_acquire);
  return &chunk[index & (HEED__CHUNK - 1)];
}

/* Returns the live actor for id or an error (ENOENT/ECLOSED). When
 * `stopping_ok`, an actor being stopped is returned too (rc 1). */
static inline int heed__lookup(const heed_runtime *rt, uint64_t id,
                               heed__actor **ap, int stopping_ok) {
  uint32_t index = (uint32_t)id;
  uint32_t gen = (uint32_t)(id >> 32);
  if (gen == 0 || index >= HEED__MAX_ACTORS)
    return HEED_ENOENT;
  heed__actor *chunk = atomic_load_explicit(
      &rt->top[index >> HEED__CHUNK_BITS], memory_order_acquire);
  if (chunk == NULL)
    return HEED_ENOENT;
  heed__actor *a = &chunk[index & (HEED__CHUNK - 1)];
  uint32_t g = atomic_load_explicit(&a->gen, memory_order_acquire);
  if (g != gen)
    return (g > gen) ? HEED_ECLOSED : HEED_ENOENT;
  int st = atomic_load_explicit(&a->st, memory_order_acquire);
  *ap = a;
  if (st == HEED__ST_LIVE)
    return 0;
  if (st == HEED__ST_STOPPING && stopping_ok)
    return 1;
  return st == HEED__ST_FREE ? HEED_ENOENT : HEED_ECLOSED;
}

/* One more (d = 1) or one less (d = -1) message in the mailboxes of l's
 * actors; len: the mailbox's length after a push. Loop thread only. */
static inline void heed__loop_queued(heed__loop *l, int64_t d, uint32_t len) {
  uint64_t q = atomic_load_explicit(&l->st_queued, memory_order_relaxed);
  atomic_store_explicit(&l->st_queued, q + (uint64_t)d, memory_order_relaxed);
  if (len > atomic_load_explicit(&l->st_peak, memory_order_relaxed))
    atomic_store_explicit(&l->st_peak, len, memory_order_relaxed);
}

/* sched.c */
int heed__loop_init(heed_runtime *rt, heed__loop *l, unsigned idx);
int heed__loop_start(heed__loop *l);
void heed__loop_notify(heed__loop *l);
void heed__schedule(heed__loop *l, heed__actor *a);
void heed__wake(heed__loop *from, heed__actor *a);
void heed__mailbox_push(heed__actor *a, heed_msg *m);
void heed__signal_blocked(heed_runtime *rt);
/* After the threads are joined: frees in-flight messages, closes handles.
 * Returns 0 or HEED_EIO if a loop did not close cleanly. */
int heed__loop_shutdown(heed__loop *l);
void heed__loop_free_mailboxes(heed_runtime *rt);

/* buf.c */
unsigned heed__buf_class_batch(int cls);
size_t heed__buf_class_obj(int cls);

/* msg.c */
void heed__msg_release(heed_msg *m);

/* For tests: messages allocated and not yet freed; only meaningful after
 * heed_runtime_stop(). */
size_t heed__runtime_msgs_outstanding(heed_runtime *rt);
size_t heed__runtime_bufs_outstanding(heed_runtime *rt);

#endif
