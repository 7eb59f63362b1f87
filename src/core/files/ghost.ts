// Files that exist only while open: memfds and files deleted while open or mapped. Their contents
// travel in the image (ghost-N.img). On restore the agent recreates each one (a memfd with the same
// name and seals, or a file created at its old path, or beside it, and unlinked), and every fd and
// mapping of it is opened from that one file.
import { openSync, closeSync, readSync, writeSync, statSync, existsSync, fstatSync, unlinkSync, ftruncateSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { sys, sysTry, cstr, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { O } from './flags.js';
import { GodwitError, ImageError } from '../errors.js';
import type { GhostEntry } from '../image/format.js';

const F_GET_SEALS = 1034, F_ADD_SEALS = 1033, MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2;

export function ghostFile(id: number): string { return `ghost-${id}.img`; }

function copyFd(from: number, to: number, size: number): void {
  const buf = Buffer.allocUnsafe(Math.min(size || 1, 4 << 20));
  for (let off = 0; off < size; ) {
    const n = readSync(from, buf, 0, Math.min(buf.length, size - off), off);
    if (n <= 0) break;
    for (let w = 0; w < n; ) w += writeSync(to, buf, w, n - w, off + w);
    off += n;
  }
}

/** Where the ghosts met while dumping a tree are collected, each once, by (dev, inode). */
export class GhostDumper {
  readonly ghosts: GhostEntry[] = [];
  private byKey = new Map<string, GhostEntry>();
  constructor(private dir: string) {}

  /** `source` is a path that opens the file: /proc/PID/fd/N or /proc/PID/map_files/RANGE. */
  add(source: string, shownPath: string): GhostEntry {
    const st = statSync(source);
    const key = `${st.dev}:${st.ino}`;
    let g = this.byKey.get(key);
    if (g) return g;
    const memfd = shownPath.startsWith('/memfd:');
    const src = openSync(source, 'r');
    let seals = 0;
    try {
      if (memfd) seals = Math.max(0, sysTry(NR.fcntl, src, F_GET_SEALS));
      const out = openSync(join(this.dir, ghostFile(this.ghosts.length + 1)), 'w', 0o600);
      try { copyFd(src, out, st.size); } finally { closeSync(out); }
    } finally {
      closeSync(src);
    }
    g = {
      id: this.ghosts.length + 1, kind: memfd ? 'memfd' : 'deleted', dev: st.dev, ino: st.ino,
      path: memfd ? shownPath.slice('/memfd:'.length) : shownPath, size: st.size, mode: st.mode & 0o7777, seals,
    };
    this.ghosts.push(g);
    this.byKey.set(key, g);
    return g;
  }
}

/** The agent's one open file per ghost, from which every fd and mapping is opened. */
export class GhostMaker {
  private made = new Map<number, number>();
  constructor(private dir: string, private ghosts: Map<number, GhostEntry>) {}

  fd(id: number): number {
    const have = this.made.get(id);
    if (have !== undefined) return have;
    const g = this.ghosts.get(id);
    if (!g) throw new ImageError(this.dir, `refers to ghost file ${id}, which it does not describe`);
    const contentPath = join(this.dir, ghostFile(id));
    if (!existsSync(contentPath) || statSync(contentPath).size !== g.size) throw new ImageError(contentPath, 'missing or truncated');
    let fd: number;
    if (g.kind === 'memfd') {
      fd = sys('memfd_create', NR.memfd_create, addr(cstr(g.path)), MFD_CLOEXEC | MFD_ALLOW_SEALING);
    } else {
      // at its old path when that is free, so the fd reads as the same "(deleted)" name
      let at = g.path;
      if (existsSync(at) || !existsSync(dirname(at))) at = join(existsSync(dirname(at)) ? dirname(at) : '/tmp', `.godwit-ghost-${basename(g.path)}-${process.pid}-${id}`);
      try {
        fd = openSync(at, O.RDWR | O.CREAT | O.EXCL | O.CLOEXEC, g.mode);
      } catch (e) {
        throw new GodwitError(`cannot recreate deleted file ${g.path}: ${(e as Error).message}`);
      }
      unlinkSync(at);
    }
    const src = openSync(contentPath, 'r');
    try { copyFd(src, fd, g.size); } finally { closeSync(src); }
    ftruncateSync(fd, g.size);
    if (g.seals) sys('fcntl(F_ADD_SEALS)', NR.fcntl, fd, F_ADD_SEALS, g.seals);
    if (fstatSync(fd).size !== g.size) throw new GodwitError(`ghost file ${g.path}: size mismatch after refill`);
    this.made.set(id, fd);
    return fd;
  }

  /** A path any process can open the ghost through (used for mappings). */
  procPath(id: number): string { return `/proc/${process.pid}/fd/${this.fd(id)}`; }

  /** A fresh open file on the ghost, with the flags and position an fd of the tree had. */
  open(id: number, flags: number, pos: number): number {
    const fd = openSync(`/proc/self/fd/${this.fd(id)}`, (flags & ~(O.CREAT | O.EXCL | O.TRUNC)) | O.CLOEXEC);
    if (pos) sys('lseek', NR.lseek, fd, pos, 0);
    return fd;
  }

  close(): void { for (const fd of this.made.values()) closeSync(fd); }
}
