/* society.c - society files (society.h). */
#include "cli/society.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int bad(const char *cmd, const heed_society *s, unsigned line,
               const char *why) {
  fprintf(stderr, "heed %s: %s:%u: %s\n", cmd, s->path, line, why);
  return -1;
}

/* "LAYER", "LAYER:J" or "LAYER:J-K" into l. */
static int target(const char *t, heed_society_line *l) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(t, &end, 10);
  if (errno || end == t || v == 0 || v > HEED_CHECKPOINT_MAX_LAYERS ||
      *t == '-' || *t == '+')
    return -1;
  l->layer = (uint32_t)v;
  l->whole = *end == 0;
  if (l->whole)
    return 0;
  if (*end != ':' || !end[1] || end[1] == '-' || end[1] == '+')
    return -1;
  t = end + 1;
  v = strtoul(t, &end, 10);
  if (errno || end == t || v >= HEED_CHECKPOINT_MAX_SIZE)
    return -1;
  l->lo = l->hi = (uint32_t)v;
  if (*end == 0)
    return 0;
  if (*end != '-' || !end[1] || end[1] == '-' || end[1] == '+')
    return -1;
  t = end + 1;
  v = strtoul(t, &end, 10);
  if (errno || end == t || *end || v >= HEED_CHECKPOINT_MAX_SIZE || v < l->lo)
    return -1;
  l->hi = (uint32_t)v;
  return 0;
}

static int parse_line(const char *cmd, heed_society *s, char *p,
                      unsigned line, size_t nlayers) {
  char why[600], t[64], spec[300], extra[8];
  while (*p == ' ' || *p == '\t')
    p++;
  if (!*p || *p == '#' || *p == '\n' || *p == '\r')
    return 0;
  int k = sscanf(p, "%63s %299s %7s", t, spec, extra);
  if (k != 2)
    return bad(cmd, s, line, k < 2 ? "want 'LAYER[:J[-K]] SPEC'"
                                   : "more than 'LAYER[:J[-K]] SPEC'");
  if (s->n == HEED_SOCIETY_MAX)
    return bad(cmd, s, line, "more than 1024 assignments");
  heed_society_line *l = &s->v[s->n];
  memset(l, 0, sizeof *l);
  l->line = line;
  if (target(t, l) != 0)
    return bad(cmd, s, line, "want LAYER, LAYER:J or LAYER:J-K with LAYER "
                             "from 1 and J <= K from 0");
  if (l->layer > nlayers) {
    snprintf(why, sizeof why, "layer %u, the network has %zu weight layers",
             l->layer, nlayers);
    return bad(cmd, s, line, why);
  }
  if (strlen(spec) >= sizeof l->spec)
    return bad(cmd, s, line, "strategy spec too long");
  heed_strategy *st = NULL;
  char err[512];
  int rv = heed_strategy_new(&st, spec, err, sizeof err);
  heed_strategy_free(st);
  if (rv)
    return bad(cmd, s, line, err);
  memcpy(l->spec, spec, strlen(spec) + 1);
  s->n++;
  return 0;
}

int heed__society_load(const char *cmd, const char *path, size_t nlayers,
                       heed_society *s) {
  memset(s, 0, sizeof *s);
  s->path = path;
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "heed %s: --society %s: %s\n", cmd, path,
            strerror(errno));
    return -1;
  }
  s->v = calloc(HEED_SOCIETY_MAX, sizeof *s->v);
  char buf[1024];
  unsigned line = 0;
  int rv = s->v ? 0 : bad(cmd, s, 0, "out of memory");
  while (!rv && fgets(buf, sizeof buf, f)) {
    line++;
    if (!strchr(buf, '\n') && !feof(f))
      rv = bad(cmd, s, line, "line longer than 1023 bytes");
    else if (memchr(buf, 0, strlen(buf) + 1) != buf + strlen(buf))
      rv = bad(cmd, s, line, "a NUL byte");
    else
      rv = parse_line(cmd, s, buf, line, nlayers);
  }
  if (!rv && ferror(f))
    rv = bad(cmd, s, line, "read error");
  fclose(f);
  if (rv)
    heed__society_free(s);
  return rv;
}

void heed__society_describe(const heed_society *s, char (*layer)[256],
                            size_t nlayers) {
  for (size_t i = 0; i < s->n; i++) {
    const heed_society_line *l = &s->v[i];
    if (l->layer > nlayers)
      continue;
    if (l->whole)
      snprintf(layer[l->layer - 1], 256, "%s", l->spec);
    else if (strcmp(layer[l->layer - 1], l->spec))
      snprintf(layer[l->layer - 1], 256, "mixed");
  }
}

int heed__society_apply(const char *cmd, const heed_society *s,
                        heed_net *net, const uint32_t *sizes,
                        size_t nlayers) {
  for (size_t i = 0; i < s->n; i++) {
    const heed_society_line *l = &s->v[i];
    char why[300], err[512];
    if (l->layer > nlayers)
      return bad(cmd, s, l->line, "no such layer");
    if (!l->whole && l->hi >= sizes[l->layer - 1]) {
      snprintf(why, sizeof why, "neuron %u, layer %u has %u (0 to %u)",
               l->hi, l->layer, sizes[l->layer - 1], sizes[l->layer - 1] - 1);
      return bad(cmd, s, l->line, why);
    }
    heed_strategy *st = NULL;
    int rv = heed_strategy_new(&st, l->spec, err, sizeof err);
    for (uint32_t j = l->lo; !rv && j <= (l->whole ? l->lo : l->hi); j++)
      rv = heed_net_set_strategy(net, l->layer, l->whole ? -1 : (long)j, st);
    heed_strategy_free(st);
    if (rv) {
      snprintf(why, sizeof why, "cannot set %s: %s", l->spec,
               heed_strerror(rv));
      return bad(cmd, s, l->line, why);
    }
  }
  return 0;
}

void heed__society_free(heed_society *s) {
  free(s->v);
  s->v = NULL;
  s->n = 0;
}
