/*
 * reader.c - decoding trace records (docs/trace-format.md) from a file or
 * from bytes the caller feeds. The bytes are buffered here and each record
 * is first walked raw (heed__mpk_skim): a record must end within
 * HEED_TRACE_MAX_RECORD bytes and no array or map may declare more elements
 * than its bytes could hold, so a few hostile bytes cannot make msgpack-c
 * allocate gigabytes. "Needs more bytes" at the end of a file means the
 * file was cut inside a record (a run killed mid-write); anything else
 * that fails the walk is not a trace.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <msgpack.h>

#include "common/mpk.h"
#include "common/alloc.h"
#include "heed/trace.h"
#include "trace/internal.h"

#define READ_CHUNK (1 << 16)
#define MAX_DEPTH 16 /* records nest 2 deep; later versions may add some */

struct heed_trace_reader {
  unsigned char *buf; /* bytes [start, end) not yet decoded */
  size_t start, end, cap;
  msgpack_zone zone; /* one record's objects, cleared for the next */
  FILE *f;
  int own_f, eof, err;
  uint64_t offset;
  float *vals, *coef; /* an event's stored values and coefficients */
  char config[HEED_TRACE_MAX_CONFIG + 1]; /* the header's */
  char name[33];                          /* a MARK's */
  uint64_t loops[HEED__TRACE_MAX_LOOPS][4]; /* a LOOPS record's */
};

int heed_trace_reader_new(heed_trace_reader **rp) {
  if (!rp)
    return HEED_EINVAL;
  *rp = NULL;
  heed_trace_reader *r = heed__calloc(1, sizeof *r);
  if (!r)
    return HEED_ENOMEM;
  r->vals = heed__malloc(HEED_TRACE_MAX_VALUES * sizeof(float));
  r->coef = heed__malloc(HEED_TRACE_MAX_VALUES * sizeof(float));
  if (!r->vals || !r->coef || !msgpack_zone_init(&r->zone, 4096)) {
    heed__free(r->vals);
    heed__free(r->coef);
    heed__free(r);
    return HEED_ENOMEM;
  }
  *rp = r;
  return 0;
}

int heed_trace_reader_open(heed_trace_reader **rp, const char *path,
                           char *err, size_t errlen) {
  if (errlen)
    err[0] = '\0';
  if (!rp || !path) {
    snprintf(err, errlen, "no trace file");
    return HEED_EINVAL;
  }
  *rp = NULL;
  int own = strcmp(path, "-") != 0;
  FILE *f = own ? fopen(path, "rb") : stdin;
  if (!f) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return errno == ENOENT ? HEED_ENOENT : HEED_EIO;
  }
  heed_trace_reader *r;
  int rv = heed_trace_reader_new(&r);
  if (rv) {
    if (own)
      fclose(f);
    snprintf(err, errlen, "out of memory");
    return rv;
  }
  r->f = f;
  r->own_f = own;
  *rp = r;
  return 0;
}

/* Room for want more bytes after end, the undecoded bytes moved to the
 * front first. */
static int reserve(heed_trace_reader *r, size_t want) {
  if (r->start) {
    memmove(r->buf, r->buf + r->start, r->end - r->start);
    r->end -= r->start;
    r->start = 0;
  }
  if (want > SIZE_MAX - r->end)
    return HEED_ENOMEM;
  if (r->end + want <= r->cap)
    return 0;
  size_t cap = r->cap ? r->cap : 4096;
  while (cap < r->end + want)
    cap = cap > SIZE_MAX / 2 ? r->end + want : 2 * cap;
  unsigned char *b = heed__realloc(r->buf, cap);
  if (!b)
    return HEED_ENOMEM;
  r->buf = b;
  r->cap = cap;
  return 0;
}

int heed_trace_reader_feed(heed_trace_reader *r, const void *data,
                           size_t len) {
  if (!r || (len && !data))
    return HEED_EINVAL;
  if (!len)
    return 0;
  int rv = reserve(r, len);
  if (rv)
    return rv;
  memcpy(r->buf + r->end, data, len);
  r->end += len;
  return 0;
}

/* ---- decoding one object ---- */

static int get_u64(const msgpack_object *o, uint64_t *v) {
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return -1;
  *v = o->via.u64;
  return 0;
}

static int get_u32(const msgpack_object *o, uint32_t *v) {
  uint64_t x;
  if (get_u64(o, &x) || x > UINT32_MAX)
    return -1;
  *v = (uint32_t)x;
  return 0;
}

static int get_who(const msgpack_object *o, heed_trace_who *w) {
  uint32_t role;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3 ||
      get_u32(&o->via.array.ptr[0], &role) || role > 255 ||
      get_u32(&o->via.array.ptr[1], &w->layer) ||
      get_u32(&o->via.array.ptr[2], &w->index))
    return -1;
  w->role = (uint8_t)role;
  return 0;
}

static int get_str(const msgpack_object *o, const char *want) {
  size_t n = strlen(want);
  return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
                 !memcmp(o->via.str.ptr, want, n)
             ? 0
             : -1;
}

/* The keys a reader knows, found by length first: a record has a dozen
 * keys and this runs for each of them. */
enum key_id {
  K_FORMAT, K_KIND, K_VERSION, K_RUN, K_T, K_DUR, K_BATCH, K_FROM, K_TO,
  K_FANOUT, K_LOOP, K_DROPPED, K_RECORDED, K_START, K_SAMPLE, K_KINDS, K_SUM,
  K_VALUES, K_PROC, K_PROCS, K_LOSS, K_ACC, K_N, K_CONFIG, K_END, K_SHED, K_NAME, K_VALUE, K_LOOPS, K_COEF, K_UNKNOWN
};

static const struct {
  const char *name;
  uint32_t len;
} keys[K_UNKNOWN] = {
    {"format", 6},  {"kind", 4},    {"version", 7},        {"run", 3},
    {"t", 1},       {"dur", 3},     {"batch", 5},          {"from", 4},
    {"to", 2},      {"fanout", 6},  {"loop", 4},           {"dropped", 7},
    {"recorded", 8}, {"start_unix_ns", 13}, {"sample", 6}, {"kinds", 5},
    {"sum", 3},     {"values", 6},  {"proc", 4},           {"procs", 5},
    {"loss", 4},    {"acc", 3},     {"n", 1},              {"config", 6},
    {"end", 3},     {"shed", 4},    {"name", 4},           {"value", 5},
    {"loops", 5},   {"coef", 4},
};

static enum key_id key_of(const msgpack_object *k) {
  if (k->type != MSGPACK_OBJECT_STR)
    return K_UNKNOWN;
  for (int i = 0; i < K_UNKNOWN; i++)
    if (keys[i].len == k->via.str.size &&
        !memcmp(keys[i].name, k->via.str.ptr, k->via.str.size))
      return (enum key_id)i;
  return K_UNKNOWN;
}

static int get_sum(const msgpack_object *v, heed_trace_rec *rec) {
  if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size != 5)
    return -1;
  const msgpack_object *a = v->via.array.ptr;
  return get_u32(&a[0], &rec->count) || heed__mpk_num(&a[1], &rec->mean) ||
                 heed__mpk_num(&a[2], &rec->mean_abs) ||
                 heed__mpk_num(&a[3], &rec->min) ||
                 heed__mpk_num(&a[4], &rec->max)
             ? -1
             : 0;
}

/* At most HEED_TRACE_MAX_VALUES numbers into out; their count in *n. */
static int get_floats(const msgpack_object *v, float *out, uint32_t *n) {
  if (v->type != MSGPACK_OBJECT_ARRAY ||
      v->via.array.size > HEED_TRACE_MAX_VALUES)
    return -1;
  for (uint32_t k = 0; k < v->via.array.size; k++) {
    double x = 0;
    if (heed__mpk_num(&v->via.array.ptr[k], &x))
      return -1;
    out[k] = (float)x;
  }
  *n = v->via.array.size;
  return 0;
}

/* An event's stored values (the header's "values" is a boolean). */
static int get_values(heed_trace_reader *r, const msgpack_object *v,
                      heed_trace_rec *rec) {
  if (v->type == MSGPACK_OBJECT_BOOLEAN)
    return 0;
  if (get_floats(v, r->vals, &rec->nvalues))
    return -1;
  rec->values = rec->nvalues ? r->vals : NULL;
  return 0;
}

/* A bid's stored coefficients. */
static int get_coef(heed_trace_reader *r, const msgpack_object *v,
                    heed_trace_rec *rec) {
  if (get_floats(v, r->coef, &rec->ncoef))
    return -1;
  rec->coef = rec->ncoef ? r->coef : NULL;
  return 0;
}

/* The header's configuration, copied (at most HEED_TRACE_MAX_CONFIG bytes
 * and no NUL: it is a C string for the caller). */
static int get_config(heed_trace_reader *r, const msgpack_object *v,
                      heed_trace_rec *rec) {
  if (v->type != MSGPACK_OBJECT_STR ||
      v->via.str.size > HEED_TRACE_MAX_CONFIG ||
      memchr(v->via.str.ptr, '\0', v->via.str.size))
    return -1;
  memcpy(r->config, v->via.str.ptr, v->via.str.size);
  r->config[v->via.str.size] = '\0';
  rec->config = r->config;
  return 0;
}

/* A LOOPS record's [handled, turns, queued, peak] per loop (at most
 * HEED__TRACE_MAX_LOOPS loops). */
static int get_loops(heed_trace_reader *r, const msgpack_object *v,
                     heed_trace_rec *rec) {
  if (v->type != MSGPACK_OBJECT_ARRAY ||
      v->via.array.size > HEED__TRACE_MAX_LOOPS)
    return -1;
  for (uint32_t i = 0; i < v->via.array.size; i++) {
    const msgpack_object *a = &v->via.array.ptr[i];
    if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != 4)
      return -1;
    for (int k = 0; k < 4; k++)
      if (get_u64(&a->via.array.ptr[k], &r->loops[i][k]))
        return -1;
  }
  rec->nloops = v->via.array.size;
  rec->loops = (const uint64_t(*)[4])r->loops;
  return 0;
}

/* A MARK's name, at most 32 bytes, no NUL. */
static int get_name(heed_trace_reader *r, const msgpack_object *v,
                    heed_trace_rec *rec) {
  if (v->type != MSGPACK_OBJECT_STR || v->via.str.size >= sizeof r->name ||
      memchr(v->via.str.ptr, '\0', v->via.str.size))
    return -1;
  memcpy(r->name, v->via.str.ptr, v->via.str.size);
  r->name[v->via.str.size] = '\0';
  rec->mark = r->name;
  return 0;
}

/* One field into rec: 0, or -1 when its value has the wrong type. */
static int field(heed_trace_reader *r, enum key_id id,
                 const msgpack_object *v, heed_trace_rec *rec, int *header,
                 int *have_kind) {
  switch (id) {
  case K_FORMAT:
    *header = 1;
    return get_str(v, "heed-trace");
  case K_KIND:
    if (v->type != MSGPACK_OBJECT_STR)
      return -1;
    rec->kind = heed__trace_kind_parse1(v->via.str.ptr, v->via.str.size);
    *have_kind = 1;
    return rec->kind ? 0 : -1;
  case K_VERSION: return get_u32(v, &rec->version);
  case K_RUN: return get_u64(v, &rec->run);
  case K_T: return get_u64(v, &rec->t_ns);
  case K_DUR: return get_u64(v, &rec->dur_ns);
  case K_BATCH: return get_u64(v, &rec->batch);
  case K_FROM: return get_who(v, &rec->sender);
  case K_TO: return get_who(v, &rec->receiver);
  case K_FANOUT: return get_u32(v, &rec->fanout);
  case K_LOOP: return get_u32(v, &rec->loop);
  case K_DROPPED: return get_u64(v, &rec->dropped);
  case K_RECORDED: return get_u64(v, &rec->recorded);
  case K_START: return get_u64(v, &rec->start_unix_ns);
  case K_SAMPLE: return heed__mpk_num(v, &rec->sample);
  case K_KINDS: return get_u32(v, &rec->kinds);
  case K_SUM: return get_sum(v, rec);
  case K_VALUES: return get_values(r, v, rec);
  case K_PROC: return get_u32(v, &rec->proc);
  case K_PROCS: return get_u32(v, &rec->procs);
  case K_LOSS: return heed__mpk_num(v, &rec->loss);
  case K_ACC: return heed__mpk_num(v, &rec->acc);
  case K_N: return get_u32(v, &rec->count);
  case K_CONFIG: return get_config(r, v, rec);
  case K_SHED: return get_u64(v, &rec->shed);
  case K_NAME: return get_name(r, v, rec);
  case K_VALUE: return get_u32(v, &rec->value);
  case K_LOOPS: return get_loops(r, v, rec);
  case K_COEF: return get_coef(r, v, rec);
  case K_END:
    if (v->type != MSGPACK_OBJECT_BOOLEAN)
      return -1;
    rec->end = v->via.boolean;
    return 0;
  default: return 0; /* unknown keys are skipped: later versions may add */
  }
}

static int decode(heed_trace_reader *r, const msgpack_object *o,
                  heed_trace_rec *rec) {
  memset(rec, 0, sizeof *rec);
  if (o->type != MSGPACK_OBJECT_MAP)
    return HEED_EFORMAT;
  int header = 0, have_kind = 0;
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object_kv *kv = &o->via.map.ptr[i];
    if (field(r, key_of(&kv->key), &kv->val, rec, &header, &have_kind))
      return HEED_EFORMAT;
  }
  if (header) {
    if (rec->version != HEED__TRACE_VERSION)
      return HEED_EVERSION;
    rec->kind = 0;
    rec->nvalues = 0;
    rec->values = NULL;
    rec->ncoef = 0;
    rec->coef = NULL;
    return 0;
  }
  return have_kind ? 0 : HEED_EFORMAT;
}

/* Reads more of the file: 0, or HEED_EIO / HEED_ENOMEM. */
static int fill(heed_trace_reader *r) {
  int rv = reserve(r, READ_CHUNK);
  if (rv)
    return rv;
  size_t n = fread(r->buf + r->end, 1, r->cap - r->end, r->f);
  if (n == 0) {
    if (ferror(r->f))
      return HEED_EIO;
    r->eof = 1;
  }
  r->end += n;
  return 0;
}

/* Unpacks and decodes the whole record of len bytes at the front. */
static int take(heed_trace_reader *r, size_t len, heed_trace_rec *rec) {
  size_t pos = 0;
  msgpack_object o;
  /* msgpack_unpack (not _next) reuses the zone instead of allocating a
   * fresh one per record. */
  msgpack_zone_clear(&r->zone);
  msgpack_unpack_return ur = msgpack_unpack(
      (const char *)r->buf + r->start, len, &pos, &r->zone, &o);
  if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
    return HEED_ENOMEM;
  if (ur != MSGPACK_UNPACK_SUCCESS || pos != len)
    return HEED_EFORMAT;
  int rv = decode(r, &o, rec);
  if (rv)
    return rv;
  r->start += len;
  r->offset += len;
  return 1;
}

int heed_trace_reader_next(heed_trace_reader *r, heed_trace_rec *rec) {
  if (!r || !rec)
    return HEED_EINVAL;
  if (r->err)
    return r->err;
  for (;;) {
    size_t len = 0, avail = r->end - r->start;
    int rv = avail ? heed__mpk_skim(r->buf + r->start, avail,
                                    HEED_TRACE_MAX_RECORD, &len, MAX_DEPTH)
                   : HEED_ETRUNC;
    if (rv == 0) {
      rv = take(r, len, rec);
      return rv == 1 ? 1 : (r->err = rv);
    }
    if (rv != HEED_ETRUNC)
      return r->err = rv;
    if (!r->f)
      return 0; /* wait for more bytes */
    if (r->eof)
      return avail ? (r->err = HEED_ETRUNC) : 0;
    if ((rv = fill(r)) != 0)
      return r->err = rv;
  }
}

uint64_t heed_trace_reader_offset(const heed_trace_reader *r) {
  return r ? r->offset : 0;
}

void heed_trace_reader_free(heed_trace_reader *r) {
  if (!r)
    return;
  msgpack_zone_destroy(&r->zone);
  if (r->own_f && r->f)
    fclose(r->f);
  heed__free(r->buf);
  heed__free(r->vals);
  heed__free(r->coef);
  heed__free(r);
}

/* ---- filters ---- */

void heed_trace_filter_init(heed_trace_filter *f) {
  memset(f, 0, sizeof *f);
  f->kinds = HEED_TRACE_ALL;
  f->batch_lo = 1;
  f->layer_lo = 1;
  f->neuron_lo = 1;
}

static int end_matches(const heed_trace_filter *f, const heed_trace_who *w) {
  if (f->layer_lo <= f->layer_hi &&
      (w->layer < f->layer_lo || w->layer > f->layer_hi))
    return 0;
  if (f->neuron_lo <= f->neuron_hi &&
      (w->role != HEED_ROLE_NEURON || w->index < f->neuron_lo ||
       w->index > f->neuron_hi))
    return 0;
  return 1;
}

int heed_trace_filter_match(const heed_trace_filter *f,
                            const heed_trace_rec *rec) {
  if (!f || !rec)
    return 0;
  uint32_t kind = rec->kind ? rec->kind : 0;
  if (kind && !(kind & f->kinds))
    return 0;
  if (!kind && f->kinds != HEED_TRACE_ALL)
    return 0; /* the header only passes when no kind was asked for */
  if (f->batch_lo <= f->batch_hi &&
      (rec->batch < f->batch_lo || rec->batch > f->batch_hi))
    return 0;
  int ends = f->layer_lo <= f->layer_hi || f->neuron_lo <= f->neuron_hi;
  if (!ends)
    return 1;
  if (kind == 0 || kind == HEED_TRACE_DROPS)
    return 0;
  return end_matches(f, &rec->sender) || end_matches(f, &rec->receiver);
}
