// ptrace(2) requests as raw syscalls. Every request must come from the OS thread that attached
// (KERNEL.md: the same request from another thread fails with ESRCH).
import { sys, sysTry, addr, SysError } from './libc.js';
import { NR } from './nr.js';

export const PTRACE = {
  PEEKDATA: 2, POKEDATA: 5, CONT: 7, KILL: 8, SINGLESTEP: 9, DETACH: 17, SYSCALL: 24,
  SETOPTIONS: 0x4200, GETEVENTMSG: 0x4201, GETSIGINFO: 0x4202, SETSIGINFO: 0x4203,
  GETREGSET: 0x4204, SETREGSET: 0x4205, SEIZE: 0x4206, INTERRUPT: 0x4207, LISTEN: 0x4208,
  PEEKSIGINFO: 0x4209, GETSIGMASK: 0x420a, SETSIGMASK: 0x420b, GET_RSEQ_CONFIGURATION: 0x420f,
} as const;

export const PTRACE_O = {
  TRACESYSGOOD: 1, TRACEFORK: 2, TRACEVFORK: 4, TRACECLONE: 8, TRACEEXEC: 0x10, TRACEEXIT: 0x40,
  EXITKILL: 0x100000,
} as const;

export const PTRACE_EVENT = { FORK: 1, VFORK: 2, CLONE: 3, EXEC: 4, EXIT: 6, STOP: 128 } as const;
export const NT = { PRSTATUS: 1, PRFPREG: 2, X86_XSTATE: 0x202 } as const;

export function ptrace(req: number, tid: number, a: number | bigint = 0, d: number | bigint = 0): number {
  return sys(`ptrace(${reqName(req)}, ${tid})`, NR.ptrace, req, tid, a, d);
}

export function ptraceTry(req: number, tid: number, a: number | bigint = 0, d: number | bigint = 0): number {
  return sysTry(NR.ptrace, req, tid, a, d);
}

function reqName(req: number): string {
  for (const [k, v] of Object.entries(PTRACE)) if (v === req) return k;
  return String(req);
}

/** Read a regset (NT_PRSTATUS, NT_X86_XSTATE) into a buffer of the size the kernel reports. */
export function getRegset(tid: number, type: number, maxSize: number): Buffer {
  const buf = Buffer.alloc(maxSize);
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(addr(buf), 0);
  iov.writeBigUInt64LE(BigInt(maxSize), 8);
  ptrace(PTRACE.GETREGSET, tid, type, addr(iov));
  const len = Number(iov.readBigUInt64LE(8));
  return buf.subarray(0, len);
}

export function setRegset(tid: number, type: number, data: Buffer): void {
  const buf = Buffer.from(data); // the kernel reads from our memory: keep it alive and contiguous
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(addr(buf), 0);
  iov.writeBigUInt64LE(BigInt(buf.length), 8);
  ptrace(PTRACE.SETREGSET, tid, type, addr(iov));
}

export function getSigmask(tid: number): bigint {
  const b = Buffer.alloc(8);
  ptrace(PTRACE.GETSIGMASK, tid, 8, addr(b));
  return b.readBigUInt64LE(0);
}

export function setSigmask(tid: number, mask: bigint): void {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(mask, 0);
  ptrace(PTRACE.SETSIGMASK, tid, 8, addr(b));
}

/** Pending siginfos, without dequeuing them; `shared` reads the process-wide queue. */
export function peekSiginfo(tid: number, shared: boolean): Buffer[] {
  const out: Buffer[] = [];
  const args = Buffer.alloc(16);
  const batch = 32;
  const buf = Buffer.alloc(128 * batch);
  for (let off = 0; ; ) {
    args.writeBigUInt64LE(BigInt(off), 0);
    args.writeUInt32LE(shared ? 1 : 0, 8);
    args.writeInt32LE(batch, 12);
    const n = ptrace(PTRACE.PEEKSIGINFO, tid, addr(args), addr(buf));
    for (let i = 0; i < n; i++) out.push(Buffer.from(buf.subarray(i * 128, (i + 1) * 128)));
    if (n < batch) return out;
    off += n;
  }
}

export interface RseqConfig { ptr: number; size: number; signature: number; flags: number }

export function getRseqConfig(tid: number): RseqConfig {
  const b = Buffer.alloc(24);
  ptrace(PTRACE.GET_RSEQ_CONFIGURATION, tid, 24, addr(b));
  return {
    ptr: Number(b.readBigUInt64LE(0)), size: b.readUInt32LE(8), signature: b.readUInt32LE(12),
    flags: b.readUInt32LE(16),
  };
}

export function getEventMsg(tid: number): number {
  const b = Buffer.alloc(8);
  ptrace(PTRACE.GETEVENTMSG, tid, 0, addr(b));
  return Number(b.readBigUInt64LE(0));
}

export { SysError };
