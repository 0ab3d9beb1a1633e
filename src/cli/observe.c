/* observe.c - the --observe flags (observe.h). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/observe.h"

int heed__observe_parse(const char *cmd, heed__observer *o, int argc,
                        char **argv, int *i) {
  const char *a = argv[*i];
  if (!strcmp(a, "--observe-keep")) {
    o->keep = 1;
    return 1;
  }
  if (strcmp(a, "--observe"))
    return 0;
  return (o->addr = heed__arg_value(cmd, argc, argv, i)) ? 1 : -1;
}

void heed__trace_usage(FILE *f) {
  fprintf(f,
      "  --trace FILE           record the agents' messages (docs/tracing.md)\n"
      "  --trace-live URL       publish them on an nng PUB socket, e.g.\n"
      "                         tcp://127.0.0.1:5555 or ipc:///tmp/heed.trace\n"
      "  --trace-sample P       fraction of batches recorded (default 1)\n"
      "  --trace-kinds K,...    forward,bid,control,batch,labels,metric,mark,\n"
      "                         loops\n"
      "                         (default all)\n"
      "  --trace-values         store the values too (up to 1024 per message)\n"
      "  --observe ADDR         serve a web page watching the run, e.g.\n"
      "                         127.0.0.1:8080 (docs/tracing.md)\n"
      "  --observe-keep         after the run, keep serving it until Ctrl-C\n");
}

int heed__trace_flags_parse(const char *cmd, heed_trace_opts *tr,
                            heed__observer *o, int argc, char **argv,
                            int *i) {
  const char *a = argv[*i], *v;
  if (!strcmp(a, "--trace-values")) {
    tr->values = 1;
    return 1;
  }
  int k = heed__observe_parse(cmd, o, argc, argv, i);
  if (k)
    return k;
  if (strcmp(a, "--trace") && strcmp(a, "--trace-live") &&
      strcmp(a, "--trace-sample") && strcmp(a, "--trace-kinds"))
    return 0;
  if (!(v = heed__arg_value(cmd, argc, argv, i)))
    return -1;
  if (!strcmp(a, "--trace"))
    tr->path = v;
  else if (!strcmp(a, "--trace-live"))
    tr->live_url = v;
  else if (!strcmp(a, "--trace-sample"))
    return heed__arg_float(cmd, a, v, 1e-9, 1, &tr->sample) ? -1 : 1;
  else if (heed_trace_kinds_parse(v, &tr->kinds) != 0) {
    fprintf(stderr, "heed %s: bad --trace-kinds '%s' (forward, bid, "
                    "control, batch, labels, metric, mark, loops, all)\n",
            cmd, v);
    return -1;
  }
  return 1;
}

int heed__trace_open(const char *cmd, heed_trace_opts *tr, heed__observer *o,
                     heed_trace **tp) {
  char err[512];
  *tp = NULL;
  if (!tr->path && !tr->live_url && !o->addr)
    return 0;
  if (heed__observe_start(cmd, o, tr))
    return -1;
  if (heed_trace_new(tp, tr, err, sizeof err) != 0) {
    fprintf(stderr, "heed %s: %s\n", cmd, err);
    return -1;
  }
  return 0;
}

int heed__trace_close(const char *cmd, heed_trace **tp, heed__observer *o) {
  if (!*tp)
    return 0;
  heed_trace_stats st;
  char err[600];
  int rv = heed_trace_close(*tp, &st, err, sizeof err);
  *tp = NULL;
  fprintf(stderr, "heed %s: %s%s%llu messages recorded, %llu dropped\n", cmd,
          rv ? err : "trace: ", rv ? "; " : "",
          (unsigned long long)st.recorded, (unsigned long long)st.dropped);
  heed__observe_end(cmd, o);
  return rv;
}

int heed__observe_start(const char *cmd, heed__observer *o,
                        heed_trace_opts *tr) {
  if (!o->addr)
    return 0;
  char err[512];
  if (heed_trace_server_new(&o->srv, o->addr, "heed train", 1, err,
                            sizeof err) != 0) {
    fprintf(stderr, "heed %s: %s\n", cmd, err);
    return -1;
  }
  fprintf(stderr, "heed %s: observer at %s\n", cmd,
          heed_trace_server_url(o->srv));
  tr->watch = heed_trace_server_watch;
  tr->watch_arg = o->srv;
  return 0;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

void heed__observe_end(const char *cmd, heed__observer *o) {
  if (!o->srv)
    return;
  heed_trace_server_done(o->srv);
  if (!o->keep)
    return;
  fflush(stdout); /* the run's result is out before the wait */
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  fprintf(stderr, "heed %s: the run is over; still serving %s (Ctrl-C to "
                  "stop)\n", cmd, heed_trace_server_url(o->srv));
  while (!stop) {
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
}

void heed__observe_free(heed__observer *o) {
  heed_trace_server_free(o->srv);
  o->srv = NULL;
}

void heed__observe_config(char *out, size_t len, const char *cmd, int argc,
                          char **argv) {
  size_t n = 0;
  if (!len)
    return;
  out[0] = '\0';
  n += (size_t)snprintf(out, len, "heed %s", cmd);
  for (int i = 1; i < argc && n < len; i++) {
    const char *a = argv[i];
    int quote = !*a || strpbrk(a, " \t\"'\\$") != NULL;
    n += (size_t)snprintf(out + n, len - n, quote ? " '%s'" : " %s", a);
  }
}

void heed__observe_metric(heed_trace *t, uint64_t step,
                          const heed_batch_stats *st) {
  if (t && st->count)
    heed_trace_metric(t, step, st->loss, (double)st->correct / st->count,
                      st->count);
}
