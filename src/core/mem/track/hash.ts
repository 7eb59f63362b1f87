// Content hashing: a crc32 per page, compared between iterations. It needs no kernel feature, so
// it is the backend of last resort; it reads every present page each time, which costs CPU and
// memory bandwidth in proportion to the process size.
import { openSync, closeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { processVm } from '../../sys/process.js';
import { addr } from '../../sys/libc.js';
import { PAGE_SIZE } from '../../sys/mman.js';
import type { PageRun } from '../../image/page-copy.js';
import type { ProcVma } from '../../proc/smaps.js';
import type { DirtyTracker } from './tracker.js';
import { trackable, key } from './ranges.js';
import { scanPages, pagemapBuffer } from '../pagemap.js';
import { merge } from './uffd.js';

const CHUNK = 4 << 20;

interface RangeState { v: ProcVma; hashes: Uint32Array; present: Uint8Array }

export class HashTracker implements DirtyTracker {
  readonly backend = 'hash' as const;
  private ranges = new Map<string, RangeState>();
  private pagemap: number;
  private buf = Buffer.allocUnsafe(CHUNK);
  private pm = pagemapBuffer();
  private first: PageRun[] = [];
  lastAdded: Array<[number, number]> = [];
  readonly lastZero: PageRun[] = [];
  private added: Array<[number, number]> = [];

  constructor(readonly pid: number) {
    this.pagemap = openSync(`/proc/${pid}/pagemap`, 'r');
    this.first = this.pass();
  }

  /** Hash every present page; returns the pages that are new or changed since the last pass. */
  private pass(): PageRun[] {
    const dirty: PageRun[] = [];
    const next = new Map<string, RangeState>();
    for (const v of trackable(this.pid)) {
      const n = (v.end - v.start) / PAGE_SIZE;
      // hashes follow addresses, not mapping shapes: two mappings may have merged into this one
      const olds = [...this.ranges.values()].filter((o) => o.v.start < v.end && o.v.end > v.start);
      if (!this.ranges.has(key(v))) this.added.push([v.start, v.end]);
      const before = (a: number): number | undefined => {
        const o = olds.find((x) => a >= x.v.start && a < x.v.end);
        if (!o) return undefined;
        const i = (a - o.v.start) / PAGE_SIZE;
        return o.present[i] ? o.hashes[i] : undefined;
      };
      const st: RangeState = { v, hashes: new Uint32Array(n), present: new Uint8Array(n) };
      for (const run of scanPages(this.pagemap, v.start, v.end, false, this.pm)) {
        for (let p = 0; p < run.pages; p += CHUNK / PAGE_SIZE) {
          const cnt = Math.min(CHUNK / PAGE_SIZE, run.pages - p);
          const at = run.start + p * PAGE_SIZE;
          const got = processVm(false, this.pid, addr(this.buf), [[at, cnt * PAGE_SIZE]]);
          for (let i = 0; i < Math.floor(got / PAGE_SIZE); i++) {
            const idx = (at - v.start) / PAGE_SIZE + i;
            st.present[idx] = 1;
            st.hashes[idx] = crc32(this.buf.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE));
            if (before(at + i * PAGE_SIZE) !== st.hashes[idx]) dirty.push({ start: at + i * PAGE_SIZE, pages: 1 });
          }
        }
      }
      // a page that was there and is gone (MADV_DONTNEED) reads as zeros now: it changed
      for (let idx = 0; idx < n; idx++) {
        if (!st.present[idx] && before(v.start + idx * PAGE_SIZE) !== undefined) dirty.push({ start: v.start + idx * PAGE_SIZE, pages: 1 });
      }
      next.set(key(v), st);
    }
    this.ranges = next;
    return merge(dirty);
  }

  collect(): PageRun[] {
    const f = this.first;
    this.first = [];
    const out = merge([...f, ...this.pass()]);
    this.lastAdded = this.added;
    this.added = [];
    return out;
  }

  stop(): void {
    if (this.pagemap >= 0) closeSync(this.pagemap);
    this.pagemap = -1;
    this.ranges.clear();
  }

  release(): void { this.stop(); }
}
