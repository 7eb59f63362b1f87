/* Memory given back with madvise(MADV_DONTNEED) between two links reads as zero, as allocators
 * rely on: on SIGUSR1 the second MiB of a filled region is dropped, and a whole 2 MiB-aligned
 * block (whose emptied page table the kernel may free, CONFIG_PT_RECLAIM). A restore that fills
 * them from an older link brings back bytes the process had thrown away. */
#include "proto.h"
#include <stdint.h>
#include <sys/mman.h>

#define LEN (16UL << 20)
#define MIB (1UL << 20)
static volatile sig_atomic_t zap;
static void on_usr1(int s) { (void)s; zap = 1; }

int main(void) {
  proto_start();
  signal(SIGUSR1, on_usr1);
  unsigned char *p = mmap(0, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(p, 0xab, LEN);
  /* the first 2 MiB boundary past 4 MiB: a block that fills one page table */
  size_t blk = (((uintptr_t)p + (4UL << 20) + (2UL << 20) - 1) & ~((2UL << 20) - 1)) - (uintptr_t)p;
  proto_ready(0);
  while (!proto_check) {
    if (zap == 1) { madvise(p + MIB, MIB, MADV_DONTNEED); madvise(p + blk, 2 * MIB, MADV_DONTNEED); zap = 2; printf("ZAPPED\n"); fflush(stdout); }
    usleep(1000);
  }
  for (size_t o = 0; o < LEN; o += 4096) {
    unsigned char want = (o >= MIB && o < 2 * MIB) || (o >= blk && o < blk + 2 * MIB) ? 0 : 0xab;
    if (p[o] != want || p[o + 4095] != want) { CHECK(0, "page at +%zu holds %#x, not %#x", o, p[o], want); break; }
  }
  return proto_finish(zap == 2 ? "zapper: dropped MiB zero, the rest kept" : "zapper: not zapped");
}
