/* Keeps writing while it is pre-dumped again and again, then dumped: a 64 MiB buffer whose words
 * are rewritten at random, with a running sum kept beside it; mappings made, grown (mremap),
 * dropped and made again as it goes, a private mapping of a file written and made again elsewhere,
 * and a growing heap. On SIGUSR2 it checks that its memory agrees with what it knows: a single
 * page restored from a stale link breaks the sum. */
#include "proto.h"
#include <stdint.h>
#include <sys/mman.h>
#include <fcntl.h>

#define BUF (64UL << 20)
#define NREG 6
static struct { char *p; size_t len; uint8_t fill; } regs[NREG];

static uint64_t sum_all(const uint64_t *b, size_t words) { uint64_t s = 0; for (size_t i = 0; i < words; i++) s += b[i]; return s; }

int main(void) {
  proto_start();
  uint64_t *b = mmap(0, BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  size_t words = BUF / 8;
  for (size_t i = 0; i < words; i++) b[i] = i * 2654435761ULL;
  uint64_t sum = sum_all(b, words);
  char *chunks[8]; int nchunks = 0; /* malloc moves the break too: keep each chunk we got */
  /* a file of its own, mapped privately: some pages written (copies), the rest from the file */
  int ffd = open("writer.map", O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (ffd < 0 || ftruncate(ffd, 16 * 4096)) { printf("FAIL writer.map\n"); return 1; }
  for (int i = 0; i < 16; i++) { char pg[4096]; memset(pg, 'a' + i, sizeof pg); if (pwrite(ffd, pg, sizeof pg, i * 4096) != 4096) return 1; }
  char *fm = 0; uint8_t fmark = 0;
  proto_ready(0);
  uint64_t x = 88172645463325252ULL; long writes = 0; int gen = 0;
  while (!proto_check) {
    for (int k = 0; k < 4; k++) { /* about 2k words a second: a link holds a part, not all */
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      uint64_t *q = b + x % words, nv = x * 3;
      sum += nv - *q; *q = nv; writes++;
    }
    gen++;
    if (gen % 97 == 0) { /* drop a region and make another, maybe at the same place */
      int i = (gen / 97) % NREG;
      if (regs[i].p) munmap(regs[i].p, regs[i].len);
      regs[i].len = (size_t)((gen % 3) + 1) << 20;
      regs[i].p = mmap(0, regs[i].len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      regs[i].fill = (uint8_t)(gen | 1);
      memset(regs[i].p, regs[i].fill, regs[i].len);
    }
    if (gen % 151 == 0 && regs[1].p) { /* grow one, wherever the kernel moves it */
      size_t nl = regs[1].len + (1 << 20);
      char *np = mremap(regs[1].p, regs[1].len, nl, MREMAP_MAYMOVE);
      if (np != MAP_FAILED) { memset(np + regs[1].len, regs[1].fill, 1 << 20); regs[1].p = np; regs[1].len = nl; }
    }
    if (gen % 61 == 0) { /* the file mapping made again, maybe elsewhere, and half of it written */
      if (fm) munmap(fm, 16 * 4096);
      fm = mmap(0, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, ffd, 0);
      fmark = (uint8_t)(gen | 1);
      for (int i = 0; i < 16; i += 2) memset(fm + i * 4096, fmark, 4096);
    }
    if (gen % 173 == 0 && nchunks < 8) { char *h = sbrk(1 << 20); memset(h, 0x5c, 1 << 20); chunks[nchunks++] = h; }
    usleep(2000);
  }
  CHECK(sum_all(b, words) == sum, "the buffer disagrees with its running sum after %ld writes", writes);
  for (int i = 0; i < NREG; i++) {
    if (!regs[i].p) continue;
    for (size_t j = 0; j < regs[i].len; j++) if ((uint8_t)regs[i].p[j] != regs[i].fill) { CHECK(0, "region %d byte %zu is %d, not %d", i, j, regs[i].p[j], regs[i].fill); break; }
  }
  if (fm) for (int i = 0; i < 16; i++) {
    uint8_t want = i % 2 ? (uint8_t)('a' + i) : fmark;
    if ((uint8_t)fm[i * 4096] != want || (uint8_t)fm[i * 4096 + 4095] != want) { CHECK(0, "file mapping page %d is %d, not %d", i, fm[i * 4096], want); break; }
  }
  for (int c = 0; c < nchunks; c++)
    for (size_t j = 0; j < (1 << 20); j++) if ((uint8_t)chunks[c][j] != 0x5c) { CHECK(0, "heap chunk %d byte %zu", c, j); break; }
  char what[64]; snprintf(what, sizeof what, "writer %ld writes, %d generations", writes, gen);
  return proto_finish(what);
}
