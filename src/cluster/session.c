/*
 * session.c - the handshake before BUILD (docs/protocol.md, "A session")
 * and the small helpers coordinator and worker share.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

#include "cluster/internal.h"

void heed__cpy(char *dst, size_t cap, const char *s) {
  size_t n = strlen(s);
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, s, n);
  dst[n] = 0;
}

double heed__now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void heed__random(void *out, size_t n) {
  uint8_t *p = out;
  while (n) {
    ssize_t k = getrandom(p, n, 0);
    if (k <= 0) { /* no kernel entropy call: still unique per process */
      uint64_t v = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^
                   (uint64_t)getpid() ^ (uint64_t)(uintptr_t)p;
      k = n < sizeof v ? (ssize_t)n : (ssize_t)sizeof v;
      memcpy(p, &v, (size_t)k);
    }
    p += k;
    n -= (size_t)k;
  }
}

uint64_t heed__random64(void) {
  uint64_t v;
  heed__random(&v, sizeof v);
  return v ? v : 1;
}

int heed__url_is_loopback(const char *url) {
  if (!strncmp(url, "ipc://", 6))
    return 1;
  if (strncmp(url, "tcp://", 6))
    return 0;
  const char *h = url + 6;
  return h[0] == ':' || !strncmp(h, "127.", 4) ||
         !strncmp(h, "localhost:", 10) || !strncmp(h, "[::1]:", 6);
}

int heed__hello_encode(const heed_hello *h, uint8_t *out, size_t cap,
                       size_t *len) {
  size_t v = strlen(h->version) + 1, u = strlen(h->url);
  if (HEED_NONCE_LEN + v + u > cap)
    return HEED_ERANGE;
  memcpy(out, h->nonce, HEED_NONCE_LEN);
  memcpy(out + HEED_NONCE_LEN, h->version, v);
  memcpy(out + HEED_NONCE_LEN + v, h->url, u);
  *len = HEED_NONCE_LEN + v + u;
  return 0;
}

/* Printable ASCII only (and no space, with `url`): these strings end up
 * in log lines and in a dial. */
static int printable(const uint8_t *p, size_t n, int url) {
  for (size_t i = 0; i < n; i++)
    if (p[i] < (url ? 0x21 : 0x20) || p[i] > 0x7e)
      return 0;
  return 1;
}

int heed__hello_decode(heed_hello *h, const uint8_t *p, size_t n, char *why,
                       size_t whylen) {
  memset(h, 0, sizeof *h);
  if (n < HEED_NONCE_LEN + 1) {
    snprintf(why, whylen, "a HELLO of %zu bytes", n);
    return HEED_ETRUNC;
  }
  memcpy(h->nonce, p, HEED_NONCE_LEN);
  p += HEED_NONCE_LEN;
  n -= HEED_NONCE_LEN;
  const uint8_t *z = memchr(p, 0, n);
  size_t v = z ? (size_t)(z - p) : n;
  if (!z || v >= sizeof h->version || !printable(p, v, 0) ||
      n - v - 1 >= sizeof h->url || !printable(z + 1, n - v - 1, 1) ||
      n - v - 1 < 7) {
    snprintf(why, whylen, "a malformed HELLO");
    return HEED_EFORMAT;
  }
  memcpy(h->version, p, v);
  memcpy(h->url, z + 1, n - v - 1);
  if (strncmp(h->url, "tcp://", 6) && strncmp(h->url, "ipc://", 6)) {
    snprintf(why, whylen, "a HELLO naming no tcp:// or ipc:// URL");
    return HEED_EFORMAT;
  }
  return 0;
}

void heed__session_mac(const void *key, size_t keylen, const char *role,
                       uint64_t run_id, unsigned worker,
                       const uint8_t *nonce_c, const uint8_t *nonce_w,
                       const void *extra, size_t extralen,
                       uint8_t out[HEED_SHA256_LEN]) {
  heed_hmac m;
  uint8_t w[12];
  for (int i = 0; i < 8; i++)
    w[i] = (uint8_t)(run_id >> (8 * i));
  for (int i = 0; i < 4; i++)
    w[8 + i] = (uint8_t)(worker >> (8 * i));
  heed__hmac_init(&m, key, keylen);
  heed__hmac_update(&m, "heed-session-v1 ", 16);
  heed__hmac_update(&m, role, strlen(role) + 1);
  heed__hmac_update(&m, w, sizeof w);
  heed__hmac_update(&m, nonce_c, HEED_NONCE_LEN);
  heed__hmac_update(&m, nonce_w, HEED_NONCE_LEN);
  if (extralen)
    heed__hmac_update(&m, extra, extralen);
  heed__hmac_final(&m, out);
}

int heed__send_once(const char *url, uint64_t run_id, unsigned from,
                    unsigned to, uint32_t kind, uint64_t word,
                    const void *bytes, size_t n, int timeout_ms) {
  heed_wbuf b = {0};
  heed_frame_hdr h = {.version = HEED_WIRE_VERSION, .run_id = run_id,
                      .from = from, .to = to};
  heed_frame_msg fm = {.m = {.kind = kind, .word = word}, .bytes = bytes,
                       .nbytes = n};
  nng_socket s;
  int rv = heed_wire_frame(&b, &h, &fm, 1);
  if (rv)
    goto out;
  rv = HEED_EIO;
  if (nng_push0_open(&s))
    goto out;
  nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
  if (nng_dial(s, url, NULL, 0) == 0 && nng_send(s, b.p, b.len, 0) == 0) {
    rv = 0;
    /* nng_close drops what is still queued and nng has no flush: give
     * the connected pipe time to write the one small frame. */
    usleep(200000);
  }
  nng_close(s);
out:
  heed_wbuf_free(&b);
  return rv;
}
