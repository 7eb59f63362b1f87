// inotify: each watch is a file handle in fdinfo. The agent turns the handle back into a path
// (open_by_handle_at on the watch's filesystem), and on restore adds the watch again until the
// kernel hands out the same watch descriptor the program holds.
import { readFileSync, openSync, closeSync, readlinkSync } from 'node:fs';
import { sys, sysTry, addr, cstr } from '../sys/libc.js';
import type { ProcFd } from '../proc/fd.js';
import type { FileEntry } from '../image/format.js';
import { O } from './flags.js';
import { UnsupportedError, GodwitError } from '../errors.js';

const NR_OPEN_BY_HANDLE_AT = 304, NR_INOTIFY_INIT1 = 294, NR_INOTIFY_ADD_WATCH = 254, NR_INOTIFY_RM_WATCH = 255;
const O_PATH = 0o10000000;

/** A directory on the filesystem with device number `sdev` (the kernel's MKDEV: major << 20 | minor). */
function mountOf(sdev: number): string {
  const major = sdev >>> 20, minor = sdev & 0xfffff;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === `${major}:${minor}`) return f[4]!;
  }
  throw new Error(`no mount of device ${major}:${minor}`);
}

function pathOf(sdev: number, type: number, handle: string): string {
  const mnt = openSync(mountOf(sdev), O.RDONLY | O.DIRECTORY);
  try {
    const h = Buffer.from(handle, 'hex');
    const fh = Buffer.alloc(8 + h.length);
    fh.writeUInt32LE(h.length, 0);
    fh.writeInt32LE(type, 4);
    h.copy(fh, 8);
    const fd = sys('open_by_handle_at', NR_OPEN_BY_HANDLE_AT, mnt, addr(fh), O_PATH | O.CLOEXEC);
    try { return readlinkSync(`/proc/self/fd/${fd}`); } finally { closeSync(fd); }
  } finally {
    closeSync(mnt);
  }
}

export function dumpInotify(pid: number, id: number, fd: ProcFd): FileEntry {
  const watches: Array<{ wd: number; mask: number; path: string }> = [];
  for (const m of fd.raw.matchAll(/^inotify wd:(\d+) ino:[0-9a-f]+ sdev:([0-9a-f]+) mask:([0-9a-f]+) ignored_mask:[0-9a-f]+ fhandle-bytes:[0-9a-f]+ fhandle-type:([0-9a-f]+) f_handle:([0-9a-f]+)/gm)) {
    let path: string;
    try {
      path = pathOf(parseInt(m[2]!, 16), parseInt(m[4]!, 16), m[5]!);
    } catch (e) {
      throw new UnsupportedError(`process ${pid}: fd ${fd.fd} (inotify) watch ${m[1]}: cannot find the watched file again (${(e as Error).message})`);
    }
    if (path.endsWith(' (deleted)')) throw new UnsupportedError(`process ${pid}: fd ${fd.fd} (inotify) watches a deleted file ${path}`);
    watches.push({ wd: Number(m[1]), mask: parseInt(m[3]!, 16), path });
  }
  return { id, kind: 'inotify', flags: fd.flags, watches: watches.sort((a, b) => a.wd - b.wd) };
}

export function openInotify(e: Extract<FileEntry, { kind: 'inotify' }>): number {
  const fd = sys('inotify_init1', NR_INOTIFY_INIT1, O.CLOEXEC | (e.flags & O.NONBLOCK));
  for (const w of e.watches) {
    const p = cstr(w.path);
    // watch descriptors are handed out in increasing order: add and drop until ours comes up
    for (let tries = 0; ; tries++) {
      const wd = sysTry(NR_INOTIFY_ADD_WATCH, fd, addr(p), w.mask);
      if (wd < 0) throw new GodwitError(`inotify watch on ${w.path} cannot be added again: errno ${-wd}`);
      if (wd === w.wd) break;
      if (wd > w.wd || tries > 1_000_000) throw new GodwitError(`inotify watch ${w.wd} on ${w.path} came back as ${wd}`);
      sysTry(NR_INOTIFY_RM_WATCH, fd, wd);
    }
  }
  return fd;
}
