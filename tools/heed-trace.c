/*
 * heed-trace - read the traces `heed train --trace` records
 * (docs/tracing.md, docs/trace-format.md): print them, follow a live run,
 * summarize who pays attention to whom, export a Chrome/Perfetto timeline
 * and plot attention per layer. This file parses flags and prints; the
 * reader and the analysis are the library's (src/trace/).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "cli/plot.h"
#include "common/alloc.h"
#include "heed/error.h"
#include "heed/trace.h"
#include "trace/analysis.h"

static const char *prog = "heed-trace";

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

/* ---- standard output: a full disk or a closed pipe is an error ---- */

static int out_failed; /* reported once */

/* 1 (after one line on stderr) when writing standard output failed. */
static int out_check(int flush) {
  if (out_failed)
    return 1;
  int e = errno; /* from the write that failed, when ferror says so */
  if (!ferror(stdout)) {
    errno = 0;
    if (!flush || fflush(stdout) == 0)
      return 0;
    e = errno;
  }
  e = e ? e : EIO;
  out_failed = 1;
  fail("cannot write to standard output: %s", strerror(e));
  return 1;
}

/* The exit status once everything is printed: rc, or 1 when standard
 * output could not take it all. */
static int out_finish(int rc) {
  if (out_check(1))
    return rc ? rc : 1;
  if (fclose(stdout) != 0) {
    int e = errno;
    fail("cannot write to standard output: %s", strerror(e));
    return rc ? rc : 1;
  }
  return rc;
}

static void usage(FILE *f) {
  fprintf(f,
      "usage: heed-trace <command> [options] FILE|URL\n\n"
      "Reads the traces that 'heed train --trace FILE' records and that\n"
      "'heed train --trace-live URL' publishes.\n\n"
      "commands:\n"
      "  cat FILE|URL           one line per record\n"
      "  tail URL               follow a live run until it ends (or Ctrl-C)\n"
      "  stats [--json] FILE    messages per kind and layer, time per batch,\n"
      "                         attention received per neuron and layer\n"
      "  export --chrome OUT.json [--batch A..B] [--kind K,...] [--layer L]\n"
      "         [--neuron N] [--tracks layer|actor|loop] FILE\n"
      "                         Chrome trace-event JSON (Perfetto, "
      "chrome://tracing),\n"
      "                         with counter tracks and the run's header;\n"
      "                         a slice per layer, kind and batch (layer),\n"
      "                         or per message on a track per actor or loop\n"
      "  attention [--json] FILE\n"
      "                         attention received by every neuron, per layer\n"
      "                         (overall and per quarter of the training)\n"
      "  attention --neuron L:J [--json] FILE\n"
      "                         what neuron J of layer L received, per batch\n"
      "  attention --matrix [--json] [--batch A..B] [--top N] FILE\n"
      "                         who pays attention to whom: the price each\n"
      "                         neuron pays each one of the layer below\n"
      "                         (needs a trace with --trace-values)\n"
      "  attention --plot OUT.svg|.png FILE\n"
      "                         attention received per neuron, per layer\n"
      "  serve [--http ADDR] FILE | --live URL\n"
      "                         a web page watching the run (default ADDR\n"
      "                         127.0.0.1:8080; Ctrl-C to stop)\n\n"
      "filters (cat, tail):\n"
      "  --layer N[-M]          sender or receiver in these layers\n"
      "  --neuron N[-M]         sender or receiver is one of these neurons\n"
      "  --kind K[,K...]        forward, bid, control, batch, labels, drops,\n"
      "                         metric, mark, loops\n"
      "  --batch N[-M]          these batches\n"
      "  --count N              stop after N records\n\n"
      "A FILE of '-' is standard input. URLs look like tcp://127.0.0.1:5555 "
      "or\nipc:///tmp/heed.trace.\n");
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

/* Called with each record: 0 to go on, 1 to stop, or a negative error
 * with a one-line reason in err. */
typedef int (*rec_fn)(void *ctx, const heed_trace_rec *r, char *err,
                      size_t errlen);

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

static int is_url(const char *s) { return strstr(s, "://") != NULL; }

static int quiet_warnings; /* set while a file is read a second time */

static int read_status(const char *path, heed_trace_reader *r, int rv,
                       int n) {
  if (rv == HEED_ETRUNC && n == 0)
    return fail("%s: cut short inside its first record, nothing to read",
                path);
  if (rv == HEED_ETRUNC) {
    if (!quiet_warnings)
      fprintf(stderr, "%s: warning: %s is truncated after byte %" PRIu64
                      " (a run stopped mid-write?); read its whole records\n",
              prog, path, heed_trace_reader_offset(r));
    return 0;
  }
  if (rv < 0)
    return fail("%s: %s at byte %" PRIu64, path,
                rv == HEED_EVERSION  ? "unsupported trace version"
                : rv == HEED_EFORMAT ? "not a heed trace record"
                                     : heed_strerror(rv),
                heed_trace_reader_offset(r));
  if (n == 0)
    return fail("%s: empty file, not a heed trace", path);
  return 0;
}

/* Feeds every record of a file to fn. A truncated file is read to its last
 * whole record with a warning. */
static int read_file(const char *path, rec_fn fn, void *ctx) {
  char err[512];
  heed_trace_reader *r;
  if (heed_trace_reader_open(&r, path, err, sizeof err) != 0)
    return fail("%s", err);
  heed_trace_rec rec;
  int rv, n = 0, rc = -1;
  while (rc < 0 && (rv = heed_trace_reader_next(r, &rec)) == 1) {
    if (n++ == 0 && rec.kind != 0) {
      rc = fail("%s: not a heed trace (no header record)", path);
      break;
    }
    int k = fn(ctx, &rec, err, sizeof err);
    if (k < 0)
      rc = fail("%s: %s (the record ends at byte %" PRIu64 ")", path, err,
                heed_trace_reader_offset(r));
    else if (k > 0)
      rc = 0;
  }
  if (rc < 0)
    rc = read_status(path, r, rv, n);
  heed_trace_reader_free(r);
  return rc;
}

/* The publisher's side of a live stream went away: nng tells the
 * subscriber when its pipe to the publisher is removed, which is after the
 * pipe handed on the last message it read. */
typedef struct live_peer {
  _Atomic int added, gone;
} live_peer;

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg) {
  live_peer *lp = arg;
  (void)p;
  if (ev == NNG_PIPE_EV_ADD_POST)
    atomic_store(&lp->added, 1);
  else if (ev == NNG_PIPE_EV_REM_POST && atomic_load(&lp->added))
    atomic_store(&lp->gone, 1);
}

/* A subscriber dialled to url, or nonzero after one line on stderr. An
 * address nng can never reach (a bad host, port or scheme) fails here;
 * a publisher that is not up yet (connection refused) is waited for.
 * lp (may be NULL) learns when a publisher connected and went away. */
static int subscribe(const char *url, nng_socket *sp, live_peer *lp) {
  nng_socket s;
  int rv = nng_sub0_open(&s);
  if (rv)
    return fail("cannot open a subscriber: %s", nng_strerror(rv));
  nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0);
  nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 200);
  /* waiting for a run to start: try every tenth of a second (a refused
   * connection costs next to nothing), so that little of it goes by
   * unseen: a run over before tail connects is one tail never sees end */
  nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 50);
  nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 100);
  /* A record is at most HEED_TRACE_MAX_RECORD bytes. */
  nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, HEED_TRACE_MAX_RECORD);
  if (lp && ((rv = nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, on_pipe, lp)) ||
             (rv = nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, on_pipe, lp)))) {
    nng_close(s);
    return fail("cannot watch the connection to %s: %s", url,
                nng_strerror(rv));
  }
  rv = nng_dial(s, url, NULL, 0);
  if (rv == NNG_ECONNREFUSED || rv == NNG_ETIMEDOUT ||
      rv == NNG_ECONNRESET || rv == NNG_ECONNSHUT || rv == NNG_EAGAIN)
    rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK); /* keeps retrying */
  if (rv) {
    nng_close(s);
    return fail("cannot connect to %s: %s", url, nng_strerror(rv));
  }
  *sp = s;
  return 0;
}

/* Feeds the records of one message to fn: 0 go on, 1 stop, -1 error. */
static int live_message(heed_trace_reader **rp, char *buf, size_t len,
                        rec_fn fn, void *ctx, const char *url) {
  char err[512];
  heed_trace_rec rec;
  int rv, k = 0, got = 0;
  if (!*rp && heed_trace_reader_new(rp) != 0) {
    fail("out of memory");
    return -1;
  }
  if (heed_trace_reader_feed(*rp, buf, len) != 0) {
    fail("out of memory");
    return -1;
  }
  while ((rv = heed_trace_reader_next(*rp, &rec)) == 1) {
    got = 1;
    if ((k = fn(ctx, &rec, err, sizeof err)) != 0)
      break;
  }
  if (k < 0) {
    fail("%s: %s", url, err);
    return -1;
  }
  if (rv < 0 || (!got && rv == 0)) {
    /* One message, one record: a fresh reader after a bad one, so that it
     * cannot spoil the next. */
    fprintf(stderr, "%s: skipped a message that is not a trace record\n",
            prog);
    heed_trace_reader_free(*rp);
    *rp = NULL;
  }
  return k;
}

/* Feeds the records published at url to fn until fn says stop or Ctrl-C;
 * with on_close, also until the publisher closed the stream (the run is
 * over: its tracer closed, or its process ended), after the records that
 * reached us before that, and on_close(ctx) says so. Why not only the end
 * record: a publisher's close throws away what it still had queued for a
 * subscriber that reads slower than the run writes, end record included
 * (nng's PUB has no linger), so a slow tail waited forever for it. */
static int read_live(const char *url, rec_fn fn, void *ctx,
                     void (*on_close)(void *ctx)) {
  nng_socket s;
  /* static: nng may call on_pipe until the process exits, since the
   * socket is never closed (below); one live stream per process */
  static live_peer lp;
  if (subscribe(url, &s, on_close ? &lp : NULL))
    return 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  heed_trace_reader *r = NULL;
  int rc = 0, last = 0; /* last: the publisher is gone, take what is left */
  while (!interrupted) {
    char *buf = NULL;
    size_t len = 0;
    int rv = nng_recv(s, &buf, &len, NNG_FLAG_ALLOC |
                                         (last ? NNG_FLAG_NONBLOCK : 0));
    if (rv == NNG_ETIMEDOUT || (rv == NNG_EAGAIN && !last)) {
      /* gone is set after the pipe's last message was queued: one more
       * look without waiting takes whatever came in before it */
      last = on_close && atomic_load(&lp.gone);
      continue;
    }
    if (rv == NNG_EAGAIN) {
      on_close(ctx);
      break;
    }
    if (rv) {
      if (!interrupted)
        rc = fail("receiving from %s: %s", url, nng_strerror(rv));
      break;
    }
    int k = live_message(&r, buf, len, fn, ctx, url);
    nng_free(buf, len);
    if (k) {
      rc = k < 0;
      break;
    }
  }
  heed_trace_reader_free(r);
  /* No nng_close(s): with a publisher still flooding the socket, nng 1.5.2's
   * close can wait forever for the pipe to drain (seen here about once in 30
   * runs; nanomsg/nng #1219, #1543, fixed after 1.5.2). The command exits
   * right after this, which releases the socket. */
  (void)s;
  return rc;
}

/* ---- cat / tail ---- */

typedef struct cat_ctx {
  heed_trace_filter f;
  uint64_t count, seen;
  uint32_t procs; /* the header's: more than 1, a column for the process */
  int live, header; /* reading a live stream; its header was printed */
} cat_ctx;

static void print_rec(const heed_trace_rec *r, uint32_t procs) {
  char a[48], b[48];
  if (r->kind == 0) {
    printf("# heed-trace v%u run %" PRIu64 " start %" PRIu64
           " ns (unix) sample %g kinds 0x%x",
           r->version, r->run, r->start_unix_ns, r->sample, r->kinds);
    if (r->procs > 1)
      printf(" processes %u", r->procs);
    putchar('\n');
    return;
  }
  /* a run over several processes: which one recorded it, at the end so
   * that the columns stay where they are */
  int show_proc = procs > 1 || r->proc;
  if (r->kind == HEED_TRACE_DROPS) {
    printf("%14.6f ms  drops    %" PRIu64 " dropped of %" PRIu64
           " recorded", r->t_ns / 1e6, r->dropped, r->recorded);
    if (r->shed)
      printf(", %" PRIu64 " left out of the live stream", r->shed);
    if (r->end)
      printf(", end of the run");
    if (show_proc)
      printf("  proc %u", r->proc);
    putchar('\n');
    return;
  }
  if (r->kind == HEED_TRACE_LOOPS) {
    printf("%14.6f ms  loops   ", r->t_ns / 1e6);
    for (uint32_t i = 0; i < r->nloops; i++)
      printf(" L%u handled %" PRIu64 " turns %" PRIu64 " queued %" PRIu64
             " longest %" PRIu64 ";", i, r->loops[i][0], r->loops[i][1],
             r->loops[i][2], r->loops[i][3]);
    if (show_proc)
      printf("  proc %u", r->proc);
    putchar('\n');
    return;
  }
  if (r->kind == HEED_TRACE_METRIC || r->kind == HEED_TRACE_MARK) {
    if (r->kind == HEED_TRACE_METRIC)
      printf("%14.6f ms  metric   step %" PRIu64 " loss %.4f accuracy %.2f%% "
             "(%u samples)", r->t_ns / 1e6, r->batch, r->loss, 100 * r->acc,
             r->count);
    else
      printf("%14.6f ms  mark     %s %u at step %" PRIu64, r->t_ns / 1e6,
             r->mark ? r->mark : "?", r->value, r->batch);
    if (show_proc)
      printf("  proc %u", r->proc);
    putchar('\n');
    return;
  }
  printf("%14.6f ms  b%-7" PRIu64 " %-7s %-15s -> %-15s %9.1f us  loop %u"
         "  fanout %u",
         r->t_ns / 1e6, r->batch, heed_trace_kind_name(r->kind),
         heed__ta_who_str(&r->sender, a, sizeof a),
         heed__ta_who_str(&r->receiver, b, sizeof b), r->dur_ns / 1e3,
         r->loop, r->fanout);
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
  if (show_proc)
    printf("  proc %u", r->proc);
  putchar('\n');
}

static int cat_rec(void *ctx, const heed_trace_rec *r, char *err,
                   size_t errlen) {
  cat_ctx *c = ctx;
  (void)err;
  (void)errlen;
  if (r->kind == 0 && c->header && c->live)
    return 0; /* the header again, for late subscribers: once is enough */
  if (r->kind == 0) {
    c->procs = r->procs;
    c->header = 1;
  } else if (r->proc && c->procs < 2)
    c->procs = 2; /* a live stream joined after its header: a column
                     for every record from here on */
  /* a live run's last record: tail is done (whatever the filter) */
  int end = c->live && r->kind == HEED_TRACE_DROPS && r->end && r->proc == 0;
  if (!heed_trace_filter_match(&c->f, r))
    return end;
  print_rec(r, c->procs);
  if (end) {
    out_check(1);
    return 1;
  }
  int last = c->count && ++c->seen >= c->count;
  /* Stop at once when standard output fails (a full disk, a closed
   * pipe): reading on would only print into the void. out_finish gives
   * the exit status. */
  return out_check(last) ? 1 : last;
}

/* The publisher closed its live stream before its end record reached us. */
static void cat_closed(void *ctx) {
  (void)ctx;
  printf("# the run's live stream closed before its end record arrived (the "
         "run stopped, or its last records came faster than this reader "
         "took them)\n");
  out_check(1);
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
                    "drops, not '%s'", has ? v : "");
      i++;
    } else if (a[0] == '-' && a[1]) {
      return fail("unknown option '%s' (see '%s --help')", a, prog);
    } else if (!src) {
      src = a;
    } else {
      return fail("one source only, not '%s' too", a);
    }
  }
  if (!src)
    return fail("%s needs a %s", argv[0], live_only ? "URL" : "FILE or URL");
  if (live_only && !is_url(src))
    return fail("tail follows a live run: give its URL, not '%s'", src);
  c.live = is_url(src);
  return c.live ? read_live(src, cat_rec, &c, cat_closed)
                : read_file(src, cat_rec, &c);
}

/* ---- stats ---- */

static int stats_rec(void *ctx, const heed_trace_rec *r, char *err,
                     size_t errlen) {
  return heed__ta_stats_add(ctx, r, err, errlen);
}

/* Both passes over path (one for standard input, which cannot be read
 * twice: no attention then). */
static int load_stats(const char *path, heed__ta_stats *s) {
  heed__ta_stats_init(s);
  int rc = read_file(path, stats_rec, s);
  if (rc)
    return rc;
  if (heed__ta_stats_pass2(s) != 0)
    return fail("out of memory");
  if (strcmp(path, "-") == 0)
    return 0;
  quiet_warnings = 1;
  rc = read_file(path, stats_rec, s);
  quiet_warnings = 0;
  return rc;
}

/* One line per process of a run over several (the per-layer counts below
 * cover all of them). */
static void print_procs(const heed__ta_stats *s) {
  uint32_t n = 0;
  for (uint32_t p = 1; p < HEED__TA_MAX_PROCS; p++)
    if (s->proc_records[p] || s->proc_recorded[p])
      n = p + 1;
  if (s->procs > n)
    n = s->procs;
  if (n < 2)
    return;
  printf("\n\nprocesses: %u", n);
  for (uint32_t p = 0; p < n; p++) {
    printf("\n  %-11s %11" PRIu64 " records", p ? "worker" : "coordinator",
           s->proc_records[p]);
    if (p)
      printf(" (process %u)", p);
    if (s->proc_recorded[p] || s->proc_dropped[p])
      printf(", %" PRIu64 " dropped", s->proc_dropped[p]);
  }
}

static void print_counts(const heed__ta_stats *s) {
  printf("\n\nmessages handled, by kind and receiving layer:\n  %-8s",
         "kind");
  for (uint32_t l = 0; l <= s->max_layer; l++)
    printf(" %9s%-2u", "L", l);
  printf(" %11s\n", "total");
  for (int k = 1; k <= 5; k++) {
    uint64_t tot = 0;
    for (uint32_t l = 0; l <= s->max_layer; l++)
      tot += s->kind_layer[k][l];
    if (!tot)
      continue;
    printf("  %-8s", heed_trace_kind_name(1u << (k - 1)));
    for (uint32_t l = 0; l <= s->max_layer; l++)
      printf(" %11" PRIu64, s->kind_layer[k][l]);
    printf(" %11" PRIu64 "\n", tot);
  }
}

static int print_batches(const heed__ta_stats *s) {
  double *wt;
  size_t nw, neval;
  if (heed__ta_batch_times(s, &wt, &nw, &neval) != 0)
    return fail("out of memory");
  printf("\nbatches: %u training (with bids), %zu forward-only "
         "(evaluation)\n", s->ntrain, neval);
  if (nw)
    printf("training batch wall time, first to last record: median %.3f ms, "
           "p90 %.3f ms, max %.3f ms\n",
           wt[nw / 2], wt[(size_t)ceil(0.9 * (double)(nw - 1))], wt[nw - 1]);
  heed__free(wt);
  return 0;
}

static uint32_t top_layer(const heed__ta_stats *s) {
  uint32_t top = 0;
  for (uint32_t l = 1; l <= HEED__TA_MAX_LAYER; l++)
    if (heed__ta_neurons(s, l))
      top = l;
  return top;
}

static int print_layer(const heed__ta_stats *s, uint32_t l, uint32_t top) {
  heed__ta_view all, q[4];
  memset(q, 0, sizeof q);
  int rv = heed__ta_attention(s, l, 4, &all);
  for (int k = 0; k < 4 && !rv; k++)
    rv = heed__ta_attention(s, l, k, &q[k]);
  if (!rv) {
    double sum = 0;
    for (uint32_t i = 0; i < all.n; i++)
      sum += all.mean[i];
    printf("  layer %u (%u neurons, attention from %s): mean %.4g, gini "
           "%.3f\n", l, all.n, l == top ? "the critic" : "the next layer",
           all.n ? sum / all.n : 0, all.gini);
    uint32_t show = all.n < 5 ? all.n : 5;
    printf("    most attended: ");
    for (uint32_t i = 0; i < show; i++)
      printf(" #%u %.4g", all.index[i], all.mean[i]);
    printf("\n    least attended:");
    for (uint32_t i = 0; i < show; i++)
      printf(" #%u %.4g", all.index[all.n - 1 - i], all.mean[all.n - 1 - i]);
    printf("\n    gini by quarter of the training batches:");
    for (int k = 0; k < 4; k++)
      printf(" Q%d %.3f", k + 1, q[k].gini);
    printf("\n");
  }
  heed__ta_view_free(&all);
  for (int k = 0; k < 4; k++)
    heed__ta_view_free(&q[k]);
  return rv ? fail("out of memory") : 0;
}

/* ---- JSON (stats --json, attention --json) ---- */

static void json_str(const char *v) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  putchar('"');
}

/* A number JSON can hold: null for NaN and infinities. */
static void json_num(double v) {
  if (isfinite(v))
    printf("%.6g", v);
  else
    printf("null");
}

/* One layer's attention: neurons most attended first, gini overall and per
 * quarter of the training batches. all: every neuron (else the top and
 * bottom five). */
static int json_layer(const heed__ta_stats *s, uint32_t l, int all) {
  heed__ta_view v, q[4];
  memset(q, 0, sizeof q);
  int rv = heed__ta_attention(s, l, 4, &v);
  for (int k = 0; k < 4 && !rv; k++)
    rv = heed__ta_attention(s, l, k, &q[k]);
  if (!rv) {
    double sum = 0;
    for (uint32_t i = 0; i < v.n; i++)
      sum += v.mean[i];
    printf("{\"layer\":%u,\"neurons\":%u,\"mean\":", l, v.n);
    json_num(v.n ? sum / v.n : NAN);
    printf(",\"gini\":");
    json_num(v.gini);
    printf(",\"gini_quarters\":[");
    for (int k = 0; k < 4; k++) {
      printf(k ? "," : "");
      json_num(q[k].gini);
    }
    printf("],\"%s\":[", all ? "attention" : "most_and_least");
    for (uint32_t i = 0; i < v.n; i++) {
      if (!all && i >= 5 && i + 5 < v.n)
        continue;
      printf("%s{\"neuron\":%u,\"mean\":", i ? "," : "", v.index[i]);
      json_num(v.mean[i]);
      printf("}");
    }
    printf("]}");
  }
  heed__ta_view_free(&v);
  for (int k = 0; k < 4; k++)
    heed__ta_view_free(&q[k]);
  return rv ? fail("out of memory") : 0;
}

static int json_layers(const heed__ta_stats *s, int all) {
  printf("\"layers\":[");
  int rc = 0, first = 1;
  for (uint32_t l = 1; l <= HEED__TA_MAX_LAYER && !rc; l++)
    if (heed__ta_neurons(s, l)) {
      printf(first ? "" : ",");
      first = 0;
      rc = json_layer(s, l, all);
    }
  printf("]");
  return rc;
}

static int stats_json(const char *src, const heed__ta_stats *s) {
  printf("{\"trace\":");
  json_str(src);
  printf(",\"run\":%" PRIu64 ",\"sample\":", s->run);
  json_num(s->sample);
  printf(",\"records\":%" PRIu64 ",\"dropped\":%" PRIu64
         ",\"recorded\":%" PRIu64 ",\"processes\":%u,\"metrics\":%" PRIu64,
         s->records, s->dropped, s->recorded + s->dropped,
         s->procs ? s->procs : 1, s->metrics);
  if (s->metrics) {
    printf(",\"last_metric\":{\"step\":%" PRIu64 ",\"loss\":",
           s->last_step);
    json_num(s->last_loss);
    printf(",\"accuracy\":");
    json_num(s->last_acc);
    printf("}");
  }
  printf(",\"messages\":{");
  int first = 1;
  for (int k = 1; k <= 7; k++) {
    uint64_t tot = 0;
    for (uint32_t l = 0; l <= s->max_layer; l++)
      tot += s->kind_layer[k][l];
    if (!tot)
      continue;
    printf("%s\"%s\":{\"total\":%" PRIu64 ",\"by_layer\":[",
           first ? "" : ",", heed_trace_kind_name(1u << (k - 1)), tot);
    first = 0;
    for (uint32_t l = 0; l <= s->max_layer; l++)
      printf("%s%" PRIu64, l ? "," : "", s->kind_layer[k][l]);
    printf("]}");
  }
  double *wt;
  size_t nw, neval;
  if (heed__ta_batch_times(s, &wt, &nw, &neval) != 0)
    return fail("out of memory");
  printf("},\"batches\":{\"training\":%u,\"forward_only\":%zu",
         s->ntrain, neval);
  if (nw) {
    printf(",\"wall_ms\":{\"median\":");
    json_num(wt[nw / 2]);
    printf(",\"p90\":");
    json_num(wt[(size_t)ceil(0.9 * (double)(nw - 1))]);
    printf(",\"max\":");
    json_num(wt[nw - 1]);
    printf("}");
  }
  heed__free(wt);
  printf("},");
  int rc = json_layers(s, 0);
  printf("}\n");
  return rc;
}

static int cmd_stats(int argc, char **argv) {
  const char *src = NULL;
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "--json"))
      json = 1;
    else if (argv[i][0] == '-' && argv[i][1])
      return fail("unknown option '%s' (see '%s --help')", argv[i], prog);
    else if (!src)
      src = argv[i];
    else
      return fail("one trace file only, not '%s' too", argv[i]);
  }
  if (!src)
    return fail("usage: %s stats [--json] FILE", prog);
  argv[1] = (char *)src; /* below, argv[1] names the file */
  heed__ta_stats s;
  int rc = load_stats(argv[1], &s);
  if (rc) {
    heed__ta_stats_free(&s);
    return rc;
  }
  if (json) {
    rc = stats_json(src, &s);
    heed__ta_stats_free(&s);
    return rc;
  }
  printf("trace %s: run %" PRIu64 ", sample %g, %" PRIu64 " records",
         argv[1], s.run, s.sample, s.records);
  if (s.recorded)
    printf(", %" PRIu64 " dropped of %" PRIu64 " recorded", s.dropped,
           s.recorded + s.dropped);
  if (s.metrics)
    printf("\nmetrics: %" PRIu64 " (after step %" PRIu64 ": loss %.4f, "
           "accuracy %.2f%%)", s.metrics, s.last_step, s.last_loss,
           100 * s.last_acc);
  print_procs(&s);
  print_counts(&s);
  rc = print_batches(&s);
  uint32_t top = top_layer(&s);
  if (top && !rc)
    printf("\nattention received (mean |beta| a neuron gets from the layer "
           "above):\n");
  for (uint32_t l = 1; l <= top && !rc; l++)
    if (heed__ta_neurons(&s, l))
      rc = print_layer(&s, l, top);
  heed__ta_stats_free(&s);
  return rc;
}

/* ---- export --chrome ---- */

typedef struct export_ctx {
  heed__ta_chrome *c;
  heed_trace_filter f;
} export_ctx;

static int chrome_rec(void *ctx, const heed_trace_rec *r, char *err,
                      size_t errlen) {
  export_ctx *x = ctx;
  /* the header always (its run and configuration); metrics when the
   * kinds take them and their step is in the batch range (a step is about
   * a batch id: eval batches take ids too), whatever the actor filters;
   * the rest through the filter */
  int keep = r->kind == 0;
  if (r->kind == HEED_TRACE_LOOPS) /* clipped to the events' time */
    keep = (x->f.kinds & HEED_TRACE_LOOPS) != 0;
  else if (r->kind == HEED_TRACE_METRIC)
    keep = (x->f.kinds & HEED_TRACE_METRIC) &&
           (x->f.batch_lo > x->f.batch_hi ||
            (r->batch >= x->f.batch_lo && r->batch <= x->f.batch_hi));
  else if (r->kind)
    keep = heed_trace_filter_match(&x->f, r);
  if (!keep)
    return heed__ta_check(r, 1, err, errlen); /* still checked */
  return heed__ta_chrome_add(x->c, r, err, errlen);
}


/* Writes the collected events to out: 0 or 1 after one line. */
static int write_chrome(heed__ta_chrome *c, const char *out) {
  FILE *f = fopen(out, "w");
  if (!f)
    return fail("cannot write %s: %s", out, strerror(errno));
  heed__ta_chrome_info info;
  int rv = heed__ta_chrome_write(c, f, &info);
  int e = errno;
  if (rv == HEED_ENOMEM) {
    fclose(f);
    return fail("out of memory writing %s", out);
  }
  if (fclose(f) != 0 || rv) {
    e = rv ? e : errno;
    return fail("cannot write %s: %s", out, strerror(e ? e : EIO));
  }
  fprintf(stderr, "%s: wrote %zu records as %" PRIu64 " slices on %" PRIu64
                  " tracks in %" PRIu32 " process(es), %" PRIu64
                  " flow arrows, %" PRIu64 " counter samples to %s\n",
          prog, info.events, info.slices, info.tracks, info.procs,
          info.flows, info.counters, out);
  return 0;
}

/* A range "N", "N-M" or "N..M" into [lo, hi], at most max. */
static int parse_range2(const char *s, uint64_t max, uint64_t *lo,
                        uint64_t *hi) {
  char buf[64];
  const char *dots = strstr(s, "..");
  if (dots) {
    int k = snprintf(buf, sizeof buf, "%.*s-%s", (int)(dots - s), s, dots + 2);
    if (k < 0 || (size_t)k >= sizeof buf)
      return -1;
    s = buf;
  }
  return parse_range(s, max, lo, hi);
}

static int cmd_export(int argc, char **argv) {
  const char *out = NULL, *src = NULL;
  export_ctx x;
  heed_trace_filter_init(&x.f);
  int tracks = HEED__TA_TRACKS_LAYER;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t lo, hi;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--chrome") && v) {
      out = argv[++i];
    } else if (!strcmp(a, "--tracks") && v) {
      if (!strcmp(v, "layer"))
        tracks = HEED__TA_TRACKS_LAYER;
      else if (!strcmp(v, "actor"))
        tracks = HEED__TA_TRACKS_ACTOR;
      else if (!strcmp(v, "loop"))
        tracks = HEED__TA_TRACKS_LOOP;
      else
        return fail("--tracks takes layer, actor or loop, not '%s'", v);
      i++;
    } else if (!strcmp(a, "--kind") && v) {
      if (heed_trace_kinds_parse(v, &x.f.kinds) != 0)
        return fail("--kind needs forward, bid, control, batch, labels, "
                    "metric, mark, not '%s'", v);
      i++;
    } else if ((!strcmp(a, "--batch") || !strcmp(a, "--layer") ||
                !strcmp(a, "--neuron")) && v) {
      int batch = !strcmp(a, "--batch");
      if (parse_range2(v, batch ? UINT64_MAX : UINT32_MAX - 1, &lo, &hi))
        return fail("%s needs a number or a range N..M, not '%s'", a, v);
      if (batch) {
        x.f.batch_lo = lo;
        x.f.batch_hi = hi;
      } else if (!strcmp(a, "--layer")) {
        x.f.layer_lo = (uint32_t)lo;
        x.f.layer_hi = (uint32_t)hi;
      } else {
        x.f.neuron_lo = (uint32_t)lo;
        x.f.neuron_hi = (uint32_t)hi;
      }
      i++;
    } else if (a[0] == '-' && a[1]) {
      return fail("unknown option '%s' or it lacks its value (see '%s "
                  "--help')", a, prog);
    } else if (!src) {
      src = a;
    } else {
      return fail("one trace file only, not '%s' too", a);
    }
  }
  if (!out || !src)
    return fail("usage: %s export --chrome OUT.json [--batch A..B] [--kind "
                "K,...] [--layer L] [--neuron N] [--tracks layer|actor|loop] FILE",
                prog);
  if (heed__ta_chrome_new(&x.c) != 0)
    return fail("out of memory");
  heed__ta_chrome_tracks(x.c, tracks);
  int rc = read_file(src, chrome_rec, &x);
  if (!rc)
    rc = write_chrome(x.c, out);
  heed__ta_chrome_free(x.c);
  return rc;
}

/* ---- attention --plot ---- */

/* What one layer's panels hold: attention per neuron, most to least
 * attended, in the first and last quarter of the training batches and
 * overall; gini per quarter. */
typedef struct layer_plot {
  heed__ta_view v[3]; /* quarters 1, 4, all */
  double *x;
  double gini[4];
  char title[96], name[32];
} layer_plot;

static int plot_layer(const heed__ta_stats *s, uint32_t l, layer_plot *p) {
  static const int qs[3] = {0, 3, 4};
  for (int k = 0; k < 3; k++)
    if (heed__ta_attention(s, l, qs[k], &p->v[k]) != 0)
      return HEED_ENOMEM;
  for (int q = 0; q < 4; q++) {
    heed__ta_view g;
    if (heed__ta_attention(s, l, q, &g) != 0)
      return HEED_ENOMEM;
    p->gini[q] = g.gini;
    heed__ta_view_free(&g);
  }
  uint32_t n = p->v[2].n;
  p->x = heed__malloc(((size_t)n + 1) * sizeof *p->x);
  if (!p->x)
    return HEED_ENOMEM;
  for (uint32_t j = 0; j < n; j++)
    p->x[j] = j + 1;
  return 0;
}

static int draw(const heed__ta_stats *s, const char *src, const char *out,
                layer_plot *lp, const uint32_t *layers, uint32_t nl) {
  static const char *const qname[3] = {"first quarter of batches",
                                       "last quarter of batches",
                                       "all batches"};
  static const double qx[4] = {1, 2, 3, 4};
  heed_panel *panels = heed__calloc(nl + 1, sizeof *panels);
  heed_series *series = heed__calloc(4 * (size_t)nl, sizeof *series);
  int rc = 0;
  if (!panels || !series) {
    rc = fail("out of memory");
    goto out;
  }
  for (uint32_t i = 0; i < nl; i++) {
    layer_plot *p = &lp[i];
    for (int k = 0; k < 3; k++)
      series[3 * i + k] = (heed_series){qname[k], p->x, p->v[k].mean,
                                        p->v[k].n};
    snprintf(p->title, sizeof p->title,
             "layer %u: attention from %s (%u neurons)", layers[i],
             layers[i] == layers[nl - 1] ? "the critic" : "the layer above",
             p->v[2].n);
    panels[i] = (heed_panel){p->title, "neuron, most to least attended",
                             "mean |beta| received", &series[3 * i], 3,
                             NULL, 0, 0};
    snprintf(p->name, sizeof p->name, "layer %u", layers[i]);
    series[3 * nl + i] = (heed_series){p->name, qx, p->gini, 4};
  }
  panels[nl] = (heed_panel){"concentration of attention (gini)",
                            "quarter of the training batches",
                            "gini of attention received", &series[3 * nl],
                            nl, NULL, 0, 0};
  char title[256], err[512];
  snprintf(title, sizeof title, "who pays attention to whom: %s (%u training "
           "batches)", src, s->ntrain);
  if (heed__plot(out, title, panels, nl + 1, err, sizeof err) != 0)
    rc = fail("%s", err);
  else
    fprintf(stderr, "%s: wrote %s\n", prog, out);
out:
  heed__free(panels);
  heed__free(series);
  return rc;
}

/* attention --neuron L:J: what one neuron received, batch by batch. */
typedef struct neuron_ctx {
  uint32_t layer, index;
  int json;
  uint64_t n;
} neuron_ctx;

static int neuron_rec(void *ctx, const heed_trace_rec *r, char *err,
                      size_t errlen) {
  neuron_ctx *c = ctx;
  int rv = heed__ta_check(r, 1, err, errlen);
  if (rv)
    return rv;
  if (r->kind != HEED_TRACE_BID || r->receiver.role != HEED_ROLE_NEURON ||
      r->receiver.layer != c->layer || r->receiver.index != c->index ||
      !r->count)
    return 0;
  if (c->json) {
    printf("%s{\"batch\":%" PRIu64 ",\"t_ms\":%.6f,\"n\":%u,"
           "\"mean_abs\":", c->n ? "," : "", r->batch, r->t_ns / 1e6,
           r->count);
    json_num(r->mean_abs);
    printf(",\"mean\":");
    json_num(r->mean);
    printf(",\"min\":");
    json_num(r->min);
    printf(",\"max\":");
    json_num(r->max);
    printf("}");
  } else {
    printf("%-10" PRIu64 " %14.6f %6u %12.6g %12.6g %12.6g %12.6g\n",
           r->batch, r->t_ns / 1e6, r->count, r->mean_abs, r->mean, r->min,
           r->max);
  }
  c->n++;
  return out_check(0) ? 1 : 0;
}

static int attention_neuron(const char *src, const char *which, int json) {
  neuron_ctx c = {0, 0, json, 0};
  char *end;
  errno = 0;
  unsigned long l = strtoul(which, &end, 10), j = 0;
  int ok = end != which && *end == ':' && !errno && l >= 1 &&
           l <= HEED__TA_MAX_LAYER;
  if (ok) {
    const char *p = end + 1;
    j = strtoul(p, &end, 10);
    ok = end != p && !*end && !errno && *p != '-' && j <= HEED__TA_MAX_INDEX;
  }
  if (!ok)
    return fail("--neuron needs LAYER:INDEX (layer 1..%d), not '%s'",
                HEED__TA_MAX_LAYER, which);
  c.layer = (uint32_t)l;
  c.index = (uint32_t)j;
  if (json)
    printf("{\"layer\":%u,\"neuron\":%u,\"batches\":[", c.layer, c.index);
  else
    printf("# attention received by neuron %u of layer %u, per batch\n"
           "# %-8s %14s %6s %12s %12s %12s %12s\n", c.index, c.layer,
           "batch", "t_ms", "n", "mean_abs", "mean", "min", "max");
  int rc = read_file(src, neuron_rec, &c);
  if (json && !rc)
    printf("]}\n");
  if (!rc && !c.n)
    fprintf(stderr, "%s: %s: no attention delivered to neuron %u of layer "
            "%u\n", prog, src, c.index, c.layer);
  return rc;
}

/* attention --matrix: who pays attention to whom, per layer. */
typedef struct matrix_ctx {
  heed__ta_matrix m;
  heed_trace_filter f;
} matrix_ctx;

static int matrix_rec(void *ctx, const heed_trace_rec *r, char *err,
                      size_t errlen) {
  matrix_ctx *c = ctx;
  if (r->kind && !heed_trace_filter_match(&c->f, r))
    return heed__ta_check(r, 1, err, errlen); /* still checked */
  return heed__ta_matrix_add(&c->m, r, err, errlen);
}

static double entry(const heed__ta_row *r, uint32_t i) {
  return i < r->len && r->n[i] ? r->sum[i] / r->n[i] : NAN;
}

static void matrix_json(const char *src, const heed__ta_matrix *m) {
  printf("{\"trace\":");
  json_str(src);
  printf(",\"value\":\"mean over batches of mean_s |g_k[s] c_ki|\","
         "\"layers\":[");
  int first = 1;
  for (uint32_t l = 2; l <= HEED__TA_MAX_LAYER; l++) {
    uint32_t nr = 0, ns = m->layer[l].n;
    if (!ns)
      continue;
    for (uint32_t s = 0; s < ns; s++)
      nr = m->layer[l].rows[s].len > nr ? m->layer[l].rows[s].len : nr;
    printf("%s{\"senders_layer\":%u,\"receivers_layer\":%u,"
           "\"receivers\":%u,\"senders\":[", first ? "" : ",", l, l - 1,
           nr);
    for (uint32_t s = 0; s < ns; s++)
      printf("%s%u", s ? "," : "", m->layer[l].rows[s].k);
    printf("],\"batches\":[");
    for (uint32_t s = 0; s < ns; s++)
      printf("%s%" PRIu64, s ? "," : "", m->layer[l].rows[s].batches);
    printf("],\"matrix\":[");
    for (uint32_t s = 0; s < ns; s++) {
      printf("%s[", s ? ",\n" : "\n");
      for (uint32_t i = 0; i < nr; i++) {
        if (i)
          putchar(',');
        json_num(entry(&m->layer[l].rows[s], i));
      }
      putchar(']');
    }
    printf("]}");
    first = 0;
  }
  printf("]}\n");
}

typedef struct edge {
  double v;
  uint32_t k, i;
} edge;

static int cmp_edge(const void *a, const void *b) {
  const edge *x = a, *y = b;
  if (x->v != y->v)
    return x->v > y->v ? -1 : 1;
  return x->k != y->k ? (x->k < y->k ? -1 : 1) : (x->i < y->i ? -1 : 1);
}

/* The top strongest edges of layer l, strongest first. */
static int matrix_top(const heed__ta_matrix *m, uint32_t l, uint32_t top) {
  edge *e = heed__malloc((size_t)top * sizeof *e);
  if (!e)
    return fail("out of memory");
  uint32_t ne = 0;
  uint64_t batches = 0;
  for (uint32_t s = 0; s < m->layer[l].n; s++) {
    const heed__ta_row *r = &m->layer[l].rows[s];
    batches = r->batches > batches ? r->batches : batches;
    for (uint32_t i = 0; i < r->len; i++) {
      edge x = {entry(r, i), r->k, i};
      if (isnan(x.v)) /* no coefficient, or a diverging run */
        continue;
      if (ne < top) {
        e[ne++] = x;
      } else if (cmp_edge(&x, &e[top - 1]) < 0) {
        e[top - 1] = x;
      } else {
        continue;
      }
      qsort(e, ne, sizeof *e, cmp_edge); /* top is small */
    }
  }
  uint32_t nr = 0;
  for (uint32_t s = 0; s < m->layer[l].n; s++)
    nr = m->layer[l].rows[s].len > nr ? m->layer[l].rows[s].len : nr;
  printf("# layer %u -> layer %u: %u senders x %u receivers, %" PRIu64
         " batches; the %u strongest:\n", l, l - 1, m->layer[l].n, nr,
         batches, ne);
  for (uint32_t x = 0; x < ne; x++)
    printf("  L%u#%-6u -> L%u#%-6u %12.6g\n", l, e[x].k, l - 1, e[x].i,
           e[x].v);
  heed__free(e);
  return 0;
}

static int attention_matrix(const char *src, const heed_trace_filter *f,
                            int json, uint32_t top) {
  matrix_ctx c;
  heed__ta_matrix_init(&c.m);
  c.f = *f;
  int rc = read_file(src, matrix_rec, &c);
  if (!rc && !c.m.with_coef)
    rc = fail("%s: no bid to a hub carries its coefficients (%" PRIu64
              " bids to hubs): record with --trace-values, and a network "
              "with two layers of neurons or more", src, c.m.bids);
  if (!rc) {
    heed__ta_matrix_finish(&c.m);
    if (json) {
      matrix_json(src, &c.m);
    } else {
      printf("# who pays attention to whom: the price per sample a neuron "
             "of one layer pays\n# one of the layer below, mean_s |g_k[s] "
             "c_ki|, averaged over the batches\n");
      for (uint32_t l = 2; !rc && l <= HEED__TA_MAX_LAYER; l++)
        if (c.m.layer[l].n)
          rc = matrix_top(&c.m, l, top);
    }
  }
  heed__ta_matrix_free(&c.m);
  return rc;
}

/* attention FILE (text) or --json: every neuron's mean attention. */
static int attention_table(const char *src, const heed__ta_stats *s,
                           int json) {
  if (json) {
    printf("{\"trace\":");
    json_str(src);
    printf(",\"training_batches\":%u,", s->ntrain);
    int rc = json_layers(s, 1);
    printf("}\n");
    return rc;
  }
  printf("# attention received (mean |beta| from the layer above) per "
         "neuron, most first;\n# Q1..Q4: the quarters of the %u training "
         "batches\n# %-5s %-7s %12s %12s %12s %12s %12s\n", s->ntrain,
         "layer", "neuron", "all", "Q1", "Q2", "Q3", "Q4");
  for (uint32_t l = 1; l <= HEED__TA_MAX_LAYER; l++) {
    if (!heed__ta_neurons(s, l))
      continue;
    heed__ta_view v, q[4];
    memset(q, 0, sizeof q);
    int rv = heed__ta_attention(s, l, 4, &v);
    for (int k = 0; k < 4 && !rv; k++)
      rv = heed__ta_attention(s, l, k, &q[k]);
    for (uint32_t i = 0; !rv && i < v.n; i++) {
      printf("  %-5u %-7u %12.6g", l, v.index[i], v.mean[i]);
      for (int k = 0; k < 4; k++) {
        double m = NAN;
        for (uint32_t x = 0; x < q[k].n; x++)
          if (q[k].index[x] == v.index[i])
            m = q[k].mean[x];
        printf(" %12.6g", m);
      }
      putchar('\n');
    }
    heed__ta_view_free(&v);
    for (int k = 0; k < 4; k++)
      heed__ta_view_free(&q[k]);
    if (rv)
      return fail("out of memory");
  }
  return 0;
}

static int cmd_attention(int argc, char **argv) {
  const char *out = NULL, *src = NULL, *neuron = NULL;
  int json = 0, matrix = 0;
  uint64_t top = 20;
  heed_trace_filter f;
  heed_trace_filter_init(&f);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    uint64_t hi;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if ((!strcmp(a, "--plot") || !strcmp(a, "--neuron")) && i + 1 < argc)
      *(!strcmp(a, "--plot") ? &out : &neuron) = argv[++i];
    else if (!strcmp(a, "--json"))
      json = 1;
    else if (!strcmp(a, "--matrix"))
      matrix = 1;
    else if (!strcmp(a, "--batch") || !strcmp(a, "--top")) {
      int batch = !strcmp(a, "--batch");
      if (i + 1 >= argc ||
          parse_range2(argv[i + 1], batch ? UINT64_MAX : 1000000,
                       batch ? &f.batch_lo : &top, &hi) ||
          (!batch && (hi != top || top == 0)))
        return fail("%s needs %s, not '%s'", a,
                    batch ? "a number or a range N..M" : "a count 1..1000000",
                    i + 1 < argc ? argv[i + 1] : "");
      if (batch)
        f.batch_hi = hi;
      i++;
    }
    else if (a[0] == '-' && a[1])
      return fail("unknown option '%s' (see '%s --help')", a, prog);
    else if (!src)
      src = a;
    else
      return fail("one trace file only, not '%s' too", a);
  }
  if (!src || (out && (json || neuron || matrix)) || (neuron && matrix) ||
      (!matrix && (f.batch_lo <= f.batch_hi || top != 20)))
    return fail("usage: %s attention [--json] [--neuron L:J] FILE, "
                "attention --matrix [--json] [--batch A..B] [--top N] FILE, "
                "or attention --plot OUT.svg FILE", prog);
  if (matrix)
    return attention_matrix(src, &f, json, (uint32_t)top);
  if (neuron)
    return attention_neuron(src, neuron, json);
  if (!strcmp(src, "-"))
    return fail("attention reads the file twice: give a FILE, not '%s'",
                src);
  heed__ta_stats s;
  int rc = load_stats(src, &s);
  if (!rc && !out) {
    int any = 0;
    for (uint32_t l = 1; l <= HEED__TA_MAX_LAYER; l++)
      any |= heed__ta_neurons(&s, l) != 0;
    rc = any ? attention_table(src, &s, json)
             : fail("%s holds no attention (no BID records delivered to "
                    "neurons; record with --trace-kinds bid)", src);
    heed__ta_stats_free(&s);
    return rc;
  }
  uint32_t layers[HEED__TA_MAX_LAYER], nl = 0;
  for (uint32_t l = 1; !rc && l <= HEED__TA_MAX_LAYER; l++)
    if (heed__ta_neurons(&s, l))
      layers[nl++] = l;
  if (!rc && !nl)
    rc = fail("%s holds no attention (no BID records delivered to neurons; "
              "record with --trace-kinds bid)", src);
  layer_plot *lp = rc ? NULL : heed__calloc(nl, sizeof *lp);
  if (!rc && !lp)
    rc = fail("out of memory");
  for (uint32_t i = 0; !rc && i < nl; i++)
    if (plot_layer(&s, layers[i], &lp[i]) != 0)
      rc = fail("out of memory");
  if (!rc)
    rc = draw(&s, src, out, lp, layers, nl);
  for (uint32_t i = 0; lp && i < nl; i++) {
    for (int k = 0; k < 3; k++)
      heed__ta_view_free(&lp[i].v[k]);
    heed__free(lp[i].x);
  }
  heed__free(lp);
  heed__ta_stats_free(&s);
  return rc;
}

/* ---- serve ---- */

static int serve_rec(void *ctx, const heed_trace_rec *r, char *err,
                     size_t errlen) {
  (void)err;
  (void)errlen;
  heed_trace_server_add(ctx, r);
  return 0;
}

static int cmd_serve(int argc, char **argv) {
  const char *http = "127.0.0.1:8080", *live = NULL, *src = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--http") || !strcmp(a, "--live")) {
      if (i + 1 >= argc)
        return fail("%s needs a value", a);
      *(!strcmp(a, "--http") ? &http : &live) = argv[++i];
    } else if (a[0] == '-' && a[1]) {
      return fail("unknown option '%s' (see '%s --help')", a, prog);
    } else if (!src) {
      src = a;
    } else {
      return fail("one source only, not '%s' too", a);
    }
  }
  if (!!src == !!live)
    return fail("usage: %s serve [--http ADDR] FILE | --live URL", prog);
  if (live && !is_url(live))
    return fail("--live follows a live run: give its URL, not '%s'", live);
  char err[512];
  heed_trace_server *srv;
  if (heed_trace_server_new(&srv, http, live ? live : src, live != NULL, err,
                            sizeof err) != 0)
    return fail("%s", err);
  int rc;
  if (live) {
    fprintf(stderr, "%s: serving %s at %s (Ctrl-C to stop)\n", prog, live,
            heed_trace_server_url(srv));
    rc = read_live(live, serve_rec, srv, NULL); /* until Ctrl-C */
  } else {
    rc = read_file(src, serve_rec, srv);
    heed_trace_server_done(srv);
    if (!rc) /* the page shows the whole file from the first load */
      fprintf(stderr, "%s: serving %s at %s (Ctrl-C to stop)\n", prog, src,
              heed_trace_server_url(srv));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!rc && !interrupted) {
      struct timespec ts = {0, 100000000};
      nanosleep(&ts, NULL);
    }
  }
  heed_trace_server_free(srv);
  return rc;
}

static int run(int argc, char **argv) {
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
  if (!strcmp(cmd, "serve"))
    return cmd_serve(argc - 1, argv + 1);
  fail("unknown command '%s' (see '%s --help')", cmd, prog);
  return 2;
}

int main(int argc, char **argv) { return out_finish(run(argc, argv)); }
