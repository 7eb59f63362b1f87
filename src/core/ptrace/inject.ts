// A process under our control: a RemoteThread per thread we drive, one scratch area in its
// address space for syscall arguments that are pointers, and /proc/PID/mem to fill and read it.
import { readFileSync } from 'node:fs';
import { RemoteThread } from './remote.js';
import { ProcMem } from './memory.js';
import { NR } from '../sys/nr.js';
import { PROT, MAP, PAGE_SIZE } from '../sys/mman.js';
import { readMaps } from '../proc/smaps.js';
import { GodwitError } from '../errors.js';

export const SCRATCH_SIZE = 16 * PAGE_SIZE;

/**
 * Address of a `syscall` instruction (0f 05) in the process's vDSO. Jumping into the middle of
 * another instruction is fine: the CPU decodes from wherever rip points.
 */
export function findSyscallInsn(pid: number, mem: ProcMem): number {
  for (const v of readMaps(pid)) {
    if (v.name !== '[vdso]' && !(v.exec && v.read)) continue;
    const bytes = mem.read(v.start, Math.min(v.end - v.start, 1 << 20));
    for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 0x0f && bytes[i + 1] === 0x05) return v.start + i;
  }
  throw new GodwitError(`process ${pid}: no syscall instruction found to drive it`);
}

export class Injection {
  readonly mem: ProcMem;
  readonly threads = new Map<number, RemoteThread>();
  scratch = 0;
  private bump = 0;

  /** `park`: see RemoteThread; false for restore's seeds, which die with godwit anyway. */
  constructor(readonly pid: number, public insn: number, private park = true) {
    this.mem = new ProcMem(pid, true);
  }

  thread(tid = this.pid): RemoteThread {
    let t = this.threads.get(tid);
    if (!t) {
      t = new RemoteThread(tid, this.insn, this.park);
      this.threads.set(tid, t);
    }
    return t;
  }

  /** Main thread's syscall, throwing on error. */
  call(name: string, nr: number, ...args: Array<number | bigint>): number {
    return this.thread().call(name, nr, ...args);
  }

  /** Map an anonymous RWX scratch area wherever the kernel likes (dump side). */
  mapScratch(): void {
    this.scratch = this.call('mmap', NR.mmap, 0, SCRATCH_SIZE, PROT.READ | PROT.WRITE | PROT.EXEC, MAP.PRIVATE | MAP.ANONYMOUS, -1, 0);
    this.bump = 0;
  }

  unmapScratch(): void {
    if (this.scratch) this.call('munmap', NR.munmap, this.scratch, SCRATCH_SIZE);
    this.scratch = 0;
  }

  /** Start a fresh set of arguments in the scratch area (the first bytes may hold code). */
  reset(reserve = 0): void { this.bump = reserve; }

  /** Copy bytes into the scratch area; returns their address there. */
  put(data: Buffer): number {
    const at = this.scratch + this.bump;
    this.bump = (this.bump + data.length + 15) & ~15;
    if (this.bump > SCRATCH_SIZE) throw new Error('scratch area overflow');
    this.mem.write(at, data);
    return at;
  }

  /** Bytes of the scratch area that put() has filled since the last reset. */
  get used(): number { return this.bump; }

  /** Room for the kernel to write into; read it back with mem.read. */
  space(len: number): number { return this.put(Buffer.alloc(len)); }

  releaseThreads(): void {
    for (const t of this.threads.values()) t.restore();
    this.threads.clear();
  }

  close(): void { this.mem.close(); }
}

export function readAuxv(pid: number): Buffer { return readFileSync(`/proc/${pid}/auxv`); }
