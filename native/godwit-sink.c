/* The far end of a restored tree's external peers (issue: a pipe, socket or terminal whose other
 * end stayed behind). It keeps each end it is given open, so the tree never sees an EOF, an EPIPE
 * or a SIGPIPE it did not have before, and appends what the tree writes into a capture file.
 *
 *   godwit-sink FD:c:PATH ...   read FD and append what comes to PATH (the tree's output)
 *   godwit-sink FD:h ...        only hold FD open (the write end of what the tree reads)
 *
 * The FDs are inherited. It detaches (a second fork: orphaned to init, so no Node process
 * waits on it), prints its PID and exits when every end has hung up: the tree closed them all,
 * or died. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_ENDS 256

int main(int argc, char **argv) {
  if (argc < 2 || argc - 1 > MAX_ENDS) { fprintf(stderr, "usage: godwit-sink FD:c:PATH|FD:h ... (at most %d)\n", MAX_ENDS); return 2; }
  struct pollfd p[MAX_ENDS];
  int out[MAX_ENDS];
  int n = argc - 1, top = 2;
  /* whatever else the restorer let through is not ours to hold: a stray write end kept here
   * would keep its reader from ever seeing EOF */
  for (int i = 0; i < n; i++) { int fd = atoi(argv[i + 1]); if (fd > top) top = fd; }
  for (int fd = 3; fd <= top; fd++) {
    int listed = 0;
    for (int i = 0; i < n; i++) if (atoi(argv[i + 1]) == fd) listed = 1;
    if (!listed) close(fd);
  }
  syscall(436 /* close_range */, top + 1, ~0U, 0);
  for (int i = 0; i < n; i++) {
    char *a = argv[i + 1], *end;
    long fd = strtol(a, &end, 10);
    if (end == a || fd < 0 || *end != ':' || fcntl((int)fd, F_GETFD) < 0) { fprintf(stderr, "godwit-sink: bad end %s\n", a); return 2; }
    p[i].fd = (int)fd;
    p[i].events = 0;
    out[i] = -1;
    if (end[1] == 'c' && end[2] == ':' && end[3]) {
      out[i] = open(end + 3, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
      if (out[i] < 0) { fprintf(stderr, "godwit-sink: %s: %s\n", end + 3, strerror(errno)); return 1; }
      p[i].events = POLLIN;
      fcntl(p[i].fd, F_SETFL, fcntl(p[i].fd, F_GETFL) | O_NONBLOCK);
    } else if (end[1] != 'h' || end[2]) { fprintf(stderr, "godwit-sink: bad end %s\n", a); return 2; }
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  pid_t child = fork();
  if (child < 0) { perror("godwit-sink: fork"); return 1; }
  if (child > 0) { printf("%d\n", child); return 0; }
  setsid();
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); if (null > 2) close(null); }
  if (chdir("/") < 0) { /* the capture files are open already */ }
  char buf[65536];
  for (int live = n; live > 0;) {
    if (poll(p, n, -1) < 0) { if (errno == EINTR) continue; return 1; }
    for (int i = 0; i < n; i++) {
      if (p[i].fd < 0 || !p[i].revents) continue;
      if (p[i].revents & POLLIN) {
        ssize_t r = read(p[i].fd, buf, sizeof buf);
        if (r > 0) {
          for (ssize_t off = 0; off < r;) { ssize_t w = write(out[i], buf + off, r - off); if (w <= 0) break; off += w; }
          continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      }
      /* hung up (every peer end closed), an error, or EOF: this end is done */
      if (p[i].revents & (POLLHUP | POLLERR | POLLNVAL | POLLIN)) {
        close(p[i].fd);
        if (out[i] >= 0) close(out[i]);
        p[i].fd = -1;
        live--;
      }
    }
  }
  return 0;
}
