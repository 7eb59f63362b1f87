// Moving page data between a process and one segment file, through one bounded buffer:
// process_vm_readv out (dense.ts writes what it reads), pread + process_vm_writev in, up to 1024
// ranges per call. Pure synchronous functions, run by the page stream workers (or inline for
// small jobs).
import { openSync, closeSync, readSync, fstatSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { processVm, IOV_MAX } from '../sys/process.js';
import { addr } from '../sys/libc.js';
import { PAGE_SIZE } from '../sys/mman.js';
import { readMaps, type ProcVma } from '../proc/smaps.js';
import { CHUNK_BYTES, type PagemapEntry } from './format.js';

export const WINDOW = 4 * CHUNK_BYTES; // 16 MiB: the memory a stream holds, whatever the process size
const READ_GAP = 64 << 10;

/**
 * A run of pages; `force` runs go through /proc/PID/mem (not readable by the process itself);
 * `zero` runs are known to read zero (see DirtyTracker.lastZero) and are recorded, not read.
 */
export interface PageRun { start: number; pages: number; force?: boolean; zero?: boolean }

export interface Part { addr: number; len: number; fileOff: number; force: boolean }
export interface Slice { off: number; len: number; parts: Part[] }

/** The parts of each `window`-sized slice of the file, in file order. */
export function* slices(entries: Array<PagemapEntry & { force?: boolean }>, window = WINDOW): Generator<Slice> {
  let cur: { off: number; len: number; parts: Part[] } | null = null;
  for (const e of entries) {
    let a = e.start, off = e.offset, left = e.pages * PAGE_SIZE;
    while (left > 0) {
      const w = Math.floor(off / window) * window;
      if (!cur || cur.off !== w) {
        if (cur) yield cur;
        cur = { off: w, len: 0, parts: [] };
      }
      const n = Math.min(left, w + window - off);
      cur.parts.push({ addr: a, len: n, fileOff: off, force: !!e.force });
      cur.len = off + n - w;
      a += n; off += n; left -= n;
    }
  }
  if (cur) yield cur;
}

/**
 * `tolerant`: the process runs while we read it (a pre-dump), so a range may vanish under us; its
 * bytes are left zero. That is safe: the tracker then sees a new mapping there, and the next link
 * or the dump supersedes whatever this one holds for it. Only the vanished bytes: a run can span
 * mappings that were one when the pages were collected, and the rest of it is still the only copy
 * (zeroing a whole run after the first hole lost live pages of the pre-dump chain).
 */
function vmBatches(write: boolean, pid: number, buf: Buffer, base: number, parts: Part[], tolerant = false): void {
  const bufAddr = addr(buf);
  for (let i = 0; i < parts.length; ) {
    let j = i + 1;
    while (j < parts.length && j - i < IOV_MAX && parts[j]!.fileOff === parts[j - 1]!.fileOff + parts[j - 1]!.len) j++;
    const batch = parts.slice(i, j);
    const want = batch.reduce((s, p) => s + p.len, 0);
    const read = () => processVm(write, pid, bufAddr + BigInt(batch[0]!.fileOff - base), batch.map((p) => [p.addr, p.len]));
    let got: number;
    // EFAULT with nothing read: a hole at the very start, which `tolerant` reads around too
    try { got = read(); } catch (e) { if (!tolerant) throw e; got = -1; }
    if (got !== want && tolerant) {
      for (const p of batch) readAround(pid, buf, p.fileOff - base, p.addr, p.len);
    } else if (got !== want) {
      throw new Error(`pid ${pid}: ${write ? 'writing' : 'reading'} memory at 0x${batch[0]!.addr.toString(16)} stopped after ${got} of ${want} bytes`);
    }
    i = j;
  }
}

/**
 * Read [at, at+len) of a running process into buf at `off`, leaving zero only what cannot be read:
 * after a short read, the maps say where memory starts again. The slow path of a rare race, so
 * one read of the maps per hole is fine.
 */
function readAround(pid: number, buf: Buffer, off: number, at: number, len: number): void {
  const bufAddr = addr(buf);
  let vmas: ProcVma[] | undefined;
  for (let done = 0; done < len; ) {
    let n = 0;
    try { n = processVm(false, pid, bufAddr + BigInt(off + done), [[at + done, len - done]]); } catch { n = 0; }
    done += n;
    if (done >= len) break;
    const hole = at + done;
    try { vmas ??= readMaps(pid); } catch { vmas = []; }
    const v = vmas.find((x) => x.end > hole);
    // unmapped: skip to the next mapping; mapped but not readable now: skip it; else one page
    const to = !v ? at + len : v.start > hole ? v.start : !v.read ? v.end : hole + PAGE_SIZE;
    const end = Math.min(to, at + len) - at;
    buf.fill(0, off + done, off + end);
    done = end;
  }
}

/** Reads a process's memory into slice buffers; /proc/PID/mem is opened once, when first needed. */
export class SliceReader {
  private memFd = -1;
  constructor(private pid: number, private tolerant: boolean) {}

  read(buf: Buffer, s: Slice): void {
    vmBatches(false, this.pid, buf, s.off, s.parts.filter((p) => !p.force), this.tolerant);
    for (const p of s.parts.filter((q) => q.force)) {
      if (this.memFd < 0) this.memFd = openSync(`/proc/${this.pid}/mem`, 'r');
      for (let done = 0; done < p.len; ) {
        const n = readSync(this.memFd, buf, p.fileOff - s.off + done, p.len - done, p.addr + done);
        if (n <= 0) throw new Error(`pid ${this.pid}: memory at 0x${(p.addr + done).toString(16)} could not be read`);
        done += n;
      }
    }
  }

  close(): void {
    if (this.memFd >= 0) closeSync(this.memFd);
    this.memFd = -1;
  }
}

/** Why a segment file cannot be used, or null when its size and checksum count fit. */
export function checkSegment(path: string, totalPages: number, chunkCrcs: number[]): string | null {
  let size: number;
  try {
    const fd = openSync(path, 'r');
    size = fstatSync(fd).size;
    closeSync(fd);
  } catch {
    return 'missing';
  }
  if (size !== totalPages * PAGE_SIZE) return `holds ${size} bytes where ${totalPages * PAGE_SIZE} were written: truncated or damaged`;
  if (chunkCrcs.length !== Math.ceil(size / CHUNK_BYTES)) return 'its checksum list does not match its size';
  return null;
}

/**
 * Copy a segment into process `pid`, checking every chunk before any of it is written; with no
 * checksums (the file was checked as it arrived), only the pages wanted are read.
 */
export function copyIn(pid: number, path: string, entries: PagemapEntry[], chunkCrcs: number[] | null): void {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(Math.min(WINDOW, Math.max(size, PAGE_SIZE)));
    const fill = (at: number, off: number, len: number): void => {
      for (let done = 0; done < len; ) {
        const n = readSync(fd, buf, at + done, len - done, off + done);
        if (n <= 0) throw new Error(`${path}: unexpected end of file at ${off + done}`);
        done += n;
      }
    };
    for (const s of slices([...entries].sort((a, b) => a.offset - b.offset))) {
      if (!chunkCrcs) {
        // one read per cluster of wanted pages: gaps up to READ_GAP are read through, not skipped
        for (let i = 0; i < s.parts.length; ) {
          const from = s.parts[i]!.fileOff;
          let to = from + s.parts[i]!.len;
          for (i++; i < s.parts.length && s.parts[i]!.fileOff - to <= READ_GAP; i++) to = Math.max(to, s.parts[i]!.fileOff + s.parts[i]!.len);
          fill(from - s.off, from, to - from);
        }
      } else {
        // read whole checksum chunks even when only some of their pages are wanted
        const len = Math.min(Math.ceil(s.len / CHUNK_BYTES) * CHUNK_BYTES, size - s.off);
        fill(0, s.off, len);
        for (let c = 0; c < len; c += CHUNK_BYTES) {
          const idx = (s.off + c) / CHUNK_BYTES;
          if (crc32(buf.subarray(c, Math.min(c + CHUNK_BYTES, len))) !== chunkCrcs[idx]) {
            throw new Error(`${path}: chunk ${idx} checksum mismatch: the page data is damaged`);
          }
        }
      }
      vmBatches(true, pid, buf, s.off, s.parts);
    }
  } finally {
    closeSync(fd);
  }
}
