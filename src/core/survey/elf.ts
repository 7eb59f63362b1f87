// An ELF file's GNU build-id, read from its note segments: two builds of the same source are the
// same program even when the files' mtimes differ (a package reinstalled, a copied tree).
import { openSync, readSync, closeSync } from 'node:fs';

const NT_GNU_BUILD_ID = 3, PT_NOTE = 4;

function readAt(fd: number, off: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  const n = readSync(fd, b, 0, len, off);
  return b.subarray(0, n);
}

/** The build-id as hex, or undefined for a file that is not a 64-bit little-endian ELF or has none. */
export function buildId(path: string): string | undefined {
  let fd: number;
  try { fd = openSync(path, 'r'); } catch { return undefined; }
  try {
    const h = readAt(fd, 0, 64);
    if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return undefined;
    const phoff = Number(h.readBigUInt64LE(32)), phentsize = h.readUInt16LE(54), phnum = Math.min(h.readUInt16LE(56), 64);
    const ph = readAt(fd, phoff, phentsize * phnum);
    for (let i = 0; i < phnum && (i + 1) * phentsize <= ph.length; i++) {
      const p = ph.subarray(i * phentsize);
      if (p.readUInt32LE(0) !== PT_NOTE) continue;
      const notes = readAt(fd, Number(p.readBigUInt64LE(8)), Math.min(Number(p.readBigUInt64LE(32)), 1 << 16));
      for (let o = 0; o + 12 <= notes.length; ) {
        const nameSz = notes.readUInt32LE(o), descSz = notes.readUInt32LE(o + 4), type = notes.readUInt32LE(o + 8);
        const nameAt = o + 12, descAt = nameAt + ((nameSz + 3) & ~3);
        if (descAt + descSz > notes.length) break;
        if (type === NT_GNU_BUILD_ID && notes.toString('latin1', nameAt, nameAt + nameSz).startsWith('GNU')) {
          return notes.subarray(descAt, descAt + descSz).toString('hex');
        }
        o = descAt + ((descSz + 3) & ~3);
      }
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}
