/* Two mappings side by side, each page stamped with its address; on SIGUSR1 the lower one is
 * unmapped. A pre-dump reads a running process: a run collected over both must still give the
 * upper one's bytes when the lower one is gone by the time it is read. */
#include "proto.h"
#include <stdint.h>
#include <sys/mman.h>

#define HALF (2UL << 20)
static volatile sig_atomic_t drop;
static void on_usr1(int s) { (void)s; drop = 1; }

int main(void) {
  proto_start();
  signal(SIGUSR1, on_usr1);
  char *p = mmap(0, 2 * HALF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  for (size_t o = 0; o < 2 * HALF; o += 4096) *(uint64_t *)(p + o) = (uint64_t)(uintptr_t)(p + o);
  proto_ready("at=%lx", (unsigned long)p);
  while (!proto_check) {
    if (drop == 1) { munmap(p, HALF); drop = 2; printf("GONE\n"); fflush(stdout); }
    usleep(1000);
  }
  for (size_t o = HALF; o < 2 * HALF; o += 4096) CHECK(*(uint64_t *)(p + o) == (uint64_t)(uintptr_t)(p + o), "page at +%zu", o);
  return proto_finish("vanish");
}
