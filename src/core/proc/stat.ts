// /proc/PID/stat: the fields the dump needs (man 5 proc). comm may hold spaces and parentheses,
// so fields are counted from the last ')'.
import { readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number; comm: string; state: string; ppid: number; pgid: number; sid: number;
  /** controlling terminal (device number) and its foreground process group */
  ttyNr: number; tpgid: number;
  flags: number; numThreads: number; startTime: bigint;
  startCode: number; endCode: number; startStack: number; startData: number; endData: number;
  startBrk: number; argStart: number; argEnd: number; envStart: number; envEnd: number;
  exitCode: number;
  /** CPU time in user and kernel mode, clock ticks */
  utime: number; stime: number;
}

export function parseStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const f = text.slice(close + 2).trim().split(' ');
  // f[0] is field 3 (state)
  const n = (i: number) => Number(f[i - 3]);
  return {
    pid: Number(text.slice(0, open).trim()), comm: text.slice(open + 1, close), state: f[0]!,
    ppid: n(4), pgid: n(5), sid: n(6), ttyNr: n(7), tpgid: n(8), flags: n(9), numThreads: n(20), startTime: BigInt(f[22 - 3]!),
    startCode: n(26), endCode: n(27), startStack: n(28), startData: n(45), endData: n(46),
    startBrk: n(47), argStart: n(48), argEnd: n(49), envStart: n(50), envEnd: n(51), exitCode: n(52),
    utime: n(14), stime: n(15),
  };
}

export function readStat(pid: number, tid = pid): ProcStat {
  return parseStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
}
