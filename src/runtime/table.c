/* table.c - the actor table: ids to 64-byte actor slots.
 *
 * Two levels (a fixed top array of chunk pointers, chunks of 4096 slots) so
 * that a slot never moves once created: any thread may look an id up
 * without a lock while other threads spawn. A slot is reused after its
 * actor is destroyed; its generation is bumped then, so an old id fails the
 * lookup (HEED_ECLOSED) instead of reaching the new actor.
 *
 * fini functions are interned in a small table (actors keep a 16-bit index)
 * because they are only needed once per actor, and this keeps the actor
 * struct at one cache line.
 */
#include <string.h>

#include "common/alloc.h"
#include "runtime/internal.h"

int heed__table_init(heed_runtime *rt) {
  rt->top = heed__calloc(HEED__TOP, sizeof *rt->top);
  rt->top_raw = heed__calloc(HEED__TOP, sizeof *rt->top_raw);
  if (rt->top == NULL || rt->top_raw == NULL ||
      uv_mutex_init(&rt->tab_mu) != 0) {
    heed__free((void *)rt->top);
    heed__free(rt->top_raw);
    rt->top = NULL;
    rt->top_raw = NULL;
    return HEED_ENOMEM;
  }
  atomic_fetch_add_explicit(&rt->mem, 2 * HEED__TOP * sizeof *rt->top,
                            memory_order_relaxed);
  return 0;
}

void heed__table_destroy(heed_runtime *rt) {
  if (rt->top == NULL)
    return;
  for (uint32_t i = 0; i < rt->next_index; i++) {
    heed__actor *a = heed__slot(rt, i);
    if (atomic_load_explicit(&a->st, memory_order_acquire) == HEED__ST_FREE)
      continue;
    heed_actor_fini_fn fini = heed__table_fini(rt, a->fini);
    atomic_store_explicit(&a->st, HEED__ST_FREE, memory_order_relaxed);
    if (fini != NULL)
      fini(a->state);
  }
  for (unsigned c = 0; c < HEED__TOP; c++)
    heed__free(rt->top_raw[c]);
  heed__free((void *)rt->top);
  heed__free(rt->top_raw);
  rt->top = NULL;
  rt->top_raw = NULL;
  heed__free(rt->finis);
  rt->finis = NULL;
  uv_mutex_destroy(&rt->tab_mu);
}

/* Index of fini in the intern table, adding it. Lock held. */
static int intern_fini(heed_runtime *rt, heed_actor_fini_fn fini,
                       uint16_t *idx) {
  if (fini == NULL) {
    *idx = 0;
    return 0;
  }
  if (fini == rt->last_fini) {
    *idx = rt->last_fini_idx;
    return 0;
  }
  for (unsigned i = 0; i < rt->nfinis; i++)
    if (rt->finis[i] == fini) {
      *idx = (uint16_t)(i + 1);
      goto found;
    }
  if (rt->nfinis == UINT16_MAX)
    return HEED_ERANGE;
  if (rt->nfinis == rt->capfinis) {
    unsigned cap = rt->capfinis ? rt->capfinis * 2 : 8;
    void *p = heed__realloc(rt->finis, cap * sizeof *rt->finis);
    if (p == NULL)
      return HEED_ENOMEM;
    rt->finis = p;
    rt->capfinis = cap;
  }
  rt->finis[rt->nfinis++] = fini;
  *idx = (uint16_t)rt->nfinis;
found:
  rt->last_fini = fini;
  rt->last_fini_idx = *idx;
  return 0;
}

heed_actor_fini_fn heed__table_fini(heed_runtime *rt, uint16_t idx) {
  if (idx == 0)
    return NULL;
  uv_mutex_lock(&rt->tab_mu);
  heed_actor_fini_fn f = rt->finis[idx - 1];
  uv_mutex_unlock(&rt->tab_mu);
  return f;
}

int heed__table_alloc(heed_runtime *rt, heed_actor_fini_fn fini,
                      heed__actor **ap) {
  uint16_t fidx;
  heed__actor *a;
  uv_mutex_lock(&rt->tab_mu);
  int rc = intern_fini(rt, fini, &fidx);
  if (rc != 0)
    goto out;
  a = rt->free_slots;
  if (a != NULL) {
    rt->free_slots = (heed__actor *)atomic_load_explicit(&a->node.next,
                                                         memory_order_relaxed);
  } else {
    uint32_t i = rt->next_index;
    if (i >= HEED__MAX_ACTORS) {
      rc = HEED_ENOMEM;
      goto out;
    }
    unsigned c = i >> HEED__CHUNK_BITS;
    heed__actor *chunk =
        atomic_load_explicit(&rt->top[c], memory_order_relaxed);
    if (chunk == NULL) {
      /* calloc: fresh pages are already zero, so a million spawns do not
       * pay for clearing 64 MB up front. One spare slot lets us align the
       * chunk so that every actor is exactly one cache line. */
      void *raw = heed__calloc(HEED__CHUNK + 1, sizeof *chunk);
      if (raw == NULL) {
        rc = HEED_ENOMEM;
        goto out;
      }
      rt->top_raw[c] = raw;
      chunk = (heed__actor *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
      atomic_fetch_add_explicit(&rt->mem, (HEED__CHUNK + 1) * sizeof *chunk,
                                memory_order_relaxed);
      atomic_store_explicit(&rt->top[c], chunk, memory_order_release);
    }
    a = &chunk[i & (HEED__CHUNK - 1)];
    a->index = i;
    /* Generation 1 for a fresh slot: 0 would make id 0 valid. */
    atomic_store_explicit(&a->gen, 1, memory_order_relaxed);
    rt->next_index = i + 1;
  }
  a->fini = fidx;
out:
  uv_mutex_unlock(&rt->tab_mu);
  if (rc == 0)
    *ap = a;
  return rc;
}

/* The slot's actor is destroyed: bump the generation so stale ids fail,
 * then make the slot reusable. */
void heed__table_release(heed_runtime *rt, heed__actor *a) {
  atomic_store_explicit(&a->st, HEED__ST_FREE, memory_order_relaxed);
  uint32_t g = atomic_load_explicit(&a->gen, memory_order_relaxed) + 1;
  if (g == 0)
    g = 1;
  atomic_store_explicit(&a->gen, g, memory_order_release);
  uv_mutex_lock(&rt->tab_mu);
  atomic_store_explicit(&a->node.next, (heed__node *)rt->free_slots,
                        memory_order_relaxed);
  rt->free_slots = a;
  uv_mutex_unlock(&rt->tab_mu);
}

