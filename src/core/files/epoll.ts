// epoll: the instance is created by the agent; its registrations are made again from inside the
// task with remote epoll_ctl once the task's fds are in place, because epoll keys every watch by
// (file, fd number) and a later EPOLL_CTL_MOD or DEL from the program must find it.
import { sys } from '../sys/libc.js';
import type { ProcFd } from '../proc/fd.js';
import type { FdEntry, FileEntry } from '../image/format.js';
import type { Injection } from '../ptrace/inject.js';
import { O } from './flags.js';
import { logger } from '../log.js';

const NR_EPOLL_CREATE1 = 291, NR_EPOLL_CTL = 233, EPOLL_CTL_ADD = 1;

export function dumpEpoll(id: number, fd: ProcFd): FileEntry {
  const targets: Array<{ tfd: number; events: number; data: string }> = [];
  for (const m of fd.raw.matchAll(/^tfd:\s*(\d+)\s+events:\s*([0-9a-f]+)\s+data:\s*([0-9a-f]+)/gm)) {
    targets.push({ tfd: Number(m[1]), events: parseInt(m[2]!, 16), data: m[3]! });
  }
  return { id, kind: 'epoll', flags: fd.flags, targets };
}

export function openEpoll(_e: Extract<FileEntry, { kind: 'epoll' }>): number {
  return sys('epoll_create1', NR_EPOLL_CREATE1, O.CLOEXEC);
}

/** Re-register every watch of the epoll fds this task holds. */
export function rearmEpolls(inj: Injection, fds: FdEntry[], files: Map<number, FileEntry>): void {
  const open = new Set(fds.map((f) => f.fd));
  const done = new Set<number>();
  for (const f of fds) {
    const e = files.get(f.fileId);
    if (!e || e.kind !== 'epoll' || done.has(e.id)) continue;
    done.add(e.id);
    for (const t of e.targets) {
      if (!open.has(t.tfd)) {
        logger('epoll').warn({ pid: inj.pid, epfd: f.fd, tfd: t.tfd }, 'epoll watch on an fd this process no longer holds; dropped');
        continue;
      }
      inj.reset(16);
      const ev = Buffer.alloc(12);
      ev.writeUInt32LE(t.events >>> 0, 0);
      ev.writeBigUInt64LE(BigInt('0x' + t.data), 4);
      inj.call(`epoll_ctl(${f.fd}, ADD, ${t.tfd})`, NR_EPOLL_CTL, f.fd, EPOLL_CTL_ADD, t.tfd, inj.put(ev));
    }
  }
}

