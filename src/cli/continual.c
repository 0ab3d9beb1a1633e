/*
 * continual.c - `heed continual`: the catastrophic-forgetting benchmark.
 *
 * Trains one network on a sequence of tasks (Permuted MNIST, or Split
 * MNIST task- or class-incremental) and, after each task, evaluates every
 * task: the accuracy matrix R, and from it ACC, BWT and F, averaged over
 * seeds. --compare runs several strategies on the same tasks, the same
 * initial weights and the same batch order (heed_task_batch_order is a
 * function of seed, task and epoch only).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/experiment.h"
#include "cli/observe.h"
#include "cli/plot.h"
#include "cli/progress.h"
#include "cli/record.h"
#include "cli/suggest.h"
#include "heed/data.h"

#define MAX_TASKS 64
#define MAX_STRATS 32
#define SPEC_MAX 256 /* one strategy spec after sweep expansion */
#define CHUNK 1000
/* --tune: the tuning stream's permutations come from seed ^ TUNE_SALT, never
 * from an evaluation seed (task 1 stays the identity). */
#define TUNE_SALT 0x54554e4531ULL
/* --tune on split benchmarks: per seed, V1 accuracy and loss right after
 * task 1 (forward order), at the end of the forward order (retention) and
 * at the end of the order 2..T,1 (plasticity). */
enum { TU_ACC1, TU_RET, TU_PLA, TU_L1, TU_LRET, TU_LPLA, TU_N };

enum bench { PERMUTED, SPLIT_TASK, SPLIT_CLASS };
static const char *const bench_names[] = {"permuted", "split-task",
                                          "split-class"};

typedef struct task {
  const heed_dataset *train, *test;
  uint32_t *perm; /* permuted: this task's pixel permutation; else NULL */
  uint8_t mask[256];
  int masked;
} task;

typedef struct result {
  const char *strategy;
  double *R;       /* seeds x T x T */
  double *m;       /* seeds x 3: acc, bwt, forgetting */
  double *tu;      /* --tune on split: seeds x TU_N */
  double secs;
} result;

typedef struct cl {
  heed_exp_opts o;
  enum bench bench;
  uint32_t T, E, seeds, nstrat;
  int consolidate;
  double validation;
  double tune; /* --tune FRAC: hold out FRAC of task 1 only (0: off) */
  heed_dataset tune_tr, tune_va;
  const char *plot;
  const char *strat[MAX_STRATS];
  char compare_buf[1024];
  char sweep[MAX_STRATS][SPEC_MAX]; /* --compare entries, '|' expanded */
  const char *compare_arg; /* --compare as given */
  heed_dataset train, test;       /* the base data */
  heed_dataset split_train[MAX_TASKS], split_test[MAX_TASKS];
  task tasks[MAX_TASKS];
  result res[MAX_STRATS];
  heed_record_opts ro; /* --run-dir, --run-name, --no-record */
  heed_record *rec;
  heed_json cfg;
  int argc;
  char **argv;
  char plot_buf[4200];
  heed_trace_opts tr; /* --trace*, --observe: one tracer for every run */
  heed__observer obs;
  heed_trace *trace;
  uint64_t tsteps; /* training steps in the trace so far */
  char tconfig[HEED_TRACE_MAX_CONFIG];
} cl;

static void usage(FILE *f) {
  fprintf(f,
      "usage: heed continual [options]\n\n"
      "The catastrophic-forgetting benchmark: trains one network on a "
      "sequence of\ntasks and, after each, tests it on every task. Reports "
      "the accuracy matrix R\n(R[i][j]: accuracy on task j after training "
      "task i), ACC (mean final\naccuracy), BWT (backward transfer; negative "
      "means forgetting) and F\n(forgetting), as mean +- std over seeds.\n\n"
      "options:\n"
      "  --bench NAME           permuted (Permuted MNIST, default), split-task "
      "(Split\n"
      "                         MNIST, one 2-way head per task), split-class "
      "(Split\n"
      "                         MNIST, one 10-way head); built from --data "
      "(mnist,\n"
      "                         or fashion: Permuted/Split Fashion-MNIST)\n"
      "  --tasks T              number of tasks (default 5; split: at most "
      "5)\n"
      "  --epochs-per-task E    passes over each task's data (default 1)\n"
      "  --seeds N              run seeds seed..seed+N-1 (default 1)\n"
      "  --compare S1,S2,...    run every listed strategy on the same data "
      "order,\n"
      "                         weights and budget; one table, one plot; "
      "k=v1|v2|...\n"
      "                         sweeps a parameter (guard:c=0.003|0.01 is two "
      "runs)\n"
      "  --consolidate on|off   send CONSOLIDATE to every neuron at each task\n"
      "                         boundary (default on; off for boundary-free "
      "agents)\n"
      "  --validation FRAC      hold out FRAC of the training images and test "
      "on\n"
      "                         them instead of the test set\n"
      "  --tune FRAC            tuning on a validation split of task 1 only: "
      "hold\n"
      "                         out FRAC of task 1's training images (V1) and "
      "measure\n"
      "                         on V1 alone, never on a test set. permuted: "
      "tasks\n"
      "                         2..T get fresh permutations (not the "
      "evaluation\n"
      "                         ones), every task is tested on V1 through its "
      "own;\n"
      "                         split: V1 after task 1 and at the end "
      "(retention),\n"
      "                         then the order 2..T,1 (plasticity: V1 learned "
      "last).\n"
      "                         Prints the pick: the highest ACC on V1 "
      "(permuted),\n"
      "                         the lowest mean V1 loss (split)\n"
      "  --plot FILE.svg|.png   heatmap of the mean R and accuracy curves\n"
      "  --max-steps N          at most N training steps per task (tests)\n"
      "  -h, --help             this help\n");
  heed__record_usage(f);
  heed__trace_usage(f); /* one trace for the whole command: docs/tracing.md */
  fprintf(f, "\nshared options:\n");
  heed__exp_usage(f, HEED_EXP_USAGE_CONTINUAL);
  fprintf(f,
      "\nData comes from tools/fetch-data. Example:\n"
      "  heed continual --bench permuted --tasks 5 --compare bp,guard "
      "--seeds 5\n");
}

/* Appends spec to the strategy list, expanding the first "v1|v2|..." value
 * into one spec per alternative (recursively: the product of every swept
 * parameter, the first one varying slowest). */
static int add_swept(cl *c, const char *spec, const char *arg) {
  const char *bar = strchr(spec, '|');
  if (!bar) {
    if (c->nstrat == MAX_STRATS) {
      fprintf(stderr, "heed continual: --compare takes at most %d "
                      "strategies (sweeps included)\n", MAX_STRATS);
      return -1;
    }
    if (strlen(spec) >= SPEC_MAX) {
      fprintf(stderr, "heed continual: strategy '%.40s...' in --compare is "
                      "too long\n", spec);
      return -1;
    }
    snprintf(c->sweep[c->nstrat], SPEC_MAX, "%s", spec);
    c->strat[c->nstrat] = c->sweep[c->nstrat];
    c->nstrat++;
    return 0;
  }
  /* the value holding the bar: from after its '=' to the next ',' */
  const char *lo = bar;
  while (lo > spec && lo[-1] != '=' && lo[-1] != ',' && lo[-1] != ':')
    lo--;
  if (lo == spec || lo[-1] != '=') {
    fprintf(stderr, "heed continual: in --compare '%s', '|' separates "
                    "values of one parameter (k=v1|v2)\n", arg);
    return -1;
  }
  size_t end = strcspn(lo, ",");
  for (const char *a = lo; a < lo + end;) {
    size_t alen = strcspn(a, "|,");
    if (alen == 0) {
      fprintf(stderr, "heed continual: empty value in a sweep in --compare "
                      "'%s'\n", arg);
      return -1;
    }
    char one[SPEC_MAX * 2];
    int k = snprintf(one, sizeof one, "%.*s%.*s%s", (int)(lo - spec), spec,
                     (int)alen, a, lo + end);
    if (k < 0 || (size_t)k >= sizeof one) {
      fprintf(stderr, "heed continual: --compare entry too long\n");
      return -1;
    }
    if (add_swept(c, one, arg))
      return -1;
    a += alen;
    if (*a == '|') {
      a++;
      if (a == lo + end) { /* a trailing bar */
        fprintf(stderr, "heed continual: empty value in a sweep in "
                        "--compare '%s'\n", arg);
        return -1;
      }
    }
  }
  return 0;
}

static int parse_compare(cl *c, const char *v) {
  snprintf(c->compare_buf, sizeof c->compare_buf, "%s", v);
  c->compare_arg = v;
  c->nstrat = 0;
  /* Split at commas that start a new strategy name: a comma followed by
   * text with no '=' before the next comma or ':' (strategy parameters
   * look like name:k=v,k=v). A value "v1|v2" sweeps the parameter. */
  char *s = c->compare_buf;
  while (*s) {
    char *item = s, *p = s;
    for (;;) {
      char *comma = strchr(p, ',');
      if (!comma) {
        s = p + strlen(p);
        break;
      }
      char *next = comma + 1;
      size_t len = strcspn(next, ",:");
      if (memchr(next, '=', len) == NULL) { /* a new strategy */
        *comma = 0;
        s = next;
        break;
      }
      p = next;
    }
    if (!*item) {
      fprintf(stderr, "heed continual: empty name in --compare '%s'\n", v);
      return -1;
    }
    if (add_swept(c, item, v))
      return -1;
  }
  if (c->nstrat == 0) {
    fprintf(stderr, "heed continual: --compare wants a list of strategies\n");
    return -1;
  }
  return 0;
}

static int parse(cl *c, int argc, char **argv) {
  const char *cmd = "continual";
  int compare = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    uint64_t u;
    if (!strcmp(a, "--epochs")) {
      fprintf(stderr, "heed continual: use --epochs-per-task\n");
      return 2;
    }
    int k = heed__exp_parse(cmd, &c->o, argc, argv, &i);
    if (k < 0)
      return 2;
    if (k > 0)
      continue;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if ((k = heed__record_parse(cmd, &c->ro, argc, argv, &i)) != 0 ||
        (k = heed__trace_flags_parse(cmd, &c->tr, &c->obs, argc, argv,
                                     &i)) != 0) {
      if (k < 0)
        return 2;
      continue;
    }
    if (!strcmp(a, "--bench") || !strcmp(a, "--tasks") ||
        !strcmp(a, "--epochs-per-task") || !strcmp(a, "--seeds") ||
        !strcmp(a, "--compare") || !strcmp(a, "--consolidate") ||
        !strcmp(a, "--plot") || !strcmp(a, "--validation") ||
        !strcmp(a, "--tune")) {
      if (!(v = heed__arg_value(cmd, argc, argv, &i)))
        return 2;
    } else {
      heed__unknown_option("continual", a, usage);
      return 2;
    }
    if (!strcmp(a, "--bench")) {
      int b = -1;
      for (int j = 0; j < 3; j++)
        if (!strcmp(v, bench_names[j]))
          b = j;
      if (b < 0) {
        fprintf(stderr, "heed continual: unknown --bench '%s' (permuted, "
                        "split-task, split-class)\n", v);
        return 2;
      }
      c->bench = (enum bench)b;
    } else if (!strcmp(a, "--tasks")) {
      if (heed__arg_u64(cmd, a, v, 1, MAX_TASKS, &u))
        return 2;
      c->T = (uint32_t)u;
    } else if (!strcmp(a, "--epochs-per-task")) {
      if (heed__arg_u64(cmd, a, v, 1, 1000, &u))
        return 2;
      c->E = (uint32_t)u;
    } else if (!strcmp(a, "--seeds")) {
      if (heed__arg_u64(cmd, a, v, 1, 1000, &u))
        return 2;
      c->seeds = (uint32_t)u;
    } else if (!strcmp(a, "--compare")) {
      if (parse_compare(c, v))
        return 2;
      compare = 1;
    } else if (!strcmp(a, "--consolidate")) {
      if (strcmp(v, "on") && strcmp(v, "off")) {
        fprintf(stderr, "heed continual: --consolidate wants on or off, got "
                        "'%s'\n", v);
        return 2;
      }
      c->consolidate = !strcmp(v, "on");
    } else if (!strcmp(a, "--plot")) {
      c->plot = v;
    } else if (!strcmp(a, "--validation")) {
      double d;
      if (heed__arg_float(cmd, a, v, 0, 0.9, &d))
        return 2;
      c->validation = d;
    } else if (!strcmp(a, "--tune")) {
      double d;
      if (heed__arg_float(cmd, a, v, 0.01, 0.9, &d))
        return 2;
      c->tune = d;
    }
  }
  if (c->tune > 0 && c->validation > 0) {
    fprintf(stderr, "heed continual: --tune and --validation exclude each "
                    "other\n");
    return 2;
  }
  if (c->tune > 0 && c->bench != PERMUTED && c->plot) {
    fprintf(stderr, "heed continual: --plot needs the full R; split "
                    "benchmarks under --tune measure task 1 only\n");
    return 2;
  }
  if (!compare) {
    c->strat[0] = c->o.strategy;
    c->nstrat = 1;
  }
  if (c->bench != PERMUTED && c->T > 5) {
    fprintf(stderr, "heed continual: split MNIST has at most 5 tasks, got "
                    "--tasks %u\n", c->T);
    return 2;
  }
  /* Every strategy must exist before any data is loaded. */
  for (uint32_t s = 0; s < c->nstrat; s++) {
    heed_strategy *st = NULL;
    char err[512];
    int rv = heed_strategy_new(&st, c->strat[s], err, sizeof err);
    if (rv != 0) {
      heed__strategy_error("continual", c->strat[s], rv, err);
      return 2;
    }
    heed_strategy_free(st);
  }
  return -1;
}

/* Loads the data and builds the tasks (permutations are per seed). */
static int setup(cl *c) {
  char err[512];
  /* --society on top of each compared strategy (its assignments are
   * checked here, its neuron ranges when each network is built) */
  if (c->o.society_path &&
      heed__society_load("continual", c->o.society_path, c->o.nhidden + 1,
                         &c->o.society))
    return -1;
  if (heed__exp_check_data("continual", &c->o))
    return -1;
  if (heed_data_load_split(c->o.data, c->o.data_dir, c->o.split_seed,
                           &c->train, &c->test, err, sizeof err) != 0) {
    fprintf(stderr, "heed continual: %s\n", err);
    return -1;
  }
  if (c->validation > 0) { /* tune on held-out training images only */
    heed_dataset tr, va;
    if (heed_dataset_split(&c->train, HEED_DIGITS_SPLIT_SEED, c->validation,
                           &tr, &va) != 0) {
      fprintf(stderr, "heed continual: cannot hold out %g of the training "
                      "set\n", c->validation);
      return -1;
    }
    heed_dataset_destroy(&c->train);
    heed_dataset_destroy(&c->test);
    c->train = tr;
    c->test = va;
  }
  if (c->tune > 0) { /* a validation split of task 1 only */
    if (heed_dataset_split(&c->train, HEED_DIGITS_SPLIT_SEED, c->tune,
                           &c->tune_tr, &c->tune_va) != 0) {
      fprintf(stderr, "heed continual: cannot hold out %g of the training "
                      "set\n", c->tune);
      return -1;
    }
    heed_dataset_destroy(&c->test); /* never looked at */
    if (c->bench == PERMUTED) {
      /* every image of the training set is a task-1 image (identity) */
      heed_dataset_destroy(&c->train);
      c->train = c->tune_tr;
      c->test = c->tune_va;
      memset(&c->tune_tr, 0, sizeof c->tune_tr);
      memset(&c->tune_va, 0, sizeof c->tune_va);
    }
  }
  if (c->bench != PERMUTED) {
    uint32_t per = c->train.classes / 5;
    if (per == 0 || c->train.classes % 5) {
      fprintf(stderr, "heed continual: split benchmarks want a multiple of 5 "
                      "classes, %s has %u\n", c->o.data, c->train.classes);
      return -1;
    }
    for (uint32_t t = 0; t < c->T; t++) {
      int rv;
      if (c->tune > 0 && t == 0) /* task 1: minus V1; tested on V1 */
        rv = heed_task_split(&c->tune_tr, 1, per, &c->split_train[0]) ||
             heed_task_split(&c->tune_va, 1, per, &c->split_test[0]);
      else if (c->tune > 0) /* tasks 2..T: all their training images */
        rv = heed_task_split(&c->train, t + 1, per, &c->split_train[t]);
      else
        rv = heed_task_split(&c->train, t + 1, per, &c->split_train[t]) ||
             heed_task_split(&c->test, t + 1, per, &c->split_test[t]);
      if (rv) {
        fprintf(stderr, "heed continual: out of memory\n");
        return -1;
      }
      if (c->split_train[t].n == 0 ||
          (c->split_test[t].n == 0 && !(c->tune > 0 && t > 0))) {
        fprintf(stderr, "heed continual: task %u has no samples\n", t + 1);
        return -1;
      }
    }
  }
  for (uint32_t t = 0; t < c->T; t++) {
    task *k = &c->tasks[t];
    if (c->bench == PERMUTED) {
      k->train = &c->train;
      k->test = &c->test;
      if (!(k->perm = malloc(c->train.dim * sizeof *k->perm))) {
        fprintf(stderr, "heed continual: out of memory\n");
        return -1;
      }
    } else {
      k->train = &c->split_train[t];
      k->test = c->split_test[t].n ? &c->split_test[t] : NULL;
    }
    if (c->bench == SPLIT_TASK) {
      uint32_t per = c->train.classes / 5;
      k->masked = 1;
      for (uint32_t j = 0; j < per; j++)
        k->mask[t * per + j] = 1;
    }
  }
  return 0;
}

/* Test accuracy of the current network on task k. */
static int evaluate(cl *c, heed_net *net, const task *k, float *buf,
                    double *acc, double *loss) {
  const heed_dataset *d = k->test;
  uint64_t correct = 0, count = 0;
  double lsum = 0;
  for (size_t off = 0; off < d->n; off += CHUNK) {
    size_t cnt = d->n - off < CHUNK ? d->n - off : CHUNK;
    const float *x = d->x + off * d->dim;
    if (k->perm) {
      heed_task_permute_rows(x, cnt, d->dim, k->perm, buf);
      x = buf;
    }
    heed_batch_stats st = {0};
    int rv = k->masked
                 ? heed_net_eval_masked(net, x, d->y + off, cnt, k->mask, &st)
                 : heed_net_eval(net, x, d->y + off, cnt, &st);
    if (rv) {
      fprintf(stderr, "heed continual: evaluation failed: %s\n",
              heed_strerror(rv));
      return -1;
    }
    correct += st.correct;
    count += st.count;
    lsum += st.loss * st.count;
  }
  (void)c;
  *acc = count ? (double)correct / count : 0;
  if (loss)
    *loss = count ? lsum / count : 0;
  return 0;
}

/* metrics.jsonl: after the p-th task of the order (task t), the test
 * accuracy on every task (a row of R; null where not tested). */
static void record_task(cl *c, const char *strategy, uint64_t seed,
                        uint32_t p, uint32_t t, const double *row) {
  if (!c->rec)
    return;
  heed_json j = {0};
  char acc[32];
  heed__json_open(&j);
  heed__json_str(&j, "kind", "task");
  heed__json_str(&j, "strategy", strategy);
  heed__json_u64(&j, "seed", seed);
  heed__json_u64(&j, "step", p + 1); /* tasks trained so far */
  heed__json_u64(&j, "task", t + 1);
  heed__json_key(&j, "acc");
  heed__json_array(&j, 1);
  for (uint32_t k = 0; k < c->T; k++) {
    snprintf(acc, sizeof acc, row[k] == row[k] ? "%.6g" : "null", row[k]);
    heed__json_item(&j, acc);
  }
  heed__json_array(&j, 0);
  heed__json_close(&j);
  if (!j.oom)
    heed__record_metric(c->rec, j.s);
  heed__json_free(&j);
}

/* One strategy, one seed: trains the tasks in the order ord (NULL: 1..T)
 * and fills R (T x T; row p: after the p-th task of the order, column j:
 * task j; NAN for a task without a test set) and, when L is not NULL, the
 * mean cross-entropy in the same layout. */
static int run_one(cl *c, const char *strategy, uint64_t seed,
                   const uint32_t *ord, double *R, double *L, double *secs) {
  heed_exp_opts o = c->o;
  o.strategy = strategy;
  o.seed = seed;
  heed_runtime *rt = NULL;
  heed_net *net = NULL;
  uint32_t T = c->T, B = o.batch;
  size_t dim = c->train.dim, nmax = c->train.n;
  uint32_t *order = malloc(nmax * sizeof *order);
  float *xb = malloc((size_t)B * dim * sizeof *xb);
  float *xp = malloc((size_t)(B > CHUNK ? B : CHUNK) * dim * sizeof *xp);
  uint8_t *yb = malloc(B);
  int rc = -1;
  if (!order || !xb || !xp || !yb) {
    fprintf(stderr, "heed continual: out of memory\n");
    goto out;
  }
  for (uint32_t t = 0; t < T; t++)
    if (c->tasks[t].perm)
      heed_task_permutation((uint32_t)dim,
                            c->tune > 0 ? seed ^ TUNE_SALT : seed, t + 1,
                            c->tasks[t].perm);
  if (heed__exp_build("continual", &o, (uint32_t)dim, c->train.classes, &rt,
                      &net) ||
      (c->trace && heed_net_set_trace(net, c->trace)))
    goto fail;
  heed_trace_mark(c->trace, c->tsteps, "seed", (uint32_t)seed);
  double t0 = heed__now();
  *secs = 0;
  for (uint32_t p = 0; p < T; p++) {
    uint32_t t = ord ? ord[p] : p;
    const task *k = &c->tasks[t];
    size_t n = k->train->n;
    uint64_t steps = 0;
    double loss = 0, hits = 0, seen = 0;
    if (heed_net_set_train_mask(net, k->masked ? k->mask : NULL) != 0)
      goto fail;
    heed_trace_mark(c->trace, c->tsteps, "task", t + 1);
    for (uint32_t e = 0; e < c->E; e++) {
      if (o.shuffle)
        heed_task_batch_order(n, seed, t + 1, e, order);
      else
        for (size_t i = 0; i < n; i++)
          order[i] = (uint32_t)i;
      for (size_t off = 0; off < n; off += B) {
        if (o.max_steps && steps >= o.max_steps)
          break;
        size_t cnt = n - off < B ? n - off : B;
        heed_dataset_gather(k->train, order + off, cnt, xb, yb);
        const float *x = xb;
        if (k->perm) {
          heed_task_permute_rows(xb, cnt, dim, k->perm, xp);
          x = xp;
        }
        heed_batch_stats st = {0};
        int rv = heed_net_train_batch(net, x, yb, (uint32_t)cnt, &st);
        if (rv) {
          fprintf(stderr, "heed continual: training failed: %s\n",
                  heed_strerror(rv));
          goto fail;
        }
        steps++;
        heed__observe_metric(c->trace, ++c->tsteps, &st);
        loss += st.loss * st.count;
        hits += st.correct;
        seen += st.count;
      }
    }
    heed_net_sync(net);
    heed_net_set_train_mask(net, NULL);
    double row = 0;
    uint32_t nrow = 0;
    for (uint32_t j = 0; j < T; j++) {
      size_t ij = (size_t)p * T + j;
      if (!c->tasks[j].test) { /* --tune on split: only task 1 is seen */
        R[ij] = NAN;
        if (L)
          L[ij] = NAN;
        continue;
      }
      if (evaluate(c, net, &c->tasks[j], xp, &R[ij], L ? &L[ij] : NULL))
        goto fail;
      if (j <= p) {
        row += R[ij];
        nrow++;
      }
    }
    record_task(c, strategy, seed, p, t, R + (size_t)p * T);
    if (c->consolidate && p + 1 < T &&
        heed_net_control(net, HEED_EVENT_CONSOLIDATE) != 0) {
      fprintf(stderr, "heed continual: consolidation failed\n");
      goto fail;
    }
    if (!o.quiet)
      fprintf(stderr, "  %s seed %llu task %u/%u: %llu steps, train loss "
                      "%.4f acc %.2f%%, test on task %u %.2f%%, mean over "
                      "%u tested %.2f%%\n",
              strategy, (unsigned long long)seed, t + 1, T,
              (unsigned long long)steps, seen ? loss / seen : 0,
              seen ? 100 * hits / seen : 0, t + 1,
              100 * R[(size_t)p * T + t], nrow, nrow ? 100 * row / nrow : 0);
  }
  *secs = heed__now() - t0;
  rc = 0;
fail:
  if (net && c->trace)
    heed_net_set_trace(net, NULL);
  heed_net_free(net);
  heed_runtime_free(rt);
out:
  free(order);
  free(xb);
  free(xp);
  free(yb);
  return rc;
}

static void mean_std(const double *v, size_t n, size_t stride, double *mean,
                     double *sd) {
  double m = 0, s = 0;
  for (size_t i = 0; i < n; i++)
    m += v[i * stride];
  m /= n;
  for (size_t i = 0; i < n; i++)
    s += (v[i * stride] - m) * (v[i * stride] - m);
  *mean = m;
  *sd = n > 1 ? sqrt(s / (n - 1)) : 0;
}

/* Mean R over seeds into out (T x T). */
static void mean_R(const cl *c, const result *r, double *out) {
  size_t TT = (size_t)c->T * c->T;
  for (size_t i = 0; i < TT; i++) {
    double sd;
    mean_std(r->R + i, c->seeds, TT, &out[i], &sd);
  }
}

/* --tune on split: the score is the mean of the V1 cross-entropies at the
 * end of the two orders (retention and plasticity); lower is better. */
static void tune_score(const result *r, uint32_t k, double *score) {
  *score = 0.5 * (r->tu[TU_N * k + TU_LRET] + r->tu[TU_N * k + TU_LPLA]);
}

/* --tune: the protocol's pick, by a rule fixed before any run: permuted,
 * the highest mean ACC on V1; split, the lowest mean score. The first
 * listed wins a tie. */
static uint32_t tune_pick(const cl *c) {
  uint32_t best = 0;
  double bv = 0;
  for (uint32_t s = 0; s < c->nstrat; s++) {
    const result *r = &c->res[s];
    double v = 0, sc;
    for (uint32_t k = 0; k < c->seeds; k++) {
      if (c->bench == PERMUTED)
        sc = -r->m[3 * k]; /* lower is better for both */
      else
        tune_score(r, k, &sc);
      v += sc / c->seeds;
    }
    if (s == 0 || v < bv) {
      best = s;
      bv = v;
    }
  }
  return best;
}

/* "permuted (fashion)", and where the numbers come from if not a test set */
static const char *bench_label(const cl *c, char *buf, size_t len) {
  char src[64] = "";
  if (c->tune > 0)
    snprintf(src, sizeof src, "; --tune %g: on V1, not the test set",
             c->tune);
  else if (c->validation > 0)
    snprintf(src, sizeof src, "; --validation %g: on held-out training "
             "images", c->validation);
  snprintf(buf, len, "%s (%s%s)", bench_names[c->bench], c->o.data, src);
  return buf;
}

static void print_text(const cl *c) {
  uint32_t T = c->T;
  double *mR = malloc((size_t)T * T * sizeof *mR);
  char label[256];
  if (!mR)
    return;
  bench_label(c, label, sizeof label);
  for (uint32_t s = 0; s < c->nstrat; s++) {
    const result *r = &c->res[s];
    mean_R(c, r, mR);
    printf("%s on %s, %u task(s), %u epoch(s) per task, %u seed(s):\n"
           "accuracy matrix R (%%; row i: after training task i, column j: "
           "test on task j)\n      ",
           r->strategy, label, T, c->E, c->seeds);
    for (uint32_t j = 0; j < T; j++)
      printf(" task%-3u", j + 1);
    printf("\n");
    for (uint32_t i = 0; i < T; i++) {
      printf("  %3u ", i + 1);
      for (uint32_t j = 0; j < T; j++)
        printf(" %7.2f", 100 * mR[(size_t)i * T + j]);
      printf("\n");
    }
    printf("\n");
  }
  printf("%-28s %18s %18s %18s %8s\n", "strategy", "ACC %", "BWT %", "F %",
         "s/seed");
  for (uint32_t s = 0; s < c->nstrat; s++) {
    const result *r = &c->res[s];
    double m[3], sd[3];
    for (int k = 0; k < 3; k++)
      mean_std(r->m + k, c->seeds, 3, &m[k], &sd[k]);
    printf("%-28s %9.2f +- %5.2f %9.2f +- %5.2f %9.2f +- %5.2f %8.1f\n",
           r->strategy, 100 * m[0], 100 * sd[0], 100 * m[1], 100 * sd[1],
           100 * m[2], 100 * sd[2], r->secs / c->seeds);
  }
  if (c->tune > 0)
    printf("--tune pick (highest mean ACC on V1): %s\n",
           c->res[tune_pick(c)].strategy);
  free(mR);
}


static const char *const tu_names[TU_N] = {
    "v1_after1_acc", "v1_retain_acc", "v1_plastic_acc",
    "v1_after1_loss", "v1_retain_loss", "v1_plastic_loss"};

static void print_tune(const cl *c) {
  printf("--tune %g on %s (%s), %u task(s), %u seed(s): every number is on "
         "V1 (held-out\ntask-1 training images); acc in %%, loss in nats "
         "(mean cross-entropy)\n",
         c->tune, bench_names[c->bench], c->o.data, c->T, c->seeds);
  printf("%-30s %14s %14s %14s %16s %16s %16s\n", "strategy", "after task 1",
         "retain (end)", "plastic (last)", "retain loss", "plastic loss",
         "score (loss)");
  for (uint32_t s = 0; s < c->nstrat; s++) {
    const result *r = &c->res[s];
    double m[TU_N], sd[TU_N], sc[1000], ms, ss;
    for (int k = 0; k < TU_N; k++)
      mean_std(r->tu + k, c->seeds, TU_N, &m[k], &sd[k]);
    for (uint32_t k = 0; k < c->seeds; k++)
      tune_score(r, k, &sc[k]);
    mean_std(sc, c->seeds, 1, &ms, &ss);
    printf("%-30s %6.2f +- %4.2f %6.2f +- %4.2f %6.2f +- %4.2f "
           "%.4f +- %.4f %.4f +- %.4f %.4f +- %.4f\n",
           r->strategy, 100 * m[TU_ACC1], 100 * sd[TU_ACC1], 100 * m[TU_RET],
           100 * sd[TU_RET], 100 * m[TU_PLA], 100 * sd[TU_PLA], m[TU_LRET],
           sd[TU_LRET], m[TU_LPLA], sd[TU_LPLA], ms, ss);
  }
  printf("--tune pick (lowest mean score): %s\n",
         c->res[tune_pick(c)].strategy);
}

static void num(heed_json *j, const char *k, double v) {
  char t[32];
  snprintf(t, sizeof t, "%.4f", v);
  heed__json_raw(j, k, v == v ? t : "null");
}

/* --tune: one strategy's V1 numbers, the members of an object. */
static void tune_json(heed_json *j, const cl *c, const result *r) {
  double sc[1000], ms, ss;
  char t[32];
  heed__json_str(j, "strategy", r->strategy);
  heed__json_num(j, "tune", c->tune);
  for (int k = 0; k < TU_N; k++) {
    double m, sd;
    char key[64];
    mean_std(r->tu + k, c->seeds, TU_N, &m, &sd);
    snprintf(key, sizeof key, "%s_mean", tu_names[k]);
    num(j, key, m);
    snprintf(key, sizeof key, "%s_std", tu_names[k]);
    num(j, key, sd);
  }
  for (uint32_t k = 0; k < c->seeds; k++)
    tune_score(r, k, &sc[k]);
  mean_std(sc, c->seeds, 1, &ms, &ss);
  num(j, "score_mean", ms);
  num(j, "score_std", ss);
  heed__json_key(j, "score_per_seed");
  heed__json_array(j, 1);
  for (uint32_t k = 0; k < c->seeds; k++) {
    snprintf(t, sizeof t, "%.4f", sc[k]);
    heed__json_item(j, t);
  }
  heed__json_array(j, 0);
  snprintf(t, sizeof t, "%.2f", r->secs / c->seeds);
  heed__json_raw(j, "seconds_per_seed", t);
}

/* One strategy's result: ACC, BWT, F (mean, std, per seed), the mean R. */
static void result_json(heed_json *j, const cl *c, const result *r,
                        double *mR) {
  uint32_t T = c->T;
  double m[3], sd[3];
  char t[32];
  for (int k = 0; k < 3; k++)
    mean_std(r->m + k, c->seeds, 3, &m[k], &sd[k]);
  mean_R(c, r, mR);
  heed__json_str(j, "strategy", r->strategy);
  static const char *const names[] = {"acc", "bwt", "forgetting"};
  for (int k = 0; k < 3; k++) {
    char key[32];
    snprintf(key, sizeof key, "%s_mean", names[k]);
    num(j, key, m[k]);
    snprintf(key, sizeof key, "%s_std", names[k]);
    num(j, key, sd[k]);
  }
  heed__json_key(j, "acc_per_seed");
  heed__json_array(j, 1);
  for (uint32_t k = 0; k < c->seeds; k++) {
    snprintf(t, sizeof t, "%.4f", r->m[3 * k]);
    heed__json_item(j, t);
  }
  heed__json_array(j, 0);
  heed__json_key(j, "matrix");
  heed__json_array(j, 1);
  for (uint32_t i = 0; i < T; i++) {
    heed_json row = {0};
    heed__json_array(&row, 1);
    for (uint32_t k = 0; k < T; k++) {
      double v = mR[(size_t)i * T + k];
      snprintf(t, sizeof t, v == v ? "%.4f" : "null", v);
      heed__json_item(&row, t);
    }
    heed__json_array(&row, 0);
    heed__json_item(j, row.s ? row.s : "[]");
    j->oom |= row.oom;
    heed__json_free(&row);
  }
  heed__json_array(j, 0);
  snprintf(t, sizeof t, "%.2f", r->secs / c->seeds);
  heed__json_raw(j, "seconds_per_seed", t);
}

/* The config (config.json), once the data is loaded; starts the record. */
static int record_start(cl *c) {
  heed_exp_opts o = c->o;
  heed_json *j = &c->cfg;
  if (c->nstrat > 1)
    o.strategy = NULL; /* several: in "continual.compare" */
  heed__json_open(j);
  heed__record_config(j, "continual", &o, &c->train, &c->test, c->argc,
                      c->argv);
  heed__json_key(j, "continual");
  heed__json_open(j);
  heed__json_str(j, "bench", bench_names[c->bench]);
  heed__json_u64(j, "tasks", c->T);
  heed__json_u64(j, "epochs_per_task", c->E);
  heed__json_u64(j, "seeds", c->seeds);
  heed__json_key(j, "compare");
  heed__json_array(j, 1);
  for (uint32_t s = 0; s < c->nstrat; s++) {
    heed_json q = {0};
    heed__json_open(&q);
    heed__json_str(&q, "s", c->strat[s]);
    heed__json_item(j, q.s ? q.s + 5 : "null"); /* the string after {"s": */
    j->oom |= q.oom;
    heed__json_free(&q);
  }
  heed__json_array(j, 0);
  heed__json_bool(j, "consolidate", c->consolidate);
  heed__json_num(j, "validation", c->validation);
  heed__json_num(j, "tune", c->tune);
  heed__json_close(j);
  heed__json_close(j);
  if (j->oom) {
    fprintf(stderr, "heed continual: out of memory\n");
    return -1;
  }
  if (heed__record_start(&c->rec, "continual", &c->ro, c->o.data, j->s))
    return -1;
  if (c->rec && !c->plot && !(c->tune > 0 && c->bench != PERMUTED))
    c->plot = heed__record_path(c->rec, "curves.svg", c->plot_buf,
                                sizeof c->plot_buf);
  return 0;
}

/* final.json and --json: {"format", ..., "config", "final": {"results":
 * [one object per strategy]}} (docs/runs.md). */
static int record_final(cl *c) {
  heed_json f = {0};
  double *mR = malloc((size_t)c->T * c->T * sizeof *mR);
  if (!mR) {
    fprintf(stderr, "heed continual: out of memory\n");
    return -1;
  }
  heed__json_open(&f);
  heed__json_key(&f, "results");
  heed__json_array(&f, 1);
  for (uint32_t s = 0; s < c->nstrat; s++) {
    heed_json r = {0};
    heed__json_open(&r);
    if (c->tune > 0 && c->bench != PERMUTED)
      tune_json(&r, c, &c->res[s]);
    else
      result_json(&r, c, &c->res[s], mR);
    heed__json_close(&r);
    heed__json_item(&f, r.s ? r.s : "null");
    f.oom |= r.oom;
    heed__json_free(&r);
  }
  heed__json_array(&f, 0);
  free(mR);
  /* what heed runs ls and compare show: the first strategy's ACC */
  double acc = 0, sd, secs = 0;
  if (!(c->tune > 0 && c->bench != PERMUTED))
    mean_std(c->res[0].m, c->seeds, 3, &acc, &sd);
  for (uint32_t s = 0; s < c->nstrat; s++)
    secs += c->res[s].secs;
  if (!(c->tune > 0 && c->bench != PERMUTED))
    heed__json_num(&f, "test_accuracy", acc);
  heed__json_num(&f, "train_seconds", secs);
  if (c->tune > 0)
    heed__json_str(&f, "tune_pick", c->res[tune_pick(c)].strategy);
  int rv = -1;
  if (f.oom) {
    fprintf(stderr, "heed continual: out of memory\n");
  } else {
    rv = heed__record_end(c->rec, "continual", &c->cfg, f.s + 1, NULL,
                          c->o.json);
    c->rec = NULL; /* freed */
  }
  heed__json_free(&f);
  return rv;
}

static int plot(const cl *c) {
  uint32_t T = c->T, S = c->nstrat;
  size_t TT = (size_t)T * T;
  double *mR = malloc(S * TT * sizeof *mR);
  double *x = malloc(T * sizeof *x);
  double *y = malloc((S + T) * T * sizeof *y);
  heed_panel *panels = calloc(S + 1, sizeof *panels);
  heed_series *ser = calloc(S + T, sizeof *ser);
  char (*names)[64] = calloc(S + T, sizeof *names);
  char (*titles)[96] = calloc(S, sizeof *titles);
  int rv = -1;
  if (!mR || !x || !y || !panels || !ser || !names || !titles)
    goto out;
  for (uint32_t i = 0; i < T; i++)
    x[i] = i + 1;
  size_t ns = 0;
  for (uint32_t s = 0; s < S; s++) {
    double *m = mR + s * TT;
    mean_R(c, &c->res[s], m);
    snprintf(titles[s], sizeof titles[s], "%s: R[i][j]", c->res[s].strategy);
    panels[s] = (heed_panel){titles[s], "tested on task j",
                             "after training task i", NULL, 0, m, T, T};
    /* mean accuracy over the tasks seen so far, per strategy */
    double *ys = y + ns * T;
    for (uint32_t i = 0; i < T; i++) {
      double a = 0;
      for (uint32_t j = 0; j <= i; j++)
        a += m[(size_t)i * T + j];
      ys[i] = 100 * a / (i + 1);
    }
    snprintf(names[ns], sizeof names[ns], "%s: mean over seen tasks",
             c->res[s].strategy);
    ser[ns] = (heed_series){names[ns], x, ys, T};
    ns++;
  }
  if (S == 1) /* one curve per task: its accuracy from when it is learned */
    for (uint32_t j = 0; j < T; j++) {
      double *ys = y + ns * T;
      for (uint32_t i = j; i < T; i++)
        ys[i - j] = 100 * mR[(size_t)i * T + j];
      snprintf(names[ns], sizeof names[ns], "task %u", j + 1);
      ser[ns] = (heed_series){names[ns], x + j, ys, T - j};
      ns++;
    }
  panels[S] = (heed_panel){"test accuracy", "tasks trained", "%", ser, ns,
                           NULL, 0, 0};
  heed_axes *axes = calloc(S + 1, sizeof *axes);
  if (!axes)
    goto out;
  axes[S] = (heed_axes){HEED_AXIS_PERCENT, 1};
  char title[512], err[512];
  snprintf(title, sizeof title, "heed continual --bench %s --tasks %u, %u "
           "seed(s)\n%s, %u epoch(s) per task, lr %g, batch %u, seed %llu%s",
           bench_names[c->bench], T, c->seeds, c->o.data, c->E, c->o.lr,
           c->o.batch, (unsigned long long)c->o.seed,
           c->consolidate ? ", consolidate" : "");
  rv = heed__plot_axes(c->plot, title, panels, axes, S + 1, err, sizeof err);
  free(axes);
  if (rv)
    fprintf(stderr, "heed continual: %s\n", err);
out:
  free(mR);
  free(x);
  free(y);
  free(panels);
  free(ser);
  free(names);
  free(titles);
  return rv;
}

static int run(cl *c) {
  if (setup(c) || record_start(c))
    return 1;
  c->tr.run = c->o.seed;
  heed__observe_config(c->tconfig, sizeof c->tconfig, "continual", c->argc,
                       c->argv);
  c->tr.config = c->tconfig;
  if (heed__trace_open("continual", &c->tr, &c->obs, &c->trace))
    return 1;
  uint32_t T = c->T;
  if (!c->o.quiet)
    fprintf(stderr, "heed continual: %s on %s, %u tasks x %u epoch(s), "
                    "%u seed(s), %u strateg%s, %u thread(s)\n",
            bench_names[c->bench], c->o.data, T, c->E, c->seeds, c->nstrat,
            c->nstrat == 1 ? "y" : "ies", c->o.threads);
  for (uint32_t s = 0; s < c->nstrat; s++) {
    result *r = &c->res[s];
    r->strategy = c->strat[s];
    r->R = calloc((size_t)c->seeds * T * T, sizeof *r->R);
    r->m = calloc((size_t)c->seeds * 3, sizeof *r->m);
    r->tu = calloc((size_t)c->seeds * TU_N, sizeof *r->tu);
    if (!r->R || !r->m || !r->tu) {
      fprintf(stderr, "heed continual: out of memory\n");
      return 1;
    }
  }
  /* Seed-major: every strategy sees seed k before any sees seed k+1. */
  for (uint32_t k = 0; k < c->seeds; k++)
    for (uint32_t s = 0; s < c->nstrat; s++) {
      result *r = &c->res[s];
      double *R = r->R + (size_t)k * T * T, secs;
      if (c->tune > 0 && c->bench != PERMUTED) {
        /* retention: 1..T; plasticity: 2..T,1 (V1 learned last) */
        uint32_t ord[MAX_TASKS];
        double *tu = r->tu + (size_t)k * TU_N, secs2;
        double *L = malloc((size_t)T * T * sizeof *L);
        double *R2 = malloc((size_t)T * T * sizeof *R2);
        double *L2 = malloc((size_t)T * T * sizeof *L2);
        for (uint32_t p = 0; p < T; p++)
          ord[p] = (p + 1) % T;
        int bad = !L || !R2 || !L2 ||
                  run_one(c, r->strategy, c->o.seed + k, NULL, R, L, &secs) ||
                  run_one(c, r->strategy, c->o.seed + k, ord, R2, L2, &secs2);
        if (!bad) {
          size_t end = (size_t)(T - 1) * T;
          tu[TU_ACC1] = R[0];
          tu[TU_RET] = R[end];
          tu[TU_PLA] = R2[end];
          tu[TU_L1] = L[0];
          tu[TU_LRET] = L[end];
          tu[TU_LPLA] = L2[end];
          r->secs += secs + secs2;
          if (!c->o.quiet)
            fprintf(stderr, "heed continual: %s seed %llu: V1 after task 1 "
                            "%.2f%%, retain %.2f%%, plastic %.2f%% (%.1f s)\n",
                    r->strategy, (unsigned long long)(c->o.seed + k),
                    100 * tu[TU_ACC1], 100 * tu[TU_RET], 100 * tu[TU_PLA],
                    secs + secs2);
        }
        free(L);
        free(R2);
        free(L2);
        if (bad)
          return 1;
        continue;
      }
      if (run_one(c, r->strategy, c->o.seed + k, NULL, R, NULL, &secs))
        return 1;
      r->secs += secs;
      heed_cl_metrics(R, T, &r->m[3 * k], &r->m[3 * k + 1],
                      &r->m[3 * k + 2]);
      if (!c->o.quiet)
        fprintf(stderr, "heed continual: %s seed %llu: ACC %.2f%%, BWT "
                        "%.2f%%, F %.2f%% (%.1f s)\n",
                r->strategy, (unsigned long long)(c->o.seed + k),
                100 * r->m[3 * k], 100 * r->m[3 * k + 1],
                100 * r->m[3 * k + 2], secs);
    }
  if (c->o.json)
    ; /* record_final prints it */
  else if (c->tune > 0 && c->bench != PERMUTED)
    print_tune(c);
  else
    print_text(c);
  fflush(stdout);
  if (c->plot && plot(c))
    return 1;
  return record_final(c) ? 1 : 0;
}

int heed_cmd_continual(int argc, char **argv) {
  cl *c = calloc(1, sizeof *c);
  if (!c) {
    fprintf(stderr, "heed continual: out of memory\n");
    return 1;
  }
  heed__exp_defaults(&c->o);
  c->argc = argc;
  c->argv = argv;
  c->T = 5;
  c->E = 1;
  c->seeds = 1;
  c->consolidate = 1;
  int rc = parse(c, argc, argv);
  if (rc < 0)
    rc = run(c);
  if (heed__trace_close("continual", &c->trace, &c->obs) && rc == 0)
    rc = 1;
  heed__observe_free(&c->obs);
  heed_dataset_destroy(&c->train);
  heed_dataset_destroy(&c->test);
  heed_dataset_destroy(&c->tune_tr);
  heed_dataset_destroy(&c->tune_va);
  for (uint32_t t = 0; t < MAX_TASKS; t++) {
    heed_dataset_destroy(&c->split_train[t]);
    heed_dataset_destroy(&c->split_test[t]);
    free(c->tasks[t].perm);
  }
  for (uint32_t s = 0; s < MAX_STRATS; s++) {
    free(c->res[s].R);
    free(c->res[s].m);
    free(c->res[s].tu);
  }
  heed__record_free(c->rec);
  heed__json_free(&c->cfg);
  heed__society_free(&c->o.society);
  free(c);
  return rc;
}
