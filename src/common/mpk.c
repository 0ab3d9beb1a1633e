/*
 * mpk.c - a bounds walk over raw msgpack bytes (see mpk.h): it runs before
 * msgpack-c unpacks anything, because msgpack-c allocates for an array or
 * map as soon as it reads the declared count, before it knows whether the
 * elements are there.
 */
#include "common/mpk.h"

#include "heed/error.h"

static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* The type byte t: scalar/raw payload length, or element count (kind 1
 * array, 2 map), and how many header bytes follow t. */
static int head(uint8_t t, uint64_t *len, uint64_t *count, int *hdr,
                int *extra, int *kind) {
  *len = *count = 0;
  *hdr = *extra = *kind = 0;
  if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
    return 0;
  if (t >= 0x80 && t <= 0x8f) {
    *count = t & 0x0f;
    *kind = 2;
    return 0;
  }
  if (t >= 0x90 && t <= 0x9f) {
    *count = t & 0x0f;
    *kind = 1;
    return 0;
  }
  if (t >= 0xa0 && t <= 0xbf) {
    *len = t & 0x1f;
    return 0;
  }
  switch (t) {
  case 0xc4: case 0xd9: *hdr = 1; break;             /* bin8, str8 */
  case 0xc5: case 0xda: *hdr = 2; break;             /* bin16, str16 */
  case 0xc6: case 0xdb: *hdr = 4; break;             /* bin32, str32 */
  case 0xc7: *hdr = 1; *extra = 1; break;            /* ext8 */
  case 0xc8: *hdr = 2; *extra = 1; break;            /* ext16 */
  case 0xc9: *hdr = 4; *extra = 1; break;            /* ext32 */
  case 0xca: case 0xce: case 0xd2: *len = 4; break;  /* f32, u32, i32 */
  case 0xcb: case 0xcf: case 0xd3: *len = 8; break;  /* f64, u64, i64 */
  case 0xcc: case 0xd0: *len = 1; break;
  case 0xcd: case 0xd1: *len = 2; break;
  case 0xd4: *len = 2; break; /* fixext 1..16: type byte + data */
  case 0xd5: *len = 3; break;
  case 0xd6: *len = 5; break;
  case 0xd7: *len = 9; break;
  case 0xd8: *len = 17; break;
  case 0xdc: *hdr = 2; *kind = 1; break;
  case 0xdd: *hdr = 4; *kind = 1; break;
  case 0xde: *hdr = 2; *kind = 2; break;
  case 0xdf: *hdr = 4; *kind = 2; break;
  default: return HEED_EFORMAT; /* 0xc1 is never used */
  }
  return 0;
}

/* The check for one declared size: beyond what the object may take is
 * garbage, beyond the bytes at hand is a cut. */
static int fits(uint64_t want, size_t have, size_t may) {
  return want > may ? HEED_EFORMAT : want > have ? HEED_ETRUNC : 0;
}

int heed__mpk_skim(const uint8_t *p, size_t n, size_t max, size_t *off,
                   int max_depth) {
  if (n > max)
    n = max;
  if (max_depth < 0)
    return HEED_EFORMAT;
  if (*off >= n)
    return *off >= max ? HEED_EFORMAT : HEED_ETRUNC;
  uint64_t len, count;
  int hdr, extra, kind;
  if (head(p[(*off)++], &len, &count, &hdr, &extra, &kind))
    return HEED_EFORMAT;
  size_t left = n - *off, may = max - *off;
  int rv;
  if (hdr) {
    if ((rv = fits((uint64_t)hdr, left, may)) != 0)
      return rv;
    uint64_t v = be(p + *off, hdr);
    *off += (size_t)hdr;
    left -= (size_t)hdr;
    may -= (size_t)hdr;
    if (kind)
      count = v;
    else
      len = v + (uint64_t)extra;
  }
  if (!kind) {
    if ((rv = fits(len, left, may)) != 0)
      return rv;
    *off += (size_t)len;
    return 0;
  }
  /* Every element takes at least one byte. */
  uint64_t items = kind == 2 ? 2 * count : count;
  if ((rv = fits(items, left, may)) != 0)
    return rv;
  for (uint64_t i = 0; i < items; i++)
    if ((rv = heed__mpk_skim(p, n, max, off, max_depth - 1)) != 0)
      return rv;
  return 0;
}
