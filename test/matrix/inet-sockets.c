/* IPv4 and IPv6 TCP listeners and a bound UDP socket, with their options (keepalive settings, user
 * timeout, linger, mark, TOS, a receive timeout): after restore the listeners accept new
 * connections on the same address, the UDP socket receives, and every option is as it was. */
#include "../programs/proto.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

static int opt(int s, int level, int name) { int v = 0; socklen_t l = sizeof v; getsockopt(s, level, name, &v, &l); return v; }

int main(void) {
  proto_start();
  int one = 1;
  int l4 = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(l4, SOL_SOCKET, SO_REUSEADDR, &one, 4);
  setsockopt(l4, IPPROTO_TCP, TCP_NODELAY, &one, 4);
  int rcv = 200000; setsockopt(l4, SOL_SOCKET, SO_RCVBUF, &rcv, 4);
  int intvl = 7, cnt = 4, uto = 12345, mark = 42, tos = 0x10;
  setsockopt(l4, SOL_SOCKET, SO_KEEPALIVE, &one, 4);
  setsockopt(l4, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, 4);
  setsockopt(l4, IPPROTO_TCP, TCP_KEEPCNT, &cnt, 4);
  setsockopt(l4, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, 4);
  setsockopt(l4, SOL_SOCKET, SO_MARK, &mark, 4);
  setsockopt(l4, IPPROTO_IP, IP_TOS, &tos, 4);
  struct linger lg = { 1, 3 };
  setsockopt(l4, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(l4, (struct sockaddr *)&a4, sizeof a4); listen(l4, 16);
  socklen_t len = sizeof a4; getsockname(l4, (struct sockaddr *)&a4, &len);
  int l6 = socket(AF_INET6, SOCK_STREAM, 0);
  setsockopt(l6, IPPROTO_IPV6, IPV6_V6ONLY, &one, 4);
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  int have6 = bind(l6, (struct sockaddr *)&a6, sizeof a6) == 0 && listen(l6, 4) == 0;
  len = sizeof a6; getsockname(l6, (struct sockaddr *)&a6, &len);
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  setsockopt(u, SOL_SOCKET, SO_BROADCAST, &one, 4);
  struct timeval tv = { 0, 250000 };
  setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in au = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(u, (struct sockaddr *)&au, sizeof au);
  len = sizeof au; getsockname(u, (struct sockaddr *)&au, &len);
  int rcv_before = opt(l4, SOL_SOCKET, SO_RCVBUF);
  /* the kernel keeps timeouts in ticks: what it reads back before is what it must read back after */
  struct timeval tv_before = { 0, 0 }; socklen_t tvl = sizeof tv_before;
  getsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv_before, &tvl);
  proto_ready("tcp=%d udp=%d", ntohs(a4.sin_port), ntohs(au.sin_port));
  while (!proto_check) usleep(1000);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(connect(c, (struct sockaddr *)&a4, sizeof a4) == 0, "connect to the IPv4 listener");
  int a = accept(l4, 0, 0);
  CHECK(a >= 0 && write(c, "hi", 2) == 2, "accept on the IPv4 listener");
  char b[8] = {0}; CHECK(read(a, b, 2) == 2 && !strcmp(b, "hi"), "IPv4 data");
  if (have6) {
    int c6 = socket(AF_INET6, SOCK_STREAM, 0);
    CHECK(connect(c6, (struct sockaddr *)&a6, sizeof a6) == 0 && accept(l6, 0, 0) >= 0, "IPv6 listener");
    CHECK(opt(l6, IPPROTO_IPV6, IPV6_V6ONLY) == 1, "IPV6_V6ONLY");
  }
  CHECK(opt(l4, SOL_SOCKET, SO_REUSEADDR) == 1 && opt(l4, IPPROTO_TCP, TCP_NODELAY) == 1, "TCP options");
  CHECK(opt(l4, SOL_SOCKET, SO_RCVBUF) == rcv_before, "SO_RCVBUF %d vs %d", opt(l4, SOL_SOCKET, SO_RCVBUF), rcv_before);
  CHECK(opt(u, SOL_SOCKET, SO_BROADCAST) == 1, "SO_BROADCAST");
  CHECK(opt(l4, SOL_SOCKET, SO_KEEPALIVE) == 1 && opt(l4, IPPROTO_TCP, TCP_KEEPINTVL) == intvl && opt(l4, IPPROTO_TCP, TCP_KEEPCNT) == cnt,
        "keepalive settings %d %d %d", opt(l4, SOL_SOCKET, SO_KEEPALIVE), opt(l4, IPPROTO_TCP, TCP_KEEPINTVL), opt(l4, IPPROTO_TCP, TCP_KEEPCNT));
  CHECK(opt(l4, IPPROTO_TCP, TCP_USER_TIMEOUT) == uto, "TCP_USER_TIMEOUT %d", opt(l4, IPPROTO_TCP, TCP_USER_TIMEOUT));
  CHECK(opt(l4, SOL_SOCKET, SO_MARK) == mark && opt(l4, IPPROTO_IP, IP_TOS) == tos, "SO_MARK %d, IP_TOS %d", opt(l4, SOL_SOCKET, SO_MARK), opt(l4, IPPROTO_IP, IP_TOS));
  struct linger lg2 = { 0, 0 }; socklen_t ll = sizeof lg2;
  getsockopt(l4, SOL_SOCKET, SO_LINGER, &lg2, &ll);
  CHECK(lg2.l_onoff == 1 && lg2.l_linger == 3, "SO_LINGER %d %d", lg2.l_onoff, lg2.l_linger);
  struct timeval tv2 = { 0, 0 }; socklen_t tl = sizeof tv2;
  getsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv2, &tl);
  CHECK(tv_before.tv_usec > 0 && tv2.tv_sec == tv_before.tv_sec && tv2.tv_usec == tv_before.tv_usec, "SO_RCVTIMEO %ld.%06ld, was %ld.%06ld",
        (long)tv2.tv_sec, (long)tv2.tv_usec, (long)tv_before.tv_sec, (long)tv_before.tv_usec);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  sendto(s, "datagram", 8, 0, (struct sockaddr *)&au, sizeof au);
  memset(b, 0, sizeof b);
  CHECK(recv(u, b, sizeof b, 0) == 8 && !memcmp(b, "datagram", 8), "UDP receive");
  return proto_finish("inet-sockets");
}
