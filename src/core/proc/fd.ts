// /proc/PID/fd and fdinfo: which fds a process holds, what they point at, their flags and offsets.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { sysTry, addr, SysError } from '../sys/libc.js';
import { NR } from '../sys/nr.js';

export interface ProcFd {
  fd: number;
  link: string;
  pos: number;
  /** open flags as octal in fdinfo, O_CLOEXEC included */
  flags: number;
  mntId: number;
  ino: number;
  dev: number;
  mode: number;
  rdev: number;
  /** every other "key: value" line of fdinfo, for the fd kind's own module */
  info: Map<string, string>;
  /** fdinfo as read, for kinds with repeated lines (epoll's tfd entries) */
  raw: string;
}

export function listFds(pid: number): number[] {
  return readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
}

/**
 * Every fd of a process and what it points at. Of a frozen tree this does not change: a dump
 * reads it once, for the network lock and for the fds themselves.
 */
export function fdTable(pid: number): Map<number, string> {
  const t = new Map<number, string>();
  for (const fd of listFds(pid)) {
    try { t.set(fd, fdLink(pid, fd)); } catch { /* closed meanwhile (by an exiting thread) */ }
  }
  return t;
}

/** `link`: what fdTable read for it, if it did */
export function readFd(pid: number, fd: number, link = fdLink(pid, fd)): ProcFd {
  const info = new Map<string, string>();
  const raw = readProcFile(`/proc/${pid}/fdinfo/${fd}`);
  for (const line of raw.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) info.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  let ino = 0, dev = 0, mode = 0, rdev = 0;
  // a socket, pipe or anon inode is told by its link; only a path needs its type and device
  if (link.startsWith('/')) {
    try {
      const st = statSync(`/proc/${pid}/fd/${fd}`);
      ino = st.ino; dev = st.dev; mode = st.mode; rdev = st.rdev;
    } catch { /* gone meanwhile */ }
  }
  return {
    fd, link, pos: Number(info.get('pos') ?? 0), flags: parseInt(info.get('flags') ?? '0', 8),
    mntId: Number(info.get('mnt_id') ?? 0), ino: Number(info.get('ino') ?? ino), dev, mode, rdev, info, raw,
  };
}

// A dump reads the link and fdinfo of every fd while the tree is frozen: a thousand sockets took
// 30 ms through node:fs (13 µs a readlink), and take a few through the syscalls themselves.
const AT_FDCWD = -100, O_RDONLY = 0, O_CLOEXEC = 0o2000000;
const io = Buffer.alloc(8192), IO = addr(io);
const pathArg = Buffer.alloc(256), PATH = addr(pathArg);

function cpath(p: string): bigint {
  const n = pathArg.write(p, 0, 'latin1');
  if (n >= pathArg.length - 1) throw new Error(`path too long: ${p}`);
  pathArg[n] = 0;
  return PATH;
}

/** What /proc/PID/fd/FD points at. Throws (ENOENT) for an fd closed meanwhile. */
export function fdLink(pid: number, fd: number): string {
  const p = `/proc/${pid}/fd/${fd}`;
  const n = sysTry(NR.readlinkat, AT_FDCWD, cpath(p), IO, io.length);
  if (n < 0) throw new SysError(`readlink(${p})`, -n);
  return io.toString('utf8', 0, n);
}

/** A small /proc file whole (a larger one, such as an epoll's fdinfo with many targets, through node:fs). */
function readProcFile(p: string): string {
  const fd = sysTry(NR.openat, AT_FDCWD, cpath(p), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) throw new SysError(`open(${p})`, -fd);
  try {
    const n = sysTry(NR.read, fd, IO, io.length);
    if (n < 0) throw new SysError(`read(${p})`, -n);
    if (n < io.length) return io.toString('utf8', 0, n);
  } finally {
    sysTry(NR.close, fd);
  }
  return readFileSync(p, 'utf8');
}
