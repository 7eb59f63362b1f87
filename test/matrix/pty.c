/* A pseudo-terminal with both ends in the tree: the parent holds the master; a child made the
 * slave the controlling terminal of its own session and put its child (another group) in the
 * foreground. Unread bytes wait both ways: what the child wrote ("out1\n", after ONLCR) and the
 * echo of what the parent typed ("in1\npart": a line and a partial line). Termios and the window
 * size are not the defaults. After restore: the same queues, byte for byte (nothing processed or
 * echoed twice, the line boundaries kept), the same settings, session and foreground group, and
 * the bytes still flow both ways. */
#include "../programs/proto.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>

static char path[64];

/* what the master can read within `ms` of quiet */
static int drain(int m, char *buf, int cap, int ms) {
  int got = 0;
  struct pollfd p = { .fd = m, .events = POLLIN };
  while (got < cap - 1 && poll(&p, 1, ms) > 0) {
    int n = read(m, buf + got, cap - 1 - got);
    if (n <= 0) break;
    got += n;
  }
  buf[got] = 0;
  return got;
}

/* the grandchild: the foreground group; reads what was typed, answers */
static int grandchild(int s) {
  while (!proto_check) usleep(1000);
  char a[64] = {0}, b[64] = {0};
  if (tcgetpgrp(s) != getpgrp()) return 10;
  int n = read(s, a, sizeof a - 1);
  if (n != 4 || strcmp(a, "in1\n")) return 11;
  n = read(s, b, sizeof b - 1);
  if (n != 9 || strcmp(b, "partmore\n")) return 12;
  if (write(s, "g-ok\n", 5) != 5) return 13;
  return 0;
}

/* the child: a session leader whose controlling terminal is the slave */
static int child(int s, int sync) {
  setsid();
  if (ioctl(s, TIOCSCTTY, 0)) return 20;
  pid_t g = fork();
  if (g == 0) { close(sync); setpgid(0, 0); _exit(grandchild(s)); }
  setpgid(g, g);
  if (tcsetpgrp(s, g)) return 21;
  if (write(s, "out1\n", 5) != 5) return 22;
  if (write(sync, &g, sizeof g) != sizeof g) return 23;
  close(sync);
  while (!proto_check) usleep(1000);
  if (getsid(0) != getpid() || tcgetsid(s) != getpid()) return 24;
  if (tcgetpgrp(s) != g) return 25;
  int tty = open("/dev/tty", O_RDWR);
  if (tty < 0) return 26;
  close(tty);
  char now[64] = {0};
  if (ttyname_r(s, now, sizeof now) || strcmp(now, path)) return 27;
  kill(g, SIGUSR2);
  int st;
  if (waitpid(g, &st, 0) != g) return 28;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 29;
}

int main(void) {
  proto_start();
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  grantpt(m); unlockpt(m);
  snprintf(path, sizeof path, "%s", ptsname(m));
  int s = open(path, O_RDWR | O_NOCTTY);
  struct termios t;
  tcgetattr(s, &t);
  t.c_cc[VERASE] = 0x08;
  t.c_lflag &= ~ECHOCTL;
  t.c_iflag |= IXANY;
  tcsetattr(s, TCSANOW, &t);
  struct winsize ws = { .ws_row = 33, .ws_col = 111, .ws_xpixel = 7, .ws_ypixel = 9 };
  ioctl(m, TIOCSWINSZ, &ws);
  int sync[2];
  if (pipe(sync)) return 1;
  pid_t c = fork();
  if (c == 0) { close(m); close(sync[0]); _exit(child(s, sync[1])); }
  close(s); close(sync[1]);
  pid_t g = 0;
  if (read(sync[0], &g, sizeof g) != sizeof g) { printf("FAIL setup\n"); return 1; }
  close(sync[0]);
  usleep(20000); /* "out1" reaches the master's side first, then the echo of what is typed */
  if (write(m, "in1\npart", 8) != 8) { printf("FAIL write\n"); return 1; }
  usleep(50000);
  proto_ready("child=%d grandchild=%d tty=%s", c, g, path);
  while (!proto_check) usleep(1000);

  char buf[256];
  drain(m, buf, sizeof buf, 200);
  CHECK(!strcmp(buf, "out1\r\nin1\r\npart"), "master read \"%s\", not the queue as it was", buf);
  struct winsize w2;
  CHECK(ioctl(m, TIOCGWINSZ, &w2) == 0 && w2.ws_row == 33 && w2.ws_col == 111 && w2.ws_xpixel == 7 && w2.ws_ypixel == 9, "window size %dx%d", w2.ws_row, w2.ws_col);
  struct termios t2;
  CHECK(tcgetattr(m, &t2) == 0 && t2.c_cc[VERASE] == 0x08 && !(t2.c_lflag & ECHOCTL) && (t2.c_iflag & IXANY) && (t2.c_lflag & ECHO) && (t2.c_lflag & ICANON), "termios not as set");
  int n = -1;
  CHECK(ioctl(m, TIOCGPTN, &n) == 0 && n == atoi(path + 9), "pty index %d, was %s", n, path);
  if (write(m, "more\n", 5) != 5) CHECK(0, "write to the master");
  kill(c, SIGUSR2);
  drain(m, buf, sizeof buf, 1000);
  CHECK(!strcmp(buf, "more\r\ng-ok\r\n"), "after restore the master read \"%s\"", buf);
  int st;
  CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the session's side failed: %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  return proto_finish("pty");
}
