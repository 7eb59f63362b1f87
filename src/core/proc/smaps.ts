// /proc/PID/smaps: every VMA with its protection, backing and VmFlags (madvise state that maps
// does not show).
import { readFileSync } from 'node:fs';

export interface ProcVma {
  start: number; end: number;
  read: boolean; write: boolean; exec: boolean; shared: boolean;
  offset: number; dev: string; inode: number;
  /** path, or a bracketed kernel name ([heap], [stack], [vdso], ...), or '' for anonymous */
  name: string;
  deleted: boolean;
  vmFlags: string[];
}

export function parseMaps(text: string): ProcVma[] {
  const out: ProcVma[] = [];
  let cur: ProcVma | undefined;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) ([r-])([w-])([x-])([ps]) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)\s*(.*)$/.exec(line);
    if (m) {
      let name = m[10] ?? '';
      const deleted = name.endsWith(' (deleted)');
      if (deleted) name = name.slice(0, -' (deleted)'.length);
      cur = {
        start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), read: m[3] === 'r', write: m[4] === 'w',
        exec: m[5] === 'x', shared: m[6] === 's', offset: parseInt(m[7]!, 16), dev: m[8]!,
        inode: Number(m[9]), name, deleted, vmFlags: [],
      };
      out.push(cur);
    } else if (cur && line.startsWith('VmFlags:')) {
      cur.vmFlags = line.slice(8).trim().split(/\s+/).filter(Boolean);
    }
  }
  return out;
}

export function readSmaps(pid: number): ProcVma[] {
  return parseMaps(readFileSync(`/proc/${pid}/smaps`, 'utf8'));
}

export function readMaps(pid: number): ProcVma[] {
  return parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8'));
}

/** smaps of every process of a tree, read while it still runs (a process gone meanwhile is left out). */
export function readSmapsBefore(pids: number[]): Map<number, ProcVma[]> {
  const out = new Map<number, ProcVma[]>();
  for (const pid of pids) { try { out.set(pid, readSmaps(pid)); } catch { /* gone: read frozen */ } }
  return out;
}

/**
 * The VMAs with their VmFlags, where smaps costs a walk of every page (15 ms a GiB) and maps does
 * not: `before` is smaps read just before the tree froze. When maps (read now, frozen) shows the
 * same mappings, their flags are taken from it. What this can miss is a madvise over a whole
 * mapping (no split, so maps looks the same) that landed while `before` was read: an advice flag,
 * never a byte of memory. Otherwise smaps is read again.
 */
export function readSmapsSince(pid: number, before: ProcVma[] | undefined, scratch = 0): ProcVma[] {
  // our own scratch area, mapped since: not the process's
  const own = (v: ProcVma) => v.start !== scratch;
  if (!before) return readSmaps(pid).filter(own);
  const now = readMaps(pid).filter(own);
  const same = now.length === before.length && now.every((v, i) => {
    const b = before[i]!;
    return v.start === b.start && v.end === b.end && v.read === b.read && v.write === b.write && v.exec === b.exec
      && v.shared === b.shared && v.offset === b.offset && v.dev === b.dev && v.inode === b.inode && v.name === b.name && v.deleted === b.deleted;
  });
  return same ? now.map((v, i) => ({ ...v, vmFlags: before[i]!.vmFlags })) : readSmaps(pid).filter(own);
}
