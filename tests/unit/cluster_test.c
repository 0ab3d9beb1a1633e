/*
 * cluster_test.c - src/cluster: SHA-256 and HMAC against FIPS 180-4 and
 * RFC 4231, the cluster file, launcher environments, the socket folders
 * of dead coordinators, plugins loaded twice, and real worker processes
 * (this program run again as `cluster_test --worker ...`): a refusal
 * reaches the coordinator with the worker's reason in under 2 s (plugins
 * not allowed, busy, another version), the shared secret is required and
 * checked both ways, and a long-lived worker serves two runs that load
 * the same plugin. Part of the unit suite, so it runs under ASan/UBSan.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster/internal.h"
#include "heed/heed.h"

/* ---- SHA-256, HMAC ------------------------------------------------------ */

static void hex(const uint8_t *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", p[i]);
}

static void check_sha(const char *msg, const char *want) {
  heed_sha256 s;
  uint8_t d[32];
  char h[65];
  heed__sha256_init(&s);
  /* byte by byte too, so block boundaries inside update are exercised */
  for (size_t i = 0; msg[i]; i++)
    heed__sha256_update(&s, msg + i, 1);
  heed__sha256_final(&s, d);
  hex(d, 32, h);
  assert_string_equal(h, want);
}

static void check_hmac(const uint8_t *key, size_t kl, const void *data,
                       size_t dl, const char *want) {
  heed_hmac m;
  uint8_t d[32];
  char h[65];
  heed__hmac_init(&m, key, kl);
  heed__hmac_update(&m, data, dl);
  heed__hmac_final(&m, d);
  hex(d, 32, h);
  assert_string_equal(h, want);
}

static void test_sha256_hmac(void **state) {
  (void)state;
  check_sha("abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  check_sha("",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  check_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  uint8_t k[131], d[50];
  memset(k, 0x0b, 20); /* RFC 4231 test case 1 */
  check_hmac(k, 20, "Hi There", 8,
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  check_hmac((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28,
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  memset(k, 0xaa, 20); /* case 3 */
  memset(d, 0xdd, 50);
  check_hmac(k, 20, d, 50,
             "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  for (int i = 0; i < 25; i++) /* case 4 */
    k[i] = (uint8_t)(i + 1);
  memset(d, 0xcd, 50);
  check_hmac(k, 25, d, 50,
             "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  memset(k, 0xaa, 131); /* cases 6 and 7: keys longer than a block */
  const char *t6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  check_hmac(k, 131, t6, strlen(t6),
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  const char *t7 = "This is a test using a larger than block-size key and a "
                   "larger than block-size data. The key needs to be hashed "
                   "before being used by the HMAC algorithm.";
  check_hmac(k, 131, t7, strlen(t7),
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
  uint8_t a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 5};
  assert_true(heed__mac_equal(a, a, 4));
  assert_false(heed__mac_equal(a, b, 4));
}

/* ---- the cluster file --------------------------------------------------- */

static int parse(heed_cluster_file *f, const char *text, char *err) {
  return heed_cluster_file_parse(f, text, strlen(text), "c.txt", err, 512);
}

static void test_cluster_file(void **state) {
  (void)state;
  static heed_cluster_file f;
  char err[512];
  assert_int_equal(parse(&f, "# two\ncoordinator tcp://10.0.0.1:5600  # us\n"
                             "worker tcp://10.0.0.2:5601\r\n\n"
                             "\tipc:///tmp/w2\n", err), 0);
  assert_string_equal(f.coordinator, "tcp://10.0.0.1:5600");
  assert_int_equal(f.nworkers, 2);
  assert_string_equal(f.workers[0], "tcp://10.0.0.2:5601");
  assert_string_equal(f.workers[1], "ipc:///tmp/w2");
  assert_int_equal(heed_cluster_file_parse(&f, "worker tcp://a:1", 16, NULL,
                                           err, sizeof err), 0);

  assert_int_equal(parse(&f, "worker http://x:1\n", err), HEED_EFORMAT);
  assert_string_equal(err, "c.txt:1: expected 'worker URL' or 'coordinator "
                           "URL' (tcp:// or ipc://, under 256 bytes)");
  assert_int_equal(parse(&f, "\nboss tcp://x:1\n", err), HEED_EFORMAT);
  assert_non_null(strstr(err, "c.txt:2:"));
  assert_int_equal(parse(&f, "worker tcp://x:1 extra\n", err), HEED_EFORMAT);
  assert_int_equal(parse(&f, "# nothing\n", err), HEED_EFORMAT);
  assert_string_equal(err, "c.txt lists no workers");
  assert_int_equal(parse(&f, "coordinator tcp://a:1\ncoordinator tcp://b:1\n"
                             "tcp://c:1\n", err), HEED_EFORMAT);
  assert_int_equal(parse(&f, "worker tcp://x:1\x01\n", err), HEED_EFORMAT);
  char many[64 * 20 + 1] = "";
  for (int i = 0; i < 64; i++)
    strcat(many, "tcp://h:1\n");
  assert_int_equal(parse(&f, many, err), HEED_ERANGE);
  assert_non_null(strstr(err, "more than 63 workers"));
  char nul[] = "worker tcp://x:1\0tail\n";
  assert_int_equal(heed_cluster_file_parse(&f, nul, sizeof nul - 1, "c.txt",
                                           err, sizeof err), HEED_EFORMAT);
  char *longl = malloc(3000);
  memset(longl, 'a', 2999);
  longl[2999] = 0;
  assert_int_equal(parse(&f, longl, err), HEED_ERANGE);
  free(longl);
  char url[300] = "worker tcp://";
  memset(url + 13, 'h', 260);
  url[273] = 0;
  assert_int_equal(parse(&f, url, err), HEED_EFORMAT);
}

/* ---- launcher environments ---------------------------------------------- */

static const char *lookup(void *arg, const char *name) {
  for (const char *const *kv = arg; *kv; kv += 2)
    if (!strcmp(kv[0], name))
      return kv[1];
  return NULL;
}

static void test_launcher_env(void **state) {
  (void)state;
  heed_launcher_env e;
  char err[256];
  const char *mpi[] = {"OMPI_COMM_WORLD_RANK", "2", "OMPI_COMM_WORLD_SIZE",
                       "3", "OMPI_COMM_WORLD_LOCAL_SIZE", "3",
                       "PMIX_NAMESPACE", "prterun-host-123@1", NULL};
  assert_int_equal(heed_launcher_env_parse(&e, "mpi", lookup, mpi, err,
                                           sizeof err), 0);
  assert_int_equal(e.rank, 2);
  assert_int_equal(e.size, 3);
  assert_true(e.one_node);
  assert_string_equal(e.job, "prterun-host-123_1");
  const char *slurm[] = {"SLURM_PROCID", "0", "SLURM_NTASKS", "4",
                         "SLURM_NNODES", "2", "SLURM_JOB_ID", "4242",
                         "SLURM_STEP_ID", "0", NULL};
  assert_int_equal(heed_launcher_env_parse(&e, "slurm", lookup, slurm, err,
                                           sizeof err), 0);
  assert_int_equal(e.rank, 0);
  assert_int_equal(e.size, 4);
  assert_false(e.one_node);
  assert_string_equal(e.job, "4242.0");

  const char *none[] = {NULL};
  assert_int_equal(heed_launcher_env_parse(&e, "mpi", lookup, none, err,
                                           sizeof err), HEED_ENOENT);
  assert_non_null(strstr(err, "OMPI_COMM_WORLD_SIZE is not set"));
  const char *bad[] = {"SLURM_PROCID", "4", "SLURM_NTASKS", "4", NULL};
  assert_int_equal(heed_launcher_env_parse(&e, "slurm", lookup, bad, err,
                                           sizeof err), HEED_ERANGE);
  assert_non_null(strstr(err, "SLURM_PROCID: 4 is not in [0, 3]"));
  const char *junk[] = {"SLURM_PROCID", "1x", "SLURM_NTASKS", "4", NULL};
  assert_int_equal(heed_launcher_env_parse(&e, "slurm", lookup, junk, err,
                                           sizeof err), HEED_EFORMAT);
  const char *neg[] = {"SLURM_PROCID", "-1", "SLURM_NTASKS", "4", NULL};
  assert_int_equal(heed_launcher_env_parse(&e, "slurm", lookup, neg, err,
                                           sizeof err), HEED_EFORMAT);
  const char *one[] = {"SLURM_PROCID", "0", "SLURM_NTASKS", "1", NULL};
  assert_int_equal(heed_launcher_env_parse(&e, "slurm", lookup, one, err,
                                           sizeof err), HEED_ERANGE);
  const char *big[] = {"SLURM_PROCID", "0", "SLURM_NTASKS", "65", NULL};
  assert_int_equal(heed_launcher_env_parse(&e, "slurm", lookup, big, err,
                                           sizeof err), HEED_ERANGE);
  assert_int_equal(heed_launcher_env_parse(&e, "pbs", lookup, mpi, err,
                                           sizeof err), HEED_EINVAL);
}

/* ---- leftovers ---------------------------------------------------------- */

static void test_sweep(void **state) {
  (void)state;
  char tmp[] = "/tmp/heed-sweep-XXXXXX", p[256];
  assert_non_null(mkdtemp(tmp));
  /* a pid above any pid_max: surely dead */
  snprintf(p, sizeof p, "%s/heed-99999999-AbC123", tmp);
  assert_int_equal(mkdir(p, 0700), 0);
  snprintf(p, sizeof p, "%s/heed-99999999-AbC123/w1", tmp);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fclose(f);
  snprintf(p, sizeof p, "%s/heed-%d-XyZ789", tmp, (int)getpid());
  assert_int_equal(mkdir(p, 0700), 0);
  snprintf(p, sizeof p, "%s/heed-99999999-toolong7", tmp);
  assert_int_equal(mkdir(p, 0700), 0);
  assert_int_equal(heed__local_sweep(tmp), 1);
  struct stat st;
  snprintf(p, sizeof p, "%s/heed-99999999-AbC123", tmp);
  assert_int_not_equal(stat(p, &st), 0);
  snprintf(p, sizeof p, "%s/heed-%d-XyZ789", tmp, (int)getpid());
  assert_int_equal(stat(p, &st), 0); /* alive: kept */
  rmdir(p);
  snprintf(p, sizeof p, "%s/heed-99999999-toolong7", tmp);
  assert_int_equal(stat(p, &st), 0); /* not ours by name: kept */
  rmdir(p);
  assert_int_equal(rmdir(tmp), 0);
}

/* ---- plugins ------------------------------------------------------------ */

static void plugin_path(char *out, size_t len) {
  const char *dir = getenv("HEED_PLUGIN_DIR");
  assert_non_null(dir);
  snprintf(out, len, "%s/libsignbid.so", dir);
}

static void test_plugin_twice(void **state) {
  (void)state;
  char path[1024], err[512];
  plugin_path(path, sizeof path);
  assert_int_equal(heed_strategy_plugin_load(path, err, sizeof err), 0);
  assert_int_equal(heed_strategy_plugin_load(path, err, sizeof err), 0);
  assert_int_equal(heed_strategy_plugin_load("", err, sizeof err),
                   HEED_EINVAL);
  assert_string_equal(err, "no plugin path given");
}

/* ---- worker processes --------------------------------------------------- */

static char self_exe[1024];
static const char *secret_a = "correct horse battery staple";
static const char *secret_b = "incorrect donkey battery staple";

/* Workers still running: a failed assertion skips its test's stop_worker,
 * and a worker left behind would hold the test's output open (meson then
 * waits for its timeout), so main kills what is left. */
static pid_t live[32];

static void forget_worker(pid_t pid) {
  for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
    if (live[i] == pid)
      live[i] = 0;
}

static void kill_leftovers(void) {
  for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
    if (live[i] > 0) {
      kill(live[i], SIGKILL);
      waitpid(live[i], NULL, 0);
      live[i] = 0;
    }
}

/* Starts `cluster_test --worker URL PLUGINS SECRET` (SECRET "-": none). */
static pid_t start_worker(char *url, size_t len, int plugins,
                          const char *secret) {
  static int n;
  snprintf(url, len, "ipc:///tmp/heed-cluster-test-%d-%d", (int)getpid(),
           ++n);
  pid_t pid = fork();
  if (pid == 0) {
    execl(self_exe, self_exe, "--worker", url, plugins ? "1" : "0",
          secret ? secret : "-", (char *)NULL);
    _exit(127);
  }
  assert_true(pid > 0);
  for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
    if (!live[i]) {
      live[i] = pid;
      break;
    }
  usleep(100000); /* let it listen */
  return pid;
}

static void stop_worker(pid_t pid) {
  int st;
  kill(pid, SIGTERM);
  assert_int_equal(waitpid(pid, &st, 0), pid);
  forget_worker(pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

static volatile sig_atomic_t worker_stop;
static void on_term(int sig) {
  __atomic_store_n(&worker_stop, sig, __ATOMIC_RELAXED);
}

static void worker_log(void *arg, const char *line) {
  (void)arg;
  fprintf(stderr, "worker: %s\n", line);
}

static int worker_main(char **argv) {
  signal(SIGTERM, on_term);
  heed_worker_opts o = {.listen_url = argv[2],
                        .allow_plugins = argv[3][0] == '1',
                        .stop = &worker_stop, .log = worker_log,
                        .verbose = 1};
  if (strcmp(argv[4], "-")) {
    o.secret = argv[4];
    o.secret_len = strlen(argv[4]);
  }
  char err[256];
  int rv = heed_worker_serve(&o, err, sizeof err);
  if (rv)
    fprintf(stderr, "worker: %s\n", err);
  return rv ? 1 : 0;
}

typedef struct coord {
  heed_cluster *c;
  heed_runtime *rt;
  heed_net *net;
  double secs; /* heed_cluster_net_new took */
} coord;

static const uint32_t sizes[] = {8, 6, 3};

/* A coordinator over the worker at url; returns heed_cluster_net_new's
 * code (the cluster stays up for the caller to use or end). */
static int coord_start(coord *k, const char *url, const char *secret,
                       const char *strategy, const char *plugin) {
  char err[512];
  const char *urls[1] = {url};
  heed_cluster_opts co = {.worker_urls = urls, .nworker_urls = 1,
                          .secret = secret,
                          .secret_len = secret ? strlen(secret) : 0,
                          .ready_timeout_ms = 10000};
  memset(k, 0, sizeof *k);
  assert_int_equal(heed_cluster_start(&k->c, &co, err, sizeof err), 0);
  heed_runtime_opts ro = {.threads = 1};
  assert_int_equal(heed_runtime_new(&k->rt, &ro), 0);
  assert_int_equal(heed_runtime_start(k->rt), 0);
  heed_net_opts no = {.nsizes = 3, .sizes = sizes, .seed = 1, .lr = 0.1f,
                      .max_batch = 16};
  heed_cluster_net_opts cno = {.net = &no, .strategy = strategy,
                               .plugins = &plugin, .nplugins = plugin != 0};
  double t0 = heed__now_s();
  int rv = heed_cluster_net_new(k->c, k->rt, &cno, &k->net);
  k->secs = heed__now_s() - t0;
  return rv;
}

static void coord_end(coord *k) {
  heed_cluster_stop(k->c);
  heed_net_free(k->net);
  heed_runtime_free(k->rt);
  heed_cluster_free(k->c);
}

static void train_one(coord *k) {
  float x[4 * 8];
  uint8_t y[4] = {0, 1, 2, 0};
  for (int i = 0; i < 32; i++)
    x[i] = (float)(i % 5) * 0.1f;
  assert_int_equal(heed_net_train_batch(k->net, x, y, 4, NULL), 0);
  assert_int_equal(heed_cluster_pull(k->c), 0);
}

static void expect_refusal(coord *k, int rv, int code, const char *part) {
  fprintf(stderr, "coordinator: %s (%.3f s)\n", heed_cluster_error(k->c),
          k->secs);
  assert_int_equal(rv, code);
  assert_non_null(strstr(heed_cluster_error(k->c), "refused the run"));
  assert_non_null(strstr(heed_cluster_error(k->c), part));
  assert_true(k->secs < 2.0);
  coord_end(k);
}

static void test_refuse_plugins(void **state) {
  (void)state;
  char url[128], path[1024];
  plugin_path(path, sizeof path);
  pid_t w = start_worker(url, sizeof url, 0, NULL);
  coord k;
  int rv = coord_start(&k, url, NULL, "signbid:scale=1", path);
  expect_refusal(&k, rv, HEED_EREFUSED, "--allow-plugins");
  /* and it still serves a run without plugins */
  assert_int_equal(coord_start(&k, url, NULL, "bp", NULL), 0);
  train_one(&k);
  coord_end(&k);
  stop_worker(w);
}

static void test_plugin_two_runs(void **state) {
  (void)state;
  char url[128], path[1024];
  plugin_path(path, sizeof path);
  pid_t w = start_worker(url, sizeof url, 1, NULL);
  for (int run = 0; run < 2; run++) {
    coord k;
    assert_int_equal(coord_start(&k, url, NULL, "signbid:scale=1", path), 0);
    train_one(&k);
    coord_end(&k);
  }
  stop_worker(w);
}

/* heed_net_train_batch returns before the worker's last updates are in;
 * stopping right after it waits for them instead of leaving heed_net_free
 * to wait for a DONE that can no longer arrive (a hang, caught by the
 * test's timeout). */
static void test_stop_after_train(void **state) {
  (void)state;
  char url[128];
  pid_t w = start_worker(url, sizeof url, 0, NULL);
  coord k;
  assert_int_equal(coord_start(&k, url, NULL, "bp", NULL), 0);
  float x[4 * 8];
  uint8_t y[4] = {0, 1, 2, 0};
  for (int i = 0; i < 32; i++)
    x[i] = (float)(i % 5) * 0.1f;
  for (int i = 0; i < 3; i++)
    assert_int_equal(heed_net_train_batch(k.net, x, y, 4, NULL), 0);
  coord_end(&k);
  stop_worker(w);
}

static void test_busy(void **state) {
  (void)state;
  char url[128];
  pid_t w = start_worker(url, sizeof url, 0, NULL);
  coord a, b;
  assert_int_equal(coord_start(&a, url, NULL, "bp", NULL), 0);
  int rv = coord_start(&b, url, NULL, "bp", NULL);
  expect_refusal(&b, rv, HEED_EREFUSED, "busy with run");
  train_one(&a); /* the first run was not disturbed */
  coord_end(&a);
  stop_worker(w);
}

static void test_secret(void **state) {
  (void)state;
  char url[128];
  coord k;
  pid_t w = start_worker(url, sizeof url, 0, secret_a);
  int rv = coord_start(&k, url, NULL, "bp", NULL);
  expect_refusal(&k, rv, HEED_EAUTH, "authentication required");
  rv = coord_start(&k, url, secret_b, "bp", NULL);
  expect_refusal(&k, rv, HEED_EAUTH, "authentication failed");
  assert_int_equal(coord_start(&k, url, secret_a, "bp", NULL), 0);
  train_one(&k);
  coord_end(&k);
  stop_worker(w);

  w = start_worker(url, sizeof url, 0, NULL);
  rv = coord_start(&k, url, secret_a, "bp", NULL);
  expect_refusal(&k, rv, HEED_EAUTH, "authentication impossible");
  stop_worker(w);
}

/* A coordinator of another heed version, played by hand. */
static void test_version(void **state) {
  (void)state;
  char url[128], err[256], me[128];
  pid_t w = start_worker(url, sizeof url, 0, NULL);
  heed_link *l;
  snprintf(me, sizeof me, "ipc:///tmp/heed-cluster-test-%d-c", (int)getpid());
  assert_int_equal(heed_link_open(&l, me, 0, "test", err, sizeof err), 0);
  assert_int_equal(heed_link_add_peer(l, 1, url, 0, err, sizeof err), 0);
  heed_link_set_run(l, 77, 0);
  heed_hello h = {.version = "0.0.0-other"};
  heed__cpy(h.url, sizeof h.url, me);
  uint8_t b[512];
  size_t n;
  assert_int_equal(heed__hello_encode(&h, b, sizeof b, &n), 0);
  assert_int_equal(heed_link_send_sess(l, 1, HEED_SESS_HELLO, 0, b, n), 0);
  heed_frame f = {0};
  heed_wire_expect ex = {.check_run = 1, .run_id = 77, .check_to = 1};
  double t0 = heed__now_s();
  int got = 0;
  while (!got && heed__now_s() - t0 < 2)
    if (heed_link_recv(l, &f, &ex, 100) == 0 && f.nmsgs == 1 &&
        f.msgs[0].m.kind == HEED_SESS_REFUSE) {
      char why[256];
      snprintf(why, sizeof why, "%.*s", (int)f.msgs[0].nbytes,
               (const char *)f.msgs[0].bytes);
      assert_non_null(strstr(why, "runs heed 0.0.0-other, this worker"));
      got = 1;
    }
  assert_true(got);
  heed_frame_free(&f);
  heed_link_close(l);
  stop_worker(w);
}

/* Receives frames on l until one whose first message is `kind` (2 s). */
static int recv_kind(heed_link *l, heed_frame *f, uint32_t kind,
                     uint64_t run) {
  heed_wire_expect ex = {.check_run = run != 0, .run_id = run};
  double t0 = heed__now_s();
  while (heed__now_s() - t0 < 2)
    if (heed_link_recv(l, f, &ex, 100) == 0 && f->nmsgs >= 1 &&
        f->msgs[0].m.kind == kind)
      return 1;
  return 0;
}

typedef struct net_new_arg {
  coord *k;
  const char *url;
  int rv;
} net_new_arg;

static void *net_new_thread(void *arg) {
  net_new_arg *a = arg;
  a->rv = coord_start(a->k, a->url, NULL, "bp", NULL);
  return NULL;
}

/* A HELLO whose answer does not come is sent again (nng 1.5.2 can lose
 * the first frame of a connection), and a worker answers a repeat with
 * the same nonce. */
static void test_hello_again(void **state) {
  (void)state;
  char url[128], err[256], me[128];
  heed_frame f = {0};
  /* A coordinator facing a worker (played here) that ignores a HELLO. */
  heed_link *w;
  snprintf(url, sizeof url, "ipc:///tmp/heed-cluster-test-%d-fw",
           (int)getpid());
  assert_int_equal(heed_link_open(&w, url, 0, "test", err, sizeof err), 0);
  coord k;
  net_new_arg a = {.k = &k, .url = url};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, net_new_thread, &a), 0);
  assert_true(recv_kind(w, &f, HEED_SESS_HELLO, 0));
  uint64_t run = f.h.run_id;
  heed_hello h1, h2;
  assert_int_equal(heed__hello_decode(&h1, f.msgs[0].bytes, f.msgs[0].nbytes,
                                      err, sizeof err), 0);
  assert_true(recv_kind(w, &f, HEED_SESS_HELLO, run)); /* again, in 1 s */
  assert_int_equal(heed__hello_decode(&h2, f.msgs[0].bytes, f.msgs[0].nbytes,
                                      err, sizeof err), 0);
  assert_memory_equal(h1.nonce, h2.nonce, HEED_NONCE_LEN);
  heed_link_set_run(w, run, 1);
  assert_int_equal(heed_link_add_peer(w, 0, h1.url, 0, err, sizeof err), 0);
  assert_int_equal(heed_link_send_sess(w, 0, HEED_SESS_REFUSE, 0, "test over",
                                       9), 0);
  pthread_join(th, NULL);
  assert_int_equal(a.rv, HEED_EREFUSED);
  assert_non_null(strstr(heed_cluster_error(k.c), "test over"));
  coord_end(&k);
  heed_link_close(w);

  /* A worker asked twice answers twice, with the same nonce. */
  pid_t wp = start_worker(url, sizeof url, 0, NULL);
  heed_link *l;
  snprintf(me, sizeof me, "ipc:///tmp/heed-cluster-test-%d-fc",
           (int)getpid());
  assert_int_equal(heed_link_open(&l, me, 0, "test", err, sizeof err), 0);
  assert_int_equal(heed_link_add_peer(l, 1, url, 0, err, sizeof err), 0);
  heed_link_set_run(l, 99, 0);
  heed_hello h = {.version = HEED_VERSION};
  heed__cpy(h.url, sizeof h.url, me);
  uint8_t b[512], n1[HEED_NONCE_LEN];
  size_t n;
  assert_int_equal(heed__hello_encode(&h, b, sizeof b, &n), 0);
  assert_int_equal(heed_link_send_sess(l, 1, HEED_SESS_HELLO, 0, b, n), 0);
  assert_true(recv_kind(l, &f, HEED_SESS_HELLO, 99));
  assert_int_equal(f.msgs[0].nbytes, HEED_NONCE_LEN);
  memcpy(n1, f.msgs[0].bytes, HEED_NONCE_LEN);
  assert_int_equal(heed_link_send_sess(l, 1, HEED_SESS_HELLO, 0, b, n), 0);
  assert_true(recv_kind(l, &f, HEED_SESS_HELLO, 99));
  assert_memory_equal(f.msgs[0].bytes, n1, HEED_NONCE_LEN);
  heed_frame_free(&f);
  heed_link_close(l);
  stop_worker(wp);
}

static void test_insecure(void **state) {
  (void)state;
  char err[512];
  heed_worker_opts o = {.listen_url = "tcp://0.0.0.0:0"};
  assert_int_equal(heed_worker_serve(&o, err, sizeof err), HEED_EAUTH);
  assert_non_null(strstr(err, "--insecure"));
  heed_cluster *c;
  const char *urls[1] = {"tcp://10.1.2.3:5601"};
  heed_cluster_opts co = {.worker_urls = urls, .nworker_urls = 1};
  assert_int_equal(heed_cluster_start(&c, &co, err, sizeof err), HEED_EAUTH);
  assert_null(c);
  assert_non_null(strstr(err, "not on this machine"));
  co.secret = "short";
  co.secret_len = 5;
  assert_int_equal(heed_cluster_start(&c, &co, err, sizeof err), HEED_ERANGE);
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "--worker"))
    return worker_main(argv);
  ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (n <= 0)
    return 1;
  self_exe[n] = 0;
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256_hmac),
      cmocka_unit_test(test_cluster_file),
      cmocka_unit_test(test_launcher_env),
      cmocka_unit_test(test_sweep),
      cmocka_unit_test(test_insecure),
      cmocka_unit_test(test_plugin_twice),
      cmocka_unit_test(test_refuse_plugins),
      cmocka_unit_test(test_plugin_two_runs),
      cmocka_unit_test(test_busy),
      cmocka_unit_test(test_stop_after_train),
      cmocka_unit_test(test_secret),
      cmocka_unit_test(test_version),
      cmocka_unit_test(test_hello_again),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  kill_leftovers();
  return failed;
}
