/* A process with one System V object of each kind, keys from argv[1] (hex) + 1, 2, 3: a 64 KiB
 * segment it writes a pattern into and a counter on, a set of two semaphores it operates on, a
 * queue of three messages. On SIGUSR2: the keys name the same ids, and every value is there. */
#include "proto.h"
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/sem.h>
#include <sys/msg.h>

struct m { long type; char text[32]; };

int main(int argc, char **argv) {
  proto_start();
  key_t base = argc > 1 ? (key_t)strtoul(argv[1], 0, 16) : 0x47600000;
  int shm = shmget(base + 1, 65536, IPC_CREAT | IPC_EXCL | 0600);
  int sem = semget(base + 2, 2, IPC_CREAT | IPC_EXCL | 0600);
  int msg = msgget(base + 3, IPC_CREAT | IPC_EXCL | 0600);
  if (shm < 0 || sem < 0 || msg < 0) { printf("FAIL creating the objects: %m\n"); fflush(stdout); return 1; }
  volatile unsigned *p = shmat(shm, 0, 0);
  for (int i = 1; i < 16384; i++) p[i] = i * 2654435761u;
  unsigned short v[2] = { 5, 9 };
  semctl(sem, 0, SETALL, v);
  for (int i = 0; i < 3; i++) { struct m b = { 10 + i }; snprintf(b.text, sizeof b.text, "message %d", i); msgsnd(msg, &b, strlen(b.text) + 1, 0); }
  proto_ready("shm=%d sem=%d msg=%d", shm, sem, msg);
  struct sembuf ops[2] = { { 1, -1, 0 }, { 1, 1, 0 } };
  while (!proto_check) { p[0]++; semop(sem, ops, 2); usleep(1000); }
  CHECK(shmget(base + 1, 0, 0) == shm && semget(base + 2, 0, 0) == sem && msgget(base + 3, 0) == msg, "the keys name other ids");
  int ok = 1;
  for (int i = 1; i < 16384; i++) if (p[i] != i * 2654435761u) ok = 0;
  CHECK(ok && p[0] > 0, "the segment's contents");
  CHECK(semctl(sem, 0, GETVAL) == 5 && semctl(sem, 1, GETVAL) == 9, "semaphore values %d %d", semctl(sem, 0, GETVAL), semctl(sem, 1, GETVAL));
  for (int i = 0; i < 3; i++) {
    struct m b; char want[32]; snprintf(want, sizeof want, "message %d", i);
    ssize_t n = msgrcv(msg, &b, sizeof b.text, 0, IPC_NOWAIT);
    CHECK(n > 0 && b.type == 10 + i && !strcmp(b.text, want), "message %d", i);
  }
  shmctl(shm, IPC_RMID, 0); semctl(sem, 0, IPC_RMID); msgctl(msg, IPC_RMID, 0);
  return proto_finish("sysv-ipc");
}
