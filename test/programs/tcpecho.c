/* tcpecho server PORT | tcpecho client ADDR PORT N: many TCP connections at once. The server
 * accepts every client (on 0.0.0.0) and echoes whatever each sends. The client opens N
 * connections, leaves 1 KiB unread in each (the server's greeting), and on SIGUSR2 sends each
 * connection its number and expects it back after the greeting: PASS with how many came back,
 * FAIL on a reset, an end of stream or a wrong byte. */
#include "proto.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define MAXC 4096
static unsigned char greeting[1024];

static void raise_fds(void) {
  struct rlimit r = { MAXC + 64, MAXC + 64 };
  setrlimit(RLIMIT_NOFILE, &r);
}

static int server(int port) {
  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  if (bind(l, (void *)&a, sizeof a) || listen(l, 4096)) { printf("FAIL bind/listen: %s\n", strerror(errno)); return 2; }
  fcntl(l, F_SETFL, O_NONBLOCK);
  static struct pollfd p[MAXC + 1];
  int n = 0;
  p[0] = (struct pollfd){ .fd = l, .events = POLLIN };
  proto_ready("listening");
  while (!proto_check) {
    if (poll(p, n + 1, 100) <= 0) continue;
    if (p[0].revents & POLLIN) {
      int fd;
      while (n < MAXC && (fd = accept(l, 0, 0)) >= 0) {
        fcntl(fd, F_SETFL, O_NONBLOCK);
        CHECK(write(fd, greeting, sizeof greeting) == sizeof greeting, "greeting: %s", strerror(errno));
        p[++n] = (struct pollfd){ .fd = fd, .events = POLLIN };
      }
    }
    for (int i = 1; i <= n; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      unsigned char b[4096];
      ssize_t r = read(p[i].fd, b, sizeof b);
      if (r > 0) CHECK(write(p[i].fd, b, r) == r, "echo: %s", strerror(errno));
      else if (r == 0) { close(p[i].fd); p[i].fd = -1; }
    }
  }
  char what[64];
  snprintf(what, sizeof what, "clients=%d", n);
  return proto_finish(what);
}

static int client(const char *addr, int port, int n) {
  static int fds[MAXC];
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  inet_pton(AF_INET, addr, &a.sin_addr);
  for (int i = 0; i < n; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fds[i], (void *)&a, sizeof a)) { printf("FAIL connect %d: %s\n", i, strerror(errno)); return 2; }
  }
  proto_ready("connected %d", n);
  printf("CONNECTED %d\n", n);
  fflush(stdout);
  while (!proto_check) pause();
  int back = 0;
  struct timeval tv = { 10, 0 };
  for (int i = 0; i < n; i++) {
    setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint32_t v = i;
    CHECK(write(fds[i], &v, 4) == 4, "connection %d: write: %s", i, strerror(errno));
  }
  for (int i = 0; i < n && !proto_failed; i++) {
    unsigned char b[sizeof greeting + 4];
    size_t got = 0;
    while (got < sizeof b) {
      ssize_t r = read(fds[i], b + got, sizeof b - got);
      if (r <= 0) { CHECK(0, "connection %d: %s after %zu bytes", i, r ? strerror(errno) : "end of stream", got); break; }
      got += r;
    }
    uint32_t v;
    memcpy(&v, b + sizeof greeting, 4);
    CHECK(got < sizeof b || (!memcmp(b, greeting, sizeof greeting) && v == (uint32_t)i), "connection %d: wrong bytes back", i);
    if (got == sizeof b) back++;
  }
  char what[64];
  snprintf(what, sizeof what, "echoed=%d", back);
  return proto_finish(what);
}

int main(int argc, char **argv) {
  proto_start();
  signal(SIGPIPE, SIG_IGN);
  raise_fds();
  for (size_t i = 0; i < sizeof greeting; i++) greeting[i] = (unsigned char)i;
  if (argc > 2 && !strcmp(argv[1], "server")) return server(atoi(argv[2]));
  if (argc > 4 && !strcmp(argv[1], "client")) return client(argv[2], atoi(argv[3]), atoi(argv[4]));
  printf("usage: tcpecho server PORT | tcpecho client ADDR PORT N\n");
  return 2;
}
