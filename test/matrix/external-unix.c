/* A unix stream socket whose peer is outside the tree (a process orphaned to init holds the other
 * end of a socketpair and never reads), with a message from the peer the program has not read.
 * After the restore (the default: the new far end is captured by godwit-sink) the message is
 * still in its queue, reading gives no EOF, and writing gives neither SIGPIPE nor EPIPE. */
#include "../programs/proto.h"
#include <errno.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <sys/socket.h>

static volatile sig_atomic_t got_pipe;
static void on_pipe(int s) { (void)s; got_pipe = 1; }

int main(void) {
  proto_start();
  signal(SIGPIPE, on_pipe);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 1;
  if (fork() == 0) {
    if (fork() == 0) {
      setsid(); /* a group or session with the tree's PID would keep that PID taken */
      close(sv[0]);
      write(sv[1], "from outside", 12);
      for (;;) pause();
    }
    _exit(0);
  }
  wait(0); /* the middle child: no zombie in the tree */
  close(sv[1]);
  fcntl(sv[0], F_SETFL, O_NONBLOCK);
  usleep(50000);
  proto_ready(0);
  while (!proto_check) { write(sv[0], "y", 1); usleep(2000); }
  CHECK(!got_pipe, "SIGPIPE");
  CHECK(write(sv[0], "more", 4) == 4, "write after restore: %s", strerror(errno));
  char buf[32] = {0};
  CHECK(read(sv[0], buf, sizeof buf) == 12 && !memcmp(buf, "from outside", 12), "unread data '%s'", buf);
  ssize_t r = read(sv[0], buf, sizeof buf);
  CHECK(r < 0 && errno == EAGAIN, "after the data: %zd (0 is an EOF the tree never had)", r);
  return proto_finish("external-unix");
}
