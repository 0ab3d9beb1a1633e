/*
 * launch.c - processes started by a launcher (Open MPI's mpirun, Slurm's
 * srun): rank and size from the launcher's environment (no MPI library),
 * the rendezvous file and the addresses to listen at.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/internal.h"

static const char *env_get(void *arg, const char *name) {
  (void)arg;
  return getenv(name);
}

/* A decimal in [lo, hi]. */
static int number(const char *name, const char *v, unsigned long lo,
                  unsigned long hi, unsigned *out, char *err, size_t errlen) {
  char *end;
  if (!v) {
    snprintf(err, errlen, "%s is not set: not started by the launcher?",
             name);
    return HEED_ENOENT;
  }
  errno = 0;
  unsigned long u = strtoul(v, &end, 10);
  if (errno || end == v || *end || v[0] < '0' || v[0] > '9') {
    snprintf(err, errlen, "%s: '%.32s' is not a number", name, v);
    return HEED_EFORMAT;
  }
  if (u < lo || u > hi) {
    snprintf(err, errlen, "%s: %lu is not in [%lu, %lu]", name, u, lo, hi);
    return HEED_ERANGE;
  }
  *out = (unsigned)u;
  return 0;
}

/* Appends v (job-id characters only) to e->job. */
static void job_add(heed_launcher_env *e, const char *v) {
  size_t n = strlen(e->job);
  for (; v && *v && n + 1 < sizeof e->job; v++) {
    char c = *v;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    e->job[n++] = ok ? c : '_';
  }
  e->job[n] = 0;
}

int heed_launcher_env_parse(heed_launcher_env *e, const char *kind,
                            const char *(*get)(void *, const char *),
                            void *arg, char *err, size_t errlen) {
  if (!e || !kind)
    return HEED_EINVAL;
  if (!get)
    get = env_get;
  memset(e, 0, sizeof *e);
  int mpi = !strcmp(kind, "mpi"), slurm = !strcmp(kind, "slurm");
  if (!mpi && !slurm) {
    snprintf(err, errlen, "unknown launcher '%.32s' (mpi or slurm)", kind);
    return HEED_EINVAL;
  }
  const char *rk = mpi ? "OMPI_COMM_WORLD_RANK" : "SLURM_PROCID";
  const char *sz = mpi ? "OMPI_COMM_WORLD_SIZE" : "SLURM_NTASKS";
  unsigned local = 0;
  int rv;
  if ((rv = number(sz, get(arg, sz), 2, HEED_CLUSTER_MAX_WORKERS + 1,
                   &e->size, err, errlen)) ||
      (rv = number(rk, get(arg, rk), 0, e->size - 1, &e->rank, err, errlen)))
    return rv;
  if (mpi) {
    const char *ls = get(arg, "OMPI_COMM_WORLD_LOCAL_SIZE");
    e->one_node = ls && !number("OMPI_COMM_WORLD_LOCAL_SIZE", ls, 1,
                                e->size, &local, err, errlen) &&
                  local == e->size;
    const char *ns = get(arg, "PMIX_NAMESPACE");
    job_add(e, ns ? ns : get(arg, "OMPI_MCA_ess_base_jobid"));
  } else {
    const char *nn = get(arg, "SLURM_NNODES");
    if (!nn)
      nn = get(arg, "SLURM_JOB_NUM_NODES");
    e->one_node = nn && !number("SLURM_NNODES", nn, 1, 1u << 20, &local, err,
                                errlen) && local == 1;
    job_add(e, get(arg, "SLURM_JOB_ID"));
    const char *step = get(arg, "SLURM_STEP_ID");
    if (step && e->job[0]) {
      job_add(e, ".");
      job_add(e, step);
    }
  }
  err[0] = 0;
  return 0;
}

int heed__rendezvous_write(const char *path, const char *url, char *err,
                           size_t errlen) {
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >=
      (int)sizeof tmp) {
    snprintf(err, errlen, "%s: path too long", path);
    return HEED_ERANGE;
  }
  FILE *f = fopen(tmp, "w");
  if (!f || fprintf(f, "%s\n", url) < 0 || fclose(f) != 0 ||
      rename(tmp, path) != 0) {
    snprintf(err, errlen, "cannot write the rendezvous file %s: %s", path,
             strerror(errno));
    unlink(tmp);
    return HEED_EIO;
  }
  return 0;
}

int heed__rendezvous_read(const char *path, char *url, size_t len,
                          int timeout_ms, char *err, size_t errlen) {
  double end = heed__now_s() + timeout_ms / 1000.0;
  for (;;) {
    FILE *f = fopen(path, "r");
    if (f) {
      char line[HEED_CLUSTER_URL_MAX + 2];
      char *ok = fgets(line, sizeof line, f);
      fclose(f);
      size_t n = ok ? strcspn(line, "\r\n") : 0;
      line[n] = 0;
      if (n < 7 || n >= len || (strncmp(line, "tcp://", 6) &&
                                strncmp(line, "ipc://", 6))) {
        snprintf(err, errlen, "%s does not hold a tcp:// or ipc:// URL",
                 path);
        return HEED_EFORMAT;
      }
      memcpy(url, line, n + 1);
      return 0;
    }
    if (heed__now_s() > end) {
      snprintf(err, errlen, "no rendezvous file %s after %d s (is rank 0 "
               "running, in the same folder?)", path, timeout_ms / 1000);
      return HEED_ETIMEDOUT;
    }
    usleep(50000);
  }
}

/* host and port of tcp://HOST:PORT (HOST may be [v6]). */
static int split_tcp(const char *url, char *host, size_t hl, char *port,
                     size_t pl) {
  if (strncmp(url, "tcp://", 6))
    return -1;
  const char *h = url + 6, *colon = strrchr(h, ':');
  if (!colon || (size_t)(colon - h) >= hl || strlen(colon + 1) >= pl)
    return -1;
  memcpy(host, h, (size_t)(colon - h));
  host[colon - h] = 0;
  strcpy(port, colon + 1);
  return 0;
}

int heed__listen_toward(const char *url, char *out, size_t len, char *err,
                        size_t errlen) {
  char host[HEED_CLUSTER_URL_MAX], port[16];
  if (!strncmp(url, "ipc://", 6)) { /* one machine: a socket beside it */
    size_t n = strlen(url);
    if (n + 16 >= len)
      return HEED_ERANGE;
    memcpy(out, url, n);
    snprintf(out + n, len - n, "-w%d", (int)getpid());
    return 0;
  }
  if (heed__url_is_loopback(url)) {
    snprintf(out, len, "tcp://127.0.0.1:0");
    return 0;
  }
  if (split_tcp(url, host, sizeof host, port, sizeof port)) {
    snprintf(err, errlen, "%s: not a tcp://HOST:PORT URL", url);
    return HEED_EINVAL;
  }
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM},
                  *ai = NULL;
  if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
    snprintf(err, errlen, "%s: cannot resolve %s", url, host);
    return HEED_EINVAL;
  }
  /* connect() on a datagram socket sends nothing: it only picks the
   * local address the kernel would route from. */
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in me;
  socklen_t ml = sizeof me;
  int rv = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                   getsockname(fd, (struct sockaddr *)&me, &ml) == 0
               ? 0
               : HEED_EIO;
  freeaddrinfo(ai);
  if (fd >= 0)
    close(fd);
  if (rv) {
    snprintf(err, errlen, "%s: no route to %s", url, host);
    return rv;
  }
  char ip[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &me.sin_addr, ip, sizeof ip);
  snprintf(out, len, "tcp://%s:0", ip);
  return 0;
}

void heed__listen_here(char *out, size_t len) {
  struct ifaddrs *ifs = NULL;
  char ip[INET_ADDRSTRLEN] = "127.0.0.1";
  if (getifaddrs(&ifs) == 0) {
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
      if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)i->ifa_addr;
        if ((ntohl(a->sin_addr.s_addr) >> 24) != 127) {
          inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
          break;
        }
      }
    freeifaddrs(ifs);
  }
  snprintf(out, len, "tcp://%s:0", ip);
}
