// Many remote syscalls for one resume of the thread. A remote call costs a single-step round trip
// (set the registers, step, wait, read them back: about 0.3 ms here, with the context switches);
// a restore of a tree with hundreds of mappings makes a thousand of them. Here the calls are
// written as a table into the scratch area with a loop of a few instructions that runs them one
// after the other and stops on an int3 at the end, or at the first call that fails:
//
//   loop: test r12,r12; jz done            ; r12: calls left, rbx: the current entry
//         mov rax,[rbx]; mov rdi,[rbx+8] ... mov r9,[rbx+48]; syscall
//         mov r13,[rbx+56]; mov [rbx+56],rax   ; flags in, result out
//         cmp rax,-4095; jb ok; test r13,1; jz done   ; a failure stops it unless allowed
//   ok:   add rbx,64; dec r12; jmp loop
//   done: int3
//
// The int3 raises SIGTRAP as a single-step does; the tracer takes it before the process sees it.
import { SCRATCH_SIZE, type Injection } from './inject.js';
import { GodwitError } from '../errors.js';
import { errnoName } from '../sys/errno.js';

const CODE = Buffer.from(
  '4d85e4743f488b03488b7b08488b7310488b53184c8b53204c8b43284c8b4b300f054c8b6b3848894338' +
  '483d01f0ffff720949f7c50100000074094883c34049ffccebbccc', 'hex');
const ENTRY = 64;
const MAY_FAIL = 1;
/** the upper half of the scratch area: put() fills it from the bottom */
const AREA = SCRATCH_SIZE / 2;
/** room for the pointed-to arguments of a batch's calls, from the start of the scratch area */
export const BATCH_ARGS = AREA;
const CODE_ROOM = 128;
const PER_RUN = Math.floor((SCRATCH_SIZE - AREA - CODE_ROOM) / ENTRY);

/** A 64-bit argument: numbers (addresses, lengths, -1) without a BigInt each, thousands a batch. */
function put64(buf: Buffer, v: number | bigint, at: number): void {
  if (typeof v === 'bigint') { buf.writeBigInt64LE(BigInt.asIntN(64, v), at); return; }
  buf.writeUInt32LE(v >>> 0, at);
  buf.writeInt32LE(Math.floor(v / 0x100000000), at + 4);
}

interface Call { name: string; nr: number; args: Array<number | bigint>; mayFail: boolean }

export class SyscallBatch {
  private calls: Call[] = [];

  constructor(private inj: Injection) {}

  get length(): number { return this.calls.length; }

  /** A call that must succeed: the batch stops there and run() throws, naming it. */
  add(name: string, nr: number, ...args: Array<number | bigint>): void {
    this.calls.push({ name, nr, args, mayFail: false });
  }

  /** A call whose failure is the caller's to judge, from its result. */
  addTry(name: string, nr: number, ...args: Array<number | bigint>): void {
    this.calls.push({ name, nr, args, mayFail: true });
  }

  /**
   * Run every call queued, in order, on the main thread; returns their results (raw: a negative
   * errno for a failure that was allowed). Pointer arguments must lie in the lower half of the
   * scratch area (put() after a reset(), see BATCH_ARGS); the upper half is the batch's.
   */
  run(): number[] {
    const calls = this.calls;
    this.calls = [];
    if (!calls.length) return [];
    if (!this.inj.scratch) throw new Error('SyscallBatch: the process has no scratch area');
    const results: number[] = [];
    for (let first = 0; first < calls.length; first += PER_RUN) results.push(...this.runSome(calls.slice(first, first + PER_RUN)));
    return results;
  }

  private runSome(calls: Call[]): number[] {
    const code = this.inj.scratch + AREA;
    const table = code + CODE_ROOM;
    const buf = Buffer.alloc(CODE_ROOM + calls.length * ENTRY);
    CODE.copy(buf, 0);
    calls.forEach((c, i) => {
      const at = CODE_ROOM + i * ENTRY;
      put64(buf, c.nr, at);
      for (let k = 0; k < 6; k++) put64(buf, c.args[k] ?? 0, at + 8 + k * 8);
      put64(buf, c.mayFail ? MAY_FAIL : 0, at + 56);
    });
    this.inj.mem.write(code, buf);
    const regs = this.inj.thread().runCode(code, code + CODE.length, { rbx: table, r12: calls.length });
    const left = regs.num('r12');
    const ran = calls.length - left + (left ? 1 : 0);
    const out = this.inj.mem.read(table, ran * ENTRY);
    const results = calls.slice(0, ran).map((_, i) => out.readUInt32LE(i * ENTRY + 56) + out.readInt32LE(i * ENTRY + 60) * 0x100000000);
    if (left) {
      const c = calls[ran - 1]!;
      throw new GodwitError(`pid ${this.inj.pid}: remote ${c.name} failed: ${errnoName(-results[ran - 1]!)}`);
    }
    return results;
  }
}
