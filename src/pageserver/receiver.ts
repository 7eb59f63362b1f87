// The destination end of a link's stream: files declared by name (only the names an image uses),
// chunks checked and written where they belong, and at the end a check that every byte of every
// file came exactly once. The link is written into a `.partial` directory that the caller renames
// once the image in it has been read back whole.
//
// This is the seam where a destination can build memory as pages arrive: a ChunkSink other than
// FileSink (one that writes into a waiting seed process's memory) takes the same calls.
import { mkdirSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CHUNK_BYTES } from '../core/image/format.js';
import { GodwitError } from '../core/errors.js';
import { decodeChunk, type DecodedChunk } from './chunk.js';
import { ENC_LZ4, ProtocolError } from './protocol.js';
import { Reclaimer } from './reclaim.js';

/** The files an image directory holds; nothing else may be named by a sender. */
const IMAGE_FILE = /^(?:(?:pages|shmem)-\d{1,10}\.\d{1,2}\.img|ghost-\d{1,10}\.img|(?:inventory|pstree|files|shmem|ipc)\.mpk|(?:core|pagemap|track)-\d{1,10}\.mpk)$/;
export const isImageFileName = (n: string): boolean => IMAGE_FILE.test(n);

/** How many bytes may be decoded or written but not yet done before the socket is paused. */
const HIGH_WATER = 32 << 20;
const LOW_WATER = 8 << 20;
const MAX_FILES = 4096;

export interface ChunkSink {
  open(index: number, name: string): Promise<void>;
  write(index: number, offset: number, data: Buffer): Promise<void>;
  /** every file is whole: give it its final size */
  finish(index: number, size: number): Promise<void>;
  discard(): void;
}

/** Writes each file of the link into `dir`; zero pages are left as holes. */
export class FileSink implements ChunkSink {
  // promises: chunks may come before the open has finished
  private handles = new Map<number, Promise<FileHandle>>();
  constructor(readonly dir: string) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  async open(index: number, name: string): Promise<void> {
    const p = open(join(this.dir, name), 'wx', 0o600);
    this.handles.set(index, p);
    await p;
  }

  // one write at a time per file: parallel writers only spin on the inode's lock
  private queues = new Map<number, Promise<unknown>>();

  write(index: number, offset: number, data: Buffer): Promise<void> {
    const run = async (): Promise<void> => {
      const fh = await this.handles.get(index)!;
      for (let done = 0; done < data.length; ) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
        done += bytesWritten;
      }
    };
    const p = (this.queues.get(index) ?? Promise.resolve()).then(run, run);
    this.queues.set(index, p.catch(() => undefined));
    return p;
  }

  async finish(index: number, size: number): Promise<void> {
    const fh = await this.handles.get(index)!;
    await fh.truncate(size);
    await fh.close();
    this.handles.delete(index);
  }

  discard(): void {
    for (const p of this.handles.values()) void p.then((fh) => fh.close()).catch(() => undefined);
    this.handles.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ReceiveStats { files: number; raw: number; wire: number }

interface FileState { name: string; chunks: Map<number, number> }

export class LinkReceiver {
  readonly stats: ReceiveStats = { files: 0, raw: 0, wire: 0 };
  private files = new Map<number, FileState>();
  private names = new Set<string>();
  private pendingBytes = 0;
  private pending = new Set<Promise<void>>();
  private failure: Error | null = null;
  private reclaim = new Reclaimer();

  /** `pause`/`resume` hold the socket while writes catch up. */
  constructor(private sink: ChunkSink, private flow: { pause(): void; resume(): void }, private onData?: (s: ReceiveStats) => void) {}

  declare(index: number, name: string): void {
    if (!isImageFileName(name)) throw new ProtocolError(`the sender named a file '${name.slice(0, 80)}', which is not part of an image`);
    if (this.files.has(index) || this.names.has(name)) throw new ProtocolError(`file ${index} (${name}) declared twice`);
    if (this.files.size >= MAX_FILES) throw new ProtocolError('too many files in one link');
    this.files.set(index, { name, chunks: new Map() });
    this.names.add(name);
    this.stats.files++;
    this.track(this.sink.open(index, name));
  }

  /** Take a binary message: it is checked at once; its writing goes on in the background, bounded. */
  chunk(frame: Buffer): void {
    if (this.failure) return;
    let c: DecodedChunk;
    try {
      c = decodeChunk(frame);
      const f = this.files.get(c.header.file);
      if (!f) throw new ProtocolError(`page chunk for undeclared file ${c.header.file}`);
      if (c.header.offset % CHUNK_BYTES !== 0) throw new ProtocolError(`page chunk at ${c.header.offset}: not on a chunk boundary`);
      if (f.chunks.has(c.header.offset)) throw new ProtocolError(`page chunk at ${c.header.offset} of ${f.name} came twice`);
      f.chunks.set(c.header.offset, c.header.rawLength);
    } catch (e) {
      this.failure ??= asError(e);
      return;
    }
    const { header, raw, data } = c;
    const job = (async () => {
      for (const [s, e] of data) await this.sink.write(header.file, header.offset + s, raw.subarray(s, e));
      this.stats.raw += header.rawLength;
      this.stats.wire += frame.length;
      this.reclaim.add(header.rawLength, header.encoding === ENC_LZ4 ? header.plainLength : 0);
      this.onData?.(this.stats);
    })();
    // what is held until written: the frame, and the raw bytes when they were rebuilt apart from it
    const held = frame.length + (raw.buffer === frame.buffer ? 0 : raw.length);
    this.pendingBytes += held;
    if (this.pendingBytes > HIGH_WATER) this.flow.pause();
    this.track(job.finally(() => {
      this.pendingBytes -= held;
      if (this.pendingBytes <= LOW_WATER) this.flow.resume();
    }));
  }

  private track(p: Promise<void>): void {
    const q: Promise<void> = p.catch((e: unknown) => { this.failure ??= asError(e); }).finally(() => this.pending.delete(q));
    this.pending.add(q);
  }

  /** The sender says it is done: wait for every write, then check every file came whole. */
  async end(sizes: Array<{ index: number; size: number }>): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
    if (this.failure) throw this.failure;
    if (sizes.length !== this.files.size) throw new ProtocolError(`the sender ended with ${sizes.length} files, it declared ${this.files.size}`);
    for (const { index, size } of sizes) {
      const f = this.files.get(index);
      if (!f) throw new ProtocolError(`end names undeclared file ${index}`);
      const want = Math.ceil(size / CHUNK_BYTES);
      if (f.chunks.size !== want) throw new GodwitError(`${f.name}: ${f.chunks.size} chunks arrived, ${want} expected: the stream lost data`);
      for (const [off, len] of f.chunks) {
        if (off >= size || len !== Math.min(CHUNK_BYTES, size - off)) throw new GodwitError(`${f.name}: chunk at ${off} does not fit the file's size ${size}`);
      }
      await this.sink.finish(index, size);
    }
  }

  discard(): void {
    this.failure ??= new GodwitError('discarded');
    this.sink.discard();
  }
}

function asError(e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOSPC') return new GodwitError('the destination\'s state directory is full (ENOSPC)');
  if (err?.code === 'EDQUOT') return new GodwitError('the destination\'s disk quota is exhausted (EDQUOT)');
  return e instanceof Error ? e : new Error(String(e));
}
