// Making memory read zero where an image says it is (PageSegment.zero), at the least cost: a
// mapping made anew already reads zero and needs nothing; anonymous memory that holds older
// contents (built ahead, see prebuild.ts) gives them back with MADV_DONTNEED; a private file
// mapping, where that would bring the file's contents back, is written with zeros.
import { MADV } from '../sys/mman.js';
import { NR } from '../sys/nr.js';
import { addr } from '../sys/libc.js';
import { processVm } from '../sys/process.js';
import type { PageSegment } from '../image/format.js';
import type { Injection } from '../ptrace/inject.js';
import { union, intersect, type Range } from './track/ranges.js';

const ZEROS = 1 << 20;
let zeros: Buffer | undefined;

/** The ranges the segments say read zero, merged. */
export function zeroOf(segments: PageSegment[]): Range[] {
  return union(...segments.map((s) => s.zero ?? []));
}

export interface ZeroPlan {
  /** anonymous memory that may hold older contents */
  discard: Range[];
  /** private file mappings (their unwritten pages are the file's) */
  write: Range[];
}

/**
 * Make `zero` read zero where it falls in the plan's ranges; elsewhere it is left alone (memory
 * made anew). Returns the bytes made zero. Runs before the pages of the same or newer links are
 * written: those may lie inside `zero`'s older ranges.
 */
export function zeroMemory(inj: Injection, zero: Range[], plan: ZeroPlan): number {
  if (!zero.length) return 0;
  const discard = intersect(zero, plan.discard), write = intersect(zero, plan.write);
  inj.reset(16);
  inj.batch(discard.map(([a, b]) => ({ name: 'madvise(MADV_DONTNEED)', nr: NR.madvise, args: [a, b - a, MADV.DONTNEED] })));
  writeZeros(inj.pid, write);
  return [...discard, ...write].reduce((t, [a, b]) => t + b - a, 0);
}

/** Write zeros over the ranges, a megabyte per iovec at most (the kernel takes them by the thousand). */
function writeZeros(pid: number, ranges: Range[]): void {
  if (!ranges.length) return;
  zeros ??= Buffer.alloc(ZEROS);
  for (const [a, b] of ranges) {
    for (let at = a; at < b; at += ZEROS) {
      const len = Math.min(ZEROS, b - at);
      const n = processVm(true, pid, addr(zeros), [[at, len]]);
      if (n !== len) throw new Error(`pid ${pid}: writing zeros at 0x${at.toString(16)} stopped after ${n} of ${len} bytes`);
    }
  }
}
