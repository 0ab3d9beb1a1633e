/* alloc.c - allocation wrapper with failure injection for tests. */
#include "common/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic long fail_after = -1;

/* Returns nonzero when this allocation should be made to fail. */
static int should_fail(void) {
  long n = atomic_load_explicit(&fail_after, memory_order_relaxed);
  if (n < 0)
    return 0;
  if (n == 0)
    return 1;
  atomic_fetch_sub_explicit(&fail_after, 1, memory_order_relaxed);
  return 0;
}

void heed__alloc_fail_after(long n) { atomic_store(&fail_after, n); }

void *heed__malloc(size_t size) { return should_fail() ? NULL : malloc(size); }

void *heed__calloc(size_t n, size_t size) {
  return should_fail() ? NULL : calloc(n, size);
}

void *heed__realloc(void *p, size_t size) {
  return should_fail() ? NULL : realloc(p, size);
}

void *heed__malloc_aligned(size_t size) {
  void *p = NULL;
  if (should_fail())
    return NULL;
  size = (size + 63) & ~(size_t)63;
  if (posix_memalign(&p, 64, size ? size : 64) != 0)
    return NULL;
  return p;
}

void heed__free_aligned(void *p) { free(p); }

void heed__free(void *p) { free(p); }

char *heed__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = heed__malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}
