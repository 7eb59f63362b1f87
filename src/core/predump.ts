// Pre-dump: copy a tree's memory while it keeps running. The tree is frozen only to arm (or take
// back) dirty tracking and collect what changed since the previous link; the pages are copied
// after it runs again, and the tracker is parked in each process for the next link. The first
// pre-dump holds every present page; later ones hold what was written since their parent.
import { mkdirSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { join, isAbsolute, relative, resolve } from 'node:path';
import { release } from 'node:os';
import { freezeTree, thawTree } from './ptrace/freeze.js';
import { Injection, findSyscallInsn } from './ptrace/inject.js';
import { ProcMem } from './ptrace/memory.js';
import { readSmapsBefore, readSmapsSince } from './proc/smaps.js';
import { listTree } from './proc/tree.js';
import { writeRecord, readRecord } from './image/store.js';
import { localPages, type PageWriter } from './image/page-streams.js';
import { IMAGE_ARCH, IMAGE_FORMAT_VERSION, type Inventory, type Pagemap, type PstreeEntry, type TrackRecord } from './image/format.js';
import type { PageRun } from './image/page-copy.js';
import { isPlainAnonProc, buildKeyProc, isKernelMapping } from './mem/vma.js';
import { pstreeOf } from './pstree.js';
import { clipRuns, withOwed, union, intersect, runsOutside, rangesOf, type Range } from './mem/track/ranges.js';
import { UffdTracker } from './mem/track/uffd.js';
import { bestBackend, type TrackBackend, type DirtyTracker } from './mem/track/index.js';
import { FdSender } from './files/transfer.js';
import { GodwitError, ImageError } from './errors.js';
import { requireRoot } from './privileges.js';
import { cpuFlags } from './cpu.js';
import { VERSION } from './version.js';
import { PAGE_SIZE } from './sys/mman.js';
import { logger } from './log.js';

export interface PreDumpOptions {
  pid: number; dir: string; prev?: string; track?: TrackBackend;
  /** where page data goes; the image directory by default */
  pages?: PageWriter;
  /** called as soon as the tree runs again, before the pages are copied */
  onThawed?: () => void;
  /**
   * Carry at most this many bytes of pages never sent before (pages written since the last link
   * all go; a rest under a quarter of this goes too); the rest is owed to the next link. A first
   * pass sent in slices lets the destination build one slice while the next one streams.
   */
  maxBytes?: number;
}
export interface PreDumpResult {
  processes: number; pagesBytes: number; freezeMs: number; totalMs: number; backend: TrackBackend;
  /** page bytes left for the next link (see maxBytes) */
  owedBytes: number;
}

/** The previous link named on the command line: absolute, or relative to DIR as in CRIU. */
export function resolvePrev(dir: string, prev: string): string {
  const p = isAbsolute(prev) ? prev : resolve(dir, prev);
  if (!existsSync(join(p, 'inventory.mpk'))) throw new ImageError(join(p, 'inventory.mpk'), 'missing: --prev-images-dir does not name a godwit image');
  return p;
}

export function readTrack(dir: string, pid: number): TrackRecord | undefined {
  return existsSync(join(dir, `track-${pid}.mpk`)) ? readRecord<TrackRecord>(dir, `track-${pid}.mpk`, 'track') : undefined;
}

/** Take over the tracker an earlier link parked in this process, if any. */
export function adoptTracker(inj: Injection, rec: TrackRecord | undefined): DirtyTracker | undefined {
  if (!rec) return undefined;
  if (rec.backend !== 'uffd' || rec.parkedFd === undefined) {
    throw new GodwitError(`the previous image tracked pid ${inj.pid} with ${rec.backend}, which cannot be resumed across runs of godwit yet; use --track=uffd`);
  }
  return UffdTracker.adopt(inj, rec.parkedFd);
}

export async function preDump(opts: PreDumpOptions): Promise<PreDumpResult> {
  requireRoot('pre-dump');
  const log = logger('predump');
  const t0 = performance.now();
  const backend = opts.track ?? bestBackend();
  if (backend !== 'uffd') throw new GodwitError(`pre-dump across runs of godwit needs the uffd tracker (asked: ${backend})`, 2);
  if (!existsSync(`/proc/${opts.pid}`)) throw new GodwitError(`no process with PID ${opts.pid}`, 2);
  const prev = opts.prev ? resolvePrev(opts.dir, opts.prev) : undefined;
  mkdirSync(opts.dir, { recursive: true });
  for (const f of readdirSync(opts.dir).filter((x) => /\.(img|mpk)$/.test(x))) rmSync(join(opts.dir, f));
  // smaps walks every page (15 ms a GiB): read while the tree runs, checked against maps frozen
  const smapsBefore = readSmapsBefore(listTree(opts.pid));
  const tree = freezeTree(opts.pid);
  const tFrozen = performance.now();
  const sender = new FdSender();
  const work: Array<{
    pid: number; runs: PageRun[]; kept: Array<{ start: number; end: number; force: boolean }>; owed: Range[]; fresh: Array<[number, number]>; layout: Pagemap['layout'];
    /** written since the last link and zero now (see DirtyTracker.lastZero) */
    zero: PageRun[];
  }> = [];
  const tracks: TrackRecord[] = [];
  let pstree: PstreeEntry[] = [];
  const injs: Injection[] = [];
  try {
    pstree = pstreeOf(tree);
    for (const p of tree.order()) {
      if (p.zombie) continue;
      const probe = new ProcMem(p.pid);
      // not parked between remote calls (see RemoteThread): this freeze lasts milliseconds and
      // copies nothing. A dump, frozen while its pages stream, is where godwit dying must be
      // survived. (The pages the chain test lost now and then were a read after the thaw that
      // zeroed a whole run when part of it had been unmapped: see vmBatches.)
      const inj = new Injection(p.pid, findSyscallInsn(p.pid, probe), false);
      probe.close();
      injs.push(inj);
      const before = prev ? readTrack(prev, p.pid) : undefined;
      const adopted = prev ? adoptTracker(inj, before) : undefined;
      if (!adopted && UffdTracker.reclaimStale(inj)) log.warn({ pid: p.pid }, 'stopped a dirty tracker an earlier godwit left behind');
      const tracker = adopted ?? UffdTracker.arm(inj);
      // shared memory is saved whole by the final dump: a link holds private pages only
      const vmas = readSmapsSince(p.pid, smapsBefore.get(p.pid), inj.scratch);
      const kept = vmas.filter((v) => !isKernelMapping(v.name) && !v.shared)
        .map((v) => ({ start: v.start, end: v.end, force: !v.read }));
      const found = tracker.collect();
      const zero = tracker.lastZero;
      const owed: Range[] = before?.owed ?? [];
      const layout = vmas.map((v) => {
        const key = buildKeyProc(v);
        return { start: v.start, end: v.end, plain: isPlainAnonProc(v), ...(key ? { key } : {}) };
      });
      work.push({ pid: p.pid, runs: found, zero, kept, owed, fresh: tracker.lastAdded, layout });
      inj.mapScratch(); // parking passes pointers; the scratch area is gone again before the thaw
      try {
        tracks.push({ pid: p.pid, backend: 'uffd', parkedFd: (tracker as UffdTracker).park(inj, sender) });
      } finally {
        inj.unmapScratch();
      }
    }
  } finally {
    for (const inj of injs) { try { inj.releaseThreads(); } catch { /* gone */ } inj.close(); }
    thawTree(tree);
    sender.close();
    opts.onThawed?.();
  }
  const freezeMs = performance.now() - tFrozen;
  // range arithmetic on a hundred thousand runs takes tens of milliseconds: not while frozen (the
  // pages are read after the thaw anyway, tolerant of what changed)
  for (const w of work) {
    w.zero = clipRuns(w.zero, w.kept);
    w.runs = runsOutside(clipRuns(withOwed(w.runs, w.owed), w.kept), rangesOf(w.zero));
  }
  const owedBytes = opts.maxBytes ? cap(work, tracks, opts.maxBytes, !prev) : 0;
  // first: if copying the pages fails, these records are what takes the trackers back
  for (const t of tracks) writeRecord(opts.dir, `track-${t.pid}.mpk`, 'track', t);
  let bytes = 0;
  const pages = opts.pages ?? localPages(opts.dir);
  for (const w of work) {
    // zero runs cost no bytes and are never owed: they go with every link that finds them
    const runs = [...w.runs, ...w.zero.map((z): PageRun => ({ start: z.start, pages: z.pages, zero: true }))];
    const pm: Pagemap = { pid: w.pid, segments: await pages.write(`pages-${w.pid}`, w.pid, runs, true), fresh: w.fresh, layout: w.layout };
    bytes += pm.segments.reduce((s, x) => s + x.totalPages, 0) * PAGE_SIZE;
    writeRecord(opts.dir, `pagemap-${w.pid}.mpk`, 'pagemap', pm);
  }
  const inv: Inventory = {
    format: IMAGE_FORMAT_VERSION, godwit: VERSION, arch: IMAGE_ARCH, kernel: release(), created: new Date().toISOString(),
    root: opts.pid, pageSize: PAGE_SIZE, xsaveSize: 0, cpuFlags: cpuFlags(), kind: 'pre-dump',
    ...(prev ? { parent: relative(opts.dir, prev) } : {}),
  };
  writeRecord(opts.dir, 'pstree.mpk', 'pstree', { entries: pstree });
  writeRecord(opts.dir, 'inventory.mpk', 'inventory', inv);
  log.debug({ pid: opts.pid, bytes, owedBytes, freezeMs }, 'pre-dump written');
  return { processes: work.length, pagesBytes: bytes, freezeMs, totalMs: performance.now() - t0, backend, owedBytes };
}

/**
 * Carry at most `max` bytes of pages never sent before, and owe the rest to the next link (its
 * track record says what). Pages written since the last link all go: they are tracked no more, so
 * leaving one out would lose it, and the pass moves on by `max` each link however fast the tree
 * writes. Without a previous link, every page is one never sent.
 */
function cap(work: Array<{ pid: number; runs: PageRun[]; owed: Range[] }>, tracks: TrackRecord[], max: number, first: boolean): number {
  const unsentOf = work.map((w) => {
    const all = union(w.runs.map((r): Range => [r.start, r.start + r.pages * PAGE_SIZE]));
    return first ? all : intersect(w.owed, all);
  });
  const pagesOf = (r: Range[]) => r.reduce((t, [a, b]) => t + (b - a) / PAGE_SIZE, 0);
  const unsentPages = unsentOf.reduce((t, u) => t + pagesOf(u), 0);
  // no slice leaves a crumb behind: a rest under a quarter of one goes with it
  let room = unsentPages <= (max / PAGE_SIZE) * 1.25 ? unsentPages : Math.floor(max / PAGE_SIZE), owedPages = 0;
  for (const [i, w] of work.entries()) {
    const unsent = unsentOf[i]!;
    const take: Range[] = [];
    for (const [a, b] of unsent) {
      if (room <= 0) break;
      const n = Math.min(room, (b - a) / PAGE_SIZE);
      take.push([a, a + n * PAGE_SIZE]);
      room -= n;
    }
    const left = intersect(unsent, complement(take));
    owedPages += pagesOf(left);
    w.runs = within(w.runs.sort((x, y) => x.start - y.start), complement(left));
    const t = tracks.find((x) => x.pid === w.pid);
    if (t && left.length) t.owed = left;
  }
  return owedPages * PAGE_SIZE;
}

/** The parts of the runs (in address order) inside `r` (merged, in order), in one walk of both. */
function within(runs: PageRun[], r: Range[]): PageRun[] {
  const out: PageRun[] = [];
  let j = 0;
  for (const run of runs) {
    const end = run.start + run.pages * PAGE_SIZE;
    while (j < r.length && r[j]![1] <= run.start) j++;
    for (let k = j; k < r.length && r[k]![0] < end; k++) {
      const a = Math.max(run.start, r[k]![0]), b = Math.min(end, r[k]![1]);
      if (b > a) out.push({ start: a, pages: (b - a) / PAGE_SIZE, ...(run.force ? { force: true } : {}) });
    }
  }
  return out;
}

/** Every address not in `r` (r in order, merged). */
function complement(r: Range[]): Range[] {
  const out: Range[] = [];
  let at = 0;
  for (const [a, b] of union(r)) { if (a > at) out.push([at, a]); at = b; }
  out.push([at, Number.MAX_SAFE_INTEGER]);
  return out;
}
