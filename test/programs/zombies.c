/* Children that have exited but are not yet reaped (zombies, one exited with 42, one killed by
 * SIGKILL), and a stopped child: after restore the parent reaps the zombies with the same status
 * and names, and the stopped child is still stopped until it is continued. */
#include "proto.h"
#include <sys/wait.h>

static void comm_of(pid_t p, char *out, size_t n) {
  char f[64]; snprintf(f, sizeof f, "/proc/%d/comm", p);
  FILE *c = fopen(f, "r"); out[0] = 0; if (c) { fgets(out, n, c); fclose(c); }
  out[strcspn(out, "\n")] = 0;
}
static char state_of(pid_t p) {
  char f[64], buf[512]; snprintf(f, sizeof f, "/proc/%d/stat", p);
  FILE *c = fopen(f, "r"); if (!c) return '?'; fgets(buf, sizeof buf, c); fclose(c);
  return strrchr(buf, ')')[2];
}

int main(void) {
  proto_start();
  pid_t z = fork(); if (z == 0) _exit(42);
  pid_t k = fork(); if (k == 0) { raise(SIGKILL); pause(); }
  pid_t s = fork(); if (s == 0) { raise(SIGSTOP); for (;;) pause(); }
  usleep(100000);
  waitpid(s, 0, WUNTRACED | WNOHANG);
  char zc[32], kc[32]; comm_of(z, zc, sizeof zc); comm_of(k, kc, sizeof kc);
  proto_ready("child=%d,%d,%d", z, k, s);
  while (!proto_check) usleep(1000);
  char zc2[32], kc2[32]; comm_of(z, zc2, sizeof zc2); comm_of(k, kc2, sizeof kc2);
  CHECK(!strcmp(zc, zc2) && !strcmp(kc, kc2), "zombie names '%s' '%s' became '%s' '%s'", zc, kc, zc2, kc2);
  CHECK(state_of(z) == 'Z' && state_of(k) == 'Z', "not zombies: %c %c", state_of(z), state_of(k));
  CHECK(state_of(s) == 'T', "the stopped child runs (state %c)", state_of(s));
  int st;
  CHECK(waitpid(z, &st, WNOHANG) == z && WIFEXITED(st) && WEXITSTATUS(st) == 42, "exit status of the zombie");
  CHECK(waitpid(k, &st, WNOHANG) == k && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "signal of the killed zombie");
  kill(s, SIGKILL); waitpid(s, &st, 0);
  return proto_finish("zombies");
}
