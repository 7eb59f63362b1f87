/* Files that exist only while open: a sealed memfd (fd and a shared mapping), a file deleted while
 * open (fd with a position), and a file deleted while only mapped. Contents travel in the image. */
#include "../programs/proto.h"
#include <fcntl.h>
#include <sys/mman.h>

int main(void) {
  proto_start();
  int m = memfd_create("godwit-memfd", MFD_ALLOW_SEALING);
  ftruncate(m, 1 << 20);
  char *mm = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
  for (int i = 0; i < (1 << 20); i++) mm[i] = (char)(i * 3);
  fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
  lseek(m, 1000, SEEK_SET);
  int d = open("doomed.txt", O_RDWR | O_CREAT | O_TRUNC, 0640);
  write(d, "deleted but open", 16);
  lseek(d, 8, SEEK_SET);
  unlink("doomed.txt");
  int f = open("mapped.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
  ftruncate(f, 8192);
  char *fm = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
  strcpy(fm + 4096, "only mapped");
  close(f);
  unlink("mapped.bin");
  proto_ready(0);
  while (!proto_check) usleep(1000);
  for (int i = 0; i < (1 << 20); i++) if (mm[i] != (char)(i * 3)) { CHECK(0, "memfd mapping byte %d", i); break; }
  char b[32] = {0};
  CHECK(lseek(m, 0, SEEK_CUR) == 1000, "memfd position");
  CHECK(pread(m, b, 3, 1) == 3 && b[0] == 3 && b[1] == 6, "memfd content through the fd");
  mm[5] = 99;
  CHECK(pread(m, b, 1, 5) == 1 && b[0] == 99, "fd and mapping are the same memfd");
  int seals = fcntl(m, F_GET_SEALS);
  CHECK(seals == (F_SEAL_SHRINK | F_SEAL_GROW), "seals %#x", seals);
  CHECK(ftruncate(m, 10) == -1, "a sealed memfd shrank");
  char lnk[256] = {0}; char p[64]; snprintf(p, sizeof p, "/proc/self/fd/%d", m);
  readlink(p, lnk, sizeof lnk - 1);
  CHECK(strstr(lnk, "/memfd:godwit-memfd") == lnk, "memfd name %s", lnk);
  memset(b, 0, sizeof b);
  CHECK(read(d, b, 8) == 8 && !strcmp(b, "but open"), "deleted file '%s'", b);
  snprintf(p, sizeof p, "/proc/self/fd/%d", d); memset(lnk, 0, sizeof lnk); readlink(p, lnk, sizeof lnk - 1);
  CHECK(strstr(lnk, "(deleted)") != 0, "the file is not deleted any more: %s", lnk);
  CHECK(!strcmp(fm + 4096, "only mapped"), "deleted mapped file");
  return proto_finish("ghost-files");
}
