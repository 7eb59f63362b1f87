/* eventfd with a count, and an edge-triggered epoll watching it with a data word. */
#include "../programs/proto.h"
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

int main(void) {
  proto_start();
  int e = eventfd(5, EFD_NONBLOCK);
  int s = eventfd(3, EFD_SEMAPHORE);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 0xabcdef12345ULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev);
  proto_ready(0);
  while (!proto_check) usleep(1000);
  struct epoll_event got;
  CHECK(epoll_wait(ep, &got, 1, 0) == 1 && got.data.u64 == 0xabcdef12345ULL, "epoll registration");
  uint64_t v = 0;
  CHECK(read(e, &v, 8) == 8 && v == 5, "eventfd count %lu", (unsigned long)v);
  CHECK(read(s, &v, 8) == 8 && v == 1, "semaphore eventfd reads 1");
  struct epoll_event mod = {.events = EPOLLIN, .data.u64 = 7};
  CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, e, &mod) == 0, "EPOLL_CTL_MOD on the restored watch");
  return proto_finish("eventfd-epoll");
}
