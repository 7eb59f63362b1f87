/* PID 1 of a simulated host (tests, demo): a PID namespace dies with its init, so the agent must
 * not be it, or killing the agent would kill every process on the "host". This init starts the
 * command given, reaps whatever is orphaned to it, passes SIGTERM and SIGINT on to the command,
 * and exits only when told to stop after the command has gone. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_stop(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: godwit-hostinit COMMAND [ARG...]\n"); return 2; }
  struct sigaction sa = {0};
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, 0);
  sigaction(SIGINT, &sa, 0);
  pid_t child = fork();
  if (child < 0) { perror("fork"); return 1; }
  if (child == 0) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
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
    if (p == child) child = -1;
    /* what ended on this host, and how: the host's own log of its processes */
    if (p > 0 && WIFSIGNALED(st)) fprintf(stderr, "godwit-hostinit: PID %d killed by signal %d\n", p, WTERMSIG(st));
    else if (p > 0 && WIFEXITED(st) && WEXITSTATUS(st)) fprintf(stderr, "godwit-hostinit: PID %d exited with %d\n", p, WEXITSTATUS(st));
    if (p < 0 && errno == ECHILD) pause();
  }
}
