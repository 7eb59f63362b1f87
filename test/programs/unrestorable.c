/* Trees whose image its restore would refuse, for reasons in the image alone (image/restorable.ts):
 *   inflight  a unix socket sent (SCM_RIGHTS) into its own queue and never received
 *   dgram     a datagram socket of a socketpair whose other end then connected elsewhere: it stays
 *             connected to an unnamed socket that is not connected back
 * Prints READY <pid> fd=N (the fd the refusal must name), counts, and on SIGUSR2 passes if it
 * kept counting. */
#include "proto.h"
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv) {
  proto_start();
  int sv[2], fd = -1;
  if (argc > 1 && !strcmp(argv[1], "inflight")) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 1;
    char c = 'x';
    struct iovec iov = { &c, 1 };
    union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr a; } u;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET; h->cmsg_type = SCM_RIGHTS; h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &sv[0], sizeof(int));
    if (sendmsg(sv[1], &m, 0) != 1) return 1;
    fd = sv[0];
  } else {
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) return 1;
    int named = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "sink-%d.sock", getpid());
    if (bind(named, (struct sockaddr *)&a, sizeof a) || connect(sv[1], (struct sockaddr *)&a, sizeof a)) return 1;
    fd = sv[0];
  }
  long n = 0;
  proto_ready("fd=%d", fd);
  while (!proto_check) { n++; usleep(1000); }
  CHECK(n > 10, "counted only %ld", n);
  return proto_finish("unrestorable");
}
