/* tcpstream server|server6 PORT [netlink] | tcpstream client ADDR PORT (IPv4 or IPv6): one TCP connection, and both ends stream
 * 64-bit counters to each other (about 2 MB/s each way) and check every one they read follows
 * the last: a byte lost, doubled or reordered is a FAIL, and so is a reset or an end of stream.
 * The server listens on every address and takes one client. On SIGUSR2 each end prints PASS with
 * what it sent and read. The counters go on through a freeze: nothing is expected of the timing.
 * `server6` listens on a dual-stack IPv6 socket, where an IPv4 client's connection has IPv4-mapped
 * addresses. `netlink`: the server also holds a netlink socket, opened after the connection (a dump meets it
 * after the connection, and fails there). */
#include "proto.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

static uint64_t sent, got;
static unsigned char carry[8];
static size_t have;

static void take(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    carry[have++] = p[i];
    if (have < 8) continue;
    uint64_t v;
    memcpy(&v, carry, 8);
    CHECK(v == got, "read %llu where %llu was next", (unsigned long long)v, (unsigned long long)got);
    got++;
    have = 0;
  }
}

int main(int argc, char **argv) {
  proto_start();
  signal(SIGPIPE, SIG_IGN);
  int six = argc > 2 && !strcmp(argv[1], "server6");
  int server = argc > 2 && (six || !strcmp(argv[1], "server"));
  int s, lst = -1;
  if (server) {
    lst = socket(six ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    int one = 1, zero = 0;
    setsockopt(lst, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (six) setsockopt(lst, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[2])) };
    if ((six ? bind(lst, (void *)&a6, sizeof a6) : bind(lst, (void *)&a, sizeof a)) || listen(lst, 1)) { printf("FAIL bind/listen: %s\n", strerror(errno)); return 2; }
    proto_ready("listening");
    s = accept(lst, 0, 0);
  } else if (argc > 3) {
    /* an address with a colon is IPv6 */
    int v6 = strchr(argv[2], ':') != 0;
    s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[3])) };
    if (v6 ? inet_pton(AF_INET6, argv[2], &a6.sin6_addr) != 1 : inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) { printf("FAIL bad address %s\n", argv[2]); return 2; }
    if (v6 ? connect(s, (void *)&a6, sizeof a6) : connect(s, (void *)&a, sizeof a)) { printf("FAIL connect: %s\n", strerror(errno)); return 2; }
    proto_ready("connected");
  } else {
    printf("usage: tcpstream server PORT | client ADDR PORT\n");
    return 2;
  }
  if (s < 0) { printf("FAIL accept: %s\n", strerror(errno)); return 2; }
  if (server && argc > 3 && !strcmp(argv[3], "netlink")) socket(AF_NETLINK, SOCK_RAW, 0);
  printf("CONNECTED\n");
  fflush(stdout);
  fcntl(s, F_SETFL, O_NONBLOCK);
  unsigned char in[65536];
  uint64_t out[256];
  size_t outOff = sizeof out, outLen = sizeof out; /* nothing pending */
  int done = 0;
  while (!proto_check && !done) {
    struct pollfd p = { .fd = s, .events = POLLIN | POLLOUT };
    poll(&p, 1, 1);
    for (;;) {
      ssize_t n = read(s, in, sizeof in);
      if (n > 0) { take(in, n); continue; }
      if (n == 0) {
        /* the peer ends the stream when it is asked for its verdict, as this end is about to be */
        struct timespec t = { 0, 50000000 };
        nanosleep(&t, 0);
        CHECK(proto_check, "the peer ended the stream after %llu counters", (unsigned long long)got);
        done = 1;
      }
      else if (errno != EAGAIN) { CHECK(0, "read: %s after %llu counters", strerror(errno), (unsigned long long)got); done = 1; }
      break;
    }
    /* about 256 counters a millisecond: refill the batch only once the last went out whole */
    if (outOff == outLen) {
      for (int i = 0; i < 256; i++) out[i] = sent + i;
      outOff = 0;
    }
    ssize_t w = write(s, (char *)out + outOff, outLen - outOff);
    if (w > 0) {
      outOff += w;
      if (outOff == outLen) sent += 256;
    } else if (w < 0 && errno != EAGAIN) { CHECK(0, "write: %s after %llu counters", strerror(errno), (unsigned long long)sent); done = 1; }
    struct timespec ts = { 0, 1000000 };
    nanosleep(&ts, 0);
  }
  while (!proto_check) pause();
  char what[96];
  snprintf(what, sizeof what, "sent=%llu read=%llu", (unsigned long long)sent, (unsigned long long)got);
  int rc = proto_finish(what);
  /* a close with unread data would reset the peer before it gives its own verdict: end the
   * stream and read what is still coming until the peer ends it too */
  shutdown(s, SHUT_WR);
  fcntl(s, F_SETFL, 0);
  struct timeval tv = { 3, 0 };
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (read(s, in, sizeof in) > 0) {}
  close(s);
  return rc;
}
