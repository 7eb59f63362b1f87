/* CPU state kept live in registers across the dump by an asm loop that never touches them:
 * zmm8-zmm31 and k1-k7 (AVX-512) or ymm8-ymm15 (AVX2), a value on the x87 stack, constants in
 * r12/r14/r15 and a counter in r13 that goes on counting. Also MXCSR (rounding up, FTZ, DAZ),
 * the x87 control word, the fs base (TLS) and a gs base set with arch_prctl. */
// libs: -lm
#include "proto.h"
#include <asm/prctl.h>
#include <fenv.h>
#include <immintrin.h>
#include <stdint.h>

static __thread long tls_mark = 0x1234;
static uint64_t want[32][8] __attribute__((aligned(64))); /* want[n] is the value of register n */
static const long double x87_value = 3.14159265358979323846264338327950288L;

/* The loops return 0, or which check failed: n for zmm/ymm n, 200+n for k n, 100 for the x87
 * value, 112/114/115 for r12/r14/r15. */
/* x87 value, r12/r14/r15 constants, r13 counter: shared by both loops */
#define GPR_LOAD "fldt %[ld]\n\t movabs $0x0123456789abcdef, %%r12\n\t movabs $0x1122334455667788, %%r14\n\t" \
                 "movabs $0x7edcba9876543210, %%r15\n\t xor %%r13, %%r13\n\t"
#define SPIN "1: inc %%r13\n\t pause\n\t cmpl $0, (%[f])\n\t je 1b\n\t mov %%r13, %[n]\n\t"
/* pops the x87 value whatever the result, so the x87 stack is empty on every way out */
#define GPR_CHECK "mov $100, %k[bad]\n\t fldt %[ld]\n\t fucomip %%st(1), %%st\n\t fstp %%st(0)\n\t jne 9f\n\t jp 9f\n\t" \
                  "mov $112, %k[bad]\n\t movabs $0x0123456789abcdef, %%rax\n\t cmp %%rax, %%r12\n\t jne 9f\n\t" \
                  "mov $114, %k[bad]\n\t movabs $0x1122334455667788, %%rax\n\t cmp %%rax, %%r14\n\t jne 9f\n\t" \
                  "mov $115, %k[bad]\n\t movabs $0x7edcba9876543210, %%rax\n\t cmp %%rax, %%r15\n\t jne 9f\n\t"

#define Z_LOAD(n) "vmovdqu64 " #n "*64(%[w]), %%zmm" #n "\n\t"
#define Z_CHECK(n) "mov $" #n ", %k[bad]\n\t vpcmpq $4, " #n "*64(%[w]), %%zmm" #n ", %%k0\n\t kortestw %%k0, %%k0\n\t jnz 9f\n\t"
#define K_LOAD(n) "movl $0x" #n #n #n #n ", %%eax\n\t kmovw %%eax, %%k" #n "\n\t"
#define K_CHECK(n) "mov $20" #n ", %k[bad]\n\t kmovw %%k" #n ", %%eax\n\t cmpl $0x" #n #n #n #n ", %%eax\n\t jne 9f\n\t"
#define ZMM(X) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) \
               X(22) X(23) X(24) X(25) X(26) X(27) X(28) X(29) X(30) X(31)
#define KREG(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define Y_LOAD(n) "vmovdqu " #n "*64(%[w]), %%ymm" #n "\n\t"
#define Y_CHECK(n) "mov $" #n ", %k[bad]\n\t vpcmpeqq " #n "*64(%[w]), %%ymm" #n ", %%ymm0\n\t vpmovmskb %%ymm0, %%eax\n\t cmp $-1, %%eax\n\t jne 9f\n\t"
#define YMM(X) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

#define CLOBBER_COMMON "rax", "r12", "r13", "r14", "r15", "st", "st(1)", "cc", "memory"

__attribute__((target("avx512f"))) static int spin_avx512(volatile sig_atomic_t *flag, long *count) {
  int bad; long n;
  __asm__ volatile(
      ZMM(Z_LOAD) KREG(K_LOAD) GPR_LOAD SPIN GPR_CHECK KREG(K_CHECK) ZMM(Z_CHECK)
      "xor %k[bad], %k[bad]\n\t 9:\n\t"
      : [bad] "=&r"(bad), [n] "=&r"(n)
      : [w] "r"(want), [f] "r"(flag), [ld] "m"(x87_value)
      : CLOBBER_COMMON, "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
        "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
  *count = n;
  return bad;
}

__attribute__((target("avx2"))) static int spin_avx2(volatile sig_atomic_t *flag, long *count) {
  int bad; long n;
  __asm__ volatile(
      YMM(Y_LOAD) GPR_LOAD SPIN GPR_CHECK YMM(Y_CHECK)
      "xor %k[bad], %k[bad]\n\t 9:\n\t vzeroupper\n\t"
      : [bad] "=&r"(bad), [n] "=&r"(n)
      : [w] "r"(want), [f] "r"(flag), [ld] "m"(x87_value)
      : CLOBBER_COMMON, "xmm0", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
  *count = n;
  return bad;
}

int main(void) {
  proto_start();
  for (int r = 0; r < 32; r++)
    for (int l = 0; l < 8; l++) want[r][l] = 0x0101010101010101ULL * r ^ (uint64_t)l << 56 ^ 0xa5a5a5a55a5a5a5aULL;
  fesetround(FE_UPWARD); /* the x87 control word and MXCSR */
  _mm_setcsr(_mm_getcsr() | 0x8040); /* flush-to-zero and denormals-are-zero */
  unsigned mxcsr0 = _mm_getcsr() & ~0x3fu; /* without the sticky exception flags */
  unsigned short cw0; __asm__ volatile("fnstcw %0" : "=m"(cw0));
  unsigned long gs_set = 0x7fff00001000UL, gs = 0;
  syscall(SYS_arch_prctl, ARCH_SET_GS, gs_set);
  unsigned long fs0 = 0; syscall(SYS_arch_prctl, ARCH_GET_FS, &fs0);
  __builtin_cpu_init();
  int have512 = __builtin_cpu_supports("avx512f"), have2 = __builtin_cpu_supports("avx2");
  proto_ready("avx512=%d avx2=%d", have512, have2);
  int bad = 0; long count = -1;
  /* the widest registers this CPU has stay live across the dump */
  if (have512) bad = spin_avx512(&proto_check, &count);
  else if (have2) bad = spin_avx2(&proto_check, &count);
  else while (!proto_check) usleep(1000);
  char reg[16];
  if (bad == 100) snprintf(reg, sizeof reg, "x87 st(0)");
  else snprintf(reg, sizeof reg, "%s%d", bad < 100 ? (have512 ? "zmm" : "ymm") : bad < 200 ? "r" : "k", bad % 100);
  CHECK(!bad, "register %s changed", reg);
  CHECK(count != 0, "the counting loop in r13 did not count");
  CHECK(fegetround() == FE_UPWARD, "rounding mode reset");
  CHECK((_mm_getcsr() & ~0x3fu) == mxcsr0, "MXCSR %#x, was %#x", _mm_getcsr() & ~0x3fu, mxcsr0);
  unsigned short cw; __asm__ volatile("fnstcw %0" : "=m"(cw));
  CHECK(cw == cw0, "x87 control word %#x, was %#x", cw, cw0);
  syscall(SYS_arch_prctl, ARCH_GET_GS, &gs);
  CHECK(gs == gs_set, "gs base %#lx", gs);
  unsigned long fs = 0; syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
  CHECK(fs == fs0 && tls_mark == 0x1234, "fs base / TLS");
  char what[96];
  snprintf(what, sizeof what, "cpu %s loop=%ld", have512 ? "avx512" : have2 ? "avx2" : "sse", count);
  return proto_finish(what);
}
