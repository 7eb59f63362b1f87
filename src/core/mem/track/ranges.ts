// The part of an address space a tracker follows, and how it changed since the last look.
import { readMaps, type ProcVma } from '../../proc/smaps.js';

const SKIP = new Set(['[vdso]', '[vvar]', '[vvar_vclock]', '[vsyscall]']);

/** Writable mappings whose pages a dump would hold (read-only ones cannot be dirtied). */
export function trackable(pid: number): ProcVma[] {
  return readMaps(pid).filter((v) => v.write && !SKIP.has(v.name) && !(v.shared && v.inode && !v.deleted && v.name !== '/dev/zero'));
}

export interface RangeDiff { added: ProcVma[]; kept: ProcVma[] }

/** Mappings not seen before with exactly this range are new: all of them counts as dirty. */
export function diffRanges(before: Map<string, ProcVma>, now: ProcVma[]): RangeDiff {
  const added: ProcVma[] = [], kept: ProcVma[] = [];
  for (const v of now) (before.has(key(v)) ? kept : added).push(v);
  return { added, kept };
}

export function key(v: { start: number; end: number }): string { return `${v.start}-${v.end}`; }
