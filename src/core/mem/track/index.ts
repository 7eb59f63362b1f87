// Starting a dirty-page tracker on a process: the backend is the one this host supports best,
// unless the caller names one.
import { freezeTree, thawTree } from '../../ptrace/freeze.js';
import { Injection, findSyscallInsn } from '../../ptrace/inject.js';
import { ProcMem } from '../../ptrace/memory.js';
import { probeTracking } from '../../check.js';
import { GodwitError } from '../../errors.js';
import type { DirtyTracker, TrackBackend } from './tracker.js';
import { UffdTracker } from './uffd.js';
import { HashTracker } from './hash.js';
import { SoftDirtyTracker } from './soft-dirty.js';

export function bestBackend(): TrackBackend { return probeTracking().tracking; }

/** Arm a tracker on `pid`. uffd needs one remote syscall: the process is frozen for it, briefly. */
export function startTracker(pid: number, backend: TrackBackend = bestBackend()): DirtyTracker {
  const have = probeTracking();
  if (backend === 'uffd' && !have.uffd) throw new GodwitError('--track=uffd: this kernel has no userfaultfd write-protect in async mode with PAGEMAP_SCAN (see godwit check)', 2);
  if (backend === 'soft-dirty' && !have.softDirty) throw new GodwitError('--track=soft-dirty: this kernel has no soft-dirty bit (CONFIG_MEM_SOFT_DIRTY)', 2);
  if (backend === 'hash') return new HashTracker(pid);
  if (backend === 'soft-dirty') return new SoftDirtyTracker(pid);
  const tree = freezeTree(pid);
  let inj: Injection | undefined;
  try {
    const probe = new ProcMem(pid);
    const insn = findSyscallInsn(pid, probe);
    probe.close();
    inj = new Injection(pid, insn);
    return UffdTracker.arm(inj);
  } finally {
    inj?.releaseThreads();
    inj?.close();
    thawTree(tree);
  }
}

export type { DirtyTracker, TrackBackend };
