// Probes for moving memory and the memory layout: process_vm_readv/writev (bulk page copies),
// prctl(PR_SET_MM, PR_SET_MM_MAP) (brk, arg/env, auxv, exe at restore) and the vDSO layout that a
// restore must put back where it was.
import { readFileSync } from 'node:fs';
import { sys, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { processVm } from '../sys/process.js';
import { PAGE_SIZE } from '../sys/mman.js';
import { attempt, kernelConfig, ProbeFailure, type Probe } from './probe.js';

const PR_SET_MM = 35, PR_SET_MM_MAP_SIZE = 15; // uapi: PR_SET_MM_MAP is 14, PR_SET_MM_MAP_SIZE 15

export function probeProcessVm(): Probe {
  return attempt({
    id: 'process_vm', name: 'process_vm_readv/writev',
    yes: 'memory moves between processes in large calls',
    no: 'memory can only be copied through /proc/PID/mem (slower)',
  }, () => {
    const src = Buffer.from('godwit check: process_vm'), mid = Buffer.alloc(src.length), dst = Buffer.alloc(src.length);
    const r = processVm(false, process.pid, addr(mid), [[Number(addr(src)), src.length]]);
    if (r !== src.length || !mid.equals(src)) throw new ProbeFailure(`process_vm_readv copied ${r} bytes, not the test buffer`);
    const w = processVm(true, process.pid, addr(mid), [[Number(addr(dst)), dst.length]]);
    if (w !== src.length || !dst.equals(src)) throw new ProbeFailure(`process_vm_writev copied ${w} bytes, not the test buffer`);
    return `read and wrote a ${src.length}-byte test buffer`;
  });
}

export function probeSetMmMap(): Probe {
  return attempt({
    id: 'pr_set_mm_map', name: 'PR_SET_MM_MAP',
    yes: 'restore sets brk, arguments, environment, auxv and exe link in one call',
    no: 'restore cannot set brk, arguments, environment, auxv and exe link',
    hint: (e) => (e === 22 && kernelConfig('CONFIG_CHECKPOINT_RESTORE') === 'n' ? 'CONFIG_CHECKPOINT_RESTORE is not set' : undefined),
  }, () => {
    const size = Buffer.alloc(4);
    sys('prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE)', NR.prctl, PR_SET_MM, PR_SET_MM_MAP_SIZE, addr(size), 0, 0);
    const n = size.readUInt32LE(0);
    if (n !== 104) throw new ProbeFailure(`struct prctl_mm_map is ${n} bytes here, godwit knows the 104-byte layout`);
    return `PR_SET_MM_MAP_SIZE says struct prctl_mm_map is ${n} bytes`;
  });
}

export interface VdsoMapping { name: string; start: number; size: number }

export function vdsoLayout(maps = readFileSync('/proc/self/maps', 'utf8')): VdsoMapping[] {
  const out: VdsoMapping[] = [];
  for (const l of maps.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s+(\[(?:vvar|vvar_vclock|vdso)\])$/.exec(l);
    if (m) out.push({ name: m[3]!, start: parseInt(m[1]!, 16), size: parseInt(m[2]!, 16) - parseInt(m[1]!, 16) });
  }
  return out;
}

export function probeVdso(): Probe {
  return attempt({
    id: 'vdso', name: 'vDSO layout',
    yes: 'restore puts [vvar], [vvar_vclock] and [vdso] back where the process had them (same kernel image needed)',
    no: 'restore cannot place the vDSO: restored processes would crash on their first clock_gettime',
  }, () => {
    const v = vdsoLayout();
    if (!v.some((m) => m.name === '[vdso]')) throw new ProbeFailure('no [vdso] mapping in /proc/self/maps');
    const adjacent = v.every((m, i) => i === 0 || v[i - 1]!.start + v[i - 1]!.size === m.start);
    return `${v.map((m) => `${m.name} ${m.size / PAGE_SIZE} page${m.size === PAGE_SIZE ? '' : 's'}`).join(', ')}` +
      `${v.length > 1 ? (adjacent ? ', adjacent in that order' : ', not adjacent') : ''}`;
  });
}
