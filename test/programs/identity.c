/* Identity: uid/gid/groups dropped to non-root values, umask, rlimits, comm, personality. */
#include "proto.h"
#include <grp.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

int main(void) {
  proto_start();
  umask(027);
  struct rlimit nofile = {256, 4096}, core = {0, 1 << 20}, stack = {4 << 20, RLIM_INFINITY};
  setrlimit(RLIMIT_NOFILE, &nofile); setrlimit(RLIMIT_CORE, &core); setrlimit(RLIMIT_STACK, &stack);
  prctl(PR_SET_NAME, "godwit-ident");
  personality(ADDR_COMPAT_LAYOUT);
  gid_t groups[] = {3456, 4567};
  if (setgroups(2, groups) || setresgid(2345, 2346, 2347) || setresuid(1234, 1235, 1236)) { printf("FAIL setup (need root)\n"); return 1; }
  proto_ready(0);
  while (!proto_check) usleep(1000);
  uid_t r, e, s; getresuid(&r, &e, &s);
  CHECK(r == 1234 && e == 1235 && s == 1236, "uids %d %d %d", r, e, s);
  gid_t gr, ge, gs; getresgid(&gr, &ge, &gs);
  CHECK(gr == 2345 && ge == 2346 && gs == 2347, "gids %d %d %d", gr, ge, gs);
  gid_t g[8]; int n = getgroups(8, g);
  CHECK(n == 2 && g[0] == 3456 && g[1] == 4567, "groups (%d)", n);
  mode_t m = umask(0); CHECK(m == 027, "umask %o", m);
  struct rlimit l;
  getrlimit(RLIMIT_NOFILE, &l); CHECK(l.rlim_cur == 256 && l.rlim_max == 4096, "RLIMIT_NOFILE");
  getrlimit(RLIMIT_CORE, &l); CHECK(l.rlim_cur == 0 && l.rlim_max == 1 << 20, "RLIMIT_CORE");
  getrlimit(RLIMIT_STACK, &l); CHECK(l.rlim_cur == 4 << 20 && l.rlim_max == RLIM_INFINITY, "RLIMIT_STACK");
  char name[16] = {0}; prctl(PR_GET_NAME, name); CHECK(!strcmp(name, "godwit-ident"), "comm %s", name);
  CHECK((personality(0xffffffff) & ADDR_COMPAT_LAYOUT) != 0, "personality");
  CHECK(getuid() != 0 && setuid(0) == -1, "regained root");
  return proto_finish("identity");
}
