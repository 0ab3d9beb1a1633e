/*
 * coord.c - the coordinator of a run spread over processes (heed_cluster):
 * starts local workers or reaches listed ones (or waits for launched ones
 * to JOIN), runs the handshake and BUILD, builds its own part of the
 * network, keeps the workers under watch (PING/PONG, waitpid, the stop
 * flag) and stops them on every exit path. Never prints: failures are
 * one line in c->error and a callback.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster/internal.h"
#include "common/alloc.h"
#include "heed/version.h"

#define HEARTBEAT_MS 250
#define SILENT_MS 2000
#define READY_MS 30000

struct heed_cluster {
  heed_link *link;
  unsigned nprocs; /* the coordinator and its workers */
  uint64_t run_id;
  char urls[HEED_WIRE_MAX_PROCS][HEED_WIRE_URL_MAX];
  pid_t pids[HEED_WIRE_MAX_PROCS]; /* local workers; 0 when reaped */
  char dir[224];                    /* their socket folder */
  char rendezvous[4096];            /* written, removed at free */
  size_t max_frame;
  uint8_t secret[HEED_CLUSTER_SECRET_MAX];
  size_t secret_len;
  int auth, joining;
  heed_cluster_fail_fn on_failure;
  void *failure_arg;
  const volatile sig_atomic_t *stop;
  int ready_ms, exit_after_ms;
  uint8_t nonce_c[HEED_NONCE_LEN];
  uint32_t layer_proc[HEED_WIRE_MAX_LAYERS];
  uint32_t sizes[HEED_WIRE_MAX_LAYERS + 1];
  uint32_t nshare, share[HEED_WIRE_MAX_LAYERS * HEED_WIRE_MAX_PROCS];
  unsigned nlayers;
  pthread_mutex_t mu; /* guards what follows */
  pthread_cond_t cv;
  heed_net *net;
  int joined[HEED_WIRE_MAX_PROCS], dialed[HEED_WIRE_MAX_PROCS];
  int hello[HEED_WIRE_MAX_PROCS], ready[HEED_WIRE_MAX_PROCS];
  uint64_t wflags[HEED_WIRE_MAX_PROCS];
  uint8_t nonce_w[HEED_WIRE_MAX_PROCS][HEED_NONCE_LEN];
  size_t limits[HEED_WIRE_MAX_PROCS];
  double heard[HEED_WIRE_MAX_PROCS];
  int fail_code;
  unsigned dead; /* the worker that failed the run (0: none or us) */
  double failed_at;
  char error[512];
  atomic_int failed, quit, stopping;
  pthread_t rx, mon;
  int rx_on, mon_on;
  /* Clocks and tracing (heed_cluster_set_trace, trace.c); under mu. */
  uint64_t ping_nonce[HEED_WIRE_MAX_PROCS], ping_sent[HEED_WIRE_MAX_PROCS];
  heed__clock_est clock[HEED_WIRE_MAX_PROCS];
  heed_trace *trace;
  int traced[HEED_WIRE_MAX_PROCS]; /* 1 tracing, -1 could not */
  int trace_ended[HEED_WIRE_MAX_PROCS];
  int64_t clock_sent[HEED_WIRE_MAX_PROCS];
  char trace_why[256];
};

/* ---- failure ------------------------------------------------------------ */

static void set_error(heed_cluster *c, const char *fmt, ...) {
  va_list ap;
  pthread_mutex_lock(&c->mu);
  va_start(ap, fmt);
  vsnprintf(c->error, sizeof c->error, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&c->mu);
}

/* The first failure wins: its reason stays, the net is aborted (waiting
 * driver calls return HEED_EPEER) and the callback runs once. */
static void fail_run(heed_cluster *c, unsigned worker, int code,
                     const char *fmt, ...) {
  int expected = 0;
  char why[sizeof c->error];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  /* failed is set in the same critical section as fail_code: a waiter
   * that sees failed under mu must also see why (it used to see failed
   * first and return fail_code 0, success, for a refused run). */
  pthread_mutex_lock(&c->mu);
  if (atomic_load(&c->stopping) ||
      !atomic_compare_exchange_strong(&c->failed, &expected, 1)) {
    pthread_mutex_unlock(&c->mu);
    return;
  }
  memcpy(c->error, why, sizeof why);
  c->fail_code = code;
  c->dead = worker;
  c->failed_at = heed__now_s();
  heed_net *net = c->net;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  if (net)
    heed_net_abort(net);
  if (c->on_failure)
    c->on_failure(c->failure_arg, worker, why);
}

/* The failure's code (0: none), read with the reason it was written with. */
static int failure(heed_cluster *c) {
  pthread_mutex_lock(&c->mu);
  int rv = atomic_load(&c->failed) ? c->fail_code : 0;
  pthread_mutex_unlock(&c->mu);
  return rv;
}

static void died(heed_cluster *c, unsigned i, const char *why) {
  pthread_mutex_lock(&c->mu);
  unsigned long long step = c->net ? heed_net_step(c->net) : 0;
  pthread_mutex_unlock(&c->mu);
  fail_run(c, i, HEED_EPEER, "worker %u (%s) died at batch %llu (%s)", i,
           c->urls[i], step, why);
}

/* A peer's text as one printable line. */
static void peer_text(char *dst, size_t cap, const uint8_t *p, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 1 < cap; i++)
    dst[k++] = p[i] >= 0x20 && p[i] <= 0x7e ? (char)p[i] : '?';
  dst[k] = 0;
}

int heed_cluster_failed(const heed_cluster *c, char *why, size_t whylen) {
  if (!c)
    return 0;
  heed_cluster *m = (heed_cluster *)c;
  int f = atomic_load(&m->failed);
  if (why && whylen) {
    pthread_mutex_lock(&m->mu);
    snprintf(why, whylen, "%s", f ? m->error : "");
    pthread_mutex_unlock(&m->mu);
  }
  return f;
}

const char *heed_cluster_error(const heed_cluster *c) {
  return c ? c->error : "no cluster";
}

unsigned heed_cluster_nworkers(const heed_cluster *c) {
  return c ? c->nprocs - 1 : 0;
}

const char *heed_cluster_url(const heed_cluster *c, unsigned i) {
  return c && i < c->nprocs ? c->urls[i] : NULL;
}

uint64_t heed_cluster_run_id(const heed_cluster *c) {
  return c ? c->run_id : 0;
}

unsigned heed_cluster_layer_proc(const heed_cluster *c, size_t l) {
  if (!c || l < 1 || l > c->nlayers)
    return 0;
  if (!c->nshare)
    return c->layer_proc[l - 1];
  for (unsigned p = 0; p < c->nprocs; p++)
    if (c->share[(l - 1) * c->nprocs + p] == c->sizes[l])
      return p;
  return 0;
}

uint32_t heed_cluster_share(const heed_cluster *c, size_t l, unsigned p) {
  if (!c || l < 1 || l > c->nlayers || p >= c->nprocs)
    return 0;
  if (c->nshare)
    return c->share[(l - 1) * c->nprocs + p];
  return c->layer_proc[l - 1] == p ? c->sizes[l] : 0;
}

/* ---- local workers ------------------------------------------------------ */

static void describe_exit(int st, char *out, size_t len) {
  if (WIFSIGNALED(st))
    snprintf(out, len, "killed by signal %d", WTERMSIG(st));
  else if (WIFEXITED(st))
    snprintf(out, len, "exited with status %d", WEXITSTATUS(st));
  else
    snprintf(out, len, "stopped");
}

static void kill_all(heed_cluster *c, int sig) {
  for (unsigned i = 1; i < c->nprocs; i++)
    if (c->pids[i] > 0)
      kill(c->pids[i], sig);
}

/* Terminates and reaps every local worker: SIGTERM, then SIGKILL. */
static void reap_all(heed_cluster *c, int grace_ms) {
  kill_all(c, SIGTERM);
  double end = heed__now_s() + grace_ms / 1000.0;
  for (;;) {
    int left = 0;
    for (unsigned i = 1; i < c->nprocs; i++)
      if (c->pids[i] > 0) {
        if (waitpid(c->pids[i], NULL, WNOHANG) == c->pids[i] ||
            (errno == ECHILD && kill(c->pids[i], 0) != 0))
          c->pids[i] = 0;
        else
          left++;
      }
    if (!left)
      break;
    if (heed__now_s() > end) {
      kill_all(c, SIGKILL);
      for (unsigned i = 1; i < c->nprocs; i++)
        if (c->pids[i] > 0) {
          waitpid(c->pids[i], NULL, 0);
          c->pids[i] = 0;
        }
      break;
    }
    usleep(10000);
  }
}

/* ---- the receiving thread ----------------------------------------------- */

static void on_join(heed_cluster *c, const heed_frame_msg *fm) {
  char url[HEED_WIRE_URL_MAX];
  uint64_t rank = fm->m.word;
  if (!c->joining || rank == 0 || rank >= c->nprocs || fm->nbytes < 7 ||
      fm->nbytes >= sizeof url)
    return;
  peer_text(url, sizeof url, fm->bytes, fm->nbytes);
  if (strncmp(url, "tcp://", 6) && strncmp(url, "ipc://", 6))
    return;
  pthread_mutex_lock(&c->mu);
  if (!c->joined[rank]) {
    heed__cpy(c->urls[rank], sizeof c->urls[rank], url);
    c->joined[rank] = 1;
    pthread_cond_broadcast(&c->cv);
  }
  pthread_mutex_unlock(&c->mu);
}

static void on_ready(heed_cluster *c, unsigned from,
                     const heed_frame_msg *fm) {
  if (c->auth) {
    uint8_t want[HEED_SHA256_LEN];
    heed__session_mac(c->secret, c->secret_len, "worker", c->run_id, from,
                      c->nonce_c, c->nonce_w[from], NULL, 0, want);
    if (fm->nbytes != HEED_SHA256_LEN ||
        !heed__mac_equal(fm->bytes, want, HEED_SHA256_LEN)) {
      fail_run(c, from, HEED_EAUTH, "worker %u (%s) failed authentication: "
               "its proof does not match this secret", from, c->urls[from]);
      return;
    }
  }
  pthread_mutex_lock(&c->mu);
  c->ready[from] = 1;
  c->limits[from] = (size_t)fm->m.word;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void on_hello(heed_cluster *c, unsigned from,
                     const heed_frame_msg *fm) {
  if (fm->nbytes != HEED_NONCE_LEN)
    return;
  pthread_mutex_lock(&c->mu);
  memcpy(c->nonce_w[from], fm->bytes, HEED_NONCE_LEN);
  c->wflags[from] = fm->m.word;
  c->hello[from] = 1;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

/* A PONG carries the worker's clock when it answered: one sample of its
 * offset (trace.c). Only the answer to the latest PING counts. */
static void on_pong(heed_cluster *c, unsigned from, const heed_frame_msg *fm) {
  uint64_t t_recv = heed__mono_ns();
  if (fm->nbytes != 8)
    return; /* a worker that does not say its time */
  pthread_mutex_lock(&c->mu);
  if (fm->m.word && fm->m.word == c->ping_nonce[from]) {
    heed__clock_add(&c->clock[from], c->ping_sent[from],
                    heed__le_u64(fm->bytes), t_recv, heed__now_s());
    c->ping_nonce[from] = 0;
    pthread_cond_broadcast(&c->cv);
  }
  pthread_mutex_unlock(&c->mu);
}

static void on_trace(heed_cluster *c, unsigned from,
                     const heed_frame_msg *fm) {
  uint32_t what = (uint32_t)(fm->m.word & 0xff);
  pthread_mutex_lock(&c->mu);
  if (what == HEED_TRACE_RECORDS && c->trace && c->traced[from] == 1)
    heed_trace_add_records(c->trace, from, fm->bytes, fm->nbytes,
                           (uint32_t)(fm->m.word >> 8));
  else if (what == HEED_TRACE_STARTED && !c->traced[from]) {
    c->traced[from] = fm->m.word >> 8 ? -1 : 1;
    if (c->traced[from] < 0) {
      char why[200];
      peer_text(why, sizeof why, fm->bytes, fm->nbytes);
      snprintf(c->trace_why, sizeof c->trace_why, "worker %u (%s) cannot "
               "trace: %s", from, c->urls[from], why);
    }
  } else if (what == HEED_TRACE_END)
    c->trace_ended[from] = 1;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void on_msg(heed_cluster *c, unsigned from, heed_net *net,
                   const heed_frame_msg *fm) {
  char why[300];
  switch (fm->m.kind) {
  case HEED_SESS_HELLO:
    on_hello(c, from, fm);
    break;
  case HEED_SESS_READY:
    on_ready(c, from, fm);
    break;
  case HEED_SESS_REFUSE:
    peer_text(why, sizeof why, fm->bytes, fm->nbytes);
    fail_run(c, from, strstr(why, "authentication") ? HEED_EAUTH
                                                    : HEED_EREFUSED,
             "worker %u (%s) refused the run: %s", from, c->urls[from], why);
    break;
  case HEED_SESS_ERROR:
    peer_text(why, sizeof why, fm->bytes, fm->nbytes < 200 ? fm->nbytes : 200);
    died(c, from, why);
    break;
  case HEED_SESS_PONG:
    on_pong(c, from, fm);
    break;
  case HEED_SESS_TRACE:
    on_trace(c, from, fm);
    break;
  case HEED_SESS_PING:
  case HEED_SESS_BUILD:
  case HEED_SESS_STOP:
  case HEED_SESS_JOIN:
    break;
  default:
    if (net) {
      char reason[160];
      int rv = heed_net_deliver_why(net, from, &fm->m, reason, sizeof reason);
      if (rv) {
        snprintf(why, sizeof why, "sent a bad %s message: %s",
                 heed_wire_kind_name(fm->m.kind),
                 reason[0] ? reason : heed_strerror(rv));
        died(c, from, why);
      }
    }
  }
}

static void *rx_main(void *arg) {
  heed_cluster *c = arg;
  heed_frame f = {0};
  /* The run id is checked here, not by the decoder: a launched worker
   * JOINs before it knows the run. */
  heed_wire_expect ex = {.check_to = 1, .to = 0};
  while (!atomic_load(&c->quit)) {
    int rv = heed_link_recv(c->link, &f, &ex, 100);
    if (rv == HEED_ECLOSED)
      break;
    if (rv)
      continue;
    if (f.h.run_id != c->run_id) {
      if (f.h.run_id == 0 && f.nmsgs == 1 &&
          f.msgs[0].m.kind == HEED_SESS_JOIN)
        on_join(c, &f.msgs[0]);
      continue;
    }
    unsigned from = f.h.from;
    if (from == 0 || from >= c->nprocs)
      continue;
    pthread_mutex_lock(&c->mu);
    c->heard[from] = heed__now_s();
    heed_net *net = c->net;
    pthread_mutex_unlock(&c->mu);
    for (size_t k = 0; k < f.nmsgs; k++)
      on_msg(c, from, net, &f.msgs[k]);
  }
  heed_frame_free(&f);
  return NULL;
}

/* ---- the watching thread ------------------------------------------------ */

static void reap_dead(heed_cluster *c) {
  for (unsigned i = 1; i < c->nprocs; i++) {
    int st;
    if (c->pids[i] > 0 && waitpid(c->pids[i], &st, WNOHANG) == c->pids[i]) {
      c->pids[i] = 0;
      char why[64];
      describe_exit(st, why, sizeof why);
      died(c, i, why);
    }
  }
}

static void check_silence(heed_cluster *c, double now) {
  pthread_mutex_lock(&c->mu);
  for (unsigned i = 1; i < c->nprocs; i++)
    if (c->ready[i] && now - c->heard[i] > SILENT_MS / 1000.0) {
      pthread_mutex_unlock(&c->mu);
      died(c, i, "silent for 2 s");
      pthread_mutex_lock(&c->mu);
    }
  pthread_mutex_unlock(&c->mu);
}

/* A PING whose PONG is one clock sample (the send time kept first). */
static void ping(heed_cluster *c, unsigned i, uint64_t nonce) {
  pthread_mutex_lock(&c->mu);
  c->ping_nonce[i] = nonce;
  c->ping_sent[i] = heed__mono_ns();
  pthread_mutex_unlock(&c->mu);
  heed_link_send_sess(c->link, i, HEED_SESS_PING, nonce, NULL, 0);
}

/* Tells each traced worker its refined clock offset. */
static void refresh_clocks(heed_cluster *c) {
  for (unsigned i = 1; i < c->nprocs; i++) {
    int64_t off;
    uint64_t bound;
    pthread_mutex_lock(&c->mu);
    int send = c->traced[i] == 1 && !c->trace_ended[i] &&
               heed__clock_get(&c->clock[i], &off, &bound) == 0 &&
               off != c->clock_sent[i];
    if (send)
      c->clock_sent[i] = off;
    pthread_mutex_unlock(&c->mu);
    if (send) {
      uint8_t b[8];
      heed__u64_le(b, (uint64_t)off);
      heed_link_send_sess(c->link, i, HEED_SESS_TRACE, HEED_TRACE_CLOCK, b,
                          sizeof b);
    }
  }
}

/* Whether the caller's stop flag is set. A signal handler sets it on
 * whichever thread the signal lands; this reads it on others: atomically
 * (include/heed/cluster.h). */
static int stop_asked(const heed_cluster *c) {
  return c->stop && __atomic_load_n(c->stop, __ATOMIC_RELAXED);
}

static void *mon_main(void *arg) {
  heed_cluster *c = arg;
  double next_ping = 0;
  uint64_t nonce = 0;
  while (!atomic_load(&c->quit)) {
    double now = heed__now_s();
    reap_dead(c);
    if (stop_asked(c))
      fail_run(c, 0, HEED_EPEER, "interrupted");
    if (now >= next_ping) {
      next_ping = now + HEARTBEAT_MS / 1000.0;
      nonce++;
      for (unsigned i = 1; i < c->nprocs; i++) {
        pthread_mutex_lock(&c->mu);
        int ready = c->ready[i];
        pthread_mutex_unlock(&c->mu);
        if (ready)
          ping(c, i, nonce);
      }
      refresh_clocks(c);
    }
    check_silence(c, now);
    pthread_mutex_lock(&c->mu);
    double fat = c->failed_at;
    pthread_mutex_unlock(&c->mu);
    /* Nothing hangs: if the driver has not stopped the run soon after a
     * failure, stop everything from here. */
    if (c->exit_after_ms && atomic_load(&c->failed) &&
        !atomic_load(&c->stopping) && now - fat > c->exit_after_ms / 1e3) {
      reap_all(c, 200);
      heed__local_remove(c->dir);
      if (c->rendezvous[0])
        unlink(c->rendezvous);
      _exit(1);
    }
    usleep(20000);
  }
  return NULL;
}

/* ---- starting ----------------------------------------------------------- */

static int check_opts(const heed_cluster_opts *o, char *err, size_t errlen) {
  unsigned n = o->local_workers + o->nworker_urls + o->join_workers;
  int sources = !!o->local_workers + !!o->nworker_urls + !!o->join_workers;
  if (sources != 1) {
    snprintf(err, errlen, "give exactly one of local workers, worker URLs "
             "or workers to join");
    return HEED_EINVAL;
  }
  if (n > HEED_CLUSTER_MAX_WORKERS) {
    snprintf(err, errlen, "%u workers: at most %d", n,
             HEED_CLUSTER_MAX_WORKERS);
    return HEED_ERANGE;
  }
  if (o->secret && (o->secret_len < HEED_CLUSTER_SECRET_MIN ||
                    o->secret_len > HEED_CLUSTER_SECRET_MAX)) {
    snprintf(err, errlen, "a secret has %d to %d bytes, not %zu",
             HEED_CLUSTER_SECRET_MIN, HEED_CLUSTER_SECRET_MAX, o->secret_len);
    return HEED_ERANGE;
  }
  if (o->max_frame && o->max_frame < HEED_WIRE_MIN_FRAME) {
    snprintf(err, errlen, "max_frame %zu is below %zu", o->max_frame,
             HEED_WIRE_MIN_FRAME);
    return HEED_ERANGE;
  }
  for (unsigned i = 0; i < o->nworker_urls; i++) {
    const char *u = o->worker_urls[i];
    if (!u || strlen(u) >= HEED_WIRE_URL_MAX ||
        (strncmp(u, "tcp://", 6) && strncmp(u, "ipc://", 6))) {
      snprintf(err, errlen, "worker %u: '%.64s' is not a tcp:// or ipc:// "
               "URL", i + 1, u ? u : "(null)");
      return HEED_EINVAL;
    }
    if (!o->secret && !o->insecure && !heed__url_is_loopback(u)) {
      snprintf(err, errlen, "worker %u is at %s, not on this machine: "
               "give a shared secret (--secret-file, HEED_SECRET) or "
               "accept an unauthenticated run (--insecure)", i + 1, u);
      return HEED_EAUTH;
    }
  }
  if (o->listen_url && !o->secret && !o->insecure && !o->local_workers &&
      !heed__url_is_loopback(o->listen_url)) {
    snprintf(err, errlen, "listening at %s, not loopback, without a shared "
             "secret: give one (--secret-file, HEED_SECRET) or --insecure",
             o->listen_url);
    return HEED_EAUTH;
  }
  return 0;
}

/* Socket folder and local workers: before any thread of ours exists. */
static int start_local(heed_cluster *c, const heed_cluster_opts *o,
                       char *err, size_t errlen) {
  int rv = heed__local_dir(c->dir, sizeof c->dir, err, errlen);
  if (rv)
    return rv;
  snprintf(c->urls[0], sizeof c->urls[0], "ipc://%s/c0", c->dir);
  for (unsigned i = 1; i < c->nprocs; i++) {
    snprintf(c->urls[i], sizeof c->urls[i], "ipc://%s/w%u", c->dir, i);
    c->pids[i] = heed__local_spawn(o->worker_program, c->urls[i],
                                   c->max_frame);
    if (c->pids[i] < 0) {
      c->pids[i] = 0;
      snprintf(err, errlen, "cannot start a worker: %s", strerror(errno));
      return HEED_EIO;
    }
  }
  return 0;
}

static int wait_joins(heed_cluster *c, char *err, size_t errlen) {
  double end = heed__now_s() + c->ready_ms / 1000.0;
  unsigned have = 0;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    have = 0;
    for (unsigned i = 1; i < c->nprocs; i++)
      have += c->joined[i];
    if (have == c->nprocs - 1 || heed__now_s() > end ||
        atomic_load(&c->failed) || stop_asked(c))
      break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
  }
  pthread_mutex_unlock(&c->mu);
  if (have == c->nprocs - 1)
    return 0;
  snprintf(err, errlen, "%u of %u workers joined %s within %d s", have,
           c->nprocs - 1, c->urls[0], c->ready_ms / 1000);
  return stop_asked(c) ? HEED_EPEER : HEED_ETIMEDOUT;
}

static void free_partial(heed_cluster *c) {
  heed_cluster_stop(c);
  heed_cluster_free(c);
}

int heed_cluster_start(heed_cluster **cp, const heed_cluster_opts *o,
                       char *err, size_t errlen) {
  int rv;
  *cp = NULL;
  if (!o)
    return HEED_EINVAL;
  if ((rv = check_opts(o, err, errlen)) != 0)
    return rv;
  heed_cluster *c = heed__calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return HEED_ENOMEM;
  }
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  c->max_frame = o->max_frame ? o->max_frame : HEED_WIRE_MAX_FRAME_DEFAULT;
  c->nprocs = 1 + o->local_workers + o->nworker_urls + o->join_workers;
  c->joining = o->join_workers > 0;
  c->on_failure = o->on_failure;
  c->failure_arg = o->failure_arg;
  c->stop = o->stop;
  c->ready_ms = o->ready_timeout_ms > 0 ? o->ready_timeout_ms : READY_MS;
  c->exit_after_ms = o->exit_after_ms;
  if (o->secret) {
    memcpy(c->secret, o->secret, o->secret_len);
    c->secret_len = o->secret_len;
    c->auth = !o->local_workers;
  }
  snprintf(c->urls[0], sizeof c->urls[0], "%s",
           o->listen_url ? o->listen_url : "tcp://127.0.0.1:0");
  if (o->join_workers && !o->listen_url)
    heed__listen_here(c->urls[0], sizeof c->urls[0]);
  for (unsigned i = 0; i < o->nworker_urls; i++)
    heed__cpy(c->urls[i + 1], sizeof c->urls[0], o->worker_urls[i]);
  if (o->local_workers && (rv = start_local(c, o, err, errlen)) != 0) {
    free_partial(c);
    return rv;
  }
  if (o->local_workers && o->listen_url)
    heed__cpy(c->urls[0], sizeof c->urls[0], o->listen_url);
  c->run_id = heed__random64();
  if ((rv = heed_link_open(&c->link, c->urls[0], c->max_frame, "heed",
                           err, errlen)) != 0) {
    free_partial(c);
    return rv;
  }
  heed__cpy(c->urls[0], sizeof c->urls[0], heed_link_url(c->link));
  heed_link_set_run(c->link, c->run_id, 0);
  if (o->join_workers && o->rendezvous) {
    if ((rv = heed__rendezvous_write(o->rendezvous, c->urls[0], err,
                                     errlen)) != 0) {
      free_partial(c);
      return rv;
    }
    heed__cpy(c->rendezvous, sizeof c->rendezvous, o->rendezvous);
  }
  c->rx_on = pthread_create(&c->rx, NULL, rx_main, c) == 0;
  c->mon_on = pthread_create(&c->mon, NULL, mon_main, c) == 0;
  if (!c->rx_on || !c->mon_on) {
    snprintf(err, errlen, "cannot start threads");
    free_partial(c);
    return HEED_ENOMEM;
  }
  if (c->joining && (rv = wait_joins(c, err, errlen)) != 0) {
    free_partial(c);
    return rv;
  }
  *cp = c;
  return 0;
}

/* ---- the network -------------------------------------------------------- */

static int send_cb(void *arg, unsigned to, const heed_wire_msg *m) {
  heed_cluster *c = arg;
  return heed_link_send(c->link, to, m);
}

/* The strategy assignments, checked against the sizes already in rc. */
static int copy_assign(heed_cluster *c, const heed_cluster_net_opts *o,
                       heed_run_config *rc) {
  if (o->nassign > HEED_WIRE_MAX_ASSIGN || (o->nassign && !o->assign)) {
    set_error(c, "%zu strategy assignments (at most %d)", o->nassign,
              HEED_WIRE_MAX_ASSIGN);
    return -1;
  }
  for (size_t i = 0; i < o->nassign; i++) {
    const heed_cluster_assign *a = &o->assign[i];
    if (a->layer < 1 || a->layer >= rc->nsizes || !a->spec ||
        strlen(a->spec) >= sizeof rc->assign[0].spec ||
        (uint64_t)a->first + a->count > rc->sizes[a->layer] ||
        (!a->count && a->first)) {
      set_error(c, "strategy assignment %zu: layer %zu, neurons %u+%u, "
                "spec %.40s: not in the network or too long", i + 1,
                a->layer, a->first, a->count, a->spec ? a->spec : "(none)");
      return -1;
    }
    rc->assign[i] = (heed_wire_assign){(uint32_t)a->layer, a->first,
                                       a->count, ""};
    heed__cpy(rc->assign[i].spec, sizeof rc->assign[i].spec, a->spec);
  }
  rc->nassign = (uint32_t)o->nassign;
  return 0;
}

/* The run as every process builds it (c->self set per receiver). */
static int make_config(heed_cluster *c, const heed_cluster_net_opts *o,
                       heed_run_config *rc) {
  const heed_net_opts *n = o->net;
  if (!n || n->nsizes < 2 || n->nsizes > HEED_WIRE_MAX_LAYERS + 1 ||
      !n->sizes || o->nplugins > HEED_WIRE_MAX_PLUGINS ||
      (unsigned)o->placement > HEED_PLACE_SLICES ||
      (o->strategy && strlen(o->strategy) >= sizeof rc->strategy)) {
    set_error(c, "bad network options (at most %d layers and %d plugins, "
              "placement HEED_PLACE_LAYERS or _SLICES)", HEED_WIRE_MAX_LAYERS,
              HEED_WIRE_MAX_PLUGINS);
    return HEED_EINVAL;
  }
  rc->run_id = c->run_id;
  rc->seed = n->seed;
  rc->max_frame = c->max_frame;
  rc->nprocs = c->nprocs;
  rc->threads = o->worker_threads ? o->worker_threads : 1;
  rc->max_batch = n->max_batch ? n->max_batch : 1024;
  rc->init = (uint32_t)n->init;
  rc->lr = n->lr;
  rc->nsizes = (uint32_t)n->nsizes;
  for (size_t i = 0; i < n->nsizes; i++)
    rc->sizes[i] = n->sizes[i];
  for (size_t l = 0; l + 1 < n->nsizes; l++)
    rc->acts[l] = n->acts ? (uint32_t)n->acts[l]
                          : l + 2 == n->nsizes ? HEED_ACT_IDENTITY
                                               : HEED_ACT_RELU;
  if (o->placement != HEED_PLACE_LAYERS) {
    /* the coordinator hosts no hidden slices (docs/distributed.md) */
    heed__place_slices(rc->sizes, rc->nsizes - 1, c->nprocs, 1, rc->share);
    rc->nshare = (rc->nsizes - 1) * c->nprocs;
  } else {
    heed__place_layers(rc->sizes, rc->nsizes - 1, c->nprocs - 1,
                       rc->layer_proc);
  }
  heed__cpy(rc->strategy, sizeof rc->strategy,
            o->strategy ? o->strategy : "bp");
  for (unsigned i = 0; i < c->nprocs; i++)
    heed__cpy(rc->urls[i], sizeof rc->urls[i], c->urls[i]);
  for (unsigned i = 0; i < o->nplugins; i++) {
    if (!o->plugins[i] || strlen(o->plugins[i]) >= sizeof rc->plugins[0]) {
      set_error(c, "plugin %u: no path or too long a path", i + 1);
      return HEED_EINVAL;
    }
    heed__cpy(rc->plugins[i], sizeof rc->plugins[0], o->plugins[i]);
  }
  rc->nplugins = o->nplugins;
  if (copy_assign(c, o, rc))
    return HEED_EINVAL;
  c->nlayers = rc->nsizes - 1;
  memcpy(c->layer_proc, rc->layer_proc, sizeof c->layer_proc);
  memcpy(c->sizes, rc->sizes, sizeof c->sizes);
  c->nshare = rc->nshare;
  memcpy(c->share, rc->share, sizeof c->share);
  return 0;
}

/* Waits until flag[i] is set for every worker, the run fails or the time
 * is up (which fails it). With `again`, calls it every second for each
 * worker that has not answered yet. */
static int wait_all(heed_cluster *c, const int *flag, const char *what,
                    void (*again)(heed_cluster *c, unsigned i)) {
  double end = heed__now_s() + c->ready_ms / 1000.0;
  double kick = heed__now_s() + 1.0;
  unsigned missing = 0;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    missing = 0;
    for (unsigned i = c->nprocs - 1; i >= 1; i--)
      if (!flag[i])
        missing = i;
    if (!missing || atomic_load(&c->failed) || heed__now_s() > end)
      break;
    if (again && heed__now_s() > kick) {
      kick = heed__now_s() + 1.0;
      for (unsigned i = 1; i < c->nprocs; i++)
        if (!flag[i]) {
          pthread_mutex_unlock(&c->mu);
          again(c, i);
          pthread_mutex_lock(&c->mu);
        }
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
  }
  pthread_mutex_unlock(&c->mu);
  if (missing && !atomic_load(&c->failed))
    fail_run(c, missing, HEED_ETIMEDOUT, "worker %u (%s) did not %s within "
             "%d s", missing, c->urls[missing], what, c->ready_ms / 1000);
  return failure(c);
}

static int hello_bytes(heed_cluster *c, uint8_t *b, size_t cap, size_t *n) {
  heed_hello h;
  memcpy(h.nonce, c->nonce_c, sizeof h.nonce);
  heed__cpy(h.version, sizeof h.version, HEED_VERSION);
  heed__cpy(h.url, sizeof h.url, c->urls[0]);
  return heed__hello_encode(&h, b, cap, n);
}

/* HELLO once more to a worker that has not answered: under nng 1.5.2 the
 * first frame on a new connection can be lost (docs/reliability.md); the
 * worker answers a repeat with the same nonce. */
static void hello_again(heed_cluster *c, unsigned i) {
  uint8_t b[sizeof(heed_hello)];
  size_t n;
  if (!hello_bytes(c, b, sizeof b, &n))
    heed_link_send_sess(c->link, i, HEED_SESS_HELLO,
                        c->auth ? HEED_HELLO_AUTH : 0, b, n);
}

static int send_hellos(heed_cluster *c) {
  char err[512];
  uint8_t b[sizeof(heed_hello)];
  size_t n;
  heed__random(c->nonce_c, sizeof c->nonce_c);
  int rv = hello_bytes(c, b, sizeof b, &n);
  for (unsigned i = 1; i < c->nprocs && !rv; i++) {
    rv = heed_link_add_peer(c->link, i, c->urls[i], c->max_frame, err,
                            sizeof err);
    if (!rv) {
      pthread_mutex_lock(&c->mu);
      c->dialed[i] = 1;
      pthread_mutex_unlock(&c->mu);
      rv = heed_link_send_sess(c->link, i, HEED_SESS_HELLO,
                               c->auth ? HEED_HELLO_AUTH : 0, b, n);
    }
    if (rv)
      fail_run(c, i, rv, "cannot reach worker %u (%s): %s", i, c->urls[i],
               rv == HEED_EIO ? err : heed_strerror(rv));
  }
  return rv;
}

static int send_builds(heed_cluster *c, heed_run_config *rc) {
  int rv = 0;
  for (unsigned i = 1; i < c->nprocs && !rv; i++) {
    if (c->auth && !(c->wflags[i] & HEED_HELLO_AUTH)) {
      fail_run(c, i, HEED_EAUTH, "worker %u (%s) has no shared secret",
               i, c->urls[i]);
      return HEED_EAUTH;
    }
    heed_wbuf b = {0};
    rc->self = i;
    rv = heed_wire_config_encode(&b, rc);
    if (!rv && c->auth) { /* the proof covers the configuration */
      uint8_t mac[HEED_SHA256_LEN];
      heed__session_mac(c->secret, c->secret_len, "coordinator", c->run_id,
                        i, c->nonce_c, c->nonce_w[i], b.p, b.len, mac);
      uint8_t *q = heed__malloc(b.len + sizeof mac);
      rv = q ? 0 : HEED_ENOMEM;
      if (q) {
        memcpy(q, b.p, b.len);
        memcpy(q + b.len, mac, sizeof mac);
        rv = heed_link_send_sess(c->link, i, HEED_SESS_BUILD, 1, q,
                                 b.len + sizeof mac);
        heed__free(q);
      }
    } else if (!rv) {
      rv = heed_link_send_sess(c->link, i, HEED_SESS_BUILD, 0, b.p, b.len);
    }
    heed_wbuf_free(&b);
    if (rv)
      fail_run(c, i, rv, "cannot send worker %u (%s) the run: %s", i,
               c->urls[i], heed_strerror(rv));
  }
  return rv;
}

int heed_cluster_net_new(heed_cluster *c, heed_runtime *rt,
                         const heed_cluster_net_opts *o, heed_net **np) {
  if (!c || !rt || !o || !np)
    return HEED_EINVAL;
  *np = NULL;
  if (c->net || c->nlayers) {
    set_error(c, "this cluster already has a network");
    return HEED_ESTATE;
  }
  heed_run_config *rc = heed__calloc(1, sizeof *rc);
  if (!rc)
    return HEED_ENOMEM;
  int rv = make_config(c, o, rc);
  if (!rv && !(rv = send_hellos(c)) &&
      !(rv = wait_all(c, c->hello, "answer HELLO", hello_again)) &&
      !(rv = send_builds(c, rc)))
    rv = wait_all(c, c->ready, "build its layers", NULL);
  if (!rv) {
    for (unsigned i = 1; i < c->nprocs; i++)
      heed_link_set_peer_limit(c->link, i, c->limits[i]);
    char why[512];
    rc->self = 0;
    rv = heed__run_net(rc, rt, send_cb, c, np, why, sizeof why);
    if (rv)
      set_error(c, "%s", why);
  }
  heed__free(rc);
  if (rv)
    return rv;
  pthread_mutex_lock(&c->mu);
  c->net = *np;
  pthread_mutex_unlock(&c->mu);
  if (atomic_load(&c->failed))
    heed_net_abort(*np); /* the first driver call reports it */
  return 0;
}

/* ---- tracing every process ----------------------------------------------- */

/* Waits up to ms until flag[i] is set for every worker i with want[i]
 * (or, with give_up, the run fails); returns the first worker still
 * missing, 0 if none. */
static unsigned wait_flags(heed_cluster *c, const int *want, const int *flag,
                           int ms, int give_up) {
  double end = heed__now_s() + ms / 1000.0;
  unsigned missing;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    missing = 0;
    for (unsigned i = c->nprocs - 1; i >= 1; i--)
      if (want[i] && !flag[i])
        missing = i;
    if (!missing || (give_up && atomic_load(&c->failed)) ||
        heed__now_s() > end)
      break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 5000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
  }
  pthread_mutex_unlock(&c->mu);
  return missing;
}

/* A few quick round trips to every worker, so that the first records are
 * aligned as well as the heartbeat's later ones. */
static void quick_pings(heed_cluster *c) {
  for (uint64_t round = 0; round < 8; round++) {
    for (unsigned i = 1; i < c->nprocs; i++)
      ping(c, i, 1ull << 63 | round << 8 | i);
    double end = heed__now_s() + 0.2;
    for (;;) { /* on_pong consumes (zeroes) the nonce it answers */
      unsigned left = 0;
      pthread_mutex_lock(&c->mu);
      for (unsigned i = 1; i < c->nprocs; i++)
        left += c->ping_nonce[i] != 0;
      pthread_mutex_unlock(&c->mu);
      if (!left || heed__now_s() > end || atomic_load(&c->failed))
        break;
      usleep(50);
    }
  }
}

/* Stops the workers' tracers and waits for their last records. */
static int trace_off(heed_cluster *c) {
  int rv = heed_net_set_trace(c->net, NULL);
  int want[HEED_WIRE_MAX_PROCS] = {0};
  int failed = atomic_load(&c->failed);
  pthread_mutex_lock(&c->mu);
  for (unsigned i = 1; i < c->nprocs; i++) {
    /* after a failure, the survivors' records still count */
    want[i] = c->traced[i] == 1 && !(failed && i == c->dead);
    c->trace_ended[i] = 0;
  }
  pthread_mutex_unlock(&c->mu);
  for (unsigned i = 1; i < c->nprocs; i++)
    if (want[i])
      heed_link_send_sess(c->link, i, HEED_SESS_TRACE, HEED_TRACE_STOP, NULL,
                          0);
  unsigned missing = wait_flags(c, want, c->trace_ended,
                                failed ? 1000 : 10000, 0);
  pthread_mutex_lock(&c->mu);
  c->trace = NULL;
  memset(c->traced, 0, sizeof c->traced);
  pthread_mutex_unlock(&c->mu);
  if (missing && !atomic_load(&c->failed)) {
    set_error(c, "worker %u (%s) did not send its last trace records within "
              "10 s", missing, c->urls[missing]);
    return HEED_ETIMEDOUT;
  }
  return rv;
}

static int trace_on(heed_cluster *c, heed_trace *t) {
  heed_trace_opts o;
  heed_trace_opts_get(t, &o);
  if (o.proc != 0) {
    set_error(c, "the coordinator's tracer must be process 0's");
    return HEED_EINVAL;
  }
  quick_pings(c);
  int want[HEED_WIRE_MAX_PROCS] = {0};
  pthread_mutex_lock(&c->mu);
  c->trace = t;
  c->trace_why[0] = 0;
  memset(c->traced, 0, sizeof c->traced);
  pthread_mutex_unlock(&c->mu);
  for (unsigned i = 1; i < c->nprocs; i++) {
    heed__trace_cfg tc = {.run = o.run, .sample = o.sample, .kinds = o.kinds,
                          .values = o.values != 0, .procs = c->nprocs,
                          .start_ns = o.start_ns};
    uint64_t bound;
    pthread_mutex_lock(&c->mu);
    if (heed__clock_get(&c->clock[i], &tc.offset, &bound) != 0)
      tc.offset = 0; /* no PONG yet: one machine's clock is shared */
    c->clock_sent[i] = tc.offset;
    pthread_mutex_unlock(&c->mu);
    uint8_t b[HEED_TRACE_CFG_LEN];
    heed__trace_cfg_encode(&tc, b);
    want[i] = 1;
    heed_link_send_sess(c->link, i, HEED_SESS_TRACE, HEED_TRACE_START, b,
                        sizeof b);
  }
  unsigned missing = wait_flags(c, want, c->traced, 10000, 1);
  int bad = 0;
  pthread_mutex_lock(&c->mu);
  for (unsigned i = 1; i < c->nprocs; i++)
    bad |= c->traced[i] < 0;
  pthread_mutex_unlock(&c->mu);
  int rv = failure(c);
  if (!rv && (missing || bad)) {
    char why[sizeof c->trace_why];
    pthread_mutex_lock(&c->mu);
    memcpy(why, c->trace_why, sizeof why);
    pthread_mutex_unlock(&c->mu);
    trace_off(c);
    if (bad)
      set_error(c, "%s", why);
    else
      set_error(c, "worker %u (%s) did not start tracing within 10 s",
                missing, c->urls[missing]);
    return bad ? HEED_EIO : HEED_ETIMEDOUT;
  }
  if (!rv)
    rv = heed_net_set_trace(c->net, t);
  if (rv) /* failed: t is not referenced any more, the caller may free it */
    trace_off(c);
  return rv;
}

int heed_cluster_set_trace(heed_cluster *c, heed_trace *t) {
  if (!c || !c->net)
    return HEED_EINVAL;
  pthread_mutex_lock(&c->mu);
  heed_trace *cur = c->trace;
  pthread_mutex_unlock(&c->mu);
  if (cur == t)
    return 0;
  int rv = cur ? trace_off(c) : 0;
  return t && !rv ? trace_on(c, t) : rv;
}

int heed_cluster_clock(const heed_cluster *c, unsigned worker,
                       int64_t *offset_ns, uint64_t *bound_ns) {
  if (!c || worker == 0 || worker >= c->nprocs || !offset_ns || !bound_ns)
    return HEED_EINVAL;
  heed_cluster *m = (heed_cluster *)c;
  pthread_mutex_lock(&m->mu);
  int rv = heed__clock_get(&m->clock[worker], offset_ns, bound_ns);
  pthread_mutex_unlock(&m->mu);
  return rv;
}

/* ---- parameters, stopping ----------------------------------------------- */

int heed_cluster_pull(heed_cluster *c) {
  if (!c || !c->net)
    return HEED_EINVAL;
  int rv = heed_net_pull(c->net);
  if (rv && !atomic_load(&c->failed))
    set_error(c, "cannot fetch the workers' weights: %s", heed_strerror(rv));
  return rv;
}

int heed_cluster_push(heed_cluster *c) {
  if (!c || !c->net)
    return HEED_EINVAL;
  int rv = heed_net_push(c->net);
  if (rv && !atomic_load(&c->failed))
    set_error(c, "cannot send the weights to the workers: %s",
              heed_strerror(rv));
  return rv;
}

void heed_cluster_stop(heed_cluster *c) {
  if (!c)
    return;
  /* heed_net_train_batch returns before the workers' last updates are in
   * (docs/distributed.md, pipelining): wait for them while the workers can
   * still report, or heed_net_free would wait for ever. */
  pthread_mutex_lock(&c->mu);
  heed_net *net = c->net;
  pthread_mutex_unlock(&c->mu);
  if (net && !atomic_load(&c->failed) && !atomic_load(&c->stopping))
    heed_net_sync(net);
  atomic_store(&c->stopping, 1);
  if (c->link) { /* the survivors stop now, not after 2 s of silence */
    int failed = atomic_load(&c->failed);
    for (unsigned i = 1; i < c->nprocs; i++)
      if (c->dialed[i] && (!failed || i != c->dead))
        heed_link_send_sess(c->link, i, HEED_SESS_STOP, 0, NULL, 0);
    for (unsigned i = 1; i < c->nprocs; i++)
      if (c->dialed[i] && (!failed || i != c->dead))
        heed_link_flush(c->link, (int)i, failed ? 300 : 1000);
  }
  atomic_store(&c->quit, 1);
  if (c->mon_on)
    pthread_join(c->mon, NULL);
  if (c->rx_on)
    pthread_join(c->rx, NULL);
  c->mon_on = c->rx_on = 0;
  pthread_mutex_lock(&c->mu);
  c->net = NULL;
  c->trace = NULL;
  pthread_mutex_unlock(&c->mu);
  reap_all(c, 1000);
  if (c->link)
    heed_link_drop_peers(c->link);
  memset(c->dialed, 0, sizeof c->dialed);
}

void heed_cluster_free(heed_cluster *c) {
  if (!c)
    return;
  heed_cluster_stop(c);
  heed_link_close(c->link);
  heed__local_remove(c->dir);
  if (c->rendezvous[0])
    unlink(c->rendezvous);
  memset(c->secret, 0, sizeof c->secret);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  heed__free(c);
}
