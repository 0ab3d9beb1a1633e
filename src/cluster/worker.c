/*
 * worker.c - heed_worker_serve: hosts this process's layers of runs, one
 * run after another (docs/distributed.md).
 *
 * One thread receives every frame. Between runs only a coordinator's
 * HELLO is welcome: the worker checks the version and the secret, answers
 * HELLO (or REFUSE), then takes BUILD (verified against the secret, then
 * its plugins loaded and its layers built) and answers READY (or REFUSE).
 * During the run, net messages go to the network, PING is answered with
 * PONG and STOP ends the run; a HELLO of another run is refused as busy.
 * Frames of a run that just ended are dropped without a word.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cluster/internal.h"
#include "common/alloc.h"
#include "heed/version.h"

#define SILENT_S 2.0
#define JOIN_MS 30000
#define FIRST_RUN_S 60.0 /* a launched worker waits this long for its run */

enum { IDLE, SETUP, RUN };

typedef struct wk {
  const heed_worker_opts *o;
  heed_link *link;
  size_t max_frame;
  int state;
  uint64_t run_id, last_run;
  unsigned self;
  heed_hello hello; /* the coordinator's */
  uint8_t nonce_w[HEED_NONCE_LEN];
  int auth;
  heed_run_config cfg;
  heed_runtime *rt;
  heed_net *net;
  double heard; /* last frame from the coordinator */
  /* After a JOIN, the socket to the coordinator stays open until its
   * HELLO (or this time): nng queues a message on a connection still
   * being dialled, and closing the socket would drop it unsent. */
  double linger;
  unsigned served;
  heed__tship *ship; /* tracing: this process's records go to process 0 */
} wk;

static void say(wk *w, const char *fmt, ...) {
  if (!w->o->log)
    return;
  char line[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  w->o->log(w->o->log_arg, line);
}

static int send_cb(void *arg, unsigned to, const heed_wire_msg *m) {
  wk *w = arg;
  return heed_link_send(w->link, to, m);
}

static void drop_peers(wk *w) {
  heed_link_flush(w->link, -1, 500);
  heed_link_drop_peers(w->link);
  w->linger = 0;
}

/* Back to IDLE: the network freed, the peers flushed and closed. */
static void end_session(wk *w, const char *why) {
  if (w->state == IDLE)
    return;
  heed_net_free(w->net);
  heed_runtime_free(w->rt);
  w->net = NULL;
  w->rt = NULL;
  heed__tship_stop(w->ship); /* no actor left: the last records go too */
  w->ship = NULL;
  drop_peers(w);
  if (w->state == RUN && (w->o->verbose || why))
    say(w, "run %016llx ended%s%s", (unsigned long long)w->run_id,
        why ? ": " : "", why ? why : "");
  w->last_run = w->run_id;
  w->state = IDLE;
}

/* Tells the coordinator (and the log) why this worker will not join.
 * The REFUSE goes from a socket of its own, dialled and closed here: the
 * link's socket to the coordinator may still be connecting, and kept
 * open it would reconnect to the next coordinator at the same address
 * (nng 1.5 then left that coordinator's next connection unread). */
static void refuse(wk *w, const char *why) {
  say(w, "refused run %016llx: %s", (unsigned long long)w->run_id, why);
  if (heed__send_once(w->hello.url, w->run_id, w->self, 0, HEED_SESS_REFUSE,
                      0, why, strlen(why), 2000))
    say(w, "run %016llx: cannot tell the coordinator at %s",
        (unsigned long long)w->run_id, w->hello.url);
  end_session(w, NULL);
}

static void on_hello(wk *w, const heed_frame *f) {
  const heed_frame_msg *fm = &f->msgs[0];
  char why[512];
  heed_hello h;
  if (heed__hello_decode(&h, fm->bytes, fm->nbytes, why, sizeof why)) {
    say(w, "rejected a HELLO of run %016llx: %s",
        (unsigned long long)f->h.run_id, why);
    return;
  }
  if (f->h.to == 0 || f->h.to >= HEED_WIRE_MAX_PROCS) {
    say(w, "rejected a HELLO for process %u", f->h.to);
    return;
  }
  end_session(w, NULL); /* a setup its coordinator gave up */
  if (w->linger)
    drop_peers(w);
  w->run_id = f->h.run_id;
  w->self = f->h.to;
  w->hello = h;
  int theirs = (fm->m.word & HEED_HELLO_AUTH) != 0, ours = !!w->o->secret;
  if (strcmp(h.version, HEED_VERSION))
    snprintf(why, sizeof why, "the coordinator runs heed %s, this worker "
             "heed %s", h.version, HEED_VERSION);
  else if (ours && !theirs)
    snprintf(why, sizeof why, "authentication required: this worker has a "
             "shared secret and the coordinator has none (--secret-file or "
             "HEED_SECRET)");
  else if (!ours && theirs)
    snprintf(why, sizeof why, "authentication impossible: the coordinator "
             "has a shared secret and this worker has none (start it with "
             "--secret-file or HEED_SECRET)");
  else
    why[0] = 0;
  if (why[0]) { /* before dialling: no socket to close half-connected */
    refuse(w, why);
    w->last_run = w->run_id;
    return;
  }
  heed_link_set_run(w->link, w->run_id, w->self);
  if (heed_link_add_peer(w->link, 0, h.url, HEED_WIRE_MIN_FRAME * 64, why,
                         sizeof why)) {
    say(w, "run %016llx: cannot reach the coordinator: %s",
        (unsigned long long)w->run_id, why);
    heed_link_drop_peers(w->link);
    return;
  }
  w->state = SETUP;
  w->heard = heed__now_s();
  w->auth = ours;
  heed__random(w->nonce_w, sizeof w->nonce_w);
  heed_link_send_sess(w->link, 0, HEED_SESS_HELLO, ours ? HEED_HELLO_AUTH : 0,
                      w->nonce_w, sizeof w->nonce_w);
}

/* The config bytes of a BUILD, its proof checked. NULL (why set) if bad. */
static const uint8_t *build_bytes(wk *w, const heed_frame_msg *fm, size_t *n,
                                  char *why, size_t whylen) {
  *n = fm->nbytes;
  if (!w->auth)
    return fm->bytes;
  uint8_t want[HEED_SHA256_LEN];
  if (fm->m.word != 1 || fm->nbytes <= HEED_SHA256_LEN) {
    snprintf(why, whylen, "authentication failed: the BUILD carries no "
             "proof");
    return NULL;
  }
  *n -= HEED_SHA256_LEN;
  heed__session_mac(w->o->secret, w->o->secret_len, "coordinator",
                    w->run_id, w->self, w->hello.nonce, w->nonce_w,
                    fm->bytes, *n, want);
  if (!heed__mac_equal(fm->bytes + *n, want, HEED_SHA256_LEN)) {
    snprintf(why, whylen, "authentication failed: the coordinator's proof "
             "does not match this worker's secret");
    return NULL;
  }
  return fm->bytes;
}

static int load_plugins(wk *w, char *why, size_t whylen) {
  for (unsigned i = 0; i < w->cfg.nplugins; i++) {
    if (!w->o->allow_plugins) {
      snprintf(why, whylen, "the run needs strategy plugin %s and this "
               "worker does not load plugins (start it with "
               "--allow-plugins)", w->cfg.plugins[i]);
      return -1;
    }
    if (heed_strategy_plugin_load(w->cfg.plugins[i], why, whylen))
      return -1;
  }
  return 0;
}

/* Dials the other workers, loads plugins, builds the layers. */
static int build(wk *w, char *why, size_t whylen) {
  heed_run_config *c = &w->cfg;
  heed_link_set_peer_limit(w->link, 0, c->max_frame);
  for (unsigned i = 1; i < c->nprocs; i++)
    if (i != c->self &&
        heed_link_add_peer(w->link, i, c->urls[i], c->max_frame, why, whylen))
      return -1;
  if (load_plugins(w, why, whylen))
    return -1;
  heed_runtime_opts ro = {.threads = w->o->threads ? w->o->threads
                                                   : c->threads,
                          .mailbox_limit = 4096};
  if (!ro.threads)
    ro.threads = 1;
  int rv;
  if ((rv = heed_runtime_new(&w->rt, &ro)) != 0 ||
      (rv = heed_runtime_start(w->rt)) != 0) {
    snprintf(why, whylen, "cannot start a runtime: %s", heed_strerror(rv));
    return -1;
  }
  return heed__run_net(c, w->rt, send_cb, w, &w->net, why, whylen) ? -1 : 0;
}

static void on_build(wk *w, const heed_frame_msg *fm) {
  char why[512];
  size_t n;
  const uint8_t *p = build_bytes(w, fm, &n, why, sizeof why);
  heed_run_config *c = &w->cfg;
  if (!p) {
    refuse(w, why);
    return;
  }
  if (heed_wire_config_decode(c, p, n, why, sizeof why)) {
    char line[560];
    snprintf(line, sizeof line, "a bad BUILD: %s", why);
    refuse(w, line);
    return;
  }
  if (c->self != w->self || c->run_id != w->run_id || c->self == 0 ||
      c->self >= c->nprocs) {
    refuse(w, "a BUILD for another process or run than its HELLO");
    return;
  }
  if (build(w, why, sizeof why)) {
    refuse(w, why);
    return;
  }
  uint8_t mac[HEED_SHA256_LEN];
  if (w->auth)
    heed__session_mac(w->o->secret, w->o->secret_len, "worker", w->run_id,
                      w->self, w->hello.nonce, w->nonce_w, NULL, 0, mac);
  heed_link_send_sess(w->link, 0, HEED_SESS_READY, w->max_frame,
                      w->auth ? mac : NULL, w->auth ? sizeof mac : 0);
  w->state = RUN;
  w->served++;
  if (w->o->verbose) {
    char layers[256] = "";
    size_t k = 0;
    for (unsigned l = 0; l + 1 < c->nsizes && k + 24 < sizeof layers; l++)
      if (c->nshare && c->share[l * c->nprocs + c->self])
        k += (size_t)snprintf(layers + k, sizeof layers - k, " %u(%u)", l + 1,
                              c->share[l * c->nprocs + c->self]);
      else if (!c->nshare && c->layer_proc[l] == c->self)
        k += (size_t)snprintf(layers + k, sizeof layers - k, " %u", l + 1);
    say(w, "run %016llx: process %u of %u, layers%s",
        (unsigned long long)c->run_id, c->self, c->nprocs, layers);
  }
}

/* TRACE from process 0: start or stop tracing this process's actors, or
 * a refined clock offset (docs/trace-format.md, "Several processes"). */
static void on_trace(wk *w, unsigned from, const heed_frame_msg *fm) {
  char why[300];
  heed__trace_cfg tc;
  uint32_t what = (uint32_t)(fm->m.word & 0xff);
  if (from != 0) {
    say(w, "rejected a TRACE message from process %u", from);
    return;
  }
  if (what == HEED_TRACE_START) {
    int rv = w->ship ? HEED_ESTATE : 0;
    if (rv)
      snprintf(why, sizeof why, "already tracing");
    else if (!(rv = heed__trace_cfg_decode(&tc, fm->bytes, fm->nbytes, why,
                                           sizeof why)) &&
             (tc.run == 0 || tc.procs != w->cfg.nprocs)) {
      snprintf(why, sizeof why, "a TRACE start for %u processes, not %u",
               tc.procs, w->cfg.nprocs);
      rv = HEED_ERANGE;
    }
    if (!rv &&
        !(rv = heed__tship_start(&w->ship, w->link, w->self, &tc, why,
                                 sizeof why)) &&
        (rv = heed_net_set_trace(w->net, heed__tship_trace(w->ship))) != 0)
      snprintf(why, sizeof why, "cannot attach the tracer: %s",
               heed_strerror(rv));
    if (rv) {
      say(w, "cannot trace run %016llx: %s", (unsigned long long)w->run_id,
          why);
      if (w->ship) {
        heed_net_set_trace(w->net, NULL);
        heed__tship_stop(w->ship);
        w->ship = NULL;
      }
    }
    heed_link_send_sess(w->link, 0, HEED_SESS_TRACE,
                        HEED_TRACE_STARTED | (rv ? 1u << 8 : 0), rv ? why : NULL,
                        rv ? strlen(why) : 0);
  } else if (what == HEED_TRACE_CLOCK && fm->nbytes == 8) {
    heed__tship_clock(w->ship, (int64_t)heed__le_u64(fm->bytes));
  } else if (what == HEED_TRACE_STOP) {
    heed_net_set_trace(w->net, NULL);
    if (w->ship)
      heed__tship_stop(w->ship); /* ships the rest, then TRACE end */
    else
      heed_link_send_sess(w->link, 0, HEED_SESS_TRACE, HEED_TRACE_END, NULL,
                          0);
    w->ship = NULL;
  } else {
    say(w, "rejected a TRACE message (%u, %zu bytes) during run %016llx",
        what, fm->nbytes, (unsigned long long)w->run_id);
  }
}

static void on_run_msg(wk *w, unsigned from, const heed_frame_msg *fm) {
  uint8_t now[8];
  switch (fm->m.kind) {
  case HEED_SESS_PING: /* with this process's clock, for the trace */
    heed__u64_le(now, heed__mono_ns());
    heed_link_send_sess(w->link, from, HEED_SESS_PONG, fm->m.word, now,
                        sizeof now);
    break;
  case HEED_SESS_TRACE:
    on_trace(w, from, fm);
    break;
  case HEED_SESS_STOP:
    if (from == 0)
      end_session(w, NULL);
    break;
  case HEED_SESS_HELLO: /* a repeat that crossed our answer */
    if (from != 0)
      say(w, "rejected a HELLO from process %u during run %016llx", from,
          (unsigned long long)w->run_id);
    break;
  case HEED_SESS_BUILD:
  case HEED_SESS_READY:
  case HEED_SESS_PONG:
  case HEED_SESS_ERROR:
  case HEED_SESS_REFUSE:
  case HEED_SESS_JOIN:
    say(w, "rejected a %s message from process %u during run %016llx",
        heed_wire_kind_name(fm->m.kind), from,
        (unsigned long long)w->run_id);
    break;
  default: {
    char reason[160], why[240];
    int rv = heed_net_deliver_why(w->net, from, &fm->m, reason,
                                  sizeof reason);
    if (rv) {
      snprintf(why, sizeof why, "a bad %s message from process %u: %s",
               heed_wire_kind_name(fm->m.kind), from,
               reason[0] ? reason : heed_strerror(rv));
      say(w, "rejected %s", why);
      heed_link_send_sess(w->link, 0, HEED_SESS_ERROR, 0, why, strlen(why));
    }
  }
  }
}

/* A frame of the run in setup or in progress. */
static void on_session(wk *w, const heed_frame *f) {
  unsigned from = f->h.from;
  if (f->h.to != w->self || from >= HEED_WIRE_MAX_PROCS || from == w->self ||
      (w->state == RUN && from >= w->cfg.nprocs)) {
    say(w, "rejected a frame from process %u to process %u (this is "
        "process %u of run %016llx)", from, f->h.to, w->self,
        (unsigned long long)w->run_id);
    return;
  }
  if (from == 0)
    w->heard = heed__now_s();
  size_t k = 0;
  if (w->state == SETUP) {
    uint32_t k0 = f->nmsgs ? f->msgs[0].m.kind : 0;
    if (from == 0 && k0 == HEED_SESS_BUILD) {
      on_build(w, &f->msgs[0]);
      k = 1;
    } else if (from == 0 && k0 == HEED_SESS_STOP) {
      end_session(w, NULL); /* the coordinator gave up (another refused) */
      return;
    } else if (from == 0 && k0 == HEED_SESS_HELLO) {
      /* The coordinator asks again: our answer may have been a frame nng
       * lost (docs/reliability.md). The same nonce, so nothing changes. */
      heed_link_send_sess(w->link, 0, HEED_SESS_HELLO,
                          w->auth ? HEED_HELLO_AUTH : 0, w->nonce_w,
                          sizeof w->nonce_w);
      return;
    } else if (k0 != HEED_SESS_PING) {
      say(w, "rejected a frame (first %s) from process %u during the setup "
          "of run %016llx", f->nmsgs ? heed_wire_kind_name(k0) : "-", from,
          (unsigned long long)w->run_id);
      return;
    }
  }
  for (; k < f->nmsgs && w->state == RUN; k++)
    on_run_msg(w, from, &f->msgs[k]);
}

static void busy(wk *w, const heed_frame *f) {
  heed_hello h;
  char why[256];
  if (heed__hello_decode(&h, f->msgs[0].bytes, f->msgs[0].nbytes, why,
                         sizeof why))
    return;
  snprintf(why, sizeof why, "busy with run %016llx",
           (unsigned long long)w->run_id);
  say(w, "refused run %016llx (%s): %s", (unsigned long long)f->h.run_id,
      h.url, why);
  heed__send_once(h.url, f->h.run_id, f->h.to, 0, HEED_SESS_REFUSE, 0, why,
                  strlen(why), 500);
}

static void handle(wk *w, const heed_frame *f) {
  uint32_t k0 = f->nmsgs ? f->msgs[0].m.kind : 0;
  if (w->state != IDLE && f->h.run_id == w->run_id) {
    on_session(w, f);
  } else if (k0 == HEED_SESS_HELLO && f->h.from == 0) {
    if (w->state == RUN)
      busy(w, f);
    else
      on_hello(w, f);
  } else if (w->last_run && f->h.run_id == w->last_run) {
    /* late words of the run that just ended (a worker died, STOP crossed
     * them): nothing to tell anyone */
  } else if (w->state == IDLE) {
    say(w, "rejected a frame of %zu message(s) (first %s) from process %u "
        "of run %016llx: no run in progress", f->nmsgs,
        f->nmsgs ? heed_wire_kind_name(k0) : "-", f->h.from,
        (unsigned long long)f->h.run_id);
  } else {
    say(w, "rejected a frame from process %u: frame of run %016llx during "
        "run %016llx", f->h.from, (unsigned long long)f->h.run_id,
        (unsigned long long)w->run_id);
  }
}

/* Launchers: tell the coordinator where this worker listens. */
static int join(wk *w, const char *url, char *err, size_t errlen) {
  int rv;
  heed_link_set_run(w->link, 0, w->o->rank);
  const char *me = heed_link_url(w->link);
  if ((rv = heed_link_add_peer(w->link, 0, url, HEED_WIRE_MIN_FRAME * 64,
                               err, errlen)) != 0)
    return rv;
  rv = heed_link_send_sess(w->link, 0, HEED_SESS_JOIN, w->o->rank, me,
                           strlen(me));
  w->linger = heed__now_s() + FIRST_RUN_S; /* until the HELLO comes */
  return rv;
}

static int open_link(wk *w, char *join_url, char *err, size_t errlen) {
  const heed_worker_opts *o = w->o;
  char listen[HEED_WIRE_URL_MAX];
  int rv;
  join_url[0] = 0;
  if (o->join_url)
    heed__cpy(join_url, HEED_WIRE_URL_MAX, o->join_url);
  else if (o->rendezvous &&
           (rv = heed__rendezvous_read(o->rendezvous, join_url,
                                       HEED_WIRE_URL_MAX, JOIN_MS, err,
                                       errlen)) != 0)
    return rv;
  if (o->listen_url)
    heed__cpy(listen, sizeof listen, o->listen_url);
  else if (!join_url[0] || (rv = heed__listen_toward(join_url, listen,
                                                     sizeof listen, err,
                                                     errlen)) != 0) {
    if (!join_url[0])
      snprintf(err, errlen, "no URL to listen at");
    return join_url[0] ? rv : HEED_EINVAL;
  }
  if (!o->secret && !o->insecure && !heed__url_is_loopback(listen)) {
    snprintf(err, errlen, "listening at %s, not loopback, without a shared "
             "secret: give one (--secret-file, HEED_SECRET) or --insecure",
             listen);
    return HEED_EAUTH;
  }
  if (o->secret && (o->secret_len < HEED_CLUSTER_SECRET_MIN ||
                    o->secret_len > HEED_CLUSTER_SECRET_MAX)) {
    snprintf(err, errlen, "a secret has %d to %d bytes, not %zu",
             HEED_CLUSTER_SECRET_MIN, HEED_CLUSTER_SECRET_MAX, o->secret_len);
    return HEED_ERANGE;
  }
  return heed_link_open(&w->link, listen, w->max_frame, "heed worker", err,
                        errlen);
}

int heed_worker_serve(const heed_worker_opts *o, char *err, size_t errlen) {
  static const volatile sig_atomic_t never;
  if (!o)
    return HEED_EINVAL;
  wk *w = heed__calloc(1, sizeof *w);
  char join_url[HEED_WIRE_URL_MAX];
  if (!w)
    return HEED_ENOMEM;
  w->o = o;
  w->max_frame = o->max_frame ? o->max_frame : HEED_WIRE_MAX_FRAME_DEFAULT;
  const volatile sig_atomic_t *stop = o->stop ? o->stop : &never;
  int rv = open_link(w, join_url, err, errlen);
  if (!rv && join_url[0])
    rv = join(w, join_url, err, errlen);
  if (rv) {
    heed_link_close(w->link);
    heed__free(w);
    return rv;
  }
  if (o->verbose)
    say(w, "listening at %s", heed_link_url(w->link));
  double started = heed__now_s();
  heed_frame f = {0};
  /* Set by a signal handler on any thread: read atomically (cluster.h). */
  while (!__atomic_load_n(stop, __ATOMIC_RELAXED) && !(o->runs && w->served >= o->runs && w->state == IDLE)) {
    heed_wire_expect ex = {0}; /* run and receiver checked in handle() */
    rv = heed_link_recv(w->link, &f, &ex, 250);
    if (rv == 0)
      handle(w, &f);
    else if (rv == HEED_ECLOSED)
      break;
    rv = 0;
    if (w->linger && heed__now_s() > w->linger)
      drop_peers(w);
    if (w->state != IDLE && heed__now_s() - w->heard > SILENT_S)
      end_session(w, "the coordinator has been silent for 2 s");
    if (join_url[0] && !w->served && w->state == IDLE &&
        heed__now_s() - started > FIRST_RUN_S) {
      snprintf(err, errlen, "the coordinator at %s started no run within "
               "%.0f s", join_url, FIRST_RUN_S);
      rv = HEED_ETIMEDOUT;
      break;
    }
  }
  end_session(w, __atomic_load_n(stop, __ATOMIC_RELAXED) ? "terminated"
                                                         : NULL);
  heed_frame_free(&f);
  heed_link_close(w->link);
  heed__free(w);
  return rv;
}
