/* memhog MIB: touches MIB of anonymous memory with a known pattern, prints READY, then idles
 * checking nothing; on SIGUSR2 it verifies every page and prints PASS or FAIL. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sys/syscall.h>

static volatile sig_atomic_t check;
static void on_usr2(int s) { (void)s; check = 1; }

int main(int argc, char **argv) {
  /* fds inherited from whatever started us are not ours to carry */
  syscall(SYS_close_range, 3, ~0U, 0);
  size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 256;
  size_t len = mib << 20;
  unsigned long *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); return 2; }
  for (size_t i = 0; i < len / 8; i++) p[i] = i * 2654435761UL;
  signal(SIGUSR2, on_usr2);
  printf("READY %d\n", getpid());
  fflush(stdout);
  while (!check) pause();
  for (size_t i = 0; i < len / 8; i++)
    if (p[i] != i * 2654435761UL) { printf("FAIL word %zu\n", i); return 1; }
  printf("PASS %zu MiB\n", mib);
  return 0;
}
