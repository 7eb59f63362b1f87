// Character devices that carry no state: reopened by path. Pseudo-terminals are not here: a tty
// has a session, a foreground group and a line discipline, and gets its own module (tty.ts);
// a shell job's terminal (--shell-job) is, as it is only reopened onto the restorer's.
import { openSync, readlinkSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { ProcFd } from '../proc/fd.js';
import type { FileEntry } from '../image/format.js';
import { reopenFlags, O } from './flags.js';
import { UnsupportedError, GodwitError } from '../errors.js';

const STATELESS = new Set(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom']);

/**
 * `ctty` is the process's controlling terminal when the dump was asked for a shell job: fds on it
 * are restored onto the terminal of whoever runs the restore, as CRIU's --shell-job does.
 */
export function dumpChrdev(pid: number, id: number, fd: ProcFd, ctty?: number): FileEntry {
  if (STATELESS.has(fd.link)) return { id, kind: 'chr', path: fd.link, flags: fd.flags, rdev: 0 };
  if (ctty !== undefined && ctty !== 0 && fd.rdev === ctty && /^\/dev\/(pts\/|tty)/.test(fd.link)) {
    return { id, kind: 'tty', flags: fd.flags, path: fd.link };
  }
  if (/^\/dev\/(pts\/|tty|console|ptmx)/.test(fd.link)) {
    // pseudo-terminals are tty.ts's; what is left (a console, a virtual terminal, /dev/tty) has no other end godwit can rebuild
    throw new UnsupportedError(`process ${pid}: fd ${fd.fd} -> ${fd.link}: a terminal that is not a pseudo-terminal; godwit carries /dev/pts/N (and, with --shell-job, the tree's controlling terminal): run the process detached from this one (setsid and redirections)`);
  }
  throw new UnsupportedError(`process ${pid}: fd ${fd.fd} -> ${fd.link}: character device whose state godwit cannot save`);
}

export function openChrdev(e: Extract<FileEntry, { kind: 'chr' }>): number {
  return openSync(e.path, reopenFlags(e.flags));
}

/** The terminal of whoever runs the restore: the first of its fds 0, 1, 2 that is a tty. */
export function restorerTerminal(): string | null {
  for (const fd of [0, 1, 2]) {
    try {
      const p = readlinkSync(`/proc/self/fd/${fd}`);
      if (/^\/dev\/(pts\/\d+|tty\w*)$/.test(p) && isatty(fd)) return p;
    } catch { /* closed */ }
  }
  return null;
}

export function openTty(e: Extract<FileEntry, { kind: 'tty' }>, shellJob: boolean): number {
  if (!shellJob) throw new GodwitError(`the image holds a terminal (${e.path} was the tree's controlling terminal): restore it with --shell-job`);
  const t = restorerTerminal();
  if (!t) throw new GodwitError('restore --shell-job attaches the tree to this terminal, but godwit is not running on one');
  return openSync(t, reopenFlags(e.flags) | O.NOCTTY);
}
