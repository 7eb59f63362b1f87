/* bigcounter MIB [DIRTY_MBPS [SHARED_MIB]]: MIB of anonymous memory, every page holding a pattern of its
 * index and its version. A loop counts, bumps the version of random pages each millisecond (one
 * page, or DIRTY_MBPS megabytes a second of them, so pre-copy always finds something dirty) and
 * prints "TICK n" every 100 steps. On SIGUSR2 every page is checked against
 * its version and the count goes with PASS: the count goes on from where it was, and not one
 * byte of memory changed on the way. On SIGUSR1 it forks a child that waits (a tree that changes
 * shape while it is pre-copied), which must still be its child at the check. SHARED_MIB more of
 * shared anonymous memory, written once and checked too: memory a destination cannot build during
 * pre-copy, so its restore takes a while (a window the fault tests aim at). */
#include "proto.h"
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/wait.h>

static volatile sig_atomic_t forkreq;
static void on_usr1(int s) { (void)s; forkreq = 1; }

#define PG 4096UL

static void fill(uint64_t *p, uint64_t page, uint8_t v) {
  uint64_t x = page * 0x9e3779b97f4a7c15ULL + v;
  for (size_t i = 0; i < PG / 8; i++) p[i] = x + i * 0x100000001ULL;
}

int main(int argc, char **argv) {
  proto_start();
  signal(SIGUSR1, on_usr1);
  pid_t child = 0;
  size_t len = (argc > 1 ? strtoul(argv[1], 0, 10) : 256) << 20, pages = len / PG;
  char *m = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint8_t *ver = mmap(0, pages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  size_t shpages = (argc > 3 ? strtoul(argv[3], 0, 10) : 0) << 20 >> 12;
  char *sh = shpages ? mmap(0, shpages * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0) : 0;
  if (m == MAP_FAILED || ver == MAP_FAILED || sh == MAP_FAILED) { printf("FAIL mmap\n"); return 2; }
  for (size_t i = 0; i < pages; i++) fill((uint64_t *)(m + i * PG), i, 0);
  for (size_t i = 0; i < shpages; i++) fill((uint64_t *)(sh + i * PG), pages + i, 7);
  proto_ready("pages=%zu", pages);
  uint64_t n = 0, x = 88172645463325252ULL;
  struct timespec ts = { 0, 1000000 }, t0, now;
  /* the rate holds against wall time, however long each sleep really is */
  double rate = argc > 2 ? strtod(argv[2], 0) * 1e6 / PG : 1000, done = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!proto_check) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    double due = rate * ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9);
    if (due - done > rate) done = due - rate; /* after a freeze, no burst to catch up */
    do {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      size_t i = x % pages;
      fill((uint64_t *)(m + i * PG), i, ++ver[i]);
      done++;
    } while (done < due);
    if (forkreq == 1) {
      forkreq = 2;
      child = fork();
      if (child == 0) for (;;) pause();
      printf("FORKED %d\n", (int)child); fflush(stdout);
    }
    if (++n % 100 == 0) { printf("TICK %llu\n", (unsigned long long)n); fflush(stdout); }
    nanosleep(&ts, 0);
  }
  size_t bad = 0;
  for (size_t i = 0; i < pages; i++) {
    uint64_t want[PG / 8];
    fill(want, i, ver[i]);
    if (memcmp(want, m + i * PG, PG)) bad++;
  }
  for (size_t i = 0; i < shpages; i++) {
    uint64_t want[PG / 8];
    fill(want, pages + i, 7);
    if (memcmp(want, sh + i * PG, PG)) bad++;
  }
  CHECK(bad == 0, "%zu of %zu pages differ", bad, pages + shpages);
  if (child > 0) CHECK(waitpid(child, 0, WNOHANG) == 0 && kill(child, 0) == 0, "child %d is gone", (int)child);
  char what[64];
  snprintf(what, sizeof what, "count=%llu pages=%zu children=%d", (unsigned long long)n, pages, child > 0);
  return proto_finish(what);
}
