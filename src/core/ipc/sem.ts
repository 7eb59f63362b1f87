// System V semaphore sets: every value in order, owners and permissions. Undo adjustments
// (semadj) do not travel: the kernel offers no way to read another process's undo list (it
// hangs off the task, and only its exit or unshare(CLONE_SYSVSEM) applies it); a restored
// process starts with an empty one. See the README's System V section.
import { sys } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { IPC, semStat, semSet, semRemove, semGetAll, semSetAll, semGetPid } from '../sys/ipc.js';
import type { SysvSemEntry } from '../image/format.js';
import type { Injection } from '../ptrace/inject.js';
import { GodwitError } from '../errors.js';
import { logger } from '../log.js';
import { asCreator, describeObject, setNextId } from './sysvipc.js';

/** sempid of each semaphore of the set. */
export function semPids(id: number): number[] {
  const n = semStat(id).nsems;
  return Array.from({ length: n }, (_, i) => semGetPid(id, i));
}

export function dumpSem(id: number, tree: ReadonlySet<number>): SysvSemEntry {
  const st = semStat(id);
  return {
    id, key: st.perm.key, uid: st.perm.uid, gid: st.perm.gid, cuid: st.perm.cuid, cgid: st.perm.cgid, mode: st.perm.mode & 0o777,
    values: semGetAll(id, st.nsems), pids: semPids(id).map((p) => (tree.has(p) ? p : 0)),
  };
}

export function createSem(s: SysvSemEntry): void {
  setNextId('sem', s.id);
  const id = asCreator(s.cuid, s.cgid, () => sys(`semget(${describeObject('sem', s.key, s.id)})`, NR.semget, s.key, s.values.length, IPC.CREAT | IPC.EXCL | s.mode));
  if (id !== s.id) {
    semRemove(id);
    throw new GodwitError(`${describeObject('sem', s.key, s.id)} came back with id ${id}: its id is taken on this host`, 6);
  }
  semSet(id, s.uid, s.gid, s.mode);
  semSetAll(id, s.values);
}

export function removeSem(id: number): number { return semRemove(id); }

/**
 * SETALL made the restorer the last process to operate on every semaphore. The process that
 * was (if it is one of the tree's) does it again by remote semop, -1 then +1 (+1 then -1 on a
 * zero) in one atomic call: the value does not change, sempid is its own, and a later dump
 * finds the set the tree's. Best effort: a set that refuses is logged, the restore goes on.
 */
export function claimSem(inj: Injection, pid: number, s: SysvSemEntry): void {
  const nums = s.pids.flatMap((p, i) => (p === pid ? [i] : []));
  if (!nums.length) return;
  const ops = Buffer.alloc(nums.length * 2 * 6);
  nums.forEach((n, i) => {
    const first = (s.values[n] ?? 0) > 0 ? -1 : 1;
    ops.writeUInt16LE(n, i * 12); ops.writeInt16LE(first, i * 12 + 2); ops.writeInt16LE(IPC.NOWAIT, i * 12 + 4);
    ops.writeUInt16LE(n, i * 12 + 6); ops.writeInt16LE(-first, i * 12 + 8); ops.writeInt16LE(IPC.NOWAIT, i * 12 + 10);
  });
  inj.reset(16);
  const r = inj.thread().callRaw(NR.semop, s.id, inj.put(ops), nums.length * 2);
  if (r < 0) logger('ipc').warn({ pid: inj.pid, id: s.id, errno: -r }, 'cannot make the process the last to operate on its semaphores');
}

/** The values as they are now, for tests and logs. */
export function semValues(id: number): number[] { return semGetAll(id, semStat(id).nsems); }
