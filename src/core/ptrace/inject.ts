// A process under our control: a RemoteThread per thread we drive, one scratch area in its
// address space for syscall arguments that are pointers, and /proc/PID/mem to fill and read it.
import { readFileSync } from 'node:fs';
import { RemoteThread } from './remote.js';
import { ProcMem } from './memory.js';
import { NR } from '../sys/nr.js';
import { PROT, MAP, PAGE_SIZE } from '../sys/mman.js';
import { readMaps } from '../proc/smaps.js';
import { GodwitError } from '../errors.js';
import { errnoName } from '../sys/errno.js';

export const SCRATCH_SIZE = 16 * PAGE_SIZE;

/**
 * x86_64: while (r12--) { rax = syscall(rbx[0], rbx[1..6]); rbx[7] = rax; rbx += 8 } int3
 * (test r12,r12; jz; mov rax/rdi/rsi/rdx/r10/r8/r9 from [rbx]; syscall; mov [rbx+56],rax;
 * add rbx,64; dec r12; jmp; int3)
 */
const BATCH_CODE = Buffer.from('4d85e4742a488b03488b7b08488b7310488b53184c8b53204c8b43284c8b4b300f05488943384883c34049ffccebd1cc', 'hex');

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

  /** Room for the kernel to write into; read it back with mem.read. */
  space(len: number): number { return this.put(Buffer.alloc(len)); }

  /**
   * Run independent syscalls in the main thread in one go: a loop of 48 bytes (BATCH_CODE) in
   * the scratch area walks a table of {nr, six arguments, result} and traps at the end. Pointer
   * arguments must be in place already (put), and no call may depend on another's result.
   * Returns the raw results (negative errno on failure), in order.
   */
  batchRaw(calls: Array<{ nr: number; args: Array<number | bigint> }>): number[] {
    if (!calls.length) return [];
    const code = this.put(BATCH_CODE);
    const room = Math.floor((SCRATCH_SIZE - this.bump) / 64);
    if (room < 1) throw new Error('scratch area overflow');
    const results: number[] = [];
    const mark = this.bump;
    for (let i = 0; i < calls.length; i += room) {
      this.bump = mark;
      const part = calls.slice(i, i + room);
      const table = Buffer.alloc(part.length * 64);
      part.forEach((c, k) => {
        put64(table, c.nr, k * 64);
        for (let a = 0; a < 6; a++) put64(table, c.args[a] ?? 0, k * 64 + 8 + a * 8);
      });
      const at = this.put(table);
      this.thread().runBatch(code, BATCH_CODE.length, at, part.length);
      const back = this.mem.read(at, table.length);
      for (let k = 0; k < part.length; k++) results.push(Number(back.readBigInt64LE(k * 64 + 56)));
    }
    return results;
  }

  /** batchRaw, throwing on the first failure, named. */
  batch(calls: Array<{ name: string; nr: number; args: Array<number | bigint> }>): number[] {
    const r = this.batchRaw(calls);
    r.forEach((v, i) => {
      if (v < 0 && v > -4096) throw new GodwitError(`pid ${this.pid}: remote ${calls[i]!.name} failed: ${errnoName(-v)}`);
    });
    return r;
  }

  releaseThreads(): void {
    for (const t of this.threads.values()) t.restore();
    this.threads.clear();
  }

  close(): void { this.mem.close(); }
}

/** A syscall argument as 64 bits, without a BigInt for a plain number (-1 as all ones). */
function put64(b: Buffer, v: number | bigint, at: number): void {
  if (typeof v === 'bigint') { b.writeBigInt64LE(BigInt.asIntN(64, v), at); return; }
  b.writeUInt32LE(v >>> 0, at);
  b.writeInt32LE(Math.floor(v / 2 ** 32) | 0, at + 4);
}

export function readAuxv(pid: number): Buffer { return readFileSync(`/proc/${pid}/auxv`); }
