/* System V message queues: messages of several types queued, a child blocked in msgrcv for its
 * own type. After restore: same id, key, mode and qbytes, every message with its type and bytes
 * in order, msgrcv by type, and the child answers a message sent to it. */
#include "../programs/proto.h"
#include <errno.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>

struct m { long type; char text[64]; };

static int snd(int id, long type, const char *s) { struct m b = { type }; strcpy(b.text, s); return msgsnd(id, &b, strlen(s) + 1, 0); }

int main(void) {
  proto_start();
  key_t key = 0x47590000 | (getpid() & 0xffff);
  int id = msgget(key, IPC_CREAT | IPC_EXCL | 0620);
  if (id < 0) { printf("FAIL msgget: %m\n"); return 1; }
  struct msqid_ds st;
  msgctl(id, IPC_STAT, &st);
  st.msg_qbytes = 10000;
  msgctl(id, IPC_SET, &st);
  pid_t c = fork();
  if (c == 0) {
    struct m b;
    for (;;) {
      ssize_t n = msgrcv(id, &b, sizeof b.text, 7, 0);
      if (n >= 0) { b.type = 8; msgsnd(id, &b, n, 0); return 0; }
      if (errno != EINTR) return 2;
    }
  }
  const char *text[] = { "one", "two", "three", "four", "five" };
  long types[] = { 1, 2, 1, 3, 2 };
  for (int i = 0; i < 5; i++) snd(id, types[i], text[i]);
  usleep(50000);
  proto_ready("child=%d id=%d", c, id);
  while (!proto_check) usleep(1000);
  CHECK(msgget(key, 0) == id, "key 0x%x names id %d, not %d", key, msgget(key, 0), id);
  CHECK(msgctl(id, IPC_STAT, &st) == 0 && (st.msg_perm.mode & 0777) == 0620 && st.msg_qbytes == 10000 && st.msg_qnum == 5,
        "queue %d: mode %o qbytes %lu qnum %lu", id, st.msg_perm.mode, (unsigned long)st.msg_qbytes, (unsigned long)st.msg_qnum);
  struct m b;
  const char *want[] = { "two", "five", "one", "three", "four" };
  long wtype[] = { 2, 2, 0, 0, 0 }, got[] = { 2, 2, 1, 1, 3 };
  for (int i = 0; i < 5; i++) {
    ssize_t n = msgrcv(id, &b, sizeof b.text, wtype[i], IPC_NOWAIT);
    CHECK(n == (ssize_t)strlen(want[i]) + 1 && b.type == got[i] && !strcmp(b.text, want[i]), "message %d: %zd bytes, type %ld, '%.20s', expected '%s'", i, n, b.type, n > 0 ? b.text : "", want[i]);
  }
  snd(id, 7, "ping");
  ssize_t n = -1;
  for (int i = 0; i < 200 && n < 0; i++) { n = msgrcv(id, &b, sizeof b.text, 8, IPC_NOWAIT); if (n < 0) usleep(10000); }
  CHECK(n == 5 && !strcmp(b.text, "ping"), "the child did not answer (%zd)", n);
  int stt; waitpid(c, &stt, 0);
  CHECK(WIFEXITED(stt) && WEXITSTATUS(stt) == 0, "child: status %d", stt);
  msgctl(id, IPC_RMID, 0);
  return proto_finish("sysv-msg");
}
