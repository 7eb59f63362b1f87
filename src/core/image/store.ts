// Reading and writing image records. Each file: a header (magic, format version, record kind,
// payload length, crc32) then the msgpack payload. Anything that does not match is refused with
// the file's name and what is wrong, before any of it is used.
import { readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import { ImageError } from '../errors.js';
import { IMAGE_FORMAT_VERSION, READABLE_FORMATS } from './format.js';

const MAGIC = Buffer.from('GODWITIM');
const HEADER = 8 + 4 + 16 + 8 + 4; // magic, version, kind (16 bytes, NUL-padded), length, crc
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });

export function recordPath(dir: string, name: string): string {
  return join(dir, name);
}

export function writeRecord(dir: string, name: string, kind: string, value: unknown): void {
  const payload = packr.pack(value);
  const h = Buffer.alloc(HEADER);
  MAGIC.copy(h, 0);
  h.writeUInt32LE(IMAGE_FORMAT_VERSION, 8);
  h.write(kind.slice(0, 16), 12, 'latin1');
  h.writeBigUInt64LE(BigInt(payload.length), 28);
  h.writeUInt32LE(crc32(payload), 36);
  writeFileSync(join(dir, name), Buffer.concat([h, payload]), { mode: 0o600 });
}

export function readRecord<T>(dir: string, name: string, kind: string): T {
  const file = join(dir, name);
  if (!existsSync(file)) throw new ImageError(file, 'missing');
  const buf = readFileSync(file);
  if (buf.length < HEADER || !buf.subarray(0, 8).equals(MAGIC)) {
    throw new ImageError(file, 'not a godwit image file (bad magic)');
  }
  const version = buf.readUInt32LE(8);
  if (!READABLE_FORMATS.includes(version)) {
    throw new ImageError(file, `image format version ${version}, this godwit reads versions ${READABLE_FORMATS.join(' and ')}`);
  }
  const k = buf.subarray(12, 28).toString('latin1').replace(/\0+$/, '');
  if (k !== kind) throw new ImageError(file, `holds a '${k}' record where '${kind}' was expected`);
  const len = Number(buf.readBigUInt64LE(28));
  if (buf.length - HEADER !== len) {
    throw new ImageError(file, `truncated or padded: ${buf.length - HEADER} payload bytes, header says ${len}`);
  }
  const payload = buf.subarray(HEADER);
  if (crc32(payload) !== buf.readUInt32LE(36)) throw new ImageError(file, 'checksum mismatch: the file is damaged');
  try {
    return packr.unpack(payload) as T;
  } catch (e) {
    throw new ImageError(file, `cannot decode: ${(e as Error).message}`);
  }
}

export function fileSize(path: string): number {
  try { return statSync(path).size; } catch { return -1; }
}
