/*
 * local.c - local workers: their socket folder, the folders dead
 * coordinators left behind, and starting a worker (fork, then exec of a
 * program or heed_worker_serve in the child).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/internal.h"

static const char *tmp_dir(void) {
  const char *t = getenv("TMPDIR");
  return t && t[0] == '/' && strlen(t) < 180 ? t : "/tmp";
}

/* "heed-PID-XXXXXX" with PID decimal and six [A-Za-z0-9] (mkdtemp's). */
static long folder_pid(const char *name) {
  if (strncmp(name, "heed-", 5))
    return -1;
  char *end;
  errno = 0;
  long pid = strtol(name + 5, &end, 10);
  if (errno || end == name + 5 || pid <= 0 || *end != '-' ||
      strlen(end + 1) != 6)
    return -1;
  for (const char *c = end + 1; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
          (*c >= '0' && *c <= '9')))
      return -1;
  return pid;
}

/* Empties and removes dir (its entries are sockets; nothing nests). */
static void remove_flat(int parent, const char *name) {
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (fd < 0)
    return;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      unlinkat(fd, e->d_name, 0);
  closedir(d);
  unlinkat(parent, name, AT_REMOVEDIR);
}

unsigned heed__local_sweep(const char *tmp) {
  DIR *d = opendir(tmp);
  unsigned n = 0;
  if (!d)
    return 0;
  struct dirent *e;
  uid_t me = geteuid();
  while ((e = readdir(d)) != NULL) {
    long pid = folder_pid(e->d_name);
    struct stat st;
    if (pid < 0 || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
        !S_ISDIR(st.st_mode) || st.st_uid != me)
      continue;
    /* Only folders of processes that no longer exist: a live pid (even a
     * reused one) keeps its folder. */
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue;
    remove_flat(dirfd(d), e->d_name);
    n++;
  }
  closedir(d);
  return n;
}

int heed__local_dir(char *dir, size_t len, char *err, size_t errlen) {
  const char *tmp = tmp_dir();
  heed__local_sweep(tmp);
  if (snprintf(dir, len, "%s/heed-%d-XXXXXX", tmp, (int)getpid()) >=
      (int)len) {
    snprintf(err, errlen, "%s: path too long for a socket folder", tmp);
    return HEED_ERANGE;
  }
  if (!mkdtemp(dir)) { /* mode 0700: only this user reaches it */
    snprintf(err, errlen, "cannot create a socket folder in %s: %s", tmp,
             strerror(errno));
    dir[0] = 0;
    return HEED_EIO;
  }
  return 0;
}

void heed__local_remove(const char *dir) {
  if (!dir[0])
    return;
  char parent[4096];
  heed__cpy(parent, sizeof parent, dir);
  char *slash = strrchr(parent, '/');
  if (!slash)
    return;
  *slash = 0;
  int fd = open(parent[0] ? parent : "/", O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return;
  remove_flat(fd, slash + 1);
  close(fd);
}

static void child_serve(const char *url, size_t max_frame) {
  static volatile sig_atomic_t stop;
  heed_worker_opts wo = {.listen_url = url, .max_frame = max_frame,
                         .allow_plugins = 1, .stop = &stop};
  char err[256];
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  _exit(heed_worker_serve(&wo, err, sizeof err) ? 1 : 0);
}

pid_t heed__local_spawn(const char *program, const char *url,
                        size_t max_frame) {
  char mf[32];
  snprintf(mf, sizeof mf, "%zu", max_frame);
  pid_t parent = getpid();
  fflush(NULL); /* the child must not write the parent's buffers again */
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  /* Dies with the coordinator, whatever kills it; a terminal's Ctrl-C
   * reaches the coordinator only, which then stops its workers. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    _exit(127);
  setpgid(0, 0);
  if (!program)
    child_serve(url, max_frame);
  /* Local workers take no secret (heed/cluster.h): not one from the
   * environment either. */
  unsetenv("HEED_SECRET");
  execl(program, "heed", "worker", "--listen", url, "--max-frame", mf,
        "--allow-plugins", "--quiet", (char *)NULL);
  _exit(127);
}
