/* A process whose stdio is a terminal held outside its tree (script(1)'s pty): it counts on its
 * stdout, one line every 20 ms. Its termios and window size are its own choice, not the
 * defaults; after a restore they are the same, on whatever terminal it was given. */
#include "proto.h"
#include <sys/ioctl.h>
#include <termios.h>

int main(void) {
  proto_start();
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct termios t;
  if (!isatty(1) || tcgetattr(1, &t)) { printf("FAIL not on a terminal\n"); return 1; }
  t.c_lflag &= ~ECHO;
  t.c_cc[VKILL] = 0x0b;
  tcsetattr(1, TCSANOW, &t);
  struct winsize ws = { .ws_row = 41, .ws_col = 123 };
  ioctl(1, TIOCSWINSZ, &ws);
  char before[64] = {0};
  ttyname_r(1, before, sizeof before);
  proto_ready("tty=%s", before);
  long n = 0;
  while (!proto_check) { printf("COUNT %ld\n", ++n); usleep(20000); }
  struct termios t2;
  struct winsize w2;
  CHECK(isatty(0) && isatty(1) && isatty(2), "stdio are not terminals");
  CHECK(tcgetattr(1, &t2) == 0 && !(t2.c_lflag & ECHO) && t2.c_cc[VKILL] == 0x0b, "termios not as set");
  CHECK(ioctl(1, TIOCGWINSZ, &w2) == 0 && w2.ws_row == 41 && w2.ws_col == 123, "window size %dx%d", w2.ws_row, w2.ws_col);
  char now[64] = {0};
  ttyname_r(1, now, sizeof now);
  printf("counted %ld, terminal %s -> %s\n", n, before, now);
  return proto_finish("ttycount");
}
