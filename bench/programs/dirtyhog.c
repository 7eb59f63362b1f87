/* dirtyhog MIB: touches MIB of memory, prints READY; on each SIGUSR1 it reads a percentage from
 * the file "pct" and writes that share of its pages at random, timing its own writes, then prints
 * "ROUND k pages ns_per_page". */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t go;
static void on_usr1(int s) { (void)s; go++; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }

int main(int argc, char **argv) {
  syscall(SYS_close_range, 3, ~0U, 0);
  size_t len = (argc > 1 ? strtoul(argv[1], 0, 10) : 1024) << 20, pages = len / 4096;
  signal(SIGUSR1, on_usr1);
  char *m = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(m, 0xaa, len); /* rounds write 1, 2, 3...: every write changes a page */
  printf("READY %d\n", getpid()); fflush(stdout);
  uint64_t x = 88172645463325252ULL;
  for (int k = 1;; k++) {
    while (go < k) pause();
    FILE *f = fopen("pct", "r"); double pct = 1; if (f) { fscanf(f, "%lf", &pct); fclose(f); }
    size_t n = (size_t)(pages * pct / 100);
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      m[(x % pages) * 4096] = (char)k;
    }
    double t1 = now();
    printf("ROUND %d %zu %.0f\n", k, n, n ? (t1 - t0) / n : 0); fflush(stdout);
  }
}
