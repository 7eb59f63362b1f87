/* Identity: uid/gid/groups dropped to non-root values (real, effective and saved all different),
 * the capability sets that follow, umask, rlimits, comm and personality. Everything that needs
 * root is done before dropping privileges; the log is the stdout the harness opened. */
#include "proto.h"
#include <fcntl.h>
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

/* the Cap* lines of /proc/self/status */
static void caps(char *out, size_t n) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256]; out[0] = 0;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "Cap", 3) && strlen(out) + strlen(line) < n) strcat(out, line);
  if (f) fclose(f);
}

int main(void) {
  proto_start();
  umask(027);
  struct rlimit nofile = {256, 4096}, core = {0, 1 << 20}, stack = {4 << 20, RLIM_INFINITY};
  setrlimit(RLIMIT_NOFILE, &nofile); setrlimit(RLIMIT_CORE, &core); setrlimit(RLIMIT_STACK, &stack);
  prctl(PR_SET_NAME, "godwit-ident");
  personality(ADDR_COMPAT_LAYOUT); /* only changes the layout of the next exec: harmless */
  gid_t groups[] = {3456, 4567};
  if (setgroups(2, groups) || setresgid(2345, 2346, 2347) || setresuid(1234, 1235, 1236)) {
    printf("FAIL setup (needs root)\n"); fflush(stdout); return 1;
  }
  char caps0[512]; caps(caps0, sizeof caps0);
  if (!strstr(caps0, "CapEff:\t0000000000000000")) { printf("FAIL capabilities kept:\n%s", caps0); fflush(stdout); return 1; }
  proto_ready(0);
  long n = 0;
  while (!proto_check) { n++; usleep(1000); }
  uid_t r, e, s; getresuid(&r, &e, &s);
  CHECK(r == 1234 && e == 1235 && s == 1236, "uids %d %d %d", r, e, s);
  gid_t gr, ge, gs; getresgid(&gr, &ge, &gs);
  CHECK(gr == 2345 && ge == 2346 && gs == 2347, "gids %d %d %d", gr, ge, gs);
  /* setfsuid returns the previous value; asking for an impossible one changes nothing */
  CHECK(setfsuid(-1) == 1235 && setfsgid(-1) == 2346, "fsuid/fsgid do not follow the euid/egid");
  gid_t g[8]; int ng = getgroups(8, g);
  CHECK(ng == 2 && g[0] == 3456 && g[1] == 4567, "groups (%d)", ng);
  char caps1[512]; caps(caps1, sizeof caps1);
  CHECK(!strcmp(caps0, caps1), "capabilities changed:\n%snow:\n%s", caps0, caps1);
  mode_t m = umask(0); CHECK(m == 027, "umask %o", m);
  struct rlimit l;
  getrlimit(RLIMIT_NOFILE, &l); CHECK(l.rlim_cur == 256 && l.rlim_max == 4096, "RLIMIT_NOFILE %ld/%ld", (long)l.rlim_cur, (long)l.rlim_max);
  getrlimit(RLIMIT_CORE, &l); CHECK(l.rlim_cur == 0 && l.rlim_max == 1 << 20, "RLIMIT_CORE");
  getrlimit(RLIMIT_STACK, &l); CHECK(l.rlim_cur == 4 << 20 && l.rlim_max == RLIM_INFINITY, "RLIMIT_STACK");
  char name[16] = {0}; prctl(PR_GET_NAME, name); CHECK(!strcmp(name, "godwit-ident"), "comm %s", name);
  CHECK(personality(0xffffffff) == ADDR_COMPAT_LAYOUT, "personality %#x", personality(0xffffffff));
  CHECK(setuid(0) == -1 && open("/etc/shadow", O_RDONLY) == -1, "regained root");
  CHECK(n > 10, "counted only %ld", n);
  return proto_finish("identity");
}
