// Character devices that carry no state: reopened by path. Terminals are not here: a tty has a
// session, a foreground group and a line discipline, and gets its own module.
import { openSync } from 'node:fs';
import type { ProcFd } from '../proc/fd.js';
import type { FileEntry } from '../image/format.js';
import { reopenFlags } from './flags.js';
import { UnsupportedError } from '../errors.js';

const STATELESS = new Set(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom']);

export function dumpChrdev(pid: number, id: number, fd: ProcFd): FileEntry {
  if (STATELESS.has(fd.link)) return { id, kind: 'chr', path: fd.link, flags: fd.flags, rdev: 0 };
  if (/^\/dev\/(pts\/|tty|console|ptmx)/.test(fd.link)) {
    throw new UnsupportedError(`process ${pid}: fd ${fd.fd} -> ${fd.link}: a terminal; terminals are not supported yet (run the process detached from its terminal, e.g. with setsid and redirections)`);
  }
  throw new UnsupportedError(`process ${pid}: fd ${fd.fd} -> ${fd.link}: character device whose state godwit cannot save`);
}

export function openChrdev(e: Extract<FileEntry, { kind: 'chr' }>): number {
  return openSync(e.path, reopenFlags(e.flags));
}
