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

/** The tree under `root`, parents before children, as /proc shows it now (it may change as we look). */
export function listTree(root: number): number[] {
  const out: number[] = [];
  for (const todo = [root]; todo.length; ) {
    const p = todo.shift()!;
    if (!out.includes(p)) { out.push(p); todo.push(...listChildren(p)); }
  }
  return out;
}

export function pidExists(pid: number): boolean {
  try {
    readFileSync(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}
