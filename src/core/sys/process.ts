// Process-level syscalls the core makes from the agent's side (no ptrace involved).
import { sys, sysTry, addr } from './libc.js';
import { NR } from './nr.js';

export const SIG = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11,
  USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20,
  TTIN: 21, TTOU: 22,
} as const;

export function kill(pid: number, sig: number): void { sys(`kill(${pid}, ${sig})`, NR.kill, pid, sig); }
export function killTry(pid: number, sig: number): number { return sysTry(NR.kill, pid, sig); }
export function tgkill(tgid: number, tid: number, sig: number): void {
  sys(`tgkill(${tgid}, ${tid}, ${sig})`, NR.tgkill, tgid, tid, sig);
}

export function pidfdOpen(pid: number): number { return sys(`pidfd_open(${pid})`, NR.pidfd_open, pid, 0); }
export function pidfdGetfd(pidfd: number, fd: number): number {
  return sys(`pidfd_getfd(fd ${fd})`, NR.pidfd_getfd, pidfd, fd, 0);
}
export function close(fd: number): void { sysTry(NR.close, fd); }

export const KCMP_FILE = 0;
/** 0 when both fds name the same open file description. */
export function kcmpFile(pid1: number, pid2: number, fd1: number, fd2: number): number {
  return sys('kcmp', NR.kcmp, pid1, pid2, KCMP_FILE, fd1, fd2);
}

export interface Rlimit { cur: bigint; max: bigint }
export function prlimit(pid: number, resource: number, set?: Rlimit): Rlimit {
  const oldb = Buffer.alloc(16);
  let newb: Buffer | undefined;
  if (set) {
    newb = Buffer.alloc(16);
    newb.writeBigUInt64LE(set.cur, 0);
    newb.writeBigUInt64LE(set.max, 8);
  }
  sys(`prlimit64(${pid}, ${resource})`, NR.prlimit64, pid, resource, newb ? addr(newb) : 0, addr(oldb));
  return { cur: oldb.readBigUInt64LE(0), max: oldb.readBigUInt64LE(8) };
}
export const RLIMIT_NLIMITS = 16;

export function getRobustList(tid: number): { head: number; len: number } {
  const h = Buffer.alloc(8), l = Buffer.alloc(8);
  sys('get_robust_list', NR.get_robust_list, tid, addr(h), addr(l));
  return { head: Number(h.readBigUInt64LE(0)), len: Number(l.readBigUInt64LE(0)) };
}

/** capget for another task: effective, permitted, inheritable as 64-bit sets. */
export function capget(pid: number): { eff: bigint; prm: bigint; inh: bigint } {
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32LE(0x20080522, 0); // _LINUX_CAPABILITY_VERSION_3
  hdr.writeInt32LE(pid, 4);
  const data = Buffer.alloc(24);
  sys('capget', NR.capget, addr(hdr), addr(data));
  const j = (o: number) => BigInt(data.readUInt32LE(o)) | (BigInt(data.readUInt32LE(o + 12)) << 32n);
  return { eff: j(0), prm: j(4), inh: j(8) };
}

/**
 * process_vm_readv/writev over many remote ranges into one local range. `remote` lists
 * [address, length] pairs; the kernel takes at most IOV_MAX (1024) per call, so we batch, and a
 * short transfer (a range that vanished) is an error for the caller to report.
 */
export const IOV_MAX = 1024;
export function processVm(
  write: boolean, pid: number, local: bigint, remote: Array<[number, number]>,
): number {
  const nr = write ? NR.process_vm_writev : NR.process_vm_readv;
  const riov = Buffer.alloc(16 * IOV_MAX);
  const liov = Buffer.alloc(16);
  let done = 0;
  for (let i = 0; i < remote.length; i += IOV_MAX) {
    const batch = remote.slice(i, i + IOV_MAX);
    let total = 0;
    batch.forEach(([a, l], k) => {
      riov.writeBigUInt64LE(BigInt(a), k * 16);
      riov.writeBigUInt64LE(BigInt(l), k * 16 + 8);
      total += l;
    });
    liov.writeBigUInt64LE(local + BigInt(done), 0);
    liov.writeBigUInt64LE(BigInt(total), 8);
    const n = sys(write ? 'process_vm_writev' : 'process_vm_readv', nr, pid, addr(liov), 1, addr(riov), batch.length, 0);
    done += n;
    if (n !== total) return done;
  }
  return done;
}
