/* A shell job on a terminal: stdin/stdout/stderr on its controlling tty. After a --shell-job
 * restore it must be on the restorer's terminal, in the foreground, and able to use it. */
#include "proto.h"
#include <fcntl.h>
#include <termios.h>

int main(void) {
  proto_start();
  char before[64] = {0};
  if (!isatty(0) || ttyname_r(0, before, sizeof before)) { printf("FAIL not on a terminal\n"); return 1; }
  proto_ready("tty=%s", before);
  long n = 0;
  while (!proto_check) { n++; usleep(1000); }
  char now[64] = {0};
  CHECK(isatty(0) && isatty(1) && isatty(2), "stdio are not terminals");
  CHECK(ttyname_r(1, now, sizeof now) == 0, "ttyname");
  CHECK(tcgetpgrp(1) == getpgrp(), "not in the foreground of %s (tcgetpgrp %d, pgrp %d)", now, tcgetpgrp(1), getpgrp());
  struct termios t;
  CHECK(tcgetattr(1, &t) == 0, "tcgetattr on the terminal");
  int tty = open("/dev/tty", O_RDWR);
  CHECK(tty >= 0, "no controlling terminal (/dev/tty)");
  printf("counted %ld, terminal %s -> %s\n", n, before, now);
  return proto_finish("tty");
}
