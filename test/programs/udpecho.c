/* udpecho server ADDR PORT | udpecho client ADDR PORT: a UDP service and its client. The server
 * answers every datagram with the same bytes, from the socket it bound to ADDR at start (so its
 * answers come from that address, the one its clients sent to). The client sends
 * a numbered datagram every 2 ms and reads the answers; on SIGUSR2 it prints PASS when the
 * answers kept coming to the end (the last 100 numbers sent were answered), with how many were
 * sent, answered, and lost on the way (UDP may lose some while the server moves: that is allowed,
 * an answer that never comes again is not). */
#include "proto.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

int main(int argc, char **argv) {
  proto_start();
  if (argc > 3 && !strcmp(argv[1], "server")) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
    inet_pton(AF_INET, argv[2], &a.sin_addr);
    if (bind(s, (void *)&a, sizeof a)) { printf("FAIL bind: %s\n", strerror(errno)); return 2; }
    /* a verdict asked when no datagram comes must not wait for one */
    struct timeval tv = { 0, 100000 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    proto_ready("listening");
    uint64_t n = 0;
    while (!proto_check) {
      char b[64];
      struct sockaddr_in from;
      socklen_t len = sizeof from;
      ssize_t r = recvfrom(s, b, sizeof b, 0, (void *)&from, &len);
      if (r > 0 && sendto(s, b, r, 0, (void *)&from, len) == r) n++;
    }
    char what[64];
    snprintf(what, sizeof what, "answered=%llu", (unsigned long long)n);
    return proto_finish(what);
  }
  if (argc > 3 && !strcmp(argv[1], "client")) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
    inet_pton(AF_INET, argv[2], &a.sin_addr);
    if (connect(s, (void *)&a, sizeof a)) { printf("FAIL connect: %s\n", strerror(errno)); return 2; }
    fcntl(s, F_SETFL, O_NONBLOCK);
    proto_ready("sending");
    uint64_t sent = 0, got = 0, last = 0;
    while (!proto_check) {
      uint64_t v = ++sent;
      send(s, &v, 8, 0);
      uint64_t r;
      while (recv(s, &r, 8, 0) == 8) { got++; if (r > last) last = r; }
      struct timespec ts = { 0, 2000000 };
      nanosleep(&ts, 0);
    }
    /* the answers to what was just sent may still be on their way */
    struct timespec ts = { 0, 50000000 };
    nanosleep(&ts, 0);
    uint64_t r;
    while (recv(s, &r, 8, 0) == 8) { got++; if (r > last) last = r; }
    CHECK(last + 100 >= sent, "the last answer was to %llu of %llu sent", (unsigned long long)last, (unsigned long long)sent);
    char what[96];
    snprintf(what, sizeof what, "sent=%llu answered=%llu lost=%llu", (unsigned long long)sent, (unsigned long long)got, (unsigned long long)(sent - got));
    return proto_finish(what);
  }
  printf("usage: udpecho server ADDR PORT | udpecho client ADDR PORT\n");
  return 2;
}
