// System V IPC for x86_64: the kernel's 64-bit structures (struct ipc64_perm, shmid64_ds,
// semid64_ds, msqid64_ds, as include/uapi/asm-generic/ipcbuf.h and arch/x86/include/uapi/asm
// lay them out) and the *ctl calls. The native x86_64 syscalls always use the 64-bit layouts and
// do not take IPC_64 in cmd (they answer EINVAL: only the multiplexed ipc() and compat entry
// points parse it; glibc defines __IPC_64 as 0 on x86_64), so cmd goes without it.
import { sys, sysTry, addr } from './libc.js';
import { NR } from './nr.js';

export const IPC = {
  CREAT: 0o1000, EXCL: 0o2000, NOWAIT: 0o4000, RMID: 0, SET: 1, STAT: 2, PRIVATE: 0,
} as const;
export const SHM = {
  RDONLY: 0o10000, EXEC: 0o100000, REMAP: 0o40000, LOCK: 11, UNLOCK: 12,
  /** shm_perm.mode bits the kernel keeps beside the permissions */
  DEST: 0o1000, LOCKED: 0o2000,
} as const;
export const SEM = { GETPID: 11, GETVAL: 12, GETALL: 13, SETVAL: 16, SETALL: 17 } as const;
export const MSG = { NOERROR: 0o10000, COPY: 0o40000 } as const;

/** struct ipc64_perm: 48 bytes. */
export interface IpcPerm { key: number; uid: number; gid: number; cuid: number; cgid: number; mode: number; seq: number }
export const PERM_SIZE = 48;

export function decodePerm(b: Buffer): IpcPerm {
  return {
    key: b.readInt32LE(0), uid: b.readUInt32LE(4), gid: b.readUInt32LE(8), cuid: b.readUInt32LE(12),
    cgid: b.readUInt32LE(16), mode: b.readUInt32LE(20), seq: b.readUInt16LE(24),
  };
}

/** The fields IPC_SET takes (uid, gid and the low 9 bits of mode); the rest of the buffer is ignored. */
function encodeSet(size: number, uid: number, gid: number, mode: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32LE(uid, 4);
  b.writeUInt32LE(gid, 8);
  b.writeUInt32LE(mode & 0o777, 20);
  return b;
}

/** struct shmid64_ds: 112 bytes. */
export interface ShmidDs { perm: IpcPerm; segsz: number; atime: number; dtime: number; ctime: number; cpid: number; lpid: number; nattch: number }
export const SHMID_DS_SIZE = 112;
export function decodeShmid(b: Buffer): ShmidDs {
  return {
    perm: decodePerm(b), segsz: Number(b.readBigUInt64LE(48)), atime: Number(b.readBigInt64LE(56)),
    dtime: Number(b.readBigInt64LE(64)), ctime: Number(b.readBigInt64LE(72)), cpid: b.readInt32LE(80),
    lpid: b.readInt32LE(84), nattch: Number(b.readBigUInt64LE(88)),
  };
}

/** struct semid64_ds: 104 bytes (x86_64 keeps a reserved word after each time). */
export interface SemidDs { perm: IpcPerm; otime: number; ctime: number; nsems: number }
export const SEMID_DS_SIZE = 104;
export function decodeSemid(b: Buffer): SemidDs {
  return { perm: decodePerm(b), otime: Number(b.readBigInt64LE(48)), ctime: Number(b.readBigInt64LE(64)), nsems: Number(b.readBigUInt64LE(80)) };
}

/** struct msqid64_ds: 120 bytes. */
export interface MsqidDs {
  perm: IpcPerm; stime: number; rtime: number; ctime: number; cbytes: number; qnum: number; qbytes: number; lspid: number; lrpid: number;
}
export const MSQID_DS_SIZE = 120;
export function decodeMsqid(b: Buffer): MsqidDs {
  return {
    perm: decodePerm(b), stime: Number(b.readBigInt64LE(48)), rtime: Number(b.readBigInt64LE(56)), ctime: Number(b.readBigInt64LE(64)),
    cbytes: Number(b.readBigUInt64LE(72)), qnum: Number(b.readBigUInt64LE(80)), qbytes: Number(b.readBigUInt64LE(88)),
    lspid: b.readInt32LE(96), lrpid: b.readInt32LE(100),
  };
}

export function shmStat(id: number): ShmidDs {
  const b = Buffer.alloc(SHMID_DS_SIZE);
  sys(`shmctl(${id}, IPC_STAT)`, NR.shmctl, id, IPC.STAT, addr(b));
  return decodeShmid(b);
}
export function semStat(id: number): SemidDs {
  const b = Buffer.alloc(SEMID_DS_SIZE);
  sys(`semctl(${id}, IPC_STAT)`, NR.semctl, id, 0, IPC.STAT, addr(b));
  return decodeSemid(b);
}
export function msgStat(id: number): MsqidDs {
  const b = Buffer.alloc(MSQID_DS_SIZE);
  sys(`msgctl(${id}, IPC_STAT)`, NR.msgctl, id, IPC.STAT, addr(b));
  return decodeMsqid(b);
}

export function shmSet(id: number, uid: number, gid: number, mode: number): void {
  sys(`shmctl(${id}, IPC_SET)`, NR.shmctl, id, IPC.SET, addr(encodeSet(SHMID_DS_SIZE, uid, gid, mode)));
}
export function semSet(id: number, uid: number, gid: number, mode: number): void {
  sys(`semctl(${id}, IPC_SET)`, NR.semctl, id, 0, IPC.SET, addr(encodeSet(SEMID_DS_SIZE, uid, gid, mode)));
}
/** msg_qbytes goes with IPC_SET too (raising it past msgmnb needs CAP_SYS_RESOURCE). */
export function msgSet(id: number, uid: number, gid: number, mode: number, qbytes: number): void {
  const b = encodeSet(MSQID_DS_SIZE, uid, gid, mode);
  b.writeBigUInt64LE(BigInt(qbytes), 88);
  sys(`msgctl(${id}, IPC_SET)`, NR.msgctl, id, IPC.SET, addr(b));
}

/** IPC_RMID; a negative errno when it failed (the object may be gone already). */
export function shmRemove(id: number): number { return sysTry(NR.shmctl, id, IPC.RMID, 0); }
export function semRemove(id: number): number { return sysTry(NR.semctl, id, 0, IPC.RMID, 0); }
export function msgRemove(id: number): number { return sysTry(NR.msgctl, id, IPC.RMID, 0); }

export function semGetAll(id: number, nsems: number): number[] {
  const b = Buffer.alloc(Math.max(2, nsems * 2));
  sys(`semctl(${id}, GETALL)`, NR.semctl, id, 0, SEM.GETALL, addr(b));
  return Array.from({ length: nsems }, (_, i) => b.readUInt16LE(i * 2));
}
export function semSetAll(id: number, values: number[]): void {
  const b = Buffer.alloc(Math.max(2, values.length * 2));
  values.forEach((v, i) => b.writeUInt16LE(v, i * 2));
  sys(`semctl(${id}, SETALL)`, NR.semctl, id, 0, SEM.SETALL, addr(b));
}
/** The PID of the last process that operated on semaphore `num`. */
export function semGetPid(id: number, num: number): number {
  return sys(`semctl(${id}, ${num}, GETPID)`, NR.semctl, id, num, SEM.GETPID, 0);
}
