// Page data files. Pages move between a process and its image file through a window of the file
// mapped into the agent: process_vm_readv copies straight from the process into the file's pages
// (and process_vm_writev back out on restore), one copy, in calls of up to 1024 ranges. The window
// is unmapped after each step, so the agent's memory does not grow with the process.
import { openSync, closeSync, ftruncateSync, fstatSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import koffi from 'koffi';
import { localMmap, localMunmap, PROT, MAP, PAGE_SIZE } from '../sys/mman.js';
import { processVm } from '../sys/process.js';
import { CHUNK_BYTES, type PagemapEntry } from './format.js';
import { ImageError, GodwitError } from '../errors.js';

const WINDOW = 64 << 20; // a multiple of CHUNK_BYTES

/** One run of pages to copy; `force` runs go through /proc/PID/mem (not readable by the process). */
export interface PageRun { start: number; pages: number; force?: boolean }

function viewOf(ptr: bigint, len: number): Buffer {
  return Buffer.from(koffi.view(Number(ptr), len) as ArrayBuffer);
}

/** Split runs at window boundaries of the file they are laid out in, sequentially from `base`. */
function* windows(runs: PageRun[], base: number): Generator<{ off: number; len: number; parts: Array<{ run: PageRun; addr: number; len: number; fileOff: number }> }> {
  let fileOff = base;
  let cur: { off: number; len: number; parts: Array<{ run: PageRun; addr: number; len: number; fileOff: number }> } | null = null;
  for (const run of runs) {
    let addr = run.start;
    let left = run.pages * PAGE_SIZE;
    while (left > 0) {
      const winStart = Math.floor(fileOff / WINDOW) * WINDOW;
      if (!cur || cur.off !== winStart) {
        if (cur) yield cur;
        cur = { off: winStart, len: 0, parts: [] };
      }
      const n = Math.min(left, winStart + WINDOW - fileOff);
      cur.parts.push({ run, addr, len: n, fileOff });
      cur.len = fileOff + n - winStart;
      addr += n; fileOff += n; left -= n;
    }
  }
  if (cur) yield cur;
}

export class PageFileWriter {
  private fd: number;
  private size = 0;
  private crcs: number[] = [];
  private written = false;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w+', 0o600);
  }

  /**
   * Copy the runs out of `pid` into the file, in order; returns where each went. Called once per
   * file, so windows and checksum chunks both start at offset 0 and every chunk lies in one window.
   */
  write(pid: number, runs: PageRun[], memFd?: number): PagemapEntry[] {
    if (this.written) throw new Error('PageFileWriter.write called twice');
    this.written = true;
    const entries: PagemapEntry[] = [];
    let off = 0;
    for (const r of runs) { entries.push({ start: r.start, pages: r.pages, offset: off }); off += r.pages * PAGE_SIZE; }
    if (off === 0) return entries;
    ftruncateSync(this.fd, off);
    this.size = off;
    for (const w of windows(runs, 0)) {
      const map = localMmap(w.len, PROT.READ | PROT.WRITE, MAP.SHARED, this.fd, w.off);
      try {
        const plain = w.parts.filter((p) => !p.run.force);
        // consecutive file offsets: one local iovec covers a whole batch of remote ranges
        for (const batch of batches(plain)) {
          const want = batch.reduce((s, p) => s + p.len, 0);
          const got = processVm(false, pid, map + BigInt(batch[0]!.fileOff - w.off), batch.map((p) => [p.addr, p.len]));
          if (got !== want) throw new GodwitError(`pid ${pid}: memory at 0x${batch[0]!.addr.toString(16)} could not be read (${got} of ${want} bytes)`);
        }
        for (const p of w.parts.filter((q) => q.run.force)) {
          if (memFd === undefined) throw new Error('forced page run without /proc/PID/mem');
          const view = viewOf(map + BigInt(p.fileOff - w.off), p.len);
          for (let done = 0; done < p.len; ) {
            const n = readSync(memFd, view, done, p.len - done, p.addr + done);
            if (n <= 0) throw new GodwitError(`pid ${pid}: memory at 0x${(p.addr + done).toString(16)} could not be read`);
            done += n;
          }
        }
        for (let c = w.off; c < w.off + w.len; c += CHUNK_BYTES) {
          this.crcs.push(crc32(viewOf(map + BigInt(c - w.off), Math.min(CHUNK_BYTES, w.off + w.len - c))));
        }
      } finally {
        localMunmap(map, w.len);
      }
    }
    return entries;
  }

  get bytes(): number { return this.size; }
  get chunkCrcs(): number[] { return this.crcs; }
  close(): void { closeSync(this.fd); }
}

type Part = { addr: number; len: number; fileOff: number };

/** Parts contiguous in the file, at most IOV_MAX at a time: one process_vm_* call each. */
function* batches<P extends Part>(parts: P[]): Generator<P[]> {
  for (let i = 0; i < parts.length; ) {
    let j = i + 1;
    while (j < parts.length && j - i < 1024 && parts[j]!.fileOff === parts[j - 1]!.fileOff + parts[j - 1]!.len) j++;
    yield parts.slice(i, j);
    i = j;
  }
}

export class PageFileReader {
  private fd: number;
  readonly size: number;

  constructor(readonly path: string, expectPages: number, private crcs: number[]) {
    try {
      this.fd = openSync(path, 'r');
    } catch {
      throw new ImageError(path, 'missing');
    }
    this.size = fstatSync(this.fd).size;
    if (this.size !== expectPages * PAGE_SIZE) {
      closeSync(this.fd);
      throw new ImageError(path, `holds ${this.size} bytes, the pagemap says ${expectPages * PAGE_SIZE}: truncated or damaged`);
    }
    if (crcs.length !== Math.ceil(this.size / CHUNK_BYTES)) {
      closeSync(this.fd);
      throw new ImageError(path, 'chunk checksum list does not match the file size');
    }
  }

  /** Copy page runs (laid out by `entries`) into process `pid`, verifying every chunk first. */
  copyTo(pid: number, entries: PagemapEntry[]): void {
    const sorted = [...entries].sort((a, b) => a.offset - b.offset);
    const runs = sorted.map((e) => ({ start: e.start, pages: e.pages }));
    if (!runs.length) return;
    for (const w of windows(runs, sorted[0]!.offset)) {
      const map = localMmap(w.len, PROT.READ, MAP.SHARED, this.fd, w.off);
      try {
        this.verify(map, w.off, w.len);
        for (const batch of batches(w.parts)) {
          const want = batch.reduce((s, p) => s + p.len, 0);
          const got = processVm(true, pid, map + BigInt(batch[0]!.fileOff - w.off), batch.map((p) => [p.addr, p.len]));
          if (got !== want) throw new GodwitError(`pid ${pid}: could not write memory at 0x${batch[0]!.addr.toString(16)}`);
        }
      } finally {
        localMunmap(map, w.len);
      }
    }
  }

  private verify(map: bigint, winOff: number, winLen: number): void {
    const first = Math.floor(winOff / CHUNK_BYTES);
    const last = Math.ceil((winOff + winLen) / CHUNK_BYTES);
    for (let c = first; c < last; c++) {
      const from = c * CHUNK_BYTES;
      const to = Math.min(from + CHUNK_BYTES, this.size);
      if (from < winOff || to > winOff + winLen) {
        // the chunk straddles windows: check it through a read of its own
        const b = Buffer.alloc(to - from);
        readSync(this.fd, b, 0, b.length, from);
        if (crc32(b) !== this.crcs[c]) throw new ImageError(this.path, `chunk ${c} checksum mismatch: the page data is damaged`);
        continue;
      }
      if (crc32(viewOf(map + BigInt(from - winOff), to - from)) !== this.crcs[c]) {
        throw new ImageError(this.path, `chunk ${c} checksum mismatch: the page data is damaged`);
      }
    }
  }

  close(): void { closeSync(this.fd); }
}
