/* record_read.c - reading run records back: a small JSON reader that
 * flattens objects into dotted keys (record.h). Untrusted input: every
 * byte is checked, depth and size are bounded. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/record.h"

#define MAX_DEPTH 16
#define MAX_FILE ((long)64 << 20)

typedef struct parser {
  const char *s, *p;
  heed_kv *kv;
  char *err;
  size_t errlen;
  int failed;
} parser;

static int fail(parser *ps, const char *what) {
  if (!ps->failed)
    snprintf(ps->err, ps->errlen, "%s at byte %ld", what,
             (long)(ps->p - ps->s));
  ps->failed = 1;
  return -1;
}

static void ws(parser *ps) {
  while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
    ps->p++;
}

static int add(parser *ps, const char *key, const char *v, size_t n) {
  heed_kv *kv = ps->kv;
  char **k2 = realloc(kv->key, (kv->n + 1) * sizeof *k2);
  if (k2)
    kv->key = k2;
  char **v2 = realloc(kv->val, (kv->n + 1) * sizeof *v2);
  if (v2)
    kv->val = v2;
  char *kk = strdup(key), *vv = malloc(n + 1);
  if (!k2 || !v2 || !kk || !vv) {
    free(kk);
    free(vv);
    return fail(ps, "out of memory");
  }
  memcpy(vv, v, n);
  vv[n] = 0;
  kv->key[kv->n] = kk;
  kv->val[kv->n++] = vv;
  return 0;
}

/* A string literal into out (unescaped; \u escapes above 0x7f become '?'). */
static int string(parser *ps, char *out, size_t cap, size_t *len) {
  size_t n = 0;
  if (*ps->p != '"')
    return fail(ps, "expected a string");
  for (ps->p++; *ps->p != '"'; ps->p++) {
    char c = *ps->p;
    if (!c || (unsigned char)c < 0x20)
      return fail(ps, "unterminated string");
    if (c == '\\') {
      c = *++ps->p;
      if (c == 'u') {
        unsigned v = 0;
        for (int k = 0; k < 4; k++) {
          char h = *++ps->p;
          int d = h >= '0' && h <= '9'   ? h - '0'
                  : h >= 'a' && h <= 'f' ? h - 'a' + 10
                  : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                         : -1;
          if (d < 0)
            return fail(ps, "bad \\u escape");
          v = v * 16 + (unsigned)d;
        }
        c = v < 0x80 && v ? (char)v : '?';
      } else {
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *q = c ? strchr(from, c) : NULL;
        if (!q)
          return fail(ps, "bad escape");
        c = to[q - from];
      }
    }
    if (n + 1 < cap)
      out[n++] = c;
  }
  ps->p++;
  out[n] = 0;
  *len = n;
  return 0;
}

static int value(parser *ps, char *key, size_t klen, int depth);

static int object(parser *ps, char *key, size_t klen, int depth) {
  size_t base = strlen(key);
  ps->p++;
  ws(ps);
  if (*ps->p == '}') {
    ps->p++;
    return 0;
  }
  for (;;) {
    char name[256];
    size_t n;
    ws(ps);
    if (string(ps, name, sizeof name, &n))
      return -1;
    if (base + n + 2 >= klen)
      return fail(ps, "key too long");
    snprintf(key + base, klen - base, "%s%s", base ? "." : "", name);
    ws(ps);
    if (*ps->p++ != ':')
      return fail(ps, "expected ':'");
    if (value(ps, key, klen, depth + 1))
      return -1;
    key[base] = 0;
    ws(ps);
    if (*ps->p == ',') {
      ps->p++;
      continue;
    }
    if (*ps->p++ == '}')
      return 0;
    return fail(ps, "expected ',' or '}'");
  }
}

/* Skips a value whose text is kept as written (arrays, numbers, words). */
static int skip(parser *ps, int depth) {
  char buf[8];
  size_t n;
  ws(ps);
  if (depth > MAX_DEPTH)
    return fail(ps, "nested too deep");
  if (*ps->p == '"')
    return string(ps, buf, sizeof buf, &n);
  if (*ps->p == '[' || *ps->p == '{') {
    char close = *ps->p == '[' ? ']' : '}';
    ps->p++;
    ws(ps);
    if (*ps->p == close) {
      ps->p++;
      return 0;
    }
    for (;;) {
      if (close == '}') {
        if (string(ps, buf, sizeof buf, &n))
          return -1;
        ws(ps);
        if (*ps->p++ != ':')
          return fail(ps, "expected ':'");
      }
      if (skip(ps, depth + 1))
        return -1;
      ws(ps);
      if (*ps->p == ',') {
        ps->p++;
        ws(ps);
        continue;
      }
      if (*ps->p++ == close)
        return 0;
      return fail(ps, "expected ',' or a closing bracket");
    }
  }
  const char *q = ps->p;
  while (*ps->p && strchr("+-.0123456789eEtruefalsn", *ps->p))
    ps->p++;
  return ps->p > q ? 0 : fail(ps, "expected a value");
}

static int value(parser *ps, char *key, size_t klen, int depth) {
  ws(ps);
  if (depth > MAX_DEPTH)
    return fail(ps, "nested too deep");
  if (*ps->p == '{')
    return object(ps, key, klen, depth);
  if (*ps->p == '"') {
    const char *q = ps->p + 1; /* the literal's end bounds its text */
    while (*q && *q != '"')
      q += q[0] == '\\' && q[1] ? 2 : 1;
    size_t cap = (size_t)(q - ps->p) + 1, n;
    char *buf = malloc(cap);
    if (!buf)
      return fail(ps, "out of memory");
    int rv = string(ps, buf, cap, &n) || add(ps, key, buf, n);
    free(buf);
    return rv ? -1 : 0;
  }
  const char *q = ps->p;
  if (skip(ps, depth))
    return -1;
  size_t n = (size_t)(ps->p - q);
  if (n == 4 && !memcmp(q, "null", 4))
    return 0; /* absent */
  return add(ps, key, q, n);
}

int heed__kv_parse(heed_kv *kv, const char *text, char *err, size_t errlen) {
  char key[1024] = "";
  parser ps = {text, text, kv, err, errlen, 0};
  memset(kv, 0, sizeof *kv);
  ws(&ps);
  if (*ps.p != '{')
    return fail(&ps, "not a JSON object");
  if (value(&ps, key, sizeof key, 0))
    return -1;
  ws(&ps);
  return *ps.p ? fail(&ps, "trailing bytes") : 0;
}

const char *heed__kv_get(const heed_kv *kv, const char *key) {
  for (size_t i = 0; i < kv->n; i++)
    if (!strcmp(kv->key[i], key))
      return kv->val[i];
  return NULL;
}

void heed__kv_free(heed_kv *kv) {
  for (size_t i = 0; i < kv->n; i++) {
    free(kv->key[i]);
    free(kv->val[i]);
  }
  free(kv->key);
  free(kv->val);
  memset(kv, 0, sizeof *kv);
}

char *heed__read_file(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open", path);
    return NULL;
  }
  char *buf = NULL;
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n <= MAX_FILE &&
      fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
      fread(buf, 1, (size_t)n, f) == (size_t)n) {
    buf[n] = 0;
    fclose(f);
    if (strlen(buf) != (size_t)n) {
      snprintf(err, errlen, "%s: holds a NUL byte", path);
      free(buf);
      return NULL;
    }
    return buf;
  }
  snprintf(err, errlen, "%s: %s", path,
           n > MAX_FILE ? "larger than 64 MiB" : "cannot read");
  free(buf);
  fclose(f);
  return NULL;
}
