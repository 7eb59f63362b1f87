// Which pages of a VMA are in use. PAGEMAP_SCAN where the kernel has it (see pagescan.ts), which
// also tells pages on the shared zero page apart; else /proc/PID/pagemap, 8 bytes a page, read in
// large slices, only its high word decoded (present bit 63, swapped 62, file-or-shared 61): no
// BigInt per page.
import { readSync } from 'node:fs';
import { PAGE_SIZE } from '../sys/mman.js';
import type { PageRun } from '../image/page-copy.js';
import { pageScan, PAGE_IS } from './pagescan.js';

const SLICE_PAGES = 1 << 18; // 2 MiB of pagemap = 1 GiB of address space per read

const PRESENT = 0x80000000, SWAPPED = 0x40000000, FILE = 0x20000000;

let noScan = false;

/**
 * Runs of pages to save: present or swapped, and for `anonOnly` (private file mappings) only the
 * pages that are private copies, not the file's own page cache pages. Pages on the shared zero
 * page are left out: nothing was ever written there, so a mapping made anew holds the same (a
 * caller that must say a page is zero because it held data before learns that from its tracker).
 */
export function scanPages(pagemapFd: number, start: number, end: number, anonOnly: boolean, buf: Buffer): PageRun[] {
  if (!noScan) {
    const runs: PageRun[] = [];
    const skip = PAGE_IS.PFNZERO | (anonOnly ? PAGE_IS.FILE : 0);
    const err = pageScan(pagemapFd, start, end, { inverted: skip, mask: skip, anyof: PAGE_IS.PRESENT | PAGE_IS.SWAPPED, ret: PAGE_IS.PRESENT | PAGE_IS.SWAPPED }, (s, e) => {
      const last = runs[runs.length - 1];
      if (last && last.start + last.pages * PAGE_SIZE === s) last.pages += (e - s) / PAGE_SIZE;
      else runs.push({ start: s, pages: (e - s) / PAGE_SIZE });
    });
    if (!err) return runs;
    // older kernels (ENOTTY, EINVAL): the pagemap, where a zero page looks like any other (its
    // content is checked as it is read)
    if (err === 25 || err === 22) noScan = true;
  }
  return scanPagemap(pagemapFd, start, end, (hi) => (hi & (PRESENT | SWAPPED)) !== 0 && !(anonOnly && (hi & FILE) !== 0), buf);
}

/** Bits of the high word of a pagemap entry (bit 32 + n of the 64-bit entry). */
export const PM_HI = { SOFT_DIRTY: 1 << 23, EXCLUSIVE: 1 << 24, UFFD_WP: 1 << 25, FILE, SWAPPED, PRESENT } as const;

/** Runs of pages whose pagemap entry's high word satisfies `take`. */
export function scanPagemap(pagemapFd: number, start: number, end: number, take: (hi: number) => boolean, buf: Buffer): PageRun[] {
  const runs: PageRun[] = [];
  let runStart = -1;
  const total = (end - start) / PAGE_SIZE;
  for (let first = 0; first < total; first += SLICE_PAGES) {
    const n = Math.min(SLICE_PAGES, total - first);
    const bytes = n * 8;
    let got = 0;
    while (got < bytes) {
      const r = readSync(pagemapFd, buf, got, bytes - got, (start / PAGE_SIZE + first) * 8 + got);
      if (r <= 0) break;
      got += r;
    }
    for (let i = 0; i < n; i++) {
      const hi = i * 8 < got ? buf.readUInt32LE(i * 8 + 4) : 0;
      const page = first + i;
      if (take(hi)) {
        if (runStart < 0) runStart = page;
      } else if (runStart >= 0) {
        runs.push({ start: start + runStart * PAGE_SIZE, pages: page - runStart });
        runStart = -1;
      }
    }
  }
  if (runStart >= 0) runs.push({ start: start + runStart * PAGE_SIZE, pages: total - runStart });
  return runs;
}

export function pagemapBuffer(): Buffer {
  return Buffer.alloc(SLICE_PAGES * 8);
}
