/*
 * link.c - nng PULL/PUSH sockets, per-peer outboxes and sender threads
 * that coalesce queued messages into frames.
 */
#include "transport/link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include "common/alloc.h"
#include "heed/error.h"

typedef struct peer peer;
static void peer_free(peer *p);

struct peer {
  heed_link *l;
  unsigned id;
  int open;
  nng_socket sock;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;    /* messages queued or stop */
  pthread_cond_t space; /* outbox drained */
  heed_wbuf pend;       /* encoded messages, back to back */
  size_t *ends;         /* end offset of each queued message */
  size_t nends, ecap;
  heed_wbuf spare;      /* recycled buffer */
  int busy, stop, err;
  size_t max_frame;
  uint64_t seq;
  int warned; /* the backlog overflow was logged */
};

struct heed_link {
  nng_socket pull;
  nng_listener listener;
  char url[HEED_WIRE_URL_MAX];
  char who[32];
  size_t max_frame;
  int recv_timeo;
  size_t backlog; /* bytes an outbox may hold; 0: the default */
  nng_msg *last; /* the frame the last recv decoded */
  pthread_mutex_t mu;
  uint64_t run_id;
  unsigned self;
  peer *peers[HEED_WIRE_MAX_PROCS];
  pthread_mutex_t stmu;
  uint64_t frames, msgs, bytes;
};

static void setf(char *err, size_t len, const char *fmt, const char *a,
                 const char *b) {
  if (err && len)
    snprintf(err, len, fmt, a, b);
}

/* tcp://:PORT binds to loopback; everything else is taken as given. */
static void listen_url(const char *url, char *out, size_t len) {
  if (!strncmp(url, "tcp://:", 7))
    snprintf(out, len, "tcp://127.0.0.1:%s", url + 7);
  else
    snprintf(out, len, "%s", url);
}

int heed_link_open(heed_link **lp, const char *url, size_t max_frame,
                   const char *who, char *err, size_t errlen) {
  heed_link *l = heed__calloc(1, sizeof *l);
  int rv;
  *lp = NULL;
  if (!l)
    return HEED_ENOMEM;
  if (strncmp(url, "ipc://", 6) && strncmp(url, "tcp://", 6)) {
    setf(err, errlen, "%s: not an ipc:// or tcp:// URL%s", url, "");
    heed__free(l);
    return HEED_EINVAL;
  }
  l->max_frame = max_frame ? max_frame : HEED_WIRE_MAX_FRAME_DEFAULT;
  snprintf(l->who, sizeof l->who, "%s", who);
  pthread_mutex_init(&l->mu, NULL);
  pthread_mutex_init(&l->stmu, NULL);
  listen_url(url, l->url, sizeof l->url);
  if ((rv = nng_pull0_open(&l->pull)) != 0) {
    setf(err, errlen, "cannot open a socket: %s%s", nng_strerror(rv), "");
    heed__free(l);
    return HEED_EIO;
  }
  /* Frames up to twice the limit are read and rejected with a logged
   * reason; nng drops anything larger without reading it. */
  size_t cap = l->max_frame > SIZE_MAX / 2 ? SIZE_MAX : 2 * l->max_frame;
  nng_socket_set_size(l->pull, NNG_OPT_RECVMAXSZ, cap);
  nng_socket_set_int(l->pull, NNG_OPT_RECVBUF, 64);
  if ((rv = nng_listen(l->pull, l->url, &l->listener, 0)) != 0) {
    setf(err, errlen, "cannot listen at %s: %s", l->url, nng_strerror(rv));
    nng_close(l->pull);
    heed__free(l);
    return rv == NNG_EADDRINUSE ? HEED_EEXIST : HEED_EIO;
  }
  if (!strncmp(l->url, "tcp://", 6)) {
    nng_sockaddr sa;
    if (nng_listener_get_addr(l->listener, NNG_OPT_LOCADDR, &sa) == 0 &&
        sa.s_family == NNG_AF_INET) {
      char ip[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof ip);
      snprintf(l->url, sizeof l->url, "tcp://%s:%u", ip,
               (unsigned)ntohs(sa.s_in.sa_port));
    }
  }
  *lp = l;
  return 0;
}

const char *heed_link_url(const heed_link *l) { return l->url; }

void heed_link_set_run(heed_link *l, uint64_t run_id, unsigned self) {
  pthread_mutex_lock(&l->mu);
  l->run_id = run_id;
  l->self = self;
  pthread_mutex_unlock(&l->mu);
}

/* Takes the longest prefix of the outbox that fits one frame. */
static size_t take(peer *p, size_t *nbytes) {
  size_t room = p->max_frame - HEED_WIRE_HDR_MAX, k = 0;
  while (k < p->nends && p->ends[k] <= room)
    k++;
  if (!k)
    k = 1; /* cannot happen: send() refuses messages above the limit */
  *nbytes = p->ends[k - 1];
  return k;
}

/* Builds the nng message for a frame of k messages (nb bytes at body). */
static int make_frame(heed_link *l, peer *p, uint64_t seq, size_t k,
                      const uint8_t *body, size_t nb, nng_msg **out,
                      size_t *len) {
  pthread_mutex_lock(&l->mu);
  heed_frame_hdr h = {HEED_WIRE_VERSION, l->run_id, l->self, p->id, seq};
  pthread_mutex_unlock(&l->mu);
  uint8_t hdr[HEED_WIRE_HDR_MAX];
  size_t hl = heed_wire_header(hdr, &h, (uint32_t)k);
  int rv = nng_msg_alloc(out, hl + nb);
  if (rv)
    return rv;
  uint8_t *m = nng_msg_body(*out);
  memcpy(m, hdr, hl);
  memcpy(m + hl, body, nb);
  *len = hl + nb;
  return 0;
}

/* The sender thread of a peer: ships what gathered in the outbox, as few
 * frames as the peer's limit allows. It is the only thread that waits for
 * nng (nng_sendmsg blocks while the peer is not reading); senders only
 * append to the outbox under the lock, so they never wait for the
 * network, and the outbox is copied out of the lock when taken whole. */
static void *sender(void *arg) {
  peer *p = arg;
  heed_link *l = p->l;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while ((!p->nends || p->busy) && !p->stop)
      pthread_cond_wait(&p->cv, &p->mu);
    if (!p->nends)
      break;
    size_t nb, k = take(p, &nb), len = 0;
    uint64_t seq = p->seq++;
    nng_msg *m = NULL;
    int rv;
    p->busy = 1;
    if (k == p->nends) { /* the usual case: take the buffer, copy unlocked */
      heed_wbuf t = p->pend;
      p->pend = p->spare;
      p->spare = (heed_wbuf){0};
      p->pend.len = 0;
      p->nends = 0;
      pthread_cond_broadcast(&p->space);
      pthread_mutex_unlock(&p->mu);
      rv = make_frame(l, p, seq, k, t.p, nb, &m, &len);
      pthread_mutex_lock(&p->mu);
      if (!p->spare.p)
        p->spare = t; /* recycled for the next swap */
      else
        heed_wbuf_free(&t);
      pthread_mutex_unlock(&p->mu);
    } else { /* past one frame: split off a prefix */
      rv = make_frame(l, p, seq, k, p->pend.p, nb, &m, &len);
      memmove(p->pend.p, p->pend.p + nb, p->pend.len - nb);
      p->pend.len -= nb;
      for (size_t i = k; i < p->nends; i++)
        p->ends[i - k] = p->ends[i] - nb;
      p->nends -= k;
      pthread_cond_broadcast(&p->space);
      pthread_mutex_unlock(&p->mu);
    }
    if (rv == 0) {
      rv = nng_sendmsg(p->sock, m, 0);
      if (rv)
        nng_msg_free(m);
      else {
        pthread_mutex_lock(&l->stmu);
        l->frames++;
        l->msgs += k;
        l->bytes += len;
        pthread_mutex_unlock(&l->stmu);
      }
    }
    pthread_mutex_lock(&p->mu);
    p->busy = 0;
    pthread_cond_broadcast(&p->space);
    if (rv) {
      p->err = rv == NNG_ENOMEM ? HEED_ENOMEM : HEED_EPEER;
      break;
    }
  }
  p->nends = 0;
  p->pend.len = 0;
  pthread_cond_broadcast(&p->space);
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int heed_link_add_peer(heed_link *l, unsigned id, const char *url,
                       size_t peer_max_frame, char *err, size_t errlen) {
  if (id >= HEED_WIRE_MAX_PROCS)
    return HEED_EINVAL;
  if (l->peers[id]) { /* from an earlier run: no sender can reach it now */
    if (!l->peers[id]->stop)
      return HEED_EEXIST;
    peer_free(l->peers[id]);
    l->peers[id] = NULL;
  }
  peer *p = heed__calloc(1, sizeof *p);
  if (!p)
    return HEED_ENOMEM;
  p->l = l;
  p->id = id;
  p->max_frame = peer_max_frame ? peer_max_frame : HEED_WIRE_MAX_FRAME_DEFAULT;
  int rv = nng_push0_open(&p->sock);
  if (rv) {
    setf(err, errlen, "cannot open a socket: %s%s", nng_strerror(rv), "");
    heed__free(p);
    return HEED_EIO;
  }
  p->open = 1;
  nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, 20);
  nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, 200);
  nng_socket_set_int(p->sock, NNG_OPT_SENDBUF, 64);
  char u[HEED_WIRE_URL_MAX];
  listen_url(url, u, sizeof u);
  if ((rv = nng_dial(p->sock, u, NULL, NNG_FLAG_NONBLOCK)) != 0) {
    setf(err, errlen, "cannot dial %s: %s", u, nng_strerror(rv));
    nng_close(p->sock);
    heed__free(p);
    return HEED_EIO;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  pthread_cond_init(&p->space, NULL);
  if (pthread_create(&p->th, NULL, sender, p)) {
    nng_close(p->sock);
    heed__free(p);
    return HEED_ENOMEM;
  }
  l->peers[id] = p;
  return 0;
}

void heed_link_set_peer_limit(heed_link *l, unsigned id, size_t max_frame) {
  peer *p = id < HEED_WIRE_MAX_PROCS ? l->peers[id] : NULL;
  if (!p || max_frame < HEED_WIRE_MIN_FRAME)
    return;
  pthread_mutex_lock(&p->mu);
  p->max_frame = max_frame;
  pthread_mutex_unlock(&p->mu);
}

static void deadline(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

int heed_link_flush(heed_link *l, int id, int timeout_ms) {
  struct timespec ts;
  deadline(&ts, timeout_ms);
  for (unsigned i = 0; i < HEED_WIRE_MAX_PROCS; i++) {
    peer *p = l->peers[i];
    if (!p || (id >= 0 && (unsigned)id != i))
      continue;
    pthread_mutex_lock(&p->mu);
    while ((p->nends || p->busy) && !p->err)
      if (pthread_cond_timedwait(&p->space, &p->mu, &ts) == ETIMEDOUT) {
        pthread_mutex_unlock(&p->mu);
        return HEED_ETIMEDOUT;
      }
    pthread_mutex_unlock(&p->mu);
  }
  return 0;
}

/* Stops a peer's sender and closes its socket; the struct stays (a late
 * send finds it closed) until the next run or heed_link_close. */
static void peer_stop(peer *p) {
  pthread_mutex_lock(&p->mu);
  int was = p->stop;
  p->stop = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_cond_broadcast(&p->space);
  pthread_mutex_unlock(&p->mu);
  if (was)
    return;
  nng_close(p->sock); /* wakes a blocked nng_sendmsg */
  pthread_join(p->th, NULL);
}

static void peer_free(peer *p) {
  peer_stop(p);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  pthread_cond_destroy(&p->space);
  heed_wbuf_free(&p->pend);
  heed_wbuf_free(&p->spare);
  heed__free(p->ends);
  heed__free(p);
}

void heed_link_drop_peers(heed_link *l) {
  for (unsigned i = 0; i < HEED_WIRE_MAX_PROCS; i++)
    if (l->peers[i])
      peer_stop(l->peers[i]);
}

/* Sends one message as its own frame without waiting (called and
 * returning with p->mu held; drops it while sending). If nng cannot take
 * it at once, it goes to the front of the outbox for the sender thread. */
static int send_now(heed_link *l, peer *p, const heed_wire_msg *m,
                    uint32_t kind, uint64_t word, const void *bytes,
                    size_t n) {
  p->busy = 1;
  uint64_t seq = p->seq;
  pthread_mutex_unlock(&p->mu);
  heed_wbuf b = {0};
  int rv = m ? heed_wire_put_msg(&b, m)
             : heed_wire_put_sess(&b, kind, word, bytes, n);
  pthread_mutex_lock(&l->mu);
  heed_frame_hdr h = {HEED_WIRE_VERSION, l->run_id, l->self, p->id, seq};
  pthread_mutex_unlock(&l->mu);
  uint8_t hdr[HEED_WIRE_HDR_MAX];
  size_t hl = heed_wire_header(hdr, &h, 1);
  nng_msg *nm = NULL;
  int nrv = -1;
  if (!rv && nng_msg_alloc(&nm, hl + b.len) == 0) {
    uint8_t *body = nng_msg_body(nm);
    memcpy(body, hdr, hl);
    memcpy(body + hl, b.p, b.len);
    nrv = nng_sendmsg(p->sock, nm, NNG_FLAG_NONBLOCK);
    if (nrv)
      nng_msg_free(nm);
  }
  pthread_mutex_lock(&p->mu);
  p->busy = 0;
  if (nrv == 0) {
    p->seq = seq + 1;
    pthread_mutex_lock(&l->stmu);
    l->frames++;
    l->msgs++;
    l->bytes += hl + b.len;
    pthread_mutex_unlock(&l->stmu);
  } else if (!rv && (nrv == NNG_EAGAIN || nrv == NNG_ENOMEM || nrv < 0)) {
    /* Queue it ahead of whatever arrived meanwhile. */
    size_t need = p->pend.len + b.len;
    if (need > p->pend.cap) {
      uint8_t *q = heed__realloc(p->pend.p, need);
      if (!q)
        rv = HEED_ENOMEM;
      else {
        p->pend.p = q;
        p->pend.cap = need;
      }
    }
    if (!rv && p->nends == p->ecap) {
      size_t cap = p->ecap ? 2 * p->ecap : 64;
      size_t *e = heed__realloc(p->ends, cap * sizeof *e);
      if (!e)
        rv = HEED_ENOMEM;
      else {
        p->ends = e;
        p->ecap = cap;
      }
    }
    if (!rv) {
      memmove(p->pend.p + b.len, p->pend.p, p->pend.len);
      memcpy(p->pend.p, b.p, b.len);
      p->pend.len += b.len;
      memmove(p->ends + 1, p->ends, p->nends * sizeof *p->ends);
      p->ends[0] = 0;
      p->nends++;
      for (size_t i = 0; i < p->nends; i++)
        p->ends[i] += b.len;
    }
  } else if (!rv) {
    rv = p->err = HEED_EPEER;
  }
  pthread_cond_broadcast(&p->cv);
  pthread_cond_broadcast(&p->space);
  heed_wbuf_free(&b);
  return rv;
}

/* Bytes an outbox may hold before its peer counts as stuck. */
static size_t backlog_of(const heed_link *l, const peer *p) {
  if (l->backlog)
    return l->backlog;
  size_t four = p->max_frame > SIZE_MAX / 4 ? SIZE_MAX : 4 * p->max_frame;
  return four > HEED_LINK_BACKLOG ? four : HEED_LINK_BACKLOG;
}

void heed_link_set_backlog(heed_link *l, size_t bytes) { l->backlog = bytes; }

/* Encodes into the outbox of `to` under its lock. */
static int enqueue(heed_link *l, unsigned to, const heed_wire_msg *m,
                   uint32_t kind, uint64_t word, const void *bytes, size_t n) {
  peer *p = to < HEED_WIRE_MAX_PROCS ? l->peers[to] : NULL;
  if (!p)
    return HEED_EINVAL;
  size_t est = m ? 100 + m->nfloats * 4 : 32 + n;
  pthread_mutex_lock(&p->mu);
  int rv = p->err;
  if (!rv && est > p->max_frame - HEED_WIRE_HDR_MAX) {
    fprintf(stderr, "%s: a %s message of %zu bytes is over process %u's "
                    "frame limit of %zu bytes (see --max-frame)\n",
            l->who, heed_wire_kind_name(m ? m->kind : kind), est, to,
            p->max_frame);
    rv = HEED_ERANGE;
  }
  /* Never wait here: the caller is an actor's loop thread. The net's own
   * flow control keeps an outbox small; one that outgrows the backlog
   * means the peer stopped reading, and the run fails with a reason. */
  if (!rv && !p->stop && p->pend.len + est > backlog_of(l, p)) {
    if (!p->warned)
      fprintf(stderr, "%s: process %u is not taking messages: %zu bytes "
                      "wait for it (the limit is %zu); giving up on it\n",
              l->who, to, p->pend.len, backlog_of(l, p));
    p->warned = 1;
    rv = p->err = HEED_EPEER;
  }
  if (!rv && (p->stop || p->err))
    rv = p->err ? p->err : HEED_ECLOSED;
  if (!rv && p->nends == p->ecap) {
    size_t cap = p->ecap ? 2 * p->ecap : 64;
    size_t *e = heed__realloc(p->ends, cap * sizeof *e);
    if (!e)
      rv = HEED_ENOMEM;
    else {
      p->ends = e;
      p->ecap = cap;
    }
  }
  if (!rv && !p->busy && !p->nends) {
    /* Nothing queued and nobody sending: send from this thread. */
    rv = send_now(l, p, m, kind, word, bytes, n);
    pthread_mutex_unlock(&p->mu);
    return rv;
  }
  if (!rv)
    rv = m ? heed_wire_put_msg(&p->pend, m)
           : heed_wire_put_sess(&p->pend, kind, word, bytes, n);
  if (!rv) {
    p->ends[p->nends++] = p->pend.len;
    pthread_cond_signal(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
  return rv;
}

int heed_link_send(heed_link *l, unsigned to, const heed_wire_msg *m) {
  return enqueue(l, to, m, 0, 0, NULL, 0);
}

int heed_link_send_sess(heed_link *l, unsigned to, uint32_t kind,
                        uint64_t word, const void *bytes, size_t n) {
  return enqueue(l, to, NULL, kind, word, bytes, n);
}

static void describe_pipe(nng_msg *m, char *out, size_t len) {
  nng_sockaddr sa;
  nng_pipe pp = nng_msg_get_pipe(m);
  out[0] = 0;
  if (nng_pipe_id(pp) > 0 &&
      nng_pipe_get_addr(pp, NNG_OPT_REMADDR, &sa) == 0 &&
      sa.s_family == NNG_AF_INET) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof ip);
    snprintf(out, len, " from %s:%u", ip, (unsigned)ntohs(sa.s_in.sa_port));
  }
}

int heed_link_recv(heed_link *l, heed_frame *f, const heed_wire_expect *ex,
                   int timeout_ms) {
  if (l->last) {
    nng_msg_free(l->last);
    l->last = NULL;
  }
  if (timeout_ms != l->recv_timeo) {
    nng_socket_set_ms(l->pull, NNG_OPT_RECVTIMEO, timeout_ms);
    l->recv_timeo = timeout_ms;
  }
  nng_msg *m;
  int rv = nng_recvmsg(l->pull, &m, 0);
  if (rv == NNG_ETIMEDOUT)
    return HEED_ETIMEDOUT;
  if (rv)
    return rv == NNG_ECLOSED ? HEED_ECLOSED : HEED_EIO;
  heed_wire_expect e = ex ? *ex : (heed_wire_expect){0};
  e.max_frame = l->max_frame;
  char why[256];
  rv = heed_wire_decode(f, nng_msg_body(m), nng_msg_len(m), &e, why,
                        sizeof why);
  if (rv) {
    char from[64];
    describe_pipe(m, from, sizeof from);
    fprintf(stderr, "%s: rejected a frame of %zu bytes%s: %s\n", l->who,
            nng_msg_len(m), from, why);
    nng_msg_free(m);
    return rv;
  }
  l->last = m;
  return 0;
}

void heed_link_stats(heed_link *l, uint64_t *frames, uint64_t *msgs,
                     uint64_t *bytes) {
  pthread_mutex_lock(&l->stmu);
  if (frames)
    *frames = l->frames;
  if (msgs)
    *msgs = l->msgs;
  if (bytes)
    *bytes = l->bytes;
  pthread_mutex_unlock(&l->stmu);
}

void heed_link_close(heed_link *l) {
  if (!l)
    return;
  for (unsigned i = 0; i < HEED_WIRE_MAX_PROCS; i++)
    if (l->peers[i])
      peer_free(l->peers[i]);
  nng_close(l->pull);
  if (l->last)
    nng_msg_free(l->last);
  pthread_mutex_destroy(&l->mu);
  pthread_mutex_destroy(&l->stmu);
  heed__free(l);
}
