/*
 * godwit-seed: the seed of a restored process. It is created with clone3(set_tid) so that it has
 * the PID the image asks for, then waits in pause() to be seized and rebuilt by the restorer.
 *
 * Why C: the child of clone3 must start in a process image that does nothing on its own; a Node
 * process cannot fork a copy of itself that sits still. It is freestanding (no libc) so that the
 * seed has no rseq registration, no TLS and no threads for the restorer to undo.
 *
 * usage: godwit-seed PID[,NSPID...]   prints the new PID and exits; the seed is orphaned to the
 * nearest subreaper (the restorer, when it waits for the tree) or to init.
 */
typedef unsigned long u64;
typedef long s64;

#define SYS_write 1
#define SYS_pause 34
#define SYS_exit 60
#define SYS_clone3 435
#define SYS_close_range 436
#define SIGCHLD 17

static inline s64 sc1(s64 n, s64 a) {
  s64 r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a) : "rcx", "r11", "memory");
  return r;
}
static inline s64 sc3(s64 n, s64 a, s64 b, s64 c) {
  s64 r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}

struct clone_args {
  u64 flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

static u64 slen(const char *s) { u64 n = 0; while (s[n]) n++; return n; }
static void out(int fd, const char *s) { sc3(SYS_write, fd, (s64)s, (s64)slen(s)); }
static void out_num(int fd, s64 v) {
  char b[24]; int i = 23; b[i] = 0;
  if (v < 0) { out(fd, "-"); v = -v; }
  do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v);
  out(fd, b + i);
}

__attribute__((noreturn)) static void die(s64 code) { for (;;) sc1(SYS_exit, code); }

__attribute__((noreturn, used)) void seed_main(long argc, char **argv) {
  if (argc != 2) { out(2, "usage: godwit-seed PID[,NSPID...]\n"); die(2); }
  /* set_tid lists the innermost namespace first; the caller gives outermost first, as NSpid does */
  u64 tids[8]; int n = 0; u64 cur = 0; int have = 0;
  for (const char *p = argv[1];; p++) {
    if (*p >= '0' && *p <= '9') { cur = cur * 10 + (u64)(*p - '0'); have = 1; continue; }
    if ((*p == ',' || *p == 0) && have && n < 8) { tids[n++] = cur; cur = 0; have = 0; if (!*p) break; continue; }
    out(2, "godwit-seed: bad PID list\n"); die(2);
  }
  u64 set_tid[8];
  for (int i = 0; i < n; i++) set_tid[i] = tids[n - 1 - i];
  struct clone_args ca = {0};
  ca.exit_signal = SIGCHLD;
  ca.set_tid = (u64)set_tid;
  ca.set_tid_size = (u64)n;
  s64 r = sc3(SYS_clone3, (s64)&ca, sizeof(ca), 0);
  if (r == 0) {
    /* hold none of the helper's fds: its caller waits for EOF on our stdout */
    sc3(SYS_close_range, 0, ~0U, 0);
    for (;;) sc1(SYS_pause, 0);
  }
  if (r < 0) { out(2, "godwit-seed: clone3: errno "); out_num(2, -r); out(2, "\n"); die(-r > 0 && -r < 126 ? -r : 1); }
  out_num(1, r); out(1, "\n");
  die(0);
}

__asm__(".globl _start\n_start:\n"
        "  mov (%rsp), %rdi\n"
        "  lea 8(%rsp), %rsi\n"
        "  and $-16, %rsp\n"
        "  call seed_main\n");
