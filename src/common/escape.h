/*
 * escape.h - making outside text safe to echo in a one-line error
 * (internal). Names read from a checkpoint or a command line may hold
 * newlines, escape sequences or megabytes: an error message must stay one
 * short line whatever they hold.
 */
#ifndef HEED_COMMON_ESCAPE_H
#define HEED_COMMON_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Longest piece of outside text an error echoes (bytes of the source). */
#define HEED_ESCAPE_MAX 64

/* Writes the first n bytes of s (or up to its NUL) into out (cap bytes,
 * NUL-terminated): printable ASCII as is, backslash and quote escaped,
 * everything else as \xHH, and "..." when s is longer than HEED_ESCAPE_MAX
 * or out is full. Returns out, so it can sit in a printf argument list. */
static inline const char *heed__escape(const char *s, size_t n, char *out,
                                       size_t cap) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0, i = 0;
  if (!cap)
    return out;
  for (; s && i < n && s[i] && i < HEED_ESCAPE_MAX; i++) {
    unsigned char c = (unsigned char)s[i];
    char tmp[4];
    size_t k = 0;
    if (c == '\\' || c == '\'' || c == '"') {
      tmp[k++] = '\\';
      tmp[k++] = (char)c;
    } else if (c >= 0x20 && c < 0x7f) {
      tmp[k++] = (char)c;
    } else {
      tmp[k++] = '\\';
      tmp[k++] = 'x';
      tmp[k++] = hex[c >> 4];
      tmp[k++] = hex[c & 15];
    }
    if (o + k + 4 > cap) /* room for this, "..." and the NUL */
      break;
    for (size_t j = 0; j < k; j++)
      out[o++] = tmp[j];
  }
  if (s && i < n && s[i] && o + 4 <= cap) {
    out[o++] = '.';
    out[o++] = '.';
    out[o++] = '.';
  }
  out[o < cap ? o : cap - 1] = 0;
  return out;
}

/* Size of an out buffer that always holds a whole escaped string. */
#define HEED_ESCAPE_BUF (4 * HEED_ESCAPE_MAX + 4)

#endif
