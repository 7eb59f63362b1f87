// A tree's file descriptors. At dump, every fd is given to the module of its kind; fds that share
// one open file description (dup, fork) are found with kcmp and share one file entry, so a shared
// offset comes back shared. At restore, the agent opens each file entry once and sends it to
// every task that held it.
//
// How a restore orders files (read this before adding a kind):
// 1. Every file object is created in the agent, before any task is given any (FileOpener.openAll):
//    a missing path or a bound address fails the restore before a single task is built.
// 2. A kind that needs another object to exist first asks for it through FileOpener.fd(id), which
//    creates it on demand: a unix socket connects only after its named peer is bound; a message
//    in a socket queue is sent only after the files in flight with it exist. A cycle is refused.
// 3. The tasks get their fds (transfer.ts) all at once per task, in tree order.
// 4. What is keyed by the task's own fd numbers is done inside the task after step 3, by remote
//    calls: epoll registrations (epoll.ts), file locks (locks.ts).
// 5. What names a thread waits until the task's threads exist: POSIX timers (task/timers.ts).
// A new kind is a module with dumpX (from /proc and the agent's pidfd_getfd duplicate) and
// openX (the agent creates it), a FileEntry variant in image/format.ts, and a case below.
import { closeSync } from 'node:fs';
import { listFds, readFd, type ProcFd } from '../proc/fd.js';
import { kcmpFile } from '../sys/process.js';
import type { FdEntry, FileEntry, Files, PipeEntry, PtyEntry, TcpState } from '../image/format.js';
import { dumpRegular, openRegular } from './regular.js';
import { dumpChrdev, openChrdev, openTty } from './chrdev.js';
import { TtyDumper, PtyMaker, isPtyMaster, isPtySlave } from './tty.js';
import { readStat } from '../proc/stat.js';
import { dumpPipeEnd, dumpPipeData, pipeIno, PipeMaker } from './pipe.js';
import { O, SETFL_MASK } from './flags.js';
import { dumpEventfd, openEventfd } from './eventfd.js';
import { dumpEpoll, openEpoll } from './epoll.js';
import { dumpTimerfd, openTimerfd } from './timerfd.js';
import { dumpSignalfd, openSignalfd } from './signalfd.js';
import { dumpInotify, openInotify } from './inotify.js';
import { dumpFifo, FifoMaker } from './fifo.js';
import { GhostMaker, type GhostDumper } from './ghost.js';
import { pidfdOpen, pidfdGetfd, close } from '../sys/process.js';
import { getInt, SOL_SOCKET, SO, AF_UNIX, AF_INET, AF_INET6 } from '../net/sockopt.js';
import { unixSockets, type UnixDiag } from '../net/unix-diag.js';
import { dumpUnix, externalUnix, UnixMaker } from '../net/unix.js';
import type { ExternalObject, RestorePeerOptions } from './external.js';
import { Peers } from './peers.js';
import { join } from 'node:path';
import { sys } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { dumpInet, openInet } from '../net/inet.js';
import { releaseTcp, finishTcp } from '../net/tcp.js';
import { UnsupportedError } from '../errors.js';

const S_IFMT = 0o170000, S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFCHR = 0o020000, S_IFIFO = 0o010000;

interface Seen { pid: number; fd: number; ino: number; link: string; id: number }

export class FdTableDumper {
  /** `tcp`: dump established TCP connections (in repair mode, under a network lock the caller holds) */
  /**
   * `survey`: classify a running tree without freezing it (a migration's preflight): internet
   * sockets are left to the TCP survey (nothing is put in repair mode), and what only a moment
   * makes refusable (connections waiting to be accepted) is let pass.
   */
  constructor(readonly ghosts: GhostDumper, private shellJob = false, private tcp = false, private survey = false) {}
  /** our duplicates of the sockets put in repair mode, until the dump ends one way or the other */
  private repaired: number[] = [];
  private files: FileEntry[] = [];
  private seen: Seen[] = [];
  private pipeEnds = new Map<number, { pid: number; fd: number; ends: Set<'r' | 'w'> }>();
  /** which ends of each FIFO the tree holds: one way only, and the other end is outside */
  private fifoEnds = new Map<number, { path: string; ends: Set<'r' | 'w'> }>();
  private ttys = new TtyDumper((pid) => this.pidfdOf(pid));
  /** a shell job's terminal: the root's controlling terminal (the first process dumped is the root) */
  private rootCtty?: number;

  /** One process's fd table; throws UnsupportedError naming the fd for anything unknown. */
  /** The fds of the last process dumped, as /proc showed them (for the lock table). */
  lastFds: ProcFd[] = [];

  /** `table`: its fds and their links, when already read (fdTable) */
  dumpProcess(pid: number, table?: ReadonlyMap<number, string>): FdEntry[] {
    const out: FdEntry[] = [];
    this.lastFds = [];
    const st = readStat(pid);
    this.rootCtty ??= st.ttyNr;
    this.ttys.process({ pid, sid: st.sid, pgid: st.pgid, ttyNr: st.ttyNr, tpgid: st.tpgid });
    for (const n of table ? table.keys() : listFds(pid)) {
      let fd: ProcFd;
      try {
        fd = readFd(pid, n, table?.get(n));
      } catch {
        continue; // closed meanwhile by another thread? the tree is frozen, so only a race with exit
      }
      const id = this.fileOf(pid, fd);
      this.lastFds.push(fd);
      out.push({ fd: n, fileId: id, cloexec: (fd.flags & O.CLOEXEC) !== 0 });
    }
    return out;
  }

  private classify(pid: number, id: number, fd: ProcFd): FileEntry {
    const ino = pipeIno(fd.link);
    if (ino !== null) {
      const e = dumpPipeEnd(id, fd, ino);
      const p = this.pipeEnds.get(ino) ?? { pid, fd: fd.fd, ends: new Set() };
      p.ends.add((e as { end: 'r' | 'w' }).end);
      this.pipeEnds.set(ino, p);
      return e;
    }
    if (fd.link === 'anon_inode:[eventfd]') return dumpEventfd(id, fd);
    if (fd.link === 'anon_inode:[timerfd]') return dumpTimerfd(id, fd);
    if (fd.link === 'anon_inode:[signalfd]') return dumpSignalfd(id, fd);
    if (fd.link === 'anon_inode:inotify') return dumpInotify(pid, id, fd);
    if (fd.link === 'anon_inode:[eventpoll]') return dumpEpoll(id, fd);
    const type = fd.mode & S_IFMT;
    if (fd.link.startsWith('/memfd:') || (fd.link.endsWith(' (deleted)') && type === S_IFREG)) {
      const g = this.ghosts.add(`/proc/${pid}/fd/${fd.fd}`, fd.link.replace(/ \(deleted\)$/, ''));
      return { id, kind: 'ghost', ghostId: g.id, flags: fd.flags, pos: fd.pos };
    }
    if (fd.link.startsWith('/') && (type === S_IFREG || type === S_IFDIR || fd.link.endsWith(' (deleted)'))) {
      return dumpRegular(pid, id, fd);
    }
    if (fd.link.startsWith('/') && type === S_IFCHR) {
      const shellTty = this.shellJob ? this.rootCtty : undefined;
      if (shellTty && fd.rdev === shellTty) return dumpChrdev(pid, id, fd, shellTty);
      if (isPtyMaster(fd.link)) return this.ttys.master(pid, id, fd);
      if (isPtySlave(fd)) return this.ttys.slave(pid, id, fd);
      return dumpChrdev(pid, id, fd, shellTty);
    }
    if (fd.link.startsWith('/') && type === S_IFIFO) {
      const p = this.pipeEnds.get(fd.ino) ?? { pid, fd: fd.fd, ends: new Set(['r', 'w']) };
      this.pipeEnds.set(fd.ino, p); // a FIFO's other end can always be opened again by path
      const acc = fd.flags & O.ACCMODE;
      const f = this.fifoEnds.get(fd.ino) ?? { path: fd.link, ends: new Set<'r' | 'w'>() };
      if (acc !== O.WRONLY) f.ends.add('r');
      if (acc !== O.RDONLY) f.ends.add('w');
      this.fifoEnds.set(fd.ino, f);
      return dumpFifo(id, fd);
    }
    const sock = /^socket:\[(\d+)\]$/.exec(fd.link);
    if (sock) return this.socket(pid, id, fd, Number(sock[1]));
    throw new UnsupportedError(`process ${pid}: fd ${fd.fd} -> ${fd.link}: ${describe(fd.link)} is not supported yet`);
  }

  private diag?: Map<number, UnixDiag>;
  /** fds in flight in socket queues, received into the agent by a peek: dumped like the tree's own */
  private held: number[] = [];

  private inflight(agentFd: number): number {
    this.held.push(agentFd);
    return this.fileOf(process.pid, readFd(process.pid, agentFd));
  }

  /**
   * The image's file id for an fd: the id of an open file seen before (kcmp), or a new one. The
   * slot is taken before the fd is classified, because classifying a socket may meet other files
   * in flight in its queue.
   */
  private fileOf(pid: number, fd: ProcFd): number {
    const same = this.seen.find((s) => s.ino === fd.ino && s.link === fd.link && kcmpFile(s.pid, pid, s.fd, fd.fd) === 0);
    if (same) {
      this.seen.push({ pid, fd: fd.fd, ino: fd.ino, link: fd.link, id: same.id });
      return same.id;
    }
    const id = this.files.length + 1;
    this.files.push({ id, kind: 'chr', path: '/dev/null', flags: 0, rdev: 0 }); // the slot; replaced below
    this.seen.push({ pid, fd: fd.fd, ino: fd.ino, link: fd.link, id });
    this.files[id - 1] = this.classify(pid, id, fd);
    return id;
  }
  private where = new Map<number, string>();

  /** Sockets are examined through the agent's own duplicate of the very same socket. */
  /** one pidfd per process, for all its sockets; closed with endRepair, which every dump calls */
  private pidfds = new Map<number, number>();

  private pidfdOf(pid: number): number {
    let pidfd = this.pidfds.get(pid);
    if (pidfd === undefined) this.pidfds.set(pid, (pidfd = pidfdOpen(pid)));
    return pidfd;
  }

  private socket(pid: number, id: number, fd: ProcFd, ino: number): FileEntry {
    const pidfd = this.pidfdOf(pid);
    let dup = -1;
    try {
      dup = pidfdGetfd(pidfd, fd.fd);
      const family = getInt(dup, SOL_SOCKET, SO.DOMAIN);
      const flags = fd.flags & ~O.CLOEXEC;
      if (family === AF_UNIX) {
        this.diag ??= unixSockets();
        this.where.set(id, `process ${pid}: fd ${fd.fd} -> socket:[${ino}]`);
        return dumpUnix(pid, id, fd.fd, dup, ino, flags, this.diag, (agentFd) => this.inflight(agentFd), this.survey);
      }
      if ((family === AF_INET || family === AF_INET6) && this.survey) return { id, kind: 'chr', path: fd.link, flags, rdev: 0 };
      if (family === AF_INET || family === AF_INET6) {
        const e = dumpInet(pid, id, fd.fd, dup, ino, flags, family, this.tcp);
        if (e.kind === 'inet' && e.tcp) { this.repaired.push(dup); dup = -1; }
        return e;
      }
      throw new UnsupportedError(`process ${pid}: fd ${fd.fd} -> ${fd.link}: a socket of address family ${family} is not supported yet`);
    } finally {
      if (dup >= 0) close(dup);
    }
  }

  /**
   * The dump did not end the tree (it failed, or leaves it running): its connections leave repair
   * mode and go on. Otherwise (`killed`) they are only let go: a socket closed in repair mode sends
   * nothing, and the peer waits, its packets held by the lock, for the restore.
   */
  endRepair(killed: boolean): void {
    // terminals first: a tree that goes on gets its queued bytes back while still frozen
    this.ttys.release(killed);
    for (const fd of this.repaired) {
      if (!killed) releaseTcp(fd);
      close(fd);
    }
    this.repaired = [];
    for (const fd of this.pidfds.values()) close(fd);
    this.pidfds.clear();
  }

  /** File entries plus pipe contents; call after every process. */
  finish(): Files {
    const pipes: PipeEntry[] = [];
    for (const [ino, p] of this.pipeEnds) {
      pipes.push(dumpPipeData(p.pid, p.fd, ino, p.ends.size < 2));
    }
    const unix = this.files.filter((f): f is Extract<FileEntry, { kind: 'unix' }> => f.kind === 'unix');
    for (const fd of this.held) close(fd);
    this.held = [];
    const ptys = this.ttys.finish(!this.survey);
    // a terminal whose master stayed outside is an external peer like the others (inspect lists
    // it, --inherit-fd names it by its path); PtyMaker decides what it becomes
    const ttys: ExternalObject[] = ptys.filter((p) => p.external).map((p) => ({ key: p.path, kind: 'tty', users: p.users ?? [], direction: 'both' }));
    return { files: this.files, pipes, ghosts: this.ghosts.ghosts, external: [...this.externals(pipes, unix), ...ttys], ...(ptys.length ? { ptys } : {}) };
  }

  /** The tree's own fds on the object /proc names `link` (not the agent's copies of fds in flight). */
  private users(link: string): Array<{ pid: number; fd: number }> {
    return this.seen.filter((s) => s.link === link && s.pid !== process.pid).map((s) => ({ pid: s.pid, fd: s.fd }));
  }

  /** Pipes, FIFOs and unix sockets whose other end is outside the tree: recorded, never refused. */
  private externals(pipes: PipeEntry[], unix: Array<Extract<FileEntry, { kind: 'unix' }>>): ExternalObject[] {
    const out: ExternalObject[] = [];
    for (const p of pipes) {
      if (!p.external) continue;
      const key = `pipe:[${p.ino}]`;
      out.push({ key, kind: 'pipe', users: this.users(key), direction: this.pipeEnds.get(p.ino)!.ends.has('w') ? 'out' : 'in' });
    }
    for (const f of this.fifoEnds.values()) {
      if (f.ends.size === 2) continue;
      out.push({ key: f.path, kind: 'fifo', users: this.users(f.path), direction: f.ends.has('w') ? 'out' : 'in' });
    }
    out.push(...externalUnix(unix, (key) => this.users(key)));
    return out;
  }
}

function describe(link: string): string {
  if (link === 'anon_inode:[io_uring]') return 'an io_uring instance';
  if (link.startsWith('socket:')) return 'a socket';
  if (link.startsWith('anon_inode:')) return `an ${link.slice(11)} file`;
  return 'this kind of file';
}

/** Agent-side open files for a restore, one per file entry. */
export class FileOpener {
  private byId = new Map<number, FileEntry>();
  private opened = new Map<number, number>();
  private pipes: PipeMaker;
  private fifos: FifoMaker;
  readonly ghosts: GhostMaker;
  private unix: UnixMaker;
  private ptys: PtyMaker;

  readonly peers: Peers;

  /** `peers`: what the restorer chose for the image's external peers (the defaults without it) */
  constructor(files: Files, dir: string, private shellJob = false, peers?: RestorePeerOptions) {
    this.ghosts = new GhostMaker(dir, new Map((files.ghosts ?? []).map((g) => [g.id, g])));
    for (const f of files.files) this.byId.set(f.id, f);
    this.peers = new Peers(files.external ?? [], peers ?? { inherit: new Map(), captureDir: join(dir, 'captured'), reconnectUnix: false });
    const pipes = new Map(files.pipes.map((p) => [p.id, p]));
    this.pipes = new PipeMaker(pipes, this.peers);
    this.fifos = new FifoMaker(pipes, this.peers);
    this.unix = new UnixMaker(files.files.filter((f): f is Extract<FileEntry, { kind: 'unix' }> => f.kind === 'unix'), (id) => this.fd(id), this.peers);
    this.ptys = new PtyMaker(new Map((files.ptys ?? []).map((p) => [p.id, p])), this.peers, shellJob);
  }

  /**
   * Open everything up front: a missing file fails the restore before any task is built. The
   * far ends of external peers go to godwit-sink then, before any task holds a file.
   */
  openAll(): void {
    for (const id of this.byId.keys()) this.fd(id);
    this.peers.start();
  }

  /**
   * The key of an entry whose other end was outside the tree (what `--inherit-fd` names), or
   * null. A kind with external peers of its own gives its entries a key here.
   */
  private keyOf(e: FileEntry): string | null {
    let key: string | null = null;
    if (e.kind === 'pipe') key = this.pipes.keyOf(e);
    else if (e.kind === 'fifo' || e.kind === 'tty') key = e.path;
    else if (e.kind === 'unix') key = `socket:[${e.ino}]`;
    else if (e.kind === 'pty') key = this.ptys.keyOf(e);
    return key !== null && this.peers.get(key) ? key : null;
  }

  fd(id: number): number {
    let fd = this.opened.get(id);
    if (fd !== undefined) return fd;
    const e = this.byId.get(id);
    if (!e) throw new UnsupportedError(`image refers to file ${id}, which it does not describe`);
    const key = this.keyOf(e);
    const inherited = key === null ? undefined : this.peers.inherited(key);
    if (inherited !== undefined) {
      sys('fcntl(F_SETFL)', NR.fcntl, inherited, 4 /* F_SETFL */, e.flags & SETFL_MASK);
      this.opened.set(id, inherited);
      return inherited;
    }
    switch (e.kind) {
      case 'reg': fd = openRegular(e); break;
      case 'chr': fd = openChrdev(e); break;
      case 'tty': fd = openTty(e, this.shellJob); break;
      case 'pty': fd = this.ptys.open(e); break;
      case 'pipe': fd = this.pipes.open(e); break;
      case 'eventfd': fd = openEventfd(e); break;
      case 'epoll': fd = openEpoll(e); break;
      case 'timerfd': fd = openTimerfd(e); break;
      case 'signalfd': fd = openSignalfd(e); break;
      case 'inotify': fd = openInotify(e); break;
      case 'fifo': fd = this.fifos.open(e); break;
      case 'ghost': fd = this.ghosts.open(e.ghostId, e.flags, e.pos); break;
      case 'inet':
        fd = openInet(e);
        if (e.tcp) this.tcp.push({ fd, e: { ...e, tcp: e.tcp } });
        break;
      case 'unix': fd = this.unix.open(e); break;
    }
    this.opened.set(id, fd);
    return fd;
  }

  get entries(): Map<number, FileEntry> { return this.byId; }

  /** The image's terminals whose far end stayed behind, and what each became. */

  /** The pty session leader `pid` gets back as its controlling terminal (after its fds are in). */
  controllingTerminal(pid: number): { pty: PtyEntry; slave: number } | null { return this.ptys.controlling(pid); }

  /** TCP connections restored in repair mode: kept open here after close(), until finished or dropped */
  private tcp: Array<{ fd: number; e: Extract<FileEntry, { kind: 'inet' }> & { tcp: TcpState } }> = [];

  /** The tree is whole: its connections leave repair mode and go on. */
  finishTcp(): void {
    for (const { fd, e } of this.tcp) {
      try { finishTcp(fd, e.tcp, e.flags & SETFL_MASK); } finally { closeSync(fd); }
    }
    this.tcp = [];
  }

  /** The tree is given up: its connections are closed still in repair mode (nothing is sent). */
  dropTcp(): void {
    for (const { fd } of this.tcp) closeSync(fd);
    this.tcp = [];
  }

  get hasTcp(): boolean { return this.tcp.length > 0; }

  close(): void {
    const keep = new Set(this.tcp.map((t) => t.fd));
    for (const fd of this.opened.values()) if (!keep.has(fd)) closeSync(fd);
    this.opened.clear();
    this.pipes.close();
    this.fifos.close();
    this.ghosts.close();
    this.ptys.close();
  }
}
