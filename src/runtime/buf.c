/* buf.c - reference-counted buffers in size classes.
 *
 * A buffer is a 64-byte header followed by its data, so the data is 64-byte
 * aligned whenever the header is; classes come from pools (one slab holds
 * many buffers), larger buffers from the aligned allocator directly.
 */
#include "common/alloc.h"
#include "runtime/internal.h"

/* Up to 4 MiB: a network's blocks (a layer's activations, its bids) are
 * tens to hundreds of KiB and come and go every batch; pooled, they cost
 * no page faults. */
static const size_t class_size[HEED__BUF_CLASSES] = {
    64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304};

/* Buffers per slab and per magazine: about 64 KiB of slab, at least 2. */
unsigned heed__buf_class_batch(int cls) {
  size_t obj = HEED__BUF_HDR + class_size[cls];
  size_t n = 65536 / obj;
  return n < 2 ? 2u : (unsigned)n;
}

size_t heed__buf_class_obj(int cls) { return HEED__BUF_HDR + class_size[cls]; }

static int class_of(size_t size) {
  for (int c = 0; c < HEED__BUF_CLASSES; c++)
    if (size <= class_size[c])
      return c;
  return -1;
}

int heed_buf_alloc(heed_runtime *rt, size_t size, heed_buf **bp) {
  if (rt == NULL || bp == NULL)
    return HEED_EINVAL;
  *bp = NULL;
  int cls = class_of(size);
  heed_buf *b;
  if (cls >= 0) {
    heed__loop *l = heed__here(rt);
    b = l != NULL ? heed__cache_get(&rt->buf_pool[cls], &l->buf_cache[cls])
                  : heed__pool_get(&rt->buf_pool[cls], NULL);
  } else {
    if (size > SIZE_MAX - HEED__BUF_HDR - 64)
      return HEED_ENOMEM;
    b = heed__malloc_aligned(HEED__BUF_HDR + size);
    if (b != NULL)
      atomic_fetch_add_explicit(&rt->mem, HEED__BUF_HDR + size,
                                memory_order_relaxed);
  }
  if (b == NULL)
    return HEED_ENOMEM;
  b->rt = rt;
  b->size = size;
  b->cls = cls;
  atomic_store_explicit(&b->refs, 1, memory_order_relaxed);
  *bp = b;
  return 0;
}

void *heed_buf_data(heed_buf *buf) {
  return buf ? (char *)buf + HEED__BUF_HDR : NULL;
}

size_t heed_buf_size(const heed_buf *buf) { return buf ? buf->size : 0; }

heed_buf *heed_buf_hold(heed_buf *buf) {
  if (buf)
    atomic_fetch_add_explicit(&buf->refs, 1, memory_order_relaxed);
  return buf;
}

void heed_buf_release(heed_buf *buf) {
  if (buf == NULL)
    return;
  /* acq_rel: the last owner must see every other owner's writes to the data
   * before the buffer is reused. */
  if (atomic_fetch_sub_explicit(&buf->refs, 1, memory_order_acq_rel) != 1)
    return;
  heed_runtime *rt = buf->rt;
  int cls = buf->cls;
  if (cls < 0) {
    atomic_fetch_sub_explicit(&rt->mem, HEED__BUF_HDR + buf->size,
                              memory_order_relaxed);
    heed__free_aligned(buf);
    return;
  }
  heed__loop *l = heed__here(rt);
  if (l != NULL)
    heed__cache_put(&rt->buf_pool[cls], &l->buf_cache[cls], buf);
  else
    heed__pool_put(&rt->buf_pool[cls], NULL, buf);
}

uint32_t heed_buf_refs(const heed_buf *buf) {
  return buf ? atomic_load_explicit(&buf->refs, memory_order_relaxed) : 0;
}
