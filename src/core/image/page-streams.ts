// Page data of one process split into segments, each copied by its own stream (a worker thread)
// into its own file: two files, not one, because writes to one tmpfs file serialize on its
// inode lock. Small jobs stay on the calling thread: a worker costs more than it saves there.
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { copyIn, checkSegment, type PageRun } from './page-copy.js';
import { copyOut, type CopyOutResult } from './dense.js';
import { PAGE_SIZE } from '../sys/mman.js';
import type { PageSegment, PagemapEntry } from './format.js';
import { GodwitError, ImageError } from '../errors.js';

type JobBody =
  | { op: 'out'; pid: number; path: string; runs: PageRun[]; tolerant: boolean }
  | { op: 'in'; pid: number; path: string; entries: PagemapEntry[]; chunkCrcs: number[] | null };
export type StreamJob = JobBody & { id: number };
export type StreamReply = { id: number; ok: true; out?: CopyOutResult } | { id: number; ok: false; error: string };

const INLINE_BYTES = 64 << 20;
const STREAMS = Math.max(1, Math.min(4, availableParallelism()));

class Pool {
  private workers: Worker[] = [];
  private next = 1;
  private waiting = new Map<number, (r: StreamReply) => void>();
  private rr = 0;

  private worker(): Worker {
    if (this.workers.length < STREAMS) {
      const w = new Worker(new URL('./page-worker.js', import.meta.url));
      w.on('message', (r: StreamReply) => {
        this.waiting.get(r.id)?.(r);
        this.waiting.delete(r.id);
        if (!this.waiting.size) for (const x of this.workers) x.unref(); // idle workers keep no one alive
      });
      w.on('error', (e) => { for (const [id, f] of this.waiting) f({ id, ok: false, error: e.message }); this.waiting.clear(); });
      w.unref();
      this.workers.push(w);
      return w;
    }
    return this.workers[this.rr++ % this.workers.length]!;
  }

  run(job: JobBody): Promise<StreamReply> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      const w = this.worker();
      w.ref();
      w.postMessage({ ...job, id });
    });
  }
}

let pool: Pool | undefined;

/**
 * Where a dump's page data goes: segment files in the image directory, or (the agent's page
 * server) a stream to another host. Records stay local either way; only pages go through this.
 */
export interface PageWriter {
  write(prefix: string, pid: number, runs: PageRun[], tolerant: boolean): Promise<PageSegment[]>;
}

export function localPages(dir: string): PageWriter {
  return { write: (prefix, pid, runs, tolerant) => writeSegments(dir, prefix, pid, runs, tolerant) };
}

/** Split runs into `n` lists of about equal bytes to read, cutting a run where needed (zero runs cost nothing). */
function split(runs: PageRun[], n: number): PageRun[][] {
  const total = runs.reduce((s, r) => s + (r.zero ? 0 : r.pages), 0);
  const per = Math.ceil(total / n);
  const out: PageRun[][] = [[]];
  let fill = 0;
  for (const r of runs) {
    if (r.zero) { out[out.length - 1]!.push(r); continue; }
    let { start, pages } = r;
    while (pages > 0) {
      if (fill === per && out.length < n) { out.push([]); fill = 0; }
      const take = Math.min(pages, per - fill || pages);
      out[out.length - 1]!.push({ start, pages: take, ...(r.force ? { force: true } : {}) });
      start += take * PAGE_SIZE; pages -= take; fill += take;
    }
  }
  return out.filter((l) => l.length);
}

/** Copy the runs of `pid` into segment files named PREFIX.N.img in dir, without their zero pages. */
export async function writeSegments(dir: string, prefix: string, pid: number, runs: PageRun[], tolerant = false): Promise<PageSegment[]> {
  const bytes = runs.reduce((s, r) => s + (r.zero ? 0 : r.pages * PAGE_SIZE), 0);
  const parts = bytes < INLINE_BYTES ? [runs] : split(runs, STREAMS);
  const seg = (res: CopyOutResult, i: number): PageSegment => ({
    file: `${prefix}.${i}.img`, entries: res.entries, totalPages: res.bytes / PAGE_SIZE, chunkCrcs: res.chunkCrcs,
    ...(res.zero.length ? { zero: res.zero } : {}),
  });
  if (parts.length === 1) return [seg(copyOut(pid, join(dir, `${prefix}.0.img`), parts[0]!, tolerant), 0)];
  pool ??= new Pool();
  const replies = await Promise.all(parts.map((p, i) => pool!.run({ op: 'out', pid, path: join(dir, `${prefix}.${i}.img`), runs: p, tolerant })));
  return replies.map((r, i) => {
    if (!r.ok) throw new GodwitError(r.error);
    return seg(r.out!, i);
  });
}

/** Refuse damaged or truncated segment files before anything is built from them. */
export function checkSegments(dir: string, segments: PageSegment[]): void {
  for (const s of segments) {
    const why = checkSegment(join(dir, s.file), s.totalPages, s.chunkCrcs);
    if (why) throw new ImageError(join(dir, s.file), why);
  }
}

/**
 * `checked`: the files were checked as they arrived; only the pages wanted are read, not whole
 * chunks. `background`: never on this thread, however small (memory built while pre-copy runs
 * must not hold up the agent's event loop, where the final link may be arriving).
 */
export async function readSegments(
  dir: string, pid: number, segments: PageSegment[], o: { checked?: boolean; background?: boolean } = {},
): Promise<void> {
  const checked = !!o.checked;
  segments = segments.filter((s) => s.entries.length);
  // what is read: with checksums, whole files (chunk by chunk); checked, only the pages wanted
  const bytes = segments.reduce((s, x) => s + (checked ? x.entries.reduce((t, e) => t + e.pages, 0) : x.totalPages) * PAGE_SIZE, 0);
  const fail = (s: PageSegment, msg: string): never => {
    if (/checksum|end of file/.test(msg)) throw new ImageError(join(dir, s.file), msg.replace(/^.*?: /, ''));
    throw new GodwitError(msg);
  };
  if (!o.background && (segments.length <= 1 || bytes < INLINE_BYTES)) {
    for (const s of segments) {
      try { copyIn(pid, join(dir, s.file), s.entries, checked ? null : s.chunkCrcs); } catch (e) { fail(s, (e as Error).message); }
    }
    return;
  }
  pool ??= new Pool();
  const replies = await Promise.all(segments.map((s) => pool!.run({ op: 'in', pid, path: join(dir, s.file), entries: s.entries, chunkCrcs: checked ? null : s.chunkCrcs })));
  replies.forEach((r, i) => { if (!r.ok) fail(segments[i]!, r.error); });
}
