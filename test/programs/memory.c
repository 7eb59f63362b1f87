/* Memory of every kind a process holds: private anonymous, heap (brk), a thread stack with its
 * guard page, private and shared file mappings, shared anonymous memory with a forked child,
 * PROT_NONE and read-only regions, a 1 GiB mapping with a few pages touched, and [vvar],
 * [vvar_vclock], [vdso] where they were with clock_gettime still working through the vDSO.
 * /proc/self/maps must be the same at the check as at READY (address, perms, offset, name). */
#include "proto.h"
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define PG 4096
#define BIG (1UL << 30)
#define NSMALL 4000
static char *anon, *small[NSMALL], *ro, *none, *big, *fpriv, *fshared;
static struct shm { volatile long ping, pong, child_count, child_ok; char data[8 * PG]; } *sh;
static char maps_ready[65536], maps_now[65536];

static void read_maps(char *buf, size_t n) {
  int fd = open("/proc/self/maps", O_RDONLY);
  size_t got = 0; ssize_t r;
  while ((r = read(fd, buf + got, n - 1 - got)) > 0) got += r;
  buf[got] = 0; close(fd);
}
/* "start-end perms offset name" of the maps line at l; dev and inode are left out (a shared
 * anonymous mapping gets a new shmem inode when it is rebuilt) */
static void map_key(const char *l, char *key, size_t n) {
  char line[512], range[64], perms[8], off[32], name[400] = "";
  size_t len = strcspn(l, "\n");
  snprintf(line, sizeof line, "%.*s", (int)len, l);
  sscanf(line, "%63s %7s %31s %*s %*s %399[^\n]", range, perms, off, name);
  snprintf(key, n, "%s %s %s %s", range, perms, off, name);
}
/* every line of a must be in b */
static void maps_in(const char *a, const char *b, const char *what) {
  for (const char *l = a; *l; l = strchr(l, '\n') + 1) {
    char key[512], other[512];
    map_key(l, key, sizeof key);
    int found = 0;
    for (const char *m = b; *m && !found; m = strchr(m, '\n') + 1) {
      map_key(m, other, sizeof other);
      found = !strcmp(key, other);
    }
    CHECK(found, "mapping %s: %s", what, key);
  }
}

static sigjmp_buf jb;
static void on_segv(int s) { (void)s; siglongjmp(jb, 1); }
/* does touching p fault? (write or read) */
static int faults(volatile char *p, int write) {
  struct sigaction sa = {0}, old; sa.sa_handler = on_segv;
  sigaction(SIGSEGV, &sa, &old);
  int f = 1;
  if (!sigsetjmp(jb, 1)) { if (write) *p = 1; else (void)*p; f = 0; }
  sigaction(SIGSEGV, &old, 0);
  return f;
}

static void *thread_main(void *a) {
  volatile char local[8192]; /* on this thread's stack, above its guard page */
  for (int i = 0; i < 8192; i++) local[i] = (char)(i * 3);
  while (!proto_check) usleep(1000);
  for (int i = 0; i < 8192; i++) if (local[i] != (char)(i * 3)) { *(int *)a = 1; break; }
  return 0;
}

static void child(pid_t parent) {
  for (int i = 0; i < 8 * PG; i++) sh->data[i] = (char)(i * 5);
  for (;;) { /* answers the parent's pings; it sees what the parent writes, and the reverse */
    sh->child_count++;
    long p = sh->ping;
    if (p < 0) _exit(0);
    if (getppid() != parent) _exit(1); /* orphaned: the parent died, do not linger */
    if (p && sh->pong != p + 1) {
      int ok = 1;
      for (int i = 0; i < 8 * PG; i++) ok &= sh->data[i] == (char)(p == 1 ? i * 5 : i * 11);
      sh->child_ok = ok;
      sh->pong = p + 1;
    }
    usleep(1000);
  }
}

static double mono(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(void) {
  proto_start();
  anon = mmap(0, 8 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  for (size_t i = 0; i < (8 << 20); i++) anon[i] = (char)(i * 7);
  for (int i = 0; i < NSMALL; i++) { small[i] = malloc(500); memset(small[i], i & 0xff, 500); } /* brk heap */
  void *brk0 = sbrk(0);
  ro = mmap(0, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(ro, 0x33, 3 * PG);
  mprotect(ro, 3 * PG, PROT_READ);
  none = mmap(0, 5 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  big = mmap(0, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  for (int i = 0; i < 16; i++) big[(BIG / 16) * i + i * PG] = (char)(i + 1);
  int fd = open("data.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
  char blk[PG];
  for (int i = 0; i < 8; i++) { memset(blk, 'a' + i, sizeof blk); write(fd, blk, sizeof blk); }
  fpriv = mmap(0, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  fpriv[PG * 2] = 'X'; /* a private copy of one page; the file keeps 'c' */
  fshared = mmap(0, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, PG); /* file offset 4096 */
  fshared[PG * 4] = 'S'; /* before READY: file page 5 */
  close(fd);
  sh = mmap(0, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  pid_t parent = getpid(), kid = fork();
  if (kid == 0) child(parent);
  while (sh->child_count < 10) usleep(1000);
  int bad = 0;
  pthread_t th;
  pthread_create(&th, 0, thread_main, &bad);
  usleep(50000);
  double m0 = mono(), last = m0;
  int backwards = 0;
  read_maps(maps_ready, sizeof maps_ready);
  long cc0 = sh->child_count;
  proto_ready("child=%d", kid);
  while (!proto_check) { /* keep working: touch memory, read the clock */
    double m = mono(); backwards |= m < last; last = m;
    anon[(long)(m * 1e6) % (8 << 20)] ^= 0; usleep(1000);
  }
  read_maps(maps_now, sizeof maps_now); /* first, before anything could change the layout */
  maps_in(maps_ready, maps_now, "lost or changed");
  maps_in(maps_now, maps_ready, "appeared");
  pthread_join(th, 0);
  CHECK(!bad, "thread stack content changed");
  for (size_t i = 0; i < (8 << 20); i++) if (anon[i] != (char)(i * 7)) { CHECK(0, "anon byte %zu", i); break; }
  for (int i = 0; i < NSMALL; i++) for (int k = 0; k < 500; k++) if (small[i][k] != (char)(i & 0xff)) { CHECK(0, "heap block %d", i); break; }
  CHECK(sbrk(0) == brk0, "brk moved: %p vs %p", sbrk(0), brk0);
  for (int i = 0; i < 3 * PG; i++) if (ro[i] != 0x33) { CHECK(0, "read-only byte %d", i); break; }
  CHECK(faults(ro, 1) && !faults(ro, 0), "read-only region is not read-only");
  CHECK(faults(none, 0), "PROT_NONE region is readable");
  for (int i = 0; i < 16; i++) {
    CHECK(big[(BIG / 16) * i + i * PG] == (char)(i + 1), "big mapping touched page %d", i);
    CHECK(big[(BIG / 16) * i + i * PG + 2 * PG] == 0 && big[(BIG / 16) * i + 8] == 0, "big mapping untouched page %d", i);
  }
  CHECK(fpriv[PG * 2] == 'X' && fpriv[PG * 3] == 'd' && fpriv[0] == 'a', "private file mapping");
  CHECK(fshared[PG * 1] == 'c' && fshared[PG * 4] == 'S', "shared file mapping shows the file");
  fshared[0] = 'Z'; msync(fshared, PG, MS_SYNC); /* after the restore: must reach the file */
  fd = open("data.bin", O_RDONLY); char c[2] = {0};
  pread(fd, &c[0], 1, PG); pread(fd, &c[1], 1, 5 * PG); close(fd);
  CHECK(c[0] == 'Z' && c[1] == 'S', "writes through the shared mapping reach the file: '%c' '%c'", c[0], c[1]);
  /* shared anonymous memory: the child went on counting in it, sees our writes, we see its */
  CHECK(sh->child_count > cc0, "the child stopped (or the memory is no longer shared)");
  sh->ping = 1;
  for (int i = 0; i < 3000 && sh->pong != 2; i++) usleep(1000);
  CHECK(sh->pong == 2 && sh->child_ok, "child: pong %ld, saw its data %ld", sh->pong, sh->child_ok);
  for (int i = 0; i < 8 * PG; i++) sh->data[i] = (char)(i * 11);
  sh->ping = 3;
  for (int i = 0; i < 3000 && sh->pong != 4; i++) usleep(1000);
  CHECK(sh->pong == 4 && sh->child_ok, "child did not see the parent's writes");
  sh->ping = -1;
  int st = 0;
  CHECK(waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child exit");
  /* the vDSO clocks: monotonic never went back, realtime agrees with the syscall */
  double m1 = mono();
  CHECK(!backwards && m1 > m0, "monotonic clock went back");
  struct timespec r1, r2;
  clock_gettime(CLOCK_REALTIME, &r1); syscall(SYS_clock_gettime, CLOCK_REALTIME, &r2);
  CHECK(labs(r2.tv_sec - r1.tv_sec) <= 1, "vDSO realtime %ld vs syscall %ld", (long)r1.tv_sec, (long)r2.tv_sec);
  void *more = malloc(64 << 20); /* the heap can still grow */
  CHECK(more && memset(more, 1, 64 << 20), "malloc after the check");
  void *b2 = sbrk(1 << 20);
  CHECK(b2 != (void *)-1 && sbrk(0) > brk0, "brk can grow");
  return proto_finish("memory");
}
