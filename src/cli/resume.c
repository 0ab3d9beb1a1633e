/*
 * resume.c - a resumed run takes its network and options from the
 * checkpoint, and says what its neurons really play: a flag that would be
 * ignored or would contradict the checkpoint is refused, not dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/experiment.h"

/* snprintf(buf, len, "%s", s) without the compiler's truncation warning:
 * a cut description still names what it cut. */
static void copy(char *buf, size_t len, const char *s) {
  size_t n = strlen(s);
  if (n >= len)
    n = len - 1;
  memcpy(buf, s, n);
  buf[n] = 0;
}

/* The canonical form of one spec (parameters as heed prints them), or the
 * spec itself when its strategy is not registered (a plugin not loaded). */
static void canon(const char *spec, char *buf, size_t len) {
  heed_strategy *s = NULL;
  char why[256];
  if (heed_strategy_new(&s, spec, why, sizeof why) != 0 ||
      heed_strategy_spec(s, buf, len) != 0)
    copy(buf, len, spec);
  heed_strategy_free(s);
}

/* Joins per-layer descriptions with ';', or gives the one they share. */
static void join(char layer[][256], size_t n, char *buf, size_t len) {
  size_t same = 1, off = 0;
  for (size_t l = 1; l < n; l++)
    same &= !strcmp(layer[l], layer[0]);
  buf[0] = 0;
  for (size_t l = 0; l < (same ? 1 : n) && off < len; l++)
    off += (size_t)snprintf(buf + off, len - off, "%s%s", l ? ";" : "",
                            layer[l]);
}

/* What ck's neurons play (see heed_exp_opts.strategy), and a spec the
 * network can be built with (neuron 0 of layer 1's). */
static int describe(const heed_checkpoint *ck, char *buf, size_t len,
                    char *build, size_t blen) {
  size_t L = heed_checkpoint_nsizes(ck) - 1;
  const uint32_t *sz = heed_checkpoint_sizes(ck);
  char(*layer)[256] = calloc(L, sizeof *layer);
  char first[1024], spec[1024];
  if (!layer)
    return -1;
  for (size_t l = 1; l <= L; l++) {
    if (heed_checkpoint_strategy(ck, l, 0, first, sizeof first) != 0)
      goto bad;
    if (l == 1)
      copy(build, blen, first);
    int mixed = 0;
    for (uint32_t j = 1; j < sz[l] && !mixed; j++)
      mixed = heed_checkpoint_strategy(ck, l, j, spec, sizeof spec) != 0 ||
              strcmp(spec, first) != 0;
    if (mixed)
      snprintf(layer[l - 1], sizeof layer[0], "mixed");
    else
      canon(first, layer[l - 1], sizeof layer[0]);
  }
  join(layer, L, buf, len);
  free(layer);
  return 0;
bad:
  free(layer);
  return -1;
}

/* The canonical form of a --strategy value ("a" or "a;b;c"). */
static void canon_flag(const char *v, size_t nlayers, char *buf, size_t len) {
  size_t parts = 1;
  for (const char *q = v; *q; q++)
    parts += *q == ';';
  if (parts == 1 || parts != nlayers) {
    canon(v, buf, len);
    return;
  }
  char(*layer)[256] = calloc(parts, sizeof *layer);
  if (!layer) {
    copy(buf, len, v);
    return;
  }
  for (size_t l = 0; l < parts; l++) {
    size_t n = strcspn(v, ";");
    char one[256];
    snprintf(one, sizeof one, "%.*s", (int)n, v);
    canon(one, layer[l], sizeof layer[0]);
    v += n + (v[n] == ';');
  }
  join(layer, parts, buf, len);
  free(layer);
}

/* One line: the flag, what it says, and what the checkpoint says. */
static int contradicts(const char *cmd, const char *flag, const char *given,
                       const char *path, const char *has) {
  fprintf(stderr, "heed %s: %s %s contradicts %s: it %s (drop the flag to "
                  "resume, or start a new run without --resume)\n",
          cmd, flag, given, path, has);
  return -1;
}

static int shape(const char *cmd, heed_exp_opts *o, const heed_checkpoint *ck,
                 const char *path) {
  size_t ns = heed_checkpoint_nsizes(ck);
  const uint32_t *sz = heed_checkpoint_sizes(ck);
  char has[HEED_EXP_MAX_LAYERS * 7 + 64], given[HEED_EXP_MAX_LAYERS * 7 + 8];
  int same = o->nhidden == ns - 2;
  size_t off = 0, goff = 0;
  off += (size_t)snprintf(has, sizeof has, "holds hidden layers ");
  for (size_t i = 0; i + 2 < ns; i++) {
    off += (size_t)snprintf(has + off, sizeof has - off, "%s%u", i ? "," : "",
                            sz[i + 1]);
    same &= i < o->nhidden && o->hidden[i] == sz[i + 1];
  }
  if (ns == 2)
    snprintf(has + off, sizeof has - off, "none");
  for (size_t i = 0; i < o->nhidden; i++)
    goff += (size_t)snprintf(given + goff, sizeof given - goff, "%s%u",
                             i ? "," : "", o->hidden[i]);
  if (!o->nhidden)
    snprintf(given, sizeof given, "none");
  if ((o->given & HEED_EXP_GIVEN_HIDDEN) && !same)
    return contradicts(cmd, "--hidden", given, path, has);
  if (ns - 2 > sizeof o->hidden / sizeof o->hidden[0]) {
    fprintf(stderr, "heed %s: %s holds %zu weight layers, heed %s takes at "
                    "most %d\n", cmd, path, ns - 1, cmd, HEED_EXP_MAX_LAYERS);
    return -1;
  }
  o->nhidden = ns - 2;
  for (size_t i = 0; i + 2 < ns; i++)
    o->hidden[i] = sz[i + 1];
  if (ns > 2) {
    heed_activation a = heed_checkpoint_activation(ck, 1);
    if ((o->given & HEED_EXP_GIVEN_ACT) && a != o->act) {
      snprintf(has, sizeof has, "uses %s", heed_activation_name(a));
      return contradicts(cmd, "--activation", heed_activation_name(o->act),
                         path, has);
    }
    o->act = a;
  }
  return 0;
}

/* "--split-seed N" from a checkpoint's args; 0 when absent (older heed). */
static uint64_t args_split_seed(const char *args) {
  const char *p = args ? strstr(args, "--split-seed ") : NULL;
  return p ? strtoull(p + 13, NULL, 10) : 0;
}

static int options(const char *cmd, heed_exp_opts *o, const heed_checkpoint *ck,
                   const char *path) {
  const heed_checkpoint_meta *m = heed_checkpoint_meta_of(ck);
  char g[64], has[1100];
  unsigned gv = o->given;
  if (o->society_path)
    return contradicts(cmd, "--society", o->society_path, path,
                       "holds what each neuron plays");
  if ((gv & HEED_EXP_GIVEN_INIT))
    return contradicts(cmd, "--init", heed__exp_init_name(o->init), path,
                       "holds the weights to resume from");
  if (m->dataset && *m->dataset) {
    snprintf(has, sizeof has, "was trained on %s", m->dataset);
    if ((gv & HEED_EXP_GIVEN_DATA) && strcmp(o->data, m->dataset))
      return contradicts(cmd, "--data", o->data, path, has);
    o->data = m->dataset;
  }
  uint64_t split = args_split_seed(m->args);
  snprintf(has, sizeof has, "was split with --split-seed %llu",
           (unsigned long long)split);
  snprintf(g, sizeof g, "%llu", (unsigned long long)o->split_seed);
  if ((gv & HEED_EXP_GIVEN_SPLIT_SEED) && strstr(m->args ? m->args : "", "--split-seed ") && o->split_seed != split)
    return contradicts(cmd, "--split-seed", g, path, has);
  if (!(gv & HEED_EXP_GIVEN_SPLIT_SEED))
    o->split_seed = split;
  snprintf(has, sizeof has, "used --seed %llu", (unsigned long long)m->seed);
  snprintf(g, sizeof g, "%llu", (unsigned long long)o->seed);
  if ((gv & HEED_EXP_GIVEN_SEED) && o->seed != m->seed)
    return contradicts(cmd, "--seed", g, path, has);
  o->seed = m->seed;
  if (m->batch) {
    snprintf(has, sizeof has, "used --batch %u", m->batch);
    snprintf(g, sizeof g, "%u", o->batch);
    if ((gv & HEED_EXP_GIVEN_BATCH) && o->batch != m->batch)
      return contradicts(cmd, "--batch", g, path, has);
    o->batch = m->batch;
  }
  snprintf(has, sizeof has, "used --shuffle %s", m->shuffle ? "on" : "off");
  if ((gv & HEED_EXP_GIVEN_SHUFFLE) && !o->shuffle != !m->shuffle)
    return contradicts(cmd, "--shuffle", o->shuffle ? "on" : "off", path, has);
  o->shuffle = m->shuffle;
  float lr = heed_checkpoint_lr(ck);
  snprintf(has, sizeof has, "used --lr %g", (double)lr);
  snprintf(g, sizeof g, "%g", o->lr);
  if ((gv & HEED_EXP_GIVEN_LR) && (float)o->lr != lr)
    return contradicts(cmd, "--lr", g, path, has);
  o->lr = lr;
  return 0;
}

int heed__exp_from_checkpoint(const char *cmd, heed_exp_opts *o,
                              const heed_checkpoint *ck, const char *path,
                              char *strategy, size_t slen, char *build,
                              size_t blen) {
  if (shape(cmd, o, ck, path) || options(cmd, o, ck, path))
    return -1;
  if (describe(ck, strategy, slen, build, blen) != 0) {
    fprintf(stderr, "heed %s: %s: cannot describe its strategies\n", cmd,
            path);
    return -1;
  }
  if (o->given & HEED_EXP_GIVEN_STRATEGY) {
    char want[1100], has[1100];
    canon_flag(o->strategy, heed_checkpoint_nsizes(ck) - 1, want, sizeof want);
    if (strcmp(want, strategy)) {
      snprintf(has, sizeof has, "%s %s",
               strchr(strategy, ';') ? "has, per layer, neurons playing"
                                     : "has neurons playing", strategy);
      return contradicts(cmd, "--strategy", o->strategy, path, has);
    }
  }
  o->strategy = strategy;
  o->build_strategy = build;
  return 0;
}
