// One chunk of a file on the wire: zero pages are dropped (a bitmap says where they were), the
// rest is lz4-compressed when that pays, and the crc32 of the raw bytes rides along so the
// receiver checks what it rebuilt before it writes a byte.
import { crc32 } from 'node:zlib';
import { compress, compressSync, uncompress } from 'lz4-napi';
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

/** Decides per chunk whether lz4 pays, from a small sample first so incompressible data costs little. */
export class Compressor {
  constructor(private mode: Compression) {}

  async pack(plain: Buffer): Promise<{ data: Buffer; lz4: boolean }> {
    if (this.mode === 'none' || plain.length < 1024) return { data: plain, lz4: false };
    if (this.mode === 'auto' && plain.length > SAMPLE * 2) {
      const mid = Math.floor(plain.length / 2 / PAGE_SIZE) * PAGE_SIZE;
      const sample = compressSync(plain.subarray(mid, mid + SAMPLE));
      if (sample.length > SAMPLE * WORTH) return { data: plain, lz4: false };
    }
    const c = await compress(plain);
    if (this.mode === 'auto' && c.length > plain.length * WORTH) return { data: plain, lz4: false };
    return { data: c, lz4: true };
  }
}

/**
 * Build the binary message for the `rawLength` bytes at CHUNK_HEADER in `buf`. When they go as
 * they are, the header is written in front of them and `buf` itself is the message (`inPlace`):
 * no copy of the common case.
 */
export async function encodeChunk(
  buf: Buffer, rawLength: number, file: number, offset: number, comp: Compressor, crc?: number,
): Promise<{ frame: Buffer; stats: ChunkStats; inPlace: boolean }> {
  const raw = buf.subarray(CHUNK_HEADER, CHUNK_HEADER + rawLength);
  crc ??= crc32(raw);
  const pages = Math.ceil(raw.length / PAGE_SIZE);
  const bitmap = Buffer.alloc(Math.ceil(pages / 8));
  let nonZero = 0;
  for (let i = 0; i < pages; i++) {
    const page = raw.subarray(i * PAGE_SIZE, Math.min((i + 1) * PAGE_SIZE, raw.length));
    if (page.length === PAGE_SIZE ? !page.equals(ZERO_PAGE) : page.some((x) => x !== 0)) {
      bitmap[i >> 3]! |= 1 << (i & 7);
      nonZero++;
    }
  }
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
  const packed = await comp.pack(plain);
  h.encoding = packed.lz4 ? ENC_LZ4 : ENC_RAW;
  h.plainLength = plain.length;
  h.payloadLength = packed.data.length;
  if (packed.data === raw) {
    writeChunkHeader(buf, h);
    return { frame: buf.subarray(0, CHUNK_HEADER + rawLength), stats: { ...stats, wire: stats.wire + rawLength }, inPlace: true };
  }
  const frame = Buffer.allocUnsafe(CHUNK_HEADER + packed.data.length);
  writeChunkHeader(frame, h);
  packed.data.copy(frame, CHUNK_HEADER);
  stats.wire += packed.data.length;
  if (packed.lz4) stats.compressed = plain.length;
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
export async function decodeChunk(frame: Buffer): Promise<DecodedChunk> {
  const header = readChunkHeader(frame);
  if (header.flags & FLAG_ZERO) {
    const raw = Buffer.alloc(header.rawLength);
    if (crc32(raw) !== header.crc) throw new ProtocolError(`page chunk at ${header.offset}: checksum mismatch`);
    return { header, raw, data: [] };
  }
  let plain = frame.subarray(CHUNK_HEADER);
  if (header.encoding === ENC_LZ4) {
    try {
      plain = await uncompress(plain);
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
