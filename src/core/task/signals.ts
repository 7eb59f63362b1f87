// Signal dispositions (per process) and the process-wide pending queue. Handlers are read and set
// by remote rt_sigaction: only the task itself can tell its sa_restorer and sa_mask.
import { NR } from '../sys/nr.js';
import { peekSiginfo } from '../sys/ptrace.js';
import type { Injection } from '../ptrace/inject.js';
import type { SigactionEntry } from '../image/format.js';

const KSIGACTION = 32; // handler, flags, restorer, mask
const SIGKILL = 9, SIGSTOP = 19, SIGCHLD = 17;

/**
 * Only the signals that are caught or ignored (SigCgt, SigIgn), and SIGCHLD, are asked, in one
 * batch of remote calls (each alone is a ptrace round trip: 64 of them were 7 ms of the freeze). The others are at
 * SIG_DFL, where flags and mask do nothing, except SIGCHLD's SA_NOCLDSTOP and SA_NOCLDWAIT.
 */
export function dumpSigactions(inj: Injection, status: { sigCgt: bigint; sigIgn: bigint }): SigactionEntry[] {
  const out: SigactionEntry[] = [];
  inj.reset();
  const set = status.sigCgt | status.sigIgn | (1n << BigInt(SIGCHLD - 1));
  const sigs: number[] = [];
  for (let sig = 1; sig <= 64; sig++) if (sig !== SIGKILL && sig !== SIGSTOP && (set & (1n << BigInt(sig - 1)))) sigs.push(sig);
  // all in one batch, each into its own slot of one buffer
  const old = inj.space(KSIGACTION * sigs.length);
  inj.batch(sigs.map((sig, i) => ({ name: `rt_sigaction(${sig})`, nr: NR.rt_sigaction, args: [sig, 0, old + i * KSIGACTION, 8] })));
  const all = inj.mem.read(old, KSIGACTION * sigs.length);
  for (const [i, sig] of sigs.entries()) {
    const b = all.subarray(i * KSIGACTION, (i + 1) * KSIGACTION);
    const e: SigactionEntry = {
      sig, handler: Number(b.readBigUInt64LE(0)), flags: Number(b.readBigUInt64LE(8)),
      restorer: Number(b.readBigUInt64LE(16)), mask: b.readBigUInt64LE(24).toString(16),
    };
    if (e.handler !== 0 || e.flags !== 0 || e.mask !== '0') out.push(e);
  }
  return out;
}

export function restoreSigactions(inj: Injection, actions: SigactionEntry[]): void {
  if (!actions.length) return;
  inj.reset(16);
  const b = Buffer.alloc(KSIGACTION * actions.length);
  actions.forEach((a, i) => {
    b.writeBigUInt64LE(BigInt(a.handler), i * KSIGACTION);
    b.writeBigUInt64LE(BigInt(a.flags), i * KSIGACTION + 8);
    b.writeBigUInt64LE(BigInt(a.restorer), i * KSIGACTION + 16);
    b.writeBigUInt64LE(BigInt('0x' + a.mask), i * KSIGACTION + 24);
  });
  const at = inj.put(b);
  inj.batch(actions.map((a, i) => ({ name: `rt_sigaction(${a.sig})`, nr: NR.rt_sigaction, args: [a.sig, at + i * KSIGACTION, 0, 8] })));
}

export function dumpSharedPending(pid: number): Uint8Array[] {
  return peekSiginfo(pid, true);
}

/**
 * Queue signals again, from inside the task so that any si_code is accepted (the kernel only
 * lets a task forge siginfo for itself). All signals are blocked while we drive the task, so
 * nothing is delivered under us.
 */
export function requeue(inj: Injection, tid: number, infos: Uint8Array[], shared: boolean): void {
  for (const info of infos) {
    inj.reset(16);
    const sig = Buffer.from(info).readInt32LE(0);
    const at = inj.put(Buffer.from(info));
    if (shared) inj.thread(tid).call('rt_sigqueueinfo', NR.rt_sigqueueinfo, inj.pid, sig, at);
    else inj.thread(tid).call('rt_tgsigqueueinfo', NR.rt_tgsigqueueinfo, inj.pid, tid, sig, at);
  }
}
