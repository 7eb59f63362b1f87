// Per-thread state: registers, extended (xsave) state, signal mask and private pending signals,
// rseq, the clear-tid address, the robust futex list and the alternate signal stack.
import { readFileSync } from 'node:fs';
import { cstr } from '../sys/libc.js';
import { getRegset, setRegset, NT, peekSiginfo, getRseqConfig } from '../sys/ptrace.js';
import { getRobustList } from '../sys/process.js';
import { Regs, applySyscallRestart } from '../sys/regs.js';
import { NR } from '../sys/nr.js';
import type { Injection } from '../ptrace/inject.js';
import type { ThreadCore } from '../image/format.js';

const PR_GET_TID_ADDRESS = 40, PR_SET_NAME = 15;
const XSTATE_MAX = 64 * 1024;

export function dumpThread(inj: Injection, tid: number): ThreadCore {
  const t = inj.thread(tid);
  const regs = t.saved.raw; // taken before the injection touched anything
  const xstate = getRegset(tid, NT.X86_XSTATE, XSTATE_MAX);
  inj.reset();
  const out = inj.space(8);
  t.call('prctl(PR_GET_TID_ADDRESS)', NR.prctl, PR_GET_TID_ADDRESS, out);
  const tidAddress = Number(inj.mem.read(out, 8).readBigUInt64LE(0));
  const ss = inj.space(24);
  t.call('sigaltstack', NR.sigaltstack, 0, ss);
  const ssb = inj.mem.read(ss, 24);
  const rs = getRseqConfig(tid);
  return {
    tid,
    comm: readFileSync(`/proc/${inj.pid}/task/${tid}/comm`, 'utf8').replace(/\n$/, ''),
    regs, xstate,
    sigmask: t.originalMask.toString(16),
    pending: peekSiginfo(tid, false),
    rseq: rs.ptr ? { ptr: rs.ptr, size: rs.size, signature: rs.signature } : undefined,
    tidAddress,
    robustList: getRobustList(tid),
    altstack: { sp: Number(ssb.readBigUInt64LE(0)), flags: ssb.readInt32LE(8), size: Number(ssb.readBigUInt64LE(16)) },
  };
}

const SS_DISABLE = 2;

/** Everything but the registers and the mask, which are set last (see finishThread). */
export function restoreThreadState(inj: Injection, t: ThreadCore): void {
  const rt = inj.thread(t.tid);
  inj.reset(16);
  if (t.rseq) {
    rt.call('rseq', NR.rseq, t.rseq.ptr, t.rseq.size, 0, t.rseq.signature);
  }
  rt.call('set_tid_address', NR.set_tid_address, t.tidAddress);
  if (t.robustList.head) rt.call('set_robust_list', NR.set_robust_list, t.robustList.head, t.robustList.len);
  if (!(t.altstack.flags & SS_DISABLE)) {
    const b = Buffer.alloc(24);
    b.writeBigUInt64LE(BigInt(t.altstack.sp), 0);
    b.writeInt32LE(t.altstack.flags & ~1 /* SS_ONSTACK is a state, not a setting */, 8);
    b.writeBigUInt64LE(BigInt(t.altstack.size), 16);
    rt.call('sigaltstack', NR.sigaltstack, inj.put(b), 0);
  }
  // /proc/PID/comm is writable only from inside the thread group: the thread names itself
  inj.reset(16);
  rt.call('prctl(PR_SET_NAME)', NR.prctl, PR_SET_NAME, inj.put(cstr(t.comm.slice(0, 15))));
}

/** Final registers: xsave state first, then the general registers with the restart fix-up. */
export function finishThread(inj: Injection, t: ThreadCore): void {
  const rt = inj.thread(t.tid);
  setRegset(t.tid, NT.X86_XSTATE, Buffer.from(t.xstate));
  const r = new Regs(Buffer.from(t.regs));
  applySyscallRestart(r);
  rt.restore(r, BigInt('0x' + t.sigmask));
}

