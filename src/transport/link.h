/*
 * link.h - one process's end of the distributed transport (internal).
 *
 * Every process listens with one nng PULL socket at its URL and dials one
 * PUSH socket to each peer it sends to (docs/architecture.md, "Transport").
 * Sends never wait for the network: a message goes straight to nng when
 * it can take it at once (NNG_FLAG_NONBLOCK), else it is encoded into the
 * peer's outbox and a sender thread per peer ships everything that has
 * gathered as one frame (coalescing), splitting only where a frame would
 * pass the peer's size limit. Frames to one peer leave in the order they
 * were sent. A send never blocks either: an outbox that outgrows its
 * backlog limit (the peer stopped reading) fails that peer with
 * HEED_EPEER and one logged line instead of stalling the sending thread.
 */
#ifndef HEED_TRANSPORT_LINK_H
#define HEED_TRANSPORT_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "transport/wire.h"

/* An outbox holds at least this many bytes (or 4 frames) before its peer
 * counts as stuck. */
#define HEED_LINK_BACKLOG ((size_t)256 << 20)

typedef struct heed_link heed_link;

/* Listens at url (ipc:// or tcp://; a tcp URL without a host binds to
 * 127.0.0.1). max_frame bounds what this process accepts. `who` prefixes
 * log lines ("heed worker"). */
int heed_link_open(heed_link **lp, const char *url, size_t max_frame,
                   const char *who, char *err, size_t errlen);
/* The URL peers dial (a tcp port 0 resolved to the bound port). */
const char *heed_link_url(const heed_link *l);
/* Identity written into the header of every frame sent from now on. */
void heed_link_set_run(heed_link *l, uint64_t run_id, unsigned self);
/* Dials process `id` at url; frames to it stay under peer_max_frame. */
int heed_link_add_peer(heed_link *l, unsigned id, const char *url,
                       size_t peer_max_frame, char *err, size_t errlen);
void heed_link_set_peer_limit(heed_link *l, unsigned id, size_t max_frame);
/* Waits up to timeout_ms until the outbox of `id` (every peer: -1) has
 * been handed to nng. 0 or HEED_ETIMEDOUT. */
int heed_link_flush(heed_link *l, int id, int timeout_ms);
/* Closes every peer (ends a run). */
void heed_link_drop_peers(heed_link *l);

/* Sets the backlog limit of every outbox (0: the default); for tests. */
void heed_link_set_backlog(heed_link *l, size_t bytes);

/* Queue a net / session message for `to`. Thread-safe; copies; never
 * waits for the network. HEED_EPEER once the peer's outbox overflowed
 * or its sender failed, HEED_ECLOSED after the peer was dropped. */
int heed_link_send(heed_link *l, unsigned to, const heed_wire_msg *m);
int heed_link_send_sess(heed_link *l, unsigned to, uint32_t kind,
                        uint64_t word, const void *bytes, size_t n);

/* Receives and decodes one frame within timeout_ms. Returns 0 (f holds it,
 * valid until the next call), HEED_ETIMEDOUT, HEED_ECLOSED, or the decode
 * error after logging one line with the reason. One thread at a time. */
int heed_link_recv(heed_link *l, heed_frame *f, const heed_wire_expect *ex,
                   int timeout_ms);

/* Frames and bytes sent so far (benchmarks). */
void heed_link_stats(heed_link *l, uint64_t *frames, uint64_t *msgs,
                     uint64_t *bytes);

void heed_link_close(heed_link *l);

#endif
