// A process's address space: dump the VMAs, the mm fields and the private pages; restore by
// mapping every VMA at its address in a seed, writing the pages in large process_vm_writev calls,
// then PR_SET_MM_MAP for brk/arg/env/auxv/exe.
import { openSync, closeSync, readFileSync, readlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { readMaps, readSmapsSince, type ProcVma } from '../proc/smaps.js';
import type { ProcStat } from '../proc/stat.js';
import { NR } from '../sys/nr.js';
import { PROT, MAP, MREMAP, MADV, PAGE_SIZE } from '../sys/mman.js';
import { SCRATCH_SIZE, type Injection } from '../ptrace/inject.js';
import { zeroOf, zeroMemory, type ZeroPlan } from './zero.js';
import type { MmCore, Pagemap, PageSegment, ShmemObject, VmaEntry } from '../image/format.js';
import { readSegments, type PageWriter } from '../image/page-streams.js';
import type { PageRun } from '../image/page-copy.js';
import { toVmaEntry, pagesInImage, isPlainAnon, buildKey } from './vma.js';
import { scanPages, pagemapBuffer } from './pagemap.js';
import type { ShmemDumper } from './shmem.js';
import { attachSysv } from '../ipc/shm.js';
import type { GhostDumper } from '../files/ghost.js';
import type { DirtyTracker } from './track/tracker.js';
import { clipRuns, subtract, append, union, intersect, withOwed, runsOutside, rangesOf, type Range } from './track/ranges.js';
import { GodwitError } from '../errors.js';
import { errnoName } from '../sys/errno.js';
import { cstr } from '../sys/libc.js';
import { O } from '../files/flags.js';
import { logger } from '../log.js';

export interface MmDump { mm: MmCore; pagemap: Pagemap; bytes: number }

/**
 * With a tracker (the last link of a pre-dump chain), only the pages written since the previous
 * link go into the image, plus the whole of mappings that are new since, plus what the chain
 * still owes (a first pass cut short).
 */
export async function dumpMm(
  pages: PageWriter, inj: Injection, stat: ProcStat, shmem: ShmemDumper, ghosts: GhostDumper,
  chain?: { tracker: DirtyTracker; owed?: Array<[number, number]> | undefined }, smapsBefore?: ProcVma[],
): Promise<MmDump> {
  const tracker = chain?.tracker;
  const pid = inj.pid;
  // the scratch area came after `smapsBefore` was read: left out before comparing
  const vmas = readSmapsSince(pid, smapsBefore, inj.scratch).filter((v) => v.name !== '[vsyscall]');
  const entries = vmas.map((v) => toVmaEntry(pid, v, ghosts));
  const brk = inj.call('brk', NR.brk, 0);
  const pmFd = openSync(`/proc/${pid}/pagemap`, 'r');
  const buf = pagemapBuffer();
  const runs: PageRun[] = [];
  try {
    const tScan = performance.now();
    const kept: Array<{ start: number; end: number; force: boolean }> = [];
    for (const [i, v] of vmas.entries()) {
      const e = entries[i]!;
      const mode = pagesInImage(e);
      if (mode === 'shmem') { await shmem.add(pid, v, e); continue; }
      if (mode === 'none') continue;
      kept.push({ start: v.start, end: v.end, force: !v.read });
      if (!tracker) for (const r of scanPages(pmFd, v.start, v.end, mode === 'anon-only', buf)) runs.push({ ...r, force: !v.read });
    }
    if (tracker) {
      const written = withOwed(tracker.collect(), chain?.owed);
      // written since the last link and zero now: recorded so, over what an older link holds
      const zero = clipRuns(tracker.lastZero, kept);
      append(runs, runsOutside(clipRuns(written, kept), rangesOf(zero)));
      for (const z of zero) runs.push({ start: z.start, pages: z.pages, zero: true });
    }
    const tCopy = performance.now();
    const pm: Pagemap = {
      pid, segments: await pages.write(`pages-${pid}`, pid, runs, false), ...(tracker ? { fresh: tracker.lastAdded } : {}),
    };
    logger('mm').debug({ pid, scanMs: tCopy - tScan, copyMs: performance.now() - tCopy, runs: runs.length }, 'pages dumped');
    const mm: MmCore = {
      startCode: stat.startCode, endCode: stat.endCode, startData: stat.startData, endData: stat.endData,
      startBrk: stat.startBrk, brk, startStack: stat.startStack, argStart: stat.argStart, argEnd: stat.argEnd,
      envStart: stat.envStart, envEnd: stat.envEnd, auxv: readFileSync(`/proc/${pid}/auxv`),
      exe: readlinkSync(`/proc/${pid}/exe`), vmas: entries,
    };
    return { mm, pagemap: pm, bytes: pm.segments.reduce((t, x) => t + x.totalPages, 0) * PAGE_SIZE };
  } finally {
    closeSync(pmFd);
  }
}

const SPECIAL = ['vvar', 'vvar_vclock', 'vdso'] as const;

/** An address range free in every layout given, for the scratch area and the vDSO's hop. */
export function freeArea(layouts: Array<Array<{ start: number; end: number }>>, size: number): number {
  const all = layouts.flat().sort((a, b) => a.start - b.start);
  for (let cand = 0x10000000; cand < 0x7f0000000000; cand += 0x40000000) {
    if (!all.some((v) => v.start < cand + size && v.end > cand)) return cand;
  }
  throw new GodwitError('no free address range for the restorer scratch area');
}

/**
 * Replace the seed's address space with the image's. Leaves only the scratch area of the seed,
 * moves the seed's vDSO blocks to where the image had them (glibc holds pointers into them).
 */
/** Pages of one link of a chain (or of a lone image) for one process. */
export interface PageLayer { dir: string; pagemap: Pagemap }


/**
 * Memory a seed already holds, built while pre-copy ran (see prebuild.ts): inside `ranges`, what
 * the links in `layers` (resolved directories) put there, each page from the newest of them.
 */
export interface HeldMemory {
  ranges: Range[];
  /** mappings built whole and exactly (see buildKey), with their contents */
  exact: Array<{ start: number; end: number; key: string }>;
  layers: Set<string>;
}

/**
 * Mappings the seed can keep as they are: plain private anonymous memory held whole, and the
 * mappings built exactly as the image has them; in both, still valid.
 */
function keptVmas(vmas: VmaEntry[], layers: PageLayer[], held: HeldMemory): VmaEntry[] {
  // a link the seed has not seen may have found a mapping new: what the seed holds there is stale
  const stale = union(layers.filter((l) => !held.layers.has(resolve(l.dir))).flatMap((l) => l.pagemap.fresh ?? []));
  const valid = subtract(held.ranges, stale);
  const kept = vmas.filter((v) => {
    if (isPlainAnon(v)) return subtract([[v.start, v.end]], valid).length === 0;
    const key = buildKey({ ...v, ghost: v.ghostId !== undefined });
    return key !== undefined && held.exact.some((e) => e.start === v.start && e.end === v.end && e.key === key)
      && intersect([[v.start, v.end]], stale).length === 0;
  });
  // a large mapping written again costs the freeze dearly: say why it was
  for (const v of vmas) {
    if (kept.includes(v) || v.end - v.start < LARGE || !(isPlainAnon(v) || buildKey({ ...v, ghost: v.ghostId !== undefined }))) continue;
    const r: Range = [v.start, v.end];
    logger('mm').debug({
      start: v.start.toString(16), end: v.end.toString(16), name: v.name,
      why: intersect([r], stale).length ? 'a link the seed did not see found it new' : 'the seed does not hold all of it',
      missing: subtract([r], held.ranges).map(([a, b]) => `${a.toString(16)}-${b.toString(16)}`).slice(0, 8),
    }, 'mapping built ahead not kept');
  }
  return kept;
}
const LARGE = 1 << 20;

/**
 * What each link contributes, oldest first: an older link's pages count only inside mappings the
 * final image has, and not where a newer link found a mapping new (its old contents are stale)
 * or says the pages are zero now. Where the seed already holds memory, the links it has seen
 * contribute nothing more.
 */
function layerSegments(layers: PageLayer[], vmas: VmaEntry[], held?: Pick<HeldMemory, 'ranges' | 'layers'>): Array<{ dir: string; segments: PageSegment[] }> {
  const final: Range[] = vmas.filter((v) => v.kind === 'anon' || (v.kind === 'file' && !v.shared)).map((v) => [v.start, v.end]);
  // zeroAfter[i]: what the links newer than i say is zero
  const zeroAfter: Range[][] = layers.map(() => []);
  for (let i = layers.length - 2; i >= 0; i--) zeroAfter[i] = union(zeroAfter[i + 1]!, zeroOf(layers[i + 1]!.pagemap.segments));
  return layers.map((l, i) => {
    if (i === layers.length - 1) return { dir: l.dir, segments: l.pagemap.segments };
    let allowed = subtract(final, union(layers.slice(i + 1).flatMap((n) => n.pagemap.fresh ?? []), zeroAfter[i]!));
    if (held?.layers.has(resolve(l.dir))) allowed = subtract(allowed, held.ranges);
    return { dir: l.dir, segments: clipSegments(l.pagemap.segments, allowed) };
  });
}

/**
 * The entries of each segment cut down to the parts inside `allowed`. A link holds up to hundreds
 * of thousands of entries, in address order, and what is allowed is usually a few small ranges
 * (the mappings not built ahead): each range finds its entries by bisection.
 */
export function clipSegments(segments: PageSegment[], allowed: Range[]): PageSegment[] {
  const ok = union(allowed);
  return segments.map((s) => {
    const sorted = inOrder(s.entries) ? s.entries : [...s.entries].sort((a, b) => a.start - b.start);
    const entries: PageSegment['entries'] = [];
    for (const [a, b] of ok) {
      let lo = 0, hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const m = sorted[mid]!;
        if (m.start + m.pages * PAGE_SIZE <= a) lo = mid + 1; else hi = mid;
      }
      for (let i = lo; i < sorted.length && sorted[i]!.start < b; i++) {
        const e = sorted[i]!;
        const st = Math.max(a, e.start), en = Math.min(b, e.start + e.pages * PAGE_SIZE);
        if (en > st) entries.push({ start: st, pages: (en - st) / PAGE_SIZE, offset: e.offset + (st - e.start) });
      }
    }
    const zero = s.zero?.length ? intersect(s.zero, ok) : [];
    const { zero: _, ...rest } = s;
    return { ...rest, entries, ...(zero.length ? { zero } : {}) };
  });
}

function inOrder(entries: PageSegment['entries']): boolean {
  for (let i = 1; i < entries.length; i++) if (entries[i]!.start < entries[i - 1]!.start) return false;
  return true;
}

/** What restoring one address space needs beyond its own records. */
export interface MmRestore {
  dir: string;
  /** a free range where the seed's vDSO waits on its way */
  hop: number;
  shmemObjects: Map<number, ShmemObject>;
  /** shared memory already mapped by a process of the tree: the others map it from there */
  shmemOwners: Map<number, { pid: number; start: number; end: number }>;
  ghostPath: (id: number) => string;
  /** memory the seed built while pre-copy ran */
  held?: HeldMemory;
  /** the page files were checked chunk by chunk as they arrived: read only the pages wanted */
  pagesChecked?: boolean;
  /** System V segments (made before any task, see ipc/): id → size */
  sysvSizes?: ReadonlyMap<number, number>;
}

/** A remote syscall for Injection.batch. */
type Call = Parameters<Injection['batch']>[0][number];

/**
 * Returns the bytes of memory built ahead that were kept. Remote syscalls go in batches
 * (Injection.batch), a handful of resumes of the seed for the whole address space: a call each,
 * a single-step round trip each, made a tree with hundreds of mappings take a tenth of a second
 * and more per process.
 */
export async function restoreMm(inj: Injection, mm: MmCore, layers: PageLayer[], ctx: MmRestore): Promise<number> {
  const { dir, hop, shmemObjects, shmemOwners: shmemOwnerStart, ghostPath, held } = ctx;
  const pid = inj.pid;
  const t0 = performance.now();
  const kept = new Set(held ? keptVmas(mm.vmas, layers, held) : []);
  const keptRanges: Range[] = [...kept].map((v) => [v.start, v.end]);
  const seed = readMaps(pid);
  const keep = (v: ProcVma) => v.start === inj.scratch || (SPECIAL as readonly string[]).includes(v.name.slice(1, -1)) || v.name === '[vsyscall]';
  const clear: Call[] = subtract(seed.filter((v) => !keep(v)).map((v): Range => [v.start, v.end]), keptRanges).map(([a, b]) => ({ name: 'munmap', nr: NR.munmap, args: [a, b - a] }));
  moveVdso(clear, seed, mm.vmas, hop);
  inj.reset(16);
  inj.batch(clear);
  // never built ahead (shared): attached where they were, their contents are the segment's own
  attachSysv(inj, mm.vmas, ctx.sysvSizes ?? new Map());

  const pageLayers = layerSegments(layers, mm.vmas, held && { ranges: keptRanges, layers: held.layers });
  const zero = zeroPlan(pageLayers, mm.vmas, kept);
  const withPages = vmasWithPages(mm.vmas, pageLayers, zero.plan.write);
  const plans = mapPlans(pid, mm.vmas, kept, withPages, shmemOwnerStart, ghostPath);
  const fds = openAll(inj, plans);
  const maps: Call[] = plans.map((m) => ({
    name: m.what, nr: NR.mmap,
    args: [m.v.start, m.v.end - m.v.start, m.prot, m.flags, m.open ? fds.get(`${m.open.flags}:${m.open.path}`)! : -1, m.fd ? m.v.offset : 0],
  }));
  for (const fd of fds.values()) maps.push({ name: 'close', nr: NR.close, args: [fd] });
  inj.reset(16);
  inj.batch(maps);
  const tMapped = performance.now();

  // before any page goes in: a newer link's pages may lie where an older one says zero
  const zeroed = zeroMemory(inj, zero.ranges, zero.plan);
  for (const l of pageLayers) await readSegments(l.dir, pid, l.segments, { checked: !!ctx.pagesChecked });
  for (const v of mm.vmas) {
    if (v.kind !== 'shmem' || v.shmemId === undefined) continue;
    const o = shmemObjects.get(v.shmemId);
    if (o && o.owner === pid) await readSegments(dir, pid, o.segments, { checked: !!ctx.pagesChecked });
  }
  const tPages = performance.now();
  // mapped read-write while the pages went in, and built ahead read-write, whatever the
  // mapping's protection is now; neighbours that end the same go in one call
  const protect: Array<{ start: number; end: number; prot: number }> = [];
  for (const m of plans) if (m.prot !== m.v.prot) protect.push({ start: m.v.start, end: m.v.end, prot: m.v.prot });
  for (const v of kept) if (v.prot !== (PROT.READ | PROT.WRITE)) protect.push({ start: v.start, end: v.end, prot: v.prot });
  protect.sort((x, y) => x.start - y.start);
  const last: Call[] = [];
  for (let i = 0; i < protect.length; ) {
    let j = i + 1;
    while (j < protect.length && protect[j]!.start === protect[j - 1]!.end && protect[j]!.prot === protect[i]!.prot) j++;
    last.push({ name: 'mprotect', nr: NR.mprotect, args: [protect[i]!.start, protect[j - 1]!.end - protect[i]!.start, protect[i]!.prot] });
    i = j;
  }
  applyAdvice(inj, last, mm.vmas);
  const keptBytes = keptRanges.reduce((t, [a, b]) => t + b - a, 0);
  if (held) logger('mm').debug({ pid, kept: kept.size, keptBytes }, 'memory built ahead kept');
  setMmMap(inj, mm);
  logger('mm').debug({
    pid, vmas: mm.vmas.length, mapMs: tMapped - t0, pagesMs: tPages - tMapped, endMs: performance.now() - tPages, zeroedBytes: zeroed,
  }, 'address space restored');
  return keptBytes;
}

/** How one mapping of the image is made again. */
interface MapPlan {
  v: VmaEntry;
  what: string;
  prot: number;
  flags: number;
  /** the file it maps, opened in the process first */
  open?: { path: string; flags: number };
  fd: boolean;
}

/**
 * Every mapping to make, in the image's order: read-write for now where pages go in (a write
 * through process_vm_writev needs it). Shared anonymous memory is made by the first process of
 * the tree that maps it (recorded in `owners`) and mapped by the others through its map_files.
 */
function mapPlans(
  pid: number, vmas: VmaEntry[], kept: ReadonlySet<VmaEntry>, withPages: ReadonlySet<VmaEntry>,
  owners: Map<number, { pid: number; start: number; end: number }>, ghostPath: (id: number) => string,
): MapPlan[] {
  const plans: MapPlan[] = [];
  for (const v of vmas) {
    if ((SPECIAL as readonly string[]).includes(v.kind) || v.kind === 'vsyscall' || v.kind === 'sysv' || kept.has(v)) continue;
    let prot = v.prot;
    const owner = v.shmemId !== undefined ? owners.get(v.shmemId) : undefined;
    const ownsShmem = v.kind === 'shmem' && (!owner || owner.pid === pid);
    if (withPages.has(v) || ownsShmem) prot |= PROT.READ | PROT.WRITE;
    const fixed = MAP.FIXED | (v.growsDown ? MAP.GROWSDOWN : 0) | (v.noReserve ? MAP.NORESERVE : 0);
    if (v.kind === 'anon') {
      plans.push({ v, what: 'mmap', prot, flags: MAP.PRIVATE | MAP.ANONYMOUS | fixed, fd: false });
    } else if (v.kind === 'file') {
      const path = v.ghostId !== undefined ? ghostPath(v.ghostId) : v.name;
      plans.push({
        v, what: `mmap(${v.name})`, prot, flags: (v.shared ? MAP.SHARED : MAP.PRIVATE) | fixed, fd: true,
        open: { path, flags: v.shared && (v.prot & PROT.WRITE) ? O.RDWR : O.RDONLY },
      });
    } else if (v.kind === 'shmem' && ownsShmem) {
      plans.push({ v, what: 'mmap(shared anon)', prot, flags: MAP.SHARED | MAP.ANONYMOUS | fixed, fd: false });
      owners.set(v.shmemId!, { pid, start: v.start, end: v.end });
    } else if (v.kind === 'shmem') {
      plans.push({
        v, what: 'mmap(shared anon)', prot, flags: MAP.SHARED | fixed, fd: true,
        open: { path: `/proc/${owner!.pid}/map_files/${owner!.start.toString(16)}-${owner!.end.toString(16)}`, flags: O.RDWR },
      });
    }
  }
  return plans;
}

/** Open, in the process, every file the plans map (each once per access mode); `flags:path` → fd. */
function openAll(inj: Injection, plans: MapPlan[]): Map<string, number> {
  const fds = new Map<string, number>();
  let opens: Call[] = [], queued: string[] = [], used = 0;
  const run = (): void => {
    inj.batch(opens).forEach((fd, i) => fds.set(queued[i]!, fd));
    opens = []; queued = []; used = 0;
    inj.reset(16);
  };
  inj.reset(16);
  for (const m of plans) {
    if (!m.open) continue;
    const key = `${m.open.flags}:${m.open.path}`;
    if (fds.has(key) || queued.includes(key)) continue;
    const path = cstr(m.open.path);
    // the paths take at most half the scratch area: the batch's table goes after them
    if (used + path.length + 16 > SCRATCH_SIZE / 2) run();
    used += path.length + 16;
    opens.push({ name: `open(${m.open.path})`, nr: NR.open, args: [inj.put(path), m.open.flags | O.CLOEXEC, 0] });
    queued.push(key);
  }
  if (opens.length) run();
  return fds;
}

/**
 * Mappings with pages of some layer to write in, or zeros to write: mapped read-write until then.
 * A run of pages may cross from one mapping into the next (pages are laid out as they come).
 */
function vmasWithPages(vmas: VmaEntry[], layers: Array<{ segments: PageSegment[] }>, zeroWrites: Range[]): Set<VmaEntry> {
  const sorted = [...vmas].sort((a, b) => a.start - b.start);
  const out = new Set<VmaEntry>();
  const mark = (start: number, end: number): void => {
    let lo = 0, hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]!.end <= start) lo = mid + 1; else hi = mid;
    }
    for (let i = lo; i < sorted.length && sorted[i]!.start < end; i++) out.add(sorted[i]!);
  };
  for (const l of layers) for (const s of l.segments) for (const e of s.entries) mark(e.start, e.start + e.pages * PAGE_SIZE);
  for (const [a, b] of zeroWrites) mark(a, b);
  return out;
}

/**
 * Which ranges the layers say are zero (older layers' already cut where a newer one has
 * something), and what must be done there: memory built ahead that a link it has not seen
 * zeroes gives its pages back; a private file mapping is written with zeros (its untouched
 * pages are the file's). Memory made anew needs nothing.
 */
function zeroPlan(layers: Array<{ segments: PageSegment[] }>, vmas: VmaEntry[], kept: ReadonlySet<VmaEntry>): { ranges: Range[]; plan: ZeroPlan } {
  const ranges = union(...layers.map((l) => zeroOf(l.segments)));
  const plan: ZeroPlan = { discard: [], write: [] };
  if (!ranges.length) return { ranges, plan };
  for (const v of vmas) {
    const r: Range = [v.start, v.end];
    if (v.kind === 'file' && !v.shared) plan.write.push(r);
    else if (kept.has(v)) plan.discard.push(r);
  }
  return { ranges, plan };
}

function moveVdso(calls: Call[], seed: ProcVma[], vmas: VmaEntry[], hop: number): void {
  const mine = SPECIAL.map((k) => seed.find((v) => v.name === `[${k}]`));
  const want = SPECIAL.map((k) => vmas.find((v) => v.kind === k));
  for (let i = 0; i < SPECIAL.length; i++) {
    const m = mine[i], w = want[i];
    if (w && !m) throw new GodwitError(`the image has a [${SPECIAL[i]}] mapping this kernel does not provide`);
    if (w && m && w.end - w.start !== m.end - m.start) {
      throw new GodwitError(`[${SPECIAL[i]}] is ${(w.end - w.start) / PAGE_SIZE} pages in the image and ${(m.end - m.start) / PAGE_SIZE} here: the image comes from another kernel`);
    }
  }
  for (let i = 0; i < SPECIAL.length; i++) {
    const m = mine[i];
    if (!want[i] && m) calls.push({ name: 'munmap', nr: NR.munmap, args: [m.start, m.end - m.start] });
  }
  // Hop through a free area first: the seed's blocks may overlap where the image wants them.
  let at = hop;
  const tmp: number[] = [];
  for (let i = 0; i < SPECIAL.length; i++) {
    const m = mine[i];
    if (!m || !want[i]) { tmp.push(0); continue; }
    const len = m.end - m.start;
    calls.push({ name: 'mremap', nr: NR.mremap, args: [m.start, len, len, MREMAP.MAYMOVE | MREMAP.FIXED, at] });
    tmp.push(at);
    at += len;
  }
  for (let i = 0; i < SPECIAL.length; i++) {
    const w = want[i];
    if (!w || !tmp[i]) continue;
    const len = w.end - w.start;
    calls.push({ name: 'mremap', nr: NR.mremap, args: [tmp[i]!, len, len, MREMAP.MAYMOVE | MREMAP.FIXED, w.start] });
  }
}

const ADVICE: Record<string, number> = {
  hg: MADV.HUGEPAGE, nh: MADV.NOHUGEPAGE, dc: MADV.DONTFORK, dd: MADV.DONTDUMP, wf: MADV.WIPEONFORK,
  mg: MADV.MERGEABLE, rr: MADV.RANDOM, sr: MADV.SEQUENTIAL,
};

/** Run after `before` (the mprotects, which must succeed) in one batch. */
function applyAdvice(inj: Injection, before: Call[], vmas: VmaEntry[]): void {
  const asked: Array<{ v: VmaEntry; a: string }> = [];
  const calls = [...before];
  for (const v of vmas) {
    if (v.kind === 'vdso' || v.kind === 'vvar' || v.kind === 'vvar_vclock' || v.kind === 'vsyscall') continue;
    for (const a of v.advice) {
      const adv = ADVICE[a];
      if (adv === undefined) continue;
      calls.push({ name: `madvise(${a})`, nr: NR.madvise, args: [v.start, v.end - v.start, adv] });
      asked.push({ v, a });
    }
  }
  inj.reset(16);
  const results = inj.batchRaw(calls);
  before.forEach((c, i) => {
    const r = results[i]!;
    if (r < 0 && r > -4096) throw new GodwitError(`pid ${inj.pid}: remote ${c.name} failed: ${errnoName(-r)}`);
  });
  asked.forEach(({ v, a }, i) => {
    const r = results[before.length + i]!;
    // KSM may be off in this kernel; the rest must work
    if (r < 0 && a !== 'mg') throw new GodwitError(`process ${inj.pid}: madvise(${a}) on ${v.start.toString(16)} failed: errno ${-r}`);
  });
}

const PR_SET_MM = 35, PR_SET_MM_MAP = 14;

function setMmMap(inj: Injection, mm: MmCore): void {
  inj.reset(16);
  const exeFd = inj.call(`open(${mm.exe})`, NR.open, inj.put(cstr(mm.exe)), O.RDONLY | O.CLOEXEC, 0);
  const auxv = Buffer.from(mm.auxv);
  const auxvAt = inj.put(auxv);
  const b = Buffer.alloc(104);
  const fields = [mm.startCode, mm.endCode, mm.startData, mm.endData, mm.startBrk, mm.brk, mm.startStack,
    mm.argStart, mm.argEnd, mm.envStart, mm.envEnd, auxvAt];
  fields.forEach((f, i) => b.writeBigUInt64LE(BigInt(f), i * 8));
  b.writeUInt32LE(auxv.length, 96);
  b.writeUInt32LE(exeFd, 100);
  try {
    inj.call('prctl(PR_SET_MM_MAP)', NR.prctl, PR_SET_MM, PR_SET_MM_MAP, inj.put(b), 104, 0);
  } finally {
    inj.call('close', NR.close, exeFd);
  }
}
