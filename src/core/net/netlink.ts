// Netlink, the plumbing: messages with their header and attributes, a request and its
// acknowledgement, a dump read to its end. rtnetlink (address.ts) and sock_diag (diag.ts) speak
// through it, each on a socket of its own that withSocket makes and closes (or keeps, where
// closing one would wait: a packet socket's close waits for an RCU grace period).
import { closeSync } from 'node:fs';
import { sys, sysTry, addr, SysError } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { errnoName, EINTR } from '../sys/errno.js';
import { GodwitError } from '../errors.js';

export const AF_NETLINK = 16, SOCK_RAW = 3;
export const NLM_F_REQUEST = 1, NLM_F_ACK = 4, NLM_F_DUMP = 0x300, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400;
export const NLMSG_ERROR = 2, NLMSG_DONE = 3;
const SOCK_CLOEXEC = 0o2000000, ENETDOWN = 100, ENETUNREACH = 101;

/**
 * Run `f` on a socket, fresh and closed whatever happens, or (`keep`) made once for the process's
 * life and reused; a failing call becomes a GodwitError.
 */
export function withSocket<T>(what: string, domain: number, type: number, protocol: number, f: (fd: number) => T, keep = false): T {
  const key = `${domain}/${type}/${protocol}`;
  let fd = keep ? kept.get(key) : undefined;
  if (fd === undefined) {
    try {
      fd = sys('socket', NR.socket, domain, type | SOCK_CLOEXEC, protocol);
    } catch (e) {
      throw new GodwitError(`${what}: ${(e as Error).message}`, 1, { cause: e });
    }
    if (keep) kept.set(key, fd);
  }
  try {
    return f(fd);
  } catch (e) {
    if (e instanceof SysError) {
      const hint = e.errno === ENETDOWN || e.errno === ENETUNREACH ? ' (is the interface up?)' : '';
      throw new GodwitError(`${what}: ${e.call}: ${errnoName(e.errno)}${hint}`, 1, { cause: e });
    }
    throw e;
  } finally {
    if (!keep) closeSync(fd);
  }
}
const kept = new Map<string, number>();

let seq = Math.floor(Date.now() / 1000) & 0x7fffffff;

export function rtattr(type: number, data: Buffer): Buffer {
  const a = Buffer.alloc((4 + data.length + 3) & ~3);
  a.writeUInt16LE(4 + data.length, 0);
  a.writeUInt16LE(type, 2);
  data.copy(a, 4);
  return a;
}

export function nlmsg(type: number, flags: number, body: Buffer): { msg: Buffer; seq: number } {
  const s = (seq = (seq + 1) & 0x7fffffff);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(s, 8);
  return { msg: Buffer.concat([h, body]), seq: s };
}

export function nlSend(fd: number, msg: Buffer): void {
  const nl = Buffer.alloc(12);
  nl.writeUInt16LE(AF_NETLINK, 0); // pid 0: the kernel
  sys('sendto(netlink)', NR.sendto, fd, addr(msg), msg.length, 0, addr(nl), 12);
}

/** Each netlink message of the replies to `seq` (type, payload), until the dump's end or the ack. */
export function nlReceive(fd: number, want: number, onMessage: (type: number, payload: Buffer) => boolean): void {
  // 64 KiB: more than the kernel puts in one dump datagram (32 KiB at most), so none is cut short
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    const n = sysTry(NR.recvfrom, fd, addr(buf), buf.length, 0, 0, 0);
    if (n === -EINTR) continue;
    if (n < 0) throw new SysError('recvfrom(netlink)', -n);
    for (let off = 0; off + 16 <= n; ) {
      const len = buf.readUInt32LE(off), type = buf.readUInt16LE(off + 4), s = buf.readUInt32LE(off + 8);
      if (len < 16 || off + len > n) break;
      if (s === want && !onMessage(type, buf.subarray(off + 16, off + len))) return;
      off += (len + 3) & ~3;
    }
  }
}

/** Send one request with NLM_F_ACK; 0 or the errno the kernel answered. */
export function nlRequest(fd: number, type: number, flags: number, body: Buffer): number {
  const { msg, seq: s } = nlmsg(type, NLM_F_REQUEST | NLM_F_ACK | flags, body);
  nlSend(fd, msg);
  let errno = 0;
  nlReceive(fd, s, (t, p) => {
    if (t !== NLMSG_ERROR) return true;
    errno = -p.readInt32LE(0);
    return false;
  });
  return errno;
}
