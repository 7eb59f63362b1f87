/* File descriptors in flight: a pipe end and a file sent with SCM_RIGHTS and not yet received.
 * After restore they arrive with their messages, and they are still the same pipe and file. */
#include "../programs/proto.h"
#include <fcntl.h>
#include <sys/socket.h>

static void send_fd(int s, const char *msg, int fd) {
  char ctl[CMSG_SPACE(sizeof(int))] = {0};
  struct iovec iov = {.iov_base = (void *)msg, .iov_len = strlen(msg)};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  sendmsg(s, &m, 0);
}

static int recv_fd(int s, char *buf, size_t n) {
  char ctl[CMSG_SPACE(sizeof(int))] = {0};
  struct iovec iov = {.iov_base = buf, .iov_len = n};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
  if (recvmsg(s, &m, 0) <= 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -2;
  int fd; memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

int main(void) {
  proto_start();
  int sp[2]; socketpair(AF_UNIX, SOCK_DGRAM, 0, sp);
  int p[2]; pipe(p);
  int f = open("sent.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
  write(f, "file in flight", 14);
  lseek(f, 5, SEEK_SET);
  send_fd(sp[0], "pipe", p[1]);
  send_fd(sp[0], "file", f);
  close(f); /* only the message holds the file now */
  proto_ready(0);
  while (!proto_check) usleep(1000);
  char b[16] = {0};
  int w = recv_fd(sp[1], b, sizeof b);
  CHECK(w >= 0 && !strcmp(b, "pipe"), "first message '%s' fd %d", b, w);
  write(w, "x", 1);
  char c = 0;
  CHECK(read(p[0], &c, 1) == 1 && c == 'x', "the pipe end in flight is the same pipe");
  memset(b, 0, sizeof b);
  int g = recv_fd(sp[1], b, sizeof b);
  CHECK(g >= 0 && !strcmp(b, "file"), "second message '%s' fd %d", b, g);
  char rest[16] = {0};
  CHECK(lseek(g, 0, SEEK_CUR) == 5 && read(g, rest, 9) == 9 && !strcmp(rest, "in flight"), "the file in flight '%s'", rest);
  return proto_finish("scm-rights");
}
