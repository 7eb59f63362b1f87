/* Memory of every kind a process holds: private anonymous, heap, a thread stack with its guard
 * page, private and shared file mappings, PROT_NONE and read-only regions, a large mostly-untouched
 * mapping, and the vDSO where it was, with clock_gettime still working. */
#include "proto.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

#define BIG (1UL << 30)
static char *anon, *heap, *ro, *none, *big, *fpriv, *fshared;
static char maps_before[65536];

static void read_maps(char *buf, size_t n) {
  int fd = open("/proc/self/maps", O_RDONLY);
  size_t got = 0; ssize_t r;
  while ((r = read(fd, buf + got, n - 1 - got)) > 0) got += r;
  buf[got] = 0; close(fd);
}

static void *thread_main(void *a) {
  volatile char local[4096];
  memset((char *)local, 0x5a, sizeof local);
  while (!proto_check) usleep(1000);
  for (int i = 0; i < 4096; i++) if (local[i] != 0x5a) { *(int *)a = 1; break; }
  return 0;
}

int main(void) {
  proto_start();
  anon = mmap(0, 8 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  for (size_t i = 0; i < (8 << 20); i++) anon[i] = (char)(i * 7);
  heap = malloc(3 << 20);
  for (size_t i = 0; i < (3 << 20); i++) heap[i] = (char)(i * 13);
  void *brk0 = sbrk(0);
  ro = mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(ro, 0x33, 3 * 4096);
  mprotect(ro, 3 * 4096, PROT_READ);
  none = mmap(0, 5 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  big = mmap(0, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  for (int i = 0; i < 16; i++) big[(BIG / 16) * i + i * 4096] = (char)(i + 1);
  int fd = open("data.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
  char blk[4096];
  for (int i = 0; i < 8; i++) { memset(blk, 'a' + i, sizeof blk); write(fd, blk, sizeof blk); }
  fpriv = mmap(0, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  fpriv[4096 * 2] = 'X'; /* a private copy of one page; the file keeps 'c' */
  fshared = mmap(0, 8 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  int bad = 0;
  pthread_t th;
  pthread_create(&th, 0, thread_main, &bad);
  struct timespec m0; clock_gettime(CLOCK_MONOTONIC, &m0);
  read_maps(maps_before, sizeof maps_before);
  proto_ready("maps=%zu", strlen(maps_before));
  long spins = 0;
  while (!proto_check) { anon[spins % 4096] = anon[spins % 4096]; spins++; usleep(1000); }
  pthread_join(th, 0);
  CHECK(!bad, "thread stack content changed");
  for (size_t i = 0; i < (8 << 20); i++) if (anon[i] != (char)(i * 7)) { CHECK(0, "anon byte %zu", i); break; }
  for (size_t i = 0; i < (3 << 20); i++) if (heap[i] != (char)(i * 13)) { CHECK(0, "heap byte %zu", i); break; }
  CHECK(sbrk(0) == brk0, "brk moved: %p vs %p", sbrk(0), brk0);
  void *more = malloc(64 << 20); /* the heap can still grow */
  CHECK(more != 0, "malloc after restore");
  memset(more, 1, 64 << 20);
  for (int i = 0; i < 3 * 4096; i++) if (ro[i] != 0x33) { CHECK(0, "read-only byte %d", i); break; }
  for (int i = 0; i < 16; i++) {
    CHECK(big[(BIG / 16) * i + i * 4096] == (char)(i + 1), "big mapping touched page %d", i);
    CHECK(big[(BIG / 16) * i + i * 4096 + 8192] == 0, "big mapping untouched page %d", i);
  }
  CHECK(fpriv[4096 * 2] == 'X' && fpriv[4096 * 3] == 'd', "private file mapping");
  CHECK(fshared[4096 * 2] == 'c', "shared file mapping sees the file, not the private copy");
  fshared[0] = 'Z'; msync(fshared, 4096, MS_SYNC);
  fd = open("data.bin", O_RDONLY); char c = 0; pread(fd, &c, 1, 0); close(fd);
  CHECK(c == 'Z', "a write through the shared mapping reaches the file");
  static char maps_after[65536];
  read_maps(maps_after, sizeof maps_after);
  /* the thread ended (its stack is gone) and malloc grew things: compare the lines that existed */
  char *line = maps_before;
  while (line && *line) {
    char *nl = strchr(line, '\n'); if (nl) *nl = 0;
    if (strstr(line, "[vdso]") || strstr(line, "[vvar") || strstr(line, "data.bin") || strstr(line, "---p") || strstr(line, "r--p 00000000 00:00 0 ")) {
      CHECK(strstr(maps_after, line) != 0, "mapping changed: %s", line);
    }
    line = nl ? nl + 1 : 0;
  }
  struct timespec m1; clock_gettime(CLOCK_MONOTONIC, &m1);
  CHECK(m1.tv_sec > m0.tv_sec || (m1.tv_sec == m0.tv_sec && m1.tv_nsec >= m0.tv_nsec), "monotonic clock went back");
  struct timespec r1; clock_gettime(CLOCK_REALTIME, &r1);
  struct timespec r2; syscall(SYS_clock_gettime, CLOCK_REALTIME, &r2);
  CHECK(labs(r2.tv_sec - r1.tv_sec) <= 1, "vDSO clock disagrees with the syscall");
  (void)none;
  return proto_finish("memory");
}
