// One chunk of a file on the wire: zero pages are dropped (a bitmap says where they were), the
// rest is lz4-compressed when that pays, and the crc32 of the raw bytes rides along so the
// receiver checks what it rebuilt before it writes a byte.
import { crc32 } from 'node:zlib';
import { compressSync, uncompressSync } from 'lz4-napi';
import { PAGE_SIZE } from '../core/sys/mman.js';
import {
  CHUNK_HEADER, ENC_LZ4, ENC_RAW, FLAG_SPARSE, FLAG_ZERO, ProtocolError, readChunkHeader, writeChunkHeader,
  type ChunkHeader, type Compression,
} from './protocol.js';

const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);
/** lz4 is kept only when it saves at least this share of the bytes */
const WORTH = 0.875;
const SAMPLE = 64 * 1024;

export interface ChunkStats { raw: number; zero: number; wire: number; compressed: number }

const CYCLE = 256;
/**
 * chunks of each trial; the first SETTLE of them only let the pipeline adjust to the change: the
 * queues between here and the destination's disk hold some 50 MiB, which a change of mode first
 * fills or drains
 */
const TRIAL = 24;
const SETTLE = 12;
const WARM = 8;

/**
 * Whether lz4 pays, decided twice over in 'auto' mode. Per chunk: a small sample is compressed
 * first, and a chunk whose sample does not shrink goes raw, so incompressible data costs little.
 * Per link: compressing is worth it only when the link is slower than lz4 on this CPU, which
 * only the stream itself can tell; so every CYCLE chunks, once the pipeline runs full, a trial
 * sends TRIAL chunks each way, and lz4 is kept until the next trial if it moved page data at
 * least 25% faster: the windows are short and noisy, and compressing costs this host CPU that
 * only a clear gain repays.
 */
export class Compressor {
  private n = 0;
  private t0 = 0;
  private bytes = 0;
  private rate = { lz4: 0, raw: 0 };
  private chosen: 'lz4' | 'raw' = 'raw';

  constructor(private mode: Compression) {}

  private pick(len: number): 'lz4' | 'raw' {
    const i = this.n++ % CYCLE;
    const now = performance.now();
    const lz4From = WARM, rawFrom = WARM + TRIAL, end = WARM + 2 * TRIAL;
    if (i === lz4From + SETTLE || i === rawFrom + SETTLE) { this.t0 = now; this.bytes = 0; }
    if (i === rawFrom) this.rate.lz4 = this.bytes / Math.max(1e-3, now - this.t0);
    if (i === end) {
      this.rate.raw = this.bytes / Math.max(1e-3, now - this.t0);
      this.chosen = this.rate.lz4 > this.rate.raw * 1.25 ? 'lz4' : 'raw';
    }
    this.bytes += len;
    if (i >= lz4From && i < rawFrom) return 'lz4';
    if (i >= rawFrom && i < end) return 'raw';
    return this.chosen;
  }

  pack(plain: Buffer): { data: Buffer; lz4: boolean } {
    if (this.mode === 'none' || plain.length < 1024) return { data: plain, lz4: false };
    if (this.mode === 'auto') {
      if (this.pick(plain.length) === 'raw') return { data: plain, lz4: false };
      if (plain.length > SAMPLE * 2) {
        const mid = Math.floor(plain.length / 2 / PAGE_SIZE) * PAGE_SIZE;
        const sample = compressSync(plain.subarray(mid, mid + SAMPLE));
        if (sample.length > SAMPLE * WORTH) return { data: plain, lz4: false };
      }
    }
    // on this thread: lz4-napi's async calls allocate their output in the thread pool's malloc
    // arenas, which keep the memory after it is freed, and the agent would grow with each stream
    const c = compressSync(plain);
    if (c.length > plain.length * WORTH) return { data: plain, lz4: false };
    return { data: c, lz4: true };
  }
}

/**
 * Set a bit in `bitmap` for every page of `raw` that is not all zero; returns how many. Most
 * pages give themselves away by their first word; only the others are compared whole.
 */
export function zeroPageMap(raw: Buffer, bitmap: Buffer): number {
  const pages = Math.ceil(raw.length / PAGE_SIZE);
  const words = raw.byteOffset % 4 === 0 ? new Uint32Array(raw.buffer, raw.byteOffset, Math.floor(raw.length / 4)) : null;
  let nonZero = 0;
  for (let i = 0; i < pages; i++) {
    const off = i * PAGE_SIZE;
    const end = Math.min(off + PAGE_SIZE, raw.length);
    let used: boolean;
    if (words && end - off === PAGE_SIZE && (words[off >> 2]! | words[(off >> 2) + 1]!) !== 0) used = true;
    else if (end - off === PAGE_SIZE) used = raw.compare(ZERO_PAGE, 0, PAGE_SIZE, off, end) !== 0;
    else used = raw.subarray(off, end).some((x) => x !== 0);
    if (used) { bitmap[i >> 3]! |= 1 << (i & 7); nonZero++; }
  }
  return nonZero;
}

/**
 * Build the binary message for the `rawLength` bytes at CHUNK_HEADER in `buf`. When they go as
 * they are, the header is written in front of them and `buf` itself is the message (`inPlace`):
 * no copy of the common case.
 */
export function encodeChunk(
  buf: Buffer, rawLength: number, file: number, offset: number, comp: Compressor, crc: number,
): { frame: Buffer; stats: ChunkStats; inPlace: boolean } {
  const raw = buf.subarray(CHUNK_HEADER, CHUNK_HEADER + rawLength);
  const pages = Math.ceil(raw.length / PAGE_SIZE);
  const bitmap = Buffer.alloc(Math.ceil(pages / 8));
  const nonZero = zeroPageMap(raw, bitmap);
  const h: ChunkHeader = { encoding: ENC_RAW, flags: 0, file, rawLength: raw.length, offset, crc, payloadLength: 0, plainLength: 0 };
  const stats: ChunkStats = { raw: raw.length, zero: (pages - nonZero) * PAGE_SIZE, wire: CHUNK_HEADER, compressed: 0 };
  if (nonZero === 0) {
    h.flags = FLAG_ZERO;
    const frame = Buffer.allocUnsafe(CHUNK_HEADER);
    writeChunkHeader(frame, h);
    return { frame, stats: { ...stats, zero: raw.length }, inPlace: false };
  }
  let plain = raw;
  if (nonZero < pages) {
    h.flags = FLAG_SPARSE;
    plain = Buffer.allocUnsafe(bitmap.length + nonZero * PAGE_SIZE);
    bitmap.copy(plain, 0);
    let at = bitmap.length;
    for (let i = 0; i < pages; i++) {
      if (bitmap[i >> 3]! & (1 << (i & 7))) at += raw.copy(plain, at, i * PAGE_SIZE, Math.min((i + 1) * PAGE_SIZE, raw.length));
    }
    plain = plain.subarray(0, at);
  }
  const packed = comp.pack(plain);
  h.encoding = packed.lz4 ? ENC_LZ4 : ENC_RAW;
  h.plainLength = plain.length;
  h.payloadLength = packed.data.length;
  if (packed.data === raw) {
    writeChunkHeader(buf, h);
    return { frame: buf.subarray(0, CHUNK_HEADER + rawLength), stats: { ...stats, wire: stats.wire + rawLength }, inPlace: true };
  }
  stats.wire += packed.data.length;
  if (packed.lz4) stats.compressed = plain.length;
  // the raw bytes are no longer needed: the message is built in their place, and no new
  // Buffer waits for a collection (a sparse map that went uncompressed still lives apart)
  if (packed.lz4 || packed.data.length <= rawLength) {
    packed.data.copy(buf, CHUNK_HEADER);
    writeChunkHeader(buf, h);
    return { frame: buf.subarray(0, CHUNK_HEADER + packed.data.length), stats, inPlace: true };
  }
  const frame = Buffer.allocUnsafe(CHUNK_HEADER + packed.data.length);
  writeChunkHeader(frame, h);
  packed.data.copy(frame, CHUNK_HEADER);
  return { frame, stats, inPlace: false };
}

export interface DecodedChunk {
  header: ChunkHeader;
  /** the raw bytes, zero pages included */
  raw: Buffer;
  /** runs [start, end) of bytes in `raw` that are not zero pages: only these need writing */
  data: Array<[number, number]>;
}

/** Undo encodeChunk and check the crc; throws ProtocolError for anything that does not add up. */
export function decodeChunk(frame: Buffer): DecodedChunk {
  const header = readChunkHeader(frame);
  if (header.flags & FLAG_ZERO) {
    const raw = Buffer.alloc(header.rawLength);
    if (crc32(raw) !== header.crc) throw new ProtocolError(`page chunk at ${header.offset}: checksum mismatch`);
    return { header, raw, data: [] };
  }
  let plain = frame.subarray(CHUNK_HEADER);
  if (header.encoding === ENC_LZ4) {
    try {
      plain = uncompressSync(plain);
    } catch {
      throw new ProtocolError(`page chunk at ${header.offset}: lz4 data does not decode`);
    }
  }
  if (plain.length !== header.plainLength) throw new ProtocolError(`page chunk at ${header.offset}: ${plain.length} bytes decoded, header says ${header.plainLength}`);
  const data: Array<[number, number]> = [];
  let raw = plain;
  if (header.flags & FLAG_SPARSE) {
    raw = Buffer.alloc(header.rawLength);
    const pages = Math.ceil(header.rawLength / PAGE_SIZE);
    const bm = Math.ceil(pages / 8);
    let at = bm;
    for (let i = 0; i < pages; i++) {
      if (!(plain[i >> 3]! & (1 << (i & 7)))) continue;
      const s = i * PAGE_SIZE, e = Math.min(s + PAGE_SIZE, header.rawLength);
      if (at + e - s > plain.length) throw new ProtocolError(`page chunk at ${header.offset}: its page map names more pages than it carries`);
      plain.copy(raw, s, at, at + e - s);
      at += e - s;
      const last = data[data.length - 1];
      if (last && last[1] === s) last[1] = e; else data.push([s, e]);
    }
    if (at !== plain.length) throw new ProtocolError(`page chunk at ${header.offset}: ${plain.length - at} bytes beyond its pages`);
  } else {
    if (plain.length !== header.rawLength) throw new ProtocolError(`page chunk at ${header.offset}: ${plain.length} bytes for ${header.rawLength}`);
    data.push([0, raw.length]);
  }
  if (crc32(raw) !== header.crc) throw new ProtocolError(`page chunk at ${header.offset} of file ${header.file}: checksum mismatch`);
  return { header, raw, data };
}
