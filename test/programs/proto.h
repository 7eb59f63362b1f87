/* The protocol every test program follows: set up state, print "READY <pid>", keep working until
 * SIGUSR2, then check from the inside that everything is as it was and print PASS or FAIL. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t proto_check;
static void proto_on_usr2(int s) { (void)s; proto_check = 1; }

static void proto_start(void) {
  /* stdout is a file: buffer it fully in static memory, so that printing never mallocs (the heap
   * and the maps must not change on their own between READY and the check); every proto_* and
   * CHECK output is flushed right away */
  static char proto_outbuf[16384];
  setvbuf(stdout, proto_outbuf, _IOFBF, sizeof proto_outbuf);
  /* fds inherited from whoever started us are not part of the test, unless the test says so */
  if (!getenv("PROTO_KEEP_FDS")) syscall(SYS_close_range, 3, ~0U, 0);
  struct sigaction sa = {0};
  sa.sa_handler = proto_on_usr2;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR2, &sa, 0);
}

static void proto_ready(const char *fmt, ...) {
  printf("READY %d", getpid());
  if (fmt) { va_list ap; va_start(ap, fmt); putchar(' '); vprintf(fmt, ap); va_end(ap); }
  putchar('\n');
  fflush(stdout);
}

static int proto_failed;
#define CHECK(cond, ...) do { if (!(cond)) { if (!proto_failed) { printf("FAIL "); printf(__VA_ARGS__); printf(" (%s:%d)\n", __FILE__, __LINE__); fflush(stdout); } proto_failed = 1; } } while (0)

__attribute__((unused)) static int proto_finish(const char *what) {
  if (!proto_failed) printf("PASS %s\n", what);
  fflush(stdout);
  return proto_failed;
}
