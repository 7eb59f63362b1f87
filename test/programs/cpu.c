/* CPU state: values kept live in general, SSE, AVX and AVX-512 registers across the dump by a
 * loop that never touches them; MXCSR rounding mode; fs base (TLS) and gs base. */
#include "proto.h"
#include <asm/prctl.h>
#include <fenv.h>
#include <immintrin.h>

static __thread long tls_mark = 0x1234;

__attribute__((target("avx512f"))) static int spin_avx512(volatile sig_atomic_t *flag) {
  int ok;
  __asm__ volatile(
      "vpbroadcastq %[k1], %%zmm17\n\t"
      "vpbroadcastq %[k2], %%zmm31\n\t"
      "mov %[k1], %%r12\n\t"
      "1: pause\n\t"
      "cmpl $0, (%[f])\n\t"
      "je 1b\n\t"
      "vpbroadcastq %[k1], %%zmm16\n\t"
      "vpcmpeqq %%zmm16, %%zmm17, %%k1\n\t"
      "kmovw %%k1, %%eax\n\t"
      "vpbroadcastq %[k2], %%zmm16\n\t"
      "vpcmpeqq %%zmm16, %%zmm31, %%k2\n\t"
      "kmovw %%k2, %%ecx\n\t"
      "and %%ecx, %%eax\n\t"
      "cmp %[k1], %%r12\n\t"
      "mov $0, %%ecx\n\t"
      "cmovne %%ecx, %%eax\n\t"
      "mov %%eax, %[ok]\n\t"
      : [ok] "=r"(ok)
      : [k1] "r"(0x0123456789abcdefULL), [k2] "r"(0xfedcba9876543210ULL), [f] "r"(flag)
      : "rax", "rcx", "r12", "k1", "k2", "xmm16", "xmm17", "xmm31", "memory");
  return ok == 0xff;
}

__attribute__((target("avx2"))) static int spin_avx2(volatile sig_atomic_t *flag) {
  int ok;
  __asm__ volatile(
      "vmovq %[k1], %%xmm9\n\t"
      "vpbroadcastq %%xmm9, %%ymm9\n\t"
      "vmovq %[k2], %%xmm14\n\t"
      "vpbroadcastq %%xmm14, %%ymm14\n\t"
      "1: pause\n\t"
      "cmpl $0, (%[f])\n\t"
      "je 1b\n\t"
      "vmovq %[k1], %%xmm0\n\t"
      "vpbroadcastq %%xmm0, %%ymm0\n\t"
      "vpcmpeqq %%ymm0, %%ymm9, %%ymm1\n\t"
      "vmovq %[k2], %%xmm0\n\t"
      "vpbroadcastq %%xmm0, %%ymm0\n\t"
      "vpcmpeqq %%ymm0, %%ymm14, %%ymm2\n\t"
      "vpand %%ymm1, %%ymm2, %%ymm1\n\t"
      "vpmovmskb %%ymm1, %%eax\n\t"
      "mov %%eax, %[ok]\n\t"
      "vzeroupper\n\t"
      : [ok] "=r"(ok)
      : [k1] "r"(0x1111222233334444ULL), [k2] "r"(0x5555666677778888ULL), [f] "r"(flag)
      : "rax", "xmm0", "xmm1", "xmm2", "xmm9", "xmm14", "memory");
  return ok == -1;
}

int main(void) {
  proto_start();
  fesetround(FE_UPWARD); /* MXCSR and the x87 control word */
  unsigned long gs_set = 0x7fff00001000UL, gs = 0;
  syscall(SYS_arch_prctl, ARCH_SET_GS, gs_set);
  unsigned long fs_before = 0; syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_before);
  __builtin_cpu_init();
  int have512 = __builtin_cpu_supports("avx512f"), have2 = __builtin_cpu_supports("avx2");
  proto_ready("avx512=%d avx2=%d", have512, have2);
  int ok512 = 1, ok2 = 1;
  /* the widest registers this CPU has stay live across the dump */
  if (have512) ok512 = spin_avx512(&proto_check);
  else if (have2) ok2 = spin_avx2(&proto_check);
  else while (!proto_check) usleep(1000);
  CHECK(ok512, "AVX-512 registers zmm17/zmm31/r12 changed");
  CHECK(ok2, "AVX2 registers ymm9/ymm14 changed");
  CHECK(fegetround() == FE_UPWARD, "rounding mode reset");
  CHECK((_mm_getcsr() & 0x6000) == 0x4000, "MXCSR rounding field %#x", _mm_getcsr() & 0x6000);
  syscall(SYS_arch_prctl, ARCH_GET_GS, &gs);
  CHECK(gs == gs_set, "gs base %#lx", gs);
  unsigned long fs_after = 0; syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_after);
  CHECK(fs_after == fs_before && tls_mark == 0x1234, "fs base / TLS");
  return proto_finish(have512 ? "cpu avx512+avx2" : "cpu avx2");
}
