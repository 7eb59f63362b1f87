// The PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7+): the kernel walks the page tables and
// returns runs of pages by category, instead of 8 bytes a page for us to decode. Measured here on
// 1 GiB with 600 MB on the shared zero page: 1.5 ms for the scan, 10 ms to read the pagemap alone.
// Debian 12's headers predate it: the layout and bits are the kernel's (include/uapi/linux/fs.h).
import { sysTry, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';

export const PAGEMAP_SCAN = 0xc0606610;
export const PM_SCAN = { WP_MATCHING: 1n, CHECK_WPASYNC: 2n } as const;
export const PAGE_IS = {
  WPALLOWED: 1 << 0, WRITTEN: 1 << 1, FILE: 1 << 2, PRESENT: 1 << 3, SWAPPED: 1 << 4,
  /** mapped to the shared zero page (or the huge zero page): read, never written */
  PFNZERO: 1 << 5, HUGE: 1 << 6, SOFT_DIRTY: 1 << 7,
} as const;

/**
 * Which pages a scan returns: those whose categories, after flipping `inverted`, have every bit
 * of `mask` and (when given) one of `anyof`; `ret` is what each run reports, and runs split where
 * it changes.
 */
export interface ScanQuery { flags?: bigint; inverted?: number; mask?: number; anyof?: number; ret: number }

const VEC = 4096; // page_region entries per call
// shared: a scan is synchronous and its callback starts no other
const vec = Buffer.alloc(24 * VEC);
const arg = Buffer.alloc(96);

/**
 * Every run of [start, end) that `q` selects, in address order, as (start, end, categories).
 * Returns the errno when the kernel refuses the scan (ENOTTY: no PAGEMAP_SCAN; EPERM with
 * CHECK_WPASYNC: a mapping not registered with the userfaultfd), else 0.
 */
export function pageScan(pagemapFd: number, start: number, end: number, q: ScanQuery, each: (s: number, e: number, cat: number) => void): number {
  for (let at = start; at < end; ) {
    [96n, q.flags ?? 0n, BigInt(at), BigInt(end), 0n, addr(vec), BigInt(VEC), 0n,
      BigInt(q.inverted ?? 0), BigInt(q.mask ?? 0), BigInt(q.anyof ?? 0), BigInt(q.ret)].forEach((x, i) => arg.writeBigUInt64LE(x, i * 8));
    const n = sysTry(NR.ioctl, pagemapFd, PAGEMAP_SCAN, addr(arg));
    if (n < 0) return -n;
    for (let i = 0; i < n; i++) {
      each(Number(vec.readBigUInt64LE(i * 24)), Number(vec.readBigUInt64LE(i * 24 + 8)), Number(vec.readBigUInt64LE(i * 24 + 16)));
    }
    const walkEnd = Number(arg.readBigUInt64LE(32));
    // one call may stop early with room left: go on from where it stopped
    if (walkEnd <= at) return 0;
    at = walkEnd;
  }
  return 0;
}
