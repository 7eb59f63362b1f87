// Established TCP connections, through TCP repair mode (as CRIU does): on the socket the agent
// took with pidfd_getfd, repair mode freezes the connection without a packet; the sequence
// numbers, both queues (the send queue with what is not yet acknowledged, the receive queue with
// what the process has not read), the negotiated options and the windows are read out. A socket
// made in repair mode is given all of that back and connected without a handshake; once the tree
// is whole, repair mode ends and the connection goes on from the byte where it stopped. The
// network lock (lock.ts) keeps the peer's packets away meanwhile.
import { fdTable } from '../proc/fd.js';
import { ipText, type TcpRow } from '../proc/tcp.js';
import { tcpSocketsOf } from './diag.js';
import { sys, sysTry, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { getInt, setInt, getBytes, ioctlInt, bindAnywhere, IPPROTO_TCP, AF_INET, AF_INET6 } from './sockopt.js';
import type { Connection, Endpoint } from './lock.js';
import type { TcpState } from '../image/format.js';
import { GodwitError, UnsupportedError } from '../errors.js';

const TCP = { MAXSEG: 2, INFO: 11, REPAIR: 19, REPAIR_QUEUE: 20, QUEUE_SEQ: 21, REPAIR_OPTIONS: 22, TIMESTAMP: 24, REPAIR_WINDOW: 29 } as const;
const RECV_QUEUE = 1, SEND_QUEUE = 2;
const TCPOPT = { MSS: 2, WINDOW: 3, SACK_PERM: 4, TIMESTAMP: 8 } as const;
const TCPI_OPT = { TIMESTAMPS: 1, SACK: 2, WSCALE: 4 } as const;
const TCP_ESTABLISHED = 1, TCP_LISTEN = 10;
const TCP_STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING'];
const SIOCINQ = 0x541b, SIOCOUTQ = 0x5411, SIOCOUTQNSD = 0x894b;
const MSG_PEEK = 2, MSG_DONTWAIT = 0x40, EAGAIN = 11, F_SETFL = 4;

/**
 * What the network lock must hold for these processes' TCP sockets (all in one network
 * namespace): a local endpoint whole where every socket on its port is theirs (a server's
 * thousand clients are one element), each connection apart where some other process shares the
 * port; and the ports they listen on, where no one else does, so that no handshake completes into
 * an accept queue while the tree is frozen. `queued`: connections already waiting in their accept
 * queues; `held`: whether every one of those waits on a port the lock holds.
 */
export function lockTargets(pids: number[], tables?: ReadonlyMap<number, ReadonlyMap<number, string>>): { conns: Connection[]; endpoints: Endpoint[]; ports: number[]; count: number; queued: number; held: boolean } {
  const { rows, foreignPorts } = treeTcp(pids, tables);
  const conns: Connection[] = [], endpoints = new Map<string, Endpoint>();
  const all = established(rows);
  for (const c of all) {
    if (foreignPorts.has(c.localPort)) conns.push(c);
    else endpoints.set(`${c.family}/${c.local}/${c.localPort}`, { family: c.family, addr: c.local, port: c.localPort });
  }
  const listeners = rows.filter((r) => r.state === TCP_LISTEN);
  const ports = [...new Set(listeners.map((r) => r.localPort).filter((p) => !foreignPorts.has(p)))];
  const waiting = listeners.filter((r) => r.rxQueue > 0);
  return {
    conns, endpoints: [...endpoints.values()], ports, count: all.length,
    queued: waiting.reduce((n, r) => n + r.rxQueue, 0), held: waiting.every((r) => ports.includes(r.localPort)),
  };
}

/** Connections waiting in the accept queues of these processes' listeners. */
export function acceptBacklog(pids: number[]): number {
  return treeTcp(pids).rows.filter((r) => r.state === TCP_LISTEN).reduce((n, r) => n + r.rxQueue, 0);
}

/** How many established TCP connections these processes hold (in `pids[0]`'s network namespace). */
export function countConnections(pids: number[]): number {
  return established(treeTcp(pids).rows).length;
}

/**
 * What moving these processes' TCP sockets asks of the destination: the local addresses their
 * connections and listeners use (the destination must have them, or be given them, before the
 * tree runs), and their loopback connections to a process outside the tree (which stays behind,
 * so those cannot move).
 */
export function tcpFootprint(pids: number[]): { connections: number; addresses: string[]; loopbackPeers: string[] } {
  const mine = treeTcp(pids).rows.filter((r) => r.state === TCP_ESTABLISHED || r.state === TCP_LISTEN);
  const ends = new Set(mine.map((r) => `${r.local}|${r.localPort}`));
  const addresses = new Set<string>(), loopbackPeers: string[] = [];
  for (const r of mine) {
    if (isLoopback(r.local)) {
      if (r.state === TCP_ESTABLISHED && !ends.has(`${r.peer}|${r.peerPort}`)) loopbackPeers.push(`${r.local}:${r.localPort} <-> ${r.peer}:${r.peerPort}`);
    } else if (r.local !== '0.0.0.0' && r.local !== '::' && r.local !== '::ffff:0.0.0.0') {
      addresses.add(r.local);
    }
  }
  return { connections: mine.filter((r) => r.state === TCP_ESTABLISHED).length, addresses: [...addresses].sort(), loopbackPeers };
}

const isLoopback = (a: string): boolean => a.startsWith('127.') || a === '::1';

function established(rows: TcpRow[]): Connection[] {
  return rows.filter((r) => r.state === TCP_ESTABLISHED)
    .map((r) => ({ family: r.family, local: r.local, localPort: r.localPort, peer: r.peer, peerPort: r.peerPort }));
}

/** The TCP sockets these processes hold, in `pids[0]`'s network namespace, and the ports other sockets there hold. */
function treeTcp(pids: number[], tables?: ReadonlyMap<number, ReadonlyMap<number, string>>): { rows: TcpRow[]; foreignPorts: Set<number> } {
  const inodes = treeSockets(pids, tables);
  return inodes.size ? tcpSocketsOf(pids[0]!, inodes) : { rows: [], foreignPorts: new Set() };
}

/** `tables`: the tree's fd tables when already read (frozen, they do not change) */
function treeSockets(pids: number[], tables?: ReadonlyMap<number, ReadonlyMap<number, string>>): Set<number> {
  const inodes = new Set<number>();
  for (const pid of pids) {
    for (const link of (tables?.get(pid) ?? fdTable(pid)).values()) {
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) inodes.add(Number(m[1]));
    }
  }
  return inodes;
}

/** The same connection, from a socket's own addresses (as a dump records them). */
export function connectionOf(local: Uint8Array, peer: Uint8Array): Connection {
  const l = Buffer.from(local), p = Buffer.from(peer);
  const family = l.readUInt16LE(0) === AF_INET6 ? 6 : 4;
  const ip = (b: Buffer): string => ipText(family === 4 ? b.subarray(4, 8) : b.subarray(8, 24), family).text;
  return { family, local: ip(l), localPort: l.readUInt16BE(2), peer: ip(p), peerPort: p.readUInt16BE(2) };
}


function peek(fd: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  if (!bytes) return b;
  const n = sys('recvfrom(MSG_PEEK)', NR.recvfrom, fd, addr(b), bytes, MSG_PEEK | MSG_DONTWAIT, 0, 0);
  if (n !== bytes) throw new GodwitError(`a TCP queue held ${bytes} bytes, ${n} could be read`);
  return b;
}

const u32 = (x: number): number => x >>> 0;

/**
 * Put the connection in repair mode and read it out. The network lock must already hold its
 * packets: otherwise data or an ACK arriving mid-way would change a queue already read.
 */
export function dumpTcp(fd: number, where: string): TcpState {
  const info = getBytes(fd, IPPROTO_TCP, TCP.INFO, 104, 'getsockopt(TCP_INFO)');
  const state = info[0]!;
  if (state !== TCP_ESTABLISHED) {
    throw new UnsupportedError(`${where}: a TCP connection in state ${TCP_STATES[state] ?? state} (closing or not yet open) is not supported yet`);
  }
  setInt(fd, IPPROTO_TCP, TCP.REPAIR, 1);
  try {
    return readRepaired(fd, info);
  } catch (e) {
    releaseTcp(fd); // not left frozen by a read that failed half-way
    throw e;
  }
}

/** `info`: TCP_INFO, read before repair mode (the options and scales do not change with it). */
function readRepaired(fd: number, info: Buffer): TcpState {
  setInt(fd, IPPROTO_TCP, TCP.REPAIR_QUEUE, SEND_QUEUE);
  const sendSeq = u32(getInt(fd, IPPROTO_TCP, TCP.QUEUE_SEQ));
  const outq = ioctlInt(fd, SIOCOUTQ, 'ioctl(SIOCOUTQ)'), unsent = ioctlInt(fd, SIOCOUTQNSD, 'ioctl(SIOCOUTQNSD)');
  const sendQueue = peek(fd, outq);
  setInt(fd, IPPROTO_TCP, TCP.REPAIR_QUEUE, RECV_QUEUE);
  const recvSeq = u32(getInt(fd, IPPROTO_TCP, TCP.QUEUE_SEQ));
  const recvQueue = peek(fd, ioctlInt(fd, SIOCINQ, 'ioctl(SIOCINQ)'));
  const options = info[5]!, wscale = info[6]!;
  const timestamps = (options & TCPI_OPT.TIMESTAMPS) !== 0;
  const w = getBytes(fd, IPPROTO_TCP, TCP.REPAIR_WINDOW, 20, 'getsockopt(TCP_REPAIR_WINDOW)');
  return {
    sendSeq, recvSeq, sendQueue, unsentBytes: unsent, recvQueue,
    mss: getInt(fd, IPPROTO_TCP, TCP.MAXSEG),
    sack: (options & TCPI_OPT.SACK) !== 0,
    ...((options & TCPI_OPT.WSCALE) !== 0 ? { sndWscale: wscale & 0xf, rcvWscale: wscale >> 4 } : {}),
    ...(timestamps ? { timestamp: u32(getInt(fd, IPPROTO_TCP, TCP.TIMESTAMP)) } : {}),
    window: [0, 4, 8, 12, 16].map((o) => w.readUInt32LE(o)) as TcpState['window'],
  };
}

/** Out of repair mode, where a dump that failed or left the tree running found it. */
export function releaseTcp(fd: number): void {
  sysTry(NR.setsockopt, fd, IPPROTO_TCP, TCP.REPAIR, addr(int32(0)), 4);
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v | 0, 0);
  return b;
}

function fill(fd: number, queue: number, data: Buffer): void {
  setInt(fd, IPPROTO_TCP, TCP.REPAIR_QUEUE, queue);
  for (let off = 0; off < data.length; ) {
    off += sys('sendto(repair queue)', NR.sendto, fd, addr(data.subarray(off)), data.length - off, 0, 0, 0);
  }
}

/**
 * A socket holding the connection as dumped, still in repair mode (nothing goes out until
 * finishTcp). `local` and `peer` are its sockaddrs; the caller sets options and flags.
 */
export function restoreTcp(family: number, local: Uint8Array, peer: Uint8Array, s: TcpState, applyOpts: (fd: number) => void): number {
  const fd = sys('socket', NR.socket, family === AF_INET6 ? AF_INET6 : AF_INET, 1 /* SOCK_STREAM */ | 0o2000000 /* CLOEXEC */, 0);
  try {
    applyOpts(fd);
    // after the options: repair mode forces the bind through (a listener of the tree may hold the
    // port already), and SO_REUSEADDR set later would take that back
    setInt(fd, IPPROTO_TCP, TCP.REPAIR, 1);
    // the sequence numbers where the queues begin: what is queued is put back after them
    setInt(fd, IPPROTO_TCP, TCP.REPAIR_QUEUE, SEND_QUEUE);
    setInt(fd, IPPROTO_TCP, TCP.QUEUE_SEQ, u32(s.sendSeq - s.sendQueue.length) | 0);
    setInt(fd, IPPROTO_TCP, TCP.REPAIR_QUEUE, RECV_QUEUE);
    setInt(fd, IPPROTO_TCP, TCP.QUEUE_SEQ, u32(s.recvSeq - s.recvQueue.length) | 0);
    const la = Buffer.from(local), pa = Buffer.from(peer);
    const bound = bindAnywhere(fd, family, la);
    // before the connect, or the connection runs with a default MSS of 536; the kernel takes at
    // most 32767 here (loopback's 65483 is refused), and TCPOPT_MSS below still clamps it
    if (s.mss <= 32767) setInt(fd, IPPROTO_TCP, TCP.MAXSEG, s.mss);
    sys('connect (repair: no handshake)', NR.connect, fd, addr(pa), pa.length);
    bound();
    const opts: Array<[number, number]> = [[TCPOPT.MSS, s.mss]];
    if (s.sndWscale !== undefined) opts.push([TCPOPT.WINDOW, s.sndWscale | (s.rcvWscale! << 16)]);
    if (s.sack) opts.push([TCPOPT.SACK_PERM, 0]);
    if (s.timestamp !== undefined) opts.push([TCPOPT.TIMESTAMP, 0]);
    const ob = Buffer.alloc(opts.length * 8);
    opts.forEach(([c, v], i) => { ob.writeUInt32LE(c, i * 8); ob.writeUInt32LE(v, i * 8 + 4); });
    sys('setsockopt(TCP_REPAIR_OPTIONS)', NR.setsockopt, fd, IPPROTO_TCP, TCP.REPAIR_OPTIONS, addr(ob), ob.length);
    if (s.timestamp !== undefined) setInt(fd, IPPROTO_TCP, TCP.TIMESTAMP, s.timestamp | 0);
    fill(fd, RECV_QUEUE, Buffer.from(s.recvQueue));
    // what was sent and not acknowledged goes back in repair mode (it is retransmitted as such);
    // what was never sent goes out normally once repair mode ends
    fill(fd, SEND_QUEUE, Buffer.from(s.sendQueue).subarray(0, s.sendQueue.length - s.unsentBytes));
    const w = Buffer.alloc(20);
    s.window.forEach((v, i) => w.writeUInt32LE(v, i * 4));
    sys('setsockopt(TCP_REPAIR_WINDOW)', NR.setsockopt, fd, IPPROTO_TCP, TCP.REPAIR_WINDOW, addr(w), 20);
    return fd;
  } catch (e) {
    sys('close', NR.close, fd);
    throw new GodwitError(`cannot restore the TCP connection: ${(e as Error).message}`);
  }
}

/** End repair mode: the connection runs, and what the process had written but not sent goes out. */
export function finishTcp(fd: number, s: TcpState, flags: number): void {
  setInt(fd, IPPROTO_TCP, TCP.REPAIR, 0);
  const tail = Buffer.from(s.sendQueue).subarray(s.sendQueue.length - s.unsentBytes);
  for (let off = 0, tries = 0; off < tail.length; ) {
    const n = sysTry(NR.sendto, fd, addr(tail.subarray(off)), tail.length - off, MSG_DONTWAIT, 0, 0);
    if (n === -EAGAIN && tries++ < 2000) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); continue; }
    if (n < 0) throw new GodwitError(`cannot send the ${tail.length - off} bytes the process had queued on its TCP connection: errno ${-n}`);
    off += n;
  }
  sys('fcntl(F_SETFL)', NR.fcntl, fd, F_SETFL, flags);
}
