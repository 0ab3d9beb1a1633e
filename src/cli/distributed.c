/*
 * distributed.c - the coordinator of a run spread over processes: starts
 * local workers (fork + exec of this program) or reaches the ones a
 * cluster file lists, sends them the run (BUILD), waits for READY, builds
 * its own part of the network, keeps the workers under watch (PING/PONG,
 * waitpid) and stops them on every exit path.
 */
#include "cli/distributed.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "transport/link.h"

#define HEARTBEAT_MS 250
#define SILENT_MS 2000
#define READY_MS 30000
#define WATCHDOG_MS 3000

struct heed_dist {
  heed_link *link;
  unsigned nprocs;
  uint64_t run_id;
  char urls[HEED_WIRE_MAX_PROCS][HEED_WIRE_URL_MAX];
  pid_t pids[HEED_WIRE_MAX_PROCS]; /* local workers; 0 when reaped */
  char dir[64];                     /* ipc socket folder of local workers */
  const char *cmd;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  heed_net *net;
  int ready[HEED_WIRE_MAX_PROCS];
  size_t limits[HEED_WIRE_MAX_PROCS];
  double heard[HEED_WIRE_MAX_PROCS];
  atomic_int failed, quit, stopping;
  unsigned dead; /* the worker that failed the run */
  double failed_at;
  pthread_t rx, mon;
  int rx_on, mon_on;
};

/* Copies s into dst[cap], cut short if need be. */
static void cpy(char *dst, size_t cap, const char *s) {
  size_t n = strlen(s);
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, s, n);
  dst[n] = 0;
}

double heed__dist_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

uint64_t heed__dist_random64(void) {
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
    v = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
  return v ? v : 1;
}

void heed__dist_usage(FILE *f) {
  fprintf(f,
      "  --workers N            spread the layers over N local worker "
      "processes (ipc://)\n"
      "  --cluster FILE         use the workers FILE lists (one URL a line; "
      "see\n"
      "                         docs/distributed.md)\n"
      "  --checkpoint-every K   also write --checkpoint every K steps\n"
      "  --max-frame BYTES      largest frame accepted (default 64 MiB)\n");
}

int heed__dist_parse(const char *cmd, heed_dist_opts *d, int argc,
                     char **argv, int *i) {
  const char *a = argv[*i], *v;
  uint64_t u;
  d->argc = argc;
  d->argv = argv;
  if (strcmp(a, "--workers") && strcmp(a, "--cluster") &&
      strcmp(a, "--checkpoint-every") && strcmp(a, "--max-frame"))
    return 0;
  if (!(v = heed__arg_value(cmd, argc, argv, i)))
    return -1;
  if (!strcmp(a, "--cluster")) {
    d->cluster = v;
  } else if (!strcmp(a, "--workers")) {
    if (heed__arg_u64(cmd, a, v, 0, HEED_WIRE_MAX_PROCS - 1, &u))
      return -1;
    d->workers = (unsigned)u;
  } else if (!strcmp(a, "--checkpoint-every")) {
    if (heed__arg_u64(cmd, a, v, 1, UINT64_MAX, &d->checkpoint_every))
      return -1;
  } else {
    if (heed__arg_u64(cmd, a, v, HEED_WIRE_MIN_FRAME, (uint64_t)1 << 34, &u))
      return -1;
    d->max_frame = (size_t)u;
  }
  return 1;
}

int heed__dist_enabled(const heed_dist_opts *d) {
  return d->workers > 0 || d->cluster;
}

/* ---- the cluster file --------------------------------------------------- */

/* Lines: "coordinator URL", "worker URL" or just "URL"; '#' comments. */
static int read_cluster(heed_dist *d, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "heed %s: cannot read %s: %s\n", d->cmd, path,
            strerror(errno));
    return -1;
  }
  char line[1024];
  unsigned n = 1, lineno = 0;
  snprintf(d->urls[0], sizeof d->urls[0], "tcp://127.0.0.1:0");
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *h = strchr(line, '#');
    if (h)
      *h = 0;
    char w1[512] = "", w2[512] = "";
    int k = sscanf(line, "%511s %511s", w1, w2);
    if (k <= 0)
      continue;
    const char *url = k == 2 ? w2 : w1;
    int coord = k == 2 && !strcmp(w1, "coordinator");
    if ((k == 2 && !coord && strcmp(w1, "worker")) ||
        (strncmp(url, "tcp://", 6) && strncmp(url, "ipc://", 6)) ||
        strlen(url) >= HEED_WIRE_URL_MAX) {
      fprintf(stderr, "heed %s: %s:%u: expected 'worker URL' or "
                      "'coordinator URL' (tcp:// or ipc://)\n",
              d->cmd, path, lineno);
      fclose(f);
      return -1;
    }
    if (coord) {
      cpy(d->urls[0], sizeof d->urls[0], url);
    } else {
      if (n >= HEED_WIRE_MAX_PROCS) {
        fprintf(stderr, "heed %s: %s: more than %d workers\n", d->cmd, path,
                HEED_WIRE_MAX_PROCS - 1);
        fclose(f);
        return -1;
      }
      cpy(d->urls[n++], sizeof d->urls[0], url);
    }
  }
  fclose(f);
  if (n < 2) {
    fprintf(stderr, "heed %s: %s lists no workers\n", d->cmd, path);
    return -1;
  }
  d->nprocs = n;
  return 0;
}

/* ---- local workers ------------------------------------------------------ */

static pid_t spawn(const char *url, size_t max_frame) {
  char mf[32];
  snprintf(mf, sizeof mf, "%zu", max_frame);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    /* Dies with the coordinator, whatever kills it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    execl("/proc/self/exe", "heed", "worker", "--listen", url, "--max-frame",
          mf, "--allow-plugins", "--quiet", (char *)NULL);
    _exit(127);
  }
  return pid;
}

static void describe_exit(int st, char *out, size_t len) {
  if (WIFSIGNALED(st))
    snprintf(out, len, "killed by signal %d", WTERMSIG(st));
  else if (WIFEXITED(st))
    snprintf(out, len, "exited with status %d", WEXITSTATUS(st));
  else
    snprintf(out, len, "stopped");
}

static void kill_all(heed_dist *d, int sig) {
  for (unsigned i = 1; i < d->nprocs; i++)
    if (d->pids[i] > 0)
      kill(d->pids[i], sig);
}

/* Terminates and reaps every local worker: SIGTERM, then SIGKILL. */
static void reap_all(heed_dist *d, int grace_ms) {
  kill_all(d, SIGTERM);
  double end = heed__dist_now() + grace_ms / 1000.0;
  for (;;) {
    int left = 0;
    for (unsigned i = 1; i < d->nprocs; i++)
      if (d->pids[i] > 0) {
        if (waitpid(d->pids[i], NULL, WNOHANG) == d->pids[i] ||
            (errno == ECHILD && kill(d->pids[i], 0) != 0))
          d->pids[i] = 0;
        else
          left++;
      }
    if (!left)
      break;
    if (heed__dist_now() > end) {
      kill_all(d, SIGKILL);
      for (unsigned i = 1; i < d->nprocs; i++)
        if (d->pids[i] > 0) {
          waitpid(d->pids[i], NULL, 0);
          d->pids[i] = 0;
        }
      break;
    }
    usleep(10000);
  }
}

static void remove_dir(heed_dist *d) {
  if (!d->dir[0])
    return;
  char p[128];
  for (unsigned i = 0; i < d->nprocs; i++) {
    snprintf(p, sizeof p, "%s/%c%u", d->dir, i ? 'w' : 'c', i);
    unlink(p);
  }
  rmdir(d->dir);
  d->dir[0] = 0;
}

/* ---- failure ------------------------------------------------------------ */

static void worker_died(heed_dist *d, unsigned i, const char *why) {
  int expected = 0;
  if (atomic_load(&d->stopping) ||
      !atomic_compare_exchange_strong(&d->failed, &expected, 1))
    return;
  pthread_mutex_lock(&d->mu);
  d->dead = i;
  d->failed_at = heed__dist_now();
  heed_net *net = d->net;
  fprintf(stderr, "heed %s: worker %u (%s) died at batch %llu (%s); "
                  "stopping\n",
          d->cmd, i, d->urls[i],
          (unsigned long long)(net ? heed_net_step(net) : 0), why);
  pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
  if (net)
    heed_net_abort(net);
}

int heed__dist_failed(const heed_dist *d) {
  return d ? atomic_load(&((heed_dist *)d)->failed) : 0;
}

/* ---- threads ------------------------------------------------------------ */

static void *rx_main(void *arg) {
  heed_dist *d = arg;
  heed_frame f = {0};
  heed_wire_expect ex = {.check_run = 1, .run_id = d->run_id, .check_to = 1,
                         .to = 0};
  while (!atomic_load(&d->quit)) {
    int rv = heed_link_recv(d->link, &f, &ex, 100);
    if (rv == HEED_ECLOSED)
      break;
    if (rv)
      continue;
    unsigned from = f.h.from;
    if (from == 0 || from >= d->nprocs) {
      fprintf(stderr, "heed %s: rejected a frame from unknown process %u\n",
              d->cmd, from);
      continue;
    }
    pthread_mutex_lock(&d->mu);
    d->heard[from] = heed__dist_now();
    heed_net *net = d->net;
    pthread_mutex_unlock(&d->mu);
    for (size_t k = 0; k < f.nmsgs; k++) {
      heed_frame_msg *fm = &f.msgs[k];
      switch (fm->m.kind) {
      case HEED_SESS_READY:
        pthread_mutex_lock(&d->mu);
        d->ready[from] = 1;
        d->limits[from] = (size_t)fm->m.word;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
        break;
      case HEED_SESS_PONG:
      case HEED_SESS_PING:
        break;
      case HEED_SESS_ERROR: {
        char why[256];
        snprintf(why, sizeof why, "%.*s",
                 (int)(fm->nbytes < 200 ? fm->nbytes : 200),
                 (const char *)fm->bytes);
        worker_died(d, from, why);
        break;
      }
      case HEED_SESS_BUILD:
      case HEED_SESS_STOP:
        fprintf(stderr, "heed %s: rejected a %s message from worker %u\n",
                d->cmd, heed_wire_kind_name(fm->m.kind), from);
        break;
      default:
        if (net) {
          char reason[160];
          int r2 = heed_net_deliver_why(net, from, &fm->m, reason,
                                        sizeof reason);
          if (r2) {
            char why[240];
            snprintf(why, sizeof why, "sent a bad %s message: %s",
                     heed_wire_kind_name(fm->m.kind),
                     reason[0] ? reason : heed_strerror(r2));
            worker_died(d, from, why);
          }
        }
      }
    }
  }
  heed_frame_free(&f);
  return NULL;
}

static void *mon_main(void *arg) {
  heed_dist *d = arg;
  double next_ping = 0;
  uint64_t nonce = 0;
  while (!atomic_load(&d->quit)) {
    double now = heed__dist_now();
    for (unsigned i = 1; i < d->nprocs; i++) {
      int st;
      if (d->pids[i] > 0 && waitpid(d->pids[i], &st, WNOHANG) == d->pids[i]) {
        d->pids[i] = 0;
        char why[64];
        describe_exit(st, why, sizeof why);
        worker_died(d, i, why);
      }
    }
    if (now >= next_ping) {
      next_ping = now + HEARTBEAT_MS / 1000.0;
      nonce++;
      for (unsigned i = 1; i < d->nprocs; i++)
        heed_link_send_sess(d->link, i, HEED_SESS_PING, nonce, NULL, 0);
    }
    pthread_mutex_lock(&d->mu);
    for (unsigned i = 1; i < d->nprocs; i++)
      if (d->ready[i] && now - d->heard[i] > SILENT_MS / 1000.0) {
        pthread_mutex_unlock(&d->mu);
        worker_died(d, i, "silent for 2 s");
        pthread_mutex_lock(&d->mu);
      }
    double fat = d->failed_at;
    pthread_mutex_unlock(&d->mu);
    /* Nothing hangs: if the driver has not stopped the run soon after a
     * death, stop everything from here. */
    if (atomic_load(&d->failed) && !atomic_load(&d->stopping) &&
        now - fat > WATCHDOG_MS / 1000.0) {
      fprintf(stderr, "heed %s: the run did not stop within %d s; "
                      "exiting\n", d->cmd, WATCHDOG_MS / 1000);
      reap_all(d, 200);
      remove_dir(d);
      _exit(1);
    }
    usleep(20000);
  }
  return NULL;
}

/* ---- building ----------------------------------------------------------- */

static int send_cb(void *arg, unsigned to, const heed_wire_msg *m) {
  heed_dist *d = arg;
  return heed_link_send(d->link, to, m);
}

/* Contiguous layers per worker, the heaviest worker as light as possible. */
static void place(const uint32_t *sizes, unsigned nl, unsigned nw,
                  unsigned *layer_proc) {
  if (nw >= nl) {
    for (unsigned l = 0; l < nl; l++)
      layer_proc[l] = l + 1;
    return;
  }
  double cost[HEED_WIRE_MAX_LAYERS + 1] = {0};
  for (unsigned l = 0; l < nl; l++)
    cost[l + 1] = cost[l] + (double)sizes[l] * sizes[l + 1] + sizes[l + 1];
  /* best[k][j]: first j layers on k workers; cut[k][j] where the last
   * worker's part starts. */
  static double best[HEED_WIRE_MAX_PROCS + 1][HEED_WIRE_MAX_LAYERS + 1];
  static unsigned cut[HEED_WIRE_MAX_PROCS + 1][HEED_WIRE_MAX_LAYERS + 1];
  for (unsigned j = 0; j <= nl; j++)
    best[1][j] = cost[j];
  for (unsigned k = 2; k <= nw; k++)
    for (unsigned j = k; j <= nl; j++) {
      best[k][j] = 1e300;
      for (unsigned i = k - 1; i < j; i++) {
        double c = best[k - 1][i] > cost[j] - cost[i] ? best[k - 1][i]
                                                      : cost[j] - cost[i];
        if (c < best[k][j]) {
          best[k][j] = c;
          cut[k][j] = i;
        }
      }
    }
  unsigned j = nl;
  for (unsigned k = nw; k >= 1; k--) {
    unsigned i = k == 1 ? 0 : cut[k][j];
    for (unsigned l = i; l < j; l++)
      layer_proc[l] = k;
    j = i;
  }
}

/* --strategy-plugin paths, absolute, for the workers to load. */
static void plugins(const heed_dist_opts *o, heed_run_config *c) {
  for (int i = 1; i + 1 < o->argc; i++)
    if (!strcmp(o->argv[i], "--strategy-plugin") &&
        c->nplugins < HEED_WIRE_MAX_PLUGINS) {
      char abs[PATH_MAX];
      const char *p = realpath(o->argv[i + 1], abs) ? abs : o->argv[i + 1];
      cpy(c->plugins[c->nplugins++], sizeof c->plugins[0], p);
    }
}

static void fail_build(heed_dist *d) {
  atomic_store(&d->stopping, 1);
  heed__dist_stop(d);
  heed__dist_free(d);
}

int heed__dist_build(heed_dist **dp, const char *cmd, const heed_dist_opts *o,
                     const heed_exp_opts *eo, uint32_t in, uint32_t classes,
                     heed_runtime **rtp, heed_net **netp) {
  heed_dist *d = calloc(1, sizeof *d);
  char err[512];
  int rv;
  *dp = NULL;
  if (!d) {
    fprintf(stderr, "heed %s: out of memory\n", cmd);
    return 1;
  }
  d->cmd = cmd;
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->cv, NULL);
  size_t max_frame = o->max_frame ? o->max_frame : HEED_WIRE_MAX_FRAME_DEFAULT;
  if (o->cluster) {
    if (read_cluster(d, o->cluster)) {
      free(d);
      return 1;
    }
  } else {
    d->nprocs = o->workers + 1;
    snprintf(d->dir, sizeof d->dir, "/tmp/heed-%d-XXXXXX", (int)getpid());
    if (!mkdtemp(d->dir)) { /* mode 0700: only this user reaches it */
      fprintf(stderr, "heed %s: cannot create a socket folder: %s\n", cmd,
              strerror(errno));
      free(d);
      return 1;
    }
    snprintf(d->urls[0], sizeof d->urls[0], "ipc://%s/c0", d->dir);
    for (unsigned i = 1; i < d->nprocs; i++) {
      snprintf(d->urls[i], sizeof d->urls[i], "ipc://%s/w%u", d->dir, i);
      d->pids[i] = spawn(d->urls[i], max_frame);
      if (d->pids[i] < 0) {
        d->pids[i] = 0;
        fprintf(stderr, "heed %s: cannot start a worker: %s\n", cmd,
                strerror(errno));
        fail_build(d);
        return 1;
      }
    }
  }
  d->run_id = heed__dist_random64();
  if ((rv = heed_link_open(&d->link, d->urls[0], max_frame, "heed train", err,
                           sizeof err)) != 0) {
    fprintf(stderr, "heed %s: %s\n", cmd, err);
    fail_build(d);
    return 1;
  }
  cpy(d->urls[0], sizeof d->urls[0], heed_link_url(d->link));
  heed_link_set_run(d->link, d->run_id, 0);

  /* The run, as every process builds it. */
  heed_run_config *c = calloc(1, sizeof *c);
  heed_strategy *s = NULL;
  if (!c) {
    fprintf(stderr, "heed %s: out of memory\n", cmd);
    fail_build(d);
    return 1;
  }
  c->run_id = d->run_id;
  c->seed = eo->seed;
  c->max_frame = max_frame;
  c->nprocs = d->nprocs;
  c->threads = eo->threads;
  c->max_batch = eo->batch > 1000 ? eo->batch : 1000;
  c->init = eo->init;
  c->lr = (float)eo->lr;
  c->nsizes = 0;
  c->sizes[c->nsizes++] = in;
  for (size_t i = 0; i < eo->nhidden; i++)
    c->sizes[c->nsizes++] = eo->hidden[i];
  c->sizes[c->nsizes++] = classes;
  for (uint32_t i = 0; i + 1 < c->nsizes; i++)
    c->acts[i] = i + 2 == c->nsizes ? HEED_ACT_IDENTITY : eo->act;
  unsigned nl = c->nsizes - 1;
  if (d->nprocs - 1 > nl && !eo->quiet)
    fprintf(stderr, "heed %s: %u workers for %u layers: %u will idle\n", cmd,
            d->nprocs - 1, nl, d->nprocs - 1 - nl);
  place(c->sizes, nl, d->nprocs - 1, c->layer_proc);
  cpy(c->strategy, sizeof c->strategy, eo->strategy);
  for (unsigned i = 0; i < d->nprocs; i++)
    cpy(c->urls[i], sizeof c->urls[i], d->urls[i]);
  plugins(o, c);

  for (unsigned i = 1; i < d->nprocs; i++) {
    heed_wbuf b = {0};
    c->self = i;
    if ((rv = heed_link_add_peer(d->link, i, d->urls[i], max_frame, err,
                                 sizeof err)) != 0 ||
        (rv = heed_wire_config_encode(&b, c)) != 0 ||
        (rv = heed_link_send_sess(d->link, i, HEED_SESS_BUILD, 0, b.p,
                                  b.len)) != 0) {
      heed_wbuf_free(&b);
      fprintf(stderr, "heed %s: cannot reach worker %u (%s): %s\n", cmd, i,
              d->urls[i], rv == HEED_EIO ? err : heed_strerror(rv));
      free(c);
      fail_build(d);
      return 1;
    }
    heed_wbuf_free(&b);
  }
  if (pthread_create(&d->rx, NULL, rx_main, d) == 0)
    d->rx_on = 1;
  if (pthread_create(&d->mon, NULL, mon_main, d) == 0)
    d->mon_on = 1;
  if (!d->rx_on || !d->mon_on) {
    fprintf(stderr, "heed %s: cannot start threads\n", cmd);
    free(c);
    fail_build(d);
    return 1;
  }

  /* Every worker READY (or one failed, or the time is up). */
  double end = heed__dist_now() + READY_MS / 1000.0;
  unsigned missing = 0;
  pthread_mutex_lock(&d->mu);
  for (;;) {
    missing = 0;
    for (unsigned i = 1; i < d->nprocs; i++)
      if (!d->ready[i] && !missing)
        missing = i;
    if (!missing || atomic_load(&d->failed) || heed__dist_now() > end)
      break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&d->cv, &d->mu, &ts);
  }
  for (unsigned i = 1; i < d->nprocs; i++)
    d->heard[i] = heed__dist_now();
  pthread_mutex_unlock(&d->mu);
  if (missing || atomic_load(&d->failed)) {
    if (!atomic_load(&d->failed))
      fprintf(stderr, "heed %s: worker %u (%s) did not answer within %d s\n",
              cmd, missing, d->urls[missing], READY_MS / 1000);
    free(c);
    fail_build(d);
    return 1;
  }
  for (unsigned i = 1; i < d->nprocs; i++)
    heed_link_set_peer_limit(d->link, i, d->limits[i]);

  /* This process's part: input, critic, driver. */
  if ((rv = heed_strategy_new(&s, eo->strategy, err, sizeof err)) != 0) {
    fprintf(stderr, "heed %s: %s\n", cmd, err);
    free(c);
    fail_build(d);
    return 1;
  }
  heed_activation acts[HEED_WIRE_MAX_LAYERS];
  for (unsigned l = 0; l < nl; l++)
    acts[l] = (heed_activation)c->acts[l];
  heed_runtime_opts ro = {.threads = eo->threads, .mailbox_limit = 4096};
  heed_net_opts no = {.nsizes = c->nsizes, .sizes = c->sizes, .acts = acts,
                      .init = (heed_init)c->init, .seed = c->seed,
                      .lr = (float)c->lr, .max_batch = c->max_batch,
                      .strategy = s};
  heed_net_remote rem = {.nprocs = d->nprocs, .self = 0,
                         .layer_proc = c->layer_proc, .send = send_cb,
                         .arg = d};
  if ((rv = heed_runtime_new(rtp, &ro)) != 0 ||
      (rv = heed_runtime_start(*rtp)) != 0 ||
      (rv = heed_net_new_remote(netp, *rtp, &no, &rem)) != 0) {
    fprintf(stderr, "heed %s: cannot build the network: %s\n", cmd,
            heed_strerror(rv));
    heed_runtime_free(*rtp);
    *rtp = NULL;
    heed_strategy_free(s);
    free(c);
    fail_build(d);
    return 1;
  }
  heed_strategy_free(s);
  pthread_mutex_lock(&d->mu);
  d->net = *netp;
  pthread_mutex_unlock(&d->mu);
  if (!eo->quiet) {
    fprintf(stderr, "heed %s: %u worker(s), run %016llx; layers on", cmd,
            d->nprocs - 1, (unsigned long long)d->run_id);
    for (unsigned l = 0; l < nl; l++)
      fprintf(stderr, " %u:w%u", l + 1, c->layer_proc[l]);
    fprintf(stderr, "\n");
  }
  free(c);
  *dp = d;
  if (atomic_load(&d->failed)) {
    heed_net_abort(*netp);
    return 0; /* the first driver call reports it */
  }
  return 0;
}

int heed__dist_pull(heed_dist *d) {
  if (!d || !d->net)
    return 0;
  int rv = heed_net_pull(d->net);
  if (rv)
    fprintf(stderr, "heed %s: cannot fetch the workers' weights: %s\n",
            d->cmd, heed_strerror(rv));
  return rv;
}

int heed__dist_push(heed_dist *d) {
  if (!d || !d->net)
    return 0;
  int rv = heed_net_push(d->net);
  if (rv)
    fprintf(stderr, "heed %s: cannot send the weights to the workers: %s\n",
            d->cmd, heed_strerror(rv));
  return rv;
}

void heed__dist_stop(heed_dist *d) {
  if (!d)
    return;
  atomic_store(&d->stopping, 1);
  if (d->link) { /* the survivors stop now, not after 2 s of silence */
    int failed = atomic_load(&d->failed);
    for (unsigned i = 1; i < d->nprocs; i++)
      if (!failed || i != d->dead)
        heed_link_send_sess(d->link, i, HEED_SESS_STOP, 0, NULL, 0);
    for (unsigned i = 1; i < d->nprocs; i++)
      if (!failed || i != d->dead)
        heed_link_flush(d->link, (int)i, failed ? 300 : 1000);
  }
  atomic_store(&d->quit, 1);
  if (d->mon_on)
    pthread_join(d->mon, NULL);
  if (d->rx_on)
    pthread_join(d->rx, NULL);
  d->mon_on = d->rx_on = 0;
  pthread_mutex_lock(&d->mu);
  d->net = NULL;
  pthread_mutex_unlock(&d->mu);
  reap_all(d, 1000);
  if (d->link)
    heed_link_drop_peers(d->link);
}

void heed__dist_free(heed_dist *d) {
  if (!d)
    return;
  heed_link_close(d->link);
  remove_dir(d);
  pthread_mutex_destroy(&d->mu);
  pthread_cond_destroy(&d->cv);
  free(d);
}
