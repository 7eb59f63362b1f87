// Pipes: both ends are recreated in the agent; unread data is copied out at dump with tee(2),
// which duplicates it without consuming it (the process may go on running after the dump).
import { openSync, closeSync, readSync, writeSync } from 'node:fs';
import { sys, sysTry, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import type { ProcFd } from '../proc/fd.js';
import type { FileEntry, PipeEntry } from '../image/format.js';
import { O, SETFL_MASK } from './flags.js';
import { GodwitError } from '../errors.js';
import type { Peers } from './peers.js';

const F_SETFL = 4, F_SETPIPE_SZ = 1031, F_GETPIPE_SZ = 1032, SPLICE_F_NONBLOCK = 2;

export function pipeIno(link: string): number | null {
  const m = /^pipe:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : null;
}

export function dumpPipeEnd(id: number, fd: ProcFd, pipeId: number): FileEntry {
  return { id, kind: 'pipe', pipeId, flags: fd.flags, end: (fd.flags & O.ACCMODE) === O.RDONLY ? 'r' : 'w' };
}

function pipe2(): [number, number] {
  const b = Buffer.alloc(8);
  sys('pipe2', NR.pipe2, addr(b), O.CLOEXEC | O.NONBLOCK);
  return [b.readInt32LE(0), b.readInt32LE(4)];
}

/** Size and unread contents of the pipe behind /proc/PID/fd/FD, read without consuming. */
export function dumpPipeData(pid: number, fd: number, pipeId: number, external: boolean): PipeEntry {
  const src = openSync(`/proc/${pid}/fd/${fd}`, O.RDONLY | O.NONBLOCK);
  const [r, w] = pipe2();
  try {
    const size = sys('fcntl(F_GETPIPE_SZ)', NR.fcntl, src, F_GETPIPE_SZ);
    sys('fcntl(F_SETPIPE_SZ)', NR.fcntl, w, F_SETPIPE_SZ, size);
    const n = sysTry(NR.tee, src, w, size, SPLICE_F_NONBLOCK);
    const data = Buffer.alloc(Math.max(0, n));
    if (n > 0) {
      let got = 0;
      while (got < n) got += readSync(r, data, got, n - got, null);
    }
    return { id: pipeId, ino: pipeId, size, data, external };
  } finally {
    closeSync(src); closeSync(r); closeSync(w);
  }
}

/**
 * Recreated pipes, and one open file per image file entry on them. A pipe whose other end was
 * outside the tree gets a new other end held by godwit-sink (peers.ts): what the tree reads from
 * is refilled and held open, what it writes to is captured, the bytes its peer had not read
 * first.
 */
export class PipeMaker {
  private made = new Map<number, { r: number; w: number; usedR: boolean; usedW: boolean }>();
  constructor(private pipes: Map<number, PipeEntry>, private peers: Peers) {}

  /** The key of an external pipe (`--inherit-fd` names it), or null. */
  keyOf(e: Extract<FileEntry, { kind: 'pipe' }>): string | null {
    const p = this.pipes.get(e.pipeId);
    return p?.external ? `pipe:[${p.ino}]` : null;
  }

  open(e: Extract<FileEntry, { kind: 'pipe' }>): number {
    const p = this.pipes.get(e.pipeId);
    if (!p) throw new GodwitError(`image names pipe ${e.pipeId} but does not describe it`);
    let m = this.made.get(e.pipeId);
    if (!m) {
      const [r, w] = pipe2();
      if (p.size) sys('fcntl(F_SETPIPE_SZ)', NR.fcntl, w, F_SETPIPE_SZ, p.size);
      const outside = p.external ? this.peers.get(`pipe:[${p.ino}]`) : undefined;
      const writes = outside?.direction === 'out';
      if (p.data.length && !writes) {
        const n = writeSync(w, Buffer.from(p.data));
        if (n !== p.data.length) throw new GodwitError(`pipe:[${p.ino}]: could not refill ${p.data.length} bytes`);
      }
      m = { r, w, usedR: false, usedW: false };
      if (outside) {
        // the sink's end is the peers' to close, once the sink has its copy
        if (writes) { this.peers.toSink(outside, r, true, p.data); m.usedR = true; } else { this.peers.toSink(outside, w, false); m.usedW = true; }
      }
      this.made.set(e.pipeId, m);
    }
    const which = e.end === 'r' ? 'usedR' : 'usedW';
    let fd = e.end === 'r' ? m.r : m.w;
    // a second open file on the same end (opened again through /proc) gets its own description
    if (m[which]) fd = openSync(`/proc/self/fd/${fd}`, e.end === 'r' ? O.RDONLY : O.WRONLY);
    m[which] = true;
    sys('fcntl(F_SETFL)', NR.fcntl, fd, F_SETFL, e.flags & SETFL_MASK);
    return fd;
  }

  /** Ends handed out belong to the caller; the unused ones are closed here. */
  close(): void {
    for (const m of this.made.values()) {
      if (!m.usedR) closeSync(m.r);
      if (!m.usedW) closeSync(m.w);
    }
  }
}
