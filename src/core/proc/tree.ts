// Walking a process tree through /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN).
import { readdirSync, readFileSync } from 'node:fs';

export function listTids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number).sort((a, b) => (a === pid ? -1 : b === pid ? 1 : a - b));
  } catch {
    return [];
  }
}

export function listChildren(pid: number): number[] {
  const out = new Set<number>();
  for (const tid of listTids(pid)) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) {
        if (c) out.add(Number(c));
      }
    } catch { /* the thread went away while we looked */ }
  }
  return [...out].sort((a, b) => a - b);
}

export function pidExists(pid: number): boolean {
  try {
    readFileSync(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}
