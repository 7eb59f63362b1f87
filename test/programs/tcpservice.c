/* tcpservice PORT [after-pause]: a TCP service with many clients at once. It listens on PORT twice, on an IPv4
 * socket (0.0.0.0) and on an IPv6-only one ([::]), and with every client it takes streams 64-bit
 * counters both ways, as tcpstream does: each connection's counters must arrive in order, and a
 * reset or a read error is a FAIL. A client that ends its stream (after its own verdict) is fine.
 * Each accepted client is logged ("CLIENT n ADDR"); on SIGUSR2 it prints PASS with the number of
 * clients and the counters sent and read over all of them. `after-pause`: it accepts no client
 * until its loop (1 ms a turn) has seen a pause of 50 ms or more, as a freeze makes: clients wait
 * in its accept queue until then. */
#include "proto.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define MAXC 32
struct conn { int fd; uint64_t sent, got; unsigned char carry[8]; size_t have; uint64_t out[256]; size_t outOff; int ended; };
static struct conn cs[MAXC];
static int nc;

static void take(struct conn *c, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    c->carry[c->have++] = p[i];
    if (c->have < 8) continue;
    uint64_t v;
    memcpy(&v, c->carry, 8);
    CHECK(v == c->got, "client %d: read %llu where %llu was next", (int)(c - cs), (unsigned long long)v, (unsigned long long)c->got);
    c->got++;
    c->have = 0;
  }
}

static int listener(int six, int port) {
  int s = socket(six ? AF_INET6 : AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (six) setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
  if ((six ? bind(s, (void *)&a6, sizeof a6) : bind(s, (void *)&a, sizeof a)) || listen(s, 16)) { printf("FAIL bind/listen: %s\n", strerror(errno)); exit(2); }
  fcntl(s, F_SETFL, O_NONBLOCK);
  return s;
}

static void accept_from(int l) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int fd = accept(l, (void *)&ss, &len);
  if (fd < 0) return;
  if (nc == MAXC) { close(fd); return; }
  char host[64] = "?";
  if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
  else inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  struct conn *c = &cs[nc];
  memset(c, 0, sizeof *c);
  c->fd = fd;
  c->outOff = sizeof c->out;
  printf("CLIENT %d %s\n", nc++, host);
  fflush(stdout);
}

static void serve(struct conn *c) {
  static unsigned char in[65536];
  for (;;) {
    ssize_t n = read(c->fd, in, sizeof in);
    if (n > 0) { take(c, in, n); continue; }
    if (n == 0) { CHECK(c->have == 0, "client %d ended mid-counter", (int)(c - cs)); c->ended = 1; }
    else if (errno != EAGAIN) { CHECK(0, "client %d: read: %s after %llu counters", (int)(c - cs), strerror(errno), (unsigned long long)c->got); c->ended = 1; }
    break;
  }
  if (c->ended) return;
  if (c->outOff == sizeof c->out) {
    for (int i = 0; i < 256; i++) c->out[i] = c->sent + i;
    c->outOff = 0;
  }
  ssize_t w = write(c->fd, (char *)c->out + c->outOff, sizeof c->out - c->outOff);
  if (w > 0) {
    c->outOff += w;
    if (c->outOff == sizeof c->out) c->sent += 256;
  } else if (w < 0 && errno != EAGAIN) {
    CHECK(errno == EPIPE, "client %d: write: %s after %llu counters", (int)(c - cs), strerror(errno), (unsigned long long)c->sent);
    c->ended = 1;
  }
}

int main(int argc, char **argv) {
  proto_start();
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) { printf("usage: tcpservice PORT\n"); return 2; }
  int port = atoi(argv[1]);
  int hold = argc > 2 && !strcmp(argv[2], "after-pause");
  int l4 = listener(0, port), l6 = listener(1, port);
  proto_ready("listening");
  struct timespec last;
  clock_gettime(CLOCK_MONOTONIC, &last);
  while (!proto_check) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000 >= 50) hold = 0;
    last = now;
    if (!hold) {
      accept_from(l4);
      accept_from(l6);
    }
    for (int i = 0; i < nc; i++) if (!cs[i].ended) serve(&cs[i]);
    struct timespec ts = { 0, 1000000 };
    nanosleep(&ts, 0);
  }
  uint64_t sent = 0, got = 0;
  for (int i = 0; i < nc; i++) { sent += cs[i].sent; got += cs[i].got; }
  char what[128];
  snprintf(what, sizeof what, "clients=%d sent=%llu read=%llu", nc, (unsigned long long)sent, (unsigned long long)got);
  int rc = proto_finish(what);
  /* end every stream, and read what still comes until each peer ends it too (see tcpstream) */
  for (int i = 0; i < nc; i++) if (!cs[i].ended) { shutdown(cs[i].fd, SHUT_WR); fcntl(cs[i].fd, F_SETFL, 0); }
  for (int i = 0; i < nc; i++) {
    if (cs[i].ended) continue;
    struct timeval tv = { 3, 0 };
    setsockopt(cs[i].fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    unsigned char in[65536];
    while (read(cs[i].fd, in, sizeof in) > 0) {}
    close(cs[i].fd);
  }
  return rc;
}
