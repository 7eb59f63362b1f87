/* signalfd: its mask, and a pending signal read through it after restore. */
#include "../programs/proto.h"
#include <sys/signalfd.h>

int main(void) {
  proto_start();
  sigset_t m; sigemptyset(&m); sigaddset(&m, SIGUSR1); sigaddset(&m, SIGRTMIN + 2);
  sigprocmask(SIG_BLOCK, &m, 0);
  int sfd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
  union sigval v = {.sival_int = 77};
  sigqueue(getpid(), SIGRTMIN + 2, v);
  proto_ready(0);
  while (!proto_check) usleep(1000);
  struct signalfd_siginfo si;
  CHECK(read(sfd, &si, sizeof si) == sizeof si && (int)si.ssi_signo == SIGRTMIN + 2 && si.ssi_int == 77, "signal through signalfd");
  kill(getpid(), SIGUSR1);
  CHECK(read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR1, "new signal through signalfd");
  CHECK(read(sfd, &si, sizeof si) == -1, "signalfd reports a signal that was not sent");
  return proto_finish("signalfd");
}
