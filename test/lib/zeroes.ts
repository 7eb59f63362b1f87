// What the tests of test/programs/zeroes.c look at from outside the process: where its regions
// are, how much of its big mapping is resident, and whether the regions that must read zero do.
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

export const MiB = 2 ** 20;

/** The regions zeroes.c lays out in its mapping (see its header), from its READY line. */
export interface ZeroesLayout { base: number; len: number; zeroPage: [number, number]; memset: [number, number]; dropped: [number, number]; data: [number, number] }

export function zeroesLayout(log: string): ZeroesLayout {
  const m = /^READY \d+ base=0x([0-9a-f]+) len=(\d+) data=0x([0-9a-f]+) datalen=(\d+)/m.exec(readFileSync(log, 'utf8'));
  if (!m) throw new Error(`no READY line with the layout in ${log}`);
  const base = parseInt(m[1]!, 16), data = parseInt(m[3]!, 16);
  return {
    base, len: Number(m[2]), zeroPage: [base, base + 600 * MiB], memset: [base + 600 * MiB, base + 800 * MiB],
    dropped: [base + 800 * MiB, base + 832 * MiB], data: [data, data + Number(m[4])],
  };
}

/** Rss of the mapping that starts at `start`, from /proc/PID/smaps (the zero page is not counted). */
export function mappingRss(pid: number, start: number): number {
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const at = smaps.indexOf(`\n${start.toString(16)}-`);
  const block = (at < 0 && smaps.startsWith(`${start.toString(16)}-`) ? smaps : smaps.slice(at + 1)).split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)[0]!;
  const kb = /^Rss:\s+(\d+) kB$/m.exec(block);
  if (!kb) throw new Error(`process ${pid} has no mapping at ${start.toString(16)}`);
  return Number(kb[1]) * 1024;
}

/** Every byte of the ranges reads zero in the process (through /proc/PID/mem, from outside). */
export function assertZero(pid: number, ranges: Array<[number, number]>, what: string): void {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  const buf = Buffer.alloc(16 * MiB), zero = Buffer.alloc(16 * MiB);
  try {
    for (const [a, b] of ranges) {
      for (let at = a; at < b; at += buf.length) {
        const len = Math.min(buf.length, b - at);
        const n = readSync(fd, buf, 0, len, at);
        assert.equal(n, len, `${what}: short read at ${at.toString(16)}`);
        if (buf.subarray(0, len).equals(zero.subarray(0, len))) continue;
        const nz = buf.subarray(0, len).findIndex((x) => x !== 0);
        assert.fail(`${what}: the byte at 0x${(at + nz).toString(16)} is not zero`);
      }
    }
  } finally {
    closeSync(fd);
  }
}
