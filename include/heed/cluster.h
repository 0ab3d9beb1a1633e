/*
 * heed/cluster.h - one network over several processes, as library calls.
 *
 * A run spread over processes has one coordinator (process 0: the driver,
 * the input and the critic) and workers (processes 1..N, each hosting some
 * weight layers, or a slice of every layer). The coordinator is a heed_cluster: it starts local
 * workers or reaches running ones, places the network over them, and hands
 * back an ordinary heed_net that heed_net_train_batch, heed_net_eval and
 * heed_net_control drive as if it lived in one process; the results are
 * bitwise those of one process with the same seed. A worker is one call,
 * heed_worker_serve, that hosts its layers of runs one after another.
 * `heed train --workers N / --cluster FILE / --launcher mpi|slurm` and
 * `heed worker` are flag parsing over these calls (docs/distributed.md).
 *
 * The library never prints. Every call returns 0 or a negative HEED_E*
 * code; a failed call leaves a one-line human reason in
 * heed_cluster_error(c) (or in the err buffer of the calls that take one).
 *
 * Typical coordinator:
 *
 *   heed_cluster_opts co = {.local_workers = 2};
 *   heed_cluster *c;
 *   heed_cluster_start(&c, &co, err, sizeof err);   // before any thread
 *   heed_runtime_new(&rt, &ro); heed_runtime_start(rt);
 *   heed_cluster_net_opts no = {.net = &net_opts, .strategy = "bp"};
 *   heed_cluster_net_new(c, rt, &no, &net);
 *   ... heed_net_train_batch(net, ...) ...
 *   heed_cluster_pull(c);                  // workers' weights, then
 *   heed_net_params_get(net, l, w, b);     // read them here
 *   heed_cluster_stop(c); heed_net_free(net); heed_runtime_free(rt);
 *   heed_cluster_free(c);
 */
#ifndef HEED_CLUSTER_H
#define HEED_CLUSTER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "heed/error.h"
#include "heed/net.h"
#include "heed/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEED_CLUSTER_MAX_WORKERS 63 /* processes 1..63 */
#define HEED_CLUSTER_URL_MAX 256
#define HEED_CLUSTER_SECRET_MIN 16 /* bytes a shared secret has at least */
#define HEED_CLUSTER_SECRET_MAX 1024

typedef struct heed_cluster heed_cluster;

/* Called once, from a cluster thread, when the run fails: a worker died,
 * went silent, refused or failed authentication, sent a bad message, or
 * the stop flag was raised (worker 0 then). `why` is the same line
 * heed_cluster_error() returns. Keep it short: print, set a flag. */
typedef void (*heed_cluster_fail_fn)(void *arg, unsigned worker,
                                     const char *why);

typedef struct heed_cluster_opts {
  /* Where the workers come from; exactly one of the three. */
  unsigned local_workers;         /* start N workers on this machine */
  const char *const *worker_urls; /* reach N running workers (`heed worker`) */
  unsigned nworker_urls;
  unsigned join_workers;          /* wait until N workers JOIN (launchers) */

  /* Where the workers reach the coordinator. NULL: an ipc:// socket in
   * the socket folder with local workers, else tcp://127.0.0.1:0 (a free
   * port). With join_workers, the URL the workers dial. */
  const char *listen_url;
  /* How local workers start. NULL: fork() and run heed_worker_serve in
   * the child, which works for any program linked with libheed but must
   * happen before this process has started any thread (call
   * heed_cluster_start first: before heed_runtime_start, nng or your own
   * threads). A path: fork and exec `PROG worker --listen URL
   * --max-frame N --allow-plugins --quiet` (the `heed` program). Local
   * workers live in a fresh folder `heed-PID-XXXXXX/` (mode 0700) of
   * $TMPDIR or /tmp, have their own process group (a terminal's Ctrl-C
   * reaches only the coordinator) and die with the coordinator whatever
   * kills it (PR_SET_PDEATHSIG). Folders left by dead coordinators (e.g.
   * SIGKILL) are removed by the next heed_cluster_start. */
  const char *worker_program;
  size_t max_frame;               /* bytes this process accepts; 0: 64 MiB */
  /* Shared secret (HEED_CLUSTER_SECRET_MIN..MAX bytes) or NULL. With a
   * secret, coordinator and every worker prove to each other that they
   * hold it (HMAC-SHA-256 over fresh nonces, the run id and the run's
   * configuration) before a worker builds anything; a worker that cannot
   * is refused. Local workers take no part in it: they are this
   * process's children and their sockets live in a folder only this user
   * can reach. Without a secret, a listen URL or worker URL that is not
   * loopback (or ipc://) is refused unless `insecure` is set. */
  const void *secret;
  size_t secret_len;
  int insecure;
  heed_cluster_fail_fn on_failure;
  void *failure_arg;
  /* Nonzero *stop (e.g. set by a signal handler) fails the run with
   * "interrupted": waiting driver calls return HEED_EPEER at once. heed
   * reads it atomically from its own threads; a signal may land on any
   * thread, so set it atomically too:
   * __atomic_store_n(&flag, 1, __ATOMIC_RELAXED). */
  const volatile sig_atomic_t *stop;
  int ready_timeout_ms;           /* for workers to answer; 0: 30000 */
  /* With join_workers: also write the URL the workers dial into this
   * file (atomically; removed by heed_cluster_free), for workers that
   * know a shared folder rather than the URL. */
  const char *rendezvous;
  /* If a failed run is not stopped (heed_cluster_stop) this long after
   * the failure, kill the local workers, remove the socket folder and
   * _exit(1): for programs that must never hang. 0: never. */
  int exit_after_ms;
} heed_cluster_opts;

/* Starts the local workers (or checks the worker URLs), listens, and
 * removes the socket folders of dead coordinators. *cp is NULL on
 * failure, with the reason in err. */
HEED_API int heed_cluster_start(heed_cluster **cp, const heed_cluster_opts *o,
                                char *err, size_t errlen);

/* How the network is spread over the processes. */
typedef enum heed_placement {
  /* The library's choice: HEED_PLACE_SLICES (faster for every net measured
   * in docs/benchmarks.md, "Transport"). */
  HEED_PLACE_AUTO = 0,
  /* Whole weight layers: contiguous groups, one per worker, chosen so the
   * heaviest worker is as light as possible (extra workers idle). A batch
   * runs through the workers one after the other. */
  HEED_PLACE_LAYERS = 1,
  /* Neuron slices: every worker hosts a contiguous slice of every weight
   * layer (as even as whole neurons allow), so every worker works in
   * every phase of every batch; the coordinator keeps the input, the
   * critic and the driver. Each layer boundary is then an exchange of
   * slices between the workers (docs/distributed.md). */
  HEED_PLACE_SLICES = 2,
} heed_placement;

/* Neurons first..first+count-1 of weight layer `layer` (1-based; count 0:
 * the whole layer) play `spec`, on every process. */
typedef struct heed_cluster_assign {
  size_t layer;
  uint32_t first, count;
  const char *spec; /* e.g. "guard:c=0.01"; under 256 bytes */
} heed_cluster_assign;

typedef struct heed_cluster_net_opts {
  /* sizes, acts, init, seed, lr, max_batch as for heed_net_new;
   * net->strategy is ignored: every process builds `strategy`. */
  const heed_net_opts *net;
  const char *strategy;         /* spec, e.g. "sparse:q=0.5"; NULL: "bp" */
  const char *const *plugins;   /* strategy plugins the workers load */
  unsigned nplugins;            /* (absolute paths; only workers that */
                                /*  allow plugins load them) */
  unsigned worker_threads;      /* runtime threads per worker; 0: 1 */
  heed_placement placement;
  /* Per-layer or per-neuron strategies, applied in order after `strategy`
   * (at most 256; a checkpoint's mixed society compresses to runs). */
  const heed_cluster_assign *assign;
  size_t nassign;
} heed_cluster_net_opts;

/* Sends every worker the run (after the handshake: versions, secret),
 * waits until all have built their layers, and builds this process's part
 * on rt. A worker's refusal (plugins not allowed, another heed version,
 * busy, authentication) returns at once: HEED_EREFUSED or HEED_EAUTH with
 * the worker's reason in heed_cluster_error(). One net per cluster. */
HEED_API int heed_cluster_net_new(heed_cluster *c, heed_runtime *rt,
                                  const heed_cluster_net_opts *o,
                                  heed_net **np);

/* heed_net_pull / heed_net_push of the cluster's net (the workers' layers
 * into this process's copy, and back), with a reason on failure. */
HEED_API int heed_cluster_pull(heed_cluster *c);
HEED_API int heed_cluster_push(heed_cluster *c);

/* Nonzero once the run has failed; the reason is copied to why (may be
 * NULL). Any thread. */
HEED_API int heed_cluster_failed(const heed_cluster *c, char *why,
                                 size_t whylen);
/* The reason of the last failure ("" when none). */
HEED_API const char *heed_cluster_error(const heed_cluster *c);

/* Workers, their URLs (1..workers; 0 is the coordinator's), the run id,
 * and after net_new the process weight layer l (1..nlayers) lives on
 * (HEED_PLACE_LAYERS; 0 when it is sliced) and how many of its neurons
 * process p hosts (either placement). */
HEED_API unsigned heed_cluster_nworkers(const heed_cluster *c);
HEED_API const char *heed_cluster_url(const heed_cluster *c, unsigned i);
HEED_API uint64_t heed_cluster_run_id(const heed_cluster *c);
HEED_API unsigned heed_cluster_layer_proc(const heed_cluster *c, size_t l);
HEED_API uint32_t heed_cluster_share(const heed_cluster *c, size_t l,
                                     unsigned p);

/* Records every process's actors into t (heed/trace.h), a tracer this
 * process made (opts.procs = workers + 1 puts the count in its header),
 * like heed_net_set_trace for a net in one process: each worker traces its
 * own actors with t's sample, kinds and values and ships the records here,
 * where t writes them to its file and live stream as they arrive, each
 * marked with its process (`proc`) and timed on this process's clock
 * (docs/trace-format.md, "Several processes"). Waits until every worker
 * traces (a few quick PING/PONGs first align the clocks). NULL stops:
 * waits until every worker's last records are in t, so call it before
 * heed_trace_free and heed_cluster_stop. Between batches only (the net is
 * synced first). 0, or HEED_EIO / HEED_ETIMEDOUT (a worker could not or
 * did not answer; the reason in heed_cluster_error) or the run's failure:
 * tracing is then left off and t no longer referenced. */
struct heed_trace;
HEED_API int heed_cluster_set_trace(heed_cluster *c, struct heed_trace *t);

/* The estimate of worker's clock offset (its CLOCK_MONOTONIC minus this
 * process's, ns) from the PING/PONG round trips, and its error bound (half
 * the round trip of the sample it comes from). HEED_ENOENT before the
 * first answer. */
HEED_API int heed_cluster_clock(const heed_cluster *c, unsigned worker,
                                int64_t *offset_ns, uint64_t *bound_ns);

/* Ends the run: waits for the batch still in flight (unless the run has
 * failed), STOP to every worker (local ones are then terminated and
 * reaped), the cluster's threads joined. Call before heed_net_free, from
 * the thread that drives the net. */
HEED_API void heed_cluster_stop(heed_cluster *c);
/* Frees what is left and removes the socket folder. Call after
 * heed_runtime_free. NULL is ignored. */
HEED_API void heed_cluster_free(heed_cluster *c);

/* ---- the worker -------------------------------------------------------- */

typedef struct heed_worker_opts {
  const char *listen_url;  /* ipc:///path or tcp://HOST:PORT */
  /* Launchers: first JOIN the coordinator listening at join_url (or at
   * the URL found in the file `rendezvous`, waited for), as `rank`. Then
   * listen_url may be NULL: a tcp:// port on the address that routes to
   * the coordinator (loopback when it is loopback). */
  const char *join_url;
  const char *rendezvous;
  unsigned rank;
  size_t max_frame;        /* bytes; 0: 64 MiB */
  unsigned threads;        /* runtime threads; 0: what the run asks */
  int allow_plugins;       /* load the plugins a run names (else refuse) */
  const void *secret;      /* as heed_cluster_opts */
  size_t secret_len;
  int insecure;            /* listen on a non-loopback URL without a secret */
  unsigned runs;           /* return after this many runs; 0: until *stop */
  const volatile sig_atomic_t *stop; /* nonzero: end the run, return;
                                        set atomically (as above) */
  /* One line per event (no newline), e.g. "rejected a BUILD: ...". NULL:
   * silent. `verbose` adds runs started and ended, not only problems. */
  void (*log)(void *arg, const char *line);
  void *log_arg;
  int verbose;
} heed_worker_opts;

/* Listens and serves runs: the handshake, BUILD (build this process's
 * layers, answer READY), net messages, PING, STOP. Refusals (plugins,
 * version, busy, secret) are logged and sent to the coordinator (REFUSE).
 * A frame that is garbage or of another run is logged and dropped; a
 * coordinator silent for 2 s ends its run. Returns 0 after `runs` runs or
 * when *stop is set, or an error (cannot listen, no secret on a public
 * address, ...) with the reason in err. */
HEED_API int heed_worker_serve(const heed_worker_opts *o, char *err,
                               size_t errlen);

/* ---- files and environments ------------------------------------------- */

/* A cluster file: one URL a line, "worker URL", "coordinator URL" or just
 * "URL" (a worker); '#' starts a comment. */
typedef struct heed_cluster_file {
  char coordinator[HEED_CLUSTER_URL_MAX]; /* "" when not given */
  unsigned nworkers;
  char workers[HEED_CLUSTER_MAX_WORKERS][HEED_CLUSTER_URL_MAX];
} heed_cluster_file;

/* Parses text[0..len) (need not end in 0); name prefixes errors
 * ("cluster.txt:3: ..."). HEED_EFORMAT / HEED_ERANGE with a reason. */
HEED_API int heed_cluster_file_parse(heed_cluster_file *f, const char *text,
                                     size_t len, const char *name, char *err,
                                     size_t errlen);
HEED_API int heed_cluster_file_load(heed_cluster_file *f, const char *path,
                                    char *err, size_t errlen);

/* Reads a shared secret: the whole file (a trailing newline dropped),
 * HEED_CLUSTER_SECRET_MIN..MAX bytes, a regular file that group and others
 * cannot read. Returns its length or a negative error. */
HEED_API int heed_cluster_secret_load(const char *path, void *out, size_t cap,
                                      char *err, size_t errlen);

/* Where a process started by a launcher stands. */
typedef struct heed_launcher_env {
  unsigned rank, size;     /* rank 0 coordinates; size <= 64 */
  int one_node;            /* every rank on this machine (known or not: 0) */
  char job[64];            /* job id ([A-Za-z0-9._-]), "" when unknown */
} heed_launcher_env;

/* Reads rank and size from a launcher's environment: "mpi" (Open MPI's
 * OMPI_COMM_WORLD_RANK/SIZE/LOCAL_SIZE, job from PMIX_NAMESPACE or
 * OMPI_MCA_ess_base_jobid) or "slurm" (SLURM_PROCID, SLURM_NTASKS,
 * SLURM_NNODES, SLURM_JOB_ID and SLURM_STEP_ID). get looks a name up (NULL:
 * unset); pass NULL to use getenv. HEED_ENOENT when a variable is
 * missing, HEED_EFORMAT / HEED_ERANGE when one is malformed. */
HEED_API int heed_launcher_env_parse(heed_launcher_env *e, const char *kind,
                                     const char *(*get)(void *arg,
                                                        const char *name),
                                     void *arg, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* HEED_CLUSTER_H */
