/* A daemon whose output goes to a peer outside the dumped tree (`peercounter LOG | cat > file`):
 * it writes "count N" to stdout (and with PEER_STDERR=1 to stderr too) every 10 ms and keeps
 * going. The protocol's lines go to LOG, since stdout is the pipe. On SIGUSR2 it passes if no
 * write failed, it never got SIGPIPE and it kept counting. With PEER_SOCKET=PATH it writes to a
 * unix stream socket connected to PATH instead (a log collector), as fd 1 and 2. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

static volatile sig_atomic_t got_pipe, proto_check;
static void proto_on_usr2(int s) { (void)s; proto_check = 1; }
static void on_pipe(int s) { (void)s; got_pipe = 1; }

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: peercounter LOG\n"); return 2; }
  const char *sock = getenv("PEER_SOCKET");
  if (sock) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, sock, sizeof a.sun_path - 1);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
    dup2(s, 1); dup2(s, 2); if (s > 2) close(s);
  }
  FILE *logf = fopen(argv[1], "ae");
  if (!logf) return 1;
  setvbuf(logf, 0, _IONBF, 0);
  struct sigaction sa = {0};
  sa.sa_handler = on_pipe;
  sigaction(SIGPIPE, &sa, 0);
  sa.sa_handler = proto_on_usr2;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR2, &sa, 0);
  int both = getenv("PEER_STDERR") != 0;
  fprintf(logf, "READY %d\n", getpid());
  long n = 0, failed = 0;
  int err = 0;
  char line[64];
  while (!proto_check) {
    int len = snprintf(line, sizeof line, "count %ld\n", n);
    if (write(1, line, len) != len) { failed++; err = errno; }
    if (both && write(2, line, len) != len) { failed++; err = errno; }
    n++;
    usleep(10000);
  }
  if (got_pipe) fprintf(logf, "FAIL got SIGPIPE\n");
  else if (failed) fprintf(logf, "FAIL %ld writes failed (errno %d)\n", failed, err);
  else if (n < 10) fprintf(logf, "FAIL counted only %ld\n", n);
  else fprintf(logf, "PASS peercounter %ld\n", n);
  return 0;
}
