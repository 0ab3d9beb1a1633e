/* mpk.h - small msgpack-c helpers shared by the checkpoint and trace
 * readers (internal). */
#ifndef HEED_COMMON_MPK_H
#define HEED_COMMON_MPK_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* Walks the one msgpack object at p[*off..n) without unpacking it, when
 * the object must end within p[0..max) (n is clamped to max). Returns 0 with *off just past it; HEED_ETRUNC when the bytes
 * at hand end inside it; HEED_EFORMAT on the byte 0xc1, on nesting deeper
 * than max_depth, or when a length or count declares more than max bytes
 * could hold. Each element of an array or map takes at least one byte, so
 * a count above the bytes left is refused before msgpack-c, which
 * allocates for a declared count before it reads the elements, sees it:
 * an object that passes makes msgpack-c allocate about 24 bytes per input
 * byte at most. */
int heed__mpk_skim(const uint8_t *p, size_t n, size_t max, size_t *off,
                   int max_depth);

/* A number of any msgpack numeric type as a double; -1 for anything else. */
static inline int heed__mpk_num(const msgpack_object *o, double *out) {
  switch (o->type) {
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    *out = o->via.f64;
    return 0;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    *out = (double)o->via.u64;
    return 0;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    *out = (double)o->via.i64;
    return 0;
  default:
    return -1;
  }
}

#endif
