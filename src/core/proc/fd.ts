// /proc/PID/fd and fdinfo: which fds a process holds, what they point at, their flags and offsets.
import { readdirSync, readlinkSync, readFileSync, statSync } from 'node:fs';

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

export function readFd(pid: number, fd: number): ProcFd {
  const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
  const info = new Map<string, string>();
  const raw = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
  for (const line of raw.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) info.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  let ino = 0, dev = 0, mode = 0, rdev = 0;
  try {
    const st = statSync(`/proc/${pid}/fd/${fd}`);
    ino = st.ino; dev = st.dev; mode = st.mode; rdev = st.rdev;
  } catch { /* sockets and anon inodes may refuse stat through the link */ }
  return {
    fd, link, pos: Number(info.get('pos') ?? 0), flags: parseInt(info.get('flags') ?? '0', 8),
    mntId: Number(info.get('mnt_id') ?? 0), ino: Number(info.get('ino') ?? ino), dev, mode, rdev, info, raw,
  };
}
