/* Files: O_RDWR with a position, O_APPEND, a dup sharing the offset, close-on-exec, /dev/null, a
 * file shared with a child (one offset: the child writes, the parent sees the offset move), a pipe
 * from the child with unread data in it at dump time (non-blocking read end), the cwd in a
 * subdirectory, stdout and stderr on the log file (one open file, its offset kept). */
#include "proto.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static int ends_with(const char *s, const char *tail) {
  size_t a = strlen(s), b = strlen(tail);
  return a >= b && !strcmp(s + a - b, tail);
}

/* F_GETFL without O_LARGEFILE (0100000 in the kernel, 0 in the 64-bit headers) */
static int fl(int fd) { return fcntl(fd, F_GETFL) & ~0100000; }

/* The child: puts data in the pipe and moves the shared offset before READY, then waits for a
 * command from the parent (blocked in read on a pipe at dump time) and does it again. */
static int child(pid_t parent, int shared, int data, int cmd) {
  write(data, "in-flight", 9); /* first: once the offset moved, the pipe holds the data */
  write(shared, "child", 5);
  char c = 0;
  if (read(cmd, &c, 1) != 1 || c != 'w') return 2; /* EOF: the parent is gone */
  char cwd[4096] = "";
  getcwd(cwd, sizeof cwd);
  int ok = getppid() == parent && ends_with(cwd, "/sub") && lseek(shared, 0, SEEK_CUR) == 5;
  write(shared, "+more", 5);
  write(data, "after", 5);
  return ok ? 0 : 1;
}

int main(void) {
  proto_start();
  mkdir("sub", 0755);
  int rw = open("rw.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
  write(rw, "hello world", 11); lseek(rw, 6, SEEK_SET);
  int ap = open("append.txt", O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
  write(ap, "one\n", 4);
  int ce = open("rw.txt", O_RDONLY | O_CLOEXEC);
  int dn = open("/dev/null", O_WRONLY);
  int dup = dup2(rw, 40);
  int sh = open("shared.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
  int data[2], cmd[2];
  pipe(data); pipe(cmd);
  chdir("sub");
  pid_t parent = getpid(), kid = fork();
  if (kid == 0) { close(data[0]); close(cmd[1]); _exit(child(parent, sh, data[1], cmd[0])); }
  close(data[1]); close(cmd[0]);
  fcntl(data[0], F_SETFL, O_NONBLOCK);
  while (lseek(sh, 0, SEEK_CUR) != 5) usleep(1000); /* the child has written */
  int fl1 = fcntl(1, F_GETFL), fl2 = fcntl(2, F_GETFL);
  proto_ready("child=%d rw=%d ap=%d ce=%d dn=%d sh=%d", kid, rw, ap, ce, dn, sh);
  off_t out0 = lseek(1, 0, SEEK_CUR);
  while (!proto_check) usleep(1000);

  CHECK(lseek(rw, 0, SEEK_CUR) == 6, "rw position %ld", (long)lseek(rw, 0, SEEK_CUR));
  char buf[16] = {0}; read(rw, buf, 5); CHECK(!strcmp(buf, "world"), "rw read '%s'", buf);
  CHECK(lseek(dup, 0, SEEK_CUR) == 11, "the dup does not share the offset");
  CHECK(fl(rw) == O_RDWR, "rw flags %#x", fl(rw));
  CHECK(fl(ap) == (O_WRONLY | O_APPEND), "append flags %#x", fl(ap));
  write(ap, "two\n", 4);
  CHECK(fcntl(ce, F_GETFD) == FD_CLOEXEC, "close-on-exec lost");
  CHECK(fcntl(rw, F_GETFD) == 0 && fcntl(dup, F_GETFD) == 0, "close-on-exec appeared");
  CHECK(write(dn, "x", 1) == 1 && fl(dn) == O_WRONLY, "/dev/null");
  char cwd[4096] = ""; getcwd(cwd, sizeof cwd);
  CHECK(ends_with(cwd, "/sub"), "cwd %s", cwd);
  int f = open("../append.txt", O_RDONLY); char all[16] = {0}; read(f, all, 15); close(f);
  CHECK(!strcmp(all, "one\ntwo\n"), "append content '%s'", all);
  /* the pipe: the data written before the dump is there, the child is still at the other end */
  CHECK(fl(data[0]) == (O_RDONLY | O_NONBLOCK), "pipe flags %#x", fl(data[0]));
  memset(buf, 0, sizeof buf);
  CHECK(read(data[0], buf, sizeof buf - 1) == 9 && !strcmp(buf, "in-flight"), "pipe data '%s'", buf);
  CHECK(lseek(sh, 0, SEEK_CUR) == 5, "shared offset %ld, the child left it at 5", (long)lseek(sh, 0, SEEK_CUR));
  write(cmd[1], "w", 1);
  int st = -1;
  CHECK(waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
  memset(buf, 0, sizeof buf);
  CHECK(read(data[0], buf, sizeof buf - 1) == 5 && !strcmp(buf, "after"), "pipe data from the child after restore '%s'", buf);
  CHECK(lseek(sh, 0, SEEK_CUR) == 10, "shared offset %ld after the child wrote again", (long)lseek(sh, 0, SEEK_CUR));
  memset(buf, 0, sizeof buf); pread(sh, buf, 10, 0);
  CHECK(!strcmp(buf, "child+more"), "shared file '%s'", buf);
  /* stdout and stderr: the same open file of the log, its offset where READY left it */
  CHECK(fcntl(1, F_GETFL) == fl1 && fcntl(2, F_GETFL) == fl2, "stdout/stderr flags %#x %#x", fcntl(1, F_GETFL), fcntl(2, F_GETFL));
  off_t out1 = lseek(1, 0, SEEK_CUR);
  CHECK(out1 == out0, "stdout offset %ld, was %ld", (long)out1, (long)out0);
  write(2, "stderr ok\n", 10);
  CHECK(lseek(1, 0, SEEK_CUR) == out1 + 10, "stderr and stdout no longer share one open file");
  return proto_finish("files");
}
