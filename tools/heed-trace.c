/*
 * heed-trace - read the traces `heed train --trace` records
 * (docs/tracing.md, docs/trace-format.md): print them, follow a live run,
 * summarize who pays attention to whom, export a Chrome/Perfetto timeline
 * and plot attention per layer.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "cli/plot.h"
#include "heed/error.h"
#include "heed/trace.h"

#define MAX_LAYERS 64

static const char *prog = "heed-trace";

static void usage(FILE *f) {
  fprintf(f,
      "usage: heed-trace <command> [options] FILE|URL\n\n"
      "Reads the traces that 'heed train --trace FILE' records and that\n"
      "'heed train --trace-live URL' publishes.\n\n"
      "commands:\n"
      "  cat FILE|URL           one line per record\n"
      "  tail URL               follow a live run (Ctrl-C to stop)\n"
      "  stats FILE             messages per kind and layer, time per batch,\n"
      "                         attention received per neuron and layer\n"
      "  export --chrome OUT.json FILE\n"
      "                         Chrome trace-event JSON (Perfetto, "
      "chrome://tracing)\n"
      "  attention --plot OUT.svg|.png FILE\n"
      "                         attention received per neuron, per layer\n\n"
      "filters (cat, tail):\n"
      "  --layer N[-M]          sender or receiver in these layers\n"
      "  --neuron N[-M]         sender or receiver is one of these neurons\n"
      "  --kind K[,K...]        forward, bid, control, batch, labels, drops\n"
      "  --batch N[-M]          these batches\n"
      "  --count N              stop after N records\n\n"
      "A FILE of '-' is standard input. URLs look like tcp://127.0.0.1:5555 "
      "or\nipc:///tmp/heed.trace.\n");
}

static int fail(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "%s: ", prog);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  return 1;
}

/* ---- small helpers ---- */

typedef struct vec {
  void *p;
  size_t n, cap, size;
} vec;

static void *vec_push(vec *v) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? 2 * v->cap : 64;
    void *p = realloc(v->p, cap * v->size);
    if (!p) {
      fprintf(stderr, "%s: out of memory\n", prog);
      exit(1);
    }
    v->p = p;
    v->cap = cap;
  }
  return (char *)v->p + v->size * v->n++;
}

/* Open addressing map from a pair of u64 to a u64 value. */
typedef struct map {
  uint64_t *k1, *k2, *val;
  unsigned char *used;
  size_t cap, n;
} map;

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

static uint64_t *map_slot(map *m, uint64_t a, uint64_t b, int insert);

static void map_grow(map *m) {
  map old = *m;
  m->cap = old.cap ? old.cap * 2 : 1024;
  m->n = 0;
  m->k1 = calloc(m->cap, 8);
  m->k2 = calloc(m->cap, 8);
  m->val = calloc(m->cap, 8);
  m->used = calloc(m->cap, 1);
  if (!m->k1 || !m->k2 || !m->val || !m->used) {
    fprintf(stderr, "%s: out of memory\n", prog);
    exit(1);
  }
  for (size_t i = 0; i < old.cap; i++)
    if (old.used[i])
      *map_slot(m, old.k1[i], old.k2[i], 1) = old.val[i];
  free(old.k1);
  free(old.k2);
  free(old.val);
  free(old.used);
}

/* The value slot of (a, b); NULL when absent and not inserting. A new
 * slot holds UINT64_MAX. */
static uint64_t *map_slot(map *m, uint64_t a, uint64_t b, int insert) {
  if (insert && 2 * (m->n + 1) > m->cap)
    map_grow(m);
  if (!m->cap)
    return NULL;
  size_t i = mix(a * 31 + mix(b)) & (m->cap - 1);
  while (m->used[i]) {
    if (m->k1[i] == a && m->k2[i] == b)
      return &m->val[i];
    i = (i + 1) & (m->cap - 1);
  }
  if (!insert)
    return NULL;
  m->used[i] = 1;
  m->k1[i] = a;
  m->k2[i] = b;
  m->val[i] = UINT64_MAX;
  m->n++;
  return &m->val[i];
}

static void map_free(map *m) {
  free(m->k1);
  free(m->k2);
  free(m->val);
  free(m->used);
  memset(m, 0, sizeof *m);
}

static uint64_t who_key(const heed_trace_who *w) {
  return (uint64_t)w->role << 56 | (uint64_t)(w->layer & 0xffffff) << 32 |
         w->index;
}

static const char *who_str(const heed_trace_who *w, char *buf, size_t len) {
  const char *r = heed_trace_role_name(w->role);
  switch (w->role) {
  case HEED_ROLE_NEURON:
    if (w->index == HEED_TRACE_ALL_NEURONS)
      snprintf(buf, len, "neurons L%u", w->layer);
    else
      snprintf(buf, len, "neuron L%u#%u", w->layer, w->index);
    break;
  case HEED_ROLE_HUB:
    snprintf(buf, len, "hub L%u", w->layer);
    break;
  default:
    snprintf(buf, len, "%s", r);
  }
  return buf;
}

static int parse_range(const char *s, uint64_t max, uint64_t *lo,
                       uint64_t *hi) {
  char *end;
  errno = 0;
  unsigned long long a = strtoull(s, &end, 10), b = a;
  if (end == s || errno || *s == '-')
    return -1;
  if (*end == '-') {
    const char *t = end + 1;
    b = strtoull(t, &end, 10);
    if (end == t || errno || *t == '-')
      return -1;
  }
  if (*end || a > b || b > max)
    return -1;
  *lo = a;
  *hi = b;
  return 0;
}

/* ---- reading ---- */

typedef int (*rec_fn)(void *ctx, const heed_trace_rec *r);

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

static int is_url(const char *s) { return strstr(s, "://") != NULL; }

static int quiet_warnings; /* set while a file is read a second time */

/* Feeds every record of a file to fn (fn returns nonzero to stop). A
 * truncated file is read to its last whole record with a warning. */
static int read_file(const char *path, rec_fn fn, void *ctx) {
  char err[512];
  heed_trace_reader *r;
  if (heed_trace_reader_open(&r, path, err, sizeof err) != 0)
    return fail("%s%s", err, "");
  heed_trace_rec rec;
  int rv, n = 0, rc = 0;
  while ((rv = heed_trace_reader_next(r, &rec)) == 1) {
    if (n++ == 0 && rec.kind != 0) {
      rc = fail("%s: not a heed trace (no header record)%s", path, "");
      break;
    }
    if (fn(ctx, &rec))
      break;
  }
  if (rv == HEED_ETRUNC && n == 0) {
    rc = fail("%s: cut short inside its first record, nothing to read%s",
              path, "");
  } else if (rv == HEED_ETRUNC) {
    if (!quiet_warnings)
      fprintf(stderr, "%s: warning: %s is truncated after byte %" PRIu64
                    " (a run stopped mid-write?); read its whole records\n",
            prog, path, heed_trace_reader_offset(r));
  } else if (rv < 0) {
    char where[64];
    snprintf(where, sizeof where, "%" PRIu64, heed_trace_reader_offset(r));
    fprintf(stderr, "%s: %s: %s at byte %s\n", prog, path,
            rv == HEED_EVERSION ? "unsupported trace version"
            : rv == HEED_EFORMAT ? "not a heed trace record"
            : rv == HEED_ENOMEM  ? "not a heed trace record (implausible size)"
                                 : heed_strerror(rv),
            where);
    rc = 1;
  } else if (n == 0) {
    rc = fail("%s: empty file, not a heed trace%s", path, "");
  }
  heed_trace_reader_free(r);
  return rc;
}

/* Feeds the records published at url to fn until fn says stop or Ctrl-C. */
static int read_live(const char *url, rec_fn fn, void *ctx) {
  nng_socket s;
  int rv = nng_sub0_open(&s);
  if (rv)
    return fail("cannot open a subscriber: %s%s", nng_strerror(rv), "");
  nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0);
  nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 200);
  if ((rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
    nng_close(s);
    return fail("cannot connect to %s: %s", url, nng_strerror(rv));
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  heed_trace_reader *r = NULL;
  int rc = 0;
  while (!interrupted) {
    char *buf = NULL;
    size_t len = 0;
    rv = nng_recv(s, &buf, &len, NNG_FLAG_ALLOC);
    if (rv == NNG_ETIMEDOUT)
      continue;
    if (rv) {
      if (!interrupted)
        rc = fail("receiving from %s: %s", url, nng_strerror(rv));
      break;
    }
    /* One message, one record: a fresh reader each time so that a bad
     * message cannot spoil the next. */
    heed_trace_rec rec;
    int stop = 0, got = 0;
    if (!r && heed_trace_reader_new(&r) != 0) {
      nng_free(buf, len);
      rc = fail("out of memory%s%s", "", "");
      break;
    }
    heed_trace_reader_feed(r, buf, len);
    nng_free(buf, len);
    while ((rv = heed_trace_reader_next(r, &rec)) == 1) {
      got = 1;
      if ((stop = fn(ctx, &rec)) != 0)
        break;
    }
    if (rv < 0 || (!got && rv == 0)) {
      fprintf(stderr, "%s: skipped a message that is not a trace record\n",
              prog);
      heed_trace_reader_free(r);
      r = NULL;
    }
    if (stop)
      break;
  }
  heed_trace_reader_free(r);
  /* No nng_close(s): with a publisher still flooding the socket, nng 1.5.2's
   * close can wait forever for the pipe to drain (seen here about once in 30
   * runs; nanomsg/nng #1219, #1543, fixed after 1.5.2). The command exits
   * right after this, which releases the socket. */
  (void)s;
  return rc;
}

static int read_any(const char *src, rec_fn fn, void *ctx) {
  return is_url(src) ? read_live(src, fn, ctx) : read_file(src, fn, ctx);
}

/* ---- cat / tail ---- */

typedef struct cat_ctx {
  heed_trace_filter f;
  uint64_t count, seen;
} cat_ctx;

static void print_rec(const heed_trace_rec *r) {
  char a[48], b[48];
  if (r->kind == 0) {
    printf("# heed-trace v%u run %" PRIu64 " start %" PRIu64
           " ns (unix) sample %g kinds 0x%x\n",
           r->version, r->run, r->start_unix_ns, r->sample, r->kinds);
    return;
  }
  if (r->kind == HEED_TRACE_DROPS) {
    printf("%14.6f ms  drops    %" PRIu64 " dropped of %" PRIu64
           " recorded\n", r->t_ns / 1e6, r->dropped, r->recorded);
    return;
  }
  printf("%14.6f ms  b%-7" PRIu64 " %-7s %-15s -> %-15s %9.1f us  loop %u"
         "  fanout %u",
         r->t_ns / 1e6, r->batch, heed_trace_kind_name(r->kind),
         who_str(&r->sender, a, sizeof a), who_str(&r->receiver, b, sizeof b),
         r->dur_ns / 1e3, r->loop, r->fanout);
  if (r->count)
    printf("  n %u mean %.4g |x| %.4g min %.4g max %.4g", r->count, r->mean,
           r->mean_abs, r->min, r->max);
  if (r->nvalues) {
    printf("  values");
    for (uint32_t i = 0; i < r->nvalues && i < 8; i++)
      printf(" %.4g", r->values[i]);
    if (r->nvalues > 8)
      printf(" ...");
  }
  putchar('\n');
}

static int cat_rec(void *ctx, const heed_trace_rec *r) {
  cat_ctx *c = ctx;
  if (!heed_trace_filter_match(&c->f, r))
    return 0;
  print_rec(r);
  if (c->count && ++c->seen >= c->count) {
    fflush(stdout);
    return 1;
  }
  return 0;
}

static int cmd_cat(int argc, char **argv, int live_only) {
  cat_ctx c;
  memset(&c, 0, sizeof c);
  heed_trace_filter_init(&c.f);
  const char *src = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    int has = i + 1 < argc;
    const char *v = has ? argv[i + 1] : NULL;
    uint64_t lo, hi;
    if (!strcmp(a, "--layer") || !strcmp(a, "--neuron") ||
        !strcmp(a, "--batch") || !strcmp(a, "--count")) {
      if (!has || parse_range(v, !strcmp(a, "--batch") || !strcmp(a, "--count")
                                     ? UINT64_MAX
                                     : UINT32_MAX - 1,
                              &lo, &hi) ||
          (!strcmp(a, "--count") && lo != hi))
        return fail("%s needs a number or a range N-M, not '%s'", a,
                    has ? v : "");
      if (!strcmp(a, "--layer")) {
        c.f.layer_lo = (uint32_t)lo;
        c.f.layer_hi = (uint32_t)hi;
      } else if (!strcmp(a, "--neuron")) {
        c.f.neuron_lo = (uint32_t)lo;
        c.f.neuron_hi = (uint32_t)hi;
      } else if (!strcmp(a, "--batch")) {
        c.f.batch_lo = lo;
        c.f.batch_hi = hi;
      } else {
        c.count = lo;
      }
      i++;
    } else if (!strcmp(a, "--kind")) {
      if (!has || heed_trace_kinds_parse(v, &c.f.kinds) != 0)
        return fail("--kind needs forward, bid, control, batch, labels or "
                    "drops, not '%s'%s", has ? v : "", "");
      i++;
    } else if (a[0] == '-' && a[1]) {
      return fail("unknown option '%s' (see '%s --help')", a, prog);
    } else if (!src) {
      src = a;
    } else {
      return fail("one source only, not '%s' too%s", a, "");
    }
  }
  if (!src)
    return fail("%s needs a %s", argv[0], live_only ? "URL" : "FILE or URL");
  if (live_only && !is_url(src))
    return fail("tail follows a live run: give its URL, not '%s'%s", src, "");
  int rc = read_any(src, cat_rec, &c);
  fflush(stdout);
  return rc;
}

/* ---- stats ---- */

typedef struct batch_info {
  uint64_t batch, first, last;
  int train;
  uint32_t rank; /* among training batches, by id */
} batch_info;

typedef struct att {
  double *sum; /* [4 + 1][n]: per quarter, then all */
  uint64_t *cnt;
  uint32_t n;
} att;

typedef struct stats_ctx {
  int pass;
  uint64_t kind_layer[7][MAX_LAYERS + 2];
  uint32_t max_layer;
  map batches; /* batch -> index in binfo */
  vec binfo;   /* batch_info */
  uint32_t ntrain;
  att layer[MAX_LAYERS + 1];
  uint64_t dropped, recorded, records;
  double sample;
  uint64_t run;
} stats_ctx;

static int kind_index(uint32_t k) {
  for (int i = 0; i < 6; i++)
    if (k == 1u << i)
      return i + 1;
  return 0;
}

static void att_add(att *a, uint32_t j, int q, double v) {
  if (j >= a->n) {
    uint32_t n = a->n ? a->n : 16;
    while (n <= j)
      n *= 2;
    double *s = calloc((size_t)5 * n, sizeof *s);
    uint64_t *c = calloc((size_t)5 * n, sizeof *c);
    if (!s || !c) {
      fprintf(stderr, "%s: out of memory\n", prog);
      exit(1);
    }
    for (int k = 0; k < 5; k++)
      for (uint32_t i = 0; i < a->n; i++) {
        s[(size_t)k * n + i] = a->sum[(size_t)k * a->n + i];
        c[(size_t)k * n + i] = a->cnt[(size_t)k * a->n + i];
      }
    free(a->sum);
    free(a->cnt);
    a->sum = s;
    a->cnt = c;
    a->n = n;
  }
  a->sum[(size_t)q * a->n + j] += v;
  a->cnt[(size_t)q * a->n + j]++;
  a->sum[(size_t)4 * a->n + j] += v;
  a->cnt[(size_t)4 * a->n + j]++;
}

static int is_attention(const heed_trace_rec *r) {
  return r->kind == HEED_TRACE_BID && r->receiver.role == HEED_ROLE_NEURON &&
         r->receiver.index != HEED_TRACE_ALL_NEURONS && r->count > 0 &&
         r->receiver.layer >= 1 && r->receiver.layer <= MAX_LAYERS;
}

static int stats_rec(void *ctx, const heed_trace_rec *r) {
  stats_ctx *s = ctx;
  if (r->kind == 0) {
    s->sample = r->sample;
    s->run = r->run;
    return 0;
  }
  if (s->pass == 2) {
    if (!is_attention(r))
      return 0;
    uint64_t *v = map_slot(&s->batches, r->batch, 0, 0);
    if (!v)
      return 0;
    const batch_info *b = (const batch_info *)s->binfo.p + *v;
    int q = s->ntrain ? (int)((uint64_t)b->rank * 4 / s->ntrain) : 0;
    att_add(&s->layer[r->receiver.layer], r->receiver.index, q, r->mean_abs);
    return 0;
  }
  if (r->kind == HEED_TRACE_DROPS) {
    s->dropped = r->dropped;
    s->recorded = r->recorded;
    return 0;
  }
  s->records++;
  uint32_t L = r->receiver.layer;
  if (L > MAX_LAYERS + 1)
    L = MAX_LAYERS + 1;
  if (L > s->max_layer)
    s->max_layer = L;
  s->kind_layer[kind_index(r->kind)][L]++;
  if (r->kind == HEED_TRACE_CONTROL)
    return 0;
  uint64_t *v = map_slot(&s->batches, r->batch, 0, 1);
  if (*v == UINT64_MAX) {
    *v = s->binfo.n;
    batch_info *b = vec_push(&s->binfo);
    memset(b, 0, sizeof *b);
    b->batch = r->batch;
    b->first = r->t_ns;
    b->last = r->t_ns + r->dur_ns;
  }
  batch_info *b = (batch_info *)s->binfo.p + *v;
  if (r->t_ns < b->first)
    b->first = r->t_ns;
  if (r->t_ns + r->dur_ns > b->last)
    b->last = r->t_ns + r->dur_ns;
  if (r->kind == HEED_TRACE_BID)
    b->train = 1;
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Gini coefficient of n non-negative values (0: all equal, towards 1: all
 * in one). Sorts v. */
static double gini(double *v, size_t n) {
  if (n == 0)
    return NAN;
  qsort(v, n, sizeof *v, cmp_double);
  double s = 0, w = 0;
  for (size_t i = 0; i < n; i++) {
    s += v[i];
    w += (double)(i + 1) * v[i];
  }
  if (s <= 0)
    return 0;
  return 2 * w / (n * s) - (double)(n + 1) / n;
}

/* Mean attention per neuron of layer l over quarter q (4: all); neurons
 * never seen are NAN. Returns the count of neurons seen. */
static size_t att_means(const att *a, int q, double *out) {
  size_t seen = 0;
  for (uint32_t j = 0; j < a->n; j++) {
    uint64_t c = a->cnt[(size_t)q * a->n + j];
    out[j] = c ? a->sum[(size_t)q * a->n + j] / c : NAN;
    seen += c > 0;
  }
  return seen;
}

static double layer_gini(const att *a, int q, double *tmp) {
  double *m = tmp + a->n;
  att_means(a, q, m);
  size_t k = 0;
  for (uint32_t j = 0; j < a->n; j++)
    if (!isnan(m[j]))
      tmp[k++] = m[j];
  return gini(tmp, k);
}

static uint32_t att_neurons(const att *a) {
  uint32_t n = 0;
  for (uint32_t j = 0; j < a->n; j++)
    if (a->cnt[(size_t)4 * a->n + j])
      n = j + 1;
  return n;
}

static int load_stats(const char *path, stats_ctx *s) {
  memset(s, 0, sizeof *s);
  s->binfo.size = sizeof(batch_info);
  s->pass = 1;
  int rc = read_file(path, stats_rec, s);
  if (rc)
    return rc;
  /* Rank the training batches by id, for the quarters. */
  uint64_t *ids = malloc((s->binfo.n + 1) * sizeof *ids);
  if (!ids)
    return fail("out of memory%s%s", "", "");
  batch_info *bi = s->binfo.p;
  size_t nt = 0;
  for (size_t i = 0; i < s->binfo.n; i++)
    if (bi[i].train)
      ids[nt++] = bi[i].batch;
  qsort(ids, nt, sizeof *ids, cmp_u64);
  for (size_t i = 0; i < nt; i++) {
    uint64_t *v = map_slot(&s->batches, ids[i], 0, 0);
    bi[*v].rank = (uint32_t)i;
  }
  s->ntrain = (uint32_t)nt;
  free(ids);
  s->pass = 2;
  if (strcmp(path, "-") == 0)
    return 0; /* standard input cannot be read twice: no attention */
  quiet_warnings = 1;
  rc = read_file(path, stats_rec, s) ? 1 : 0;
  quiet_warnings = 0;
  return rc;
}

static void free_stats(stats_ctx *s) {
  map_free(&s->batches);
  free(s->binfo.p);
  for (int l = 0; l <= MAX_LAYERS; l++) {
    free(s->layer[l].sum);
    free(s->layer[l].cnt);
  }
}

typedef struct rank_item {
  double v;
  uint32_t j;
} rank_item;

static int cmp_rank(const void *a, const void *b) {
  const rank_item *x = a, *y = b;
  return x->v > y->v ? -1 : x->v < y->v ? 1 : (x->j > y->j) - (x->j < y->j);
}

static int cmd_stats(int argc, char **argv) {
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    usage(stdout);
    return 0;
  }
  if (argc != 2 || (argv[1][0] == '-' && argv[1][1]))
    return fail("usage: %s stats FILE%s", prog, "");
  stats_ctx s;
  int rc = load_stats(argv[1], &s);
  if (rc) {
    free_stats(&s);
    return rc;
  }
  printf("trace %s: run %" PRIu64 ", sample %g, %" PRIu64 " records",
         argv[1], s.run, s.sample, s.records);
  if (s.recorded)
    printf(", %" PRIu64 " dropped of %" PRIu64 " recorded", s.dropped,
           s.recorded + s.dropped);
  printf("\n\nmessages handled, by kind and receiving layer:\n  %-8s",
         "kind");
  for (uint32_t l = 0; l <= s.max_layer; l++)
    printf(" %9s%-2u", "L", l);
  printf(" %11s\n", "total");
  for (int k = 1; k <= 5; k++) {
    uint64_t tot = 0;
    for (uint32_t l = 0; l <= s.max_layer; l++)
      tot += s.kind_layer[k][l];
    if (!tot)
      continue;
    printf("  %-8s", heed_trace_kind_name(1u << (k - 1)));
    for (uint32_t l = 0; l <= s.max_layer; l++)
      printf(" %11" PRIu64, s.kind_layer[k][l]);
    printf(" %11" PRIu64 "\n", tot);
  }

  /* Time per batch, first to last record. */
  batch_info *bi = s.binfo.p;
  double *wt = malloc((s.binfo.n + 1) * sizeof *wt);
  size_t nw = 0, neval = 0;
  for (size_t i = 0; wt && i < s.binfo.n; i++) {
    if (bi[i].train)
      wt[nw++] = (bi[i].last - bi[i].first) / 1e6;
    else
      neval++;
  }
  printf("\nbatches: %u training (with bids), %zu forward-only "
         "(evaluation)\n", s.ntrain, neval);
  if (nw) {
    qsort(wt, nw, sizeof *wt, cmp_double);
    printf("training batch wall time, first to last record: median %.3f ms, "
           "p90 %.3f ms, max %.3f ms\n",
           wt[nw / 2], wt[(size_t)(0.9 * (nw - 1))], wt[nw - 1]);
  }
  free(wt);

  /* Attention. */
  uint32_t top = 0;
  for (uint32_t l = 1; l <= MAX_LAYERS; l++)
    if (att_neurons(&s.layer[l]))
      top = l;
  if (top)
    printf("\nattention received (mean |beta| a neuron gets from the layer "
           "above):\n");
  for (uint32_t l = 1; l <= top; l++) {
    att *a = &s.layer[l];
    uint32_t n = att_neurons(a);
    if (!n)
      continue;
    double *tmp = malloc(2 * (size_t)a->n * sizeof *tmp);
    rank_item *it = malloc((size_t)a->n * sizeof *it);
    if (!tmp || !it) {
      free(tmp);
      free(it);
      continue;
    }
    double *m = tmp + a->n;
    att_means(a, 4, m);
    size_t k = 0;
    double sum = 0;
    for (uint32_t j = 0; j < n; j++)
      if (!isnan(m[j])) {
        it[k++] = (rank_item){m[j], j};
        sum += m[j];
      }
    qsort(it, k, sizeof *it, cmp_rank);
    printf("  layer %u (%u neurons, attention from %s): mean %.4g, gini "
           "%.3f\n", l, n, l == top ? "the critic" : "the next layer",
           k ? sum / k : 0, layer_gini(a, 4, tmp));
    size_t show = k < 5 ? k : 5;
    printf("    most attended: ");
    for (size_t i = 0; i < show; i++)
      printf(" #%u %.4g", it[i].j, it[i].v);
    printf("\n    least attended:");
    for (size_t i = 0; i < show; i++)
      printf(" #%u %.4g", it[k - 1 - i].j, it[k - 1 - i].v);
    printf("\n    gini by quarter of the training batches:");
    for (int q = 0; q < 4; q++)
      printf(" Q%d %.3f", q + 1, layer_gini(a, q, tmp));
    printf("\n");
    free(tmp);
    free(it);
  }
  free_stats(&s);
  return 0;
}

/* ---- export --chrome ---- */

typedef struct ev {
  uint64_t t, dur, batch;
  uint32_t kind, fanout, count;
  heed_trace_who from, to;
  double mean_abs;
} ev;

static int collect(void *ctx, const heed_trace_rec *r) {
  if (r->kind == 0 || r->kind == HEED_TRACE_DROPS)
    return 0;
  ev *e = vec_push(ctx);
  *e = (ev){r->t_ns, r->dur_ns, r->batch, r->kind, r->fanout, r->count,
            r->sender, r->receiver, r->mean_abs};
  return 0;
}

static int cmp_ev(const void *a, const void *b) {
  const ev *x = a, *y = b;
  return x->t < y->t ? -1 : x->t > y->t;
}

/* Parses "FLAG OUT FILE" for export and attention: returns -1 to go on,
 * or the exit status (0 after --help, 1 after an error). */
static int out_and_file(int argc, char **argv, const char *flag,
                        const char **out, const char **src) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], flag) && i + 1 < argc)
      *out = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1])
      return fail("unknown option '%s' (see '%s --help')", argv[i], prog);
    else if (!*src)
      *src = argv[i];
    else
      return fail("one trace file only, not '%s' too%s", argv[i], "");
  }
  return -1;
}

static int cmd_export(int argc, char **argv) {
  const char *out = NULL, *src = NULL;
  int rv = out_and_file(argc, argv, "--chrome", &out, &src);
  if (rv >= 0)
    return rv;
  if (!out || !src)
    return fail("usage: %s export --chrome OUT.json FILE%s", prog, "");
  vec v = {0};
  v.size = sizeof(ev);
  if (read_file(src, collect, &v)) {
    free(v.p);
    return 1;
  }
  ev *e = v.p;
  if (v.n)
    qsort(e, v.n, sizeof *e, cmp_ev);
  FILE *f = fopen(out, "w");
  if (!f) {
    free(v.p);
    return fail("cannot write %s: %s", out, strerror(errno));
  }
  map tids = {0}, last = {0};
  uint64_t ntid = 0, flows = 0;
  fprintf(f, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"
             "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,"
             "\"ts\":0,\"args\":{\"name\":\"heed\"}}");
  for (size_t i = 0; i < v.n; i++) {
    char a[48], b[48];
    /* One track per receiving actor, named and ordered by layer. */
    uint64_t *tid = map_slot(&tids, who_key(&e[i].to), 0, 1);
    if (*tid == UINT64_MAX) {
      *tid = ++ntid;
      uint64_t order = (uint64_t)e[i].to.layer * 4000000000ull +
                       (e[i].to.role == HEED_ROLE_HUB ? 3999999999ull
                                                      : e[i].to.index);
      fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,"
                 "\"tid\":%" PRIu64 ",\"ts\":0,\"args\":{\"name\":\"%s\"}}"
                 ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,"
                 "\"tid\":%" PRIu64 ",\"ts\":0,\"args\":{\"sort_index\":%"
                 PRIu64 "}}",
              *tid, who_str(&e[i].to, a, sizeof a), *tid, order);
    }
    double ts = e[i].t / 1e3, dur = e[i].dur / 1e3;
    fprintf(f, ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,"
               "\"dur\":%.3f,\"pid\":1,\"tid\":%" PRIu64 ",\"args\":{"
               "\"batch\":%" PRIu64 ",\"from\":\"%s\",\"fanout\":%u",
            heed_trace_kind_name(e[i].kind), heed_trace_kind_name(e[i].kind),
            ts, dur, *tid, e[i].batch, who_str(&e[i].from, b, sizeof b),
            e[i].fanout);
    if (e[i].count)
      fprintf(f, ",\"n\":%u,\"mean_abs\":%.6g", e[i].count, e[i].mean_abs);
    fprintf(f, "}}");
    /* A flow arrow from the sender's handling of this batch (the last one
     * that started before this one) to this handling. */
    heed_trace_who from = e[i].from;
    if (from.role == HEED_ROLE_HUB)
      from.index = 0;
    if (e[i].kind != HEED_TRACE_CONTROL && from.role != HEED_ROLE_DRIVER) {
      uint64_t *src_i = map_slot(&last, who_key(&from), e[i].batch, 0);
      uint64_t *src_tid = map_slot(&tids, who_key(&from), 0, 0);
      if (src_i && src_tid) {
        const ev *s = &e[*src_i];
        flows++;
        fprintf(f, ",\n{\"name\":\"message\",\"cat\":\"flow\",\"ph\":\"s\","
                   "\"id\":%" PRIu64 ",\"ts\":%.3f,\"pid\":1,\"tid\":%" PRIu64
                   "},\n{\"name\":\"message\",\"cat\":\"flow\",\"ph\":\"f\","
                   "\"bp\":\"e\",\"id\":%" PRIu64 ",\"ts\":%.3f,\"pid\":1,"
                   "\"tid\":%" PRIu64 "}",
                flows, (s->t + s->dur / 2) / 1e3, *src_tid, flows, ts, *tid);
      }
    }
    *map_slot(&last, who_key(&e[i].to), e[i].batch, 1) = i;
  }
  fprintf(f, "\n]}\n");
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) {
    map_free(&tids);
    map_free(&last);
    free(v.p);
    return fail("cannot write %s: %s", out, strerror(errno));
  }
  fprintf(stderr, "%s: wrote %zu events on %" PRIu64 " tracks, %" PRIu64
                  " flow arrows to %s\n",
          prog, v.n, ntid, flows, out);
  map_free(&tids);
  map_free(&last);
  free(v.p);
  return 0;
}

/* ---- attention --plot ---- */

static int cmd_attention(int argc, char **argv) {
  const char *out = NULL, *src = NULL;
  int rv = out_and_file(argc, argv, "--plot", &out, &src);
  if (rv >= 0)
    return rv;
  if (!out || !src)
    return fail("usage: %s attention --plot OUT.svg FILE%s", prog, "");
  if (!strcmp(src, "-"))
    return fail("attention reads the file twice: give a FILE, not '%s'%s",
                src, "");
  stats_ctx s;
  int rc = load_stats(src, &s);
  if (rc) {
    free_stats(&s);
    return rc;
  }
  uint32_t layers[MAX_LAYERS], nl = 0;
  for (uint32_t l = 1; l <= MAX_LAYERS; l++)
    if (att_neurons(&s.layer[l]))
      layers[nl++] = l;
  if (!nl) {
    free_stats(&s);
    return fail("%s holds no attention (no BID records delivered to "
                "neurons; record with --trace-kinds bid)%s", src, "");
  }
  /* Per layer: attention per neuron, sorted, in the first and last quarter
   * of the training batches and overall; then gini per quarter. */
  heed_panel *panels = calloc(nl + 1, sizeof *panels);
  heed_series *series = calloc(3 * (size_t)nl + nl, sizeof *series);
  double **bufs = calloc(8 * (size_t)nl + 2, sizeof *bufs);
  char (*titles)[96] = calloc(nl + 1, sizeof *titles);
  char (*names)[32] = calloc(nl, sizeof *names);
  double qx[4] = {1, 2, 3, 4};
  size_t nb = 0;
  if (!panels || !series || !bufs || !titles || !names) {
    rc = fail("out of memory%s%s", "", "");
    goto out;
  }
  static const char *const qname[3] = {"first quarter of batches",
                                       "last quarter of batches",
                                       "all batches"};
  static const int qs[3] = {0, 3, 4};
  for (uint32_t i = 0; i < nl; i++) {
    att *a = &s.layer[layers[i]];
    uint32_t n = att_neurons(a);
    double *tmp = bufs[nb++] = malloc(2 * (size_t)a->n * sizeof(double));
    double *x = bufs[nb++] = malloc((size_t)n * sizeof(double));
    if (!tmp || !x) {
      rc = fail("out of memory%s%s", "", "");
      goto out;
    }
    for (uint32_t j = 0; j < n; j++)
      x[j] = j + 1;
    for (int k = 0; k < 3; k++) {
      double *y = bufs[nb++] = malloc((size_t)a->n * sizeof(double));
      if (!y) {
        rc = fail("out of memory%s%s", "", "");
        goto out;
      }
      att_means(a, qs[k], tmp);
      size_t m = 0;
      for (uint32_t j = 0; j < n; j++)
        if (!isnan(tmp[j]))
          y[m++] = tmp[j];
      qsort(y, m, sizeof *y, cmp_double);
      for (size_t j = 0; j < m / 2; j++) { /* descending */
        double t = y[j];
        y[j] = y[m - 1 - j];
        y[m - 1 - j] = t;
      }
      series[3 * i + k] = (heed_series){qname[k], x, y, m};
    }
    snprintf(titles[i], sizeof titles[i],
             "layer %u: attention from %s (%u neurons)", layers[i],
             layers[i] == layers[nl - 1] ? "the critic" : "the layer above",
             n);
    panels[i] = (heed_panel){titles[i], "neuron, most to least attended",
                             "mean |beta| received", &series[3 * i], 3,
                             NULL, 0, 0};
    /* gini per quarter */
    double *g = bufs[nb++] = malloc(4 * sizeof(double));
    if (!g) {
      rc = fail("out of memory%s%s", "", "");
      goto out;
    }
    for (int q = 0; q < 4; q++)
      g[q] = layer_gini(a, q, tmp);
    snprintf(names[i], sizeof names[i], "layer %u", layers[i]);
    series[3 * nl + i] = (heed_series){names[i], qx, g, 4};
  }
  snprintf(titles[nl], sizeof titles[nl],
           "concentration of attention (gini)");
  panels[nl] = (heed_panel){titles[nl], "quarter of the training batches",
                            "gini of attention received", &series[3 * nl],
                            nl, NULL, 0, 0};
  char title[256], err[512];
  snprintf(title, sizeof title, "who pays attention to whom: %s (%u training "
           "batches)", src, s.ntrain);
  if (heed__plot(out, title, panels, nl + 1, err, sizeof err) != 0)
    rc = fail("%s%s", err, "");
  else
    fprintf(stderr, "%s: wrote %s\n", prog, out);
out:
  for (size_t i = 0; bufs && i < nb; i++)
    free(bufs[i]);
  free(bufs);
  free(panels);
  free(series);
  free(titles);
  free(names);
  free_stats(&s);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "cat"))
    return cmd_cat(argc - 1, argv + 1, 0);
  if (!strcmp(cmd, "tail"))
    return cmd_cat(argc - 1, argv + 1, 1);
  if (!strcmp(cmd, "stats"))
    return cmd_stats(argc - 1, argv + 1);
  if (!strcmp(cmd, "export"))
    return cmd_export(argc - 1, argv + 1);
  if (!strcmp(cmd, "attention"))
    return cmd_attention(argc - 1, argv + 1);
  fprintf(stderr, "%s: unknown command '%s' (see '%s --help')\n", prog, cmd,
          prog);
  return 2;
}
