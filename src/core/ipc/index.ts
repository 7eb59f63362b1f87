// The System V IPC objects of a tree, dumped into ipc.mpk and made again before any of its
// tasks exists.
//
// Which objects belong to a tree: the tree shares its IPC namespace with other processes, and
// an object has no owner process, only traces of who used it. godwit takes
//   - the shared memory segments a process of the tree has attached (its maps) or created
//     (shm_cpid), and refuses one that processes outside the tree attach too;
//   - the message queues whose last sender or receiver (msg_lspid, msg_lrpid) is in the tree;
//   - the semaphore sets where the last process to operate on some semaphore (sempid) is.
// An object the tree only opened and never used is not taken; objects of other processes that
// the tree also uses are (it cannot run without them). A restore makes the last sender,
// receiver and operator the tree's processes again, so that a later migration finds the same.
import type { Ipc, VmaEntry } from '../image/format.js';
import type { Injection } from '../ptrace/inject.js';
import { GodwitError } from '../errors.js';
import { logger } from '../log.js';
import { readMaps } from '../proc/smaps.js';
import { listObjects, takenBy, describeObject, type IpcKind, type SysvRow } from './sysvipc.js';
import { dumpShm, createShm, removeShm, attachedOutside } from './shm.js';
import { dumpSem, createSem, removeSem, semPids, claimSem } from './sem.js';
import { dumpMsg, createMsg, removeMsg, claimSend, claimReceive, finishMsg } from './msg.js';

export { attachSysv } from './shm.js';
export type { IpcKind } from './sysvipc.js';

/** One object as a survey and an admission name it. */
export interface IpcRef { kind: IpcKind; key: number; id: number }

/**
 * The segments each process attaches: id → number of attachments (one per attach address: a
 * segment mapped at one base in pieces is one attachment). `perProcess`: each process's
 * attachments as (segment id, base).
 */
function attachCounts(perProcess: Iterable<Iterable<{ id: number; base: number }>>): Map<number, number> {
  const out = new Map<number, number>();
  for (const atts of perProcess) {
    const bases = new Set<string>();
    for (const a of atts) bases.add(`${a.id}@${a.base}`);
    for (const b of bases) { const id = Number(b.split('@')[0]); out.set(id, (out.get(id) ?? 0) + 1); }
  }
  return out;
}

/** The image VMAs' attachments. */
const imageAttaches = (vmas: VmaEntry[]) => vmas.flatMap((v) => (v.kind === 'sysv' && v.sysv ? [{ id: v.sysv.id, base: v.start - v.offset }] : []));

/** A running process's attachments, from its maps (a SysV mapping's inode is the segment id). */
function liveAttaches(pid: number): Array<{ id: number; base: number }> {
  try { return readMaps(pid).filter((v) => v.name.startsWith('/SYSV')).map((v) => ({ id: v.inode, base: v.start - v.offset })); } catch { return []; /* gone */ }
}

/** The tree's objects by the rule above. `attached`: segment ids its processes map. */
function select(pids: ReadonlySet<number>, attached: ReadonlySet<number>): { shm: SysvRow[]; sem: SysvRow[]; msg: SysvRow[] } {
  const shm = listObjects('shm').filter((r) => attached.has(r.id) || pids.has(r.pids[0]!));
  const msg = listObjects('msg').filter((r) => r.pids.some((p) => pids.has(p)));
  const sem = listObjects('sem').filter((r) => {
    try { return semPids(r.id).some((p) => pids.has(p)); } catch { return false; } // removed meanwhile
  });
  return { shm, sem, msg };
}

/** Dump the tree's objects (frozen: `vmas` are its processes' image VMAs). Throws before anything is changed. */
export function dumpIpc(root: number, vmas: Map<number, VmaEntry[]>): Ipc {
  const pids = new Set(vmas.keys());
  const counts = attachCounts([...vmas.values()].map(imageAttaches));
  const chosen = select(pids, new Set(counts.keys()));
  const who = `process ${root}'s tree`;
  const ipc: Ipc = {
    shm: chosen.shm.map((r) => dumpShm(r.id, counts.get(r.id) ?? 0, who)),
    sem: chosen.sem.map((r) => dumpSem(r.id, pids)),
    msg: chosen.msg.map((r) => dumpMsg(r.id, pids, who)),
  };
  const mapped = new Set(ipc.shm.map((s) => s.id));
  for (const id of counts.keys()) {
    if (!mapped.has(id)) throw new GodwitError(`${who} maps System V segment ${id}, which this IPC namespace does not list (another IPC namespace?)`);
  }
  if (ipc.shm.length || ipc.sem.length || ipc.msg.length) {
    logger('ipc').debug({ shm: ipc.shm.map((s) => s.id), sem: ipc.sem.map((s) => s.id), msg: ipc.msg.map((s) => s.id) }, 'System V objects dumped');
  }
  return ipc;
}

/** What a migration's preflight names: the objects of a running tree, read from /proc without stopping it. */
export function surveyIpc(pids: number[]): IpcRef[] {
  const attached = new Set(pids.flatMap((p) => liveAttaches(p).map((a) => a.id)));
  const c = select(new Set(pids), attached);
  return [...c.shm, ...c.sem, ...c.msg].map((r) => ({ kind: r.kind, key: r.key, id: r.id }));
}

/**
 * What the dump would refuse of a running tree's segments (a migration's preflight, before any
 * freeze): one attached by processes outside the tree too cannot move without them.
 */
export function sharedSegments(pids: number[]): string[] {
  const counts = attachCounts(pids.map(liveAttaches));
  return listObjects('shm').filter((r) => counts.has(r.id) && r.nattch > counts.get(r.id)!)
    .map((r) => attachedOutside(`process ${pids[0]}'s tree`, describeObject('shm', r.key, r.id), r.nattch - counts.get(r.id)!));
}

/** Why these objects cannot be made here (their key or id is taken), one line each. */
export function ipcConflicts(refs: IpcRef[]): string[] {
  const rows = new Map<IpcKind, SysvRow[]>();
  const out: string[] = [];
  for (const r of refs) {
    if (!rows.has(r.kind)) rows.set(r.kind, listObjects(r.kind));
    const why = takenBy(r.kind, r.key, r.id, rows.get(r.kind));
    if (why) out.push(`${describeObject(r.kind, r.key, r.id)}: ${why}`);
  }
  return out;
}

const refsOf = (ipc: Ipc): IpcRef[] => [
  ...ipc.shm.map((s) => ({ kind: 'shm' as const, key: s.removed ? 0 : s.key, id: s.id })),
  ...ipc.sem.map((s) => ({ kind: 'sem' as const, key: s.key, id: s.id })),
  ...ipc.msg.map((s) => ({ kind: 'msg' as const, key: s.key, id: s.id })),
];

/**
 * Restore's side: `check` refuses before anything is built, `create` makes every object,
 * `claim` runs in each restored process (two phases, see msg.ts), `finish` marks removed the
 * segments that were, once every process attached them; `remove` undoes it all.
 */
export class IpcRestore {
  private made: IpcRef[] = [];
  constructor(private ipc: Ipc) {}

  get empty(): boolean { return !this.ipc.shm.length && !this.ipc.sem.length && !this.ipc.msg.length; }

  /** segment id → size, for the attachments */
  get shmSizes(): Map<number, number> { return new Map(this.ipc.shm.map((s) => [s.id, s.size])); }

  check(): void {
    const conflicts = ipcConflicts(refsOf(this.ipc));
    if (conflicts.length) throw new GodwitError(`${conflicts[0]}; the tree needs its System V objects with their ids and keys. Remove that object (ipcrm), or restore on another host.`, 6);
  }

  create(): void {
    for (const s of this.ipc.shm) { createShm(s); this.made.push({ kind: 'shm', key: s.key, id: s.id }); }
    for (const s of this.ipc.sem) { createSem(s); this.made.push({ kind: 'sem', key: s.key, id: s.id }); }
    for (const q of this.ipc.msg) { createMsg(q); this.made.push({ kind: 'msg', key: q.key, id: q.id }); }
  }

  /** `procs`: each restored process, by its PID in the image (in a new PID namespace, not its Injection's) */
  claim(procs: Array<{ pid: number; inj: Injection }>): void {
    if (this.empty) return;
    for (const { pid, inj } of procs) {
      for (const s of this.ipc.sem) claimSem(inj, pid, s);
      for (const q of this.ipc.msg) claimSend(inj, pid, q);
    }
    for (const { pid, inj } of procs) for (const q of this.ipc.msg) claimReceive(inj, pid, q);
  }

  finish(): void {
    for (const q of this.ipc.msg) finishMsg(q);
    for (const s of this.ipc.shm) if (s.removed) removeShm(s.id);
  }

  remove(): void {
    removeObjects(this.made);
    this.made = [];
  }
}

/** IPC_RMID each object; one already gone is not an error. A segment goes once its last attachment does. */
export function removeObjects(refs: IpcRef[]): void {
  const log = logger('ipc');
  for (const r of refs) {
    const e = r.kind === 'shm' ? removeShm(r.id) : r.kind === 'sem' ? removeSem(r.id) : removeMsg(r.id);
    if (e < 0 && e !== -22 && e !== -43) log.warn({ kind: r.kind, id: r.id, errno: -e }, 'cannot remove a System V object');
  }
}

/** After a dump killed its tree: its objects are in the image, and left here they would collide with its restore. */
export function removeDumped(ipc: Ipc): void { removeObjects(refsOf(ipc)); }
