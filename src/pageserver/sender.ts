// The source end of a link's stream: a PageWriter that reads the process's memory a chunk at a
// time and sends it to the destination agent instead of writing segment files, then the link's
// records. Memory in use is the buffer pool, whatever the size of the process.
import { readdirSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { PageRun } from '../core/image/page-copy.js';
import { DenseReader } from '../core/image/dense.js';
import type { PageWriter } from '../core/image/page-streams.js';
import { CHUNK_BYTES, type PageSegment } from '../core/image/format.js';
import { PAGE_SIZE } from '../core/sys/mman.js';
import { GodwitError } from '../core/errors.js';
import { Compressor, encodeChunk, type ChunkStats } from './chunk.js';
import { CHUNK_HEADER, type Compression } from './protocol.js';
import type { Channel } from './channel.js';
import { Reclaimer } from './reclaim.js';

const POOL = 6;
/**
 * Room past a chunk in each buffer: pages are read a window at a time and their zero pages left
 * out (see dense.ts), so a chunk fills up by an unknown amount per read; the slack keeps every
 * read large, and what spills past the chunk starts the next one.
 */
const SLACK = 1 << 20;

export interface StreamStats {
  files: number; raw: number; zero: number; wire: number; compressed: number; chunks: number;
  /** page data the stream has started on so far: what `raw` is heading for */
  planned: number;
  /** of `raw`, the process's pages (the rest is the link's records) */
  pages: number;
}

class BufferPool {
  private free: Buffer[] = [];
  private waiting: Array<(b: Buffer) => void> = [];
  private made = 0;

  async get(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return b;
    if (this.made < POOL) { this.made++; return Buffer.allocUnsafe(CHUNK_HEADER + CHUNK_BYTES + SLACK); }
    return new Promise((r) => this.waiting.push(r));
  }

  put(b: Buffer): void {
    const w = this.waiting.shift();
    if (w) w(b); else this.free.push(b);
  }
}

export class LinkSender implements PageWriter {
  readonly stats: StreamStats = { files: 0, raw: 0, zero: 0, wire: 0, compressed: 0, chunks: 0, planned: 0, pages: 0 };
  private files: Array<{ name: string; size: number }> = [];
  private pool = new BufferPool();
  private comp: Compressor;
  private reclaim = new Reclaimer();

  private t0 = performance.now();

  /** `rate`: bytes per second on the wire at most (an operator's --bandwidth), 0 for no limit */
  constructor(private channel: Channel, compression: Compression, private signal?: AbortSignal, private onChunk?: (s: StreamStats) => void, private rate = 0) {
    this.comp = new Compressor(compression);
  }

  private async pace(): Promise<void> {
    if (!this.rate) return;
    const wait = this.t0 + (this.stats.wire / this.rate) * 1000 - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }

  private declare(name: string): number {
    const index = this.files.length;
    this.files.push({ name, size: 0 });
    this.stats.files++;
    this.channel.send({ t: 'file', index, name });
    return index;
  }

  private account(s: ChunkStats): void {
    this.stats.raw += s.raw; this.stats.zero += s.zero; this.stats.wire += s.wire; this.stats.compressed += s.compressed; this.stats.chunks++;
    this.reclaim.add(s.raw, s.compressed ? s.wire : 0);
    this.onChunk?.(this.stats);
  }

  /**
   * Send one file as chunks. Each of `fills` puts a chunk's bytes at CHUNK_HEADER in a pool
   * buffer and says where they lie in the file; the buffer goes back to the pool once the socket
   * has taken it. Reading, checksumming and encoding run here, one chunk after the other: the
   * socket's queue is what lets them overlap with the network.
   */
  private async sendChunks(index: number, fills: Iterable<(into: Buffer) => { off: number; len: number }>, crcs?: number[]): Promise<void> {
    for (const fill of fills) {
      this.signal?.throwIfAborted();
      const buf = await this.pool.get();
      let inPlace = false;
      try {
        const { off, len } = fill(buf.subarray(CHUNK_HEADER));
        if (!len) continue; // the last pages were all zero: nothing left for this chunk
        const crc = crc32(buf.subarray(CHUNK_HEADER, CHUNK_HEADER + len));
        crcs?.push(crc);
        const e = encodeChunk(buf, len, index, off, this.comp, crc);
        this.account(e.stats);
        inPlace = e.inPlace;
        await this.channel.sendBinary(e.frame, inPlace ? () => this.pool.put(buf) : undefined);
      } finally {
        if (!inPlace) this.pool.put(buf);
      }
      await this.pace();
    }
  }

  async write(prefix: string, pid: number, runs: PageRun[], tolerant: boolean): Promise<PageSegment[]> {
    const name = `${prefix}.0.img`;
    const index = this.declare(name);
    const planned = runs.reduce((n, r) => n + (r.zero ? 0 : r.pages * PAGE_SIZE), 0);
    this.stats.planned += planned;
    const crcs: number[] = [];
    const reader = new DenseReader(pid, runs, tolerant);
    const stats = this.stats;
    const carry = Buffer.allocUnsafe(SLACK);
    let carried = 0, off = 0, zeroSeen = 0;
    function* fills(): Generator<(into: Buffer) => { off: number; len: number }> {
      while (carried || !reader.finished) {
        yield (into) => {
          carry.copy(into, 0, 0, carried);
          const n = reader.fill(into, carried, CHUNK_BYTES);
          const len = Math.min(n, CHUNK_BYTES);
          carried = into.copy(carry, 0, len, n);
          // zero pages found are bytes the stream no longer heads for
          stats.planned -= reader.zeroBytes - zeroSeen;
          stats.zero += reader.zeroBytes - zeroSeen;
          zeroSeen = reader.zeroBytes;
          const at = off;
          off += len;
          return { off: at, len };
        };
      }
    }
    try {
      await this.sendChunks(index, fills(), crcs);
    } finally {
      reader.close();
    }
    const size = reader.out;
    this.files[index]!.size = size;
    this.stats.pages += size;
    return [{ file: name, entries: reader.entries, totalPages: size / PAGE_SIZE, chunkCrcs: crcs, ...(reader.zero.length ? { zero: reader.zero } : {}) }];
  }

  /** Send a local file of the link (a record, a ghost file's contents) as it is. */
  async sendFile(dir: string, name: string): Promise<void> {
    const index = this.declare(name);
    const path = join(dir, name);
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      this.stats.planned += size;
      function* fills(): Generator<(into: Buffer) => { off: number; len: number }> {
        for (let off = 0; off < size; off += CHUNK_BYTES) {
          yield (into) => {
            const len = Math.min(CHUNK_BYTES, size - off);
            for (let got = 0; got < len; ) {
              const n = readSync(fd, into, got, len - got, off + got);
              if (n <= 0) throw new GodwitError(`${path} shrank while being sent`);
              got += n;
            }
            return { off, len };
          };
        }
      }
      await this.sendChunks(index, fills());
      this.files[index]!.size = size;
    } finally {
      closeSync(fd);
    }
  }

  /** Send every file the dump wrote locally: records, ghost files. */
  async sendDir(dir: string): Promise<void> {
    for (const f of readdirSync(dir).sort()) await this.sendFile(dir, f);
  }

  /** Say every file is complete; the destination's answer to `receive` follows. */
  async end(): Promise<void> {
    await this.channel.drained();
    this.channel.send({ t: 'end', files: this.files.map((f, index) => ({ index, size: f.size })) });
  }
}
