// FIFOs: reopened by path. The agent first holds the FIFO open for reading and writing, so that
// opening either end never blocks and the unread data (saved with tee, as for pipes) can be put
// back before any task gets it.
import { openSync, closeSync, writeSync, statSync } from 'node:fs';
import { sys } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import type { ProcFd } from '../proc/fd.js';
import type { FileEntry, PipeEntry } from '../image/format.js';
import { O, SETFL_MASK } from './flags.js';
import { GodwitError } from '../errors.js';
import type { Peers } from './peers.js';

/** Whether some process holds the FIFO open for reading: opening it to write without blocking fails (ENXIO) otherwise. */
function hasReader(path: string): boolean {
  try { closeSync(openSync(path, O.WRONLY | O.NONBLOCK | O.CLOEXEC)); return true; } catch { return false; }
}

const F_SETFL = 4, F_SETPIPE_SZ = 1031, S_IFIFO = 0o010000, S_IFMT = 0o170000;

export function dumpFifo(id: number, fd: ProcFd): FileEntry {
  return { id, kind: 'fifo', path: fd.link, fifoId: fd.ino, flags: fd.flags };
}

export class FifoMaker {
  private holders = new Map<number, number>();
  constructor(private data: Map<number, PipeEntry>, private peers: Peers) {}

  open(e: Extract<FileEntry, { kind: 'fifo' }>): number {
    let h = this.holders.get(e.fifoId);
    if (h === undefined) {
      let st;
      try { st = statSync(e.path); } catch { throw new GodwitError(`FIFO ${e.path} is gone: it must exist to restore`); }
      if ((st.mode & S_IFMT) !== S_IFIFO) throw new GodwitError(`${e.path} is no longer a FIFO`);
      const outside = this.peers.get(e.path);
      // a reader outside still holding the FIFO still holds its unread bytes too
      const readerThere = outside?.direction === 'out' && hasReader(e.path);
      h = openSync(e.path, O.RDWR | O.NONBLOCK | O.CLOEXEC);
      const p = this.data.get(e.fifoId);
      if (p?.size) sys('fcntl(F_SETPIPE_SZ)', NR.fcntl, h, F_SETPIPE_SZ, p.size);
      if (p?.data.length && !readerThere) writeSync(h, Buffer.from(p.data));
      this.holders.set(e.fifoId, h);
      if (outside && readerThere) this.peers.became(outside, 'reconnected', e.path);
      // no reader any more: the sink reads (and captures) what the tree writes; what the tree
      // reads from is held open by the sink, so it sees no EOF (a writer may still open the path)
      else if (outside) this.peers.toSink(outside, openSync(`/proc/self/fd/${h}`, (outside.direction === 'out' ? O.RDONLY : O.WRONLY) | O.NONBLOCK | O.CLOEXEC), outside.direction === 'out');
    }
    const fd = openSync(`/proc/self/fd/${h}`, (e.flags & O.ACCMODE) | O.NONBLOCK | O.CLOEXEC);
    sys('fcntl(F_SETFL)', NR.fcntl, fd, F_SETFL, e.flags & SETFL_MASK);
    return fd;
  }

  close(): void {
    for (const h of this.holders.values()) closeSync(h);
  }
}
