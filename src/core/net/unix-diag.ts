// UNIX_DIAG over NETLINK_SOCK_DIAG: for every unix socket of this network namespace, its type,
// state, name, peer inode and queue length. /proc/net/unix has no peers, and a pair of sockets
// can only be put back together by knowing which two are connected.
import { closeSync } from 'node:fs';
import { sys, sysTry, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';

const AF_NETLINK = 16, NETLINK_SOCK_DIAG = 4, SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 1, NLM_F_DUMP = 0x300, NLMSG_ERROR = 2, NLMSG_DONE = 3;
const UDIAG_SHOW_NAME = 1, UDIAG_SHOW_PEER = 4, UDIAG_SHOW_RQLEN = 0x10;
const UNIX_DIAG_NAME = 0, UNIX_DIAG_PEER = 2, UNIX_DIAG_RQLEN = 4;

export interface UnixDiag { ino: number; type: number; state: number; name?: Buffer; peer?: number; rqueue: number; wqueue: number }

export function unixSockets(): Map<number, UnixDiag> {
  const out = new Map<number, UnixDiag>();
  const fd = sys('socket(NETLINK_SOCK_DIAG)', NR.socket, AF_NETLINK, 2 | 0o2000000, NETLINK_SOCK_DIAG);
  try {
    const req = Buffer.alloc(40);
    req.writeUInt32LE(40, 0); req.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4); req.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
    req.writeUInt32LE(1, 8);
    req.writeUInt8(1, 16); // AF_UNIX
    req.writeUInt32LE(0xffffffff, 20); // every state
    req.writeUInt32LE(UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN, 28);
    req.writeUInt32LE(0xffffffff, 32); req.writeUInt32LE(0xffffffff, 36);
    const nl = Buffer.alloc(12);
    nl.writeUInt16LE(AF_NETLINK, 0);
    sys('sendto(sock_diag)', NR.sendto, fd, addr(req), 40, 0, addr(nl), 12);
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const n = sysTry(NR.recvfrom, fd, addr(buf), buf.length, 0, 0, 0);
      if (n <= 0) return out;
      for (let off = 0; off + 16 <= n; ) {
        const len = buf.readUInt32LE(off), type = buf.readUInt16LE(off + 4);
        if (type === NLMSG_DONE || type === NLMSG_ERROR) return out;
        const m = off + 16;
        const d: UnixDiag = { type: buf[m + 1]!, state: buf[m + 2]!, ino: buf.readUInt32LE(m + 4), rqueue: 0, wqueue: 0 };
        for (let a = m + 16; a + 4 <= off + len; ) {
          const alen = buf.readUInt16LE(a), atype = buf.readUInt16LE(a + 2);
          if (alen < 4) break;
          const p = buf.subarray(a + 4, a + alen);
          if (atype === UNIX_DIAG_NAME) d.name = Buffer.from(p);
          else if (atype === UNIX_DIAG_PEER) d.peer = p.readUInt32LE(0);
          else if (atype === UNIX_DIAG_RQLEN) { d.rqueue = p.readUInt32LE(0); d.wqueue = p.readUInt32LE(4); }
          a += (alen + 3) & ~3;
        }
        out.set(d.ino, d);
        off += (len + 3) & ~3;
      }
    }
  } finally {
    closeSync(fd);
  }
}
