// What /proc/sysvipc lists of the IPC namespace godwit runs in, the next-id sysctls that make
// a new object take a chosen id (CONFIG_CHECKPOINT_RESTORE), and creating an object under its
// original creator's effective ids.
import { readFileSync, writeFileSync } from 'node:fs';
import { sys, sysTry } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { GodwitError } from '../errors.js';

export type IpcKind = 'shm' | 'sem' | 'msg';
/** One object of the namespace, as /proc/sysvipc shows it (PIDs as this namespace sees them). */
export interface SysvRow { kind: IpcKind; key: number; id: number; pids: number[]; nattch: number }

export const KIND_NAME: Record<IpcKind, string> = {
  shm: 'System V shared memory segment', sem: 'System V semaphore set', msg: 'System V message queue',
};

/** `key 0x… (id N)`, the way an operator sees it in ipcs. */
export function describeObject(kind: IpcKind, key: number, id: number): string {
  return `${KIND_NAME[kind]} key 0x${(key >>> 0).toString(16).padStart(8, '0')} (id ${id})`;
}

/** Every object of a kind: shm rows carry cpid and lpid, msg rows lspid and lrpid, sem rows none (see sem.ts). */
export function listObjects(kind: IpcKind): SysvRow[] {
  let text: string;
  try { text = readFileSync(`/proc/sysvipc/${kind}`, 'utf8'); } catch { return []; }
  return text.split('\n').slice(1).filter((l) => l.trim()).map((l) => {
    const f = l.trim().split(/\s+/).map(Number);
    const key = f[0]!, id = f[1]!;
    if (kind === 'shm') return { kind, key, id, pids: [f[4]!, f[5]!], nattch: f[6]! };
    if (kind === 'msg') return { kind, key, id, pids: [f[5]!, f[6]!], nattch: 0 };
    return { kind, key, id, pids: [], nattch: 0 };
  });
}

/**
 * The index part of an id (ids are index + seq << shift): the kernel places a new object at the
 * first free index from next_id's, so an index in use means the id cannot come back.
 */
const IDX_MASK = ((): number => {
  try { return /\bipcmni_extend\b/.test(readFileSync('/proc/cmdline', 'utf8')) ? 0xffffff : 0x7fff; } catch { return 0x7fff; }
})();

/** What of this namespace stands in the way of an object with this key and id, or null. */
export function takenBy(kind: IpcKind, key: number, id: number, rows = listObjects(kind)): string | null {
  const sameKey = key !== 0 ? rows.find((r) => r.key === key) : undefined;
  if (sameKey) return `its key is taken here by ${describeObject(kind, sameKey.key, sameKey.id)}`;
  const sameIdx = rows.find((r) => (r.id & IDX_MASK) === (id & IDX_MASK));
  if (sameIdx) return `its id is taken here by ${describeObject(kind, sameIdx.key, sameIdx.id)}`;
  return null;
}

/** The next object of `kind` created by this IPC namespace gets `id` (the sysctl is one-shot). */
export function setNextId(kind: IpcKind, id: number): void {
  try {
    writeFileSync(`/proc/sys/kernel/${kind}_next_id`, `${id}\n`);
  } catch (e) {
    throw new GodwitError(`cannot choose the id of a System V object (/proc/sys/kernel/${kind}_next_id: ${(e as Error).message}); the kernel needs CONFIG_CHECKPOINT_RESTORE`);
  }
}

/**
 * Run `create` with this thread's effective uid and gid set to the object's creator, so that
 * cuid/cgid come back too (IPC_SET cannot set them). Raw setres[ug]id change only the calling
 * thread, and the saved ids stay root, so root comes back at the end (with its capabilities:
 * an euid going back to 0 regains the permitted set). If the ids cannot be taken, the object
 * is created by root, as the rest of the restorer's work is.
 */
export function asCreator<T>(cuid: number, cgid: number, create: () => T): T {
  if (cuid === 0 && cgid === 0) return create();
  if (sysTry(NR.setresgid, -1, cgid, -1) < 0) return create();
  if (sysTry(NR.setresuid, -1, cuid, -1) < 0) {
    sys('setresgid', NR.setresgid, -1, 0, -1);
    return create();
  }
  try {
    return create();
  } finally {
    sys('setresuid', NR.setresuid, -1, 0, -1);
    sys('setresgid', NR.setresgid, -1, 0, -1);
  }
}
