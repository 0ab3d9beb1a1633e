/*
 * cluster/internal.h - what the files of src/cluster share (internal).
 *
 * coord.c is the coordinator (heed_cluster), worker.c the worker loop
 * (heed_worker_serve), run.c turns a run configuration into a network (the
 * one place that does), session.c the handshake before BUILD, local.c the
 * local workers and their socket folder, file.c the cluster file and the
 * secret file, launch.c launcher environments, mac.c SHA-256 and HMAC.
 */
#ifndef HEED_CLUSTER_INTERNAL_H
#define HEED_CLUSTER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "heed/cluster.h"
#include "heed/trace.h"
#include "transport/link.h"
#include "transport/wire.h"

/* ---- mac.c -------------------------------------------------------------- */
#define HEED_SHA256_LEN 32
typedef struct heed_sha256 {
  uint32_t h[8];
  uint64_t n;
  uint8_t buf[64];
  size_t used;
} heed_sha256;
typedef struct heed_hmac {
  heed_sha256 inner, outer;
} heed_hmac;
void heed__sha256_init(heed_sha256 *s);
void heed__sha256_update(heed_sha256 *s, const void *data, size_t len);
void heed__sha256_final(heed_sha256 *s, uint8_t out[HEED_SHA256_LEN]);
void heed__hmac_init(heed_hmac *m, const void *key, size_t keylen);
void heed__hmac_update(heed_hmac *m, const void *data, size_t len);
void heed__hmac_final(heed_hmac *m, uint8_t out[HEED_SHA256_LEN]);
/* 1 when a[0..n) == b[0..n), in time independent of where they differ. */
int heed__mac_equal(const uint8_t *a, const uint8_t *b, size_t n);

/* ---- session.c: the handshake (docs/protocol.md, "A session") ----------- */
#define HEED_NONCE_LEN 16
#define HEED_HELLO_AUTH 1u /* HELLO word: the sender holds the secret */

/* The coordinator's HELLO payload: nonce, heed version, its URL. */
typedef struct heed_hello {
  uint8_t nonce[HEED_NONCE_LEN];
  char version[32];
  char url[HEED_WIRE_URL_MAX];
} heed_hello;
int heed__hello_encode(const heed_hello *h, uint8_t *out, size_t cap,
                       size_t *len);
int heed__hello_decode(heed_hello *h, const uint8_t *p, size_t n, char *why,
                       size_t whylen);
/* The proofs: role "coordinator" covers the run configuration bytes too,
 * role "worker" none; both cover the run id, the worker's index and both
 * nonces, so neither proof can be replayed in another session or role. */
void heed__session_mac(const void *key, size_t keylen, const char *role,
                       uint64_t run_id, unsigned worker,
                       const uint8_t *nonce_c, const uint8_t *nonce_w,
                       const void *extra, size_t extralen,
                       uint8_t out[HEED_SHA256_LEN]);
void heed__random(void *out, size_t n);
uint64_t heed__random64(void); /* never 0 */
double heed__now_s(void);      /* monotonic seconds */
void heed__cpy(char *dst, size_t cap, const char *s);
/* 1 for ipc:// and tcp:// URLs on 127.0.0.0/8, localhost, [::1] or with
 * no host (tcp://:PORT binds to 127.0.0.1). */
int heed__url_is_loopback(const char *url);
/* Sends one session message to url from a socket of its own, for a
 * coordinator this process has no link to (a worker busy with another
 * run answers a HELLO). Best effort; waits at most timeout_ms. */
int heed__send_once(const char *url, uint64_t run_id, unsigned from,
                    unsigned to, uint32_t kind, uint64_t word,
                    const void *bytes, size_t n, int timeout_ms);

/* ---- run.c -------------------------------------------------------------- */
typedef int (*heed__send_fn)(void *arg, unsigned to, const heed_wire_msg *m);
/* This process's part of the network c describes (c->self), on rt. */
int heed__run_net(const heed_run_config *c, heed_runtime *rt,
                  heed__send_fn send, void *arg, heed_net **np, char *why,
                  size_t whylen);
/* Whole-layer placement (HEED_PLACE_LAYERS) of nl layers on nw workers. */
void heed__place_layers(const uint32_t *sizes, unsigned nl, unsigned nw,
                        uint32_t *layer_proc);
/* Slices of every hidden layer over processes from..nprocs-1, as even as
 * whole neurons allow (the lower processes take the remainder), and the
 * output layer whole on process 0 with the critic unless it is more work
 * than a worker's share (then sliced too): share[(l-1) * nprocs + p]
 * neurons of layer l on process p. */
void heed__place_slices(const uint32_t *sizes, unsigned nl, unsigned nprocs,
                        unsigned from, uint32_t *share);

/* ---- local.c ------------------------------------------------------------ */
/* Removes the socket folders of coordinators that are gone, then creates
 * a fresh heed-PID-XXXXXX in $TMPDIR or /tmp (mode 0700). */
int heed__local_dir(char *dir, size_t len, char *err, size_t errlen);
/* Removes heed-PID-* folders under tmp whose process is dead (tests). */
unsigned heed__local_sweep(const char *tmp);
void heed__local_remove(const char *dir);
/* Starts one local worker listening at url: exec of program, or (NULL) a
 * fork that runs heed_worker_serve. Returns its pid or -1 (errno). */
pid_t heed__local_spawn(const char *program, const char *url,
                        size_t max_frame);

/* ---- launch.c ----------------------------------------------------------- */
/* Writes url into path atomically (temp file, rename). */
int heed__rendezvous_write(const char *path, const char *url, char *err,
                           size_t errlen);
/* Waits up to timeout_ms for path and reads the URL in it. */
int heed__rendezvous_read(const char *path, char *url, size_t len,
                          int timeout_ms, char *err, size_t errlen);
/* tcp://ADDR:0 with ADDR the local address that routes to url's host
 * (127.0.0.1 when that host is loopback). */
int heed__listen_toward(const char *url, char *out, size_t len, char *err,
                        size_t errlen);
/* tcp://ADDR:0 with ADDR this host's first non-loopback IPv4 address (or
 * 127.0.0.1). */
void heed__listen_here(char *out, size_t len);

/* ---- trace.c: traced workers ------------------------------------------ */
/* TRACE session messages: the low byte of `word` says which. */
enum {
  HEED_TRACE_START = 1,   /* 0 -> worker: trace (bytes heed__trace_cfg) */
  HEED_TRACE_CLOCK = 2,   /* 0 -> worker: bytes a refined offset (8, LE) */
  HEED_TRACE_STOP = 3,    /* 0 -> worker: stop tracing, ship the rest */
  HEED_TRACE_STARTED = 4, /* worker -> 0: tracing */
  HEED_TRACE_RECORDS = 5, /* worker -> 0: records; word >> 8 their count */
  HEED_TRACE_END = 6,     /* worker -> 0: the last records were shipped */
};

uint64_t heed__mono_ns(void); /* CLOCK_MONOTONIC, ns */
void heed__u64_le(uint8_t out[8], uint64_t v);
uint64_t heed__le_u64(const uint8_t in[8]);

/* A worker's clock offset from round trips (see trace.c). */
typedef struct heed__clock_sample {
  int have;
  int64_t offset; /* worker clock - process 0's clock, ns */
  uint64_t rtt;   /* ns */
} heed__clock_sample;
typedef struct heed__clock_est {
  heed__clock_sample cur, prev; /* best of this window and the last */
  double window_start;
} heed__clock_est;
/* One PING/PONG: sent at t_send and answered at t_recv (process 0's
 * clock), when the worker's clock read t_worker; now_s for the windows. */
void heed__clock_add(heed__clock_est *e, uint64_t t_send, uint64_t t_worker,
                     uint64_t t_recv, double now_s);
/* The best estimate and its error bound (half its round trip), or
 * HEED_ENOENT before the first sample. */
int heed__clock_get(const heed__clock_est *e, int64_t *offset,
                    uint64_t *bound);

/* What TRACE start tells a worker. */
#define HEED_TRACE_CFG_LEN 48
typedef struct heed__trace_cfg {
  uint64_t run;
  double sample;
  uint32_t kinds, values, procs;
  uint64_t start_ns; /* process 0's tracer start, on process 0's clock */
  int64_t offset;    /* this worker's clock offset */
} heed__trace_cfg;
void heed__trace_cfg_encode(const heed__trace_cfg *c,
                            uint8_t out[HEED_TRACE_CFG_LEN]);
int heed__trace_cfg_decode(heed__trace_cfg *c, const uint8_t *p, size_t n,
                           char *why, size_t whylen);

/* A worker's tracer and the shipping of its records to process 0. */
typedef struct heed__tship heed__tship;
int heed__tship_start(heed__tship **sp, heed_link *link, unsigned self,
                      const heed__trace_cfg *c, char *why, size_t whylen);
heed_trace *heed__tship_trace(heed__tship *s);
void heed__tship_clock(heed__tship *s, int64_t offset);
/* Frees the tracer (its last records shipped) and sends TRACE end. Only
 * once no actor can record any more (the net synced or freed). */
void heed__tship_stop(heed__tship *s);

#endif
