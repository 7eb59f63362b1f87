// Remote syscalls (the job of CRIU's compel): make a stopped thread execute one syscall on our
// behalf. The thread's registers are saved once; each call points rip at a `syscall` instruction
// with the arguments in registers, single-steps over it and reads rax. `restore()` puts the
// saved registers back. Pointer arguments live in a scratch area the caller provides.
import { getRegset, setRegset, ptrace, PTRACE, PTRACE_EVENT, NT, getSigmask, setSigmask } from '../sys/ptrace.js';
import { Regs, USER_REGS_SIZE } from '../sys/regs.js';
import { wait } from '../sys/wait.js';
import { SIG } from '../sys/process.js';
import { GodwitError } from '../errors.js';
import { errnoName } from '../sys/errno.js';
import { sysTry } from '../sys/libc.js';
import { NR } from '../sys/nr.js';

export function getRegs(tid: number): Regs {
  return new Regs(getRegset(tid, NT.PRSTATUS, USER_REGS_SIZE));
}
export function setRegs(tid: number, r: Regs): void {
  setRegset(tid, NT.PRSTATUS, r.raw);
}

const ALL_SIGNALS = (1n << 64n) - 1n;

export class RemoteThread {
  readonly saved: Regs;
  private savedMask: bigint;
  /**
   * Signals that arrived while we were stepping. Everything but SIGKILL and SIGSTOP is blocked
   * then, so in practice a SIGSTOP: it is queued again at restore(), so a tree that was being
   * stopped still stops once we let it go.
   */
  readonly caught: number[] = [];
  private live = true;

  /**
   * `park`: between calls, leave the thread in a plain interrupt stop with its own registers and
   * mask, as the freeze left it. A single-step leaves it in a SIGTRAP stop with the trap flag
   * set; if godwit died there (an agent killed mid-dump), the kernel would let it go into that
   * SIGTRAP and the process would die of it. Restore's seeds need no parking (they die with us),
   * nor does pre-dump's short freeze (see predump.ts).
   */
  constructor(readonly tid: number, public insn: number, private park = true) {
    this.saved = getRegs(tid);
    this.savedMask = getSigmask(tid);
    // Everything blocked while we drive the thread: a signal arriving now stays queued instead of
    // being dequeued under our single-steps. A parked thread is blocked only during each call, so
    // that it holds its own mask whenever godwit could die.
    if (!park) setSigmask(tid, ALL_SIGNALS);
  }

  /** Run one syscall; returns the kernel's raw result (negative errno on failure). */
  callRaw(nr: number, ...args: Array<number | bigint>): number {
    if (!this.live) throw new Error('remote thread already released');
    const r = this.saved.clone();
    r.set('rax', nr);
    r.set('orig_rax', -1);
    r.set('rip', this.insn);
    const regs = ['rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'] as const;
    regs.forEach((name, i) => r.set(name, args[i] ?? 0));
    if (!this.park) {
      setRegs(this.tid, r);
      return this.step(nr);
    }
    setSigmask(this.tid, ALL_SIGNALS);
    setRegs(this.tid, r);
    try {
      return this.step(nr);
    } finally {
      // Between calls the thread holds its own registers and mask again: if godwit dies now (an
      // agent killed mid-dump), the kernel lets the thread go and it runs on as if nothing happened.
      if (this.live) {
        setRegs(this.tid, this.saved);
        setSigmask(this.tid, this.savedMask);
        this.parkThread();
      }
    }
  }

  /** From the single-step trap to an interrupt stop: PTRACE_CONT also clears the trap flag. */
  private parkThread(): void {
    ptrace(PTRACE.INTERRUPT, this.tid);
    ptrace(PTRACE.CONT, this.tid, 0, 0);
    for (;;) {
      const st = wait(this.tid);
      if (st.kind !== 'stopped') {
        this.live = false;
        throw new GodwitError(`thread ${this.tid} ended while godwit held it (${st.kind})`);
      }
      if (st.event === PTRACE_EVENT.STOP) return;
      // a signal on its way in: held back now, queued again when the thread is released
      if (st.event === 0) this.caught.push(st.signal);
      ptrace(PTRACE.CONT, this.tid, 0, 0);
    }
  }

  private step(nr: number): number {
    for (;;) {
      ptrace(PTRACE.SINGLESTEP, this.tid, 0, 0);
      const st = wait(this.tid);
      if (st.kind !== 'stopped') {
        this.live = false;
        throw new GodwitError(`thread ${this.tid} ended during a remote syscall ${nr} (${st.kind})`);
      }
      if (st.signal === SIG.TRAP && st.event === 0) break;
      if (st.event === 0 && st.signal !== SIG.TRAP) this.caught.push(st.signal);
      // an interrupt or group-stop trap: step again, the instruction has not run yet
    }
    const after = getRegs(this.tid);
    if (after.num('rip') !== this.insn + 2) {
      throw new GodwitError(`thread ${this.tid}: remote syscall ${nr} stopped at 0x${after.num('rip').toString(16)}, not after the syscall instruction`);
    }
    return after.num('rax');
  }

  /**
   * Run the batch loop at `code` (see Injection.batch) over `n` entries at `table`: one stop and
   * one start for all of them, where callRaw costs a round trip through the scheduler per call
   * (100-250 µs on these machines: a restore of hundreds of mappings spent most of its time there).
   */
  runBatch(code: number, codeLen: number, table: number, n: number): void {
    if (!this.live) throw new Error('remote thread already released');
    const r = this.saved.clone();
    r.set('orig_rax', -1);
    r.set('rip', code);
    r.set('rbx', table);
    r.set('r12', n);
    if (this.park) setSigmask(this.tid, ALL_SIGNALS);
    setRegs(this.tid, r);
    try {
      ptrace(PTRACE.CONT, this.tid, 0, 0);
      for (;;) {
        const st = wait(this.tid);
        if (st.kind !== 'stopped') {
          this.live = false;
          throw new GodwitError(`thread ${this.tid} ended during a batch of ${n} remote syscalls (${st.kind})`);
        }
        if (st.signal === SIG.TRAP && st.event === 0) break;
        if (st.event === 0) this.caught.push(st.signal);
        ptrace(PTRACE.CONT, this.tid, 0, 0);
      }
      const at = getRegs(this.tid).num('rip');
      if (at !== code + codeLen) throw new GodwitError(`thread ${this.tid}: a batch of remote syscalls stopped at 0x${at.toString(16)}, not at its end`);
    } finally {
      if (this.park && this.live) {
        setRegs(this.tid, this.saved);
        setSigmask(this.tid, this.savedMask);
        this.parkThread();
      }
    }
  }

  /** Like callRaw but throws on failure, naming the call. */
  call(name: string, nr: number, ...args: Array<number | bigint>): number {
    const r = this.callRaw(nr, ...args);
    if (r < 0 && r > -4096) throw new GodwitError(`pid ${this.tid}: remote ${name} failed: ${errnoName(-r)}`);
    return r;
  }

  /** Put back the registers and signal mask the thread had when we took it. */
  restore(regs: Regs = this.saved, mask: bigint = this.savedMask): void {
    setRegs(this.tid, regs);
    setSigmask(this.tid, mask);
    for (const sig of this.caught.splice(0)) sysTry(NR.tkill, this.tid, sig);
    this.live = false;
  }

  /** The mask the thread had before we blocked everything. */
  get originalMask(): bigint { return this.savedMask; }
}
