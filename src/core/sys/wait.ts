// wait4(2) with the status decoded. __WALL so that threads (clone children) are seen too.
import { sys, sysTry, addr } from './libc.js';
import { NR } from './nr.js';

export const WNOHANG = 1;
export const WALL = 0x40000000;

export type WaitStatus =
  | { kind: 'exited'; pid: number; code: number }
  | { kind: 'signaled'; pid: number; signal: number }
  | { kind: 'stopped'; pid: number; signal: number; event: number }
  | { kind: 'none' };

export function decodeStatus(pid: number, s: number): WaitStatus {
  if ((s & 0x7f) === 0) return { kind: 'exited', pid, code: (s >> 8) & 0xff };
  if ((s & 0xff) === 0x7f) return { kind: 'stopped', pid, signal: (s >> 8) & 0xff, event: (s >> 16) & 0xff };
  return { kind: 'signaled', pid, signal: s & 0x7f };
}

export function wait(pid: number, options = WALL): WaitStatus {
  const st = Buffer.alloc(4);
  for (;;) {
    const r = sysTry(NR.wait4, pid, addr(st), options, 0);
    if (r === -4) continue; // EINTR
    if (r < 0) sys(`wait4(${pid})`, NR.wait4, pid, addr(st), options, 0); // rethrows with the message
    if (r === 0) return { kind: 'none' };
    return decodeStatus(r, st.readInt32LE(0));
  }
}
