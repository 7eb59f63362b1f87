// System V shared memory segments. Contents are read and written through an attachment in
// godwit itself (/proc/self/mem at the attach address), so a segment the tree created but has
// not attached travels as well as one it has. A process's attachments come back by a remote
// shmat at their address, where its VMAs are rebuilt (mem/mm.ts).
import { openSync, closeSync, readSync, writeSync, readFileSync } from 'node:fs';
import { sys, sysTry } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { IPC, SHM, shmStat, shmSet, shmRemove } from '../sys/ipc.js';
import { PAGE_SIZE, PROT } from '../sys/mman.js';
import type { SysvShmEntry, VmaEntry } from '../image/format.js';
import type { Injection } from '../ptrace/inject.js';
import { UnsupportedError, GodwitError } from '../errors.js';
import { parseMaps } from '../proc/smaps.js';
import { asCreator, describeObject, setNextId } from './sysvipc.js';

/** Attach `id` in godwit for the length of `use`. */
function withAttached<T>(id: number, flags: number, use: (at: number, mem: number) => T): T {
  const at = sys(`shmat(${id})`, NR.shmat, id, 0, flags);
  const mem = openSync('/proc/self/mem', flags & SHM.RDONLY ? 'r' : 'r+');
  try {
    return use(at, mem);
  } finally {
    closeSync(mem);
    sys(`shmdt(${id})`, NR.shmdt, at);
  }
}

const SEEK_DATA = 3, SEEK_HOLE = 4;

/** [start, end) offsets of the segment (attached in godwit at `at`) that hold pages, SEEK_DATA/SEEK_HOLE on its map_files entry. */
function dataExtents(at: number, size: number): Array<[number, number]> {
  const len = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
  const fd = openSync(`/proc/self/map_files/${at.toString(16)}-${(at + len).toString(16)}`, 'r');
  const out: Array<[number, number]> = [];
  try {
    for (let pos = 0; pos < size; ) {
      const data = sysTry(NR.lseek, fd, pos, SEEK_DATA);
      if (data < 0 || data >= size) break;
      let hole = sysTry(NR.lseek, fd, data, SEEK_HOLE);
      if (hole < 0 || hole > size) hole = size;
      out.push([data, hole]);
      pos = hole;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** Whether the mapping at `at` in godwit is on hugetlbfs (smaps VmFlags ht). */
function hugeAt(at: number): boolean {
  const v = parseMaps(readFileSync('/proc/self/smaps', 'utf8')).find((m) => m.start === at);
  return !!v?.vmFlags.includes('ht');
}

/** Why a segment attached from outside the tree too cannot move (the dump's and preflight's words). */
export function attachedOutside(who: string, what: string, more: number): string {
  return `${who}: ${what} is attached ${more} more time(s) by processes outside the tree; move them together (dump or migrate their common ancestor), or detach them`;
}

/**
 * One segment of the tree. `treeAttaches`: how many attachments the tree's processes hold
 * (their VMAs): a segment attached from outside too cannot move without them.
 */
export function dumpShm(id: number, treeAttaches: number, who: string): SysvShmEntry {
  const st = shmStat(id);
  const what = describeObject('shm', st.perm.key, id);
  if (st.nattch > treeAttaches) {
    throw new UnsupportedError(attachedOutside(who, what, st.nattch - treeAttaches));
  }
  const size = st.segsz;
  const pages = withAttached(id, SHM.RDONLY, (at, mem) => {
    if (hugeAt(at)) throw new UnsupportedError(`${who}: ${what} is made of huge pages (SHM_HUGETLB), which godwit does not carry yet`);
    const out: SysvShmEntry['pages'] = [];
    // only the pages the segment holds: reading a hole would allocate it
    for (const [lo, hi] of dataExtents(at, size)) {
      const buf = Buffer.alloc(hi - lo);
      readSync(mem, buf, 0, buf.length, at + lo);
      for (let off = 0; off < buf.length; off += PAGE_SIZE) {
        const page = buf.subarray(off, Math.min(off + PAGE_SIZE, buf.length));
        if (page.some((b) => b !== 0)) out.push({ offset: lo + off, data: Buffer.from(page) });
      }
    }
    return out;
  });
  return {
    id, key: st.perm.key, size, uid: st.perm.uid, gid: st.perm.gid, cuid: st.perm.cuid, cgid: st.perm.cgid,
    mode: st.perm.mode & 0o777, removed: (st.perm.mode & SHM.DEST) !== 0, locked: (st.perm.mode & SHM.LOCKED) !== 0, pages,
  };
}

/** Create the segment with its id, key, owners and contents; marking it removed waits for the attachments. */
export function createShm(s: SysvShmEntry): void {
  setNextId('shm', s.id);
  const id = asCreator(s.cuid, s.cgid, () => sys(`shmget(${describeObject('shm', s.key, s.id)})`, NR.shmget, s.removed ? IPC.PRIVATE : s.key, s.size, IPC.CREAT | IPC.EXCL | s.mode));
  if (id !== s.id) {
    shmRemove(id);
    throw new GodwitError(`${describeObject('shm', s.key, s.id)} came back with id ${id}: its id is taken on this host`, 6);
  }
  shmSet(id, s.uid, s.gid, s.mode);
  if (s.locked) sys(`shmctl(${id}, SHM_LOCK)`, NR.shmctl, id, SHM.LOCK, 0);
  if (!s.pages.length) return;
  withAttached(id, 0, (at, mem) => {
    for (const p of s.pages) writeSync(mem, p.data, 0, p.data.length, at + p.offset);
  });
}

export function removeShm(id: number): number { return shmRemove(id); }

/**
 * A process's attachments, made again where its VMAs say: one shmat per attach address (a VMA
 * of it at `start` with `offset` into the segment was attached at `start - offset`), then the
 * parts the process had unmapped go and each part gets its protection back. Before any other
 * mapping: shmat refuses to map over one.
 */
export function attachSysv(inj: Injection, vmas: VmaEntry[], sizes: ReadonlyMap<number, number>): void {
  const parts = vmas.filter((v) => v.kind === 'sysv' && v.sysv);
  const bases = new Map<number, VmaEntry[]>();
  for (const v of parts) {
    const base = v.start - v.offset;
    bases.set(base, [...(bases.get(base) ?? []), v]);
  }
  for (const [base, vs] of bases) {
    const { id, rdonly, exec } = vs[0]!.sysv!;
    const size = sizes.get(id);
    if (size === undefined) throw new GodwitError(`process ${inj.pid}: the image maps System V segment ${id}, which ipc.mpk does not hold`);
    const at = inj.call(`shmat(${id})`, NR.shmat, id, base, (rdonly ? SHM.RDONLY : 0) | (exec ? SHM.EXEC : 0));
    if (at !== base) throw new GodwitError(`process ${inj.pid}: System V segment ${id} attached at ${at.toString(16)}, not ${base.toString(16)}`);
    const full = (rdonly ? PROT.READ : PROT.READ | PROT.WRITE) | (exec ? PROT.EXEC : 0);
    let pos = base;
    const end = base + Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    for (const v of [...vs].sort((a, b) => a.start - b.start)) {
      if (v.start > pos) inj.call('munmap', NR.munmap, pos, v.start - pos);
      if (v.prot !== full) inj.call('mprotect', NR.mprotect, v.start, v.end - v.start, v.prot);
      pos = v.end;
    }
    if (pos < end) inj.call('munmap', NR.munmap, pos, end - pos);
  }
}
