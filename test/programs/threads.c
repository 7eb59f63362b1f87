/* Threads: each with its own __thread value; two threads playing mutex/condvar ping-pong with a
 * counter; at the moment of the dump the others are blocked in nanosleep, in read() on a pipe, in a
 * futex wait (pthread_cond_wait) and in epoll_wait on an eventfd. On check: every thread still
 * there, TLS intact, the ping-pong went on, and each blocked call completes correctly once woken. */
#include "proto.h"
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>

static __thread long tls;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER, gate = PTHREAD_COND_INITIALIZER;
static long turn, pings, released;
static int pfd[2], efd, ep;
static volatile int stop_ping, bad_tls, naps, short_nap;
/* results of the blocked threads: 1 = completed correctly, -1 = wrong result */
static volatile int woke_read, woke_epoll, woke_cond;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void *ping(void *a) {
  long me = (long)a; tls = 1000 + me;
  while (!stop_ping) {
    pthread_mutex_lock(&mu);
    while (turn != me && !stop_ping) pthread_cond_wait(&cv, &mu);
    pings++; turn = 1 - me;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (tls != 1000 + me) bad_tls = 1;
  }
  return 0;
}
/* Naps of one second: almost always inside nanosleep when frozen. A nap cut short by the dump must
 * be resumed with the time that remained (the EINTR loop), so no nap may last less than 1 s. */
static void *sleeper(void *a) {
  (void)a; tls = 7;
  do {
    struct timespec req = {1, 0}, rem;
    double t0 = now();
    while (nanosleep(&req, &rem) == -1 && errno == EINTR) req = rem;
    if (now() - t0 < 0.999) short_nap = 1;
    naps++;
  } while (!proto_check);
  if (tls != 7) bad_tls = 1;
  return 0;
}
static void *reader(void *a) {
  (void)a; tls = 8;
  char c = 0; ssize_t r;
  do r = read(pfd[0], &c, 1); while (r == -1 && errno == EINTR);
  woke_read = (r == 1 && c == 'k' && tls == 8) ? 1 : -1;
  return 0;
}
static void *waiter(void *a) {
  (void)a; tls = 9;
  pthread_mutex_lock(&mu);
  while (!released) pthread_cond_wait(&gate, &mu); /* a futex wait */
  pthread_mutex_unlock(&mu);
  woke_cond = tls == 9 ? 1 : -1;
  return 0;
}
static void *poller(void *a) {
  (void)a; tls = 10;
  struct epoll_event ev; int n;
  do n = epoll_wait(ep, &ev, 1, -1); while (n == -1 && errno == EINTR);
  uint64_t v = 0;
  int ok = n == 1 && ev.data.u64 == 0xfeedULL && read(efd, &v, 8) == 8 && v == 5 && tls == 10;
  woke_epoll = ok ? 1 : -1;
  return 0;
}

static int count_tasks(void) {
  DIR *d = opendir("/proc/self/task"); int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

int main(void) {
  proto_start();
  pipe(pfd);
  efd = eventfd(0, 0);
  ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0xfeedULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
  tls = 42;
  void *(*fn[6])(void *) = {ping, ping, sleeper, reader, waiter, poller};
  pthread_t t[6];
  for (long i = 0; i < 6; i++) pthread_create(&t[i], 0, fn[i], (void *)i);
  usleep(200000);
  int tasks0 = count_tasks();
  pthread_mutex_lock(&mu); long p0 = pings; pthread_mutex_unlock(&mu);
  int naps0 = naps;
  proto_ready("threads=%d pings=%ld", tasks0, p0);
  while (!proto_check) usleep(1000);

  CHECK(count_tasks() == tasks0 && tasks0 == 7, "threads: %d at READY, %d now", tasks0, count_tasks());
  pthread_mutex_lock(&mu); long p1 = pings; pthread_mutex_unlock(&mu);
  usleep(100000);
  pthread_mutex_lock(&mu); long p2 = pings; pthread_mutex_unlock(&mu);
  CHECK(p2 > p1 && p1 > p0, "ping-pong stopped: %ld %ld %ld", p0, p1, p2);
  /* the blocked threads must still be blocked: nothing has woken them yet */
  CHECK(!woke_read && !woke_cond && !woke_epoll, "a blocked call returned early: read %d cond %d epoll %d", woke_read, woke_cond, woke_epoll);
  write(pfd[1], "k", 1);
  uint64_t five = 5; write(efd, &five, 8);
  pthread_mutex_lock(&mu); released = 1; pthread_cond_broadcast(&gate); pthread_mutex_unlock(&mu);
  stop_ping = 1;
  pthread_mutex_lock(&mu); pthread_cond_broadcast(&cv); pthread_mutex_unlock(&mu);
  for (int i = 0; i < 6; i++) pthread_join(t[i], 0);
  CHECK(woke_read == 1, "blocked read did not complete correctly");
  CHECK(woke_cond == 1, "futex waiter did not complete correctly");
  CHECK(woke_epoll == 1, "epoll_wait did not report the eventfd correctly");
  CHECK(naps > naps0 && !short_nap, "nanosleep: %d naps at READY, %d now, a nap cut short: %d", naps0, naps, short_nap);
  CHECK(tls == 42 && !bad_tls, "TLS changed");
  char buf[64]; snprintf(buf, sizeof buf, "threads pings=%ld naps=%d", p2, naps);
  return proto_finish(buf);
}
