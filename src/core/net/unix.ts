// Unix sockets. Listeners are bound and listen again (a stale socket file left by the dumped
// process is replaced); a connected pair inside the tree becomes a socketpair with each side's
// unread data put back in its queue; a datagram socket connected to a named socket is connected
// to that name again. A socket connected to a process outside the tree is an external peer
// (files/external.ts): the dump records it, and what it becomes is the restorer's choice.
import { chmodSync, lchownSync, lstatSync, unlinkSync, readlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { sys, sysTry, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import type { FileEntry } from '../image/format.js';
import type { UnixDiag } from './unix-diag.js';
import type { ExternalObject } from '../files/external.js';
import type { Peers } from '../files/peers.js';
import { logger } from '../log.js';
import { peekQueue } from './queue.js';
import { getInt, readOptions, applyOptions, sockName, describeAddr, SOL_SOCKET, SO, AF_UNIX, SOCK_DGRAM } from './sockopt.js';
import { O, SETFL_MASK } from '../files/flags.js';
import { UnsupportedError, GodwitError } from '../errors.js';

type UnixEntry = Extract<FileEntry, { kind: 'unix' }>;
const F_SETFL = 4, SOMAXCONN = 4096;

/**
 * `inflight` turns an fd found in flight (open in the agent) into a file id of the image; the
 * caller owns and closes those fds.
 */
export function dumpUnix(
  pid: number, id: number, fdNum: number, dup: number, ino: number, flags: number, diag: Map<number, UnixDiag>,
  inflight: (agentFd: number) => number, survey = false,
): UnixEntry {
  const type = getInt(dup, SOL_SOCKET, SO.TYPE);
  const d = diag.get(ino);
  const name = sockName(dup, false);
  const where = `process ${pid}: fd ${fdNum} -> socket:[${ino}] (unix ${describeAddr(name)})`;
  const state = getInt(dup, SOL_SOCKET, SO.ACCEPTCONN) === 1 ? 'listen' : d?.peer ? 'connected' : 'unconnected';
  if (state === 'listen' && d && d.rqueue > 0 && !survey) {
    throw new UnsupportedError(`${where}: ${d.rqueue} connection(s) wait to be accepted; try again`);
  }
  const cwd = readlinkSync(`/proc/${pid}/cwd`);
  const file = socketFile(name, cwd);
  return {
    id, kind: 'unix', type, flags, ino, state, name, peerIno: d?.peer ?? 0, peerName: d?.peer ? sockName(dup, true) : Buffer.alloc(0),
    cwd, ...(file ? { file } : {}),
    queue: state === 'listen' ? [] : peekQueue(dup).map((m) => ({ data: m.data, files: m.fds.map(inflight) })),
    opts: readOptions(dup, AF_UNIX, type),
  };
}

/** The file of a socket bound to a path (not an abstract or unnamed one), as the dump found it. */
function socketFile(name: Uint8Array, cwd: string): { mode: number; uid: number; gid: number } | undefined {
  const shown = describeAddr(name);
  if (name.length <= 2 || shown.startsWith('@') || shown.startsWith('(')) return undefined;
  try {
    const st = lstatSync(resolve(cwd, shown));
    return st.isSocket() ? { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } : undefined;
  } catch {
    return undefined; // unlinked while bound: nobody can connect by name anyway
  }
}

/** After the whole tree: the sockets connected to one outside it (their fate is the restorer's). */
export function externalUnix(entries: UnixEntry[], users: (key: string) => ExternalObject['users']): ExternalObject[] {
  const inos = new Set(entries.map((e) => e.ino));
  return entries.filter((e) => e.state === 'connected' && !inos.has(e.peerIno)).map((e) => {
    const key = `socket:[${e.ino}]`;
    const peer = e.peerName.length > 2 ? describeAddr(e.peerName) : '';
    return { key, kind: 'unix', users: users(key), direction: 'both', peerName: peer, sockType: e.type };
  });
}

/**
 * A relative socket path is resolved by the kernel against the caller's cwd: the agent binds and
 * connects from the process's cwd, so the socket keeps the very name the process gave it.
 */
function inCwd<T>(cwd: string, name: Uint8Array, f: () => T): T {
  const path = describeAddr(name);
  if (path.startsWith('@') || path.startsWith('/') || path.startsWith('(')) return f();
  const back = process.cwd();
  process.chdir(cwd);
  try { return f(); } finally { process.chdir(back); }
}

function bindName(fd: number, name: Uint8Array, type: number, cwd: string, file?: UnixEntry['file']): void {
  const sa = Buffer.from(name);
  const shown = describeAddr(sa);
  const path = shown.startsWith('@') || shown.startsWith('(') ? shown : resolve(cwd, shown);
  if (path.startsWith('/')) {
    try {
      if (lstatSync(path).isSocket()) {
        // the dumped process's socket file: replace it only if nobody listens on it any more
        const probe = sys('socket', NR.socket, AF_UNIX, type | O.CLOEXEC, 0);
        const r = inCwd(cwd, sa, () => sysTry(NR.connect, probe, addr(sa), sa.length));
        sys('close', NR.close, probe);
        if (r < 0) unlinkSync(path);
        else throw new GodwitError(`unix socket ${path} is in use by another process`);
      }
    } catch (e) {
      if (e instanceof GodwitError) throw e;
    }
  }
  try {
    inCwd(cwd, sa, () => sys('bind', NR.bind, fd, addr(sa), sa.length));
  } catch (e) {
    throw new GodwitError(`cannot bind unix socket ${path} again: ${(e as Error).message}`);
  }
  // the agent binds as root under its own umask: who may connect is what the file said at dump
  // (a server running as its own user, PostgreSQL's 0777 socket)
  if (file && path.startsWith('/')) {
    lchownSync(path, file.uid, file.gid);
    chmodSync(path, file.mode);
  }
}

/** Send one queued message again, with its files in flight as SCM_RIGHTS. */
function send(fd: number, data: Uint8Array, fds: number[], to?: Uint8Array): void {
  const b = Buffer.from(data);
  const t = to ? Buffer.from(to) : undefined;
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(addr(b), 0);
  iov.writeBigUInt64LE(BigInt(b.length), 8);
  const ctlLen = fds.length ? 16 + ((fds.length * 4 + 7) & ~7) : 0;
  const ctl = Buffer.alloc(Math.max(ctlLen, 8));
  if (fds.length) {
    ctl.writeBigUInt64LE(BigInt(16 + fds.length * 4), 0);
    ctl.writeInt32LE(SOL_SOCKET, 8);
    ctl.writeInt32LE(1 /* SCM_RIGHTS */, 12);
    fds.forEach((f, i) => ctl.writeInt32LE(f, 16 + i * 4));
  }
  const msg = Buffer.alloc(56);
  if (t) { msg.writeBigUInt64LE(addr(t), 0); msg.writeUInt32LE(t.length, 8); }
  msg.writeBigUInt64LE(addr(iov), 16);
  msg.writeBigUInt64LE(1n, 24);
  if (fds.length) { msg.writeBigUInt64LE(addr(ctl), 32); msg.writeBigUInt64LE(BigInt(ctlLen), 40); }
  sys('sendmsg', NR.sendmsg, fd, addr(msg), 0x40 /* MSG_DONTWAIT */);
}

export class UnixMaker {
  private byIno = new Map<number, UnixEntry>();
  private made = new Map<number, number>();

  /** `ensure` opens another file entry first (a peer that must exist before we connect to it). */
  constructor(entries: UnixEntry[], private ensure: (id: number) => number, private peers: Peers) {
    for (const e of entries) this.byIno.set(e.ino, e);
  }

  private opening = new Set<number>();

  open(e: UnixEntry): number {
    const have = this.made.get(e.ino);
    if (have !== undefined) return have;
    if (this.opening.has(e.ino)) {
      throw new GodwitError(`unix socket:[${e.ino}] is in flight in its own queue (or its peer's); that cannot be rebuilt yet`);
    }
    this.opening.add(e.ino);
    try {
      return this.build(e);
    } finally {
      this.opening.delete(e.ino);
    }
  }

  private build(e: UnixEntry): number {
    let fd: number;
    const outside = this.peers.get(`socket:[${e.ino}]`);
    if (outside) {
      fd = this.external(e, outside);
      this.finish(fd, e);
      this.made.set(e.ino, fd);
      return fd;
    }
    const peer = this.byIno.get(e.peerIno);
    if (e.state === 'connected' && peer && peer.peerIno === e.ino) {
      const pair = Buffer.alloc(8);
      sys('socketpair', NR.socketpair, AF_UNIX, e.type | O.CLOEXEC, 0, addr(pair));
      fd = pair.readInt32LE(0);
      const other = pair.readInt32LE(4);
      // what waited in my queue was sent by my peer: send it again from the peer's side
      for (const m of e.queue) send(other, m.data, m.files.map(this.ensure));
      for (const m of peer.queue) send(fd, m.data, m.files.map(this.ensure));
      this.finish(other, peer);
      this.made.set(peer.ino, other);
    } else {
      fd = sys('socket', NR.socket, AF_UNIX, e.type | O.CLOEXEC, 0);
      if (e.name.length > 2) bindName(fd, e.name, e.type, e.cwd, e.file);
      if (e.state === 'listen') sys('listen', NR.listen, fd, SOMAXCONN);
      if (e.state === 'connected') {
        if (peer) this.ensure(peer.id);
        const pa = Buffer.from(e.peerName);
        if (pa.length <= 2) throw new GodwitError(`unix socket:[${e.ino}] was connected to an unnamed socket that is gone`);
        inCwd(e.cwd, pa, () => sys('connect', NR.connect, fd, addr(pa), pa.length));
      }
      if (e.queue.length && e.name.length > 2) {
        const tmp = sys('socket', NR.socket, AF_UNIX, SOCK_DGRAM | O.CLOEXEC, 0);
        try { inCwd(e.cwd, e.name, () => { for (const m of e.queue) send(tmp, m.data, m.files.map(this.ensure), e.name); }); } finally { sys('close', NR.close, tmp); }
      }
    }
    this.finish(fd, e);
    this.made.set(e.ino, fd);
    return fd;
  }

  /**
   * A socket whose peer was outside the tree. Connected again to the peer's name where that is
   * allowed (datagrams always; streams with --ext-unix-sk) and something is there; otherwise one
   * end of a new pair whose other end godwit-sink holds and captures, with what the tree had not
   * read put back in its queue.
   */
  private external(e: UnixEntry, o: ExternalObject): number {
    const pa = Buffer.from(e.peerName);
    if (pa.length > 2 && (e.type === SOCK_DGRAM || this.peers.policy.reconnectUnix)) {
      // non-blocking: a listener whose backlog is full must not hang the restore
      const fd = sys('socket', NR.socket, AF_UNIX, e.type | O.CLOEXEC | O.NONBLOCK, 0);
      if (e.name.length > 2) bindName(fd, e.name, e.type, e.cwd, e.file);
      const r = inCwd(e.cwd, pa, () => sysTry(NR.connect, fd, addr(pa), pa.length));
      if (r >= 0) {
        if (e.queue.length) logger('restore').warn({ socket: o.key, messages: e.queue.length }, 'what the tree had not read from its old peer cannot go into a new connection: dropped');
        this.peers.became(o, 'reconnected', describeAddr(pa));
        return fd;
      }
      sys('close', NR.close, fd);
      logger('restore').info({ socket: o.key, name: describeAddr(pa), errno: -r }, 'nothing listens at the peer\'s name: captured instead');
    }
    const pair = Buffer.alloc(8);
    sys('socketpair', NR.socketpair, AF_UNIX, e.type | O.CLOEXEC, 0, addr(pair));
    const fd = pair.readInt32LE(0), other = pair.readInt32LE(4);
    for (const m of e.queue) send(other, m.data, m.files.map(this.ensure));
    this.peers.toSink(o, other, true);
    return fd;
  }

  private finish(fd: number, e: UnixEntry): void {
    applyOptions(fd, AF_UNIX, e.type, e.opts);
    sys('fcntl(F_SETFL)', NR.fcntl, fd, F_SETFL, e.flags & SETFL_MASK);
  }
}

