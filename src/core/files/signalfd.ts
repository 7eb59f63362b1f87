// signalfd: only its mask; the signals it reports are the task's pending signals, restored with
// the task.
import { sys, addr } from '../sys/libc.js';
import type { ProcFd } from '../proc/fd.js';
import type { FileEntry } from '../image/format.js';
import { O } from './flags.js';

const NR_SIGNALFD4 = 289;

export function dumpSignalfd(id: number, fd: ProcFd): FileEntry {
  return { id, kind: 'signalfd', flags: fd.flags, mask: (fd.info.get('sigmask') ?? '0').trim() };
}

export function openSignalfd(e: Extract<FileEntry, { kind: 'signalfd' }>): number {
  const m = Buffer.alloc(8);
  m.writeBigUInt64LE(BigInt('0x' + e.mask), 0);
  return sys('signalfd4', NR_SIGNALFD4, -1, addr(m), 8, O.CLOEXEC | (e.flags & O.NONBLOCK));
}
