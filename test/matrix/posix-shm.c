/* POSIX shared memory (/dev/shm) mapped by a parent and its child: still shared after restore. */
#include "../programs/proto.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>

int main(void) {
  proto_start();
  char name[64]; snprintf(name, sizeof name, "/godwit-test-%d", getpid());
  int fd = shm_open(name, O_RDWR | O_CREAT, 0600);
  ftruncate(fd, 1 << 20);
  volatile long *p = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  p[0] = 1;
  pid_t c = fork();
  if (c == 0) {
    while (!proto_check) { p[1]++; usleep(1000); }
    while (p[2] != 42) usleep(1000);
    _exit(0);
  }
  usleep(50000);
  proto_ready("child=%d", c);
  while (!proto_check) usleep(1000);
  long seen = p[1];
  usleep(50000);
  kill(c, SIGUSR2);
  p[2] = 42;
  int st; waitpid(c, &st, 0);
  CHECK(seen > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child did not see the parent's write");
  shm_unlink(name);
  return proto_finish("posix-shm");
}
