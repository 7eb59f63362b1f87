/* streamhog MIB KIND: MIB of anonymous memory for the streaming benchmark, then idle.
 * KIND text: pages of text records such as a service holds (lz4 shrinks them several times);
 * KIND random: xorshift output, which no compressor shrinks. Prints READY PID. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
  syscall(SYS_close_range, 3, ~0U, 0);
  size_t len = (argc > 1 ? strtoul(argv[1], 0, 10) : 1024) << 20;
  int text = argc > 2 && !strcmp(argv[2], "text");
  char *m = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) { perror("mmap"); return 2; }
  uint64_t x = 88172645463325252ULL;
  if (text) {
    static const char *names[] = { "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi" };
    for (size_t off = 0, id = 0; off + 128 < len; id++) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      off += snprintf(m + off, 128, "{\"id\":%zu,\"user\":\"%s\",\"balance\":%llu,\"state\":\"active\"}\n",
                      id, names[x & 7], (unsigned long long)(x % 100000));
    }
  } else {
    uint64_t *p = (uint64_t *)m;
    for (size_t i = 0; i < len / 8; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; p[i] = x; }
  }
  printf("READY %d\n", getpid());
  fflush(stdout);
  for (;;) pause();
}
