/* Unix sockets: stream and datagram socketpairs with data queued both ways, listeners on a path
 * and on an abstract name (new connections are accepted after restore), and an accepted
 * connection inside the process with unread data. */
#include "../programs/proto.h"
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

static int listener(const char *name, int abstract, struct sockaddr_un *sa, socklen_t *len) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (abstract) { strcpy(sa->sun_path + 1, name); *len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name); }
  else { strcpy(sa->sun_path, name); *len = sizeof *sa; }
  if (bind(s, (struct sockaddr *)sa, *len) || listen(s, 8)) { perror("listen"); exit(2); }
  return s;
}

static int talk(struct sockaddr_un *sa, socklen_t len, int lsock) {
  int c = socket(AF_UNIX, SOCK_STREAM, 0);
  if (connect(c, (struct sockaddr *)sa, len)) return 0;
  int a = accept(lsock, 0, 0);
  write(c, "ping", 4);
  char b[8] = {0};
  int ok = read(a, b, 4) == 4 && !strcmp(b, "ping");
  close(a); close(c);
  return ok;
}

int main(void) {
  proto_start();
  int st[2], dg[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, st);
  socketpair(AF_UNIX, SOCK_DGRAM, 0, dg);
  write(st[0], "to one", 6);
  write(st[1], "to zero!", 8);
  send(dg[0], "first", 5, 0);
  send(dg[0], "second message", 14, 0);
  fcntl(st[1], F_SETFL, O_NONBLOCK);
  struct sockaddr_un pa, aa; socklen_t pl, al;
  char path[64]; snprintf(path, sizeof path, "sock-%d", getpid());
  char abs[64]; snprintf(abs, sizeof abs, "godwit-test-%d", getpid());
  int lp = listener(path, 0, &pa, &pl), la = listener(abs, 1, &aa, &al);
  int c = socket(AF_UNIX, SOCK_STREAM, 0);
  connect(c, (struct sockaddr *)&pa, pl);
  int acc = accept(lp, 0, 0);
  write(c, "waiting for you", 15);
  proto_ready(0);
  while (!proto_check) usleep(1000);
  char b[64] = {0};
  CHECK(read(st[1], b, 6) == 6 && !memcmp(b, "to one", 6), "stream data to fd %d: '%s'", st[1], b);
  memset(b, 0, sizeof b);
  CHECK(read(st[0], b, 8) == 8 && !memcmp(b, "to zero!", 8), "stream data to fd %d: '%s'", st[0], b);
  CHECK(read(st[1], b, 1) == -1, "the non-blocking end blocks or has extra data");
  memset(b, 0, sizeof b);
  CHECK(recv(dg[1], b, sizeof b, 0) == 5 && !strcmp(b, "first"), "first datagram '%s'", b);
  memset(b, 0, sizeof b);
  CHECK(recv(dg[1], b, sizeof b, 0) == 14 && !strcmp(b, "second message"), "second datagram '%s'", b);
  write(st[0], "more", 4); memset(b, 0, sizeof b);
  CHECK(read(st[1], b, 4) == 4 && !strcmp(b, "more"), "the pair still works");
  memset(b, 0, sizeof b);
  CHECK(read(acc, b, 15) == 15 && !strcmp(b, "waiting for you"), "accepted connection data '%s'", b);
  CHECK(talk(&pa, pl, lp), "path listener accepts after restore");
  CHECK(talk(&aa, al, la), "abstract listener accepts after restore");
  unlink(path);
  return proto_finish("unix-sockets");
}
