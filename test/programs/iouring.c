/* Holds an io_uring instance (raw io_uring_setup, no liburing): godwit must refuse to dump it,
 * naming the process and the fd, and leave the process running as it was. Prints NOURING instead
 * of READY when the kernel has no io_uring (the test then skips). */
#include "proto.h"
#include <fcntl.h>
#include <linux/io_uring.h>

int main(void) {
  proto_start();
  struct io_uring_params p = {0};
  int fd = syscall(425 /* io_uring_setup */, 4, &p);
  if (fd < 0) { printf("NOURING\n"); fflush(stdout); return 3; }
  proto_ready("fd=%d", fd);
  long n = 0;
  while (!proto_check) { n++; usleep(1000); }
  CHECK(n > 10, "counted only %ld", n);
  CHECK(fcntl(fd, F_GETFD) >= 0, "the io_uring fd %d is gone", fd);
  printf("counted %ld\n", n);
  return proto_finish("iouring");
}
