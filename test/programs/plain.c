/* The simplest protocol program: it only counts. Used where the test is about godwit rather than
 * about the process (refused dumps, a PID already taken, a foreign namespace...): on SIGUSR2 it
 * passes if it kept counting, i.e. it was neither stopped for good nor left traced. */
#include "proto.h"

int main(void) {
  proto_start();
  long n = 0;
  proto_ready(0);
  while (!proto_check) { n++; usleep(1000); }
  long at_check = n;
  usleep(20000);
  /* a process left stopped would not have counted: every usleep(1000) is one more */
  CHECK(at_check > 10, "counted only %ld", at_check);
  printf("counted %ld\n", at_check);
  return proto_finish("plain");
}
