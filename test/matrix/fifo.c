/* A FIFO between parent and child, with unread data in it at dump time. */
#include "../programs/proto.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

int main(void) {
  proto_start();
  mkfifo("ff", 0600);
  pid_t c = fork();
  if (c == 0) {
    int w = open("ff", O_WRONLY);
    write(w, "through the fifo", 16);
    while (!proto_check) usleep(1000);
    _exit(0);
  }
  int r = open("ff", O_RDONLY);
  usleep(50000);
  proto_ready("child=%d", c);
  while (!proto_check) usleep(1000);
  char buf[32] = {0};
  CHECK(read(r, buf, 16) == 16 && !strcmp(buf, "through the fifo"), "fifo data '%s'", buf);
  kill(c, SIGUSR2);
  int st; waitpid(c, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child");
  return proto_finish("fifo");
}
