/* A process tree: two children, a grandchild, one child in its own process group, one subtree in
 * its own session; shared anonymous memory between parent and child; one open file shared by
 * parent and child (one offset); a pipe between parent and child with unread data in it. */
#include "proto.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>

struct ids { pid_t pid, ppid, pgid, sid; };
static struct ids *shared; /* shared anonymous: [0] parent, [1] child A, [2] child B, [3] grandchild */
static volatile long *counter;

static struct ids me(void) { struct ids i = {getpid(), getppid(), getpgid(0), getsid(0)}; return i; }
static int same(struct ids a, struct ids b) { return a.pid == b.pid && a.ppid == b.ppid && a.pgid == b.pgid && a.sid == b.sid; }

/* children check themselves on SIGUSR2 too and exit with 0 (good) or 1 */
static int child_loop(int slot) {
  shared[slot] = me();
  while (!proto_check) {
    counter[slot]++;
    if (getppid() != shared[slot].ppid) return 1; /* orphaned: our parent died, do not linger */
    usleep(1000);
  }
  return same(shared[slot], me()) ? 0 : 1;
}

int main(void) {
  proto_start();
  shared = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  counter = (volatile long *)(shared + 8);
  int fd = open("shared.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
  write(fd, "0123456789", 10);
  lseek(fd, 2, SEEK_SET);
  int p[2]; pipe(p);
  shared[0] = me();
  pid_t a = fork();
  if (a == 0) { /* child A: own process group, and the parent of the grandchild */
    setpgid(0, 0);
    pid_t g = fork();
    if (g == 0) _exit(child_loop(3));
    int rc = child_loop(1), st = 0;
    kill(g, SIGUSR2); waitpid(g, &st, 0);
    _exit(rc || !WIFEXITED(st) || WEXITSTATUS(st));
  }
  pid_t b = fork();
  if (b == 0) { /* child B: its own session; writes into the shared file and the pipe */
    setsid();
    lseek(fd, 5, SEEK_SET);
    write(p[1], "in-flight", 9);
    _exit(child_loop(2));
  }
  while (!shared[1].pid || !shared[2].pid || !shared[3].pid) usleep(1000);
  usleep(50000);
  proto_ready("children=%d,%d grandchild=%d", a, b, shared[3].pid);
  long c0 = counter[1] + counter[2] + counter[3];
  while (!proto_check) usleep(1000);
  CHECK(same(shared[0], me()), "parent ids changed");
  /* the shape set up at start: A leads its own group, the grandchild is in it, B leads a session */
  struct ids *A = &shared[1], *B = &shared[2], *G = &shared[3];
  CHECK(A->pgid == A->pid && A->sid == shared[0].sid && G->ppid == A->pid && G->pgid == A->pid && G->sid == shared[0].sid &&
        B->sid == B->pid && B->pgid == B->pid && A->ppid == shared[0].pid && B->ppid == shared[0].pid, "tree shape");
  CHECK(counter[1] + counter[2] + counter[3] > c0, "children stopped counting (shared memory not shared?)");
  shared[0].pid = 0; /* a write the children can see */
  CHECK(lseek(fd, 0, SEEK_CUR) == 5, "shared offset is %ld, child set it to 5", (long)lseek(fd, 0, SEEK_CUR));
  char buf[16] = {0};
  CHECK(read(p[0], buf, 9) == 9 && !strcmp(buf, "in-flight"), "pipe data: '%s'", buf);
  int st = 0;
  kill(a, SIGUSR2); kill(b, SIGUSR2);
  waitpid(a, &st, 0); CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child A or grandchild saw its ids change");
  waitpid(b, &st, 0); CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child B saw its ids change");
  return proto_finish("tree");
}
