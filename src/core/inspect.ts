// A summary of what an image holds, for people and scripts.
import { readImage } from './image/image.js';
import { zeroOf } from './mem/zero.js';
import type { FileEntry, GhostEntry, PtyEntry } from './image/format.js';
import { describeAddr } from './net/sockopt.js';
import type { ExternalObject } from './files/external.js';

function describe(f: FileEntry, ghosts: Map<number, GhostEntry>, ptys: Map<number, PtyEntry>): string {
  switch (f.kind) {
    case 'pipe': return `pipe:[${f.pipeId}] (${f.end})`;
    case 'eventfd': return `count ${parseInt(f.count, 16)}`;
    case 'epoll': return `${f.targets.length} watch(es)`;
    case 'timerfd': return `clock ${f.clockid}, ${f.value[0]}s left`;
    case 'signalfd': return `mask ${f.mask}`;
    case 'tty': return `terminal ${f.path} (restored onto the restorer's terminal with --shell-job)`;
    case 'pty': {
      const p = ptys.get(f.ptyId);
      return `${p?.path ?? '?'} (${f.end}${p?.external ? ', its master outside the tree' : ''}${p?.session ? `, controlling terminal of session ${p.session}` : ''})`;
    }
    case 'inotify': return `inotify: ${f.watches.map((w) => `${w.wd}=${w.path}`).join(', ')}`;
    case 'inet': return `${f.type === 1 ? 'tcp' : 'udp'} ${f.listening ? 'listening on ' : ''}${describeAddr(f.local)}${f.peer.length ? ` -> ${describeAddr(f.peer)}` : ''}`;
    case 'unix': return `unix ${f.state} ${describeAddr(f.name)}${f.queue.length ? `, ${f.queue.reduce((s, q) => s + q.data.length, 0)} bytes queued${f.queue.some((q) => q.files.length) ? ' with files in flight' : ''}` : ''}`;
    case 'ghost': {
      const g = ghosts.get(f.ghostId);
      return g ? `${g.kind === 'memfd' ? `memfd:${g.path}` : `${g.path} (deleted)`}, ${g.size} bytes in the image` : '?';
    }
    default: return f.path;
  }
}

export interface ImageSummary {
  dir: string;
  format: number;
  godwit: string;
  kernel: string;
  created: string;
  root: number;
  parent?: string;
  processes: Array<{
    pid: number; ppid: number; pgid: number; sid: number; comm: string; zombie: boolean;
    threads: number[]; vmas: number; pages: number; pageBytes: number;
    /** pages the image records as zero: no room in it, nothing to write on restore */
    zeroBytes: number;
    fds: Array<{ fd: number; kind: string; target: string }>;
    exe?: string; cwd?: string;
  }>;
  totalPageBytes: number;
  /** pipes, FIFOs and sockets whose other end was outside the tree (what --inherit-fd names) */
  external: ExternalObject[];
  /** System V IPC objects, with the ids and keys they come back with */
  ipc: Array<{ kind: 'shm' | 'sem' | 'msg'; id: number; key: string; mode: string; owner: string; what: string }>;
  /** older links first, then this image: where each page of a restore comes from */
  chain: Array<{ dir: string; kind: string; pages: number }>;
}

const common = (o: { id: number; key: number; mode: number; uid: number; gid: number; cuid: number; cgid: number }) => ({
  id: o.id, key: `0x${(o.key >>> 0).toString(16).padStart(8, '0')}`, mode: o.mode.toString(8).padStart(4, '0'),
  owner: `${o.uid}:${o.gid} (creator ${o.cuid}:${o.cgid})`,
});

export function inspectImage(dir: string): ImageSummary {
  const img = readImage(dir);
  const files = new Map(img.files.files.map((f) => [f.id, f]));
  const ghosts = new Map((img.files.ghosts ?? []).map((g) => [g.id, g]));
  const ptys = new Map((img.files.ptys ?? []).map((p) => [p.id, p]));
  let total = 0;
  const processes = img.pstree.entries.map((e) => {
    const core = img.cores.get(e.pid);
    const pm = img.pagemaps.get(e.pid);
    const pages = pm ? pm.segments.reduce((t, x) => t + x.totalPages, 0) : 0;
    const zeroBytes = pm ? zeroOf(pm.segments).reduce((t, [a, b]) => t + b - a, 0) : 0;
    total += pages * 4096;
    return {
      pid: e.pid, ppid: e.ppid, pgid: e.pgid, sid: e.sid, comm: core?.comm ?? '(zombie)', zombie: !!e.zombie,
      threads: e.threads, vmas: core?.mm.vmas.length ?? 0, pages, pageBytes: pages * 4096, zeroBytes,
      fds: (core?.fds ?? []).map((f) => {
        const file = files.get(f.fileId);
        const target = file ? describe(file, ghosts, ptys) : '?';
        return { fd: f.fd, kind: file?.kind ?? '?', target };
      }),
      ...(core ? { exe: core.mm.exe, cwd: core.cwd } : {}),
    };
  });
  return {
    dir, format: img.inventory.format, godwit: img.inventory.godwit, kernel: img.inventory.kernel,
    created: img.inventory.created, root: img.inventory.root,
    ...(img.inventory.parent ? { parent: img.inventory.parent } : {}), processes, totalPageBytes: total,
    external: img.files.external ?? [],
    ipc: [
      ...img.ipc.shm.map((o) => ({ kind: 'shm' as const, ...common(o), what: `${o.size} bytes, ${o.pages.length} page(s) not zero${o.removed ? ', marked for removal' : ''}${o.locked ? ', locked' : ''}` })),
      ...img.ipc.sem.map((o) => ({ kind: 'sem' as const, ...common(o), what: `values ${o.values.join(' ')}` })),
      ...img.ipc.msg.map((o) => ({ kind: 'msg' as const, ...common(o), what: `${o.messages.length} message(s), ${o.messages.reduce((t, m) => t + m.data.length, 0)} bytes, qbytes ${o.qbytes}` })),
    ],
    chain: [
      ...img.chain.map((l) => ({ dir: l.dir, kind: 'pre-dump', pages: [...l.pagemaps.values()].reduce((s, p) => s + p.segments.reduce((t, x) => t + x.totalPages, 0), 0) })),
      { dir, kind: 'dump', pages: total / 4096 },
    ],
  };
}
