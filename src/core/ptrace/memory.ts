// Small reads and writes of a tracee's memory through /proc/PID/mem, which also reaches pages the
// process cannot write itself (FOLL_FORCE). Bulk page data goes through process_vm_* instead.
import { openSync, readSync, writeSync, closeSync } from 'node:fs';
import { GodwitError } from '../errors.js';

export class ProcMem {
  private fd: number;
  constructor(readonly pid: number, write = false) {
    this.fd = openSync(`/proc/${pid}/mem`, write ? 'r+' : 'r');
  }
  read(addr: number, len: number): Buffer {
    const b = Buffer.alloc(len);
    let off = 0;
    while (off < len) {
      const n = readSync(this.fd, b, off, len - off, addr + off);
      if (n <= 0) throw new GodwitError(`pid ${this.pid}: cannot read memory at 0x${(addr + off).toString(16)}`);
      off += n;
    }
    return b;
  }
  write(addr: number, data: Buffer): void {
    let off = 0;
    while (off < data.length) {
      const n = writeSync(this.fd, data, off, data.length - off, addr + off);
      if (n <= 0) throw new GodwitError(`pid ${this.pid}: cannot write memory at 0x${(addr + off).toString(16)}`);
      off += n;
    }
  }
  /** Once: a second close must not hit an fd number reused since. */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
