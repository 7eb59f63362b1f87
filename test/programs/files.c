/* Files: O_RDWR with a position, O_APPEND, a close-on-exec fd, /dev/null, cwd in a subdirectory,
 * stdout on the log file. */
#include "proto.h"
#include <fcntl.h>
#include <sys/stat.h>

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
  chdir("sub");
  proto_ready("rw=%d ap=%d ce=%d dn=%d", rw, ap, ce, dn);
  while (!proto_check) usleep(1000);
  CHECK(lseek(rw, 0, SEEK_CUR) == 6, "rw position");
  char buf[8] = {0}; read(rw, buf, 5); CHECK(!strcmp(buf, "world"), "rw read '%s'", buf);
  CHECK(lseek(dup, 0, SEEK_CUR) == 11, "dup shares the offset");
  CHECK((fcntl(rw, F_GETFL) & O_ACCMODE) == O_RDWR, "rw flags");
  CHECK(fcntl(ap, F_GETFL) & O_APPEND, "O_APPEND lost");
  write(ap, "two\n", 4);
  CHECK(fcntl(ce, F_GETFD) & FD_CLOEXEC, "close-on-exec lost");
  CHECK(!(fcntl(rw, F_GETFD) & FD_CLOEXEC), "close-on-exec appeared");
  CHECK(write(dn, "x", 1) == 1, "/dev/null");
  char cwd[4096]; getcwd(cwd, sizeof cwd);
  CHECK(strlen(cwd) > 4 && !strcmp(cwd + strlen(cwd) - 4, "/sub"), "cwd %s", cwd);
  int f = open("../append.txt", O_RDONLY); char all[16] = {0}; read(f, all, 15);
  CHECK(!strcmp(all, "one\ntwo\n"), "append content '%s'", all);
  printf("stdout still works\n");
  return proto_finish("files");
}
