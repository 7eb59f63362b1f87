/* PID 1 of a PID namespace of ours. For a simulated host (tests, demo): a PID namespace dies
 * with its init, so the agent must not be it, or killing the agent would kill every process on the
 * "host". For a tree restored into a fresh PID namespace (restore --new-pidns), with --until-empty:
 * the tree is orphaned to this init, which lives as long as any of it does.
 * It starts the command given, reaps whatever is orphaned to it, passes SIGTERM and SIGINT on to
 * the command, and exits when told to stop after the command has gone, or (--until-empty) when
 * nothing is left to reap. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_stop(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
  int until_empty = argc > 1 && !strcmp(argv[1], "--until-empty");
  if (until_empty) { argv++; argc--; }
  /* the PIDs the command and its threads take come after N: a tree that is built in this
   * namespace wants its own, often small, PIDs, which a Node process's threads would take */
  if (argc > 2 && !strcmp(argv[1], "--last-pid")) {
    FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
    if (!f || fprintf(f, "%s\n", argv[2]) < 0 || fclose(f) != 0) { perror("ns_last_pid"); return 1; }
    argv += 2; argc -= 2;
  }
  if (argc < 2) { fprintf(stderr, "usage: godwit-hostinit [--until-empty] [--last-pid N] COMMAND [ARG...]\n"); return 2; }
  struct sigaction sa = {0};
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, 0);
  sigaction(SIGINT, &sa, 0);
  /* whoever read our stderr may be gone (a detached restore): a write must not kill the
   * namespace (the command's own SIGPIPE goes back to default below) */
  signal(SIGPIPE, SIG_IGN);
  int code = 0; /* the command's own exit status, which --until-empty ends with */
  pid_t child = fork();
  if (child < 0) { perror("fork"); return 1; }
  if (child == 0) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[1], argv + 1);
    perror(argv[1]);
    _exit(127);
  }
  for (;;) {
    if (stop) {
      if (child > 0 && kill(child, SIGTERM) == 0) stop = 0;
      else return 0;
    }
    int st;
    pid_t p = waitpid(-1, &st, 0);
    if (p == child) { child = -1; code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }
    /* what ended on this host, and how: the host's own log of its processes */
    if (p > 0 && WIFSIGNALED(st)) fprintf(stderr, "godwit-hostinit: PID %d killed by signal %d\n", p, WTERMSIG(st));
    else if (p > 0 && WIFEXITED(st) && WEXITSTATUS(st)) fprintf(stderr, "godwit-hostinit: PID %d exited with %d\n", p, WEXITSTATUS(st));
    if (p < 0 && errno == ECHILD) {
      if (until_empty) return code;
      pause();
    }
  }
}
