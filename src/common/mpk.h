/* mpk.h - small msgpack-c helpers shared by the checkpoint and trace
 * readers. */
#ifndef HEED_COMMON_MPK_H
#define HEED_COMMON_MPK_H

#include <msgpack.h>

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
