/* flock and POSIX record locks: still held after restore (another process is refused them). */
#include "../programs/proto.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>

static int probe_locked(void) {
  /* a child: another process must find both locks taken */
  pid_t c = fork();
  if (c == 0) {
    int a = open("a.lock", O_RDWR), b = open("b.lock", O_RDWR);
    int fl = flock(a, LOCK_EX | LOCK_NB) == -1;
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 10};
    int pl = fcntl(b, F_SETLK, &l) == -1;
    struct flock free_range = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    int ok_free = fcntl(b, F_SETLK, &free_range) == 0;
    _exit(fl && pl && ok_free ? 0 : 1);
  }
  int st; waitpid(c, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(void) {
  proto_start();
  int a = open("a.lock", O_RDWR | O_CREAT, 0644), b = open("b.lock", O_RDWR | O_CREAT, 0644);
  flock(a, LOCK_EX);
  struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 10};
  fcntl(b, F_SETLK, &l);
  int before = probe_locked();
  proto_ready(0);
  while (!proto_check) usleep(1000);
  CHECK(before, "locks were not held before the dump");
  CHECK(probe_locked(), "locks are no longer held");
  return proto_finish("locks");
}
