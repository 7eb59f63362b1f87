/* System V shared memory: a segment the parent attaches read-write and the child read-only at
 * another address, with its contents, and a second segment marked for removal while both keep it
 * attached. After restore: same ids and key, contents there, still shared both ways, the second
 * one still marked for removal, the child's attachment still read-only, the first one still
 * locked in memory (SHM_LOCK) and owned by the uid and gid IPC_SET gave it. */
#include "../programs/proto.h"
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>

#define SIZE (3 * 4096 + 100)

static int mapped_rdonly(const void *at) {
  char want[32], line[512]; snprintf(want, sizeof want, "%lx-", (unsigned long)at);
  FILE *f = fopen("/proc/self/maps", "r"); int ro = -1;
  while (f && fgets(line, sizeof line, f)) if (!strncmp(line, want, strlen(want))) ro = strstr(line, " r--s ") != 0;
  if (f) fclose(f);
  return ro;
}

int main(void) {
  proto_start();
  key_t key = 0x47570000 | (getpid() & 0xffff);
  int id = shmget(key, SIZE, IPC_CREAT | IPC_EXCL | 0640);
  int dead = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  if (id < 0 || dead < 0) { printf("FAIL shmget: %m\n"); return 1; }
  volatile unsigned char *p = shmat(id, 0, 0);
  volatile long *d = shmat(dead, 0, 0);
  for (int i = 0; i < SIZE; i++) p[i] = (unsigned char)(i * 7 + 1);
  d[0] = 1234;
  shmctl(dead, IPC_RMID, 0); /* gone once the last one detaches */
  struct shmid_ds own;
  shmctl(id, IPC_STAT, &own);
  own.shm_perm.uid = 1234; own.shm_perm.gid = 5678;
  if (shmctl(id, IPC_SET, &own) || shmctl(id, SHM_LOCK, 0)) { printf("FAIL IPC_SET/SHM_LOCK: %m\n"); return 1; }
  pid_t c = fork();
  if (c == 0) {
    /* the child sees the segment read-only, elsewhere; it answers through the removed one */
    volatile unsigned char *r = shmat(id, 0, SHM_RDONLY);
    shmdt((void *)p);
    int bad = 0;
    while (!proto_check) {
      for (int i = 0; i < SIZE; i += 97) if (r[i] != (unsigned char)(i * 7 + 1) && r[0] != 0xee) bad = 1;
      d[1]++;
      usleep(1000);
    }
    if (mapped_rdonly((void *)r) != 1) _exit(3);
    for (int i = 0; i < 5000 && r[0] != 0xee; i++) usleep(1000);
    if (r[0] != 0xee) _exit(4);
    d[2] = 4242;
    _exit(bad ? 2 : 0);
  }
  usleep(50000);
  proto_ready("child=%d id=%d", c, id);
  while (!proto_check) usleep(1000);
  struct shmid_ds st, dst;
  CHECK(shmget(key, 0, 0) == id, "key 0x%x names id %d, not %d", key, shmget(key, 0, 0), id);
  CHECK(shmctl(id, IPC_STAT, &st) == 0 && (st.shm_perm.mode & 0777) == 0640 && st.shm_segsz == SIZE && st.shm_nattch == 2,
        "segment %d: mode %o size %zu nattch %lu", id, st.shm_perm.mode, st.shm_segsz, (unsigned long)st.shm_nattch);
  CHECK((st.shm_perm.mode & SHM_LOCKED) && st.shm_perm.uid == 1234 && st.shm_perm.gid == 5678 && st.shm_perm.cuid == getuid(),
        "segment %d: mode %o (locked?), owner %d:%d, creator %d", id, st.shm_perm.mode, st.shm_perm.uid, st.shm_perm.gid, st.shm_perm.cuid);
  CHECK(shmctl(dead, IPC_STAT, &dst) == 0 && (dst.shm_perm.mode & SHM_DEST) && dst.shm_perm.__key == 0,
        "segment %d is not marked for removal any more (mode %o)", dead, dst.shm_perm.mode);
  int ok = 1;
  for (int i = 1; i < SIZE; i++) if (p[i] != (unsigned char)(i * 7 + 1)) { ok = 0; break; }
  CHECK(ok && d[0] == 1234, "the contents did not come back");
  long seen = d[1];
  usleep(50000);
  CHECK(d[1] > seen, "the child does not write to the removed segment any more");
  kill(c, SIGUSR2);
  p[0] = 0xee;
  int stt; waitpid(c, &stt, 0);
  CHECK(WIFEXITED(stt) && WEXITSTATUS(stt) == 0, "child: status %d (2 contents, 3 not read-only, 4 the parent's write not seen)", WEXITSTATUS(stt));
  CHECK(d[2] == 4242, "the child's write did not reach the parent");
  shmctl(id, IPC_RMID, 0);
  return proto_finish("sysv-shm");
}
