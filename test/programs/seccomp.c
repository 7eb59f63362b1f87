/* Runs under a seccomp filter (allow everything): godwit must refuse it at dump time. */
#include "proto.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

int main(void) {
  proto_start();
  struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  struct sock_fprog prog = {.len = 1, .filter = allow};
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) { printf("NOSECCOMP\n"); fflush(stdout); return 3; }
  proto_ready(0);
  long n = 0;
  while (!proto_check) { n++; usleep(1000); }
  printf("PASS counted %ld\n", n);
  return 0;
}
