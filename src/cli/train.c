/*
 * train.c - `heed train`: train a society of neuron actors on a real data
 * set, with progress, checkpoints, resume, a JSON summary and a plot.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/distributed.h"
#include "cli/experiment.h"
#include "cli/observe.h"
#include "cli/plot.h"
#include "cli/progress.h"
#include "cli/record.h"
#include "cli/suggest.h"
#include "heed/checkpoint.h"
#include "heed/data.h"

static void usage(FILE *f) {
  fprintf(f, "usage: heed train [options]\n\n"
             "Trains a feed-forward network whose every neuron is an actor on "
             "a real data set\nand reports test accuracy.\n\noptions:\n");
  heed__exp_usage(f, HEED_EXP_USAGE_TRAIN);
  heed__dist_usage(f);
  heed__record_usage(f);
  fprintf(f,
      "  --save-init FILE       write the weights before the first step\n"
      "  --checkpoint FILE      write a checkpoint at each epoch end and at "
      "the end\n"
      "  --resume FILE          continue the run saved in FILE: its data, "
      "network, what\n"
      "                         each neuron plays, --lr, --batch, --seed, "
      "--shuffle and\n"
      "                         --split-seed come from it; a flag that "
      "contradicts it\n"
      "                         is an error (docs/runs.md)\n"
      "  --plot FILE.svg|.png   learning curves (training loss and accuracy, "
      "test\n"
      "                         accuracy per epoch)\n");
  heed__trace_usage(f);
  fprintf(f,
      "  -h, --help             this help\n\n"
      "Data comes from tools/fetch-data. Example:\n"
      "  heed train --data mnist --hidden 256,256 --epochs 3 --plot mnist.svg\n");
}

typedef struct curve {
  heed_checkpoint_point *p;
  size_t n, cap;
  double *ex, *ey; /* test accuracy per epoch */
  size_t ne;
} curve;

static int curve_add(curve *c, uint64_t step, double loss, double acc) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 256;
    heed_checkpoint_point *p = realloc(c->p, cap * sizeof *p);
    if (!p)
      return -1;
    c->p = p;
    c->cap = cap;
  }
  c->p[c->n++] = (heed_checkpoint_point){step, loss, acc};
  return 0;
}

typedef struct run {
  heed_exp_opts o;
  const char *save_init, *checkpoint, *resume, *plot;
  heed_dataset train, test;
  heed_runtime *rt;
  heed_net *net;
  curve cv;
  uint32_t epoch0;   /* epochs already done (resume) */
  uint64_t steps;    /* total steps done */
  char args[2048];   /* the effective options, into each checkpoint */
  char strategy[1024], build_strategy[1024]; /* from --resume's checkpoint */
  char config[HEED_TRACE_MAX_CONFIG]; /* the command line, for the trace */
  heed_trace_opts tr; /* tr.path or tr.live_url set: trace */
  heed_trace *trace;
  heed__observer obs; /* --observe */
  heed_dist_opts dopts; /* --workers, --cluster, ... */
  heed_dist *dist;
  heed_record_opts ro; /* --run-dir, --run-name, --no-record */
  heed_record *rec;
  char plot_buf[4200], ckpt_buf[4200];
  heed_json cfg; /* the config members, for config.json and --json */
  int argc;
  char **argv;
} run;

static int save(run *r, const char *path, uint32_t epochs_done) {
  char err[512];
  heed_checkpoint_meta m = {
      .seed = r->o.seed, .epoch = epochs_done, .batch = r->o.batch,
      .shuffle = r->o.shuffle, .dataset = r->o.data, .args = r->args,
      .ncurve = r->cv.n, .curve = r->cv.p};
  if (heed__dist_pull(r->dist))
    return -1;
  if (heed_checkpoint_save(r->net, &m, path, err, sizeof err) != 0) {
    fprintf(stderr, "heed train: %s\n", err);
    return -1;
  }
  return 0;
}

/* A test accuracy on the curve, once per step count (the last one too,
 * after --max-steps or mid-epoch). */
static void test_point(run *r, const heed_batch_stats *ev) {
  if (!ev->count || (r->cv.ne && r->cv.ex[r->cv.ne - 1] == (double)r->steps))
    return;
  double *ex = realloc(r->cv.ex, (r->cv.ne + 1) * sizeof *ex);
  if (ex)
    r->cv.ex = ex;
  double *ey = ex ? realloc(r->cv.ey, (r->cv.ne + 1) * sizeof *ey) : NULL;
  if (ey)
    r->cv.ey = ey;
  if (ex && ey) {
    ex[r->cv.ne] = (double)r->steps;
    ey[r->cv.ne++] = 100.0 * ev->correct / ev->count;
  }
}

static int eval(run *r, heed_batch_stats *st) {
  int rv = heed_net_eval(r->net, r->test.x, r->test.y, r->test.n, st);
  if (rv) {
    if (!heed__dist_failed(r->dist)) /* else the cluster's line said why */
      fprintf(stderr, "heed train: evaluation failed: %s\n",
              heed_strerror(rv));
    return -1;
  }
  return 0;
}

/* A checkpoint saved during epoch E (E epochs done) has taken between
 * E and E+1 epochs of steps on this data at its batch size; anything else
 * was saved on other data or edited, and would train 0 steps. */
static int resume_consistent(run *r) {
  uint64_t per_epoch = (r->train.n + r->o.batch - 1) / r->o.batch;
  uint64_t lo = (uint64_t)r->epoch0 * per_epoch, hi = lo + per_epoch;
  if (r->steps >= lo && r->steps <= hi)
    return 0;
  fprintf(stderr, "heed train: %s: 'step' = %llu disagrees with 'epoch' = "
                  "%u (%zu samples in batches of %u: expected %llu to %llu)\n",
          r->resume, (unsigned long long)r->steps, r->epoch0, r->train.n,
          r->o.batch, (unsigned long long)lo, (unsigned long long)hi);
  return -1;
}

/* Loads --resume before the data: the network shape, the run's options
 * (the data set among them) and what the neurons play come from it. */
static int resume_load(run *r, heed_checkpoint **ck) {
  char err[512];
  if (heed_checkpoint_load(ck, r->resume, err, sizeof err) != 0) {
    fprintf(stderr, "heed train: %s\n", err);
    return -1;
  }
  return heed__exp_from_checkpoint("train", &r->o, *ck, r->resume,
                                   r->strategy, sizeof r->strategy,
                                   r->build_strategy,
                                   sizeof r->build_strategy);
}

/* Once the data is loaded: the checkpoint fits it; its curve continues. */
static int resume(run *r, const heed_checkpoint *ck) {
  const heed_checkpoint_meta *m = heed_checkpoint_meta_of(ck);
  size_t ns = heed_checkpoint_nsizes(ck);
  const uint32_t *sz = heed_checkpoint_sizes(ck);
  if (sz[0] != r->train.dim || sz[ns - 1] != r->train.classes) {
    fprintf(stderr, "heed train: %s holds a %u-input, %u-output network but "
                    "the data has %zu inputs and %u classes\n",
            r->resume, sz[0], sz[ns - 1], r->train.dim, r->train.classes);
    return -1;
  }
  r->epoch0 = m->epoch;
  r->steps = heed_checkpoint_step(ck);
  if (resume_consistent(r))
    return -1;
  for (size_t i = 0; i < m->ncurve; i++)
    if (curve_add(&r->cv, m->curve[i].step, m->curve[i].loss,
                  m->curve[i].acc))
      return -1;
  return 0;
}

/* The run record (record.h): its config once the data is loaded. */
static int record_start(run *r) {
  heed__json_open(&r->cfg);
  heed__record_config(&r->cfg, "train", &r->o, &r->train, &r->test, r->argc,
                      r->argv);
  heed__json_str(&r->cfg, "resumed_from", r->resume);
  heed__json_close(&r->cfg);
  if (r->cfg.oom) {
    fprintf(stderr, "heed train: out of memory\n");
    return -1;
  }
  int rv = heed__record_start(&r->rec, "train", &r->ro, r->o.data, r->cfg.s);
  if (rv == 0 && r->rec && !r->plot) /* the plot lives with the record */
    r->plot = heed__record_path(r->rec, "curves.svg", r->plot_buf,
                                sizeof r->plot_buf);
  return rv;
}

/* A step whose loss is not finite has left the weights nan or inf: every
 * later step, checkpoint and figure would be garbage reported as success.
 * Stop with one line that names the lever, and note it in the record. */
static int diverged(run *r, const heed_batch_stats *st, uint32_t epoch) {
  if (isfinite(st->loss))
    return 0;
  char line[160];
  snprintf(line, sizeof line,
           "{\"kind\":\"diverged\",\"step\":%llu,\"epoch\":%u}",
           (unsigned long long)r->steps, epoch + 1);
  heed__record_metric(r->rec, line);
  fprintf(stderr,
          "heed train: the loss diverged (%s) at step %llu; lower --lr "
          "(%g) or the strategy's parameters\n",
          isnan(st->loss) ? "nan" : "inf", (unsigned long long)r->steps,
          r->o.lr);
  return 1;
}

static void record_step(run *r, uint32_t epoch, double loss, double acc,
                        double sps) {
  char line[256];
  snprintf(line, sizeof line, "{\"kind\":\"step\",\"step\":%llu,"
           "\"epoch\":%u,\"loss\":%.6g,\"train_acc\":%.6g,"
           "\"samples_per_s\":%.0f}", (unsigned long long)r->steps, epoch,
           loss, acc, sps);
  heed__record_metric(r->rec, line);
}

static void record_eval(run *r, const char *kind, uint32_t epoch,
                        const heed_batch_stats *ev) {
  char line[256];
  snprintf(line, sizeof line, "{\"kind\":\"%s\",\"step\":%llu,"
           "\"epoch\":%u,\"test_acc\":%.6g,\"test_loss\":%.6g}", kind,
           (unsigned long long)r->steps, epoch,
           ev->count ? (double)ev->correct / ev->count : 0, ev->loss);
  heed__record_metric(r->rec, line);
}

/* final.json and --json: one object (docs/runs.md): the run directory,
 * the config, the final metrics, then the summary fields older heed
 * printed at the top level. */
static int record_final(run *r, uint32_t epoch, const heed_batch_stats *ev,
                        double secs, uint64_t samples) {
  double acc = ev->count ? (double)ev->correct / ev->count : 0;
  double sps = secs > 0 ? samples / secs : 0;
  heed_json f = {0}, top = {0};
  heed__json_open(&f);
  heed__json_num(&f, "test_accuracy", acc);
  heed__json_num(&f, "test_loss", ev->loss);
  heed__json_u64(&f, "steps", r->steps);
  heed__json_u64(&f, "epochs", epoch);
  heed__json_num(&f, "train_seconds", secs);
  heed__json_num(&f, "samples_per_s", sps);
  heed__json_open(&top);
  heed__json_str(&top, "dataset", r->o.data); /* the older summary */
  heed__json_str(&top, "strategy", r->o.strategy);
  heed__json_u64(&top, "epochs", epoch);
  heed__json_u64(&top, "steps", r->steps);
  heed__json_u64(&top, "batch", r->o.batch);
  heed__json_u64(&top, "threads", r->o.threads);
  heed__json_num(&top, "test_accuracy", acc);
  heed__json_num(&top, "test_loss", ev->loss);
  heed__json_num(&top, "train_seconds", secs);
  heed__json_num(&top, "samples_per_s", sps);
  int rv = -1;
  if (f.oom || top.oom) {
    fprintf(stderr, "heed train: out of memory\n");
  } else {
    rv = heed__record_end(r->rec, "train", &r->cfg, f.s + 1, top.s + 1,
                          r->o.json);
    r->rec = NULL; /* freed */
  }
  heed__json_free(&f);
  heed__json_free(&top);
  return rv;
}

static int plot(run *r) {
  size_t n = r->cv.n;
  double *x = malloc((n + 1) * sizeof *x), *l = malloc((n + 1) * sizeof *l),
         *a = malloc((n + 1) * sizeof *a);
  int rv = -1;
  if (!x || !l || !a)
    goto out;
  for (size_t i = 0; i < n; i++) {
    x[i] = (double)r->cv.p[i].step;
    l[i] = r->cv.p[i].loss;
    a[i] = 100 * r->cv.p[i].acc;
  }
  heed_series loss = {"training loss", x, l, n};
  heed_series acc[2] = {{"training accuracy", x, a, n},
                        {"test accuracy", r->cv.ex, r->cv.ey, r->cv.ne}};
  heed_panel panels[2] = {
      {"training loss", "step", "cross-entropy", &loss, 1, NULL, 0, 0},
      {"accuracy", "step", "%", acc, 2, NULL, 0, 0}};
  heed_axes axes[2] = {{HEED_AXIS_NONNEG, 1}, {HEED_AXIS_PERCENT, 1}};
  char title[1600], err[512], hidden[HEED_EXP_MAX_LAYERS * 7 + 8] = "none";
  size_t off = 0;
  for (size_t i = 0; i < r->o.nhidden; i++)
    off += (size_t)snprintf(hidden + off, sizeof hidden - off, "%s%u",
                            i ? "," : "", r->o.hidden[i]);
  snprintf(title, sizeof title, "heed train --data %s --strategy %.1000s\n"
           "hidden %s, %s, lr %g, batch %u, seed %llu, %llu steps, "
           "%zu training / %zu test samples", r->o.data, r->o.strategy,
           hidden, heed_activation_name(r->o.act), r->o.lr, r->o.batch,
           (unsigned long long)r->o.seed, (unsigned long long)r->steps,
           r->train.n, r->test.n);
  rv = heed__plot_axes(r->plot, title, panels, axes, 2, err, sizeof err);
  if (rv)
    fprintf(stderr, "heed train: %s\n", err);
out:
  free(x);
  free(l);
  free(a);
  return rv;
}

/* The --trace* and --observe* flags: 1 consumed, 0 not one, -1 bad. */
static int parse_trace(run *r, int argc, char **argv, int *i) {
  return heed__trace_flags_parse("train", &r->tr, &r->obs, argc, argv, i);
}

/* Creates the tracer and attaches it (when asked for). */
static int trace_start(run *r) {
  r->tr.run = r->o.seed;
  r->tr.procs = heed__dist_procs(r->dist);
  if (heed__trace_open("train", &r->tr, &r->obs, &r->trace))
    return -1;
  if (!r->trace)
    return 0;
  if (r->dist) /* every process's actors, into this one trace */
    return heed__dist_trace(r->dist, r->trace) ? -1 : 0;
  return heed_net_set_trace(r->net, r->trace) ? -1 : 0;
}

/* Detaches the tracer: the workers' last records arrive first. */
static void trace_stop(run *r) {
  if (!r->trace)
    return;
  if (r->dist)
    heed__dist_trace(r->dist, NULL);
  else if (r->net)
    heed_net_set_trace(r->net, NULL);
}

/* Closes it, once the net is gone (after a failure its actors may still
 * have been finishing messages): nonzero, after one line, when its file
 * could not be written whole (a full disk). */
static int trace_free(run *r) {
  return heed__trace_close("train", &r->trace, &r->obs);
}

static int parse(run *r, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int k = heed__exp_parse("train", &r->o, argc, argv, &i);
    if (k < 0)
      return 2;
    if (k > 0)
      continue;
    const char *a = argv[i];
    const char **dst = !strcmp(a, "--save-init")    ? &r->save_init
                       : !strcmp(a, "--checkpoint") ? &r->checkpoint
                       : !strcmp(a, "--resume")     ? &r->resume
                       : !strcmp(a, "--plot")       ? &r->plot
                                                    : NULL;
    if (dst) {
      if (!(*dst = heed__arg_value("train", argc, argv, &i)))
        return 2;
      continue;
    }
    int k2 = parse_trace(r, argc, argv, &i);
    if (k2 < 0)
      return 2;
    if (k2 > 0)
      continue;
    if ((k2 = heed__record_parse("train", &r->ro, argc, argv, &i)) != 0) {
      if (k2 < 0)
        return 2;
      continue;
    }
    if ((k2 = heed__dist_parse("train", &r->dopts, argc, argv, &i)) != 0) {
      if (k2 < 0)
        return 2;
      continue;
    }
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    heed__unknown_option("train", a, usage);
    return 2;
  }
  return -1;
}

static int out_path_ok(const char *flag, const char *path) {
  return heed__arg_out_path("train", flag, path) == 0;
}

static int train(run *r) {
  char err[512];
  heed_checkpoint *ck = NULL;
  uint32_t *order = NULL;
  float *xb = NULL;
  uint8_t *yb = NULL;
  int rc = 1;

  if (!out_path_ok("--checkpoint", r->checkpoint) ||
      !out_path_ok("--save-init", r->save_init) ||
      !out_path_ok("--plot", r->plot))
    return 1;
  if (r->resume && resume_load(r, &ck))
    goto out;
  if (heed__exp_check_strategy("train", &r->o) ||
      heed__exp_society("train", &r->o) ||
      heed__exp_check_data("train", &r->o))
    goto out;
  if (heed_data_load_split(r->o.data, r->o.data_dir, r->o.split_seed,
                           &r->train, &r->test, err, sizeof err) != 0) {
    fprintf(stderr, "heed train: %s\n", err);
    return 1;
  }
  if (!r->train.n || !r->test.n) { /* the loaders refuse this; never divide */
    fprintf(stderr, "heed train: %s: empty %s set\n", r->o.data,
            r->train.n ? "test" : "training");
    return 1;
  }
  if (ck && resume(r, ck))
    goto out;
  heed__exp_args(&r->o, r->args, sizeof r->args);
  if (record_start(r))
    goto out;
  if (heed__dist_enabled(&r->dopts)
          ? heed__dist_build(&r->dist, "train", &r->dopts, &r->o, ck,
                             (uint32_t)r->train.dim, r->train.classes, &r->rt,
                             &r->net)
          : heed__exp_build("train", &r->o, (uint32_t)r->train.dim,
                            r->train.classes, &r->rt, &r->net))
    goto out;
  if (ck && heed_checkpoint_apply(ck, r->net, err, sizeof err) != 0) {
    fprintf(stderr, "heed train: %s\n", err);
    goto out;
  }
  if (ck && heed__dist_push(r->dist))
    goto out;
  if (r->save_init && save(r, r->save_init, r->epoch0))
    goto out;
  if (trace_start(r))
    goto out;

  size_t n = r->train.n, dim = r->train.dim, B = r->o.batch;
  uint64_t per_epoch = (n + B - 1) / B;
  uint64_t total = per_epoch * r->o.epochs;
  if (r->o.max_steps && r->o.max_steps < total)
    total = r->o.max_steps;
  order = malloc(n * sizeof *order);
  xb = malloc(B * dim * sizeof *xb);
  yb = malloc(B);
  if (!order || !xb || !yb) {
    fprintf(stderr, "heed train: out of memory\n");
    goto out;
  }
  if (!r->o.quiet)
    fprintf(stderr, "heed train: %s, %zu training / %zu test samples, "
                    "strategy %s, %u thread(s)\n",
            r->o.data, n, r->test.n, r->o.strategy, r->o.threads);
  heed_progress pg;
  heed__progress_init(&pg, total, r->o.quiet);
  uint64_t every = per_epoch / 50 ? per_epoch / 50 : 1, samples = 0;
  double t0 = heed__now(), run_loss = 0, run_acc = 0;
  uint64_t run_n = 0;
  heed_batch_stats st = {0};
  int done = 0;
  uint32_t epoch = r->epoch0 + (uint32_t)((r->steps - r->epoch0 * per_epoch) /
                                          per_epoch);
  for (; epoch < r->o.epochs && !done; epoch++) {
    if (r->o.shuffle)
      heed_dataset_shuffle_order(n, r->o.seed, epoch, order);
    else
      for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    uint64_t first = r->steps - (uint64_t)epoch * per_epoch;
    for (uint64_t b = first; b < per_epoch; b++) {
      if (r->steps >= total) {
        done = 1;
        break;
      }
      size_t off = b * B, cnt = n - off < B ? n - off : B;
      heed_dataset_gather(&r->train, order + off, cnt, xb, yb);
      int rv = heed_net_train_batch(r->net, xb, yb, (uint32_t)cnt, &st);
      if (rv) {
        if (!heed__dist_failed(r->dist)) /* else its line said why */
          fprintf(stderr, "heed train: training step %llu failed: %s\n",
                  (unsigned long long)r->steps, heed_strerror(rv));
        goto out;
      }
      r->steps++;
      if (diverged(r, &st, epoch))
        goto out;
      if (r->dopts.checkpoint_every && r->checkpoint &&
          r->steps % r->dopts.checkpoint_every == 0 &&
          save(r, r->checkpoint, epoch))
        goto out;
      samples += cnt;
      run_loss += st.loss * st.count;
      run_acc += st.correct;
      run_n += st.count;
      heed__observe_metric(r->trace, r->steps, &st);
      if (r->steps % every == 0 && run_n) {
        curve_add(&r->cv, r->steps, run_loss / run_n, run_acc / run_n);
        record_step(r, epoch + 1, run_loss / run_n, run_acc / run_n,
                    samples / (heed__now() - t0 + 1e-9));
        heed__progress_update(&pg, epoch + 1, r->o.epochs, r->steps,
                              run_loss / run_n, run_acc / run_n, samples, 0);
        run_loss = run_acc = 0;
        run_n = 0;
      }
    }
    if (done)
      break;
    heed_batch_stats ev;
    if (eval(r, &ev))
      goto out;
    heed__progress_done(&pg);
    test_point(r, &ev);
    record_eval(r, "epoch", epoch + 1, &ev);
    if (!r->o.quiet)
      fprintf(stderr, "epoch %u/%u: test accuracy %.2f%%, test loss %.4f\n",
              epoch + 1, r->o.epochs, 100.0 * ev.correct / ev.count, ev.loss);
    if (r->checkpoint && save(r, r->checkpoint, epoch + 1))
      goto out;
  }
  heed_net_sync(r->net);
  double secs = heed__now() - t0;
  heed_batch_stats ev;
  if (eval(r, &ev))
    goto out;
  heed__progress_done(&pg);
  record_eval(r, "final", epoch, &ev);
  test_point(r, &ev);
  const char *ck_path = r->checkpoint ? r->checkpoint
                        : heed__record_path(r->rec, "checkpoint.ckpt",
                                            r->ckpt_buf, sizeof r->ckpt_buf);
  if (ck_path && save(r, ck_path, epoch))
    goto out;
  if (r->plot && plot(r))
    goto out;
  double acc = ev.count ? (double)ev.correct / ev.count : 0;
  if (record_final(r, epoch, &ev, secs, samples))
    goto out;
  if (!r->o.json)
    printf("test accuracy %.2f%% (loss %.4f) after %llu steps, %.1f s, "
           "%.0f samples/s\n",
           100 * acc, ev.loss, (unsigned long long)r->steps, secs,
           secs > 0 ? samples / secs : 0);
  rc = 0;
out:
  heed_checkpoint_free(ck);
  free(order);
  free(xb);
  free(yb);
  return rc;
}

int heed_cmd_train(int argc, char **argv) {
  run r;
  memset(&r, 0, sizeof r);
  heed__exp_defaults(&r.o);
  r.argc = argc;
  r.argv = argv;
  heed__observe_config(r.config, sizeof r.config, "train", argc, argv);
  r.tr.config = r.config;
  int rc = parse(&r, argc, argv);
  if (rc >= 0)
    return rc;
  if ((rc = heed__dist_launch("train", &r.dopts)) >= 0)
    return rc; /* a launched worker's run is over */
  rc = train(&r);
  trace_stop(&r);
  heed__dist_stop(r.dist);
  if (heed__dist_failed(r.dist))
    rc = 1;
  heed_net_free(r.net);
  heed_runtime_free(r.rt);
  if (trace_free(&r) && rc == 0)
    rc = 1;
  heed__observe_free(&r.obs);
  heed__dist_free(r.dist);
  heed_dataset_destroy(&r.train);
  heed_dataset_destroy(&r.test);
  free(r.cv.p);
  free(r.cv.ex);
  free(r.cv.ey);
  heed__record_free(r.rec);
  heed__json_free(&r.cfg);
  heed__society_free(&r.o.society);
  return rc;
}
