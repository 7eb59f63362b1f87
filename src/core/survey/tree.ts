// What moving a running tree asks of a destination, read from /proc without stopping it: its
// PIDs and TIDs, its private memory, the files it maps or holds open, the CPU state it may use.
// A coordinator's preflight sends this to the destination before anything is frozen.
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { listTree, listTids, pidExists } from '../proc/tree.js';
import { readMaps } from '../proc/smaps.js';
import { cpuFlags } from '../cpu.js';
import { GodwitError } from '../errors.js';
import { buildId } from './elf.js';
import { tcpFootprint } from '../net/tcp.js';
import { dumpRefusals } from './classify.js';
import { surveyIpc, type IpcRef } from '../ipc/index.js';

/**
 * `written`: the tree writes to it (open for writing, or mapped shared and writable): it changes
 * as the tree runs, so the destination only needs it to exist.
 */
export interface FileIdentity { path: string; size: number; mtimeMs: number; buildId?: string; written?: boolean }
export interface TreeSurvey {
  root: number; ids: number[]; processes: number; threads: number; memoryBytes: number;
  files: FileIdentity[]; xsaveFeatures: string; cpuFlags: string[];
  /** established TCP connections, which move with the tree (see net/tcp.ts tcpFootprint) */
  connections?: number;
  /** local addresses its TCP connections and listeners use, but loopback and the wildcard */
  addresses?: string[];
  /** its loopback connections to processes outside the tree: those cannot move */
  loopbackPeers?: string[];
  /** what the dump would refuse of it (survey/classify.ts), each naming the process, the fd or mapping, and the way out */
  refusals?: string[];
  /** its pipes, FIFOs, unix sockets and terminals whose other end is a process outside it, which stays behind */
  external?: string[];
  /** the pseudo-terminals whose master it holds (/dev/pts/N): they keep their index, which must be free */
  terminals?: string[];
  /** its System V IPC objects (see ipc/index.ts for which), made with the same ids and keys there */
  ipc?: IpcRef[];
}

function privateBytes(pid: number): number {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0);
    return (kb('Private_Clean') + kb('Private_Dirty')) * 1024;
  } catch {
    return 0;
  }
}

/** Regular files by path: those mapped, the executable, and those open (not deleted ones: they travel in the image). */
function filesOf(pid: number, into: Set<string>, written: Set<string>): void {
  for (const v of readMaps(pid)) {
    if (!v.name.startsWith('/') || v.deleted || !v.inode) continue;
    into.add(v.name);
    if (v.shared && v.write) written.add(v.name);
  }
  try { into.add(readlinkSync(`/proc/${pid}/exe`)); } catch { /* a kernel thread or gone */ }
  let fds: string[] = [];
  try { fds = readdirSync(`/proc/${pid}/fd`); } catch { return; }
  for (const fd of fds) {
    try {
      const l = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (!l.startsWith('/') || l.endsWith(' (deleted)') || !statSync(`/proc/${pid}/fd/${fd}`).isFile()) continue;
      into.add(l);
      const flags = parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8);
      if ((flags & 3) !== 0) written.add(l);
    } catch { /* closed meanwhile */ }
  }
}

/** The index of every pty master the process holds (fdinfo's tty-index), as /dev/pts/N. */
function terminalsOf(pid: number, into: Set<string>): void {
  let fds: string[] = [];
  try { fds = readdirSync(`/proc/${pid}/fd`); } catch { return; }
  for (const fd of fds) {
    try {
      if (!/^\/dev\/(pts\/)?ptmx$/.test(readlinkSync(`/proc/${pid}/fd/${fd}`))) continue;
      const n = /^tty-index:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
      if (n !== undefined) into.add(`/dev/pts/${n}`);
    } catch { /* closed meanwhile */ }
  }
}

export function identify(path: string, withBuildId = true): FileIdentity | null {
  try {
    const st = statSync(path);
    if (!st.isFile()) return null;
    const id = withBuildId ? buildId(path) : undefined;
    return { path, size: st.size, mtimeMs: Math.round(st.mtimeMs), ...(id ? { buildId: id } : {}) };
  } catch {
    return null;
  }
}

function classified(root: number): Pick<TreeSurvey, 'refusals' | 'external'> {
  const c = dumpRefusals(root);
  return { refusals: c.refusals, ...(c.external.length ? { external: c.external } : {}) };
}

export function surveyTree(root: number, xsaveFeatures: string): TreeSurvey {
  if (!pidExists(root)) throw new GodwitError(`no process with PID ${root}`, 2);
  const pids = listTree(root);
  const ids = new Set<number>();
  const paths = new Set<string>(), written = new Set<string>(), terminals = new Set<string>();
  let memoryBytes = 0, threads = 0;
  for (const p of pids) {
    const tids = listTids(p);
    threads += tids.length;
    ids.add(p);
    for (const t of tids) ids.add(t);
    memoryBytes += privateBytes(p);
    filesOf(p, paths, written);
    terminalsOf(p, terminals);
  }
  const files = [...paths].sort().map((p) => identify(p)).filter((f): f is FileIdentity => f !== null)
    .map((f) => (written.has(f.path) ? { ...f, written: true } : f));
  const tcp = tcpFootprint(pids);
  return {
    root, ids: [...ids], processes: pids.length, threads, memoryBytes, files, xsaveFeatures, cpuFlags: cpuFlags(),
    connections: tcp.connections, addresses: tcp.addresses, loopbackPeers: tcp.loopbackPeers,
    ipc: surveyIpc(pids), ...classified(root),
    ...(terminals.size ? { terminals: [...terminals].sort() } : {}),
  };
}
