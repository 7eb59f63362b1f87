/* Writes known pages on demand, for the dirty-tracking tests. A 64 MiB region is touched at start.
 * On each SIGUSR1 (round k) it writes a pseudo-random set of its pages, listed in round-k.bin
 * (u64 addresses), and changes its mappings: round 2 maps a new region, round 3 unmaps it, maps
 * another and grows the heap; the new ranges go to new-k.bin. Then it prints "ROUND k". */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define REGION (64UL << 20)
#define PAGES (REGION / 4096)
static volatile sig_atomic_t go;
static void on_usr1(int s) { (void)s; go++; }

static void save(const char *name, int k, uint64_t *v, size_t n) {
  char f[64]; snprintf(f, sizeof f, "%s-%d.bin", name, k);
  FILE *o = fopen(f, "wb"); fwrite(v, 8, n, o); fclose(o);
}

int main(void) {
  syscall(SYS_close_range, 3, ~0U, 0);
  signal(SIGUSR1, on_usr1);
  char *r = mmap(0, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(r, 0xaa, REGION); /* rounds write 1, 2, 3...: every write changes the page */
  printf("READY %d region=%lx-%lx\n", getpid(), (unsigned long)r, (unsigned long)(r + REGION));
  fflush(stdout);
  static uint8_t picked[PAGES];
  static uint64_t list[PAGES];
  char *extra = 0;
  for (int k = 1; k <= 4; k++) {
    while (go < k) pause();
    memset(picked, 0, sizeof picked);
    size_t n = 0;
    uint64_t x = 2654435761u * (uint64_t)k + 12345;
    for (int i = 0; i < 777 * k; i++) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      size_t p = (x >> 33) % PAGES;
      if (picked[p]) continue;
      picked[p] = 1;
      r[p * 4096 + (x & 4095)] = (char)k;
      list[n++] = (uint64_t)(r + p * 4096);
    }
    save("round", k, list, n);
    uint64_t ranges[4]; size_t m = 0;
    if (k == 2) {
      extra = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      memset(extra, 2, 1 << 20);
      ranges[m++] = (uint64_t)extra; ranges[m++] = (uint64_t)extra + (1 << 20);
    }
    if (k == 3) {
      munmap(extra, 1 << 20);
      extra = mmap(0, 2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      memset(extra, 3, 2 << 20);
      ranges[m++] = (uint64_t)extra; ranges[m++] = (uint64_t)extra + (2 << 20);
      char *b = sbrk(1 << 20);
      memset(b, 3, 1 << 20);
      ranges[m++] = (uint64_t)b; ranges[m++] = (uint64_t)b + (1 << 20);
    }
    save("new", k, ranges, m);
    printf("ROUND %d %zu\n", k, n);
    fflush(stdout);
  }
  while (1) pause();
}
