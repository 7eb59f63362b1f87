/* Threads: TLS per thread, a mutex/condvar ping-pong, and threads blocked in nanosleep, read on a
 * pipe, a futex wait (condvar) and epoll_wait at the moment of the dump. */
#include "proto.h"
#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <time.h>

static __thread long tls;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER, never = PTHREAD_COND_INITIALIZER;
static long turn, pings;
static int pfd[2], efd[2], ep;
static volatile int woke_read, woke_epoll, woke_cond, slept, bad_tls;

static void *ping(void *a) {
  long me = (long)a; tls = 1000 + me;
  for (;;) {
    pthread_mutex_lock(&mu);
    while (turn != me) pthread_cond_wait(&cv, &mu);
    pings++; turn = 1 - me;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (tls != 1000 + me) bad_tls = 1;
  }
  return 0;
}
static void *sleeper(void *a) {
  (void)a; tls = 7;
  struct timespec req = {3, 0}, rem;
  while (nanosleep(&req, &rem) == -1 && errno == EINTR) req = rem;
  slept = tls == 7 ? 1 : -1;
  return 0;
}
static void *reader(void *a) {
  (void)a; char c;
  ssize_t r;
  do r = read(pfd[0], &c, 1); while (r == -1 && errno == EINTR);
  woke_read = (r == 1 && c == 'k') ? 1 : -1;
  return 0;
}
static void *waiter(void *a) {
  (void)a;
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&m);
  pthread_cond_wait(&never, &m);
  woke_cond = 1;
  pthread_mutex_unlock(&m);
  return 0;
}
static void *poller(void *a) {
  (void)a; struct epoll_event ev; int n;
  do n = epoll_wait(ep, &ev, 1, -1); while (n == -1 && errno == EINTR);
  woke_epoll = (n == 1 && ev.data.u64 == 0xfeedULL) ? 1 : -1;
  return 0;
}

int main(void) {
  proto_start();
  pipe(pfd);
  pipe(efd); /* its own pipe: the blocked reader must not eat the epoll waiter's byte */
  ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0xfeedULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, efd[0], &ev);
  tls = 42;
  pthread_t t[6];
  pthread_create(&t[0], 0, ping, (void *)0);
  pthread_create(&t[1], 0, ping, (void *)1);
  pthread_create(&t[2], 0, sleeper, 0);
  pthread_create(&t[3], 0, reader, 0);
  pthread_create(&t[4], 0, waiter, 0);
  pthread_create(&t[5], 0, poller, 0);
  usleep(200000);
  pthread_mutex_lock(&mu); long p0 = pings; pthread_mutex_unlock(&mu);
  proto_ready("pings=%ld", p0);
  while (!proto_check) usleep(1000);
  pthread_mutex_lock(&mu); long p1 = pings; pthread_mutex_unlock(&mu);
  usleep(100000);
  pthread_mutex_lock(&mu); long p2 = pings; pthread_mutex_unlock(&mu);
  CHECK(p2 > p1 && p1 > p0, "ping-pong stopped: %ld %ld %ld", p0, p1, p2);
  CHECK(tls == 42 && !bad_tls, "TLS changed");
  write(pfd[1], "k", 1); /* wakes the reader */
  write(efd[1], "e", 1); /* wakes the epoll waiter */
  pthread_mutex_lock(&mu); pthread_cond_broadcast(&never); pthread_mutex_unlock(&mu);
  pthread_join(t[3], 0); pthread_join(t[4], 0); pthread_join(t[5], 0); pthread_join(t[2], 0);
  CHECK(woke_read == 1, "blocked read did not complete correctly");
  CHECK(woke_cond == 1, "futex waiter did not wake");
  CHECK(woke_epoll == 1, "epoll_wait did not report the pipe");
  CHECK(slept == 1, "nanosleep thread");
  char buf[64]; snprintf(buf, sizeof buf, "threads pings=%ld", p2);
  return proto_finish(buf);
}
