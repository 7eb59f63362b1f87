// What a restore refuses about an image for reasons in the image alone (not in the host that
// restores it): one set of rules, run by the restore before it builds anything and by the dump
// before it kills (or commits) anything, so a dump never ends a tree its restore would refuse.
// Refusals that depend on the restoring host (PIDs taken, files missing or changed, addresses in
// use, the kernel's vDSO) stay with the restore and with a migration's admission.
import type { FileEntry, Files, ProcessCore } from './format.js';
import { UnsupportedError } from '../errors.js';

type UnixEntry = Extract<FileEntry, { kind: 'unix' }>;

const KINDS = new Set<FileEntry['kind']>(['reg', 'chr', 'pipe', 'eventfd', 'epoll', 'timerfd', 'signalfd', 'fifo', 'ghost', 'tty', 'pty', 'inotify', 'inet', 'unix']);
/** The kinds of external peer a restore can give a new far end (tty: see files/tty.ts). */
const EXTERNAL_KINDS = new Set(['pipe', 'fifo', 'unix', 'tty']);

export interface RestorableInput { files: Files; cores: Iterable<Pick<ProcessCore, 'pid' | 'fds'>> }

/** Throws UnsupportedError naming the process, the fd and what to do, for the first problem found. */
export function checkRestorable(img: RestorableInput): void {
  const { files } = img;
  const byId = new Map(files.files.map((f) => [f.id, f]));
  const users = new Map<number, Array<{ pid: number; fd: number }>>();
  for (const c of img.cores) {
    for (const f of c.fds) {
      if (!byId.has(f.fileId)) throw new UnsupportedError(`process ${c.pid}: fd ${f.fd}: the image names file ${f.fileId} but does not describe it (a damaged image)`);
      users.set(f.fileId, [...(users.get(f.fileId) ?? []), { pid: c.pid, fd: f.fd }]);
    }
  }
  const where = (f: FileEntry, what: string): string => {
    const u = users.get(f.id)?.[0];
    return u ? `process ${u.pid}: fd ${u.fd} -> ${what}` : `${what} (in flight in a socket queue)`;
  };
  const pipes = new Map(files.pipes.map((p) => [p.id, p]));
  const ghosts = new Set((files.ghosts ?? []).map((g) => g.id));
  const external = new Set((files.external ?? []).map((o) => o.key));
  for (const o of files.external ?? []) {
    if (!EXTERNAL_KINDS.has(o.kind)) throw new UnsupportedError(`${o.users[0] ? `process ${o.users[0].pid}: fd ${o.users[0].fd} -> ` : ''}${o.key}: an external peer of kind ${o.kind}, which no restore can rebuild`);
  }
  for (const f of files.files) {
    if (!KINDS.has(f.kind)) throw new UnsupportedError(`${where(f, `file ${f.id}`)}: a kind of file (${String(f.kind)}) this godwit cannot restore: restore with the godwit that made the image`);
    if (f.kind === 'pipe') {
      const p = pipes.get(f.pipeId);
      if (!p) throw new UnsupportedError(`${where(f, `pipe ${f.pipeId}`)}: the image does not describe that pipe (a damaged image)`);
      if (p.data.length > Math.max(p.size, 65536)) throw new UnsupportedError(`${where(f, `pipe:[${p.ino}]`)}: ${p.data.length} bytes unread do not fit its ${p.size}-byte buffer`);
      if (p.external && !external.has(`pipe:[${p.ino}]`)) {
        throw new UnsupportedError(`${where(f, `pipe:[${p.ino}]`)}: its other end was outside the tree, and this image (from an older godwit) does not record it: dump again with this godwit`);
      }
    }
    if (f.kind === 'ghost' && !ghosts.has(f.ghostId)) throw new UnsupportedError(`${where(f, `ghost file ${f.ghostId}`)}: the image does not describe it (a damaged image)`);
  }
  checkUnix(files.files.filter((f): f is UnixEntry => f.kind === 'unix'), byId, external, where);
}

/**
 * Unix sockets: a connected socket must have its peer in the tree (a pair), a name to connect to
 * again, or be an external peer; and no socket may be in flight in its own queue, or its pair's
 * (building it would need it built first).
 */
function checkUnix(unix: UnixEntry[], byId: Map<number, FileEntry>, external: Set<string>, where: (f: FileEntry, what: string) => string): void {
  const byIno = new Map(unix.map((u) => [u.ino, u]));
  for (const u of unix) {
    if (u.state !== 'connected' || external.has(`socket:[${u.ino}]`)) continue;
    const peer = byIno.get(u.peerIno);
    const mutual = peer?.peerIno === u.ino;
    if (!mutual && u.peerName.length <= 2) {
      throw new UnsupportedError(`${where(u, `socket:[${u.ino}]`)}: a unix socket connected to an unnamed socket (socket:[${u.peerIno}]) that ${peer ? 'is connected elsewhere' : 'is not in the tree'}: it cannot be connected again; connect it to a named socket, or keep both ends in the tree`);
    }
  }
  // what opening each socket opens first: the files in flight in its queue (and its pair's)
  const needs = (u: UnixEntry): number[] => {
    const peer = byIno.get(u.peerIno);
    const pair = u.state === 'connected' && peer?.peerIno === u.ino ? peer : undefined;
    return [...u.queue, ...(pair?.queue ?? [])].flatMap((m) => m.files);
  };
  const state = new Map<number, 'open' | 'done'>();
  const visit = (id: number, from: UnixEntry): void => {
    const f = byId.get(id);
    if (!f || f.kind !== 'unix') return;
    const node = pairKey(f, byIno);
    const s = state.get(node);
    if (s === 'done') return;
    if (s === 'open') {
      throw new UnsupportedError(`${where(from, `socket:[${from.ino}]`)}: a unix socket in flight in its own queue (or its peer's), which cannot be rebuilt: let the process receive the fds in flight, or close them, before the dump`);
    }
    state.set(node, 'open');
    for (const n of needs(f)) visit(n, f);
    state.set(node, 'done');
  };
  for (const u of unix) visit(u.id, u);
}

/** The two sockets of a pair are built together: one node. */
function pairKey(u: UnixEntry, byIno: Map<number, UnixEntry>): number {
  const peer = byIno.get(u.peerIno);
  return u.state === 'connected' && peer?.peerIno === u.ino ? Math.min(u.ino, peer.ino) : u.ino;
}
