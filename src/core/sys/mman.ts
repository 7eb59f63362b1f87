// mmap(2) constants, and local mappings the agent uses to move page data without copying it
// through the JS heap (image files are mapped, process_vm_* copies straight in or out of them).
import { sys } from './libc.js';
import { NR } from './nr.js';

export const PROT = { NONE: 0, READ: 1, WRITE: 2, EXEC: 4 } as const;
export const MAP = {
  SHARED: 0x01, PRIVATE: 0x02, FIXED: 0x10, ANONYMOUS: 0x20, GROWSDOWN: 0x0100, NORESERVE: 0x4000,
  POPULATE: 0x8000, FIXED_NOREPLACE: 0x100000,
} as const;
export const MREMAP = { MAYMOVE: 1, FIXED: 2, DONTUNMAP: 4 } as const;
export const MADV = {
  NORMAL: 0, RANDOM: 1, SEQUENTIAL: 2, WILLNEED: 3, DONTNEED: 4, DONTFORK: 10, DOFORK: 11,
  MERGEABLE: 12, HUGEPAGE: 14, NOHUGEPAGE: 15, DONTDUMP: 16, WIPEONFORK: 18, POPULATE_READ: 22,
  POPULATE_WRITE: 23,
} as const;
export const PAGE_SIZE = 4096;

export function localMmap(len: number, prot: number, flags: number, fd = -1, off = 0): bigint {
  return BigInt(sys('mmap', NR.mmap, 0, len, prot, flags, fd, off));
}
export function localMunmap(a: bigint, len: number): void { sys('munmap', NR.munmap, a, len); }
