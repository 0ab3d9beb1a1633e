/*
 * checkpoint.c - a network and its run as one MessagePack map.
 *
 * Writing streams the map through a msgpack_packer straight into a
 * temporary file next to the target, which is fsync'd and renamed over it.
 *
 * Reading slurps the file, first walks the raw bytes with a small bounds
 * checker (skim) so that no array or map header can claim more elements
 * than the bytes left could hold (msgpack-c would otherwise allocate for
 * the claimed count before noticing the data is missing), then unpacks it
 * with msgpack_unpack_next and copies every field out with type and length
 * checks. The layout is documented in docs/checkpoint-format.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <msgpack.h>

#include "common/alloc.h"
#include "common/escape.h"
#include "common/mpk.h"
#include "heed/checkpoint.h"

#define NAME_MAX_LEN 63   /* strategy and parameter names */
#define TEXT_MAX_LEN 65536 /* dataset and args strings */
#define STATE_MAX_FLOATS (1u << 28)
#define SKIM_MAX_DEPTH 16

/* Text from the file, escaped for a one-line message (common/escape.h). */
#define ESC(s, buf) heed__escape((s), SIZE_MAX, (buf), sizeof(buf))

typedef struct ck_play {
  char name[NAME_MAX_LEN + 1];
  size_t nparams;
  char pname[HEED_STRATEGY_MAX_PARAMS][NAME_MAX_LEN + 1];
  double pval[HEED_STRATEGY_MAX_PARAMS];
} ck_play;

typedef struct ck_layer {
  uint32_t n, fan_in;
  heed_activation act;
  float *w;          /* n * fan_in */
  float *b;          /* n */
  uint32_t *play;    /* n play indices */
  size_t *state_off; /* n + 1 offsets into state */
  float *state;
} ck_layer;

struct heed_checkpoint {
  char *path;
  size_t nsizes;
  uint32_t *sizes;
  ck_layer *layers; /* nsizes - 1 */
  size_t nplays;
  ck_play *plays;
  uint64_t step;
  float lr;
  heed_checkpoint_meta meta;
  char *dataset, *args;
  heed_checkpoint_point *curve;
};

static int say(char *err, size_t len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *err, size_t len, int code, const char *fmt, ...) {
  if (err && len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* ---- run limits (shared with the command line) ------------------------ */

static const heed_run_limit run_limits[HEED_RUN_NFIELDS] = {
    [HEED_RUN_BATCH] = {"batch", "--batch", 1, 4096, 1},
    [HEED_RUN_LR] = {"lr", "--lr", 1e-9, 100, 0},
    [HEED_RUN_EPOCHS] = {"epoch", "--epochs", 1, 100000, 1},
};

const heed_run_limit *heed_run_limit_of(heed_run_field f) {
  return (unsigned)f < HEED_RUN_NFIELDS ? &run_limits[f] : NULL;
}

int heed_run_check(heed_run_field f, double v, char *err, size_t errlen) {
  const heed_run_limit *l = heed_run_limit_of(f);
  if (!l)
    return say(err, errlen, HEED_EINVAL, "unknown run option");
  if (isfinite(v) && v >= l->min && v <= l->max && (!l->integer || v == floor(v)))
    return 0;
  return say(err, errlen, HEED_ERANGE, "'%s' = %.9g is out of range [%g, %g]",
             l->name, v, l->min, l->max);
}

/* lr is kept as a float: the float nearest the lower bound is in. */
static int check_lr(double lr, char *err, size_t errlen) {
  if ((float)lr == (float)run_limits[HEED_RUN_LR].min)
    return 0;
  return heed_run_check(HEED_RUN_LR, lr, err, errlen);
}

/* The meta fields as the loader will check them: batch 0 and epoch 0 mean
 * "not recorded" and "none done yet". */
static int check_meta(const heed_checkpoint_meta *m, char *err,
                      size_t errlen) {
  int rv = 0;
  if (m->batch)
    rv = heed_run_check(HEED_RUN_BATCH, m->batch, err, errlen);
  if (!rv && m->epoch)
    rv = heed_run_check(HEED_RUN_EPOCHS, m->epoch, err, errlen);
  return rv;
}

/* ---- little-endian float32 --------------------------------------------- */

static void f32_to_le(uint8_t *dst, const float *src, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &src[i], 4);
    dst[4 * i] = (uint8_t)u;
    dst[4 * i + 1] = (uint8_t)(u >> 8);
    dst[4 * i + 2] = (uint8_t)(u >> 16);
    dst[4 * i + 3] = (uint8_t)(u >> 24);
  }
}

static void f32_from_le(float *dst, const uint8_t *src, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t)src[4 * i] | (uint32_t)src[4 * i + 1] << 8 |
                 (uint32_t)src[4 * i + 2] << 16 |
                 (uint32_t)src[4 * i + 3] << 24;
    memcpy(&dst[i], &u, 4);
  }
}

/* ---- saving ------------------------------------------------------------ */

typedef struct writer {
  FILE *f;
  int failed; /* errno of the first failed write */
} writer;

static int write_cb(void *data, const char *buf, size_t len) {
  writer *w = data;
  if (w->failed)
    return -1;
  if (len && fwrite(buf, 1, len, w->f) != len) {
    w->failed = errno ? errno : EIO;
    return -1;
  }
  return 0;
}

static void pack_key(msgpack_packer *pk, const char *s) {
  msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void pack_text(msgpack_packer *pk, const char *s) {
  s = s ? s : "";
  msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* Packs n floats as a bin of little-endian float32; converts buf in place
 * (buf is caller's scratch). */
static void pack_f32(msgpack_packer *pk, float *buf, size_t n) {
  f32_to_le((uint8_t *)buf, buf, n);
  msgpack_pack_bin_with_body(pk, buf, n * 4);
}

typedef struct save_play {
  const heed_strategy_ops *ops;
  const double *params;
} save_play;

/* Index of (ops, params) in plays, adding it when new. */
static int find_play(save_play **plays, size_t *n, size_t *cap,
                     const heed_strategy_ops *ops, const double *params,
                     uint32_t *idx) {
  for (size_t i = *n; i-- > 0;)
    if ((*plays)[i].ops == ops &&
        ((*plays)[i].params == params ||
         !memcmp((*plays)[i].params, params, ops->nparams * sizeof *params))) {
      *idx = (uint32_t)i;
      return 0;
    }
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 8;
    save_play *np = heed__realloc(*plays, nc * sizeof *np);
    if (!np)
      return HEED_ENOMEM;
    *plays = np;
    *cap = nc;
  }
  (*plays)[*n] = (save_play){ops, params};
  *idx = (uint32_t)(*n)++;
  return 0;
}

/* The directory part of path into dir ("." or "/" when it has none). */
static int dir_of(const char *path, char *dir, size_t cap) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(dir, cap, ".");
  else if (slash == path)
    snprintf(dir, cap, "/");
  else {
    size_t n = (size_t)(slash - path);
    if (n >= cap)
      return -1;
    memcpy(dir, path, n);
    dir[n] = 0;
  }
  return 0;
}

static int fsync_dir(const char *path) {
  char dir[PATH_MAX];
  if (dir_of(path, dir, sizeof dir) != 0)
    return -1;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int rv = fsync(fd);
  /* Some file systems cannot fsync a directory; that is not a failure of
   * the checkpoint, which is already renamed into place. */
  if (rv != 0 && (errno == EINVAL || errno == ENOTSUP))
    rv = 0;
  close(fd);
  return rv;
}

/* Removes BASE.tmp.PID files next to path whose PID no longer runs: what
 * a save killed between create and rename (kill -9, power loss) leaves.
 * A live PID's file is left alone, whoever it is: it may be a concurrent
 * save. Best effort: failures here never fail the save. */
static void remove_stale_tmp(const char *path) {
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
  size_t bl = strlen(base);
  if (!bl || dir_of(path, dir, sizeof dir) != 0)
    return;
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *n = e->d_name;
    if (strncmp(n, base, bl) || strncmp(n + bl, ".tmp.", 5))
      continue;
    char *end;
    errno = 0;
    long pid = strtol(n + bl + 5, &end, 10);
    if (errno || *end || end == n + bl + 5 || n[bl + 5] == '-' ||
        n[bl + 5] == '+' || pid <= 0 || pid > INT_MAX ||
        pid == (long)getpid())
      continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue; /* alive, or not ours to judge (EPERM: alive) */
    char full[PATH_MAX];
    if (snprintf(full, sizeof full, "%s/%s", dir, n) < (int)sizeof full)
      unlink(full);
  }
  closedir(d);
}

int heed_checkpoint_save(const heed_net *cnet, const heed_checkpoint_meta *meta,
                         const char *path, char *err, size_t errlen) {
  heed_net *net = (heed_net *)cnet; /* only to wait until it is idle */
  if (!net || !path || !path[0])
    return say(err, errlen, HEED_EINVAL, "checkpoint: no network or path");
  heed_checkpoint_meta nometa = {0};
  if (!meta)
    meta = &nometa;
  if (meta->ncurve && !meta->curve)
    return say(err, errlen, HEED_EINVAL, "%s: curve missing", path);
  if (meta->ncurve > HEED_CHECKPOINT_MAX_CURVE)
    return say(err, errlen, HEED_ERANGE, "%s: train curve too long", path);
  int rv = heed_net_sync(net);
  if (rv)
    return say(err, errlen, rv, "%s: network busy: %s", path,
               heed_strerror(rv));
  char why[256];
  if ((rv = check_meta(meta, why, sizeof why)) != 0 ||
      (rv = check_lr(heed_net_lr(net), why, sizeof why)) != 0)
    return say(err, errlen, rv, "%s: not saved: %s", path, why);
  size_t nl = heed_net_nlayers(net);
  if (nl < 1 || nl > HEED_CHECKPOINT_MAX_LAYERS)
    return say(err, errlen, HEED_ERANGE, "%s: %zu layers (at most %d)", path,
               nl, HEED_CHECKPOINT_MAX_LAYERS);
  size_t maxw = 0, maxn = 0;
  for (size_t l = 1; l <= nl; l++) {
    uint64_t cells = (uint64_t)heed_net_size(net, l) * heed_net_size(net, l - 1);
    if (cells * 4 > UINT32_MAX)
      return say(err, errlen, HEED_ERANGE,
                 "%s: layer %zu too large for a checkpoint", path, l);
    if (cells > maxw)
      maxw = (size_t)cells;
    if (heed_net_size(net, l) > maxn)
      maxn = heed_net_size(net, l);
  }

  /* The distinct plays and, per neuron, which one it plays. */
  save_play *plays = NULL;
  size_t nplays = 0, capplays = 0;
  uint32_t **play_of = heed__calloc(nl, sizeof *play_of);
  float *buf = heed__malloc((maxw > maxn ? maxw : maxn) * sizeof *buf);
  size_t statecap = 0;
  float *statebuf = NULL;
  char *tmp = NULL;
  FILE *f = NULL;
  if (!play_of || !buf) {
    rv = say(err, errlen, HEED_ENOMEM, "%s: out of memory", path);
    goto out;
  }
  for (size_t l = 1; l <= nl; l++) {
    uint32_t n = heed_net_size(net, l);
    if (!(play_of[l - 1] = heed__malloc(n * sizeof **play_of))) {
      rv = say(err, errlen, HEED_ENOMEM, "%s: out of memory", path);
      goto out;
    }
    for (uint32_t j = 0; j < n; j++) {
      const double *params = NULL;
      const heed_strategy_ops *ops = heed_net_neuron_strategy(net, l, j, &params);
      if (!ops || !params) {
        rv = say(err, errlen, HEED_ESTATE, "%s: neuron %zu/%u has no strategy",
                 path, l, j);
        goto out;
      }
      if ((rv = find_play(&plays, &nplays, &capplays, ops, params,
                          &play_of[l - 1][j])) != 0) {
        rv = say(err, errlen, rv, "%s: out of memory", path);
        goto out;
      }
    }
  }

  struct stat tst;
  if (stat(path, &tst) == 0 && !S_ISREG(tst.st_mode)) {
    rv = say(err, errlen, HEED_EINVAL,
             "%s: not a regular file; a checkpoint never replaces one", path);
    goto out;
  }
  remove_stale_tmp(path);
  size_t tlen = strlen(path) + 32;
  if (!(tmp = heed__malloc(tlen))) {
    rv = say(err, errlen, HEED_ENOMEM, "%s: out of memory", path);
    goto out;
  }
  snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || !(f = fdopen(fd, "wb"))) {
    rv = say(err, errlen, HEED_EIO, "%s: cannot create %s: %s", path, tmp,
             strerror(errno));
    if (fd >= 0)
      close(fd);
    goto out_unlink;
  }

  writer wr = {f, 0};
  msgpack_packer pk;
  msgpack_packer_init(&pk, &wr, write_cb);
  msgpack_pack_map(&pk, 12);
  pack_key(&pk, "format");
  pack_key(&pk, HEED_CHECKPOINT_FORMAT);
  pack_key(&pk, "version");
  msgpack_pack_uint32(&pk, HEED_CHECKPOINT_VERSION);
  pack_key(&pk, "sizes");
  msgpack_pack_array(&pk, nl + 1);
  for (size_t l = 0; l <= nl; l++)
    msgpack_pack_uint32(&pk, heed_net_size(net, l));
  pack_key(&pk, "activations");
  msgpack_pack_array(&pk, nl);
  for (size_t l = 1; l <= nl; l++)
    pack_key(&pk, heed_activation_name(heed_net_activation(net, l)));
  pack_key(&pk, "step");
  msgpack_pack_uint64(&pk, heed_net_step(net));
  pack_key(&pk, "lr");
  msgpack_pack_float(&pk, heed_net_lr(net));

  pack_key(&pk, "plays");
  msgpack_pack_array(&pk, nplays);
  for (size_t i = 0; i < nplays; i++) {
    msgpack_pack_map(&pk, 2);
    pack_key(&pk, "name");
    pack_key(&pk, plays[i].ops->name);
    pack_key(&pk, "params");
    msgpack_pack_map(&pk, plays[i].ops->nparams);
    for (size_t p = 0; p < plays[i].ops->nparams; p++) {
      pack_key(&pk, plays[i].ops->params[p].name);
      msgpack_pack_double(&pk, plays[i].params[p]);
    }
  }
  pack_key(&pk, "strategy");
  msgpack_pack_array(&pk, nl);
  for (size_t l = 1; l <= nl; l++) {
    uint32_t n = heed_net_size(net, l);
    msgpack_pack_array(&pk, n);
    for (uint32_t j = 0; j < n; j++)
      msgpack_pack_uint32(&pk, play_of[l - 1][j]);
  }

  pack_key(&pk, "state");
  msgpack_pack_array(&pk, nl);
  for (size_t l = 1; l <= nl && !wr.failed; l++) {
    uint32_t n = heed_net_size(net, l);
    msgpack_pack_array(&pk, n);
    for (uint32_t j = 0; j < n; j++) {
      size_t len = 0;
      if ((rv = heed_net_state_get(net, l, j, NULL, &len)) != 0) {
        rv = say(err, errlen, rv, "%s: cannot read neuron state", path);
        goto out_unlink;
      }
      if (len > STATE_MAX_FLOATS) {
        rv = say(err, errlen, HEED_ERANGE, "%s: neuron state too large", path);
        goto out_unlink;
      }
      if (len > statecap) {
        float *ns = heed__realloc(statebuf, len * sizeof *ns);
        if (!ns) {
          rv = say(err, errlen, HEED_ENOMEM, "%s: out of memory", path);
          goto out_unlink;
        }
        statebuf = ns;
        statecap = len;
      }
      if (len && (rv = heed_net_state_get(net, l, j, statebuf, &len)) != 0) {
        rv = say(err, errlen, rv, "%s: cannot read neuron state", path);
        goto out_unlink;
      }
      pack_f32(&pk, statebuf, len);
    }
  }

  pack_key(&pk, "weights");
  msgpack_pack_array(&pk, nl);
  for (size_t l = 1; l <= nl && !wr.failed; l++) {
    if ((rv = heed_net_params_get(net, l, buf, NULL)) != 0) {
      rv = say(err, errlen, rv, "%s: cannot read weights", path);
      goto out_unlink;
    }
    pack_f32(&pk, buf, (size_t)heed_net_size(net, l) * heed_net_size(net, l - 1));
  }
  pack_key(&pk, "biases");
  msgpack_pack_array(&pk, nl);
  for (size_t l = 1; l <= nl && !wr.failed; l++) {
    if ((rv = heed_net_params_get(net, l, NULL, buf)) != 0) {
      rv = say(err, errlen, rv, "%s: cannot read biases", path);
      goto out_unlink;
    }
    pack_f32(&pk, buf, heed_net_size(net, l));
  }

  pack_key(&pk, "meta");
  msgpack_pack_map(&pk, 7);
  pack_key(&pk, "seed");
  msgpack_pack_uint64(&pk, meta->seed);
  pack_key(&pk, "epoch");
  msgpack_pack_uint32(&pk, meta->epoch);
  pack_key(&pk, "batch");
  msgpack_pack_uint32(&pk, meta->batch);
  pack_key(&pk, "shuffle");
  if (meta->shuffle)
    msgpack_pack_true(&pk);
  else
    msgpack_pack_false(&pk);
  pack_key(&pk, "dataset");
  pack_text(&pk, meta->dataset);
  pack_key(&pk, "args");
  pack_text(&pk, meta->args);
  pack_key(&pk, "curve");
  msgpack_pack_array(&pk, meta->ncurve);
  for (size_t i = 0; i < meta->ncurve; i++) {
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint64(&pk, meta->curve[i].step);
    msgpack_pack_double(&pk, meta->curve[i].loss);
    msgpack_pack_double(&pk, meta->curve[i].acc);
  }

  if (wr.failed) {
    rv = say(err, errlen, HEED_EIO, "%s: cannot write %s: %s", path, tmp,
             strerror(wr.failed));
    goto out_unlink;
  }
  if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
    rv = say(err, errlen, HEED_EIO, "%s: cannot write %s: %s", path, tmp,
             strerror(errno));
    goto out_unlink;
  }
  int cerr = fclose(f);
  f = NULL;
  if (cerr != 0) {
    rv = say(err, errlen, HEED_EIO, "%s: cannot write %s: %s", path, tmp,
             strerror(errno));
    goto out_unlink;
  }
  if (rename(tmp, path) != 0) {
    rv = say(err, errlen, HEED_EIO, "%s: cannot rename %s over it: %s", path,
             tmp, strerror(errno));
    goto out_unlink;
  }
  if (fsync_dir(path) != 0) {
    rv = say(err, errlen, HEED_EIO, "%s: cannot sync its directory: %s", path,
             strerror(errno));
    goto out;
  }
  rv = 0;
  goto out;

out_unlink:
  if (f)
    fclose(f);
  f = NULL;
  if (tmp)
    unlink(tmp);
out:
  if (play_of)
    for (size_t l = 0; l < nl; l++)
      heed__free(play_of[l]);
  heed__free(play_of);
  heed__free(plays);
  heed__free(buf);
  heed__free(statebuf);
  heed__free(tmp);
  return rv;
}

/* ---- loading: raw bounds check ----------------------------------------- */

static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* Walks one MessagePack object at p[*off..n): every length fits in the
 * bytes left and every element count is at most the bytes left. */
static int skim(const uint8_t *p, size_t n, size_t *off, int depth) {
  if (depth > SKIM_MAX_DEPTH)
    return HEED_EFORMAT;
  if (*off >= n)
    return HEED_ETRUNC;
  uint8_t t = p[(*off)++];
  size_t left = n - *off;
  uint64_t len = 0, count = 0;
  int hdr = 0, extra = 0, kind = 0; /* kind: 0 scalar/raw, 1 array, 2 map */
  if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
    return 0;
  if (t >= 0x80 && t <= 0x8f) {
    count = t & 0x0f;
    kind = 2;
  } else if (t >= 0x90 && t <= 0x9f) {
    count = t & 0x0f;
    kind = 1;
  } else if (t >= 0xa0 && t <= 0xbf) {
    len = t & 0x1f;
  } else {
    switch (t) {
    case 0xc4: case 0xd9: hdr = 1; break;           /* bin8, str8 */
    case 0xc5: case 0xda: hdr = 2; break;           /* bin16, str16 */
    case 0xc6: case 0xdb: hdr = 4; break;           /* bin32, str32 */
    case 0xc7: hdr = 1; extra = 1; break;           /* ext8 */
    case 0xc8: hdr = 2; extra = 1; break;           /* ext16 */
    case 0xc9: hdr = 4; extra = 1; break;           /* ext32 */
    case 0xca: case 0xce: case 0xd2: len = 4; break; /* f32, u32, i32 */
    case 0xcb: case 0xcf: case 0xd3: len = 8; break; /* f64, u64, i64 */
    case 0xcc: case 0xd0: len = 1; break;
    case 0xcd: case 0xd1: len = 2; break;
    case 0xd4: len = 2; break; /* fixext 1..16: type + data */
    case 0xd5: len = 3; break;
    case 0xd6: len = 5; break;
    case 0xd7: len = 9; break;
    case 0xd8: len = 17; break;
    case 0xdc: hdr = 2; kind = 1; break;
    case 0xdd: hdr = 4; kind = 1; break;
    case 0xde: hdr = 2; kind = 2; break;
    case 0xdf: hdr = 4; kind = 2; break;
    default: return HEED_EFORMAT; /* 0xc1: never used */
    }
    if (hdr) {
      if (left < (size_t)hdr)
        return HEED_ETRUNC;
      uint64_t v = be(p + *off, hdr);
      *off += (size_t)hdr;
      left -= (size_t)hdr;
      if (kind)
        count = v;
      else
        len = v + (uint64_t)extra;
    }
  }
  if (!kind) {
    if (len > left)
      return HEED_ETRUNC;
    *off += (size_t)len;
    return 0;
  }
  uint64_t items = kind == 2 ? 2 * count : count;
  if (items > left)
    return HEED_ETRUNC;
  for (uint64_t i = 0; i < items; i++) {
    int rv = skim(p, n, off, depth + 1);
    if (rv)
      return rv;
  }
  return 0;
}

/* ---- loading: typed access to the unpacked tree ------------------------ */

typedef struct rd {
  const char *path;
  char *err;
  size_t errlen;
} rd;

#define BAD(r, code, ...) bad(r, code, __VA_ARGS__)
static int bad(rd *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(rd *r, int code, const char *fmt, ...) {
  if (r->err && r->errlen) {
    int k = snprintf(r->err, r->errlen, "%s: ", r->path);
    if (k >= 0 && (size_t)k < r->errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(r->err + k, r->errlen - (size_t)k, fmt, ap);
      va_end(ap);
    }
  }
  return code;
}

static const msgpack_object *get(const msgpack_object *map, const char *key) {
  size_t kl = strlen(key);
  for (uint32_t i = 0; i < map->via.map.size; i++) {
    const msgpack_object *k = &map->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
        !memcmp(k->via.str.ptr, key, kl))
      return &map->via.map.ptr[i].val;
  }
  return NULL;
}

static int need(rd *r, const msgpack_object *map, const char *key,
                msgpack_object_type type, const msgpack_object **out) {
  const msgpack_object *o = get(map, key);
  if (!o)
    return BAD(r, HEED_EFORMAT, "not a heed checkpoint: no '%s'", key);
  if (o->type != type)
    return BAD(r, HEED_EFORMAT, "'%s' has the wrong type", key);
  *out = o;
  return 0;
}

static int need_uint(rd *r, const msgpack_object *map, const char *key,
                     uint64_t max, uint64_t *out) {
  const msgpack_object *o;
  int rv = need(r, map, key, MSGPACK_OBJECT_POSITIVE_INTEGER, &o);
  if (rv)
    return rv;
  if (o->via.u64 > max)
    return BAD(r, HEED_ERANGE, "'%s' = %llu is out of range", key,
               (unsigned long long)o->via.u64);
  *out = o->via.u64;
  return 0;
}

/* Copies a string object into dst (cap bytes with the NUL); rejects
 * embedded NULs and, when bad_chars is given, those characters. */
static int str_copy(rd *r, const msgpack_object *o, const char *what,
                    char *dst, size_t cap, const char *bad_chars) {
  if (o->type != MSGPACK_OBJECT_STR)
    return BAD(r, HEED_EFORMAT, "%s is not a string", what);
  size_t n = o->via.str.size;
  if (n >= cap)
    return BAD(r, HEED_ERANGE, "%s is too long", what);
  for (size_t i = 0; i < n; i++)
    if (!o->via.str.ptr[i] || (bad_chars && strchr(bad_chars, o->via.str.ptr[i])))
      return BAD(r, HEED_EFORMAT, "%s has a bad character", what);
  memcpy(dst, o->via.str.ptr, n);
  dst[n] = 0;
  return 0;
}

static int str_dup(rd *r, const msgpack_object *o, const char *what,
                   char **out) {
  if (o->type != MSGPACK_OBJECT_STR)
    return BAD(r, HEED_EFORMAT, "%s is not a string", what);
  if (o->via.str.size > TEXT_MAX_LEN)
    return BAD(r, HEED_ERANGE, "%s is too long", what);
  char *s = heed__malloc(o->via.str.size + 1);
  if (!s)
    return BAD(r, HEED_ENOMEM, "out of memory");
  int rv = str_copy(r, o, what, s, o->via.str.size + 1, NULL);
  if (rv) {
    heed__free(s);
    return rv;
  }
  *out = s;
  return 0;
}

/* A bin of exactly count little-endian float32 into a new array. */
static int f32_bin(rd *r, const msgpack_object *o, uint64_t count,
                   const char *what, size_t l, float **out) {
  if (o->type != MSGPACK_OBJECT_BIN)
    return BAD(r, HEED_EFORMAT, "%s of layer %zu is not a bin", what, l);
  if ((uint64_t)o->via.bin.size != count * 4)
    return BAD(r, HEED_EFORMAT,
               "%s of layer %zu has %u bytes, expected %llu", what, l,
               o->via.bin.size, (unsigned long long)(count * 4));
  float *a = heed__malloc(count ? count * sizeof *a : 1);
  if (!a)
    return BAD(r, HEED_ENOMEM, "out of memory");
  f32_from_le(a, (const uint8_t *)o->via.bin.ptr, (size_t)count);
  *out = a;
  return 0;
}

static int layer_array(rd *r, const msgpack_object *top, const char *key,
                       size_t nl, const msgpack_object **out) {
  int rv = need(r, top, key, MSGPACK_OBJECT_ARRAY, out);
  if (rv)
    return rv;
  if ((*out)->via.array.size != nl)
    return BAD(r, HEED_EFORMAT, "'%s' has %u entries for %zu layers", key,
               (*out)->via.array.size, nl);
  return 0;
}

/* Checks a play's parameters against its strategy's declared names and
 * ranges when the strategy is registered (a plugin's may not be loaded
 * yet: heed_checkpoint_apply checks those when it builds them). */
static int check_play(rd *r, const ck_play *p, size_t i) {
  const heed_strategy_ops *ops = heed_strategy_find(p->name);
  char e1[HEED_ESCAPE_BUF], e2[HEED_ESCAPE_BUF], why[256];
  if (!ops)
    return 0;
  for (size_t k = 0; k < p->nparams; k++) {
    size_t q = 0;
    while (q < ops->nparams && strcmp(ops->params[q].name, p->pname[k]))
      q++;
    if (q == ops->nparams)
      return BAD(r, HEED_EFORMAT, "play %zu: strategy %s has no parameter "
                 "'%s'", i, ESC(p->name, e1), ESC(p->pname[k], e2));
    if (heed_strategy_param_check(ops, q, p->pval[k], why, sizeof why) != 0)
      return BAD(r, HEED_ERANGE, "play %zu: %s", i, why);
  }
  return 0;
}

/* Strategy and parameter names: printable ASCII without the spec's
 * separators, so they print as they are and parse back as a spec. */
static int name_copy(rd *r, const msgpack_object *o, const char *what,
                     char *dst, size_t cap) {
  int rv = str_copy(r, o, what, dst, cap, ":,= ");
  if (rv)
    return rv;
  char e[HEED_ESCAPE_BUF];
  if (!dst[0])
    return BAD(r, HEED_EFORMAT, "%s is empty", what);
  for (const char *c = dst; *c; c++)
    if (*c < 0x21 || *c > 0x7e)
      return BAD(r, HEED_EFORMAT, "%s '%s' has a bad character", what,
                 ESC(dst, e));
  return 0;
}

static int read_plays(rd *r, heed_checkpoint *ck, const msgpack_object *top,
                      uint64_t neurons) {
  const msgpack_object *a;
  char e1[HEED_ESCAPE_BUF], e2[HEED_ESCAPE_BUF];
  int rv = need(r, top, "plays", MSGPACK_OBJECT_ARRAY, &a);
  if (rv)
    return rv;
  if (a->via.array.size == 0 || a->via.array.size > neurons)
    return BAD(r, HEED_EFORMAT, "'plays' has %u entries for %llu neurons",
               a->via.array.size, (unsigned long long)neurons);
  ck->nplays = a->via.array.size;
  if (!(ck->plays = heed__calloc(ck->nplays, sizeof *ck->plays)))
    return BAD(r, HEED_ENOMEM, "out of memory");
  for (size_t i = 0; i < ck->nplays; i++) {
    const msgpack_object *po = &a->via.array.ptr[i], *name, *params;
    ck_play *p = &ck->plays[i];
    if (po->type != MSGPACK_OBJECT_MAP)
      return BAD(r, HEED_EFORMAT, "play %zu is not a map", i);
    if ((rv = need(r, po, "name", MSGPACK_OBJECT_STR, &name)) != 0 ||
        (rv = need(r, po, "params", MSGPACK_OBJECT_MAP, &params)) != 0)
      return rv;
    if ((rv = name_copy(r, name, "strategy name", p->name, sizeof p->name)))
      return rv;
    if (params->via.map.size > HEED_STRATEGY_MAX_PARAMS)
      return BAD(r, HEED_EFORMAT, "strategy %s has %u parameters (at most %d)",
                 ESC(p->name, e1), params->via.map.size,
                 HEED_STRATEGY_MAX_PARAMS);
    p->nparams = params->via.map.size;
    for (size_t k = 0; k < p->nparams; k++) {
      const msgpack_object_kv *kv = &params->via.map.ptr[k];
      if ((rv = name_copy(r, &kv->key, "parameter name", p->pname[k],
                          sizeof p->pname[k])) != 0)
        return rv;
      for (size_t q = 0; q < k; q++)
        if (!strcmp(p->pname[q], p->pname[k]))
          return BAD(r, HEED_EFORMAT, "strategy %s: parameter %s twice",
                     ESC(p->name, e1), ESC(p->pname[k], e2));
      if (heed__mpk_num(&kv->val, &p->pval[k]) != 0 ||
          !isfinite(p->pval[k]))
        return BAD(r, HEED_EFORMAT, "strategy %s: %s is not a finite number",
                   ESC(p->name, e1), ESC(p->pname[k], e2));
    }
    if ((rv = check_play(r, p, i)) != 0)
      return rv;
  }
  return 0;
}

static int read_meta(rd *r, heed_checkpoint *ck, const msgpack_object *top) {
  const msgpack_object *m, *o;
  int rv = need(r, top, "meta", MSGPACK_OBJECT_MAP, &m);
  if (rv)
    return rv;
  uint64_t v;
  if ((rv = need_uint(r, m, "seed", UINT64_MAX, &v)) != 0)
    return rv;
  ck->meta.seed = v;
  if ((rv = need_uint(r, m, "epoch", UINT32_MAX, &v)) != 0)
    return rv;
  ck->meta.epoch = (uint32_t)v;
  if ((rv = need_uint(r, m, "batch", UINT32_MAX, &v)) != 0)
    return rv;
  ck->meta.batch = (uint32_t)v;
  if ((rv = need(r, m, "shuffle", MSGPACK_OBJECT_BOOLEAN, &o)) != 0)
    return rv;
  ck->meta.shuffle = o->via.boolean;
  if ((rv = need(r, m, "dataset", MSGPACK_OBJECT_STR, &o)) != 0 ||
      (rv = str_dup(r, o, "'dataset'", &ck->dataset)) != 0)
    return rv;
  if ((rv = need(r, m, "args", MSGPACK_OBJECT_STR, &o)) != 0 ||
      (rv = str_dup(r, o, "'args'", &ck->args)) != 0)
    return rv;
  ck->meta.dataset = ck->dataset;
  ck->meta.args = ck->args;
  if ((rv = need(r, m, "curve", MSGPACK_OBJECT_ARRAY, &o)) != 0)
    return rv;
  if (o->via.array.size > HEED_CHECKPOINT_MAX_CURVE)
    return BAD(r, HEED_ERANGE, "'curve' is too long");
  size_t n = o->via.array.size;
  if (n) {
    if (!(ck->curve = heed__calloc(n, sizeof *ck->curve)))
      return BAD(r, HEED_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
      const msgpack_object *pt = &o->via.array.ptr[i];
      if (pt->type != MSGPACK_OBJECT_ARRAY || pt->via.array.size != 3 ||
          pt->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
          heed__mpk_num(&pt->via.array.ptr[1], &ck->curve[i].loss) != 0 ||
          heed__mpk_num(&pt->via.array.ptr[2], &ck->curve[i].acc) != 0)
        return BAD(r, HEED_EFORMAT, "curve point %zu is not [step, loss, acc]",
                   i);
      ck->curve[i].step = pt->via.array.ptr[0].via.u64;
    }
  }
  ck->meta.ncurve = n;
  ck->meta.curve = ck->curve;
  char why[256];
  if ((rv = check_meta(&ck->meta, why, sizeof why)) != 0)
    return BAD(r, rv, "%s", why);
  return 0;
}

static int read_tree(rd *r, heed_checkpoint *ck, const msgpack_object *top) {
  const msgpack_object *o;
  int rv;
  if (top->type != MSGPACK_OBJECT_MAP)
    return BAD(r, HEED_EFORMAT, "not a heed checkpoint (not a map)");
  if ((rv = need(r, top, "format", MSGPACK_OBJECT_STR, &o)) != 0)
    return rv;
  size_t fl = strlen(HEED_CHECKPOINT_FORMAT);
  if (o->via.str.size != fl || memcmp(o->via.str.ptr, HEED_CHECKPOINT_FORMAT, fl))
    return BAD(r, HEED_EFORMAT, "not a heed checkpoint (format is not '%s')",
               HEED_CHECKPOINT_FORMAT);
  if ((rv = need(r, top, "version", MSGPACK_OBJECT_POSITIVE_INTEGER, &o)) != 0)
    return rv;
  if (o->via.u64 != HEED_CHECKPOINT_VERSION)
    return BAD(r, HEED_EVERSION,
               "checkpoint format version %llu, this heed reads version %d",
               (unsigned long long)o->via.u64, HEED_CHECKPOINT_VERSION);

  /* sizes and activations */
  if ((rv = need(r, top, "sizes", MSGPACK_OBJECT_ARRAY, &o)) != 0)
    return rv;
  if (o->via.array.size < 2 || o->via.array.size > HEED_CHECKPOINT_MAX_LAYERS + 1)
    return BAD(r, HEED_EFORMAT, "%u layer sizes (need 2 to %d)",
               o->via.array.size, HEED_CHECKPOINT_MAX_LAYERS + 1);
  ck->nsizes = o->via.array.size;
  size_t nl = ck->nsizes - 1;
  if (!(ck->sizes = heed__calloc(ck->nsizes, sizeof *ck->sizes)) ||
      !(ck->layers = heed__calloc(nl, sizeof *ck->layers)))
    return BAD(r, HEED_ENOMEM, "out of memory");
  uint64_t neurons = 0;
  for (size_t l = 0; l < ck->nsizes; l++) {
    const msgpack_object *s = &o->via.array.ptr[l];
    if (s->type != MSGPACK_OBJECT_POSITIVE_INTEGER || s->via.u64 == 0 ||
        s->via.u64 > HEED_CHECKPOINT_MAX_SIZE)
      return BAD(r, HEED_EFORMAT, "size of layer %zu is not in 1..%u", l,
                 HEED_CHECKPOINT_MAX_SIZE);
    ck->sizes[l] = (uint32_t)s->via.u64;
    if (l)
      neurons += ck->sizes[l];
  }
  for (size_t l = 0; l < nl; l++) {
    ck->layers[l].n = ck->sizes[l + 1];
    ck->layers[l].fan_in = ck->sizes[l];
  }
  if ((rv = layer_array(r, top, "activations", nl, &o)) != 0)
    return rv;
  for (size_t l = 0; l < nl; l++) {
    char name[32], e[HEED_ESCAPE_BUF];
    if ((rv = str_copy(r, &o->via.array.ptr[l], "activation", name,
                       sizeof name, NULL)) != 0)
      return rv;
    if (heed_activation_parse(name, &ck->layers[l].act) != 0)
      return BAD(r, HEED_EFORMAT, "unknown activation '%s'", ESC(name, e));
  }

  uint64_t v;
  if ((rv = need_uint(r, top, "step", UINT64_MAX, &v)) != 0)
    return rv;
  ck->step = v;
  if ((o = get(top, "lr")) == NULL)
    return BAD(r, HEED_EFORMAT, "not a heed checkpoint: no 'lr'");
  double lr;
  if (heed__mpk_num(o, &lr) != 0 || !isfinite(lr))
    return BAD(r, HEED_EFORMAT, "'lr' is not a finite number");
  char why[256];
  if ((rv = check_lr(lr, why, sizeof why)) != 0)
    return BAD(r, rv, "%s", why);
  ck->lr = (float)lr;

  if ((rv = read_plays(r, ck, top, neurons)) != 0)
    return rv;
  const msgpack_object *strat, *state, *wts, *bis;
  if ((rv = layer_array(r, top, "strategy", nl, &strat)) != 0 ||
      (rv = layer_array(r, top, "state", nl, &state)) != 0 ||
      (rv = layer_array(r, top, "weights", nl, &wts)) != 0 ||
      (rv = layer_array(r, top, "biases", nl, &bis)) != 0)
    return rv;
  for (size_t l = 0; l < nl; l++) {
    ck_layer *L = &ck->layers[l];
    const msgpack_object *sa = &strat->via.array.ptr[l];
    const msgpack_object *st = &state->via.array.ptr[l];
    if (sa->type != MSGPACK_OBJECT_ARRAY || sa->via.array.size != L->n)
      return BAD(r, HEED_EFORMAT, "'strategy' of layer %zu is not %u indices",
                 l + 1, L->n);
    if (st->type != MSGPACK_OBJECT_ARRAY || st->via.array.size != L->n)
      return BAD(r, HEED_EFORMAT, "'state' of layer %zu is not %u bins",
                 l + 1, L->n);
    if (!(L->play = heed__malloc(L->n * sizeof *L->play)) ||
        !(L->state_off = heed__malloc((L->n + 1) * sizeof *L->state_off)))
      return BAD(r, HEED_ENOMEM, "out of memory");
    size_t total = 0;
    for (uint32_t j = 0; j < L->n; j++) {
      const msgpack_object *ix = &sa->via.array.ptr[j];
      if (ix->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
          ix->via.u64 >= ck->nplays)
        return BAD(r, HEED_EFORMAT, "neuron %zu/%u plays a play out of range",
                   l + 1, j);
      L->play[j] = (uint32_t)ix->via.u64;
      const msgpack_object *b = &st->via.array.ptr[j];
      if (b->type != MSGPACK_OBJECT_BIN || b->via.bin.size % 4 ||
          b->via.bin.size / 4 > STATE_MAX_FLOATS)
        return BAD(r, HEED_EFORMAT, "state of neuron %zu/%u is not float32s",
                   l + 1, j);
      L->state_off[j] = total;
      total += b->via.bin.size / 4; /* bounded by the file size */
    }
    L->state_off[L->n] = total;
    if (!(L->state = heed__malloc(total ? total * sizeof *L->state : 1)))
      return BAD(r, HEED_ENOMEM, "out of memory");
    for (uint32_t j = 0; j < L->n; j++) {
      const msgpack_object *b = &st->via.array.ptr[j];
      f32_from_le(L->state + L->state_off[j], (const uint8_t *)b->via.bin.ptr,
                  b->via.bin.size / 4);
    }
    if ((rv = f32_bin(r, &wts->via.array.ptr[l], (uint64_t)L->n * L->fan_in,
                      "weights", l + 1, &L->w)) != 0 ||
        (rv = f32_bin(r, &bis->via.array.ptr[l], L->n, "biases", l + 1,
                      &L->b)) != 0)
      return rv;
  }
  return read_meta(r, ck, top);
}

static int slurp(rd *r, uint8_t **out, size_t *len) {
  int fd = open(r->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return BAD(r, HEED_EIO, "cannot open: %s", strerror(errno));
  struct stat st;
  int rv = 0;
  uint8_t *buf = NULL;
  if (fstat(fd, &st) != 0) {
    rv = BAD(r, HEED_EIO, "cannot stat: %s", strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rv = BAD(r, HEED_EIO, "not a regular file");
    goto out;
  }
  if (st.st_size == 0) {
    rv = BAD(r, HEED_ETRUNC, "empty file, not a checkpoint");
    goto out;
  }
  if ((uint64_t)st.st_size > HEED_CHECKPOINT_MAX_BYTES ||
      (uint64_t)st.st_size > SIZE_MAX) {
    rv = BAD(r, HEED_ERANGE, "file too large for a checkpoint");
    goto out;
  }
  size_t n = (size_t)st.st_size, got = 0;
  if (!(buf = heed__malloc(n))) {
    rv = BAD(r, HEED_ENOMEM, "out of memory reading %zu bytes", n);
    goto out;
  }
  while (got < n) {
    ssize_t k = read(fd, buf + got, n - got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0) {
      rv = BAD(r, HEED_EIO, "cannot read: %s", strerror(errno));
      goto out;
    }
    if (k == 0)
      break; /* shrank while we read: checked as truncation below */
    got += (size_t)k;
  }
  *out = buf;
  *len = got;
  buf = NULL;
out:
  heed__free(buf);
  close(fd);
  return rv;
}

/* Parses n bytes of buf as a checkpoint named name (for messages). */
static int load_buf(rd *r, const uint8_t *buf, size_t n,
                    heed_checkpoint **ckp) {
  heed_checkpoint *ck = NULL;
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  int rv;
  if (n == 0) {
    rv = BAD(r, HEED_ETRUNC, "empty file, not a checkpoint");
    goto out;
  }
  if ((rv = skim(buf, n, &off, 0)) != 0) {
    rv = rv == HEED_ETRUNC
             ? BAD(r, rv, "truncated checkpoint (cut short at %zu bytes)", n)
             : BAD(r, rv, "not a heed checkpoint (malformed MessagePack)");
    goto out;
  }
  if (off != n) {
    rv = BAD(r, HEED_EFORMAT, "not a heed checkpoint (%zu stray bytes)",
             n - off);
    goto out;
  }
  off = 0;
  msgpack_unpack_return ur = msgpack_unpack_next(&up, (const char *)buf, n, &off);
  if (ur == MSGPACK_UNPACK_CONTINUE) {
    rv = BAD(r, HEED_ETRUNC, "truncated checkpoint");
    goto out;
  }
  if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
    rv = BAD(r, HEED_ENOMEM, "out of memory unpacking");
    goto out;
  }
  if (ur != MSGPACK_UNPACK_SUCCESS || off != n) {
    rv = BAD(r, HEED_EFORMAT, "not a heed checkpoint (malformed MessagePack)");
    goto out;
  }
  if (!(ck = heed__calloc(1, sizeof *ck)) ||
      !(ck->path = heed__strdup(r->path))) {
    rv = BAD(r, HEED_ENOMEM, "out of memory");
    goto out;
  }
  if ((rv = read_tree(r, ck, &up.data)) != 0)
    goto out;
  *ckp = ck;
  ck = NULL;
out:
  heed_checkpoint_free(ck);
  msgpack_unpacked_destroy(&up);
  return rv;
}

int heed_checkpoint_load(heed_checkpoint **ckp, const char *path, char *err,
                         size_t errlen) {
  if (!ckp || !path)
    return say(err, errlen, HEED_EINVAL, "checkpoint: no path");
  *ckp = NULL;
  rd r = {path, err, errlen};
  uint8_t *buf = NULL;
  size_t n = 0;
  int rv = slurp(&r, &buf, &n);
  if (rv)
    return rv;
  rv = load_buf(&r, buf, n, ckp);
  heed__free(buf);
  return rv;
}

int heed_checkpoint_load_mem(heed_checkpoint **ckp, const void *buf,
                             size_t len, const char *name, char *err,
                             size_t errlen) {
  if (!ckp || (!buf && len))
    return say(err, errlen, HEED_EINVAL, "checkpoint: no buffer");
  *ckp = NULL;
  if (len > HEED_CHECKPOINT_MAX_BYTES)
    return say(err, errlen, HEED_ERANGE, "%s: too large for a checkpoint",
               name ? name : "checkpoint");
  rd r = {name ? name : "checkpoint", err, errlen};
  return load_buf(&r, buf, len, ckp);
}

void heed_checkpoint_free(heed_checkpoint *ck) {
  if (!ck)
    return;
  for (size_t l = 0; ck->layers && l + 1 < ck->nsizes; l++) {
    ck_layer *L = &ck->layers[l];
    heed__free(L->w);
    heed__free(L->b);
    heed__free(L->play);
    heed__free(L->state_off);
    heed__free(L->state);
  }
  heed__free(ck->layers);
  heed__free(ck->sizes);
  heed__free(ck->plays);
  heed__free(ck->dataset);
  heed__free(ck->args);
  heed__free(ck->curve);
  heed__free(ck->path);
  heed__free(ck);
}

/* ---- accessors ---------------------------------------------------------- */

size_t heed_checkpoint_nsizes(const heed_checkpoint *ck) {
  return ck ? ck->nsizes : 0;
}
const uint32_t *heed_checkpoint_sizes(const heed_checkpoint *ck) {
  return ck ? ck->sizes : NULL;
}
heed_activation heed_checkpoint_activation(const heed_checkpoint *ck,
                                           size_t l) {
  return ck && l >= 1 && l < ck->nsizes ? ck->layers[l - 1].act
                                         : HEED_ACT_IDENTITY;
}
const heed_checkpoint_meta *heed_checkpoint_meta_of(const heed_checkpoint *ck) {
  return ck ? &ck->meta : NULL;
}
uint64_t heed_checkpoint_step(const heed_checkpoint *ck) {
  return ck ? ck->step : 0;
}
float heed_checkpoint_lr(const heed_checkpoint *ck) { return ck ? ck->lr : 0; }
const float *heed_checkpoint_weights(const heed_checkpoint *ck, size_t l) {
  return ck && l >= 1 && l < ck->nsizes ? ck->layers[l - 1].w : NULL;
}
const float *heed_checkpoint_biases(const heed_checkpoint *ck, size_t l) {
  return ck && l >= 1 && l < ck->nsizes ? ck->layers[l - 1].b : NULL;
}

/* "name:k=v,..." with every value printed to round-trip exactly. */
static int play_spec(const ck_play *p, char *buf, size_t len) {
  size_t off = (size_t)snprintf(buf, len, "%s", p->name);
  for (size_t k = 0; k < p->nparams && off < len; k++)
    off += (size_t)snprintf(buf + off, len - off, "%s%s=%.17g", k ? "," : ":",
                            p->pname[k], p->pval[k]);
  return off < len ? 0 : HEED_ERANGE;
}

int heed_checkpoint_strategy(const heed_checkpoint *ck, size_t l, uint32_t j,
                             char *buf, size_t len) {
  if (!ck || !buf || !len || l < 1 || l >= ck->nsizes ||
      j >= ck->layers[l - 1].n)
    return HEED_EINVAL;
  return play_spec(&ck->plays[ck->layers[l - 1].play[j]], buf, len);
}

/* ---- apply -------------------------------------------------------------- */

int heed_checkpoint_apply(const heed_checkpoint *ck, heed_net *net, char *err,
                          size_t errlen) {
  if (!ck || !net)
    return say(err, errlen, HEED_EINVAL, "checkpoint: nothing to apply");
  size_t nl = ck->nsizes - 1;
  rd r = {ck->path, err, errlen};
  if (heed_net_nlayers(net) != nl)
    return BAD(&r, HEED_EINVAL, "checkpoint has %zu layers, the network %zu",
               nl, heed_net_nlayers(net));
  for (size_t l = 0; l <= nl; l++)
    if (heed_net_size(net, l) != ck->sizes[l])
      return BAD(&r, HEED_EINVAL,
                 "layer %zu has %u units in the checkpoint, %u in the network",
                 l, ck->sizes[l], heed_net_size(net, l));
  for (size_t l = 1; l <= nl; l++)
    if (heed_net_activation(net, l) != ck->layers[l - 1].act)
      return BAD(&r, HEED_EINVAL,
                 "layer %zu is %s in the checkpoint, %s in the network", l,
                 heed_activation_name(ck->layers[l - 1].act),
                 heed_activation_name(heed_net_activation(net, l)));

  /* Build every strategy and check every state length before touching the
   * network, so a failure leaves it as it was. */
  heed_strategy **strats = heed__calloc(ck->nplays, sizeof *strats);
  if (!strats)
    return BAD(&r, HEED_ENOMEM, "out of memory");
  int rv = 0;
  char spec[1024], why[512], e[HEED_ESCAPE_BUF];
  for (size_t i = 0; i < ck->nplays; i++) {
    bool used = false;
    for (size_t l = 0; l < nl && !used; l++)
      for (uint32_t j = 0; j < ck->layers[l].n && !used; j++)
        used = ck->layers[l].play[j] == i;
    if (!used)
      continue;
    if (play_spec(&ck->plays[i], spec, sizeof spec) != 0) {
      rv = BAD(&r, HEED_ERANGE, "strategy %s: spec too long",
               ESC(ck->plays[i].name, e));
      goto out;
    }
    if (!heed_strategy_find(ck->plays[i].name)) {
      rv = BAD(&r, HEED_ENOENT,
               "strategy '%s' is not registered (load its plugin first)",
               ESC(ck->plays[i].name, e));
      goto out;
    }
    if ((rv = heed_strategy_new(&strats[i], spec, why, sizeof why)) != 0) {
      rv = BAD(&r, rv, "%s", why);
      goto out;
    }
  }
  for (size_t l = 0; l < nl; l++) {
    const ck_layer *L = &ck->layers[l];
    for (uint32_t j = 0; j < L->n; j++) {
      const heed_strategy *s = strats[L->play[j]];
      const heed_strategy_ops *ops = heed_strategy_ops_of(s);
      size_t want = ops->state_floats
                        ? ops->state_floats(heed_strategy_params(s), L->fan_in)
                        : 0;
      size_t have = L->state_off[j + 1] - L->state_off[j];
      if (want != have) {
        rv = BAD(&r, HEED_EFORMAT,
                 "neuron %zu/%u has %zu state floats, strategy %s needs %zu",
                 l + 1, j, have, ESC(ops->name, e), want);
        goto out;
      }
    }
  }

  for (size_t l = 0; l < nl; l++) {
    const ck_layer *L = &ck->layers[l];
    bool same = true;
    for (uint32_t j = 1; j < L->n && same; j++)
      same = L->play[j] == L->play[0];
    if (same)
      rv = heed_net_set_strategy(net, l + 1, -1, strats[L->play[0]]);
    for (uint32_t j = 0; !same && j < L->n && !rv; j++)
      rv = heed_net_set_strategy(net, l + 1, (long)j, strats[L->play[j]]);
    for (uint32_t j = 0; j < L->n && !rv; j++)
      rv = heed_net_state_set(net, l + 1, j, L->state + L->state_off[j],
                              L->state_off[j + 1] - L->state_off[j]);
    if (!rv)
      rv = heed_net_params_set(net, l + 1, L->w, L->b);
    if (rv) {
      rv = BAD(&r, rv, "cannot restore layer %zu: %s", l + 1,
               heed_strerror(rv));
      goto out;
    }
  }
  heed_net_set_step(net, ck->step);
  heed_net_set_lr(net, ck->lr);
out:
  for (size_t i = 0; i < ck->nplays; i++)
    heed_strategy_free(strats[i]);
  heed__free(strats);
  return rv;
}
