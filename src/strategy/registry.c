/*
 * registry.c - strategies by name, and parsing "NAME:k=v,..." specs.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/escape.h"
#include "strategy/builtin.h"

struct heed_strategy {
  const heed_strategy_ops *ops;
  double params[HEED_STRATEGY_MAX_PARAMS];
};

#define MAX_STRATEGIES 64

static const heed_strategy_ops *table[MAX_STRATEGIES] = {
    &heed__strategy_bp,    &heed__strategy_sparse, &heed__strategy_retain,
    &heed__strategy_guard, &heed__strategy_async,  &heed__strategy_claim,
};
static size_t ntable = 6;
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;

static void say(char *err, size_t len, const char *fmt, ...) {
  if (!err || !len)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
}

int heed__strategy_ops_check(const heed_strategy_ops *ops, char *err,
                              size_t errlen) {
  char e[HEED_ESCAPE_BUF];
  if (!ops || !ops->name || !ops->name[0] || !ops->respond) {
    say(err, errlen, "a strategy needs a name and a respond function");
    return HEED_EINVAL;
  }
  const char *nm = heed__escape(ops->name, SIZE_MAX, e, sizeof e);
  if (strlen(ops->name) >= 64 || strpbrk(ops->name, ":,= ")) {
    say(err, errlen, "strategy '%s': a name is under 64 bytes without "
        "':', ',', '=' or spaces", nm);
    return HEED_EINVAL;
  }
  if (ops->nparams > HEED_STRATEGY_MAX_PARAMS) {
    say(err, errlen, "strategy %s has %zu parameters (at most %d)", nm,
        ops->nparams, HEED_STRATEGY_MAX_PARAMS);
    return HEED_EINVAL;
  }
  for (size_t i = 0; i < ops->nparams; i++) {
    const heed_strategy_param *p = &ops->params[i];
    if (!p->name || !p->name[0] || !isfinite(p->min) || !isfinite(p->max) ||
        !(p->min <= p->value && p->value <= p->max)) {
      say(err, errlen, "strategy %s: parameter %zu needs a name and a finite "
          "range [min, max] that holds its default", nm, i);
      return HEED_EINVAL;
    }
  }
  return 0;
}

int heed_strategy_register(const heed_strategy_ops *ops) {
  if (heed__strategy_ops_check(ops, NULL, 0) != 0)
    return HEED_EINVAL;
  if (ops->abi != HEED_STRATEGY_ABI)
    return HEED_EVERSION;
  pthread_mutex_lock(&table_mu);
  int rv = 0;
  for (size_t i = 0; i < ntable; i++)
    if (!strcmp(table[i]->name, ops->name))
      rv = HEED_EEXIST;
  if (!rv && ntable == MAX_STRATEGIES)
    rv = HEED_ENOMEM;
  if (!rv)
    table[ntable++] = ops;
  pthread_mutex_unlock(&table_mu);
  return rv;
}

size_t heed_strategy_count(void) {
  pthread_mutex_lock(&table_mu);
  size_t n = ntable;
  pthread_mutex_unlock(&table_mu);
  return n;
}

const heed_strategy_ops *heed_strategy_at(size_t i) {
  pthread_mutex_lock(&table_mu);
  const heed_strategy_ops *ops = i < ntable ? table[i] : NULL;
  pthread_mutex_unlock(&table_mu);
  return ops;
}

const heed_strategy_ops *heed_strategy_find(const char *name) {
  if (!name)
    return NULL;
  const heed_strategy_ops *found = NULL;
  pthread_mutex_lock(&table_mu);
  for (size_t i = 0; i < ntable && !found; i++)
    if (!strcmp(table[i]->name, name))
      found = table[i];
  pthread_mutex_unlock(&table_mu);
  return found;
}

int heed_strategy_param_check(const heed_strategy_ops *ops, size_t i,
                              double v, char *err, size_t errlen) {
  if (!ops || i >= ops->nparams) {
    say(err, errlen, "no such strategy parameter");
    return HEED_EINVAL;
  }
  const heed_strategy_param *p = &ops->params[i];
  if (isfinite(v) && v >= p->min && v <= p->max)
    return 0;
  say(err, errlen, "strategy %s: %s=%g is out of range [%g, %g]", ops->name,
      p->name, v, p->min, p->max);
  return HEED_ERANGE;
}

/* Parses one "k=v" (len bytes at kv) into s->params. */
static int parse_param(heed_strategy *s, const char *kv, size_t len,
                       char *err, size_t errlen) {
  char buf[128], e1[HEED_ESCAPE_BUF], e2[HEED_ESCAPE_BUF];
  const char *name = s->ops->name;
  if (len >= sizeof buf) {
    say(err, errlen, "strategy %s: parameter '%s' too long", name,
        heed__escape(kv, len, e1, sizeof e1));
    return HEED_EINVAL;
  }
  memcpy(buf, kv, len);
  buf[len] = 0;
  char *eq = memchr(buf, '=', len);
  if (!eq || eq == buf || !eq[1] || strlen(buf) != len) {
    say(err, errlen, "strategy %s: expected k=v, got '%s'", name,
        heed__escape(kv, len, e1, sizeof e1));
    return HEED_EINVAL;
  }
  *eq = 0;
  for (size_t i = 0; i < s->ops->nparams; i++) {
    if (strcmp(s->ops->params[i].name, buf))
      continue;
    char *end;
    errno = 0;
    double v = strtod(eq + 1, &end);
    /* strtod's ERANGE on underflow would refuse 1e-320; overflow is
     * caught as an infinity below, so errno is not consulted. */
    if (end == eq + 1 || *end || isspace((unsigned char)eq[1]) ||
        !isfinite(v)) {
      say(err, errlen, "strategy %s: %s=%s is not a finite number", name,
          buf, heed__escape(eq + 1, SIZE_MAX, e2, sizeof e2));
      return HEED_EINVAL;
    }
    int rv = heed_strategy_param_check(s->ops, i, v, err, errlen);
    if (rv)
      return rv;
    s->params[i] = v;
    return 0;
  }
  say(err, errlen, "strategy %s has no parameter '%s' (see 'heed strategies')",
      name, heed__escape(buf, SIZE_MAX, e1, sizeof e1));
  return HEED_EINVAL;
}

int heed_strategy_new(heed_strategy **sp, const char *spec, char *err,
                      size_t errlen) {
  char e[HEED_ESCAPE_BUF];
  if (!sp || !spec) {
    say(err, errlen, "no strategy given");
    return HEED_EINVAL;
  }
  const char *colon = strchr(spec, ':');
  size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
  char name[64];
  if (nlen == 0 || nlen >= sizeof name) {
    say(err, errlen, "bad strategy name in '%s'",
        heed__escape(spec, SIZE_MAX, e, sizeof e));
    return HEED_EINVAL;
  }
  memcpy(name, spec, nlen);
  name[nlen] = 0;
  const heed_strategy_ops *ops = heed_strategy_find(name);
  if (!ops) {
    say(err, errlen, "unknown strategy '%s' (see 'heed strategies')",
        heed__escape(name, SIZE_MAX, e, sizeof e));
    return HEED_ENOENT;
  }
  heed_strategy *s = heed__calloc(1, sizeof *s);
  if (!s) {
    say(err, errlen, "out of memory");
    return HEED_ENOMEM;
  }
  s->ops = ops;
  for (size_t i = 0; i < ops->nparams; i++)
    s->params[i] = ops->params[i].value;
  const char *p = colon ? colon + 1 : NULL;
  while (p && *p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    int rv = parse_param(s, p, len, err, errlen);
    if (rv) {
      heed__free(s);
      return rv;
    }
    p = comma ? comma + 1 : NULL;
  }
  *sp = s;
  return 0;
}

void heed_strategy_free(heed_strategy *s) { heed__free(s); }

const heed_strategy_ops *heed_strategy_ops_of(const heed_strategy *s) {
  return s ? s->ops : NULL;
}

const double *heed_strategy_params(const heed_strategy *s) {
  return s ? s->params : NULL;
}

/* Shortest of %.15g, %.16g, %.17g that reads back as v exactly. */
static int print_exact(char *buf, size_t len, const char *prefix, double v) {
  int k = 0;
  for (int prec = 15; prec <= 17; prec++) {
    k = snprintf(buf, len, "%s%.*g", prefix, prec, v);
    if (k < 0 || (size_t)k >= len || strtod(buf + strlen(prefix), NULL) == v)
      break;
  }
  return k;
}

int heed_strategy_spec(const heed_strategy *s, char *buf, size_t len) {
  if (!s || !buf || !len)
    return HEED_EINVAL;
  size_t off = (size_t)snprintf(buf, len, "%s", s->ops->name);
  for (size_t i = 0; i < s->ops->nparams && off < len; i++) {
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%s%s=", i ? "," : ":",
             s->ops->params[i].name);
    int k = print_exact(buf + off, len - off, prefix, s->params[i]);
    off = k < 0 ? len : off + (size_t)k;
  }
  return off < len ? 0 : HEED_ERANGE;
}
