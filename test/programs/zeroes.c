/* zeroes [MIB]: memory that is mostly zero, in the shapes that cost a migration for nothing if
 * zero pages travel (a language runtime's reserved heap, memcached's slabs). One private
 * anonymous mapping of MIB (1024) MiB:
 *   [0, 600 MiB)    read-faulted only: the kernel's shared zero page
 *   [600, 800 MiB)  written with a pattern, then on SIGUSR1 memset to zero (still present pages)
 *   [800, 832 MiB)  written, then on SIGUSR1 dropped (MADV_DONTNEED) and its first half read again
 *   [832, 840 MiB)  data, one version per page bumped every millisecond (pre-copy finds it dirty)
 *   the rest        never touched
 * READY prints the mapping's address. On SIGUSR1 it zeroes as above and prints ZEROED. On
 * SIGUSR2 it checks every byte: the data against its versions, the rest zero (or, before
 * SIGUSR1, the pattern), and prints PASS with the data's checksum (FNV-1a over the data region),
 * which a test compares with what it reads from outside. */
#include "proto.h"
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#define PG 4096UL
#define MB (1UL << 20)

static volatile sig_atomic_t zeroreq;
static void on_usr1(int s) { (void)s; zeroreq = 1; }

static void fill(uint64_t *p, uint64_t page, uint8_t v) {
  uint64_t x = page * 0x9e3779b97f4a7c15ULL + v + 1;
  for (size_t i = 0; i < PG / 8; i++) p[i] = x + i * 0x100000001ULL;
}

static int is_zero(const char *p, size_t len) {
  static const char z[PG];
  for (size_t o = 0; o < len; o += PG) if (memcmp(p + o, z, PG)) return 0;
  return 1;
}

int main(int argc, char **argv) {
  proto_start();
  signal(SIGUSR1, on_usr1);
  size_t len = (argc > 1 ? strtoul(argv[1], 0, 10) : 1024) * MB;
  if (len < 848 * MB) { printf("FAIL the mapping must be at least 848 MiB\n"); return 2; }
  char *m = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) { printf("FAIL mmap\n"); return 2; }
  char *zp = m, *ms = m + 600 * MB, *dn = m + 800 * MB, *data = m + 832 * MB;
  size_t dpages = 8 * MB / PG;
  uint8_t ver[8 * MB / PG] = {0};
  volatile char sink = 0;
  for (size_t o = 0; o < 600 * MB; o += PG) sink += zp[o];
  for (size_t i = 0; i < 200 * MB / PG; i++) fill((uint64_t *)(ms + i * PG), i, 0);
  for (size_t i = 0; i < 32 * MB / PG; i++) fill((uint64_t *)(dn + i * PG), i, 1);
  for (size_t i = 0; i < dpages; i++) fill((uint64_t *)(data + i * PG), i, 0);
  proto_ready("base=%p len=%zu data=%p datalen=%lu", (void *)m, len, (void *)data, 8 * MB);
  uint64_t n = 0, x = 88172645463325252ULL;
  int zeroed = 0;
  struct timespec ts = { 0, 1000000 };
  while (!proto_check) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    size_t i = x % dpages;
    fill((uint64_t *)(data + i * PG), i, ++ver[i]);
    if (zeroreq == 1) {
      zeroreq = 2;
      memset(ms, 0, 200 * MB);
      madvise(dn, 32 * MB, MADV_DONTNEED);
      for (size_t o = 0; o < 16 * MB; o += PG) sink += dn[o];
      zeroed = 1;
      printf("ZEROED\n"); fflush(stdout);
    }
    if (++n % 100 == 0) { printf("TICK %llu\n", (unsigned long long)n); fflush(stdout); }
    nanosleep(&ts, 0);
  }
  size_t bad = 0;
  for (size_t i = 0; i < dpages; i++) {
    uint64_t want[PG / 8];
    fill(want, i, ver[i]);
    if (memcmp(want, data + i * PG, PG)) bad++;
  }
  CHECK(bad == 0, "%zu of %zu data pages differ", bad, dpages);
  CHECK(is_zero(zp, 600 * MB), "the read-faulted region is not zero");
  if (zeroed) {
    CHECK(is_zero(ms, 200 * MB), "the region memset to zero is not zero");
    CHECK(is_zero(dn, 32 * MB), "the region dropped with MADV_DONTNEED is not zero");
  } else {
    size_t pb = 0;
    for (size_t i = 0; i < 200 * MB / PG; i++) { uint64_t want[PG / 8]; fill(want, i, 0); if (memcmp(want, ms + i * PG, PG)) pb++; }
    for (size_t i = 0; i < 32 * MB / PG; i++) { uint64_t want[PG / 8]; fill(want, i, 1); if (memcmp(want, dn + i * PG, PG)) pb++; }
    CHECK(pb == 0, "%zu pattern pages differ", pb);
  }
  CHECK(is_zero(data + 8 * MB, len - 840 * MB), "the untouched rest is not zero");
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t o = 0; o < 8 * MB; o++) { h ^= (uint8_t)data[o]; h *= 0x100000001b3ULL; }
  char what[96];
  snprintf(what, sizeof what, "count=%llu zeroed=%d sum=%016llx", (unsigned long long)n, zeroed, (unsigned long long)h);
  (void)sink;
  return proto_finish(what);
}
