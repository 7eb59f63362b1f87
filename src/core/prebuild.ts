// The destination of a migration builds the tree while pre-copy still runs, so that the freeze
// no longer has to wait for the whole memory to be written. At the first link it grows the seeds
// (PIDs, parents, groups, sessions: the link's pstree), and after each link it brings their plain
// anonymous memory up to date: mappings the link no longer has are dropped, mappings the link
// found new are made again empty, and the link's pages are written in. The final restore keeps
// whatever mapping is still valid and writes only the final dump's pages into it.
//
// It is a cache, never the truth: the image chain stays on disk, and a restore that cannot use
// what was built (the tree changed shape, a seed died, the scratch area is now in the way) kills
// the seeds and builds from the images as it always does.
import { resolve } from 'node:path';
import { readRecord } from './image/store.js';
import type { Image } from './image/image.js';
import type { Pagemap, Pstree } from './image/format.js';
import { readSegments } from './image/page-streams.js';
import { SeedTree, sameShape, HOP_SIZE } from './seeds.js';
import { SCRATCH_SIZE } from './ptrace/inject.js';
import { readMaps } from './proc/smaps.js';
import { isKernelMapping } from './mem/vma.js';
import { readStat } from './proc/stat.js';
import { clipSegments, type HeldMemory } from './mem/mm.js';
import { zeroMemory, zeroOf } from './mem/zero.js';
import { subtract, intersect, union, type Range } from './mem/track/ranges.js';
import { NR } from './sys/nr.js';
import { PROT, MAP, MREMAP } from './sys/mman.js';
import { errnoName } from './sys/errno.js';
import { logger } from './log.js';
import { cstr } from './sys/libc.js';
import { O } from './files/flags.js';
import type { Injection } from './ptrace/inject.js';


interface Held {
  /** plain anonymous memory this seed holds that is valid for the links applied */
  ranges: Range[];
  /** other mappings, built whole and exactly as a link had them (see buildKey), valid too */
  exact: Exact[];
  /** where nothing may be built: the scratch area and its hop, the seed's vDSO until it moves */
  reserved: Range[];
}

interface Exact { start: number; end: number; key: string }

export interface PrebuildStats { links: number; bytes: number; ms: number }

export class Prebuild {
  private seeds: SeedTree | null = null;
  private held = new Map<number, Held>();
  private applied: string[] = [];
  private queue: Promise<void> = Promise.resolve();
  private log = logger('prebuild');
  readonly stats: PrebuildStats = { links: 0, bytes: 0, ms: 0 };
  /** links added and not yet built */
  pending = 0;

  /** `claim`: frees IDs held for the tree (pidhold.ts) right before its seeds take them */
  constructor(private label: string, private claim?: (ids: number[]) => void) {}

  /**
   * Bring the seeds up to this link (its pagemaps as its check read them), after the ones before
   * it. Never throws: a failure drops the build.
   */
  add(dir: string, pagemaps: Map<number, Pagemap>): Promise<void> {
    this.pending++;
    this.queue = this.queue.then(async () => {
      if (this.broken) return;
      const t0 = performance.now();
      try {
        await this.apply(resolve(dir), pagemaps);
        this.stats.links++;
        this.stats.ms += performance.now() - t0;
      } catch (e) {
        this.drop(`link ${dir} could not be built: ${(e as Error).message}`);
      }
    }).finally(() => { this.pending--; });
    return this.queue;
  }

  /** Every link added so far is built (or the build was dropped). */
  settled(): Promise<void> { return this.queue; }

  private broken = false;
  private why = '';
  get dropped(): boolean { return this.broken; }
  get whyDropped(): string { return this.why; }
  /** the PIDs the seeds hold now */
  get seedPids(): number[] { return this.seeds ? [...this.seeds.injs.keys()] : []; }

  /** Give up on what was built: the seeds are killed, their PIDs free again. */
  drop(why: string): void {
    if (!this.broken) { this.log.info({ migration: this.label, why }, 'memory built ahead dropped'); this.why = why; }
    this.broken = true;
    this.seeds?.killAll();
    this.seeds = null;
    this.held.clear();
  }

  /**
   * For the final restore: the seeds and what each holds, when they fit the final image; else
   * null, and the seeds are gone.
   */
  adopt(img: Image): { seeds: SeedTree; memory: (pid: number) => HeldMemory | undefined } | null {
    const seeds = this.seeds;
    if (!seeds || this.broken) { this.drop('nothing was built'); return null; }
    const chain = img.chain.map((l) => resolve(l.dir));
    // processes that came or went since the last link: the seeds follow (a few ms each), the
    // rest of what was built stays
    if (!sameShape(seeds.entries, img.pstree.entries) && !this.reshape(seeds, img.pstree.entries, 'the final dump')) { this.drop('the tree\'s root changed'); return null; }
    const why = !seeds.clearOf([...img.cores.values()].map((c) => c.mm.vmas)) ? 'the process mapped memory where the seeds keep their scratch area'
        : this.applied.some((d, i) => chain[i] !== d) ? 'the final dump is not the end of the links that were built'
          : [...seeds.injs.keys()].some((pid) => !waitingForUs(pid)) ? 'a seed died'
            : sessionTerminals(img) ? 'a session of the tree has a controlling terminal, which its processes must inherit as they are forked'
              : null;
    if (why) { this.drop(why); return null; }
    this.seeds = null; // the restore owns them now
    const layers = new Set(this.applied);
    return {
      seeds,
      memory: (pid) => {
        const h = this.held.get(pid);
        return h ? { ranges: h.ranges, exact: h.exact, layers } : undefined;
      },
    };
  }

  private async apply(dir: string, pagemaps: Map<number, Pagemap>): Promise<void> {
    const entries = readRecord<Pstree>(dir, 'pstree.mpk', 'pstree').entries;
    if (!this.seeds) this.grow(entries, [...pagemaps.values()].map((pm) => pm.layout ?? []));
    else if (!sameShape(this.seeds.entries, entries) && !this.reshape(this.seeds, entries, dir)) throw new Error('the tree\'s root changed');
    const seeds = this.seeds!;
    for (const [pid, h] of this.held) {
      const inj = seeds.injs.get(pid)!;
      const pm = pagemaps.get(pid);
      const fresh: Range[] = union(pm?.fresh ?? []);
      const plain: Range[] = subtract(union((pm?.layout ?? []).filter((v) => v.plain).map((v): Range => [v.start, v.end])), h.reserved);
      const wanted: Exact[] = (pm?.layout ?? []).flatMap((v) => (v.key && !intersect([[v.start, v.end]], h.reserved).length ? [{ start: v.start, end: v.end, key: v.key }] : []));
      const same = (a: Exact) => (b: Exact) => a.start === b.start && a.end === b.end && a.key === b.key;
      // still valid: held before, still the same memory, and not found new by this link
      const stay = intersect(subtract(h.ranges, fresh), plain);
      const keep = h.exact.filter((e) => wanted.some(same(e)) && !intersect([[e.start, e.end]], fresh).length);
      const gone = subtract(h.ranges, stay);
      if (gone.length) this.log.debug({ pid, link: dir, bytes: gone.reduce((t, [a, b]) => t + b - a, 0), fresh: intersect(gone, fresh).length, ranges: gone.slice(0, 8).map(([a, b]) => `${a.toString(16)}-${b.toString(16)}`) }, 'memory built ahead no longer valid');
      inj.reset(16);
      inj.batch([
        ...gone.map(([a, b]) => ({ name: 'munmap', nr: NR.munmap, args: [a, b - a] })),
        ...h.exact.filter((e) => !keep.some(same(e))).map((e) => ({ name: 'munmap', nr: NR.munmap, args: [e.start, e.end - e.start] })),
      ]);
      // a mapping is built only when this link holds all of it that is not in the file: it is new here
      const made: Range[] = [];
      const madeExact: Exact[] = [];
      for (const w of wanted) {
        if (keep.some(same(w)) || subtract([[w.start, w.end]], fresh).length) continue;
        if (this.mapExact(inj, w)) madeExact.push(w);
      }
      h.exact = [...keep, ...madeExact];
      const toMake = intersect(plain, fresh);
      inj.reset(16);
      const got = inj.batchRaw(toMake.map(([a, b]) => ({ nr: NR.mmap, args: [a, b - a, PROT.READ | PROT.WRITE, MAP.PRIVATE | MAP.ANONYMOUS | MAP.FIXED_NOREPLACE, -1, 0] })));
      toMake.forEach(([a, b], i) => {
        const r = got[i]!;
        if (r === a) made.push([a, b]);
        else this.log.debug({ pid, start: a.toString(16), errno: r < 0 ? errnoName(-r) : r }, 'cannot build this range ahead');
      });
      h.ranges = union(stay, made);
      const missed = subtract(intersect(plain, fresh), made);
      if (missed.length) this.log.debug({ pid, link: dir, ranges: missed.slice(0, 8).map(([a, b]) => `${a.toString(16)}-${b.toString(16)}`) }, 'new memory not built ahead');
      if (!pm) continue;
      const segments = clipSegments(pm.segments, union(h.ranges, h.exact.map((e): Range => [e.start, e.end])));
      // what this link says is zero, where what is held came from an older link
      zeroMemory(inj, zeroOf(segments), {
        discard: union(stay, keep.filter((e) => !e.key.startsWith('file:')).map((e): Range => [e.start, e.end])),
        write: [...keep, ...madeExact].filter((e) => e.key.startsWith('file:')).map((e): Range => [e.start, e.end]),
      });
      this.stats.bytes += segments.reduce((t, s) => t + s.entries.reduce((u, e) => u + e.pages, 0), 0) * 4096;
      await readSegments(dir, pid, segments, { checked: true, background: true });
    }
    this.applied.push(dir);
  }

  /** Map one mapping as its key says, read-write while pages go in; false when it cannot be. */
  private mapExact(inj: Injection, w: Exact): boolean {
    const len = w.end - w.start, rw = PROT.READ | PROT.WRITE, fixed = MAP.PRIVATE | MAP.FIXED_NOREPLACE;
    const t = inj.thread();
    let r: number;
    if (w.key.startsWith('stack:')) {
      r = t.callRaw(NR.mmap, w.start, len, rw, fixed | MAP.ANONYMOUS | MAP.GROWSDOWN | (w.key.endsWith('nr') ? MAP.NORESERVE : 0), -1, 0);
    } else if (w.key === 'anon:nr') {
      r = t.callRaw(NR.mmap, w.start, len, rw, fixed | MAP.ANONYMOUS | MAP.NORESERVE, -1, 0);
    } else {
      const [, offset, path] = /^file:(\d+):(.*)$/s.exec(w.key)!;
      inj.reset(16);
      const fd = t.callRaw(NR.open, inj.put(cstr(path!)), O.RDONLY | O.CLOEXEC, 0);
      if (fd < 0) return false;
      r = t.callRaw(NR.mmap, w.start, len, rw, fixed, fd, Number(offset));
      t.callRaw(NR.close, fd);
    }
    if (r !== w.start) this.log.debug({ pid: inj.pid, start: w.start.toString(16), key: w.key, errno: r < 0 ? errnoName(-r) : r }, 'cannot build this mapping ahead');
    return r === w.start;
  }

  /** The seeds, each emptied but for its scratch area and vDSO, at the first link. */
  private grow(entries: Pstree['entries'], layouts: Array<Array<{ start: number; end: number }>>): void {
    const seeds = new SeedTree(entries, layouts, this.claim);
    this.seeds = seeds;
    seeds.grow();
    for (const e of entries) if (!e.zombie) this.empty(seeds, e.pid);
  }

  /** Seeds follow a new shape of the tree; false when its root changed. */
  private reshape(seeds: SeedTree, entries: Pstree['entries'], at: string): boolean {
    const r = seeds.reshape(entries);
    if (!r) return false;
    for (const pid of r.killed) this.held.delete(pid);
    const zombies = new Set(entries.filter((e) => e.zombie).map((e) => e.pid));
    for (const pid of r.made) if (!zombies.has(pid)) this.empty(seeds, pid);
    this.log.debug({ migration: this.label, at, made: r.made, killed: r.killed }, 'the seeds follow the tree\'s new shape');
    return true;
  }

  /** A new seed emptied but for its scratch area and vDSO, which waits in the hop area. */
  private empty(seeds: SeedTree, pid: number): void {
    const inj = seeds.injs.get(pid)!;
    parkVdso(inj, seeds.hop + HOP_SIZE / 2);
    const reserved: Range[] = [[seeds.scratch, seeds.scratch + SCRATCH_SIZE + HOP_SIZE]];
    for (const v of readMaps(pid)) {
      if (v.start === seeds.scratch) continue;
      if (isKernelMapping(v.name)) { reserved.push([v.start, v.end]); continue; }
      inj.call('munmap', NR.munmap, v.start, v.end - v.start);
    }
    this.held.set(pid, { ranges: [], exact: [], reserved: union(reserved) });
  }
}

/**
 * The kernel put the seed's vDSO anywhere in its mmap area, maybe inside memory the tree uses:
 * nothing could be built there. It waits in the upper half of the hop area, clear of the tree,
 * until the restore moves it where the image wants it (through the lower half).
 */
function parkVdso(inj: Injection, at: number): void {
  for (const v of readMaps(inj.pid).filter((m) => isKernelMapping(m.name) && m.name !== '[vsyscall]').sort((a, b) => a.start - b.start)) {
    const len = v.end - v.start;
    // forked from a seed whose vDSO waits there already
    if (v.start === at) { at += len; continue; }
    inj.call('mremap(vdso)', NR.mremap, v.start, len, len, MREMAP.MAYMOVE | MREMAP.FIXED, at);
    at += len;
  }
}

/** A pty of the image is the controlling terminal of a session with more than its leader. */
function sessionTerminals(img: Image): boolean {
  return (img.files.ptys ?? []).some((p) => p.session !== undefined && img.pstree.entries.some((e) => e.sid === p.session && e.pid !== p.session));
}

/** Stopped under our ptrace, as a seed waits: not killed, not a zombie. */
function waitingForUs(pid: number): boolean {
  try { return readStat(pid).state === 't'; } catch { return false; }
}
