/* Holds an io_uring instance: godwit must refuse to dump it and leave the process as it was. */
#include "proto.h"
#include <linux/io_uring.h>

int main(void) {
  proto_start();
  struct io_uring_params p = {0};
  int fd = syscall(425 /* io_uring_setup */, 4, &p);
  if (fd < 0) { printf("NOURING\n"); fflush(stdout); return 3; }
  proto_ready("fd=%d", fd);
  long n = 0;
  while (!proto_check) { n++; usleep(1000); }
  printf("PASS counted %ld\n", n);
  return 0;
}
