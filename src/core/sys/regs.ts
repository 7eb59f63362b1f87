// struct user_regs_struct (x86_64), kept as the kernel's raw bytes so nothing is lost on the way
// to the image; fields are read and written by offset.
export const USER_REGS_SIZE = 27 * 8;

const FIELDS = [
  'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi',
  'rdi', 'orig_rax', 'rip', 'cs', 'eflags', 'rsp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs',
] as const;
export type RegName = (typeof FIELDS)[number];
const OFF = Object.fromEntries(FIELDS.map((f, i) => [f, i * 8])) as Record<RegName, number>;

export class Regs {
  readonly raw: Buffer;
  constructor(raw: Buffer) {
    if (raw.length !== USER_REGS_SIZE) throw new Error(`user_regs_struct of ${raw.length} bytes, expected ${USER_REGS_SIZE}`);
    this.raw = Buffer.from(raw);
  }
  clone(): Regs { return new Regs(this.raw); }
  /** Signed value: syscall returns and orig_rax are negative numbers. */
  get(f: RegName): bigint { return this.raw.readBigInt64LE(OFF[f]); }
  set(f: RegName, v: bigint | number): void { this.raw.writeBigInt64LE(BigInt.asIntN(64, BigInt(v)), OFF[f]); }
  num(f: RegName): number { return Number(this.get(f)); }
}

/** Kernel-internal restart codes that a thread interrupted inside a syscall carries in rax. */
export const ERESTARTSYS = -512, ERESTARTNOINTR = -513, ERESTARTNOHAND = -514, ERESTART_RESTARTBLOCK = -516;

/**
 * A thread stopped inside an interruptible syscall must re-enter it when it runs again in a new
 * process: the kernel's own restart path is not taken there. restart_block state does not survive
 * a restore, so those syscalls (nanosleep, poll with timeout) return EINTR, as under CRIU.
 */
export function applySyscallRestart(r: Regs): void {
  if (r.get('orig_rax') < 0n) return;
  const rax = Number(r.get('rax'));
  if (rax === ERESTARTSYS || rax === ERESTARTNOINTR || rax === ERESTARTNOHAND) {
    r.set('rax', r.get('orig_rax'));
    r.set('rip', r.get('rip') - 2n);
  } else if (rax === ERESTART_RESTARTBLOCK) {
    r.set('rax', -4); // -EINTR
  }
  r.set('orig_rax', -1);
}
