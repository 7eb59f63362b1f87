/* Signals: handlers with their flags and masks (SA_RESTART|SA_ONSTACK on a sigaltstack,
 * SA_SIGINFO|SA_NODEFER, SA_RESETHAND), an ignored signal, a blocked mask with SIGUSR1 pending and
 * two real-time signals queued with values, an interval timer; and rseq, registered by glibc for
 * each thread, still registered in the main thread and in a second thread. */
#include "proto.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/rseq.h>
#include <sys/time.h>

#define RT (SIGRTMIN + 3)
static char altstack[65536];
static volatile int got_usr1, on_altstack, rt_values[4], n_rt, rt_from_queue = 1;
static void h_usr1(int s) {
  (void)s; char here;
  got_usr1++;
  on_altstack = &here > altstack && &here < altstack + sizeof altstack;
}
static void h_rt(int s, siginfo_t *si, void *u) {
  (void)s; (void)u;
  if (n_rt < 4) rt_values[n_rt++] = si->si_value.sival_int;
  rt_from_queue &= si->si_code == SI_QUEUE && si->si_pid == getpid();
}
static void h_hup(int s) { (void)s; }

/* 1 if the calling thread's rseq area is registered with the kernel and maintained by it */
static int rseq_ok(void) {
  if (__rseq_size == 0) return 0; /* glibc did not register at all: nothing to carry over */
  struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
  /* registering the same area again answers EBUSY while it is registered (glibc registers 32 bytes
   * and __rseq_size may say less); unregistered, this would register it and return 0 */
  unsigned len = __rseq_size > 32 ? __rseq_size : 32;
  if (syscall(SYS_rseq, rs, len, 0, RSEQ_SIG) != -1 || errno != EBUSY) return 0;
  /* the kernel keeps cpu_id up to date: it matches getcpu (raw syscall: glibc's sched_getcpu reads
   * rseq itself); retry in case the thread migrates between the two reads */
  for (int i = 0; i < 1000; i++) {
    unsigned cpu = ~0u, before = rs->cpu_id;
    syscall(SYS_getcpu, &cpu, 0, 0);
    if ((int)before >= 0 && before == cpu && rs->cpu_id == cpu) return 1;
  }
  return 0;
}
static volatile int thread_rseq = -1;
static void *th(void *a) {
  (void)a;
  while (!proto_check) usleep(1000);
  thread_rseq = rseq_ok();
  return 0;
}
static int same_set(const sigset_t *a, const sigset_t *b) {
  for (int k = 1; k < 65; k++) if (sigismember(a, k) != sigismember(b, k)) return 0;
  return 1;
}
static int skip(int s) { return s == SIGKILL || s == SIGSTOP || s == 32 || s == 33; } /* 32, 33: glibc's */

int main(void) {
  proto_start();
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  sigaltstack(&ss, 0);
  struct sigaction sa = {0};
  sa.sa_handler = h_usr1; sa.sa_flags = SA_RESTART | SA_ONSTACK;
  sigemptyset(&sa.sa_mask); sigaddset(&sa.sa_mask, SIGTERM); sigaddset(&sa.sa_mask, SIGRTMIN + 7);
  sigaction(SIGUSR1, &sa, 0);
  struct sigaction rt = {0};
  rt.sa_sigaction = h_rt; rt.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER; sigaction(RT, &rt, 0);
  struct sigaction hup = {0}; hup.sa_handler = h_hup; hup.sa_flags = SA_RESETHAND; sigaction(SIGHUP, &hup, 0);
  signal(SIGPIPE, SIG_IGN);
  sigset_t block; sigemptyset(&block); sigaddset(&block, SIGUSR1); sigaddset(&block, RT); sigaddset(&block, SIGWINCH);
  sigprocmask(SIG_BLOCK, &block, 0);
  kill(getpid(), SIGUSR1);
  sigqueue(getpid(), RT, (union sigval){.sival_int = 4242});
  sigqueue(getpid(), RT, (union sigval){.sival_int = 4343}); /* real-time signals queue: both wait */
  struct itimerval it = {.it_interval = {7, 0}, .it_value = {100, 0}}; /* armed, far from firing */
  setitimer(ITIMER_REAL, &it, 0);
  pthread_t t; pthread_create(&t, 0, th, 0); /* it inherits the blocked mask */
  static struct sigaction before[65];
  for (int s = 1; s < 65; s++) if (!skip(s)) sigaction(s, 0, &before[s]);
  sigset_t mask0, pend0; sigprocmask(SIG_BLOCK, 0, &mask0); sigpending(&pend0);
  int have_rseq = rseq_ok(); /* 0: no rseq here at all (the test skips); the checks need it */
  proto_ready("rseq=%d", have_rseq);
  while (!proto_check) usleep(1000);
  pthread_join(t, 0);
  for (int s = 1; s < 65; s++) {
    if (skip(s)) continue;
    struct sigaction now; memset(&now, 0, sizeof now); sigaction(s, 0, &now);
    CHECK(now.sa_handler == before[s].sa_handler && now.sa_flags == before[s].sa_flags && same_set(&now.sa_mask, &before[s].sa_mask),
          "sigaction of %d changed: %p/%#x -> %p/%#x", s, (void *)before[s].sa_handler, before[s].sa_flags, (void *)now.sa_handler, now.sa_flags);
  }
  sigset_t cur; sigprocmask(SIG_BLOCK, 0, &cur);
  CHECK(same_set(&cur, &mask0), "blocked mask changed");
  sigset_t pend; sigpending(&pend);
  CHECK(same_set(&pend, &pend0) && sigismember(&pend, SIGUSR1) && sigismember(&pend, RT), "pending signals changed");
  stack_t now_ss; sigaltstack(0, &now_ss);
  CHECK(now_ss.ss_sp == altstack && now_ss.ss_size == sizeof altstack && now_ss.ss_flags == 0, "alternate stack changed");
  CHECK(got_usr1 == 0 && n_rt == 0, "a blocked signal was delivered");
  CHECK(!have_rseq || rseq_ok(), "rseq of the main thread is not registered (or cpu_id is stale)");
  CHECK(!have_rseq || thread_rseq == 1, "rseq of the second thread is not registered (or cpu_id is stale)");
  sigprocmask(SIG_UNBLOCK, &block, 0);
  CHECK(got_usr1 == 1 && on_altstack, "SIGUSR1 handler ran %d times, on the alternate stack: %d", got_usr1, on_altstack);
  /* SA_NODEFER: the second is delivered inside the first handler, so it may be recorded first */
  CHECK(n_rt == 2 && rt_values[0] + rt_values[1] == 4242 + 4343 && (rt_values[0] == 4242 || rt_values[1] == 4242) && rt_from_queue, "real-time signals: %d, values %d %d", n_rt, rt_values[0], rt_values[1]);
  struct itimerval now_it; getitimer(ITIMER_REAL, &now_it);
  CHECK(now_it.it_interval.tv_sec == 7 && now_it.it_value.tv_sec > 50 && now_it.it_value.tv_sec < 100, "ITIMER_REAL %ld/%ld", (long)now_it.it_value.tv_sec, (long)now_it.it_interval.tv_sec);
  return proto_finish("signals");
}
