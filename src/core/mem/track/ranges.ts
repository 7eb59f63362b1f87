// The part of an address space a tracker follows, and how it changed since the last look.
import { readMaps, type ProcVma } from '../../proc/smaps.js';
import { isKernelMapping } from '../vma.js';

/**
 * Mappings whose pages a dump holds, whatever their protection now (a page written before an
 * mprotect to read-only is still dirty); shared file mappings keep their data in the file.
 */
export function trackable(pid: number): ProcVma[] {
  return readMaps(pid).filter((v) => !isKernelMapping(v.name) && !(v.shared && v.inode && !v.deleted && v.name !== '/dev/zero'));
}

/** A private mapping of a file: its pages come from the file, but for the ones it wrote. */
export function isFilePrivate(v: ProcVma): boolean {
  return !v.shared && v.inode !== 0 && v.name !== '' && !v.name.startsWith('[');
}

export interface RangeDiff { added: ProcVma[]; kept: ProcVma[] }

/** Mappings not seen before with exactly this range are new: all of them counts as dirty. */
export function diffRanges(before: Map<string, ProcVma>, now: ProcVma[]): RangeDiff {
  const added: ProcVma[] = [], kept: ProcVma[] = [];
  for (const v of now) (before.has(key(v)) ? kept : added).push(v);
  return { added, kept };
}

export function key(v: { start: number; end: number }): string { return `${v.start}-${v.end}`; }

/** The parts of `runs` that fall inside `ranges`, each marked with its range's `force`. */
export function clipRuns(
  runs: Array<{ start: number; pages: number }>, ranges: Array<{ start: number; end: number; force?: boolean }>,
): Array<{ start: number; pages: number; force?: boolean }> {
  const out: Array<{ start: number; pages: number; force?: boolean }> = [];
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  // mappings do not overlap: the first that ends after a run's start is found by bisection
  for (const r of runs) {
    const rs = r.start, re = r.start + r.pages * 4096;
    let lo = 0, hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]!.end <= rs) lo = mid + 1; else hi = mid;
    }
    for (let i = lo; i < sorted.length; i++) {
      const g = sorted[i]!;
      if (g.end <= rs) continue;
      if (g.start >= re) break;
      const s = Math.max(rs, g.start), e = Math.min(re, g.end);
      if (e > s) out.push({ start: s, pages: (e - s) / 4096, ...(g.force ? { force: true } : {}) });
    }
  }
  return out;
}

export type Range = [number, number];

/**
 * `ranges` with every part covered by `holes` taken out, in the order of `ranges`. A tree's
 * lists reach tens of thousands of ranges (a backend's mappings, a link's runs): each range
 * finds its holes by bisection, never by a walk over all of them.
 */
export function subtract(ranges: Range[], holes: Range[]): Range[] {
  if (!holes.length || !ranges.length) return ranges;
  const h = union(holes);
  const out: Range[] = [];
  for (const [s, e] of ranges) {
    let i = firstEndingAfter(h, s);
    let at = s;
    for (; i < h.length && h[i]![0] < e; i++) {
      if (h[i]![0] > at) out.push([at, h[i]![0]]);
      at = Math.max(at, h[i]![1]);
    }
    if (at < e) out.push([at, e]);
  }
  return out;
}

/** The index of the first of sorted, disjoint `r` that ends after `x`. */
function firstEndingAfter(r: Range[], x: number): number {
  let lo = 0, hi = r.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (r[mid]![1] <= x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** Append without spreading: run lists reach hundreds of thousands, past the limit of arguments. */
export function append<T>(to: T[], from: T[]): void {
  for (const x of from) to.push(x);
}

/** Sorted, with overlapping and touching ranges joined. */
export function union(...lists: Range[][]): Range[] {
  const all = lists.length === 2 && inOrder(lists[0]!) && inOrder(lists[1]!) ? mergeTwo(lists[0]!, lists[1]!) : lists.flat();
  // a link's runs come in address order: sorting a hundred thousand of them again costs a freeze
  if (!inOrder(all)) all.sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  for (const [s, e] of all) {
    if (e <= s) continue;
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

function inOrder(r: Range[]): boolean {
  for (let i = 1; i < r.length; i++) if (r[i]![0] < r[i - 1]![0]) return false;
  return true;
}

/** Two lists in order, as one in order (not merged). */
function mergeTwo(a: Range[], b: Range[]): Range[] {
  const out: Range[] = [];
  let i = 0, j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && a[i]![0] <= b[j]![0]) ? a[i++]! : b[j++]!);
  return out;
}

/** The parts of `a` that `b` covers too. */
export function intersect(a: Range[], b: Range[]): Range[] {
  const x = union(a), y = union(b);
  const out: Range[] = [];
  for (let i = 0, j = 0; i < x.length && j < y.length; ) {
    const s = Math.max(x[i]![0], y[j]![0]), e = Math.min(x[i]![1], y[j]![1]);
    if (e > s) out.push([s, e]);
    if (x[i]![1] < y[j]![1]) i++; else j++;
  }
  return out;
}

/** Runs the tracker found written, and the ranges the chain still owes from before, as one. */
export function withOwed(runs: Array<{ start: number; pages: number }>, owed: Range[] | undefined): Array<{ start: number; pages: number }> {
  if (!owed?.length) return runs;
  return union(runs.map((r): Range => [r.start, r.start + r.pages * 4096]), owed).map(([a, b]) => ({ start: a, pages: (b - a) / 4096 }));
}

/** Runs as address ranges. */
export function rangesOf(runs: Array<{ start: number; pages: number }>): Range[] {
  return runs.map((r): Range => [r.start, r.start + r.pages * 4096]);
}

/**
 * The parts of `runs` (in address order) outside `holes`, each keeping its flags: what a link
 * reads, once the pages it records as zero are taken out.
 */
export function runsOutside<T extends { start: number; pages: number }>(runs: T[], holes: Range[]): T[] {
  if (!holes.length) return runs;
  const h = union(holes);
  const out: T[] = [];
  let j = 0;
  const sorted = runs.every((r, i) => i === 0 || runs[i - 1]!.start <= r.start) ? runs : [...runs].sort((a, b) => a.start - b.start);
  for (const r of sorted) {
    const e = r.start + r.pages * 4096;
    while (j < h.length && h[j]![1] <= r.start) j++;
    let s = r.start;
    for (let k = j; k < h.length && h[k]![0] < e; k++) {
      if (h[k]![0] > s) out.push({ ...r, start: s, pages: (h[k]![0] - s) / 4096 });
      s = Math.max(s, h[k]![1]);
    }
    if (s < e) out.push({ ...r, start: s, pages: (e - s) / 4096 });
  }
  return out;
}
