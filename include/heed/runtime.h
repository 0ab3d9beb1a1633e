/*
 * heed/runtime.h - the actor runtime: runtimes, actors, messages, buffers.
 *
 * A runtime owns N libuv loops, each run by its own thread. An actor is a
 * behaviour (a callback and a state pointer) plus a mailbox, and lives on
 * one loop for its whole life. Messages are small pooled records that carry
 * a type, two 64-bit words and optionally one reference to a shared,
 * reference-counted buffer: a broadcast to 256 actors is one buffer with 256
 * references, and nothing is copied on send.
 *
 * Ordering: messages from one sender to one receiver arrive in the order
 * they were sent (per-pair FIFO), whether or not the two share a loop.
 *
 * Flow control: each mailbox has a high watermark (opts.mailbox_limit).
 * A send never drops a message. When an actor sends to a mailbox at or above
 * the watermark, the message is still enqueued, but the sending actor is
 * parked: it is not run again until that mailbox drains to half the
 * watermark. A thread that is not an actor is held back the same way: its
 * message is enqueued and heed_actor_send() returns once that mailbox has
 * drained to half the watermark, the actor has stopped, or the runtime is
 * stopping (or use heed_actor_try_send(), which returns HEED_EAGAIN
 * instead). So a producer that floods a slow consumer is held back and
 * memory stays bounded.
 *
 * Ownership, in one sentence per call, as nng does: see each function.
 * Threads: every function here may be called from any thread unless it says
 * otherwise.
 */
#ifndef HEED_RUNTIME_H
#define HEED_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "heed/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct heed_runtime heed_runtime;
typedef struct heed_msg heed_msg;
typedef struct heed_buf heed_buf;

/* An actor handle: an id looked up on use, so a send to a stopped actor
 * returns HEED_ECLOSED/HEED_ENOENT instead of touching freed memory.
 * id 0 is never a valid actor (HEED_ACTOR_NONE). */
typedef struct heed_actor {
  uint64_t id;
} heed_actor;

#define HEED_ACTOR_NONE ((heed_actor){0})

typedef struct heed_runtime_opts {
  unsigned threads;       /* loops (and threads); 0 means 1 */
  unsigned mailbox_limit; /* high watermark per mailbox; 0 means 1024 */
  unsigned turn_budget;   /* messages an actor handles per turn; 0 means 64 */
  int spin_us;            /* how long a loop that ran out of work keeps
                             polling before it sleeps: 0 means 200 us,
                             negative means sleep at once */
} heed_runtime_opts;

/* The polling window of rt's loops in nanoseconds (0: none). A thread
 * that waits for the actors' results (as heed_net's driver does) may poll
 * for as long before it blocks. Why poll at all: a batch of neuron work
 * hands off between loops several times; waking a sleeping thread costs
 * tens of microseconds on a virtual machine, polling costs nothing when
 * the next message is microseconds away. */
HEED_API long heed_runtime_spin_ns(const heed_runtime *rt);

/* Behaviour: called on the actor's loop thread with one message.
 * The behaviour owns msg: it must heed_msg_free() it or send it on. */
typedef void (*heed_behaviour_fn)(heed_runtime *rt, heed_actor self,
                                  void *state, heed_msg *msg);

/* Called once when the actor is destroyed (after heed_actor_stop() or at
 * heed_runtime_free()), on the actor's loop thread or the freeing thread.
 * May be NULL. The runtime never frees state itself. */
typedef void (*heed_actor_fini_fn)(void *state);

typedef struct heed_actor_spec {
  heed_behaviour_fn fn;    /* required */
  void *state;             /* passed to fn; owned by the caller */
  heed_actor_fini_fn fini; /* optional */
  int loop;                /* loop index, or -1 for round robin */
} heed_actor_spec;

/* ---- runtime ---------------------------------------------------------- */

/* Creates a runtime (loops exist, threads not started). opts may be NULL. */
HEED_API int heed_runtime_new(heed_runtime **rtp, const heed_runtime_opts *opts);

/* Starts one thread per loop. Actors may be spawned before or after. */
HEED_API int heed_runtime_start(heed_runtime *rt);

/* Stops every loop and joins the threads. Messages still in flight are
 * freed (their buffers released); actors stay allocated until
 * heed_runtime_free(). Idempotent. Must not be called from a loop thread. */
HEED_API int heed_runtime_stop(heed_runtime *rt);

/* Stops if needed, destroys every actor (calling fini), frees all pools.
 * Afterwards no heed memory of this runtime remains. NULL is ignored. */
HEED_API void heed_runtime_free(heed_runtime *rt);

HEED_API unsigned heed_runtime_threads(const heed_runtime *rt);

/* Loop index of the calling thread in rt, or -1 if it is not a loop thread. */
HEED_API int heed_runtime_current_loop(const heed_runtime *rt);

/* What one loop has done, for observers (a tracer samples it: the trace's
 * "loops" records). Counts only grow; queued is now. */
typedef struct heed_loop_stats {
  uint64_t handled; /* messages its actors handled */
  uint64_t turns;   /* actor turns: an actor run with up to its budget */
  uint64_t queued;  /* messages waiting in its actors' mailboxes now */
  uint64_t peak;    /* the longest mailbox it pushed to since the last
                       call (the call resets it) */
} heed_loop_stats;
/* Stats of loop `loop` (0..threads-1): 0 or HEED_EINVAL. Any thread. */
HEED_API int heed_runtime_loop_stats(heed_runtime *rt, unsigned loop,
                                     heed_loop_stats *st);

/* Bytes currently held by the runtime's pools and actor tables (for tests
 * and the benchmark's peak-memory figure). */
HEED_API size_t heed_runtime_mem_bytes(const heed_runtime *rt);

/* ---- actors ----------------------------------------------------------- */

/* Spawns an actor; *out receives its handle. */
HEED_API int heed_actor_spawn(heed_runtime *rt, const heed_actor_spec *spec,
                     heed_actor *out);

/* Stops an actor: later sends return HEED_ECLOSED, messages already queued
 * are freed unhandled, and fini runs on its loop. Idempotent. From a thread
 * that is not one of rt's loop threads it waits until the actor is
 * destroyed (its behaviour will not run again and fini has returned), so
 * the caller may then free its state; before heed_runtime_start() or after
 * heed_runtime_stop() it returns at once and heed_runtime_free() calls fini.
 * From a loop thread (e.g. inside a behaviour) it returns at once and the
 * actor is destroyed after the current handler. */
HEED_API int heed_actor_stop(heed_runtime *rt, heed_actor a);

/* Sends msg to `to`. On success the runtime owns msg; on failure the caller
 * still owns it. From an actor, per-pair FIFO holds and a full mailbox parks
 * the sender after its current handler; from any other thread a full
 * mailbox takes the message and then blocks the call until the mailbox has
 * drained to half (it returns 0: the message was handed over, even if the
 * actor or the runtime stops meanwhile). */
HEED_API int heed_actor_send(heed_runtime *rt, heed_actor to, heed_msg *msg);

/* As heed_actor_send(), but returns HEED_EAGAIN (caller keeps msg) instead
 * of blocking or parking when the mailbox is at its watermark. */
HEED_API int heed_actor_try_send(heed_runtime *rt, heed_actor to, heed_msg *msg);

/* Sends one message of `type` with words w0, w1 to each of n actors, each
 * holding one new reference to buf (buf may be NULL). The caller keeps its
 * own reference to buf. Returns the first error; messages to the actors
 * before the failing one are sent. */
HEED_API int heed_actor_broadcast(heed_runtime *rt, const heed_actor *to, size_t n,
                         uint32_t type, uint64_t w0, uint64_t w1,
                         heed_buf *buf);

/* The actor whose behaviour is running on this thread, or HEED_ACTOR_NONE. */
HEED_API heed_actor heed_actor_self(void);

/* Loop index an actor lives on, or a negative error. */
HEED_API int heed_actor_loop(heed_runtime *rt, heed_actor a);

/* ---- messages --------------------------------------------------------- */

/* Takes a message from rt's pool: type set, words 0, no buffer. */
HEED_API int heed_msg_alloc(heed_runtime *rt, heed_msg **mp, uint32_t type);

/* Returns msg to its pool, releasing its buffer reference. NULL ignored. */
HEED_API void heed_msg_free(heed_msg *msg);

HEED_API uint32_t heed_msg_type(const heed_msg *msg);
HEED_API void heed_msg_set_type(heed_msg *msg, uint32_t type);
HEED_API uint64_t heed_msg_word(const heed_msg *msg, int i); /* i is 0 or 1 */
HEED_API void heed_msg_set_word(heed_msg *msg, int i, uint64_t v);
/* Sender as set by the runtime at send time (HEED_ACTOR_NONE from a thread
 * that is not an actor). */
HEED_API heed_actor heed_msg_sender(const heed_msg *msg);

/* Attaches buf to msg; msg takes over the caller's reference. Any buffer
 * already attached is released. */
HEED_API void heed_msg_set_buf(heed_msg *msg, heed_buf *buf);
/* The attached buffer (borrowed; valid while msg lives), or NULL. */
HEED_API heed_buf *heed_msg_buf(const heed_msg *msg);

/* ---- buffers ---------------------------------------------------------- */

/* A buffer of at least size bytes, 64-byte aligned, reference count 1,
 * from rt's size-class pools. */
HEED_API int heed_buf_alloc(heed_runtime *rt, size_t size, heed_buf **bp);
HEED_API void *heed_buf_data(heed_buf *buf);
HEED_API size_t heed_buf_size(const heed_buf *buf);
/* Adds a reference; returns buf. */
HEED_API heed_buf *heed_buf_hold(heed_buf *buf);
/* Drops a reference; the last one returns the buffer to its pool. */
HEED_API void heed_buf_release(heed_buf *buf);
HEED_API uint32_t heed_buf_refs(const heed_buf *buf);

#ifdef __cplusplus
}
#endif
#endif /* HEED_RUNTIME_H */
