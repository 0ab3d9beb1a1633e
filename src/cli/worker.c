/*
 * worker.c - `heed worker --listen URL`: hosts this process's layers of
 * distributed runs, one run after another (docs/distributed.md).
 *
 * The main thread receives every frame: BUILD starts a run (dial the
 * peers, build the network, answer READY), net messages go to the
 * network, PING is answered with PONG, STOP ends the run. A frame that is
 * garbage, truncated, oversized, of another protocol version, run or
 * receiver is rejected with one line on stderr and the worker goes on. A
 * coordinator silent for 2 s ends the run. SIGTERM/SIGINT end the worker.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/distributed.h"
#include "heed/heed.h"
#include "transport/link.h"

#define SILENT_S 2.0

static volatile sig_atomic_t quit;

static void on_signal(int sig) {
  (void)sig;
  quit = 1;
}

static void usage(FILE *f) {
  fprintf(f,
      "usage: heed worker --listen URL [options]\n\n"
      "Hosts part of a network for `heed train --workers N` or "
      "`--cluster FILE`.\n\noptions:\n"
      "  --listen URL        ipc:///path or tcp://HOST:PORT (tcp://:PORT "
      "binds to\n"
      "                      127.0.0.1; name an address to listen on others)\n"
      "  --max-frame BYTES   largest frame accepted (default 64 MiB)\n"
      "  --threads N         runtime threads (default: the coordinator's)\n"
      "  --allow-plugins     load the strategy plugins a run names (off: "
      "runs that\n"
      "                      need a plugin are refused)\n"
      "  --once              exit after one run\n"
      "  --quiet             log only problems\n"
      "  -h, --help          this help\n");
}

typedef struct worker {
  heed_link *link;
  size_t max_frame;
  unsigned threads;
  int allow_plugins, quiet;
  /* the run in progress */
  int running;
  heed_run_config cfg;
  heed_runtime *rt;
  heed_net *net;
  double heard; /* last frame from the coordinator */
} worker;

static int send_cb(void *arg, unsigned to, const heed_wire_msg *m) {
  worker *w = arg;
  return heed_link_send(w->link, to, m);
}

static void end_run(worker *w, const char *why) {
  if (!w->running)
    return;
  heed_net_free(w->net);
  heed_runtime_free(w->rt);
  w->net = NULL;
  w->rt = NULL;
  heed_link_flush(w->link, -1, 500);
  heed_link_drop_peers(w->link);
  w->running = 0;
  if (!w->quiet || why)
    fprintf(stderr, "heed worker: run %016llx ended%s%s\n",
            (unsigned long long)w->cfg.run_id, why ? ": " : "",
            why ? why : "");
}

static void refuse(worker *w, const char *why) {
  fprintf(stderr, "heed worker: cannot join run %016llx: %s\n",
          (unsigned long long)w->cfg.run_id, why);
  heed_link_send_sess(w->link, 0, HEED_SESS_ERROR, 0, why, strlen(why));
}

static void start_run(worker *w, const heed_frame_msg *fm) {
  char why[512];
  heed_run_config *c = &w->cfg;
  if (heed_wire_config_decode(c, fm->bytes, fm->nbytes, why, sizeof why)) {
    fprintf(stderr, "heed worker: rejected a BUILD: %s\n", why);
    return;
  }
  if (c->self == 0) {
    fprintf(stderr, "heed worker: rejected a BUILD for process 0\n");
    return;
  }
  heed_link_set_run(w->link, c->run_id, c->self);
  for (unsigned i = 0; i < c->nprocs; i++) {
    if (i == c->self)
      continue;
    if (heed_link_add_peer(w->link, i, c->urls[i], c->max_frame, why,
                           sizeof why)) {
      fprintf(stderr, "heed worker: %s\n", why);
      heed_link_drop_peers(w->link);
      return;
    }
  }
  w->running = 1;
  w->heard = heed__dist_now();
  int rv = 0;
  for (unsigned i = 0; i < c->nplugins && !rv; i++) {
    if (!w->allow_plugins) {
      snprintf(why, sizeof why, "the run needs plugin %s; start the worker "
               "with --allow-plugins", c->plugins[i]);
      rv = -1;
    } else if (heed_strategy_plugin_load(c->plugins[i], why, sizeof why)) {
      rv = -1;
    }
  }
  heed_strategy *s = NULL;
  if (!rv && heed_strategy_new(&s, c->strategy, why, sizeof why))
    rv = -1;
  if (!rv) {
    heed_activation acts[HEED_WIRE_MAX_LAYERS];
    for (unsigned l = 0; l + 1 < c->nsizes; l++)
      acts[l] = (heed_activation)c->acts[l];
    heed_runtime_opts ro = {.threads = w->threads ? w->threads : c->threads,
                            .mailbox_limit = 4096};
    if (!ro.threads)
      ro.threads = 1;
    heed_net_opts no = {.nsizes = c->nsizes, .sizes = c->sizes, .acts = acts,
                        .init = (heed_init)c->init, .seed = c->seed,
                        .lr = (float)c->lr, .max_batch = c->max_batch,
                        .strategy = s};
    heed_net_remote rem = {.nprocs = c->nprocs, .self = c->self,
                           .layer_proc = c->layer_proc, .send = send_cb,
                           .arg = w};
    if ((rv = heed_runtime_new(&w->rt, &ro)) != 0 ||
        (rv = heed_runtime_start(w->rt)) != 0 ||
        (rv = heed_net_new_remote(&w->net, w->rt, &no, &rem)) != 0)
      snprintf(why, sizeof why, "cannot build the network: %s",
               heed_strerror(rv));
  }
  heed_strategy_free(s);
  if (rv) {
    refuse(w, why);
    end_run(w, "refused");
    return;
  }
  heed_link_send_sess(w->link, 0, HEED_SESS_READY, w->max_frame, NULL, 0);
  if (!w->quiet) {
    fprintf(stderr, "heed worker: run %016llx: process %u of %u, layers",
            (unsigned long long)c->run_id, c->self, c->nprocs);
    for (unsigned l = 0; l + 1 < c->nsizes; l++)
      if (c->layer_proc[l] == c->self)
        fprintf(stderr, " %u", l + 1);
    fprintf(stderr, "\n");
  }
}

static void handle(worker *w, const heed_frame *f) {
  size_t first = 0;
  if (!w->running) {
    /* Between runs only a BUILD from a coordinator is welcome (with what
     * was coalesced behind it). */
    uint32_t k0 = f->nmsgs ? f->msgs[0].m.kind : 0;
    if (k0 == HEED_SESS_BUILD && f->h.from == 0) {
      start_run(w, &f->msgs[0]);
      first = 1;
    } else if (f->nmsgs && (k0 == HEED_SESS_STOP || k0 == HEED_SESS_PING)) {
      return; /* late words of a run already over */
    } else {
      fprintf(stderr, "heed worker: rejected a frame of %zu message(s) "
                      "(first %s) from process %u: no run in progress\n",
              f->nmsgs, f->nmsgs ? heed_wire_kind_name(f->msgs[0].m.kind) : "-",
              f->h.from);
      return;
    }
    if (!w->running)
      return;
  }
  if (f->h.from >= w->cfg.nprocs || f->h.from == w->cfg.self) {
    fprintf(stderr, "heed worker: rejected a frame from process %u\n",
            f->h.from);
    return;
  }
  if (f->h.from == 0)
    w->heard = heed__dist_now();
  for (size_t k = first; k < f->nmsgs && w->running; k++) {
    const heed_frame_msg *fm = &f->msgs[k];
    switch (fm->m.kind) {
    case HEED_SESS_PING:
      heed_link_send_sess(w->link, f->h.from, HEED_SESS_PONG, fm->m.word,
                          NULL, 0);
      break;
    case HEED_SESS_STOP:
      if (f->h.from == 0)
        end_run(w, NULL);
      break;
    case HEED_SESS_BUILD:
    case HEED_SESS_READY:
    case HEED_SESS_PONG:
    case HEED_SESS_ERROR:
      fprintf(stderr, "heed worker: rejected a %s message from process %u "
                      "during run %016llx\n",
              heed_wire_kind_name(fm->m.kind), f->h.from,
              (unsigned long long)w->cfg.run_id);
      break;
    default: {
      char reason[160];
      int rv = heed_net_deliver_why(w->net, f->h.from, &fm->m, reason,
                                    sizeof reason);
      if (rv) {
        char why[240];
        snprintf(why, sizeof why, "a bad %s message from process %u: %s",
                 heed_wire_kind_name(fm->m.kind), f->h.from,
                 reason[0] ? reason : heed_strerror(rv));
        fprintf(stderr, "heed worker: rejected %s\n", why);
        heed_link_send_sess(w->link, 0, HEED_SESS_ERROR, 0, why, strlen(why));
      }
    }
    }
  }
}

int heed_cmd_worker(int argc, char **argv) {
  worker w;
  memset(&w, 0, sizeof w);
  const char *url = NULL;
  int once = 0;
  uint64_t u;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--listen")) {
      if (!(url = heed__arg_value("worker", argc, argv, &i)))
        return 2;
    } else if (!strcmp(a, "--max-frame")) {
      if (!(v = heed__arg_value("worker", argc, argv, &i)) ||
          heed__arg_u64("worker", a, v, HEED_WIRE_MIN_FRAME,
                        (uint64_t)1 << 34, &u))
        return 2;
      w.max_frame = (size_t)u;
    } else if (!strcmp(a, "--threads")) {
      if (!(v = heed__arg_value("worker", argc, argv, &i)) ||
          heed__arg_u64("worker", a, v, 1, 256, &u))
        return 2;
      w.threads = (unsigned)u;
    } else if (!strcmp(a, "--allow-plugins")) {
      w.allow_plugins = 1;
    } else if (!strcmp(a, "--once")) {
      once = 1;
    } else if (!strcmp(a, "--quiet")) {
      w.quiet = 1;
    } else {
      fprintf(stderr, "heed worker: unknown option '%s' (see 'heed worker "
                      "--help')\n", a);
      return 2;
    }
  }
  if (!url) {
    fprintf(stderr, "heed worker: --listen URL is required\n");
    return 2;
  }
  if (!w.max_frame)
    w.max_frame = HEED_WIRE_MAX_FRAME_DEFAULT;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  char err[512];
  if (heed_link_open(&w.link, url, w.max_frame, "heed worker", err,
                     sizeof err)) {
    fprintf(stderr, "heed worker: %s\n", err);
    return 1;
  }
  if (!w.quiet)
    fprintf(stderr, "heed worker: listening at %s\n", heed_link_url(w.link));
  heed_frame f = {0};
  int served = 0;
  while (!quit && !(once && served && !w.running)) {
    heed_wire_expect ex = {.check_run = w.running, .run_id = w.cfg.run_id,
                           .check_to = w.running, .to = w.cfg.self};
    int rv = heed_link_recv(w.link, &f, &ex, 250);
    if (rv == 0) {
      int was = w.running;
      handle(&w, &f);
      served |= w.running && !was;
    } else if (rv == HEED_ECLOSED) {
      break;
    }
    if (w.running && heed__dist_now() - w.heard > SILENT_S)
      end_run(&w, "the coordinator has been silent for 2 s");
  }
  end_run(&w, quit ? "terminated" : NULL);
  heed_frame_free(&f);
  heed_link_close(w.link);
  return 0;
}
