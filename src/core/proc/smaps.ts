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
