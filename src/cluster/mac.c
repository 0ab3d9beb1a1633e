/*
 * mac.c - SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104) for the
 * cluster handshake. Written here rather than pulled from a crypto library
 * because the handshake needs only these two functions; they are checked
 * against the test vectors of FIPS 180-4 and RFC 4231 in
 * tests/unit/cluster_test.c.
 */
#include <string.h>

#include "cluster/internal.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void compress(heed_sha256 *s, const uint8_t *p) {
  uint32_t w[64], a[8];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
           (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  memcpy(a, s->h, sizeof a);
  for (int i = 0; i < 64; i++) {
    uint32_t S1 = ror(a[4], 6) ^ ror(a[4], 11) ^ ror(a[4], 25);
    uint32_t ch = (a[4] & a[5]) ^ (~a[4] & a[6]);
    uint32_t t1 = a[7] + S1 + ch + K[i] + w[i];
    uint32_t S0 = ror(a[0], 2) ^ ror(a[0], 13) ^ ror(a[0], 22);
    uint32_t maj = (a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]);
    memmove(a + 1, a, 7 * sizeof a[0]);
    a[4] += t1;
    a[0] = t1 + S0 + maj;
  }
  for (int i = 0; i < 8; i++)
    s->h[i] += a[i];
}

void heed__sha256_init(heed_sha256 *s) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                 0xa54ff53a, 0x510e527f, 0x9b05688c,
                                 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, h0, sizeof h0);
  s->n = 0;
  s->used = 0;
}

void heed__sha256_update(heed_sha256 *s, const void *data, size_t len) {
  const uint8_t *p = data;
  s->n += len;
  while (len) {
    size_t k = 64 - s->used < len ? 64 - s->used : len;
    memcpy(s->buf + s->used, p, k);
    s->used += k;
    p += k;
    len -= k;
    if (s->used == 64) {
      compress(s, s->buf);
      s->used = 0;
    }
  }
}

void heed__sha256_final(heed_sha256 *s, uint8_t out[HEED_SHA256_LEN]) {
  uint64_t bits = s->n * 8;
  uint8_t pad = 0x80, zero = 0, len[8];
  heed__sha256_update(s, &pad, 1);
  while (s->used != 56)
    heed__sha256_update(s, &zero, 1);
  for (int i = 0; i < 8; i++)
    len[i] = (uint8_t)(bits >> (56 - 8 * i));
  heed__sha256_update(s, len, 8);
  for (int i = 0; i < 8; i++)
    for (int k = 0; k < 4; k++)
      out[4 * i + k] = (uint8_t)(s->h[i] >> (24 - 8 * k));
}

void heed__hmac_init(heed_hmac *m, const void *key, size_t keylen) {
  uint8_t k[64] = {0}, pad[64];
  if (keylen > 64) { /* long keys are hashed first (RFC 2104) */
    heed_sha256 s;
    heed__sha256_init(&s);
    heed__sha256_update(&s, key, keylen);
    heed__sha256_final(&s, k);
  } else if (keylen) {
    memcpy(k, key, keylen);
  }
  for (int i = 0; i < 64; i++)
    pad[i] = k[i] ^ 0x36;
  heed__sha256_init(&m->inner);
  heed__sha256_update(&m->inner, pad, 64);
  for (int i = 0; i < 64; i++)
    pad[i] = k[i] ^ 0x5c;
  heed__sha256_init(&m->outer);
  heed__sha256_update(&m->outer, pad, 64);
  memset(k, 0, sizeof k);
}

void heed__hmac_update(heed_hmac *m, const void *data, size_t len) {
  heed__sha256_update(&m->inner, data, len);
}

void heed__hmac_final(heed_hmac *m, uint8_t out[HEED_SHA256_LEN]) {
  uint8_t ih[HEED_SHA256_LEN];
  heed__sha256_final(&m->inner, ih);
  heed__sha256_update(&m->outer, ih, sizeof ih);
  heed__sha256_final(&m->outer, out);
}

int heed__mac_equal(const uint8_t *a, const uint8_t *b, size_t n) {
  uint8_t d = 0; /* constant time: no early exit on the first difference */
  for (size_t i = 0; i < n; i++)
    d |= a[i] ^ b[i];
  return d == 0;
}
