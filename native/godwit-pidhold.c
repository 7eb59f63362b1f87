/* godwit-pidhold: keeps PIDs free for a tree that is coming. For each ID it is given it makes a
 * child with that PID (clone3 with set_tid), which sits in pause() doing nothing; whoever builds
 * the tree kills the child that holds an ID right before it needs the ID, and this process reaps
 * it at once (SIGCHLD), so the ID is free again within microseconds. Nothing else on the host can
 * be given a held ID meanwhile: that is the point (helpers, hooks, other migrations).
 *
 * Why C: a child of clone3 must start in a process image that does nothing on its own (a Node
 * process cannot fork a copy of itself that sits still), and hundreds of them must cost nothing.
 *
 * Protocol on stdin/stdout, one line each way:
 *   in:  HOLD ID ID ...            out: HELD ID... ; TAKEN ID... (on one line, either part empty)
 * stdin closing ends it; its children die with it (PR_SET_PDEATHSIG), so the IDs are free again
 * whatever becomes of the one that started it. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

static void reap(int s) {
  (void)s;
  int saved = errno;
  while (waitpid(-1, 0, WNOHANG) > 0) {}
  errno = saved;
}

/* 0: held; else the errno of clone3 (EEXIST: taken) */
static int hold(pid_t id, pid_t self) {
  struct clone_args ca;
  memset(&ca, 0, sizeof ca);
  pid_t tid = id;
  ca.exit_signal = SIGCHLD;
  ca.set_tid = (unsigned long)&tid;
  ca.set_tid_size = 1;
  long r = syscall(SYS_clone3, &ca, sizeof ca);
  if (r == 0) {
    /* raw calls only: this is a copy of a libc process that must not run its atexit, stdio, ... */
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (syscall(SYS_getppid) != self) syscall(SYS_exit, 0);
    syscall(SYS_close_range, 0, ~0U, 0);
    for (;;) syscall(SYS_pause);
  }
  return r < 0 ? errno : 0;
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = reap;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, 0);
  signal(SIGPIPE, SIG_IGN);
  pid_t self = getpid();
  char *line = 0;
  size_t cap = 0;
  setvbuf(stdout, 0, _IOLBF, 0);
  while (getline(&line, &cap, stdin) > 0) {
    if (strncmp(line, "HOLD", 4)) { fprintf(stderr, "godwit-pidhold: unknown command\n"); continue; }
    size_t n = strlen(line);
    char *held = calloc(1, n + 8), *taken = calloc(1, n + 8);
    if (!held || !taken) return 1;
    for (char *p = line + 4, *end; ; p = end) {
      long id = strtol(p, &end, 10);
      if (end == p) break;
      if (id <= 0) continue;
      int e = hold((pid_t)id, self);
      /* EINVAL: above pid_max, or a level without that ID free: the same answer for the caller */
      char num[24];
      snprintf(num, sizeof num, " %ld", id);
      strcat(e == 0 ? held : taken, num);
    }
    printf("HELD%s ; TAKEN%s\n", held, taken);
    free(held);
    free(taken);
  }
  return 0;
}
