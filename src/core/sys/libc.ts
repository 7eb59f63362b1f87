// One raw syscall entry point for the whole core. Every kernel call goes through `sys()` so that
// errors carry errno and the syscall's name, and so nothing depends on glibc wrappers whose
// semantics differ from the kernel's (ptrace PEEK*, clone3, ...).
import koffi from 'koffi';
import { errnoName } from './errno.js';

const libc = koffi.load('libc.so.6');
const rawSyscall = libc.func(
  'long syscall(long, intptr_t, intptr_t, intptr_t, intptr_t, intptr_t, intptr_t)',
);

export type Arg = number | bigint;

export class SysError extends Error {
  readonly errno: number;
  readonly call: string;
  constructor(call: string, errno: number, detail?: string) {
    super(`${call}${detail ? ` (${detail})` : ''}: ${errnoName(errno)}`);
    this.name = 'SysError';
    this.errno = errno;
    this.call = call;
  }
}

/** Raw syscall; returns the result or throws SysError. */
export function sys(name: string, nr: number, ...args: Arg[]): number {
  const r = rawSyscall(nr, args[0] ?? 0, args[1] ?? 0, args[2] ?? 0, args[3] ?? 0, args[4] ?? 0, args[5] ?? 0) as number;
  if (r === -1) throw new SysError(name, koffi.errno());
  return r;
}

/** Raw syscall that reports failure as a negative errno instead of throwing. */
export function sysTry(nr: number, ...args: Arg[]): number {
  const r = rawSyscall(nr, args[0] ?? 0, args[1] ?? 0, args[2] ?? 0, args[3] ?? 0, args[4] ?? 0, args[5] ?? 0) as number;
  return r === -1 ? -koffi.errno() : r;
}

/** Address of a Buffer's memory, as the kernel sees it. */
export function addr(buf: Buffer | ArrayBuffer | Uint8Array): bigint {
  return koffi.address(buf) as bigint;
}

/** C string in a fresh Buffer. */
export function cstr(s: string): Buffer {
  return Buffer.from(s + '\0', 'utf8');
}

const mallocTrim = libc.func('int malloc_trim(size_t)');

/**
 * Give the free memory inside malloc's heaps back to the kernel. Large Buffers that come and go
 * at different sizes leave holes the heap cannot shrink past; without this a long-lived agent's
 * RSS keeps what its busiest moment needed.
 */
export function trimHeap(): void {
  mallocTrim(0);
}
