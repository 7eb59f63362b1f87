/* System V semaphores: a set of four, two of them a ping-pong between parent and child (each
 * blocked in semop in turn), the others holding values. After restore: same id, key and mode,
 * the values, and semop still works between the two. Undo adjustments (SEM_UNDO) do not travel
 * (see src/core/ipc/sem.ts): the child's -2 with SEM_UNDO is undone at its exit without a
 * restore (7) and not after one (5), so the value after its exit is not checked. */
#include "../programs/proto.h"
#include <errno.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>

static int op(int id, int num, int delta, int flags) {
  struct sembuf b = { .sem_num = num, .sem_op = delta, .sem_flg = flags };
  for (;;) {
    if (semop(id, &b, 1) == 0) return 0;
    if (errno != EINTR || proto_check) return -1;
  }
}

int main(void) {
  proto_start();
  key_t key = 0x47580000 | (getpid() & 0xffff);
  int id = semget(key, 4, IPC_CREAT | IPC_EXCL | 0640);
  if (id < 0) { printf("FAIL semget: %m\n"); return 1; }
  unsigned short init[4] = { 3, 0, 0, 7 };
  semctl(id, 0, SETALL, init);
  pid_t c = fork();
  if (c == 0) {
    op(id, 3, -2, SEM_UNDO);
    while (!proto_check) { if (op(id, 1, -1, 0) == 0) op(id, 2, 1, 0); }
    _exit(0);
  }
  long rounds = 0;
  while (semctl(id, 3, GETVAL) != 5) usleep(1000);
  /* ping-pong until READY is out and a while after, then on until the check */
  for (int i = 0; i < 50; i++) { op(id, 1, 1, 0); op(id, 2, -1, 0); rounds++; }
  proto_ready("child=%d id=%d", c, id);
  while (!proto_check) { op(id, 1, 1, 0); if (op(id, 2, -1, 0) == 0) rounds++; }
  proto_check = 0; /* the check's own rounds */
  CHECK(semget(key, 0, 0) == id, "key 0x%x names id %d, not %d", key, semget(key, 0, 0), id);
  struct semid_ds st;
  union { struct semid_ds *buf; } u = { &st };
  CHECK(semctl(id, 0, IPC_STAT, u) == 0 && (st.sem_perm.mode & 0777) == 0640 && st.sem_nsems == 4, "set %d: mode %o nsems %lu", id, st.sem_perm.mode, (unsigned long)st.sem_nsems);
  CHECK(semctl(id, 0, GETVAL) == 3 && semctl(id, 3, GETVAL) == 5, "values %d %d, expected 3 5", semctl(id, 0, GETVAL), semctl(id, 3, GETVAL));
  /* a round may be half done (our +1 given, its answer not taken): finish it */
  struct sembuf take = { .sem_num = 2, .sem_op = -1, .sem_flg = 0 };
  struct timespec ts = { 2, 0 };
  usleep(100000);
  if (semctl(id, 1, GETVAL) == 1 || semctl(id, 2, GETVAL) == 1) semtimedop(id, &take, 1, &ts);
  int more = 0;
  for (int i = 0; i < 20; i++) { op(id, 1, 1, 0); if (semtimedop(id, &take, 1, &ts) == 0) more++; }
  CHECK(more == 20, "only %d rounds of semop with the child after restore", more);
  kill(c, SIGUSR2);
  int stt; waitpid(c, &stt, 0);
  CHECK(WIFEXITED(stt) && WEXITSTATUS(stt) == 0, "child: status %d", stt);
  semctl(id, 0, IPC_RMID);
  return proto_finish("sysv-sem");
}
