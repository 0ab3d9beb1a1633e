/*
 * registry.c - strategies by name, and parsing "NAME:k=v,..." specs.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "strategy/builtin.h"

struct heed_strategy {
  const heed_strategy_ops *ops;
  double params[HEED_STRATEGY_MAX_PARAMS];
};

#define MAX_STRATEGIES 64

static const heed_strategy_ops *table[MAX_STRATEGIES] = {
    &heed__strategy_bp,    &heed__strategy_sparse, &heed__strategy_retain,
    &heed__strategy_guard, &heed__strategy_async,
};
static size_t ntable = 5;
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;

static void say(char *err, size_t len, const char *fmt, ...) {
  if (!err || !len)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
}

int heed_strategy_register(const heed_strategy_ops *ops) {
  if (!ops || !ops->name || !ops->respond || !ops->name[0] ||
      ops->nparams > HEED_STRATEGY_MAX_PARAMS)
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

/* Parses one "k=v" into s->params. */
static int parse_param(heed_strategy *s, const char *kv, size_t len,
                       char *err, size_t errlen) {
  char buf[128];
  if (len >= sizeof buf) {
    say(err, errlen, "strategy %s: parameter too long", s->ops->name);
    return HEED_EINVAL;
  }
  memcpy(buf, kv, len);
  buf[len] = 0;
  char *eq = strchr(buf, '=');
  if (!eq || eq == buf || !eq[1]) {
    say(err, errlen, "strategy %s: expected k=v, got '%s'", s->ops->name,
        buf);
    return HEED_EINVAL;
  }
  *eq = 0;
  for (size_t i = 0; i < s->ops->nparams; i++) {
    if (strcmp(s->ops->params[i].name, buf))
      continue;
    char *end;
    errno = 0;
    double v = strtod(eq + 1, &end);
    if (errno || *end || !isfinite(v)) {
      say(err, errlen, "strategy %s: %s=%s is not a number", s->ops->name,
          buf, eq + 1);
      return HEED_EINVAL;
    }
    s->params[i] = v;
    return 0;
  }
  say(err, errlen, "strategy %s has no parameter '%s' (see 'heed strategies')",
      s->ops->name, buf);
  return HEED_EINVAL;
}

int heed_strategy_new(heed_strategy **sp, const char *spec, char *err,
                      size_t errlen) {
  if (!sp || !spec) {
    say(err, errlen, "no strategy given");
    return HEED_EINVAL;
  }
  const char *colon = strchr(spec, ':');
  size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
  char name[64];
  if (nlen == 0 || nlen >= sizeof name) {
    say(err, errlen, "bad strategy name in '%s'", spec);
    return HEED_EINVAL;
  }
  memcpy(name, spec, nlen);
  name[nlen] = 0;
  const heed_strategy_ops *ops = heed_strategy_find(name);
  if (!ops) {
    say(err, errlen, "unknown strategy '%s' (see 'heed strategies')", name);
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

int heed_strategy_spec(const heed_strategy *s, char *buf, size_t len) {
  if (!s || !buf || !len)
    return HEED_EINVAL;
  size_t off = (size_t)snprintf(buf, len, "%s", s->ops->name);
  for (size_t i = 0; i < s->ops->nparams && off < len; i++)
    off += (size_t)snprintf(buf + off, len - off, "%s%s=%g", i ? "," : ":",
                            s->ops->params[i].name, s->params[i]);
  return off < len ? 0 : HEED_ERANGE;
}
