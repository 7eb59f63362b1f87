// Ending a pre-dump chain without a final dump: take back the trackers the last link parked in
// each process and stop them, so the processes are left as they were before the chain began.
import { readdirSync } from 'node:fs';
import { freezeTree, thawTree } from './ptrace/freeze.js';
import { Injection, findSyscallInsn } from './ptrace/inject.js';
import { ProcMem } from './ptrace/memory.js';
import { resolvePrev, readTrack, adoptTracker } from './predump.js';
import { requireRoot } from './privileges.js';
import { GodwitError } from './errors.js';

export function untrack(pid: number, last: string): number {
  requireRoot('untrack');
  return untrackDir(pid, resolvePrev(process.cwd(), last));
}

/** The same for a link directory that may be incomplete (a pre-dump that failed half-way). */
export function untrackDir(pid: number, dir: string): number {
  const pids = readdirSync(dir).map((f) => /^track-(\d+)\.mpk$/.exec(f)?.[1]).filter(Boolean).map(Number);
  if (!pids.includes(pid)) throw new GodwitError(`${dir} holds no tracker of process ${pid}`, 2);
  const tree = freezeTree(pid);
  let stopped = 0;
  try {
    for (const p of tree.order()) {
      const rec = readTrack(dir, p.pid);
      if (!rec || p.zombie) continue;
      const probe = new ProcMem(p.pid);
      const inj = new Injection(p.pid, findSyscallInsn(p.pid, probe));
      probe.close();
      try {
        adoptTracker(inj, rec)?.stop();
        stopped++;
      } finally {
        inj.releaseThreads();
        inj.close();
      }
    }
  } finally {
    thawTree(tree);
  }
  return stopped;
}
