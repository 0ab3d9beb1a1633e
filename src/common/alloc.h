/*
 * alloc.h - the single allocation wrapper (internal).
 *
 * Every heap allocation in libheed goes through these so that a test can
 * make the Nth allocation fail (heed__alloc_fail_after) and check that each
 * path returns HEED_ENOMEM cleanly and leaks nothing, as libuv's
 * test-loop-oom does.
 */
#ifndef HEED_COMMON_ALLOC_H
#define HEED_COMMON_ALLOC_H

#include <stddef.h>

void *heed__malloc(size_t size);
void *heed__calloc(size_t n, size_t size);
void *heed__realloc(void *p, size_t size);
/* 64-byte aligned (cache line), freed with heed__free_aligned. */
void *heed__malloc_aligned(size_t size);
void heed__free_aligned(void *p);
void heed__free(void *p);
char *heed__strdup(const char *s);

/* Testing hook: after n more successful allocations, every allocation fails.
 * A negative n disables failure injection (the default). */
void heed__alloc_fail_after(long n);

#endif
