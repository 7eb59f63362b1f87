// Dirty-page tracking behind one interface, for iterative pre-copy. A tracker is armed once
// (during a short freeze: it may need a remote syscall), then each collect() returns the pages
// written since the previous one (the first: since arming), as runs of pages. A mapping that
// appeared or changed shape since the last collect is reported whole: nothing of it was copied.
//
// Backends, chosen by what `godwit check` finds (uffd, else soft-dirty, else hash):
// - uffd: userfaultfd write-protect in async mode, read and re-armed by PAGEMAP_SCAN;
// - soft-dirty: /proc/PID/clear_refs and pagemap bit 55, where the kernel has it;
// - hash: a checksum per page, compared between iterations; works anywhere, costs CPU.
import type { PageRun } from '../../image/page-copy.js';

export type TrackBackend = 'uffd' | 'soft-dirty' | 'hash';

export interface DirtyTracker {
  readonly backend: TrackBackend;
  readonly pid: number;
  /** Pages written since the last collect, plus every page of mappings new since then. */
  collect(): PageRun[];
  /** The mappings the last collect() found new (and so reported whole). */
  readonly lastAdded: Array<[number, number]>;
  /**
   * Pages the last collect() found written that read zero now without being read (dropped by
   * MADV_DONTNEED, or on the shared zero page), kept out of what it returned: the image records
   * them as zero, so no older link's data comes back there. Backends that cannot tell return
   * such pages with the others, and their content shows they are zero as they are read.
   */
  readonly lastZero: PageRun[];
  /** End tracking and leave the process as it was (no registration, no protection). */
  stop(): void;
  /** Let go of a process that is killed: no need to undo anything in it. */
  release(): void;
}

/** The ranges a tracker follows: private and shared memory a dump would save. */
export interface TrackedRange { start: number; end: number }

export function pagesOf(runs: PageRun[]): number { return runs.reduce((s, r) => s + r.pages, 0); }
