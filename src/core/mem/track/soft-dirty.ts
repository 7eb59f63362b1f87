// Soft-dirty (CONFIG_MEM_SOFT_DIRTY), as CRIU tracks memory: clear_refs resets the bits, pagemap
// bit 55 says which pages were written since. Reading the bits and clearing them again is not
// atomic, so collect() must run with the task frozen.
import { openSync, closeSync, writeFileSync } from 'node:fs';
import type { PageRun } from '../../image/page-copy.js';
import type { ProcVma } from '../../proc/smaps.js';
import type { DirtyTracker } from './tracker.js';
import { trackable, diffRanges, key, append, isFilePrivate } from './ranges.js';
import { scanPages, scanPagemap, pagemapBuffer, PM_HI } from '../pagemap.js';
import { merge } from './uffd.js';

export class SoftDirtyTracker implements DirtyTracker {
  readonly backend = 'soft-dirty' as const;
  private pagemap: number;
  private ranges = new Map<string, ProcVma>();
  private buf = pagemapBuffer();
  lastAdded: Array<[number, number]> = [];
  readonly lastZero: PageRun[] = [];

  constructor(readonly pid: number) {
    this.pagemap = openSync(`/proc/${pid}/pagemap`, 'r');
    for (const v of trackable(pid)) this.ranges.set(key(v), v);
    writeFileSync(`/proc/${pid}/clear_refs`, '4');
  }

  collect(): PageRun[] {
    const now = trackable(this.pid);
    const { added, kept } = diffRanges(this.ranges, now);
    const out: PageRun[] = [];
    for (const v of kept) append(out, scanPagemap(this.pagemap, v.start, v.end, (hi) => (hi & PM_HI.SOFT_DIRTY) !== 0 && (hi & (PM_HI.PRESENT | PM_HI.SWAPPED)) !== 0, this.buf));
    for (const v of added) append(out, scanPages(this.pagemap, v.start, v.end, isFilePrivate(v), this.buf));
    this.lastAdded = added.map((v) => [v.start, v.end]);
    this.ranges = new Map(now.map((v) => [key(v), v]));
    writeFileSync(`/proc/${this.pid}/clear_refs`, '4');
    return merge(out);
  }

  stop(): void {
    if (this.pagemap >= 0) closeSync(this.pagemap);
    this.pagemap = -1;
  }

  release(): void { this.stop(); }
}
