/*
 * wire.c - MessagePack frames for the distributed transport: a small
 * encoder and a strict, bounds-checked decoder (docs/protocol.md).
 */
#include "transport/wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "heed/error.h"

/* ---- encoding ----------------------------------------------------------- */

void heed_wbuf_free(heed_wbuf *b) {
  heed__free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

static int reserve(heed_wbuf *b, size_t more) {
  if (more > SIZE_MAX / 2 - b->len)
    return HEED_ENOMEM;
  if (b->len + more <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more)
    cap *= 2;
  uint8_t *p = heed__realloc(b->p, cap);
  if (!p)
    return HEED_ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

static uint8_t *put_be(uint8_t *o, uint64_t v, int nbytes) {
  for (int i = nbytes - 1; i >= 0; i--)
    *o++ = (uint8_t)(v >> (8 * i));
  return o;
}

/* Writes a msgpack unsigned integer in its shortest form (<= 9 bytes). */
static uint8_t *put_uint(uint8_t *o, uint64_t v) {
  if (v < 128) {
    *o++ = (uint8_t)v;
  } else if (v <= UINT8_MAX) {
    *o++ = 0xcc;
    *o++ = (uint8_t)v;
  } else if (v <= UINT16_MAX) {
    *o++ = 0xcd;
    o = put_be(o, v, 2);
  } else if (v <= UINT32_MAX) {
    *o++ = 0xce;
    o = put_be(o, v, 4);
  } else {
    *o++ = 0xcf;
    o = put_be(o, v, 8);
  }
  return o;
}

static uint8_t *put_arr(uint8_t *o, uint32_t n) {
  if (n < 16) {
    *o++ = (uint8_t)(0x90 | n);
  } else if (n <= UINT16_MAX) {
    *o++ = 0xdc;
    o = put_be(o, n, 2);
  } else {
    *o++ = 0xdd;
    o = put_be(o, n, 4);
  }
  return o;
}

static uint8_t *put_binhdr(uint8_t *o, uint32_t n) {
  if (n <= UINT8_MAX) {
    *o++ = 0xc4;
    *o++ = (uint8_t)n;
  } else if (n <= UINT16_MAX) {
    *o++ = 0xc5;
    o = put_be(o, n, 2);
  } else {
    *o++ = 0xc6;
    o = put_be(o, n, 4);
  }
  return o;
}

static uint8_t *put_strhdr(uint8_t *o, uint32_t n) {
  if (n < 32) {
    *o++ = (uint8_t)(0xa0 | n);
  } else if (n <= UINT8_MAX) {
    *o++ = 0xd9;
    *o++ = (uint8_t)n;
  } else if (n <= UINT16_MAX) {
    *o++ = 0xda;
    o = put_be(o, n, 2);
  } else {
    *o++ = 0xdb;
    o = put_be(o, n, 4);
  }
  return o;
}

static void put_floats(uint8_t *o, const float *f, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &f[i], 4);
    for (int k = 0; k < 4; k++)
      *o++ = (uint8_t)(u >> (8 * k));
  }
#else
  if (n)
    memcpy(o, f, n * sizeof *f);
#endif
}

int heed_wire_put_msg(heed_wbuf *b, const heed_wire_msg *m) {
  size_t nf = m->data ? m->nfloats : 0;
  if (nf > UINT32_MAX / 4)
    return HEED_ERANGE;
  int rv = reserve(b, 1 + 9 * 9 + 5 + nf * 4);
  if (rv)
    return rv;
  uint8_t *o = b->p + b->len;
  o = put_arr(o, 10);
  o = put_uint(o, m->kind);
  o = put_uint(o, m->layer);
  o = put_uint(o, m->batch);
  o = put_uint(o, m->word);
  o = put_uint(o, m->mode);
  o = put_uint(o, m->count);
  o = put_uint(o, m->stride);
  o = put_uint(o, m->rows);
  o = put_uint(o, m->ldc);
  o = put_binhdr(o, (uint32_t)(nf * 4));
  put_floats(o, m->data, nf);
  o += nf * 4;
  b->len = (size_t)(o - b->p);
  return 0;
}

int heed_wire_put_sess(heed_wbuf *b, uint32_t kind, uint64_t word,
                       const void *bytes, size_t nbytes) {
  if (nbytes > UINT32_MAX)
    return HEED_ERANGE;
  int rv = reserve(b, 1 + 2 * 9 + 5 + nbytes);
  if (rv)
    return rv;
  uint8_t *o = b->p + b->len;
  o = put_arr(o, 3);
  o = put_uint(o, kind);
  o = put_uint(o, word);
  o = put_binhdr(o, (uint32_t)nbytes);
  if (nbytes)
    memcpy(o, bytes, nbytes);
  o += nbytes;
  b->len = (size_t)(o - b->p);
  return 0;
}

size_t heed_wire_header(uint8_t *out, const heed_frame_hdr *h,
                        uint32_t nmsgs) {
  uint8_t *o = out;
  o = put_arr(o, 7);
  o = put_strhdr(o, 4);
  memcpy(o, "heed", 4);
  o += 4;
  o = put_uint(o, h->version);
  o = put_uint(o, h->run_id);
  o = put_uint(o, h->from);
  o = put_uint(o, h->to);
  o = put_uint(o, h->seq);
  o = put_arr(o, nmsgs);
  return (size_t)(o - out);
}

int heed_wire_frame(heed_wbuf *b, const heed_frame_hdr *h,
                    const heed_frame_msg *msgs, size_t n) {
  if (n > UINT32_MAX)
    return HEED_ERANGE;
  int rv = reserve(b, HEED_WIRE_HDR_MAX);
  if (rv)
    return rv;
  b->len += heed_wire_header(b->p + b->len, h, (uint32_t)n);
  for (size_t i = 0; i < n && !rv; i++)
    rv = msgs[i].m.kind >= HEED_SESS_BUILD
             ? heed_wire_put_sess(b, msgs[i].m.kind, msgs[i].m.word,
                                  msgs[i].bytes, msgs[i].nbytes)
             : heed_wire_put_msg(b, &msgs[i].m);
  return rv;
}

/* ---- decoding ----------------------------------------------------------- */

typedef struct rd {
  const uint8_t *p, *end;
  int err;
  char *why;
  size_t whylen;
} rd;

static int fail(rd *r, int err, const char *fmt, ...) {
  if (!r->err) {
    r->err = err;
    if (r->why && r->whylen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(r->why, r->whylen, fmt, ap);
      va_end(ap);
    }
  }
  return r->err;
}

static size_t left(const rd *r) { return (size_t)(r->end - r->p); }

static uint64_t get_be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* Reads `n` bytes of big-endian payload after a one-byte tag. */
static int need(rd *r, size_t n, const char *what) {
  if (left(r) < n)
    return fail(r, HEED_ETRUNC, "truncated in %s (%zu of %zu bytes)", what,
                left(r), n);
  return 0;
}

static int get_uint(rd *r, uint64_t *v, const char *what) {
  *v = 0;
  if (r->err || need(r, 1, what))
    return r->err;
  uint8_t t = *r->p;
  int n;
  if (t < 0x80) {
    *v = t;
    r->p++;
    return 0;
  }
  switch (t) {
  case 0xcc: n = 1; break;
  case 0xcd: n = 2; break;
  case 0xce: n = 4; break;
  case 0xcf: n = 8; break;
  default:
    return fail(r, HEED_EFORMAT, "%s: expected an unsigned integer, found "
                "type byte 0x%02x", what, t);
  }
  if (need(r, 1 + (size_t)n, what))
    return r->err;
  *v = get_be(r->p + 1, n);
  r->p += 1 + n;
  return 0;
}

static int get_u32(rd *r, uint32_t *v, uint32_t max, const char *what) {
  uint64_t u = 0;
  *v = 0;
  if (get_uint(r, &u, what))
    return r->err;
  if (u > max)
    return fail(r, HEED_ERANGE, "%s %llu is out of range (max %u)", what,
                (unsigned long long)u, max);
  *v = (uint32_t)u;
  return 0;
}

static int get_arr(rd *r, uint32_t *n, const char *what) {
  *n = 0;
  if (r->err || need(r, 1, what))
    return r->err;
  uint8_t t = *r->p;
  if ((t & 0xf0) == 0x90) {
    *n = t & 0x0f;
    r->p++;
    return 0;
  }
  int k = t == 0xdc ? 2 : t == 0xdd ? 4 : 0;
  if (!k)
    return fail(r, HEED_EFORMAT, "%s: expected an array, found type byte "
                "0x%02x", what, t);
  if (need(r, 1 + (size_t)k, what))
    return r->err;
  *n = (uint32_t)get_be(r->p + 1, k);
  r->p += 1 + k;
  return 0;
}

/* bin (want_str 0) or str (1): checks the length against what remains. */
static int get_bytes(rd *r, const uint8_t **out, size_t *n, int want_str,
                     const char *what) {
  *out = NULL;
  *n = 0;
  if (r->err || need(r, 1, what))
    return r->err;
  uint8_t t = *r->p;
  int k;
  size_t len;
  if (want_str && (t & 0xe0) == 0xa0) {
    len = t & 0x1f;
    k = 0;
  } else {
    k = want_str ? (t == 0xd9 ? 1 : t == 0xda ? 2 : t == 0xdb ? 4 : -1)
                 : (t == 0xc4 ? 1 : t == 0xc5 ? 2 : t == 0xc6 ? 4 : -1);
    if (k < 0)
      return fail(r, HEED_EFORMAT, "%s: expected %s, found type byte 0x%02x",
                  what, want_str ? "a string" : "binary data", t);
    if (need(r, 1 + (size_t)k, what))
      return r->err;
    len = (size_t)get_be(r->p + 1, k);
  }
  r->p += 1 + k;
  if (len > left(r))
    return fail(r, HEED_ETRUNC, "truncated in %s (%zu of %zu bytes)", what,
                left(r), len);
  *out = r->p;
  *n = len;
  r->p += len;
  return 0;
}

static int get_double(rd *r, double *d, const char *what) {
  *d = 0;
  if (r->err || need(r, 1, what))
    return r->err;
  uint8_t t = *r->p;
  if (t == 0xcb) {
    if (need(r, 9, what))
      return r->err;
    uint64_t u = get_be(r->p + 1, 8);
    memcpy(d, &u, 8);
    r->p += 9;
  } else if (t == 0xca) {
    if (need(r, 5, what))
      return r->err;
    uint32_t u = (uint32_t)get_be(r->p + 1, 4);
    float f;
    memcpy(&f, &u, 4);
    *d = f;
    r->p += 5;
  } else {
    return fail(r, HEED_EFORMAT, "%s: expected a float, found type byte "
                "0x%02x", what, t);
  }
  return 0;
}

static void get_floats(float *dst, const uint8_t *src, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  for (size_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t)src[4 * i] | (uint32_t)src[4 * i + 1] << 8 |
                 (uint32_t)src[4 * i + 2] << 16 | (uint32_t)src[4 * i + 3] << 24;
    memcpy(&dst[i], &u, 4);
  }
#else
  if (n)
    memcpy(dst, src, n * 4);
#endif
}

void heed_frame_free(heed_frame *f) {
  heed__free(f->msgs);
  heed__free(f->arena);
  memset(f, 0, sizeof *f);
}

const char *heed_wire_kind_name(uint32_t kind) {
  switch (kind) {
  case HEED_WIRE_FORWARD: return "FORWARD";
  case HEED_WIRE_BID: return "BID";
  case HEED_WIRE_CONTROL: return "CONTROL";
  case HEED_WIRE_DONE: return "DONE";
  case HEED_WIRE_ACK: return "ACK";
  case HEED_WIRE_PARAMS: return "PARAMS";
  case HEED_WIRE_PULL: return "PULL";
  case HEED_WIRE_FORWARD_Z: return "FORWARD_Z";
  case HEED_SESS_BUILD: return "BUILD";
  case HEED_SESS_READY: return "READY";
  case HEED_SESS_STOP: return "STOP";
  case HEED_SESS_PING: return "PING";
  case HEED_SESS_PONG: return "PONG";
  case HEED_SESS_ERROR: return "ERROR";
  case HEED_SESS_HELLO: return "HELLO";
  case HEED_SESS_REFUSE: return "REFUSE";
  case HEED_SESS_JOIN: return "JOIN";
  case HEED_SESS_TRACE: return "TRACE";
  default: return "?";
  }
}

static int decode_msg(rd *r, heed_frame *f, heed_frame_msg *fm, size_t *used,
                      size_t idx) {
  uint32_t n;
  char what[48];
  snprintf(what, sizeof what, "message %zu", idx);
  memset(fm, 0, sizeof *fm);
  if (get_arr(r, &n, what))
    return r->err;
  uint64_t kind;
  if (get_uint(r, &kind, what))
    return r->err;
  fm->m.kind = (uint32_t)(kind <= UINT32_MAX ? kind : 0);
  if (kind >= HEED_WIRE_FORWARD && kind <= HEED_WIRE_FORWARD_Z) {
    if (n != 10)
      return fail(r, HEED_EFORMAT, "%s (%s) has %u fields, not 10", what,
                  heed_wire_kind_name(fm->m.kind), n);
    heed_wire_msg *m = &fm->m;
    if (get_u32(r, &m->layer, HEED_WIRE_MAX_LAYERS + 1, "layer") ||
        get_uint(r, &m->batch, "batch") || get_uint(r, &m->word, "word") ||
        get_u32(r, &m->mode, UINT32_MAX, "mode") ||
        get_u32(r, &m->count, UINT32_MAX, "count") ||
        get_u32(r, &m->stride, UINT32_MAX, "stride") ||
        get_u32(r, &m->rows, UINT32_MAX, "rows") ||
        get_u32(r, &m->ldc, UINT32_MAX, "ldc"))
      return r->err;
    const uint8_t *b;
    size_t nb;
    if (get_bytes(r, &b, &nb, 0, "data"))
      return r->err;
    if (nb % 4)
      return fail(r, HEED_EFORMAT, "%s: %zu data bytes is not whole floats",
                  what, nb);
    size_t nf = nb / 4;
    if ((m->kind == HEED_WIRE_FORWARD || m->kind == HEED_WIRE_BID) &&
        (uint64_t)m->rows * m->stride > nf)
      return fail(r, HEED_ERANGE, "%s: %u rows of %u floats do not fit in "
                  "%zu floats", what, m->rows, m->stride, nf);
    if (nf > f->acap - *used) /* cannot happen: arena >= frame / 4 */
      return fail(r, HEED_ERANGE, "%s: too many floats", what);
    float *dst = f->arena + *used;
    get_floats(dst, b, nf);
    *used += nf;
    m->data = nf ? dst : NULL;
    m->nfloats = nf;
  } else if (kind >= HEED_SESS_BUILD && kind <= HEED_SESS_LAST) {
    if (n != 3)
      return fail(r, HEED_EFORMAT, "%s (%s) has %u fields, not 3", what,
                  heed_wire_kind_name(fm->m.kind), n);
    if (get_uint(r, &fm->m.word, "word") ||
        get_bytes(r, &fm->bytes, &fm->nbytes, 0, "payload"))
      return r->err;
  } else {
    return fail(r, HEED_EFORMAT, "%s has unknown kind %llu", what,
                (unsigned long long)kind);
  }
  return 0;
}

int heed_wire_decode(heed_frame *f, const uint8_t *p, size_t n,
                     const heed_wire_expect *ex, char *why, size_t whylen) {
  rd r = {p, p + n, 0, why, whylen};
  size_t max = ex && ex->max_frame ? ex->max_frame : HEED_WIRE_MAX_FRAME_DEFAULT;
  f->nmsgs = 0;
  if (why && whylen)
    why[0] = 0;
  if (n > max)
    return fail(&r, HEED_ERANGE, "oversized frame: %zu bytes, limit %zu", n,
                max);
  if (!p || n == 0)
    return fail(&r, HEED_ETRUNC, "empty frame");
  /* Magic first: anything else is garbage, whatever follows. */
  uint32_t top;
  const uint8_t *s;
  size_t sl;
  if (n >= 1 && (p[0] & 0xf0) != 0x90 && p[0] != 0xdc && p[0] != 0xdd)
    return fail(&r, HEED_EFORMAT, "garbage: not a heed frame (first byte "
                "0x%02x)", p[0]);
  if (get_arr(&r, &top, "frame"))
    return r.err;
  if (top != 7)
    return fail(&r, HEED_EFORMAT, "garbage: frame array of %u items, not 7",
                top);
  if (r.p < r.end && (*r.p & 0xe0) != 0xa0 && *r.p != 0xd9)
    return fail(&r, HEED_EFORMAT, "garbage: no \"heed\" magic");
  if (get_bytes(&r, &s, &sl, 1, "magic"))
    return r.err;
  if (sl != 4 || memcmp(s, "heed", 4))
    return fail(&r, HEED_EFORMAT, "garbage: no \"heed\" magic");
  uint64_t v;
  if (get_uint(&r, &v, "version"))
    return r.err;
  if (v != HEED_WIRE_VERSION)
    return fail(&r, HEED_EVERSION, "protocol version %llu, expected %d",
                (unsigned long long)v, HEED_WIRE_VERSION);
  f->h.version = (uint32_t)v;
  if (get_uint(&r, &f->h.run_id, "run id") ||
      get_u32(&r, &f->h.from, HEED_WIRE_MAX_PROCS - 1, "sender") ||
      get_u32(&r, &f->h.to, HEED_WIRE_MAX_PROCS - 1, "receiver") ||
      get_uint(&r, &f->h.seq, "sequence number"))
    return r.err;
  if (ex && ex->check_run && f->h.run_id != ex->run_id)
    return fail(&r, HEED_EPROTO, "frame of run %016llx, this is run %016llx",
                (unsigned long long)f->h.run_id,
                (unsigned long long)ex->run_id);
  if (ex && ex->check_to && f->h.to != ex->to)
    return fail(&r, HEED_EPROTO, "frame for process %u, this is process %u",
                f->h.to, ex->to);
  uint32_t nm;
  if (get_arr(&r, &nm, "message list"))
    return r.err;
  /* Every message takes at least 4 bytes: check before allocating. */
  if (nm > left(&r) / 4)
    return fail(&r, HEED_ETRUNC, "truncated: %u messages announced, %zu "
                "bytes left", nm, left(&r));
  if (nm > f->mcap) {
    heed_frame_msg *m = heed__realloc(f->msgs, (size_t)nm * sizeof *m);
    if (!m)
      return fail(&r, HEED_ENOMEM, "out of memory");
    f->msgs = m;
    f->mcap = nm;
  }
  size_t nfl = left(&r) / 4 + 1;
  if (nfl > f->acap) {
    heed__free(f->arena);
    f->arena = heed__malloc(nfl * sizeof *f->arena);
    f->acap = f->arena ? nfl : 0;
    if (!f->arena)
      return fail(&r, HEED_ENOMEM, "out of memory");
  }
  size_t used = 0;
  for (uint32_t i = 0; i < nm; i++)
    if (decode_msg(&r, f, &f->msgs[i], &used, i))
      return r.err;
  if (r.p != r.end)
    return fail(&r, HEED_EFORMAT, "garbage: %zu bytes after the last message",
                left(&r));
  f->nmsgs = nm;
  return 0;
}

/* ---- the run configuration --------------------------------------------- */

static int put_str(heed_wbuf *b, const char *s) {
  size_t n = strlen(s);
  int rv = reserve(b, 5 + n);
  if (rv)
    return rv;
  uint8_t *o = put_strhdr(b->p + b->len, (uint32_t)n);
  memcpy(o, s, n);
  b->len = (size_t)(o + n - b->p);
  return 0;
}

static int put_u(heed_wbuf *b, uint64_t v) {
  int rv = reserve(b, 9);
  if (!rv)
    b->len = (size_t)(put_uint(b->p + b->len, v) - b->p);
  return rv;
}

static int put_a(heed_wbuf *b, uint32_t n) {
  int rv = reserve(b, 5);
  if (!rv)
    b->len = (size_t)(put_arr(b->p + b->len, n) - b->p);
  return rv;
}

#define CFG_FIELDS 18

int heed_wire_config_encode(heed_wbuf *b, const heed_run_config *c) {
  int rv = 0;
  if (c->nsizes < 2 || c->nsizes > HEED_WIRE_MAX_LAYERS + 1 ||
      c->nprocs < 1 || c->nprocs > HEED_WIRE_MAX_PROCS ||
      c->nplugins > HEED_WIRE_MAX_PLUGINS ||
      c->nassign > HEED_WIRE_MAX_ASSIGN ||
      (c->nshare && c->nshare != (c->nsizes - 1) * c->nprocs))
    return HEED_EINVAL;
  rv = put_a(b, CFG_FIELDS);
  rv = rv ? rv : put_str(b, "heed-run");
  rv = rv ? rv : put_u(b, c->run_id);
  rv = rv ? rv : put_u(b, c->nprocs);
  rv = rv ? rv : put_u(b, c->self);
  rv = rv ? rv : put_u(b, c->seed);
  rv = rv ? rv : reserve(b, 9);
  if (!rv) {
    uint64_t u;
    memcpy(&u, &c->lr, 8);
    b->p[b->len++] = 0xcb;
    b->len = (size_t)(put_be(b->p + b->len, u, 8) - b->p);
  }
  rv = rv ? rv : put_u(b, c->max_batch);
  rv = rv ? rv : put_u(b, c->threads);
  rv = rv ? rv : put_u(b, c->init);
  rv = rv ? rv : put_u(b, c->max_frame);
  rv = rv ? rv : put_str(b, c->strategy);
  rv = rv ? rv : put_a(b, c->nsizes);
  for (uint32_t i = 0; i < c->nsizes && !rv; i++)
    rv = put_u(b, c->sizes[i]);
  rv = rv ? rv : put_a(b, c->nsizes - 1);
  for (uint32_t i = 0; i + 1 < c->nsizes && !rv; i++)
    rv = put_u(b, c->acts[i]);
  rv = rv ? rv : put_a(b, c->nsizes - 1);
  for (uint32_t i = 0; i + 1 < c->nsizes && !rv; i++)
    rv = put_u(b, c->layer_proc[i]);
  rv = rv ? rv : put_a(b, c->nprocs);
  for (uint32_t i = 0; i < c->nprocs && !rv; i++)
    rv = put_str(b, c->urls[i]);
  rv = rv ? rv : put_a(b, c->nshare);
  for (uint32_t i = 0; i < c->nshare && !rv; i++)
    rv = put_u(b, c->share[i]);
  rv = rv ? rv : put_a(b, c->nplugins);
  for (uint32_t i = 0; i < c->nplugins && !rv; i++)
    rv = put_str(b, c->plugins[i]);
  rv = rv ? rv : put_a(b, c->nassign);
  for (uint32_t i = 0; i < c->nassign && !rv; i++) {
    const heed_wire_assign *a = &c->assign[i];
    rv = put_a(b, 4);
    rv = rv ? rv : put_u(b, a->layer);
    rv = rv ? rv : put_u(b, a->lo);
    rv = rv ? rv : put_u(b, a->count);
    rv = rv ? rv : put_str(b, a->spec);
  }
  return rv;
}

static int get_cstr(rd *r, char *dst, size_t cap, const char *what) {
  const uint8_t *s;
  size_t n;
  if (get_bytes(r, &s, &n, 1, what))
    return r->err;
  if (n >= cap || memchr(s, 0, n))
    return fail(r, HEED_ERANGE, "%s: string of %zu bytes (max %zu)", what, n,
                cap - 1);
  memcpy(dst, s, n);
  dst[n] = 0;
  return 0;
}

static int get_list(rd *r, uint32_t *out, uint32_t want, uint32_t max,
                    const char *what) {
  uint32_t n;
  if (get_arr(r, &n, what))
    return r->err;
  if (n != want)
    return fail(r, HEED_EFORMAT, "%s: %u items, expected %u", what, n, want);
  for (uint32_t i = 0; i < n; i++)
    if (get_u32(r, &out[i], max, what))
      return r->err;
  return 0;
}

/* Each assignment names neurons the net has: a layer in range, a range
 * inside it (count 0, the whole layer, starts at 0). */
static int get_assigns(rd *r, heed_run_config *c) {
  if (get_arr(r, &c->nassign, "assignments"))
    return r->err;
  if (c->nassign > HEED_WIRE_MAX_ASSIGN)
    return fail(r, HEED_ERANGE, "%u assignments (max %d)", c->nassign,
                HEED_WIRE_MAX_ASSIGN);
  for (uint32_t i = 0; i < c->nassign; i++) {
    heed_wire_assign *a = &c->assign[i];
    uint32_t k;
    if (get_arr(r, &k, "assignment"))
      return r->err;
    if (k != 4)
      return fail(r, HEED_EFORMAT, "assignment of %u fields, not 4", k);
    if (get_u32(r, &a->layer, c->nsizes - 1, "assignment layer") ||
        get_u32(r, &a->lo, c->sizes[a->layer] - 1, "assignment neuron") ||
        get_u32(r, &a->count, c->sizes[a->layer] - a->lo, "assignment count") ||
        get_cstr(r, a->spec, sizeof a->spec, "assignment strategy"))
      return r->err;
    if (!a->layer || (!a->count && a->lo))
      return fail(r, HEED_ERANGE, "assignment %u: layer %u neuron %u count "
                  "%u", i + 1, a->layer, a->lo, a->count);
  }
  return 0;
}

int heed_wire_config_decode(heed_run_config *c, const uint8_t *p, size_t n,
                            char *why, size_t whylen) {
  rd r = {p, p + n, 0, why, whylen};
  memset(c, 0, sizeof *c);
  uint32_t k;
  char magic[16];
  if (get_arr(&r, &k, "run config"))
    return r.err;
  if (k != CFG_FIELDS)
    return fail(&r, HEED_EFORMAT, "run config of %u fields, not %d", k,
                CFG_FIELDS);
  if (get_cstr(&r, magic, sizeof magic, "run config tag"))
    return r.err;
  if (strcmp(magic, "heed-run"))
    return fail(&r, HEED_EFORMAT, "not a heed run config");
  if (get_uint(&r, &c->run_id, "run id") ||
      get_u32(&r, &c->nprocs, HEED_WIRE_MAX_PROCS, "process count") ||
      get_u32(&r, &c->self, HEED_WIRE_MAX_PROCS - 1, "process index") ||
      get_uint(&r, &c->seed, "seed") || get_double(&r, &c->lr, "lr") ||
      get_u32(&r, &c->max_batch, 1u << 20, "max batch") ||
      get_u32(&r, &c->threads, 256, "threads") ||
      get_u32(&r, &c->init, 16, "init") ||
      get_uint(&r, &c->max_frame, "frame limit") ||
      get_cstr(&r, c->strategy, sizeof c->strategy, "strategy"))
    return r.err;
  if (c->nprocs < 1 || c->self >= c->nprocs)
    return fail(&r, HEED_ERANGE, "process %u of %u", c->self, c->nprocs);
  if (get_arr(&r, &c->nsizes, "sizes"))
    return r.err;
  if (c->nsizes < 2 || c->nsizes > HEED_WIRE_MAX_LAYERS + 1)
    return fail(&r, HEED_ERANGE, "%u layer sizes", c->nsizes);
  for (uint32_t i = 0; i < c->nsizes; i++)
    if (get_u32(&r, &c->sizes[i], 1u << 24, "layer size"))
      return r.err;
  for (uint32_t i = 0; i < c->nsizes; i++)
    if (!c->sizes[i])
      return fail(&r, HEED_ERANGE, "layer %u has no units", i);
  if (get_list(&r, c->acts, c->nsizes - 1, 16, "activations") ||
      get_list(&r, c->layer_proc, c->nsizes - 1, c->nprocs - 1, "placement"))
    return r.err;
  uint32_t nu;
  if (get_arr(&r, &nu, "urls"))
    return r.err;
  if (nu != c->nprocs)
    return fail(&r, HEED_EFORMAT, "%u urls for %u processes", nu, c->nprocs);
  for (uint32_t i = 0; i < nu; i++)
    if (get_cstr(&r, c->urls[i], sizeof c->urls[i], "url"))
      return r.err;
  if (get_arr(&r, &c->nshare, "slices"))
    return r.err;
  if (c->nshare && c->nshare != (c->nsizes - 1) * c->nprocs)
    return fail(&r, HEED_EFORMAT, "slices: %u items, expected 0 or %u",
                c->nshare, (c->nsizes - 1) * c->nprocs);
  for (uint32_t l = 0; c->nshare && l + 1 < c->nsizes; l++) {
    uint64_t sum = 0;
    for (uint32_t p = 0; p < c->nprocs; p++) {
      uint32_t *v = &c->share[l * c->nprocs + p];
      if (get_u32(&r, v, c->sizes[l + 1], "slice"))
        return r.err;
      sum += *v;
    }
    if (sum != c->sizes[l + 1])
      return fail(&r, HEED_ERANGE, "slices of layer %u: %llu neurons, the "
                  "layer has %u", l + 1, (unsigned long long)sum,
                  c->sizes[l + 1]);
  }
  if (get_arr(&r, &c->nplugins, "plugins"))
    return r.err;
  if (c->nplugins > HEED_WIRE_MAX_PLUGINS)
    return fail(&r, HEED_ERANGE, "%u plugins (max %d)", c->nplugins,
                HEED_WIRE_MAX_PLUGINS);
  for (uint32_t i = 0; i < c->nplugins; i++)
    if (get_cstr(&r, c->plugins[i], sizeof c->plugins[i], "plugin"))
      return r.err;
  if (get_assigns(&r, c))
    return r.err;
  if (r.p != r.end)
    return fail(&r, HEED_EFORMAT, "%zu bytes after the run config", left(&r));
  return 0;
}
