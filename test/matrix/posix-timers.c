/* POSIX timers keep their IDs, signals, values and time left; one fires after restore. */
// libs: -lrt
#include "../programs/proto.h"
#include <time.h>

static volatile int fired_value = -1;
static void on_rt(int s, siginfo_t *si, void *u) { (void)s; (void)u; fired_value = si->si_value.sival_int; }

int main(void) {
  proto_start();
  struct sigaction sa = {0}; sa.sa_sigaction = on_rt; sa.sa_flags = SA_SIGINFO; sigaction(SIGRTMIN + 1, &sa, 0);
  timer_t slow, soon, quiet;
  struct sigevent se = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 1, .sigev_value.sival_int = 11};
  timer_create(CLOCK_MONOTONIC, &se, &slow);
  struct itimerspec a = {.it_interval = {3, 0}, .it_value = {90, 0}}; timer_settime(slow, 0, &a, 0);
  se.sigev_value.sival_int = 22;
  timer_create(CLOCK_REALTIME, &se, &soon);
  struct sigevent none = {.sigev_notify = SIGEV_NONE};
  timer_create(CLOCK_MONOTONIC, &none, &quiet);
  struct itimerspec q = {.it_value = {120, 0}}; timer_settime(quiet, 0, &q, 0);
  proto_ready("ids=%ld,%ld,%ld", (long)slow, (long)soon, (long)quiet);
  while (!proto_check) usleep(1000);
  struct itimerspec now;
  CHECK(timer_gettime(slow, &now) == 0 && now.it_interval.tv_sec == 3 && now.it_value.tv_sec > 60 && now.it_value.tv_sec <= 90, "slow timer %lds/%lds", (long)now.it_value.tv_sec, (long)now.it_interval.tv_sec);
  CHECK(timer_gettime(quiet, &now) == 0 && now.it_value.tv_sec > 90, "SIGEV_NONE timer %lds", (long)now.it_value.tv_sec);
  struct itimerspec s = {.it_value = {0, 20000000}}; /* the unarmed one, armed now by its old ID */
  CHECK(timer_settime(soon, 0, &s, 0) == 0, "timer ID %ld unknown after restore", (long)soon);
  for (int i = 0; i < 200 && fired_value < 0; i++) usleep(5000);
  CHECK(fired_value == 22, "timer signal value %d", fired_value);
  return proto_finish("posix-timers");
}
