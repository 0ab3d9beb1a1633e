/* runtime.c - creating, starting, stopping and freeing a runtime. */
#include <string.h>

#include "common/alloc.h"
#include "runtime/internal.h"

#define MSG_MAGAZINE 256
#define MAX_LOOPS 256

/* Frees whatever heed_runtime_new() managed to set up; `nloops` loops are
 * initialised, `pools` pools (message pool first) exist. */
static void teardown(heed_runtime *rt, unsigned nloops, int pools,
                     int table, int block) {
  if (table)
    heed__table_destroy(rt);
  for (unsigned i = 0; i < nloops; i++)
    heed__free_aligned(rt->loops[i]);
  heed__free(rt->loops);
  for (int i = 0; i < pools; i++)
    heed__pool_destroy(i == 0 ? &rt->msg_pool : &rt->buf_pool[i - 1]);
  if (block) {
    uv_cond_destroy(&rt->block_cv);
    uv_mutex_destroy(&rt->block_mu);
  }
  heed__free(rt);
}

long heed_runtime_spin_ns(const heed_runtime *rt) {
  return rt ? rt->spin_ns : 0;
}

int heed_runtime_new(heed_runtime **rtp, const heed_runtime_opts *opts) {
  if (rtp == NULL)
    return HEED_EINVAL;
  *rtp = NULL;
  heed_runtime_opts o = {0, 0, 0, 0};
  if (opts != NULL)
    o = *opts;
  if (o.threads > MAX_LOOPS)
    return HEED_EINVAL;
  heed_runtime *rt = heed__calloc(1, sizeof *rt);
  if (rt == NULL)
    return HEED_ENOMEM;
  rt->nloops = o.threads ? o.threads : 1;
  rt->limit = o.mailbox_limit ? o.mailbox_limit : 1024;
  rt->half = rt->limit / 2;
  rt->budget = o.turn_budget ? o.turn_budget : 64;
  rt->spin_ns = o.spin_us < 0 ? 0 : (o.spin_us ? o.spin_us : 200) * 1000L;
  atomic_store(&rt->mem, sizeof *rt);
  if (uv_mutex_init(&rt->block_mu) != 0) {
    heed__free(rt);
    return HEED_ENOMEM;
  }
  if (uv_cond_init(&rt->block_cv) != 0) {
    uv_mutex_destroy(&rt->block_mu);
    heed__free(rt);
    return HEED_ENOMEM;
  }
  int pools = 0, rc;
  unsigned nloops = 0;
  if ((rc = heed__pool_init(&rt->msg_pool, sizeof(heed_msg), MSG_MAGAZINE,
                            &rt->mem)) != 0)
    goto fail;
  pools++;
  for (int c = 0; c < HEED__BUF_CLASSES; c++) {
    if ((rc = heed__pool_init(&rt->buf_pool[c], heed__buf_class_obj(c),
                              heed__buf_class_batch(c), &rt->mem)) != 0)
      goto fail;
    pools++;
  }
  if ((rc = heed__table_init(rt)) != 0)
    goto fail;
  rt->loops = heed__calloc(rt->nloops, sizeof *rt->loops);
  if (rt->loops == NULL) {
    rc = HEED_ENOMEM;
    goto fail_table;
  }
  for (; nloops < rt->nloops; nloops++) {
    heed__loop *l = heed__malloc_aligned(sizeof *l);
    if (l == NULL) {
      rc = HEED_ENOMEM;
      goto fail_loops;
    }
    memset(l, 0, sizeof *l);
    if ((rc = heed__loop_init(rt, l, nloops)) != 0) {
      heed__free_aligned(l);
      goto fail_loops;
    }
    rt->loops[nloops] = l;
    atomic_fetch_add(&rt->mem, sizeof *l);
  }
  *rtp = rt;
  return 0;
fail_loops:
  for (unsigned i = 0; i < nloops; i++)
    heed__loop_shutdown(rt->loops[i]);
fail_table:
  teardown(rt, nloops, pools, 1, 1);
  return rc;
fail:
  teardown(rt, 0, pools, 0, 1);
  return rc;
}

int heed_runtime_start(heed_runtime *rt) {
  if (rt == NULL)
    return HEED_EINVAL;
  int expect = HEED__RT_NEW;
  if (!atomic_compare_exchange_strong(&rt->state, &expect, HEED__RT_RUNNING))
    return HEED_ESTATE;
  for (unsigned i = 0; i < rt->nloops; i++) {
    if (heed__loop_start(rt->loops[i]) != 0) {
      rt->started = (int)i;
      heed_runtime_stop(rt);
      return HEED_ENOMEM;
    }
  }
  rt->started = (int)rt->nloops;
  /* Work queued before start (sends from this thread) needs a first kick. */
  for (unsigned i = 0; i < rt->nloops; i++)
    uv_async_send(&rt->loops[i]->async);
  return 0;
}


int heed_runtime_stop(heed_runtime *rt) {
  if (rt == NULL)
    return HEED_EINVAL;
  if (heed__tls.loop != NULL && heed__tls.loop->rt == rt)
    return HEED_ESTATE;
  int s = atomic_load(&rt->state);
  for (;;) {
    if (s >= HEED__RT_STOPPING) {
      /* Another call is stopping it (or did): wait for it to finish. */
      while (atomic_load(&rt->state) != HEED__RT_STOPPED)
        uv_sleep(1);
      return 0;
    }
    if (atomic_compare_exchange_strong(&rt->state, &s, HEED__RT_STOPPING))
      break;
  }
  heed__signal_blocked(rt);
  for (int i = 0; i < rt->started; i++)
    uv_async_send(&rt->loops[i]->async);
  for (int i = 0; i < rt->started; i++)
    uv_thread_join(&rt->loops[i]->thread);
  /* No loop will release a blocked sender now: let them all go. */
  uv_mutex_lock(&rt->block_mu);
  rt->joined = 1;
  uv_cond_broadcast(&rt->block_cv);
  uv_mutex_unlock(&rt->block_mu);
  /* Threads that are not loop threads may still be inside a send; they see
   * the state and leave, and blocked ones are woken. */
  while (atomic_load(&rt->senders) != 0) {
    heed__signal_blocked(rt);
    uv_sleep(1);
  }
  int rc = 0;
  for (unsigned i = 0; i < rt->nloops; i++)
    if (heed__loop_shutdown(rt->loops[i]) != 0)
      rc = HEED_EIO;
  heed__loop_free_mailboxes(rt);
  atomic_store(&rt->state, HEED__RT_STOPPED);
  return rc;
}

void heed_runtime_free(heed_runtime *rt) {
  if (rt == NULL)
    return;
  heed_runtime_stop(rt);
  /* Actors first: a fini may release buffers or messages into the pools. */
  heed__table_destroy(rt);
  teardown(rt, rt->nloops, 1 + HEED__BUF_CLASSES, 0, 1);
}

int heed_runtime_loop_stats(heed_runtime *rt, unsigned loop,
                            heed_loop_stats *st) {
  if (!rt || !st || loop >= rt->nloops)
    return HEED_EINVAL;
  heed__loop *l = rt->loops[loop];
  st->handled = atomic_load_explicit(&l->st_handled, memory_order_relaxed);
  st->turns = atomic_load_explicit(&l->st_turns, memory_order_relaxed);
  st->queued = atomic_load_explicit(&l->st_queued, memory_order_relaxed);
  st->peak = atomic_exchange_explicit(&l->st_peak, 0, memory_order_relaxed);
  return 0;
}

unsigned heed_runtime_threads(const heed_runtime *rt) {
  return rt ? rt->nloops : 0;
}

int heed_runtime_current_loop(const heed_runtime *rt) {
  heed__loop *l = rt ? heed__here(rt) : NULL;
  return l ? (int)l->idx : -1;
}

size_t heed_runtime_mem_bytes(const heed_runtime *rt) {
  return rt ? atomic_load_explicit(&rt->mem, memory_order_relaxed) : 0;
}

size_t heed__runtime_msgs_outstanding(heed_runtime *rt) {
  heed__cache *caches[MAX_LOOPS];
  for (unsigned i = 0; i < rt->nloops; i++)
    caches[i] = &rt->loops[i]->msg_cache;
  return heed__pool_outstanding(&rt->msg_pool, caches, rt->nloops);
}

size_t heed__runtime_bufs_outstanding(heed_runtime *rt) {
  heed__cache *caches[MAX_LOOPS];
  size_t n = 0;
  for (int c = 0; c < HEED__BUF_CLASSES; c++) {
    for (unsigned i = 0; i < rt->nloops; i++)
      caches[i] = &rt->loops[i]->buf_cache[c];
    n += heed__pool_outstanding(&rt->buf_pool[c], caches, rt->nloops);
  }
  return n;
}
