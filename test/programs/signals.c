/* Signals: handlers with their flags and masks, an ignored signal, an alternate signal stack, a
 * blocked mask with a standard and a queued real-time signal pending; rseq in two threads. */
#include "proto.h"
#include <pthread.h>
#include <sched.h>
#include <sys/rseq.h>
#include <sys/time.h>

static volatile int got_usr1, got_rt_value = -1;
static char altstack[65536];
static void h_usr1(int s) { (void)s; got_usr1++; }
static void h_rt(int s, siginfo_t *si, void *u) { (void)s; (void)u; got_rt_value = si->si_value.sival_int; }
static void h_hup(int s) { (void)s; }

static int rseq_ok(void) {
  struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
  if (__rseq_size == 0) return 1; /* glibc did not register: nothing to check */
  int cpu = sched_getcpu();
  return (int)rs->cpu_id >= 0 && (int)rs->cpu_id_start >= 0 && cpu >= 0;
}
static volatile int thread_rseq = -1;
static void *th(void *a) {
  (void)a;
  while (!proto_check) usleep(1000);
  usleep(1000);
  thread_rseq = rseq_ok();
  return 0;
}

struct want { int sig; void *h; int flags; };

int main(void) {
  proto_start();
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  sigaltstack(&ss, 0);
  struct sigaction sa = {0};
  sa.sa_handler = h_usr1; sa.sa_flags = SA_RESTART | SA_ONSTACK; sigemptyset(&sa.sa_mask); sigaddset(&sa.sa_mask, SIGTERM);
  sigaction(SIGUSR1, &sa, 0);
  struct sigaction rt = {0};
  rt.sa_sigaction = h_rt; rt.sa_flags = SA_SIGINFO | SA_NODEFER; sigaction(SIGRTMIN + 3, &rt, 0);
  struct sigaction hup = {0}; hup.sa_handler = h_hup; hup.sa_flags = SA_RESETHAND; sigaction(SIGHUP, &hup, 0);
  signal(SIGPIPE, SIG_IGN);
  sigset_t block; sigemptyset(&block); sigaddset(&block, SIGUSR1); sigaddset(&block, SIGRTMIN + 3); sigaddset(&block, SIGWINCH);
  sigprocmask(SIG_BLOCK, &block, 0);
  kill(getpid(), SIGUSR1);
  union sigval v = {.sival_int = 4242};
  sigqueue(getpid(), SIGRTMIN + 3, v);
  struct itimerval it = {.it_interval = {7, 0}, .it_value = {100, 0}}; /* armed, far from firing */
  setitimer(ITIMER_REAL, &it, 0);
  pthread_t t; pthread_create(&t, 0, th, 0);
  static struct sigaction before[65];
  for (int s = 1; s < 65; s++) if (s != SIGKILL && s != SIGSTOP && s != 32 && s != 33) sigaction(s, 0, &before[s]);
  proto_ready(0);
  while (!proto_check) usleep(1000);
  pthread_join(t, 0);
  for (int s = 1; s < 65; s++) {
    if (s == SIGKILL || s == SIGSTOP || s == 32 || s == 33) continue;
    struct sigaction now; memset(&now, 0, sizeof now); sigaction(s, 0, &now);
    int mask_same = 1;
    for (int k = 1; k < 65; k++) mask_same &= sigismember(&now.sa_mask, k) == sigismember(&before[s].sa_mask, k);
    CHECK(now.sa_handler == before[s].sa_handler && now.sa_flags == before[s].sa_flags && mask_same, "sigaction of %d changed: %p/%x -> %p/%x", s, (void *)before[s].sa_handler, before[s].sa_flags, (void *)now.sa_handler, now.sa_flags);
  }
  sigset_t cur; sigprocmask(SIG_BLOCK, 0, &cur);
  CHECK(sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGWINCH) && sigismember(&cur, SIGRTMIN + 3) && !sigismember(&cur, SIGUSR2), "blocked mask changed");
  sigset_t pend; sigpending(&pend);
  CHECK(sigismember(&pend, SIGUSR1), "SIGUSR1 no longer pending");
  CHECK(sigismember(&pend, SIGRTMIN + 3), "queued real-time signal lost");
  stack_t now_ss; sigaltstack(0, &now_ss);
  CHECK(now_ss.ss_sp == altstack && now_ss.ss_size == sizeof altstack, "alternate stack changed");
  CHECK(got_usr1 == 0, "a blocked signal was delivered");
  sigprocmask(SIG_UNBLOCK, &block, 0);
  CHECK(got_usr1 == 1, "SIGUSR1 handler ran %d times after unblocking", got_usr1);
  CHECK(got_rt_value == 4242, "real-time signal value %d", got_rt_value);
  struct itimerval now_it; getitimer(ITIMER_REAL, &now_it);
  CHECK(now_it.it_interval.tv_sec == 7 && now_it.it_value.tv_sec > 50 && now_it.it_value.tv_sec < 100, "ITIMER_REAL %ld/%ld", (long)now_it.it_value.tv_sec, (long)now_it.it_interval.tv_sec);
  CHECK(rseq_ok(), "rseq of the main thread");
  CHECK(thread_rseq == 1, "rseq of the second thread");
  return proto_finish("signals");
}
