// Socket calls the agent makes on its own duplicates of a tree's sockets (from pidfd_getfd), and
// on the sockets it creates for a restore: options, addresses, queued bytes.
import { sys, sysTry, addr, SysError } from '../sys/libc.js';
import { NR } from '../sys/nr.js';

export const AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10;
export const SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_SEQPACKET = 5;
export const SOL_SOCKET = 1, SOL_IP = 0, IPPROTO_TCP = 6, IPPROTO_IPV6 = 41;
const IP_FREEBIND = 15, IP_TRANSPARENT = 19, IPV6_TRANSPARENT = 75, IPV6_FREEBIND = 78, EADDRNOTAVAIL = 99;
export const SO = { TYPE: 3, REUSEADDR: 2, KEEPALIVE: 9, SNDBUF: 7, RCVBUF: 8, BROADCAST: 6, REUSEPORT: 15, ACCEPTCONN: 30, PROTOCOL: 38, DOMAIN: 39, PEEK_OFF: 42, PRIORITY: 12, OOBINLINE: 10 } as const;

// One scratch area for the small values of socket calls: moving a connection takes a dozen of
// them, and two fresh Buffers and their addresses each time cost more than the call itself (1.5
// of 2 µs). Every call here is synchronous, so none can find it in use.
const scratch = Buffer.alloc(256);
const SCRATCH = addr(scratch), LEN = SCRATCH + 248n;

export function getInt(fd: number, level: number, opt: number): number {
  scratch.writeUInt32LE(4, 248);
  const r = sysTry(NR.getsockopt, fd, level, opt, SCRATCH, LEN);
  if (r < 0) throw new SysError(`getsockopt(${level}, ${opt})`, -r);
  return scratch.readInt32LE(0);
}

export function setInt(fd: number, level: number, opt: number, value: number): void {
  scratch.writeInt32LE(value, 0);
  const r = sysTry(NR.setsockopt, fd, level, opt, SCRATCH, 4);
  if (r < 0) throw new SysError(`setsockopt(${level}, ${opt})`, -r);
}

/** An option of up to 240 bytes, as the kernel gave it (a copy). */
export function getBytes(fd: number, level: number, opt: number, size: number, what: string): Buffer {
  scratch.writeUInt32LE(size, 248);
  const r = sysTry(NR.getsockopt, fd, level, opt, SCRATCH, LEN);
  if (r < 0) throw new SysError(what, -r);
  return Buffer.from(scratch.subarray(0, Math.min(size, scratch.readUInt32LE(248))));
}

/** An ioctl that answers one int. */
export function ioctlInt(fd: number, req: number, what: string): number {
  const r = sysTry(NR.ioctl, fd, req, SCRATCH);
  if (r < 0) throw new SysError(what, -r);
  return scratch.readInt32LE(0);
}

/** Integer options worth carrying, by family; each is read, and set again only if it differs. */
export const CARRIED: Array<{ name: string; level: number; opt: number; families: number[]; types?: number[] }> = [
  { name: 'SO_REUSEADDR', level: SOL_SOCKET, opt: SO.REUSEADDR, families: [AF_INET, AF_INET6] },
  { name: 'SO_REUSEPORT', level: SOL_SOCKET, opt: SO.REUSEPORT, families: [AF_INET, AF_INET6] },
  { name: 'SO_KEEPALIVE', level: SOL_SOCKET, opt: SO.KEEPALIVE, families: [AF_INET, AF_INET6] },
  { name: 'SO_BROADCAST', level: SOL_SOCKET, opt: SO.BROADCAST, families: [AF_INET, AF_INET6] },
  { name: 'SO_PRIORITY', level: SOL_SOCKET, opt: SO.PRIORITY, families: [AF_INET, AF_INET6, AF_UNIX] },
  { name: 'SO_OOBINLINE', level: SOL_SOCKET, opt: SO.OOBINLINE, families: [AF_INET, AF_INET6] },
  { name: 'TCP_NODELAY', level: IPPROTO_TCP, opt: 1, families: [AF_INET, AF_INET6], types: [SOCK_STREAM] },
  { name: 'TCP_DEFER_ACCEPT', level: IPPROTO_TCP, opt: 9, families: [AF_INET, AF_INET6], types: [SOCK_STREAM] },
  { name: 'TCP_KEEPIDLE', level: IPPROTO_TCP, opt: 4, families: [AF_INET, AF_INET6], types: [SOCK_STREAM] },
  { name: 'TCP_KEEPINTVL', level: IPPROTO_TCP, opt: 5, families: [AF_INET, AF_INET6], types: [SOCK_STREAM] },
  { name: 'TCP_KEEPCNT', level: IPPROTO_TCP, opt: 6, families: [AF_INET, AF_INET6], types: [SOCK_STREAM] },
  { name: 'TCP_USER_TIMEOUT', level: IPPROTO_TCP, opt: 18, families: [AF_INET, AF_INET6], types: [SOCK_STREAM] },
  { name: 'TCP_NOTSENT_LOWAT', level: IPPROTO_TCP, opt: 25, families: [AF_INET, AF_INET6], types: [SOCK_STREAM] },
  { name: 'SO_RCVLOWAT', level: SOL_SOCKET, opt: 18, families: [AF_INET, AF_INET6, AF_UNIX] },
  { name: 'SO_MARK', level: SOL_SOCKET, opt: 36, families: [AF_INET, AF_INET6] },
  { name: 'IP_TOS', level: SOL_IP, opt: 1, families: [AF_INET] },
  { name: 'IPV6_TCLASS', level: IPPROTO_IPV6, opt: 67, families: [AF_INET6] },
  { name: 'IPV6_V6ONLY', level: IPPROTO_IPV6, opt: 26, families: [AF_INET6] },
  { name: 'IP_FREEBIND', level: SOL_IP, opt: IP_FREEBIND, families: [AF_INET] },
  { name: 'IP_TRANSPARENT', level: SOL_IP, opt: IP_TRANSPARENT, families: [AF_INET] },
  { name: 'IPV6_FREEBIND', level: IPPROTO_IPV6, opt: IPV6_FREEBIND, families: [AF_INET6] },
  { name: 'IPV6_TRANSPARENT', level: IPPROTO_IPV6, opt: IPV6_TRANSPARENT, families: [AF_INET6] },
];
// Buffer sizes: the kernel doubles what is set, so they are set to half of what is read.
export const BUFFERS = [{ name: 'SO_SNDBUF', opt: SO.SNDBUF }, { name: 'SO_RCVBUF', opt: SO.RCVBUF }];

// Timeouts are struct timevals, carried as microseconds: a server that wakes from its receive
// timeout to look around must still do so after a restore.
const TIMEOUTS = [{ name: 'SO_RCVTIMEO_US', opt: 20 }, { name: 'SO_SNDTIMEO_US', opt: 21 }];
const SO_LINGER = 13;

export function readOptions(fd: number, family: number, type: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of CARRIED) {
    if (!o.families.includes(family) || (o.types && !o.types.includes(type))) continue;
    try { out[o.name] = getInt(fd, o.level, o.opt); } catch { /* not for this socket */ }
  }
  for (const b of BUFFERS) out[b.name] = getInt(fd, SOL_SOCKET, b.opt);
  for (const t of TIMEOUTS) {
    const tv = getBytes(fd, SOL_SOCKET, t.opt, 16, `getsockopt(${t.name})`);
    const us = Number(tv.readBigInt64LE(0)) * 1e6 + Number(tv.readBigInt64LE(8));
    if (us) out[t.name] = us;
  }
  // struct linger {onoff, seconds}: -1 is off
  const lg = getBytes(fd, SOL_SOCKET, SO_LINGER, 8, 'getsockopt(SO_LINGER)');
  if (lg.readInt32LE(0)) out.SO_LINGER = lg.readInt32LE(4);
  return out;
}


/**
 * Give a fresh socket of this family and type the options read from its original, setting only
 * those that differ from what such a socket starts with (read once per kind: a restore may make
 * a thousand sockets, and reading each option back first doubled the calls).
 */
export function applyOptions(fd: number, family: number, type: number, opts: Record<string, number>): void {
  const fresh = defaultsOf(family, type);
  for (const o of CARRIED) {
    const v = opts[o.name];
    if (v !== undefined && fresh[o.name] !== v) setInt(fd, o.level, o.opt, v);
  }
  for (const b of BUFFERS) {
    const v = opts[b.name];
    if (v !== undefined && fresh[b.name] !== v) setInt(fd, SOL_SOCKET, b.opt, Math.floor(v / 2));
  }
  for (const t of TIMEOUTS) {
    const us = opts[t.name];
    if (!us) continue;
    scratch.writeBigInt64LE(BigInt(Math.floor(us / 1e6)), 0);
    scratch.writeBigInt64LE(BigInt(us % 1e6), 8);
    const r = sysTry(NR.setsockopt, fd, SOL_SOCKET, t.opt, SCRATCH, 16);
    if (r < 0) throw new SysError(`setsockopt(${t.name})`, -r);
  }
  if (opts.SO_LINGER !== undefined) {
    scratch.writeInt32LE(1, 0);
    scratch.writeInt32LE(opts.SO_LINGER, 4);
    const r = sysTry(NR.setsockopt, fd, SOL_SOCKET, SO_LINGER, SCRATCH, 8);
    if (r < 0) throw new SysError('setsockopt(SO_LINGER)', -r);
  }
}

const defaults = new Map<string, Record<string, number>>();
function defaultsOf(family: number, type: number): Record<string, number> {
  const key = `${family}/${type}`;
  let d = defaults.get(key);
  if (!d) {
    const fd = sys('socket', NR.socket, family, type | 0o2000000 /* CLOEXEC */, 0);
    try { d = readOptions(fd, family, type); } finally { sysTry(NR.close, fd); }
    defaults.set(key, d);
  }
  return d;
}

/**
 * Bind to an address that may not be on this host yet: a migration moves the tree's address over
 * only once the tree is built, just before it runs. Transparent mode lets such a bind through,
 * and the connect of a repaired connection too (its route lookup checks the source address);
 * call the function returned once connected, to give the socket its own setting back.
 */
export function bindAnywhere(fd: number, family: number, sa: Buffer): () => void {
  const r = sysTry(NR.bind, fd, addr(sa), sa.length);
  if (r === 0) return () => undefined;
  if (r !== -EADDRNOTAVAIL) throw new SysError('bind', -r);
  const [level, opt] = family === AF_INET6 ? [IPPROTO_IPV6, IPV6_TRANSPARENT] : [SOL_IP, IP_TRANSPARENT];
  const was = getInt(fd, level, opt);
  setInt(fd, level, opt, 1);
  sys('bind (address not here yet)', NR.bind, fd, addr(sa), sa.length);
  return () => setInt(fd, level, opt, was);
}

/** getsockname/getpeername as raw sockaddr bytes; empty when there is none. */
export function sockName(fd: number, peer: boolean): Buffer {
  scratch.writeUInt32LE(128, 248);
  const r = sysTry(peer ? NR.getpeername : NR.getsockname, fd, SCRATCH, LEN);
  if (r < 0) return Buffer.alloc(0);
  return Buffer.from(scratch.subarray(0, Math.min(128, scratch.readUInt32LE(248))));
}

/** A sockaddr for people: 127.0.0.1:8080, [::1]:53, /run/x.sock, @abstract. */
export function describeAddr(sa: Uint8Array): string {
  const b = Buffer.from(sa);
  if (b.length < 2) return '(unbound)';
  const fam = b.readUInt16LE(0);
  if (fam === AF_INET) return `${[...b.subarray(4, 8)].join('.')}:${b.readUInt16BE(2)}`;
  if (fam === AF_INET6) {
    const parts: string[] = [];
    for (let i = 8; i < 24; i += 2) parts.push(b.readUInt16BE(i).toString(16));
    return `[${parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}]:${b.readUInt16BE(2)}`;
  }
  if (fam === AF_UNIX) {
    if (b.length <= 2) return '(unnamed)';
    if (b[2] === 0) return '@' + b.subarray(3).toString('latin1');
    return b.subarray(2).toString('utf8').replace(/\0.*$/, '');
  }
  return `family ${fam}`;
}

export function inq(fd: number): number {
  const v = Buffer.alloc(4);
  return sysTry(NR.ioctl, fd, 0x541b /* FIONREAD */, addr(v)) < 0 ? 0 : v.readInt32LE(0);
}
