// Turning /proc VMAs into image VMAs, and deciding which pages of each belong in the image.
import { statSync } from 'node:fs';
import type { ProcVma } from '../proc/smaps.js';
import type { VmaEntry, VmaKind } from '../image/format.js';
import { PROT } from '../sys/mman.js';
import { UnsupportedError } from '../errors.js';
import type { GhostDumper } from '../files/ghost.js';

/** smaps VmFlags that restore re-applies with madvise (see restore's applyAdvice). */
export const ADVICE_FLAGS = ['hg', 'nh', 'dc', 'dd', 'wf', 'mg', 'rr', 'sr'] as const;

const KERNEL_MAPPINGS = new Set(['[vdso]', '[vvar]', '[vvar_vclock]', '[vsyscall]']);

/** Mappings the kernel provides (the vDSO, its data pages, vsyscall), never the process's own memory. */
export function isKernelMapping(name: string): boolean { return KERNEL_MAPPINGS.has(name); }

function kindOf(v: ProcVma): VmaKind {
  switch (v.name) {
    case '[vdso]': return 'vdso';
    case '[vvar]': return 'vvar';
    case '[vvar_vclock]': return 'vvar_vclock';
    case '[vsyscall]': return 'vsyscall';
  }
  // System V shared memory: a deleted /SYSV<key> file on the shm mount, its inode the segment's
  // id (0 for the first one of a namespace)
  if (v.shared && v.name.startsWith('/SYSV') && v.deleted) return 'sysv';
  if (v.inode === 0 || v.name === '[heap]' || v.name.startsWith('[stack') || v.name === '') {
    return v.shared ? 'shmem' : 'anon';
  }
  // shared anonymous memory shows as a deleted /dev/zero on the shmem mount
  if (v.shared && v.name === '/dev/zero' && v.deleted) return 'shmem';
  if (v.name.startsWith('/')) return 'file';
  return 'anon';
}

export function toVmaEntry(pid: number, v: ProcVma, ghosts: GhostDumper): VmaEntry {
  const kind = kindOf(v);
  const prot = (v.read ? PROT.READ : 0) | (v.write ? PROT.WRITE : 0) | (v.exec ? PROT.EXEC : 0);
  const range = `${v.start.toString(16)}-${v.end.toString(16)}`;
  if (!['anon', 'file', 'shmem', 'sysv', 'vdso', 'vvar', 'vvar_vclock', 'vsyscall'].includes(kind)) {
    throw new UnsupportedError(`process ${pid}: mapping ${range} (${v.name}) is of a kind godwit does not know`);
  }
  if (kind === 'anon' && v.name.startsWith('[') && !['[heap]', '[stack]'].includes(v.name)) {
    throw new UnsupportedError(`process ${pid}: special mapping ${range} ${v.name} is not supported`);
  }
  const e: VmaEntry = {
    start: v.start, end: v.end, prot, shared: v.shared, kind, name: v.name, offset: v.offset,
    growsDown: v.vmFlags.includes('gd'), ...(v.vmFlags.includes('nr') ? { noReserve: true } : {}), advice: v.vmFlags.filter((f) => (ADVICE_FLAGS as readonly string[]).includes(f)),
  };
  if (kind === 'sysv') {
    if (v.vmFlags.includes('ht')) throw new UnsupportedError(`process ${pid}: System V segment ${v.inode} at ${range} is made of huge pages (SHM_HUGETLB), which godwit does not carry yet`);
    // VmFlags mw/me: what the attachment allows, whatever mprotect made of it since
    e.sysv = { id: v.inode, rdonly: !v.vmFlags.includes('mw'), exec: v.vmFlags.includes('me') };
  } else if (kind === 'file' && (v.deleted || v.name.startsWith('/memfd:'))) {
    e.ghostId = ghosts.add(`/proc/${pid}/map_files/${range}`, v.name).id;
  } else if (kind === 'file') {
    try {
      const st = statSync(v.name);
      e.fileSize = st.size;
      e.fileMtime = st.mtimeMs;
    } catch {
      throw new UnsupportedError(`process ${pid}: mapped file ${v.name} cannot be found by its path (another mount namespace?)`);
    }
  }
  if ((kind === 'anon' || kind === 'file' || kind === 'shmem' || kind === 'sysv') && (v.vmFlags.includes('io') || v.vmFlags.includes('pf'))) {
    throw new UnsupportedError(`process ${pid}: mapping ${range} (${v.name || 'anonymous'}) maps device memory, which cannot be checkpointed`);
  }
  return e;
}

/** Whether the pages of this VMA live in the image (private copies) or come back by themselves. */
export function pagesInImage(e: VmaEntry): 'all-present' | 'anon-only' | 'none' | 'shmem' {
  switch (e.kind) {
    case 'anon': return 'all-present';
    case 'file': return e.shared ? 'none' : 'anon-only';
    case 'shmem': return 'shmem';
    default: return 'none';
  }
}

/**
 * Memory a destination may build ahead while pre-copy runs: private anonymous memory that a plain
 * mmap makes again, nothing else to its shape (no stack growing down, no MAP_NORESERVE).
 */
export function isPlainAnon(v: Pick<VmaEntry, 'kind' | 'shared' | 'growsDown' | 'noReserve' | 'name'>): boolean {
  return v.kind === 'anon' && !v.shared && !v.growsDown && !v.noReserve && (v.name === '' || v.name === '[heap]');
}

/** The same, for a mapping as /proc shows it. */
export function isPlainAnonProc(v: ProcVma): boolean {
  return isPlainAnon({ kind: kindOf(v), shared: v.shared, growsDown: v.vmFlags.includes('gd'), noReserve: v.vmFlags.includes('nr'), name: v.name });
}

/**
 * Other mappings a destination builds ahead, each only as a whole and exactly as it was: a private
 * mapping of a file by its path (its untouched pages come from the file, on both hosts), and the
 * stack. The key says how to map it; mappings with the same range and key are the same mapping.
 */
export function buildKey(v: Pick<VmaEntry, 'kind' | 'shared' | 'growsDown' | 'noReserve' | 'name' | 'offset'> & { ghost: boolean }): string | undefined {
  if (v.shared) return undefined;
  if (v.kind === 'file' && !v.ghost && v.name.startsWith('/')) return `file:${v.offset}:${v.name}`;
  if (v.kind === 'anon' && v.growsDown) return `stack:${v.noReserve ? 'nr' : ''}`;
  // what allocators reserve with MAP_NORESERVE (glibc's thread arenas, jemalloc's extents):
  // often most of a server's memory
  if (v.kind === 'anon' && v.noReserve) return 'anon:nr';
  return undefined;
}

/** The same, for a mapping as /proc shows it (deleted files and memfds travel as ghosts). */
export function buildKeyProc(v: ProcVma): string | undefined {
  return buildKey({
    kind: kindOf(v), shared: v.shared, growsDown: v.vmFlags.includes('gd'), noReserve: v.vmFlags.includes('nr'), name: v.name,
    offset: v.offset, ghost: v.deleted || v.name.startsWith('/memfd:'),
  });
}
