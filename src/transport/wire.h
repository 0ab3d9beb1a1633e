/*
 * wire.h - the frame codec of the distributed transport (internal).
 *
 * A frame is one MessagePack array (docs/protocol.md):
 *
 *   ["heed", version, run_id, from, to, seq, [msg, msg, ...]]
 *
 * A net message (FORWARD, BID, CONTROL, DONE, ACK, PARAMS, PULL) is
 *   [kind, layer, batch, word, mode, count, stride, rows, ldc, bin floats]
 * with the floats little-endian float32; a session message (BUILD, READY,
 * STOP, PING, PONG, ERROR, HELLO, REFUSE, JOIN, TRACE) is [kind, word, bin
 * bytes].
 *
 * The decoder trusts nothing: every length is checked against the bytes
 * that remain before it is used, the frame against a size limit, and the
 * header against the expected version, run and receiver. Each rejection
 * has its own code and a one-line reason.
 */
#ifndef HEED_TRANSPORT_WIRE_H
#define HEED_TRANSPORT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "heed/net.h"

#define HEED_WIRE_VERSION 2 /* 2: the run config carries assignments */
#define HEED_WIRE_MAX_FRAME_DEFAULT ((size_t)64 << 20) /* 64 MiB */
#define HEED_WIRE_MIN_FRAME ((size_t)1024)
#define HEED_WIRE_HDR_MAX 64 /* bytes the header takes at most */
#define HEED_WIRE_MAX_PROCS 64
#define HEED_WIRE_MAX_LAYERS 64
#define HEED_WIRE_MAX_PLUGINS 8
#define HEED_WIRE_MAX_ASSIGN 256 /* strategy assignments in a run config */
#define HEED_WIRE_URL_MAX 256

/* Session kinds (net kinds are enum heed_wire_kind, 1..8). */
enum heed_sess_kind {
  HEED_SESS_BUILD = 32, /* bytes: the run config (heed_run_config) */
  HEED_SESS_READY = 33, /* word: the worker's frame limit */
  HEED_SESS_STOP = 34,  /* the run is over */
  HEED_SESS_PING = 35,  /* word: a nonce */
  HEED_SESS_PONG = 36,  /* word: the nonce of the PING */
  HEED_SESS_ERROR = 37, /* bytes: a one-line reason (e.g. BUILD failed) */
  HEED_SESS_HELLO = 38, /* session setup (src/cluster): word flags, bytes a
                           nonce and, from process 0, its URL and version */
  HEED_SESS_REFUSE = 39, /* worker -> 0: bytes the reason it will not join */
  HEED_SESS_JOIN = 40,  /* worker -> 0 (launchers): word its rank, bytes the
                           URL it listens at */
  HEED_SESS_TRACE = 41, /* traced workers (src/cluster/trace.c): the low
                           byte of word says which, bytes its payload */
  HEED_SESS_LAST = HEED_SESS_TRACE,
};

typedef struct heed_frame_hdr {
  uint32_t version;
  uint64_t run_id;
  uint32_t from, to;
  uint64_t seq;
} heed_frame_hdr;

typedef struct heed_frame_msg {
  heed_wire_msg m;      /* kind and word for every message */
  const uint8_t *bytes; /* session payload (points into the frame) */
  size_t nbytes;
} heed_frame_msg;

/* A decoded frame; reuse one for many frames, then heed_frame_free. Message
 * floats live in the frame's own aligned arena, valid until the next
 * decode; session bytes point into the decoded buffer. */
typedef struct heed_frame {
  heed_frame_hdr h;
  size_t nmsgs;
  heed_frame_msg *msgs;
  size_t mcap;
  float *arena;
  size_t acap; /* floats */
} heed_frame;

void heed_frame_free(heed_frame *f);

/* What the receiver expects of a frame. */
typedef struct heed_wire_expect {
  size_t max_frame;  /* bytes; 0: HEED_WIRE_MAX_FRAME_DEFAULT */
  int check_run;     /* nonzero: run_id must match */
  uint64_t run_id;
  int check_to;      /* nonzero: `to` must match */
  uint32_t to;
} heed_wire_expect;

/* Decodes p[0..n). Returns 0, or:
 *   HEED_ERANGE   oversized (n above the limit) or a field out of range
 *   HEED_ETRUNC   cut short
 *   HEED_EFORMAT  garbage: not a heed frame, wrong types, trailing bytes
 *   HEED_EVERSION another protocol version
 *   HEED_EPROTO   another run id or another receiver
 *   HEED_ENOMEM
 * with a one-line reason in why. */
int heed_wire_decode(heed_frame *f, const uint8_t *p, size_t n,
                     const heed_wire_expect *ex, char *why, size_t whylen);

/* A growable byte buffer that messages are encoded into. */
typedef struct heed_wbuf {
  uint8_t *p;
  size_t len, cap;
} heed_wbuf;

void heed_wbuf_free(heed_wbuf *b);
/* Appends one net message / one session message. 0 or HEED_ENOMEM. */
int heed_wire_put_msg(heed_wbuf *b, const heed_wire_msg *m);
int heed_wire_put_sess(heed_wbuf *b, uint32_t kind, uint64_t word,
                       const void *bytes, size_t nbytes);
/* Writes the frame header for nmsgs messages (which follow it) into out
 * (HEED_WIRE_HDR_MAX bytes); returns its length. */
size_t heed_wire_header(uint8_t *out, const heed_frame_hdr *h, uint32_t nmsgs);
/* Encodes a whole frame into b (header then messages): for tests/tools. */
int heed_wire_frame(heed_wbuf *b, const heed_frame_hdr *h,
                    const heed_frame_msg *msgs, size_t n);

/* Neurons lo..lo+count-1 of weight layer `layer` (count 0: the whole layer,
 * lo 0) play spec; applied in order after the run's strategy. */
typedef struct heed_wire_assign {
  uint32_t layer, lo, count;
  char spec[256];
} heed_wire_assign;

/* The run configuration BUILD carries. */
typedef struct heed_run_config {
  uint64_t run_id, seed, max_frame;
  uint32_t nprocs, self, threads, max_batch, init, nsizes;
  double lr;
  uint32_t sizes[HEED_WIRE_MAX_LAYERS + 1];
  uint32_t acts[HEED_WIRE_MAX_LAYERS];       /* nsizes - 1 */
  uint32_t layer_proc[HEED_WIRE_MAX_LAYERS]; /* nsizes - 1 */
  /* Sliced placement (nshare = (nsizes - 1) * nprocs, layer_proc then
   * unused) or whole layers (nshare = 0): neurons of weight layer l on
   * process p, share[(l-1) * nprocs + p]; each layer's shares sum to its
   * size. */
  uint32_t nshare;
  uint32_t share[HEED_WIRE_MAX_LAYERS * HEED_WIRE_MAX_PROCS];
  char strategy[256];
  char urls[HEED_WIRE_MAX_PROCS][HEED_WIRE_URL_MAX]; /* nprocs */
  uint32_t nplugins;
  char plugins[HEED_WIRE_MAX_PLUGINS][512];
  uint32_t nassign;
  heed_wire_assign assign[HEED_WIRE_MAX_ASSIGN];
} heed_run_config;

int heed_wire_config_encode(heed_wbuf *b, const heed_run_config *c);
/* Strict like heed_wire_decode: every count and string length checked. */
int heed_wire_config_decode(heed_run_config *c, const uint8_t *p, size_t n,
                            char *why, size_t whylen);

/* "FORWARD", "PING", ... or "?" */
const char *heed_wire_kind_name(uint32_t kind);

#endif
