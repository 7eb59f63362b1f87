// Interval timers (setitimer): read with a remote getitimer, set again with setitimer. POSIX
// timers (timer_create) have kernel IDs a process must get back unchanged; until they are
// supported a process holding one is refused rather than restored without it.
import { readFileSync } from 'node:fs';
import { NR } from '../sys/nr.js';
import type { Injection } from '../ptrace/inject.js';
import { UnsupportedError } from '../errors.js';

export interface Itimer { which: number; interval: [number, number]; value: [number, number] }

export function dumpItimers(inj: Injection): Itimer[] {
  const out: Itimer[] = [];
  inj.reset();
  const at = inj.space(32);
  for (const which of [0, 1, 2]) { // ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF
    inj.call('getitimer', NR.getitimer, which, at);
    const b = inj.mem.read(at, 32);
    const t: Itimer = {
      which, interval: [Number(b.readBigInt64LE(0)), Number(b.readBigInt64LE(8))],
      value: [Number(b.readBigInt64LE(16)), Number(b.readBigInt64LE(24))],
    };
    if (t.value[0] || t.value[1]) out.push(t);
  }
  return out;
}

export function restoreItimers(inj: Injection, timers: Itimer[]): void {
  for (const t of timers) {
    inj.reset(16);
    const b = Buffer.alloc(32);
    b.writeBigInt64LE(BigInt(t.interval[0]), 0); b.writeBigInt64LE(BigInt(t.interval[1]), 8);
    b.writeBigInt64LE(BigInt(t.value[0]), 16); b.writeBigInt64LE(BigInt(t.value[1]), 24);
    inj.call('setitimer', NR.setitimer, t.which, inj.put(b), 0);
  }
}

export function refusePosixTimers(pid: number): void {
  let text = '';
  try { text = readFileSync(`/proc/${pid}/timers`, 'utf8'); } catch { return; }
  const ids = [...text.matchAll(/^ID: (\d+)/gm)].map((m) => m[1]);
  if (ids.length) throw new UnsupportedError(`process ${pid}: POSIX timers (timer_create) ${ids.join(', ')} are not supported yet`);
}
