// eventfd: its counter and semaphore mode come from fdinfo; the agent creates a fresh one with the
// same count.
import { sys, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import type { ProcFd } from '../proc/fd.js';
import type { FileEntry } from '../image/format.js';
import { O } from './flags.js';

const EFD_SEMAPHORE = 1;
const NR_EVENTFD2 = 290;

export function dumpEventfd(id: number, fd: ProcFd): FileEntry {
  return {
    id, kind: 'eventfd', flags: fd.flags, count: fd.info.get('eventfd-count') ?? '0',
    semaphore: fd.info.get('eventfd-semaphore') === '1',
  };
}

export function openEventfd(e: Extract<FileEntry, { kind: 'eventfd' }>): number {
  // eventfd2 takes an unsigned int; larger counts are written in afterwards
  const count = BigInt('0x' + e.count.trim()); // fdinfo prints it in hex
  const flags = O.CLOEXEC | (e.flags & O.NONBLOCK) | (e.semaphore ? EFD_SEMAPHORE : 0);
  const fd = sys('eventfd2', NR_EVENTFD2, 0, flags);
  if (count > 0n) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(count, 0);
    sys('write(eventfd)', NR.write, fd, addr(b), 8);
  }
  return fd;
}
