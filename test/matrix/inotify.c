/* inotify: watches keep their descriptors and masks; events after restore arrive with them. */
#include "../programs/proto.h"
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>

int main(void) {
  proto_start();
  mkdir("watched", 0755); mkdir("other", 0755);
  int in = inotify_init1(IN_NONBLOCK);
  int w1 = inotify_add_watch(in, "watched", IN_CREATE | IN_DELETE);
  int gone = inotify_add_watch(in, "other", IN_CREATE);
  inotify_rm_watch(in, gone); /* leaves a gap: the next watch is not w1 + 1 */
  char buf[4096];
  while (read(in, buf, sizeof buf) > 0) {}
  int w3 = inotify_add_watch(in, "other", IN_CREATE | IN_MOVED_TO);
  proto_ready("wd=%d,%d", w1, w3);
  while (!proto_check) usleep(1000);
  close(open("watched/new", O_CREAT | O_WRONLY, 0644));
  close(open("other/x", O_CREAT | O_WRONLY, 0644));
  usleep(20000);
  int n = read(in, buf, sizeof buf), saw1 = 0, saw3 = 0;
  for (int off = 0; off < n; ) {
    struct inotify_event *ev = (struct inotify_event *)(buf + off);
    if (ev->wd == w1 && (ev->mask & IN_CREATE) && !strcmp(ev->name, "new")) saw1 = 1;
    if (ev->wd == w3 && (ev->mask & IN_CREATE) && !strcmp(ev->name, "x")) saw3 = 1;
    off += sizeof *ev + ev->len;
  }
  CHECK(saw1 && saw3, "events: watch %d %s, watch %d %s", w1, saw1 ? "yes" : "no", w3, saw3 ? "yes" : "no");
  return proto_finish("inotify");
}
