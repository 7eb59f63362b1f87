/* Pipes whose other end is outside the tree: a process orphaned to init (outside the dumped tree)
 * holds the read end of one pipe the program writes to, and the write end of one it reads from,
 * after writing a message the program has not read yet. After the restore (the default: new far
 * ends held by godwit-sink) the unread message is still there, reading gives no EOF, and writing
 * gives neither SIGPIPE nor EPIPE. */
#include "../programs/proto.h"
#include <errno.h>
#include <sys/wait.h>
#include <fcntl.h>

static volatile sig_atomic_t got_pipe;
static void on_pipe(int s) { (void)s; got_pipe = 1; }

int main(void) {
  proto_start();
  signal(SIGPIPE, on_pipe);
  int out[2], in[2];
  if (pipe(out) || pipe(in)) return 1;
  if (fork() == 0) {
    if (fork() == 0) {
      setsid(); /* a group or session with the tree's PID would keep that PID taken */
      /* the outside peer: holds both far ends and never reads */
      close(out[1]); close(in[0]);
      write(in[1], "unread by the tree", 18);
      for (;;) pause();
    }
    _exit(0);
  }
  wait(0); /* the middle child: no zombie in the tree */
  close(out[0]); close(in[1]);
  fcntl(in[0], F_SETFL, O_NONBLOCK);
  usleep(50000);
  proto_ready(0);
  long wrote = 0;
  while (!proto_check) { if (write(out[1], "x", 1) == 1) wrote++; usleep(1000); }
  CHECK(!got_pipe, "SIGPIPE");
  CHECK(write(out[1], "more", 4) == 4, "write after restore: %s", strerror(errno));
  char buf[32] = {0};
  CHECK(read(in[0], buf, sizeof buf) == 18 && !memcmp(buf, "unread by the tree", 18), "unread data '%s'", buf);
  ssize_t r = read(in[0], buf, sizeof buf);
  CHECK(r < 0 && errno == EAGAIN, "after the data: %zd (0 is an EOF the tree never had)", r);
  printf("wrote %ld\n", wrote);
  return proto_finish("external-pipe");
}
