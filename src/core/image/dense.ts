// Reading a process's pages for an image without its zero pages: every page is read into a
// buffer anyway, so the test is a look at its first words (a whole-page compare only for pages
// that start with zeros), and the pages that hold something are moved down over the zero ones.
// What comes out is dense, page after page in the order given; where each page went and which
// pages were zero is recorded on the way. Runs marked `zero` are known zero (see
// DirtyTracker.lastZero): recorded, never read.
import { openSync, closeSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { PAGE_SIZE } from '../sys/mman.js';
import { SliceReader, WINDOW, type PageRun, type Part } from './page-copy.js';
import { CHUNK_BYTES, type PagemapEntry } from './format.js';

const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);

export function isZeroPage(buf: Buffer, off: number): boolean {
  if (buf.readUInt32LE(off) !== 0 || buf.readUInt32LE(off + 4) !== 0) return false;
  return buf.compare(ZERO_PAGE, 0, PAGE_SIZE, off, off + PAGE_SIZE) === 0;
}

export class DenseReader {
  /** where each page that holds something lies in the output */
  readonly entries: PagemapEntry[] = [];
  /** [start, end) ranges that read zero, in the order met */
  readonly zero: Array<[number, number]> = [];
  /** bytes put out so far: the output's size once every run is read */
  out = 0;
  zeroBytes = 0;
  private run = 0;
  /** pages of runs[run] already taken */
  private taken = 0;
  private reader: SliceReader;

  constructor(pid: number, private runs: PageRun[], tolerant: boolean) {
    this.reader = new SliceReader(pid, tolerant);
  }

  /**
   * Put pages into `into` from `at` until at least `room` bytes are there (or the runs end);
   * returns the new end, never past into.length. Each read takes as much as `into` has room for
   * beyond `at`: a caller that leaves slack past `room` gets no small reads.
   */
  fill(into: Buffer, at: number, room: number): number {
    if (room > into.length || room % PAGE_SIZE || at % PAGE_SIZE) throw new Error('DenseReader.fill: room must be whole pages inside the buffer');
    while (at < room) {
      this.skipZero();
      if (this.run >= this.runs.length) break;
      const parts: Part[] = [], of: number[] = [];
      let pos = at;
      while (this.run < this.runs.length && !this.runs[this.run]!.zero && pos < into.length) {
        const r = this.runs[this.run]!;
        const n = Math.min(r.pages - this.taken, (into.length - pos) / PAGE_SIZE);
        parts.push({ addr: r.start + this.taken * PAGE_SIZE, len: n * PAGE_SIZE, fileOff: pos, force: !!r.force });
        of.push(this.run);
        pos += n * PAGE_SIZE;
        this.taken += n;
        if (this.taken === r.pages) { this.run++; this.taken = 0; }
      }
      if (!parts.length) break;
      this.reader.read(into, { off: 0, len: pos - at, parts });
      at = this.compact(into, at, parts, of);
    }
    return at;
  }

  /** Every run has been read (or recorded as zero). */
  get finished(): boolean {
    this.skipZero();
    return this.run >= this.runs.length;
  }

  close(): void { this.reader.close(); }

  private skipZero(): void {
    for (let r = this.runs[this.run]; r?.zero; r = this.runs[++this.run]) {
      this.addZero(r.start + this.taken * PAGE_SIZE, (r.pages - this.taken) * PAGE_SIZE);
      this.taken = 0;
    }
  }

  /** Move the pages of `parts` (of runs `of`) that hold something down to `at`, in order; returns the new end. */
  private compact(into: Buffer, at: number, parts: Part[], of: number[]): number {
    let w = at;
    for (const [i, p] of parts.entries()) {
      let from = -1; // start (in `into`) of the stretch of pages with data being gathered
      const flush = (to: number): void => {
        if (from < 0) return;
        if (w !== from) into.copyWithin(w, from, to);
        this.addEntry(p.addr + (from - p.fileOff), (to - from) / PAGE_SIZE, of[i]!);
        w += to - from;
        from = -1;
      };
      for (let pos = p.fileOff; pos < p.fileOff + p.len; pos += PAGE_SIZE) {
        if (isZeroPage(into, pos)) {
          flush(pos);
          this.addZero(p.addr + (pos - p.fileOff), PAGE_SIZE);
        } else if (from < 0) {
          from = pos;
        }
      }
      flush(p.fileOff + p.len);
    }
    return w;
  }

  /** an entry never spans two runs: a run lies inside one mapping, and restore relies on it */
  private lastRun = -1;

  private addEntry(start: number, pages: number, run: number): void {
    const last = this.entries[this.entries.length - 1];
    if (last && run === this.lastRun && last.start + last.pages * PAGE_SIZE === start && last.offset + last.pages * PAGE_SIZE === this.out) last.pages += pages;
    else this.entries.push({ start, pages, offset: this.out });
    this.lastRun = run;
    this.out += pages * PAGE_SIZE;
  }

  private addZero(start: number, len: number): void {
    if (len <= 0) return;
    this.zeroBytes += len;
    const last = this.zero[this.zero.length - 1];
    if (last && last[1] === start) last[1] += len;
    else this.zero.push([start, start + len]);
  }
}

export interface CopyOutResult { entries: PagemapEntry[]; chunkCrcs: number[]; bytes: number; zero: Array<[number, number]> }

/** crc32 of each CHUNK_BYTES of a file written front to back in pieces of any size. */
export class ChunkCrcs {
  readonly crcs: number[] = [];
  private cur = 0;
  private fill = 0;

  add(data: Buffer): void {
    for (let at = 0; at < data.length; ) {
      const n = Math.min(data.length - at, CHUNK_BYTES - this.fill);
      this.cur = crc32(data.subarray(at, at + n), this.cur);
      this.fill += n;
      at += n;
      if (this.fill === CHUNK_BYTES) this.end();
    }
  }

  /** The checksums, the last partial chunk's included. */
  finish(): number[] {
    if (this.fill) this.end();
    return this.crcs;
  }

  private end(): void { this.crcs.push(this.cur); this.cur = 0; this.fill = 0; }
}

/**
 * Copy the runs' pages into a segment file, dense (see dense.ts): one window of the process's
 * memory read at a time, what holds something written after what came before.
 */
export function copyOut(pid: number, path: string, runs: PageRun[], tolerant = false): CopyOutResult {
  const wanted = runs.reduce((n, r) => n + (r.zero ? 0 : r.pages * PAGE_SIZE), 0);
  const fd = openSync(path, 'w', 0o600);
  const crcs = new ChunkCrcs();
  const reader = new DenseReader(pid, runs, tolerant);
  try {
    const buf = Buffer.allocUnsafe(Math.min(WINDOW, Math.max(wanted, PAGE_SIZE)));
    for (let off = 0; ; ) {
      // a page is enough: each read takes a whole window, whatever is left of it after the zeros goes out
      const n = reader.fill(buf, 0, PAGE_SIZE);
      if (!n) break;
      crcs.add(buf.subarray(0, n));
      for (let done = 0; done < n; ) done += writeSync(fd, buf, done, n - done, off + done);
      off += n;
    }
  } finally {
    closeSync(fd);
    reader.close();
  }
  return { entries: reader.entries, chunkCrcs: crcs.finish(), bytes: reader.out, zero: reader.zero };
}
