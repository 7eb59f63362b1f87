// Pseudo-terminals. A pty is a pair: the master (an open of /dev/ptmx, which hands out the lowest
// free index) and the slave /dev/pts/N; between them two queues and a line discipline whose
// settings (termios) decide what becomes of each byte, plus a window size, a session it may be
// the controlling terminal of, and that session's foreground group.
//
// At dump, both ends of the same pty are matched by (devpts instance, index); whether the master
// is in the tree is known only when every process was seen (finish). A pty whose master is in the
// tree is rebuilt with the same index; one whose master is outside (the tree's terminal: ssh,
// script) is external: what it becomes is the restorer's policy (PtyMaker.external, files/peers.ts).
//
// The queues cannot be read without consuming them, so the dump takes them and, if the tree goes
// on (a failed dump, --leave-running), puts them back while it is still frozen. They are put in
// so that no byte goes through the line discipline twice:
// - what the slave's side wrote and the master has not read was already output-processed: it is
//   written into the slave with OPOST off;
// - what the master wrote and the slave's side has not read was already input-processed (and
//   echoed): it is injected into the slave's line discipline with TIOCSTI, which is synchronous,
//   under the final termios minus echo, signals and input translations. ICANON stays as it was,
//   so the lines typed ahead and a partial line come back as they were. (Writing it into the
//   master instead would go through the flip buffer's worker, later than the termios that turns
//   echo back on.) To read a partial line at dump, ICANON is turned off for the read.
import { fstatSync, existsSync, openSync, closeSync, readdirSync, readlinkSync, readFileSync } from 'node:fs';
import { sys, sysTry, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { pidfdGetfd } from '../sys/process.js';
import type { ProcFd } from '../proc/fd.js';
import type { FileEntry, PtyEntry } from '../image/format.js';
import type { Injection } from '../ptrace/inject.js';
import type { Peers } from './peers.js';
import { restorerTerminal } from './chrdev.js';
import { O, SETFL_MASK } from './flags.js';
import { GodwitError, UnsupportedError } from '../errors.js';
import { logger } from '../log.js';

// asm-generic/ioctls.h (x86_64)
const TCGETS = 0x5401, TCSETS = 0x5402, TIOCEXCL = 0x540c, TIOCSCTTY = 0x540e, TIOCGPGRP = 0x540f;
const TIOCSPGRP = 0x5410, TIOCSTI = 0x5412, TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414, TIOCPKT = 0x5420;
const TIOCGSID = 0x5429, TIOCGPTN = 0x80045430, TIOCSPTLCK = 0x40045431, TIOCGPKT = 0x80045438;
const TIOCGPTLCK = 0x80045439, TIOCGEXCL = 0x80045440, TIOCGPTPEER = 0x5441;
const F_GETFL = 3, F_SETFL = 4, F_DUPFD_CLOEXEC = 1030, POLLIN = 1, POLLOUT = 4, EAGAIN = 11;
/** struct termios as TCGETS fills it: 4 flag words, c_line, c_cc[19] */
const TERMIOS_SIZE = 36;
// termios bits (asm-generic/termbits.h)
const OPOST = 0o1;
const ISTRIP = 0o40, INLCR = 0o100, IGNCR = 0o200, ICRNL = 0o400, IUCLC = 0o1000, IXON = 0o2000;
const ISIG = 0o1, ICANON = 0o2, ECHO = 0o10, ECHOE = 0o20, ECHOK = 0o40, ECHONL = 0o100, ECHOCTL = 0o1000, ECHOPRT = 0o2000, ECHOKE = 0o4000, IEXTEN = 0o100000;
const VTIME = 5, VMIN = 6;
/** N_TTY_BUF_SIZE: what a line discipline holds unread */
const LDISC_BUF = 4096;
const DEVPTS_MAJOR_FIRST = 136, DEVPTS_MAJOR_LAST = 143;

const log = () => logger('tty');

export const isPtyMaster = (link: string): boolean => /^\/dev\/(pts\/)?ptmx$/.test(link);
const slaveIndex = (link: string): number | null => {
  const m = /^\/dev\/pts\/(\d+)$/.exec(link);
  return m ? Number(m[1]) : null;
};
export const isPtySlave = (fd: ProcFd): boolean => {
  const major = Number((BigInt(fd.rdev) >> 8n) & 0xfffn);
  return slaveIndex(fd.link) !== null && major >= DEVPTS_MAJOR_FIRST && major <= DEVPTS_MAJOR_LAST;
};

function ioctlInt(fd: number, req: number, what: string): number {
  const b = Buffer.alloc(4);
  sys(what, NR.ioctl, fd, req, addr(b));
  return b.readInt32LE(0);
}
/** The int an ioctl gives, or null when it fails (ENOTTY: the pty is nobody's terminal) */
function ioctlIntTry(fd: number, req: number): number | null {
  const b = Buffer.alloc(4);
  return sysTry(NR.ioctl, fd, req, addr(b)) < 0 ? null : b.readInt32LE(0);
}
function ioctlSetInt(fd: number, req: number, v: number, what: string): void {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  sys(what, NR.ioctl, fd, req, addr(b));
}
function getTermios(fd: number): Buffer {
  const b = Buffer.alloc(TERMIOS_SIZE);
  sys('ioctl(TCGETS)', NR.ioctl, fd, TCGETS, addr(b));
  return b;
}
function setTermios(fd: number, t: Uint8Array): void {
  const b = Buffer.from(t);
  sys('ioctl(TCSETS)', NR.ioctl, fd, TCSETS, addr(b));
}
/** A copy of `t` with its flag words changed: [iflag, oflag, lflag] bits to clear */
function without(t: Uint8Array, iflag: number, oflag: number, lflag: number, cc?: Record<number, number>): Buffer {
  const b = Buffer.from(t);
  b.writeUInt32LE((b.readUInt32LE(0) & ~iflag) >>> 0, 0);
  b.writeUInt32LE((b.readUInt32LE(4) & ~oflag) >>> 0, 4);
  b.writeUInt32LE((b.readUInt32LE(12) & ~lflag) >>> 0, 12);
  for (const [i, v] of Object.entries(cc ?? {})) b[17 + Number(i)] = v;
  return b;
}

function waitFor(fd: number, events: number, ms: number): boolean {
  const p = Buffer.alloc(8);
  p.writeInt32LE(fd, 0);
  p.writeInt16LE(events, 4);
  return sysTry(NR.poll, addr(p), 1, ms) > 0;
}

/**
 * Everything readable now from a non-blocking fd. A pty's bytes reach the reader's side through a
 * kernel worker, so a short quiet wait follows the first EAGAIN. `packet`: each read starts with
 * a status byte (TIOCPKT), data only after a 0.
 */
function drain(fd: number, packet = false): Buffer {
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    const n = sysTry(NR.read, fd, addr(buf), buf.length);
    if (n > 0) {
      if (!packet) parts.push(Buffer.from(buf.subarray(0, n)));
      else if (buf[0] === 0) parts.push(Buffer.from(buf.subarray(1, n)));
      continue;
    }
    if (n === -EAGAIN && waitFor(fd, POLLIN, 5)) continue;
    break;
  }
  return Buffer.concat(parts);
}

/** Write all of `data` to a non-blocking fd, waiting for room (bounded). */
function writeAll(fd: number, data: Uint8Array, what: string): void {
  const b = Buffer.from(data);
  const end = Date.now() + 2000;
  for (let off = 0; off < b.length;) {
    const n = sysTry(NR.write, fd, addr(b.subarray(off)), b.length - off);
    if (n > 0) { off += n; continue; }
    if (n !== -EAGAIN || Date.now() > end) throw new GodwitError(`${what}: could not put back ${b.length - off} of ${b.length} queued bytes`);
    waitFor(fd, POLLOUT, 50);
  }
}

/**
 * Put the queues back into a pty whose termios is `termios` (see the top of this file); leaves
 * `termios` set. `slave`: a non-blocking open of the slave.
 */
function refill(slave: number, termios: Uint8Array, toMaster: Uint8Array, toSlave: Uint8Array, what: string): void {
  if (toMaster.length) {
    setTermios(slave, without(termios, 0, OPOST, 0));
    writeAll(slave, toMaster, `${what}: output`);
  }
  if (toSlave.length) {
    if (toSlave.length >= LDISC_BUF) log().warn({ tty: what, bytes: toSlave.length }, 'more typed-ahead input than a line discipline holds: the excess is lost');
    setTermios(slave, without(termios, ISTRIP | INLCR | IGNCR | ICRNL | IUCLC | IXON, 0, ISIG | IEXTEN | ECHO | ECHOE | ECHOK | ECHONL | ECHOCTL | ECHOPRT | ECHOKE));
    const ch = Buffer.alloc(1);
    for (const c of toSlave) {
      ch[0] = c;
      sys('ioctl(TIOCSTI)', NR.ioctl, slave, TIOCSTI, addr(ch));
    }
  }
  setTermios(slave, termios);
}

// ---------------------------------------------------------------------------------------------
// Dump

interface SeenPty {
  ptyId: number; index: number; dev: number; rdev: number;
  /** the agent's duplicate of the tree's master (the very same open file), if the tree has one */
  master?: number;
  /** a new open of the slave, non-blocking, for reading its state and its input queue */
  slave?: number;
  /** the tree's fds on the slave */
  users: Array<{ pid: number; fd: number }>;
  /** what was taken out of the queues, to put back if the tree goes on */
  taken?: { termios: Uint8Array; toMaster: Buffer; toSlave: Buffer };
}

/** A process of the tree, as its controlling terminal concerns it (from /proc/PID/stat). */
export interface TtyProcess { pid: number; sid: number; pgid: number; ttyNr: number; tpgid: number }

export class TtyDumper {
  private ptys = new Map<string, SeenPty>();
  private procs: TtyProcess[] = [];

  /** `pidfd`: the process's pidfd, for a duplicate of its master */
  constructor(private pidfd: (pid: number) => number) {}

  process(p: TtyProcess): void { this.procs.push(p); }

  private pty(dev: number, index: number): SeenPty {
    const key = `${dev}:${index}`;
    let p = this.ptys.get(key);
    if (!p) {
      p = { ptyId: this.ptys.size + 1, index, dev, rdev: 0, users: [] };
      this.ptys.set(key, p);
    }
    return p;
  }

  /** A master (an fd on /dev/ptmx): which pty it is, asked of our duplicate of it. */
  master(pid: number, id: number, fd: ProcFd): FileEntry {
    const dup = pidfdGetfd(this.pidfd(pid), fd.fd);
    let p: SeenPty;
    try {
      const index = ioctlInt(dup, TIOCGPTN, 'ioctl(TIOCGPTN)');
      // the slave tells which devpts instance this is; a locked pty has no slave to open
      const peer = sysTry(NR.ioctl, dup, TIOCGPTPEER, O.RDWR | O.NOCTTY | O.NONBLOCK | O.CLOEXEC);
      const st = peer >= 0 ? fstatSync(peer) : null;
      p = this.pty(st ? st.dev : -fd.ino, index);
      if (st) p.rdev = st.rdev;
      if (p.master !== undefined) {
        closeSync(dup);
        if (peer >= 0) closeSync(peer);
      } else {
        p.master = dup;
        if (peer >= 0) { if (p.slave === undefined) p.slave = peer; else closeSync(peer); }
      }
    } catch (e) {
      closeSync(dup);
      throw new UnsupportedError(`process ${pid}: fd ${fd.fd} -> ${fd.link}: a pseudo-terminal master whose state cannot be read (${(e as Error).message})`);
    }
    return { id, kind: 'pty', flags: fd.flags, ptyId: p.ptyId, end: 'master' };
  }

  /** A slave (/dev/pts/N); reopened here (a new open file: its flags are ours to change). */
  slave(pid: number, id: number, fd: ProcFd): FileEntry {
    const p = this.pty(fd.dev, slaveIndex(fd.link)!);
    p.rdev = fd.rdev;
    p.users.push({ pid, fd: fd.fd });
    if (p.slave === undefined) {
      try {
        p.slave = openSync(`/proc/${pid}/fd/${fd.fd}`, O.RDWR | O.NOCTTY | O.NONBLOCK | O.CLOEXEC);
      } catch (e) {
        throw new UnsupportedError(`process ${pid}: fd ${fd.fd} -> ${fd.link}: cannot open this terminal to read its state (${(e as Error).message})`);
      }
    }
    return { id, kind: 'pty', flags: fd.flags, ptyId: p.ptyId, end: 'slave' };
  }

  /**
   * Every pty the tree holds, its queues taken (`queues` false: a running tree is only surveyed,
   * and reading its queues would take bytes from under it); call once all processes are seen.
   */
  finish(queues = true): PtyEntry[] {
    const pids = new Set(this.procs.map((p) => p.pid));
    return [...this.ptys.values()].map((p) => {
      const path = `/dev/pts/${p.index}`;
      const on = p.master ?? p.slave!;
      const termios = getTermios(on);
      const winsize = Buffer.alloc(8);
      sys('ioctl(TIOCGWINSZ)', NR.ioctl, on, TIOCGWINSZ, addr(winsize));
      const e: PtyEntry = {
        id: p.ptyId, index: p.index, path, external: p.master === undefined, termios, winsize,
        packet: false, locked: false, exclusive: p.slave !== undefined && ioctlInt(p.slave, TIOCGEXCL, 'ioctl(TIOCGEXCL)') !== 0,
        toMaster: new Uint8Array(), toSlave: new Uint8Array(), users: p.users,
      };
      if (p.master !== undefined) {
        e.packet = ioctlInt(p.master, TIOCGPKT, 'ioctl(TIOCGPKT)') !== 0;
        e.locked = ioctlInt(p.master, TIOCGPTLCK, 'ioctl(TIOCGPTLCK)') !== 0;
        // the pty's session and foreground group, asked of the master (ENOTTY: nobody's terminal)
        const sid = ioctlIntTry(p.master, TIOCGSID);
        if (sid !== null && !pids.has(sid)) log().warn({ tty: path, session: sid }, 'the controlling terminal of a session led from outside the tree: it comes back as nobody\'s');
        if (sid !== null && pids.has(sid)) {
          e.session = sid;
          const fg = ioctlInt(p.master, TIOCGPGRP, 'ioctl(TIOCGPGRP)');
          if (this.procs.some((x) => x.pgid === fg)) e.foreground = fg;
        }
      } else {
        // the master is elsewhere: a session leader of the tree tells through /proc
        const leader = this.procs.find((x) => x.pid === x.sid && x.ttyNr !== 0 && x.ttyNr === p.rdev);
        if (leader) {
          e.session = leader.pid;
          if (this.procs.some((x) => x.pgid === leader.tpgid)) e.foreground = leader.tpgid;
        }
      }
      if (queues) this.take(p, e);
      return e;
    });
  }

  private take(p: SeenPty, e: PtyEntry): void {
    let toMaster: Buffer = Buffer.alloc(0), toSlave: Buffer = Buffer.alloc(0);
    if (p.master !== undefined) {
      const fl = sys('fcntl(F_GETFL)', NR.fcntl, p.master, F_GETFL);
      sys('fcntl(F_SETFL)', NR.fcntl, p.master, F_SETFL, fl | O.NONBLOCK);
      try { toMaster = drain(p.master, e.packet); } finally { sys('fcntl(F_SETFL)', NR.fcntl, p.master, F_SETFL, fl); }
    }
    if (p.slave !== undefined) {
      // a partial line is readable only outside canonical mode
      setTermios(p.slave, without(e.termios, 0, 0, ICANON, { [VMIN]: 0, [VTIME]: 0 }));
      try { toSlave = drain(p.slave); } finally { setTermios(p.slave, e.termios); }
    }
    e.toMaster = toMaster;
    e.toSlave = toSlave;
    if (toMaster.length || toSlave.length) p.taken = { termios: e.termios, toMaster, toSlave };
  }

  /**
   * The dump is over. `killed`: the tree is gone, its queues live on in the image only; else the
   * tree goes on (call this while it is still frozen) and gets them back.
   */
  release(killed: boolean): void {
    for (const p of this.ptys.values()) {
      try {
        if (!killed && p.taken && p.slave !== undefined) refill(p.slave, p.taken.termios, p.taken.toMaster, p.taken.toSlave, `/dev/pts/${p.index}`);
      } catch (e) {
        log().error({ tty: `/dev/pts/${p.index}`, err: (e as Error).message }, 'cannot give a terminal its queued bytes back');
      } finally {
        if (p.master !== undefined) closeSync(p.master);
        if (p.slave !== undefined) closeSync(p.slave);
      }
    }
    this.ptys.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// Restore

interface MadePty {
  master: number;
  /** the agent's own open of the slave (non-blocking), -1 for a locked pty */
  slave: number;
  masterUsed: boolean;
  /** made anew for the tree: its session leader gets it as controlling terminal */
  fresh: boolean;
}

const openPtmx = (): number => openSync('/dev/ptmx', O.RDWR | O.NOCTTY | O.CLOEXEC);

/** Who holds /dev/pts/N on this host, for the refusal (best effort: the first process found). */
function holderOf(path: string): string {
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === path) {
          return `by process ${pid} (${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()})`;
        }
      }
    } catch { /* gone, or not ours to see */ }
  }
  return 'by a process not seen here';
}

/** A new pty: the slave unlocked and opened, settings and queues as in `e`. */
function buildPty(master: number, e: PtyEntry): MadePty {
  ioctlSetInt(master, TIOCSPTLCK, 0, 'ioctl(TIOCSPTLCK)');
  const slave = sys('ioctl(TIOCGPTPEER)', NR.ioctl, master, TIOCGPTPEER, O.RDWR | O.NOCTTY | O.NONBLOCK | O.CLOEXEC);
  sys('ioctl(TIOCSWINSZ)', NR.ioctl, master, TIOCSWINSZ, addr(Buffer.from(e.winsize)));
  refill(slave, e.termios, e.toMaster, e.toSlave, e.path);
  if (e.packet) ioctlSetInt(master, TIOCPKT, 1, 'ioctl(TIOCPKT)');
  if (e.exclusive) sys('ioctl(TIOCEXCL)', NR.ioctl, slave, TIOCEXCL, 0);
  if (e.locked) ioctlSetInt(master, TIOCSPTLCK, 1, 'ioctl(TIOCSPTLCK)');
  return { master, slave, masterUsed: false, fresh: true };
}

/** The image's ptys, made in the agent: the tree's own at their indexes, external ones per policy. */
export class PtyMaker {
  private made = new Map<number, MadePty>();
  private prepared = false;
  /** `peers`: the restore's external peers, which say what an external terminal becomes and hold its far end */
  constructor(private ptys: Map<number, PtyEntry>, private peers: Peers, private shellJob: boolean) {}

  /** An external terminal's key (its path), which `--inherit-fd` names; null for the tree's own. */
  keyOf(e: Extract<FileEntry, { kind: 'pty' }>): string | null {
    const p = this.ptys.get(e.ptyId);
    return p?.external ? p.path : null;
  }

  /**
   * Every pty of the tree at its index, before anything else is built. /dev/ptmx hands out the
   * lowest free index: the ones below a wanted index are held until all are made.
   */
  private prepare(): void {
    if (this.prepared) return;
    this.prepared = true;
    const own = [...this.ptys.values()].filter((p) => !p.external).sort((a, b) => a.index - b.index);
    for (const p of own) {
      if (existsSync(p.path)) {
        throw new GodwitError(`pseudo-terminal ${p.path} is in use on this host (${holderOf(p.path)}), and the tree's pty must keep its index (its programs name ${p.path}): end what holds it, or restore on another host`);
      }
    }
    const fillers: number[] = [];
    try {
      for (const p of own) {
        for (;;) {
          const m = openPtmx();
          const got = ioctlInt(m, TIOCGPTN, 'ioctl(TIOCGPTN)');
          if (got === p.index) { this.made.set(p.id, buildPty(m, p)); break; }
          if (got > p.index) {
            closeSync(m);
            throw new GodwitError(`pseudo-terminal ${p.path} was taken on this host while the restore made it: restore again`);
          }
          fillers.push(m);
        }
      }
    } finally {
      for (const f of fillers) closeSync(f);
    }
  }

  open(e: Extract<FileEntry, { kind: 'pty' }>): number {
    this.prepare();
    const p = this.ptys.get(e.ptyId);
    if (!p) throw new GodwitError(`image names pty ${e.ptyId} but does not describe it`);
    let m = this.made.get(e.ptyId);
    if (!m && p.external) m = this.external(p);
    if (!m) throw new GodwitError(`image names ${p.path} but not its state`);
    let fd: number;
    if (e.end === 'master') {
      // a second open file on one master cannot be made: opening /dev/ptmx makes a new pty
      fd = m.masterUsed ? sys('fcntl(F_DUPFD_CLOEXEC)', NR.fcntl, m.master, F_DUPFD_CLOEXEC, 0) : m.master;
      if (m.masterUsed) log().warn({ tty: p.path }, 'two open files on one pty master come back as one');
      m.masterUsed = true;
    } else if (m.fresh) {
      fd = sys('ioctl(TIOCGPTPEER)', NR.ioctl, m.master, TIOCGPTPEER, (e.flags & O.ACCMODE) | O.NOCTTY | O.CLOEXEC);
    } else {
      fd = sys('fcntl(F_DUPFD_CLOEXEC)', NR.fcntl, m.slave, F_DUPFD_CLOEXEC, 0);
    }
    sys('fcntl(F_SETFL)', NR.fcntl, fd, F_SETFL, e.flags & SETFL_MASK);
    return fd;
  }

  /**
   * An external terminal (its master outside) not inherited (FileOpener gives `--inherit-fd`'s
   * fd first): the restorer's terminal with --shell-job, else a new pty with the same settings
   * whose master godwit-sink holds, capturing what the tree writes, like every external peer.
   */
  private external(p: PtyEntry): MadePty {
    const obj = this.peers.get(p.path) ?? { key: p.path, kind: 'tty' as const, users: p.users ?? [], direction: 'both' as const };
    let m: MadePty;
    if (this.shellJob) {
      const t = restorerTerminal();
      if (!t) throw new GodwitError(`restore --shell-job puts ${p.path} on this terminal, but godwit is not running on one`);
      m = { master: -1, slave: openSync(t, O.RDWR | O.NOCTTY | O.CLOEXEC), masterUsed: false, fresh: false };
      this.peers.became(obj, 'inherited', t);
    } else {
      const master = openPtmx();
      try {
        const made = buildPty(master, { ...p, toMaster: new Uint8Array(), locked: false, packet: false });
        // the sink gets a copy; ours stays for the slaves' opens (TIOCGPTPEER) until close
        this.peers.toSink(obj, sys('fcntl(F_DUPFD_CLOEXEC)', NR.fcntl, master, F_DUPFD_CLOEXEC, 0), true);
        m = { master, slave: made.slave, masterUsed: false, fresh: true };
      } catch (err) {
        closeSync(master);
        throw err;
      }
    }
    this.made.set(p.id, m);
    return m;
  }

  /** The pty a session leader gets back as its controlling terminal, and the slave to do it with. */
  controlling(pid: number): { pty: PtyEntry; slave: number } | null {
    for (const p of this.ptys.values()) {
      const m = this.made.get(p.id);
      if (p.session === pid && m?.fresh && m.slave >= 0) return { pty: p, slave: m.slave };
    }
    return null;
  }

  /** A master handed out belongs to the caller (an external one's is the sink's); the rest is closed here. */
  close(): void {
    for (const m of this.made.values()) {
      if (!m.masterUsed && m.master >= 0) closeSync(m.master);
      if (m.slave >= 0) closeSync(m.slave);
    }
    this.made.clear();
  }
}

/** Inside session leader `inj`, just after its setsid: the pty on its `fd` becomes its controlling terminal. */
export function setControllingTerminal(inj: Injection, fd: number, pty: PtyEntry): void {
  inj.call(`ioctl(${pty.path}, TIOCSCTTY)`, NR.ioctl, fd, TIOCSCTTY, 0);
}

/** Inside session leader `inj`, once the session's groups exist: the terminal's foreground group as it was. */
export function setForegroundGroup(inj: Injection, fd: number, pty: PtyEntry): void {
  if (pty.foreground !== undefined && pty.foreground !== inj.pid) {
    inj.reset(16);
    const pg = Buffer.alloc(4);
    pg.writeInt32LE(pty.foreground, 0);
    inj.call(`ioctl(${pty.path}, TIOCSPGRP ${pty.foreground})`, NR.ioctl, fd, TIOCSPGRP, inj.put(pg));
  }
}
