/* experiment.c - shared flags and network building for train/continual. */
#include "cli/experiment.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "cli/args.h"
#include "cli/suggest.h"

void heed__exp_defaults(heed_exp_opts *o) {
  memset(o, 0, sizeof *o);
  o->data = "mnist";
  o->strategy = "bp";
  o->hidden[0] = o->hidden[1] = 256;
  o->nhidden = 2;
  o->act = HEED_ACT_RELU;
  o->epochs = 1;
  o->batch = 32;
  o->threads = 1;
  o->lr = 0.05;
  o->seed = 1;
  o->shuffle = 1;
}

void heed__exp_usage(FILE *f, int which) {
  fprintf(f,
      "  --data NAME|DIR        mnist, fashion, digits, cifar10, or a folder of\n"
      "                         IDX files (default mnist)\n"
      "  --split-seed N         digits only: seed of its 80/20 train/test split\n"
      "                         (default: heed's fixed split)\n"
      "  --data-dir DIR         where tools/fetch-data put the data (default\n"
      "                         $HEED_DATA, else ./data if present, else\n"
      "                         ~/.local/share/heed: tools/fetch-data --user)\n"
      "  --hidden N,N,...       hidden layer sizes (default 256,256; 'none' for\n"
      "                         none); input and output sizes come from the data\n"
      "  --activation NAME      relu, tanh, sigmoid, identity (default relu)\n"
      "  --init NAME            auto (He for relu, else Xavier), he, xavier, or\n"
      "                         torch (PyTorch's nn.Linear default) (default auto)\n"
      "  --strategy NAME[:k=v,...]  what every neuron plays (default bp; see\n"
      "                         'heed strategies'); one per weight layer with\n"
      "                         ';', e.g. 'bp;guard:c=0.01;bp'\n"
      "  --society FILE         strategies per layer or neuron, one\n"
      "                         'LAYER[:J[-K]] SPEC' a line (docs/runs.md)\n"
      "  --strategy-plugin PATH.so  load a strategy from a shared object\n"
      "%s"
      "  --batch N              mini-batch size (default 32)\n"
      "  --lr X                 learning rate of plain SGD (default 0.05)\n"
      "  --seed N               seed for weights and shuffling (default 1)\n"
      "  --threads N            runtime threads (libuv loops; default 1)\n"
      "  --spin-us N            how long an idle thread polls for work before\n"
      "                         it sleeps (default 200; 0 sleeps at once)\n"
      "  --shuffle on|off       shuffle each epoch, or use file order (default on)\n"
      "%s"
      "  --json                 print one JSON summary on stdout\n"
      "  --quiet                no progress on stderr\n",
      which == HEED_EXP_USAGE_CONTINUAL
          ? ""
          : "  --epochs N             passes over the training set (default "
            "1)\n",
      which == HEED_EXP_USAGE_CONTINUAL
          ? ""
          : "  --max-steps N          stop after N training steps in total\n");
}

int heed__exp_parse(const char *cmd, heed_exp_opts *o, int argc, char **argv,
                    int *i) {
  const char *a = argv[*i], *v;
  uint64_t u;
  double d;
#define VALUE()                                                               \
  do {                                                                        \
    if (!(v = heed__arg_value(cmd, argc, argv, i)))                           \
      return -1;                                                              \
  } while (0)
  if (!strcmp(a, "--data")) {
    VALUE();
    o->given |= HEED_EXP_GIVEN_DATA;
    o->data = v;
  } else if (!strcmp(a, "--split-seed")) {
    VALUE();
    o->given |= HEED_EXP_GIVEN_SPLIT_SEED;
    if (heed__arg_u64(cmd, a, v, 1, UINT64_MAX, &u))
      return -1;
    o->split_seed = u;
  } else if (!strcmp(a, "--data-dir")) {
    VALUE();
    o->data_dir = v;
  } else if (!strcmp(a, "--hidden")) {
    VALUE();
    o->given |= HEED_EXP_GIVEN_HIDDEN;
    if (heed__arg_sizes(cmd, a, v, o->hidden, HEED_EXP_MAX_LAYERS - 1,
                        &o->nhidden))
      return -1;
    o->hidden_set = 1;
  } else if (!strcmp(a, "--activation")) {
    VALUE();
    o->given |= HEED_EXP_GIVEN_ACT;
    if (heed_activation_parse(v, &o->act) != 0) {
      fprintf(stderr, "heed %s: unknown activation '%s' (relu, tanh, sigmoid, "
                      "identity)\n", cmd, v);
      return -1;
    }
  } else if (!strcmp(a, "--init")) {
    VALUE();
    o->given |= HEED_EXP_GIVEN_INIT;
    static const char *const inits[] = {"auto", "he", "xavier", "torch"};
    int found = -1;
    for (int k = 0; k < 4; k++)
      if (!strcmp(v, inits[k]))
        found = k;
    if (found < 0) {
      fprintf(stderr, "heed %s: unknown --init '%s' (auto, he, xavier, "
                      "torch)\n", cmd, v);
      return -1;
    }
    o->init = (heed_init)found;
  } else if (!strcmp(a, "--strategy")) {
    VALUE();
    o->given |= HEED_EXP_GIVEN_STRATEGY;
    o->strategy = v;
  } else if (!strcmp(a, "--society")) {
    VALUE();
    o->society_path = v;
  } else if (!strcmp(a, "--strategy-plugin")) {
    VALUE();
    char err[512];
    if (heed_strategy_plugin_load(v, err, sizeof err) != 0) {
      fprintf(stderr, "heed %s: %s\n", cmd, err);
      return -1;
    }
  } else if (!strcmp(a, "--epochs")) {
    VALUE();
    if (heed__arg_run(cmd, HEED_RUN_EPOCHS, v, &d))
      return -1;
    o->epochs = (uint32_t)d;
  } else if (!strcmp(a, "--batch")) {
    VALUE();
    o->given |= HEED_EXP_GIVEN_BATCH;
    if (heed__arg_run(cmd, HEED_RUN_BATCH, v, &d))
      return -1;
    o->batch = (uint32_t)d;
  } else if (!strcmp(a, "--spin-us")) {
    VALUE();
    if (heed__arg_u64(cmd, a, v, 0, 1000000, &u))
      return -1;
    o->spin_us = u ? (int)u : -1;
  } else if (!strcmp(a, "--threads")) {
    VALUE();
    if (heed__arg_u64(cmd, a, v, 1, 256, &u))
      return -1;
    o->threads = (uint32_t)u;
  } else if (!strcmp(a, "--lr")) {
    VALUE();
    o->given |= HEED_EXP_GIVEN_LR;
    if (heed__arg_run(cmd, HEED_RUN_LR, v, &d))
      return -1;
    o->lr = d;
  } else if (!strcmp(a, "--seed")) {
    VALUE();
    o->given |= HEED_EXP_GIVEN_SEED;
    if (heed__arg_u64(cmd, a, v, 0, UINT64_MAX, &o->seed))
      return -1;
  } else if (!strcmp(a, "--max-steps")) {
    VALUE();
    if (heed__arg_u64(cmd, a, v, 1, UINT64_MAX, &o->max_steps))
      return -1;
  } else if (!strcmp(a, "--shuffle")) {
    VALUE();
    o->given |= HEED_EXP_GIVEN_SHUFFLE;
    if (strcmp(v, "on") && strcmp(v, "off")) {
      fprintf(stderr, "heed %s: --shuffle wants on or off, got '%s'\n", cmd, v);
      return -1;
    }
    o->shuffle = !strcmp(v, "on");
  } else if (!strcmp(a, "--json")) {
    o->json = 1;
  } else if (!strcmp(a, "--quiet")) {
    o->quiet = 1;
  } else {
    return 0;
  }
#undef VALUE
  return 1;
}

int heed__exp_layer_spec(const char *cmd, const heed_exp_opts *o, size_t l,
                         size_t nlayers, char *buf, size_t len) {
  const char *p = o->build_strategy ? o->build_strategy : o->strategy;
  size_t parts = 1;
  for (const char *q = p; *q; q++)
    parts += *q == ';';
  if (parts > 1 && parts != nlayers) {
    fprintf(stderr, "heed %s: --strategy '%s' names %zu layers' strategies, "
                    "the network has %zu weight layers\n",
            cmd, p, parts, nlayers);
    return -1;
  }
  for (size_t k = 0; parts > 1 && k < l; k++)
    p = strchr(p, ';') + 1;
  size_t n = strcspn(p, ";");
  if (n >= len) {
    fprintf(stderr, "heed %s: --strategy: a spec of %zu characters is too "
                    "long\n", cmd, n);
    return -1;
  }
  memcpy(buf, p, n);
  buf[n] = 0;
  return 0;
}

int heed__exp_check_data(const char *cmd, const heed_exp_opts *o) {
  static const char *const names[] = {"mnist",   "fashion", "digits",
                                      "cifar10", "fashion-mnist",
                                      "cifar-10"};
  struct stat st;
  for (size_t i = 0; i < 6; i++)
    if (!strcmp(o->data, names[i]))
      return 0;
  if (stat(o->data, &st) == 0 && S_ISDIR(st.st_mode))
    return 0; /* a folder of IDX files: the loader checks the rest */
  if (strchr(o->data, '/') || stat(o->data, &st) == 0) {
    fprintf(stderr, "heed %s: --data %s: %s\n", cmd, o->data,
            stat(o->data, &st) == 0 ? "not a directory"
                                     : "no such directory");
    return -1;
  }
  const char *s = heed__suggest(o->data, names, 4);
  fprintf(stderr, "heed %s: unknown dataset '%s' (%s%s%smnist, fashion, "
                  "digits, cifar10 or a directory of IDX files)\n",
          cmd, o->data, s ? "did you mean '" : "", s ? s : "",
          s ? "'? " : "");
  return -1;
}

int heed__exp_society(const char *cmd, heed_exp_opts *o) {
  size_t L = o->nhidden + 1;
  if (!o->society_path)
    return 0;
  if (heed__society_load(cmd, o->society_path, L, &o->society))
    return -1;
  char(*layer)[256] = calloc(L, sizeof *layer);
  if (!layer) {
    fprintf(stderr, "heed %s: out of memory\n", cmd);
    return -1;
  }
  for (size_t l = 0; l < L; l++)
    if (heed__exp_layer_spec(cmd, o, l, L, layer[l], sizeof layer[l])) {
      free(layer);
      return -1;
    }
  heed__society_describe(&o->society, layer, L);
  size_t same = 1, off = 0;
  for (size_t l = 1; l < L; l++)
    same &= !strcmp(layer[l], layer[0]);
  o->society_desc[0] = 0;
  for (size_t l = 0; l < (same ? 1 : L) && off < sizeof o->society_desc; l++)
    off += (size_t)snprintf(o->society_desc + off,
                            sizeof o->society_desc - off, "%s%.255s",
                            l ? ";" : "", layer[l]);
  free(layer);
  if (!o->build_strategy)
    o->build_strategy = o->strategy;
  o->strategy = o->society_desc;
  return 0;
}

int heed__exp_check_strategy(const char *cmd, const heed_exp_opts *o) {
  size_t L = o->nhidden + 1;
  for (size_t l = 0; l < L; l++) {
    char spec[1024], err[512];
    heed_strategy *s = NULL;
    if (heed__exp_layer_spec(cmd, o, l, L, spec, sizeof spec))
      return -1;
    int rv = heed_strategy_new(&s, spec, err, sizeof err);
    if (rv != 0) {
      heed__strategy_error(cmd, spec, rv, err);
      return -1;
    }
    heed_strategy_free(s);
    if (!strchr(o->build_strategy ? o->build_strategy : o->strategy, ';'))
      break;
  }
  return 0;
}

/* Per-layer strategies ("bp;guard:c=0.01"): layer 1 was built with the
 * first spec, the others are set here. */
static int set_layers(const char *cmd, const heed_exp_opts *o, heed_net *net,
                      size_t nlayers) {
  const char *p = o->build_strategy ? o->build_strategy : o->strategy;
  if (!strchr(p, ';'))
    return 0;
  for (size_t l = 1; l < nlayers; l++) {
    char spec[1024], err[512];
    heed_strategy *s = NULL;
    int rv = heed__exp_layer_spec(cmd, o, l, nlayers, spec, sizeof spec);
    if (rv)
      return 1;
    if ((rv = heed_strategy_new(&s, spec, err, sizeof err)) != 0) {
      fprintf(stderr, "heed %s: layer %zu: %s\n", cmd, l + 1, err);
      return 1;
    }
    rv = heed_net_set_strategy(net, l + 1, -1, s);
    heed_strategy_free(s);
    if (rv) {
      fprintf(stderr, "heed %s: layer %zu: cannot set strategy %s: %s\n",
              cmd, l + 1, spec, heed_strerror(rv));
      return 1;
    }
  }
  return 0;
}

const char *heed__exp_init_name(heed_init i) {
  static const char *const inits[] = {"auto", "he", "xavier", "torch"};
  return (unsigned)i < 4 ? inits[i] : "auto";
}

void heed__exp_args(const heed_exp_opts *o, char *buf, size_t len) {
  char hidden[HEED_EXP_MAX_LAYERS * 7 + 8] = "none";
  size_t off = 0;
  for (size_t i = 0; i < o->nhidden; i++)
    off += (size_t)snprintf(hidden + off, sizeof hidden - off, "%s%u",
                            i ? "," : "", o->hidden[i]);
  snprintf(buf, len,
           "--data %s --hidden %s --activation %s --init %s --strategy %s "
           "--lr %g --batch %u --seed %llu --shuffle %s --split-seed %llu",
           o->data, hidden, heed_activation_name(o->act),
           heed__exp_init_name(o->init), o->strategy, o->lr,
           o->batch, (unsigned long long)o->seed, o->shuffle ? "on" : "off",
           (unsigned long long)o->split_seed);
}

int heed__exp_build(const char *cmd, const heed_exp_opts *o, uint32_t in,
                    uint32_t classes, heed_runtime **rtp, heed_net **netp) {
  uint32_t sizes[HEED_EXP_MAX_LAYERS + 1];
  heed_activation acts[HEED_EXP_MAX_LAYERS];
  size_t n = 0;
  char err[512];
  heed_strategy *s = NULL;
  int rv;

  sizes[n++] = in;
  for (size_t i = 0; i < o->nhidden; i++)
    sizes[n++] = o->hidden[i];
  sizes[n++] = classes;
  for (size_t i = 0; i + 1 < n; i++)
    acts[i] = i + 2 == n ? HEED_ACT_IDENTITY : o->act;
  char spec[1024];
  if (heed__exp_layer_spec(cmd, o, 0, n - 1, spec, sizeof spec))
    return 1;
  if ((rv = heed_strategy_new(&s, spec, err, sizeof err)) != 0) {
    fprintf(stderr, "heed %s: %s\n", cmd, err);
    return 1;
  }
  heed_runtime_opts ro = {.threads = o->threads, .mailbox_limit = 4096,
                          .spin_us = o->spin_us};
  heed_net_opts no = {.nsizes = n, .sizes = sizes, .acts = acts,
                      .init = o->init, .seed = o->seed, .lr = (float)o->lr,
                      .max_batch = o->batch > 1000 ? o->batch : 1000,
                      .strategy = s};
  if ((rv = heed_runtime_new(rtp, &ro)) != 0 ||
      (rv = heed_runtime_start(*rtp)) != 0 ||
      (rv = heed_net_new(netp, *rtp, &no)) != 0) {
    fprintf(stderr, "heed %s: cannot build the network: %s\n", cmd,
            heed_strerror(rv));
    heed_runtime_free(*rtp);
    *rtp = NULL;
    heed_strategy_free(s);
    return 1;
  }
  heed_strategy_free(s);
  if (set_layers(cmd, o, *netp, n - 1) ||
      (o->society.n &&
       heed__society_apply(cmd, &o->society, *netp, sizes + 1, n - 1))) {
    heed_net_free(*netp);
    heed_runtime_free(*rtp);
    *netp = NULL;
    *rtp = NULL;
    return 1;
  }
  return 0;
}
