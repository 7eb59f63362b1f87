/* manymaps [N]: N (500) small private anonymous mappings, the shape of a runtime's many arenas and
 * of a tree that restores slowly when each mapping costs several remote syscalls. Mapping i is 16
 * pages, one after the other with a page of gap; one in three is read-only (written before its
 * mprotect), one in four is advised MADV_NOHUGEPAGE, and each holds its index in two pages, the
 * rest zero or never touched. On SIGUSR2 it checks every mapping, prints PASS. */
#include "proto.h"
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#define PG 4096UL
#define PAGES 16

int main(int argc, char **argv) {
  proto_start();
  size_t n = argc > 1 ? strtoul(argv[1], 0, 10) : 500;
  size_t stride = (PAGES + 1) * PG;
  char *base = mmap(0, n * stride, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) { printf("FAIL reserve\n"); return 2; }
  munmap(base, n * stride);
  for (size_t i = 0; i < n; i++) {
    char *p = mmap(base + i * stride, PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != base + i * stride) { printf("FAIL mmap %zu\n", i); return 2; }
    memset(p, (int)(i & 0xff) | 1, PG);
    ((uint64_t *)(p + 5 * PG))[7] = i * 0x9e3779b97f4a7c15ULL;
    volatile char s = p[9 * PG]; (void)s; /* the zero page */
    if (i % 4 == 0) madvise(p, PAGES * PG, MADV_NOHUGEPAGE);
    if (i % 3 == 0) mprotect(p, PAGES * PG, PROT_READ);
  }
  proto_ready("base=%p n=%zu", (void *)base, n);
  struct timespec ts = { 0, 10000000 };
  uint64_t ticks = 0;
  while (!proto_check) {
    if (++ticks % 100 == 0) { printf("TICK %llu\n", (unsigned long long)ticks); fflush(stdout); }
    nanosleep(&ts, 0);
  }
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    char *p = base + i * stride;
    for (size_t o = 0; o < PG; o++) if (p[o] != (char)((i & 0xff) | 1)) { bad++; break; }
    for (size_t o = PG; o < PAGES * PG; o += 8) {
      uint64_t want = o == 5 * PG + 56 ? i * 0x9e3779b97f4a7c15ULL : 0;
      if (*(uint64_t *)(p + o) != want) { bad++; break; }
    }
  }
  CHECK(bad == 0, "%zu of %zu mappings differ", bad, n);
  char what[64];
  snprintf(what, sizeof what, "mappings=%zu", n);
  return proto_finish(what);
}
