// The TCP sockets of a network namespace through sock_diag (NETLINK_SOCK_DIAG, inet_diag): what
// /proc/net/tcp{,6} says, without formatting a line for each of the 262144 buckets of the hash
// (5 ms a file here, inside the freeze); a netlink dump of both families takes a fraction of a
// millisecond for a few sockets, a few milliseconds for thousands. The netlink socket sees the
// namespace of the thread that makes it: for another namespace, /proc/PID/net/tcp is read instead.
import { readlinkSync } from 'node:fs';
import { readTcpTable, tcpRow, type TcpRow } from '../proc/tcp.js';
import { errnoName } from '../sys/errno.js';
import { GodwitError } from '../errors.js';
import { withSocket, nlmsg, nlSend, nlReceive, AF_NETLINK, SOCK_RAW, NLM_F_REQUEST, NLM_F_DUMP, NLMSG_ERROR, NLMSG_DONE } from './netlink.js';
import { AF_INET, AF_INET6, IPPROTO_TCP } from './sockopt.js';

const NETLINK_SOCK_DIAG = 4, SOCK_DIAG_BY_FAMILY = 20;
// every state but TIME_WAIT and the request minisockets of a handshake: neither has an inode,
// and a busy server has many
const STATES = 0xffffffff & ~((1 << 6) | (1 << 12));

/**
 * The TCP sockets among `inodes` (a tree's) in `pid`'s network namespace, as readTcpTable gives
 * them, and the local ports the namespace's other sockets hold. Only the tree's are made into rows:
 * a server's namespace may hold thousands of others.
 */
export function tcpSocketsOf(pid: number, inodes: Set<number>): { rows: TcpRow[]; foreignPorts: Set<number> } {
  const rows: TcpRow[] = [], foreignPorts = new Set<number>();
  // TIME_WAIT has no inode, and holds no port against a tree's socket
  const take = (inode: number, port: number, make: () => TcpRow): void => {
    if (inodes.has(inode)) rows.push(make());
    else if (inode !== 0) foreignPorts.add(port);
  };
  if (netnsOf(pid) !== netnsOf('thread-self')) {
    for (const r of readTcpTable(pid)) take(r.inode, r.localPort, () => r);
  } else {
    withSocket('sock_diag', AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG, (fd) => { dump(fd, AF_INET, take); dump(fd, AF_INET6, take); });
  }
  return { rows, foreignPorts };
}

function netnsOf(who: number | 'thread-self'): string {
  try { return readlinkSync(`/proc/${who}/ns/net`); } catch { return ''; }
}

/** struct inet_diag_req_v2: family, protocol, extensions, pad, states, and a socket id left empty (a dump). */
function request(family: number): Buffer {
  const r = Buffer.alloc(56);
  r.writeUInt8(family, 0);
  r.writeUInt8(IPPROTO_TCP, 1);
  r.writeUInt32LE(STATES >>> 0, 4);
  return r;
}

function dump(fd: number, family: number, take: (inode: number, port: number, make: () => TcpRow) => void): void {
  const { msg, seq } = nlmsg(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, request(family));
  nlSend(fd, msg);
  nlReceive(fd, seq, (type, p) => {
    if (type === NLMSG_DONE) return false;
    if (type === NLMSG_ERROR) {
      const e = -p.readInt32LE(0);
      // no IPv6 in this kernel: no IPv6 sockets either
      if (e === 2 /* ENOENT */ && family === AF_INET6) return false;
      if (e) throw new GodwitError(`sock_diag of TCP sockets: ${errnoName(e)}`);
      return false;
    }
    if (type !== SOCK_DIAG_BY_FAMILY || p.length < 72) return true;
    take(p.readUInt32LE(68), p.readUInt16BE(4), () => row(p));
    return true;
  });
}

/**
 * struct inet_diag_msg: family, state, timer, retrans; the socket id (source and destination
 * ports big-endian, then two 16-byte addresses, the interface, the cookie); expires, the queues,
 * uid, inode.
 */
function row(p: Buffer): TcpRow {
  const fam = p[0] === AF_INET6 ? 6 : 4;
  const len = fam === 4 ? 4 : 16;
  return tcpRow(fam, p.subarray(8, 8 + len), p.readUInt16BE(4), p.subarray(24, 24 + len), p.readUInt16BE(6), p[1]!, p.readUInt32LE(68), p.readUInt32LE(56));
}
