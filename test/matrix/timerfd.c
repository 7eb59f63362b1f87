/* timerfd: an armed periodic timer with time left, and an expired one with unread ticks. */
#include "../programs/proto.h"
#include <stdint.h>
#include <sys/timerfd.h>
#include <time.h>

int main(void) {
  proto_start();
  int armed = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  struct itimerspec a = {.it_interval = {5, 0}, .it_value = {60, 0}};
  timerfd_settime(armed, 0, &a, 0);
  int fired = timerfd_create(CLOCK_REALTIME, 0);
  struct itimerspec f = {.it_interval = {0, 0}, .it_value = {0, 1000000}};
  timerfd_settime(fired, 0, &f, 0);
  usleep(20000); /* it has fired once; the tick is not read */
  proto_ready(0);
  while (!proto_check) usleep(1000);
  struct itimerspec now;
  timerfd_gettime(armed, &now);
  CHECK(now.it_interval.tv_sec == 5 && now.it_value.tv_sec > 30 && now.it_value.tv_sec <= 60, "armed timer %lds left, interval %lds", (long)now.it_value.tv_sec, (long)now.it_interval.tv_sec);
  uint64_t ticks = 0;
  CHECK(read(fired, &ticks, 8) == 8 && ticks == 1, "fired timer ticks %lu", (unsigned long)ticks);
  uint64_t none;
  CHECK(read(armed, &none, 8) == -1, "the armed timer reports an expiration it never had");
  return proto_finish("timerfd");
}
