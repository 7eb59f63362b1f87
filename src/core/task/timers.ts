// Interval timers (setitimer) and POSIX timers (timer_create). Both are read by remote calls and
// set again from inside the task; POSIX timers keep their kernel IDs, which the program holds.
import { readFileSync } from 'node:fs';
import { NR } from '../sys/nr.js';
import type { Injection } from '../ptrace/inject.js';
import { UnsupportedError } from '../errors.js';

export interface Itimer { which: number; interval: [number, number]; value: [number, number] }

export function dumpItimers(inj: Injection): Itimer[] {
  const out: Itimer[] = [];
  inj.reset();
  const at = inj.space(96);
  const kinds = [0, 1, 2]; // ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF
  inj.batch(kinds.map((which) => ({ name: `getitimer(${which})`, nr: NR.getitimer, args: [which, at + which * 32] })));
  const all = inj.mem.read(at, 96);
  for (const which of kinds) {
    const b = all.subarray(which * 32, which * 32 + 32);
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

export interface PosixTimer {
  id: number; clockid: number; signo: number; value: string; notify: number; tid: number;
  interval: [number, number]; remaining: [number, number];
}

const NR_TIMER_CREATE = 222, NR_TIMER_SETTIME = 223, NR_TIMER_GETTIME = 224;
const PR_TIMER_CREATE_RESTORE_IDS = 77;
const NOTIFY: Record<string, number> = { signal: 0, none: 1, thread: 2 };

/** POSIX timers from /proc/PID/timers, with the time left read by a remote timer_gettime. */
export function dumpPosixTimers(inj: Injection): PosixTimer[] {
  let text = '';
  try { text = readFileSync(`/proc/${inj.pid}/timers`, 'utf8'); } catch { return []; }
  const out: PosixTimer[] = [];
  inj.reset();
  const its = inj.space(32);
  for (const block of text.split(/^(?=ID:)/m).filter((b) => b.trim())) {
    const id = Number(/^ID: (\d+)/m.exec(block)?.[1]);
    const sig = /^signal: (\d+)\/([0-9a-f]+)/m.exec(block);
    const nt = /^notify: (\w+)\/(pid|tid)\.(\d+)/m.exec(block);
    const clock = Number(/^ClockID: (\d+)/m.exec(block)?.[1] ?? 0);
    if (!sig || !nt) throw new UnsupportedError(`process ${inj.pid}: cannot read POSIX timer ${id} from /proc`);
    inj.call('timer_gettime', NR_TIMER_GETTIME, id, its);
    const b = inj.mem.read(its, 32);
    out.push({
      id, clockid: clock, signo: Number(sig[1]), value: sig[2]!, notify: (NOTIFY[nt[1]!] ?? 0) | (nt[2] === 'tid' ? 4 : 0),
      tid: Number(nt[3]), interval: [Number(b.readBigInt64LE(0)), Number(b.readBigInt64LE(8))],
      remaining: [Number(b.readBigInt64LE(16)), Number(b.readBigInt64LE(24))],
    });
  }
  return out;
}

/** Each timer gets its own ID back (PR_TIMER_CREATE_RESTORE_IDS), then the time it had left. */
export function restorePosixTimers(inj: Injection, timers: PosixTimer[]): void {
  if (!timers.length) return;
  const r = inj.thread().callRaw(NR.prctl, PR_TIMER_CREATE_RESTORE_IDS, 1, 0, 0, 0);
  if (r < 0) throw new UnsupportedError(`process ${inj.pid}: this kernel cannot create POSIX timers with given IDs (PR_TIMER_CREATE_RESTORE_IDS, Linux 6.15+)`);
  try {
    for (const t of timers) {
      inj.reset(16);
      const se = Buffer.alloc(64);
      se.writeBigUInt64LE(BigInt('0x' + t.value), 0);
      se.writeInt32LE(t.signo, 8);
      se.writeInt32LE(t.notify, 12);
      se.writeInt32LE(t.tid, 16);
      const idb = Buffer.alloc(8);
      idb.writeInt32LE(t.id, 0);
      const idAt = inj.put(idb);
      inj.call(`timer_create(${t.id})`, NR_TIMER_CREATE, t.clockid, inj.put(se), idAt);
      const got = inj.mem.read(idAt, 4).readInt32LE(0);
      if (got !== t.id) throw new UnsupportedError(`process ${inj.pid}: POSIX timer came back as ${got}, not ${t.id}`);
      if (t.remaining[0] || t.remaining[1]) {
        const its = Buffer.alloc(32);
        its.writeBigInt64LE(BigInt(t.interval[0]), 0); its.writeBigInt64LE(BigInt(t.interval[1]), 8);
        its.writeBigInt64LE(BigInt(t.remaining[0]), 16); its.writeBigInt64LE(BigInt(t.remaining[1]), 24);
        inj.call('timer_settime', NR_TIMER_SETTIME, t.id, 0, inj.put(its), 0);
      }
    }
  } finally {
    inj.thread().callRaw(NR.prctl, PR_TIMER_CREATE_RESTORE_IDS, 0, 0, 0, 0);
  }
}
