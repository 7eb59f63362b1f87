// The source end of a link's stream: a PageWriter that reads the process's memory a chunk at a
// time and sends it to the destination agent instead of writing segment files, then the link's
// records. Memory in use is the buffer pool, whatever the size of the process.
import { readdirSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { layOut, slices, SliceReader, type PageRun } from '../core/image/page-copy.js';
import type { PageWriter } from '../core/image/page-streams.js';
import { CHUNK_BYTES, type PageSegment } from '../core/image/format.js';
import { PAGE_SIZE } from '../core/sys/mman.js';
import { GodwitError } from '../core/errors.js';
import { Compressor, encodeChunk, type ChunkStats } from './chunk.js';
import { CHUNK_HEADER, type Compression } from './protocol.js';
import type { Channel } from './channel.js';
import { Reclaimer } from './reclaim.js';

const POOL = 6;
const ENCODING_AHEAD = 3;

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
    if (this.made < POOL) { this.made++; return Buffer.allocUnsafe(CHUNK_HEADER + CHUNK_BYTES); }
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

  constructor(private channel: Channel, compression: Compression, private signal?: AbortSignal, private onChunk?: (s: StreamStats) => void) {
    this.comp = new Compressor(compression);
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

  /** Encode and send the chunk held in `buf`; the buffer goes back to the pool once it is free. */
  private async ship(buf: Buffer, len: number, file: number, offset: number, crc: number): Promise<void> {
    let inPlace = false;
    try {
      const e = await encodeChunk(buf, len, file, offset, this.comp, crc);
      this.account(e.stats);
      inPlace = e.inPlace;
      if (!inPlace) this.pool.put(buf);
      await this.channel.sendBinary(e.frame, inPlace ? () => this.pool.put(buf) : undefined);
    } catch (e) {
      if (!inPlace) this.pool.put(buf);
      throw e;
    }
  }

  /** Run chunk jobs a few at a time; the first failure stops the lot. */
  private async pipeline(jobs: AsyncGenerator<() => Promise<void>>): Promise<void> {
    const running = new Set<Promise<void>>();
    let failed: unknown = null;
    for await (const job of jobs) {
      if (failed) break;
      const p: Promise<void> = job().catch((e: unknown) => { failed ??= e; }).finally(() => running.delete(p));
      running.add(p);
      if (running.size >= ENCODING_AHEAD) await Promise.race(running);
    }
    await Promise.all(running);
    if (failed) throw failed;
  }

  async write(prefix: string, pid: number, runs: PageRun[], tolerant: boolean): Promise<PageSegment[]> {
    const name = `${prefix}.0.img`;
    const index = this.declare(name);
    const entries = layOut(runs);
    const size = entries.reduce((n, e) => n + e.pages * PAGE_SIZE, 0);
    this.stats.planned += size;
    const crcs: number[] = [];
    const reader = new SliceReader(pid, tolerant);
    const self = this;
    async function* jobs(): AsyncGenerator<() => Promise<void>> {
      for (const s of slices(entries, CHUNK_BYTES)) {
        self.signal?.throwIfAborted();
        const buf = await self.pool.get();
        try {
          reader.read(buf.subarray(CHUNK_HEADER), s);
        } catch (e) {
          self.pool.put(buf);
          throw e;
        }
        const crc = crc32(buf.subarray(CHUNK_HEADER, CHUNK_HEADER + s.len));
        crcs.push(crc);
        yield () => self.ship(buf, s.len, index, s.off, crc);
      }
    }
    try {
      await this.pipeline(jobs());
    } finally {
      reader.close();
    }
    this.files[index]!.size = size;
    this.stats.pages += size;
    return [{ file: name, entries: entries.map(({ start, pages, offset }) => ({ start, pages, offset })), totalPages: size / PAGE_SIZE, chunkCrcs: crcs }];
  }

  /** Send a local file of the link (a record, a ghost file's contents) as it is. */
  async sendFile(dir: string, name: string): Promise<void> {
    const index = this.declare(name);
    const fd = openSync(join(dir, name), 'r');
    try {
      const size = fstatSync(fd).size;
      this.stats.planned += size;
      const self = this;
      async function* jobs(): AsyncGenerator<() => Promise<void>> {
        for (let off = 0; off < size; off += CHUNK_BYTES) {
          self.signal?.throwIfAborted();
          const buf = await self.pool.get();
          const len = Math.min(CHUNK_BYTES, size - off);
          for (let got = 0; got < len; ) {
            const n = readSync(fd, buf, CHUNK_HEADER + got, len - got, off + got);
            if (n <= 0) { self.pool.put(buf); throw new GodwitError(`${join(dir, name)} shrank while being sent`); }
            got += n;
          }
          yield () => self.ship(buf, len, index, off, crc32(buf.subarray(CHUNK_HEADER, CHUNK_HEADER + len)));
        }
      }
      await this.pipeline(jobs());
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
