// /proc/PID/status: credentials, signal sets, namespaces' PIDs and the umask.
import { readFileSync } from 'node:fs';

export interface ProcStatus {
  name: string; state: string; tgid: number; ppid: number; tracerPid: number;
  uid: number[]; gid: number[]; groups: number[]; umask: number; threads: number;
  nspid: number[]; sigPnd: bigint; shdPnd: bigint; sigBlk: bigint; sigIgn: bigint; sigCgt: bigint;
  capEff: bigint; capPrm: bigint; capInh: bigint; capBnd: bigint; capAmb: bigint;
  noNewPrivs: number; seccomp: number;
}

export function parseStatus(text: string): ProcStatus {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const s = (k: string) => m.get(k) ?? '';
  const nums = (k: string) => s(k).split(/\s+/).filter(Boolean).map(Number);
  const hex = (k: string) => BigInt('0x' + (s(k) || '0'));
  return {
    name: s('Name'), state: s('State').slice(0, 1), tgid: Number(s('Tgid')), ppid: Number(s('PPid')),
    tracerPid: Number(s('TracerPid')), uid: nums('Uid'), gid: nums('Gid'), groups: nums('Groups'),
    umask: parseInt(s('Umask') || '22', 8), threads: Number(s('Threads')), nspid: nums('NSpid'),
    sigPnd: hex('SigPnd'), shdPnd: hex('ShdPnd'), sigBlk: hex('SigBlk'), sigIgn: hex('SigIgn'),
    sigCgt: hex('SigCgt'), capEff: hex('CapEff'), capPrm: hex('CapPrm'), capInh: hex('CapInh'),
    capBnd: hex('CapBnd'), capAmb: hex('CapAmb'), noNewPrivs: Number(s('NoNewPrivs') || 0),
    seccomp: Number(s('Seccomp') || 0),
  };
}

export function readStatus(pid: number, tid = pid): ProcStatus {
  return parseStatus(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
}
