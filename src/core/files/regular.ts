// Regular files and directories: reopened by path with the same flags and position. Their
// contents are not in the image (as with CRIU): the file must be there, at the same size.
import { openSync, statSync, closeSync } from 'node:fs';
import { sys } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import type { ProcFd } from '../proc/fd.js';
import type { FileEntry } from '../image/format.js';
import { reopenFlags } from './flags.js';
import { GodwitError, UnsupportedError } from '../errors.js';

export function dumpRegular(pid: number, id: number, fd: ProcFd): FileEntry {
  if (fd.link.endsWith(' (deleted)')) {
    throw new UnsupportedError(`process ${pid}: fd ${fd.fd} -> ${fd.link}: files deleted while open are not supported yet`);
  }
  let size = 0;
  try {
    size = statSync(fd.link).size;
  } catch {
    throw new UnsupportedError(`process ${pid}: fd ${fd.fd} -> ${fd.link}: the path cannot be reached from godwit (another mount namespace?)`);
  }
  return { id, kind: 'reg', path: fd.link, flags: fd.flags, pos: fd.pos, size, mode: fd.mode };
}

export function openRegular(e: Extract<FileEntry, { kind: 'reg' }>): number {
  let size: number;
  try {
    size = statSync(e.path).size;
  } catch {
    throw new GodwitError(`file ${e.path} is gone: it was open at dump time and must exist to restore`);
  }
  if ((e.mode & 0o170000) === 0o100000 && size < e.pos && size !== e.size) {
    throw new GodwitError(`file ${e.path} changed size since the dump (${e.size} -> ${size} bytes) and the saved position ${e.pos} is past its end`);
  }
  const fd = openSync(e.path, reopenFlags(e.flags));
  try {
    if (e.pos) sys('lseek', NR.lseek, fd, e.pos, 0);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}
