/* pool.c - fixed-size object pools: per-loop magazines over a locked depot.
 *
 * Why magazines: a loop allocates and frees messages at tens of millions per
 * second, so its cache must be a plain linked list. Messages often die on a
 * different loop (or thread) than the one that made them; whole magazines
 * migrate back through the depot, so the lock is taken once per `batch`
 * objects, not once per object.
 *
 * A free object stores its free-list link in word 0; a magazine's head also
 * stores the next magazine (word 1) and its length (word 2).
 */
#include <string.h>

#include "common/alloc.h"
#include "runtime/internal.h"

#define NEXT(o) (((void **)(o))[0])
#define MAG_NEXT(o) (((void **)(o))[1])
#define MAG_LEN(o) (((uintptr_t *)(o))[2])

int heed__pool_init(heed__pool *p, size_t obj, unsigned batch,
                    _Atomic size_t *mem) {
  memset(p, 0, sizeof *p);
  if (uv_mutex_init(&p->mu) != 0)
    return HEED_ENOMEM;
  p->obj = (obj + 63) & ~(size_t)63;
  p->batch = batch;
  p->mem = mem;
  return 0;
}

void heed__pool_destroy(heed__pool *p) {
  void *s = p->slabs;
  while (s != NULL) {
    void *next = NEXT(s);
    heed__free_aligned(s);
    s = next;
  }
  p->slabs = NULL;
  uv_mutex_destroy(&p->mu);
}

/* A new slab as one magazine of `batch` linked objects; NULL if out of
 * memory. The first 64 bytes of a slab link it into the pool's slab list. */
static void *new_slab(heed__pool *p) {
  size_t bytes = 64 + (size_t)p->batch * p->obj;
  char *s = heed__malloc_aligned(bytes);
  if (s == NULL)
    return NULL;
  char *o = s + 64;
  for (unsigned i = 0; i + 1 < p->batch; i++)
    NEXT(o + (size_t)i * p->obj) = o + (size_t)(i + 1) * p->obj;
  NEXT(o + (size_t)(p->batch - 1) * p->obj) = NULL;
  uv_mutex_lock(&p->mu);
  NEXT(s) = p->slabs;
  p->slabs = s;
  p->nslabs++;
  uv_mutex_unlock(&p->mu);
  atomic_fetch_add_explicit(p->mem, bytes, memory_order_relaxed);
  return o;
}

/* Takes a whole magazine from the depot (full ones first). Lock held. */
static void *take_mag(heed__pool *p, unsigned *n) {
  void *m = p->full;
  if (m != NULL) {
    p->full = MAG_NEXT(m);
    p->nfull--;
    *n = (unsigned)MAG_LEN(m);
    return m;
  }
  m = p->part;
  *n = p->npart;
  p->part = NULL;
  p->npart = 0;
  return m;
}

void *heed__pool_get(heed__pool *p, heed__cache *c) {
  void *o;
  if (c != NULL) {
    if (c->spare != NULL) {
      c->cur = c->spare;
      c->ncur = c->nspare;
      c->spare = NULL;
      c->nspare = 0;
    } else {
      uv_mutex_lock(&p->mu);
      c->cur = take_mag(p, &c->ncur);
      uv_mutex_unlock(&p->mu);
      if (c->cur == NULL) {
        c->cur = new_slab(p);
        if (c->cur == NULL)
          return NULL;
        c->ncur = p->batch;
      }
    }
    o = c->cur;
    c->cur = NEXT(o);
    c->ncur--;
    return o;
  }
  /* Not a loop thread: serve from the depot's partial magazine. */
  uv_mutex_lock(&p->mu);
  if (p->part == NULL)
    p->part = take_mag(p, &p->npart);
  o = p->part;
  if (o != NULL) {
    p->part = NEXT(o);
    p->npart--;
  }
  uv_mutex_unlock(&p->mu);
  if (o != NULL)
    return o;
  o = new_slab(p);
  if (o == NULL)
    return NULL;
  void *rest = NEXT(o);
  uv_mutex_lock(&p->mu);
  /* Park the rest of the new slab as a full-ish magazine. */
  if (rest != NULL) {
    MAG_NEXT(rest) = p->full;
    MAG_LEN(rest) = p->batch - 1;
    p->full = rest;
    p->nfull++;
  }
  uv_mutex_unlock(&p->mu);
  return o;
}

void heed__pool_put(heed__pool *p, heed__cache *c, void *o) {
  if (c != NULL) {
    /* c->cur is full: retire the spare to the depot, cur becomes spare. */
    if (c->spare != NULL) {
      void *m = c->spare;
      MAG_LEN(m) = c->nspare;
      uv_mutex_lock(&p->mu);
      MAG_NEXT(m) = p->full;
      p->full = m;
      p->nfull++;
      uv_mutex_unlock(&p->mu);
    }
    c->spare = c->cur;
    c->nspare = c->ncur;
    NEXT(o) = NULL;
    c->cur = o;
    c->ncur = 1;
    return;
  }
  uv_mutex_lock(&p->mu);
  NEXT(o) = p->part;
  p->part = o;
  if (++p->npart == p->batch) {
    MAG_NEXT(o) = p->full;
    MAG_LEN(o) = p->npart;
    p->full = o;
    p->nfull++;
    p->part = NULL;
    p->npart = 0;
  }
  uv_mutex_unlock(&p->mu);
}

size_t heed__pool_outstanding(heed__pool *p, heed__cache *const *caches,
                              size_t ncaches) {
  size_t total = p->nslabs * p->batch;
  size_t avail = p->npart;
  for (void *m = p->full; m != NULL; m = MAG_NEXT(m))
    avail += (size_t)MAG_LEN(m);
  for (size_t i = 0; i < ncaches; i++)
    avail += caches[i]->ncur + caches[i]->nspare;
  return total - avail;
}
