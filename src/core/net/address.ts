// Moving a service's IP address between hosts, in process: the address leaves one host's
// interface (RTM_DELADDR), joins another's (RTM_NEWADDR) and the new holder tells the link (a
// gratuitous ARP, an unsolicited neighbour advertisement), so that peers stop sending to the old
// MAC at once instead of after their neighbour entry times out. Everything happens in the network
// namespace of the calling thread: every socket here is made by it, and interfaces are looked up
// through those sockets, never through /sys/class/net, which shows the namespace of whoever
// mounted sysfs.
import { sys, sysTry, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { errnoName, EEXIST } from '../sys/errno.js';
import { withSocket, nlmsg, rtattr, nlSend, nlReceive, nlRequest, AF_NETLINK, SOCK_RAW, NLM_F_REQUEST, NLM_F_DUMP, NLM_F_EXCL, NLM_F_CREATE, NLMSG_ERROR, NLMSG_DONE } from './netlink.js';
import { GodwitError } from '../errors.js';
import { AF_INET, AF_INET6, SOCK_DGRAM, SOL_SOCKET, IPPROTO_IPV6, setInt } from './sockopt.js';
import { ipText } from '../proc/tcp.js';

export interface Cidr { family: 4 | 6; addr: string; prefix: number }
export interface IfAddress extends Cidr { ifindex: number; dev: string }

const AF_PACKET = 17, NETLINK_ROUTE = 0;
const RTM_NEWADDR = 20, RTM_DELADDR = 21, RTM_GETADDR = 22;
const IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_BROADCAST = 4, IFA_FLAGS = 8, IFA_F_NODAD = 0x02;
const SIOCGIFNAME = 0x8910, SIOCGIFHWADDR = 0x8927, SIOCGIFINDEX = 0x8933, ARPHRD_ETHER = 1;
const ETH_P_ARP = 0x0806, ETH_P_IP = 0x0800, ARPOP_REQUEST = 1;
const IPPROTO_ICMPV6 = 58, IPV6_MULTICAST_HOPS = 18, SO_BINDTODEVICE = 25, ND_NEIGHBOR_ADVERT = 136;
const EADDRNOTAVAIL = 99, ENODEV = 19;

// ---------------------------------------------------------------------------------------------
// Addresses as text and bytes

function bad(s: string, why: string): never {
  throw new GodwitError(`'${s}' is not an address with a prefix (ADDRESS/PREFIX, e.g. 10.0.0.5/24 or fd00::5/64): ${why}`, 2);
}

function parse4(s: string): Buffer | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  // leading zeros are refused: inet_aton reads 010 as octal, people read it as ten
  const parts = m.slice(1).map((p) => (p.length > 1 && p.startsWith('0') ? 256 : Number(p)));
  return parts.every((p) => p <= 255) ? Buffer.from(parts) : null;
}

function parse6(s: string): Buffer | null {
  if (!/^[0-9A-Fa-f:.]+$/.test(s)) return null; // no zone (%eth0): an interface is said apart
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parse4(p);
        if (!v4) return null;
        out.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return null;
    }
    return out;
  };
  const head = groups(halves[0]!), tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  // a dotted quad may only end the address
  if (halves.length === 2 && head.length && halves[0]!.includes('.')) return null;
  const n = head.length + tail.length;
  if (halves.length === 2 ? n > 7 : n !== 8) return null;
  const all = [...head, ...new Array<number>(8 - n).fill(0), ...tail];
  const b = Buffer.alloc(16);
  all.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

const formatAddr = (family: 4 | 6, b: Buffer): string => ipText(b, family).text;

export function parseCidr(s: string): Cidr {
  if (typeof s !== 'string') bad(String(s), 'not text');
  const t = s.trim();
  const slash = t.indexOf('/');
  if (slash < 0) bad(s, 'the prefix length is missing');
  const a = t.slice(0, slash), p = t.slice(slash + 1);
  const family: 4 | 6 = a.includes(':') ? 6 : 4;
  const bytes = family === 4 ? parse4(a) : parse6(a);
  if (!bytes) bad(s, `${a || '(nothing)'} is not an IPv${family} address`);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) bad(s, `the prefix length must be 0 to ${max}`);
  return { family, addr: formatAddr(family, bytes), prefix: Number(p) };
}

/** The address's bytes, checked: a Cidr may come from elsewhere than parseCidr. */
function bytesOf(a: Cidr): Buffer {
  const b = a.family === 4 ? parse4(String(a.addr)) : a.family === 6 ? parse6(String(a.addr)) : null;
  const max = a.family === 4 ? 32 : 128;
  if (!b || !Number.isInteger(a.prefix) || a.prefix < 0 || a.prefix > max) {
    throw new GodwitError(`not an IPv4 or IPv6 address with a prefix: ${JSON.stringify(a)}`, 2);
  }
  return b;
}

const show = (a: Cidr): string => `${formatAddr(a.family, bytesOf(a))}/${a.prefix}`;

function sameNetwork(x: Buffer, y: Buffer, prefix: number): boolean {
  for (let bit = 0; bit < prefix; bit += 8) {
    const mask = prefix - bit >= 8 ? 0xff : (0xff << (8 - (prefix - bit))) & 0xff;
    if ((x[bit / 8]! & mask) !== (y[bit / 8]! & mask)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Interfaces

function checkDev(dev: string): void {
  // names may come from the network (a hosts file, a coordinator): nothing odd reaches an ioctl
  if (typeof dev !== 'string' || !/^[A-Za-z0-9_.:@-]{1,15}$/.test(dev)) {
    throw new GodwitError(`'${String(dev)}' is not an interface name`, 2);
  }
}

/** A struct ifreq (40 bytes) naming `dev`. */
function ifreq(dev: string): Buffer {
  const r = Buffer.alloc(40);
  r.write(dev, 0, 15, 'latin1');
  return r;
}

function ifindexOf(fd: number, dev: string): number {
  const r = ifreq(dev);
  const e = sysTry(NR.ioctl, fd, SIOCGIFINDEX, addr(r));
  if (e === -ENODEV) throw new GodwitError(`there is no interface ${dev} here`);
  if (e < 0) throw new GodwitError(`interface ${dev}: SIOCGIFINDEX: ${errnoName(-e)}`);
  return r.readInt32LE(16);
}

function nameOfIndex(fd: number, index: number): string {
  const r = Buffer.alloc(40);
  r.writeInt32LE(index, 16);
  const e = sysTry(NR.ioctl, fd, SIOCGIFNAME, addr(r));
  // gone between the dump and now: the address went with it, and the caller sees a stale row
  if (e < 0) return `if${index}`;
  return r.toString('latin1', 0, 16).replace(/\0.*$/s, '');
}

function macOf(fd: number, dev: string): Buffer {
  const r = ifreq(dev);
  const e = sysTry(NR.ioctl, fd, SIOCGIFHWADDR, addr(r));
  if (e === -ENODEV) throw new GodwitError(`there is no interface ${dev} here`);
  if (e < 0) throw new GodwitError(`interface ${dev}: SIOCGIFHWADDR: ${errnoName(-e)}`);
  if (r.readUInt16LE(16) !== ARPHRD_ETHER) {
    throw new GodwitError(`interface ${dev} is not Ethernet (hardware type ${r.readUInt16LE(16)}): its neighbours cannot be told by ARP or NDP`);
  }
  return Buffer.from(r.subarray(18, 24));
}

// ---------------------------------------------------------------------------------------------
// rtnetlink

/** struct ifaddrmsg */
function ifaddrmsg(family: number, prefix: number, flags: number, index: number): Buffer {
  const m = Buffer.alloc(8);
  m.writeUInt8(family, 0);
  m.writeUInt8(prefix, 1);
  m.writeUInt8(flags & 0xff, 2);
  m.writeUInt32LE(index, 4);
  return m;
}

function dumpAddresses(fd: number): IfAddress[] {
  const { msg, seq: s } = nlmsg(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, ifaddrmsg(0, 0, 0, 0));
  nlSend(fd, msg);
  const rows: Array<Omit<IfAddress, 'dev'>> = [];
  nlReceive(fd, s, (t, p) => {
    if (t === NLMSG_DONE) return false;
    if (t === NLMSG_ERROR) {
      const e = -p.readInt32LE(0);
      if (e) throw new GodwitError(`list addresses: RTM_GETADDR: ${errnoName(e)}`);
      return false;
    }
    if (t !== RTM_NEWADDR || p.length < 8) return true;
    const fam = p[0] === AF_INET ? 4 : p[0] === AF_INET6 ? 6 : 0;
    if (!fam) return true;
    let address: Buffer | undefined, local: Buffer | undefined;
    for (let a = 8; a + 4 <= p.length; ) {
      const alen = p.readUInt16LE(a), atype = p.readUInt16LE(a + 2);
      if (alen < 4) break;
      const d = p.subarray(a + 4, a + alen);
      if (atype === IFA_ADDRESS) address = d;
      else if (atype === IFA_LOCAL) local = d;
      a += (alen + 3) & ~3;
    }
    // IFA_LOCAL is this end's address; IFA_ADDRESS is the peer's on a point-to-point link and
    // the only one given for most IPv6 addresses
    const mine = local ?? address;
    if (!mine || mine.length !== (fam === 4 ? 4 : 16)) return true;
    rows.push({ family: fam, addr: formatAddr(fam, Buffer.from(mine)), prefix: p[1]!, ifindex: p.readUInt32LE(4) });
    return true;
  });
  const names = new Map<number, string>();
  return rows.map((r) => {
    if (!names.has(r.ifindex)) names.set(r.ifindex, nameOfIndex(fd, r.ifindex));
    return { ...r, dev: names.get(r.ifindex)! };
  });
}

/** Whether two texts name one address (`::ffff:a.b.c.d` is not `a.b.c.d`: families differ). */
export function sameAddress(x: string, y: string): boolean {
  const fam = x.includes(':') ? 6 : 4;
  const a = fam === 4 ? parse4(x) : parse6(x), b = (y.includes(':') ? 6 : 4) === fam ? (fam === 4 ? parse4(y) : parse6(y)) : null;
  return !!a && !!b && a.equals(b);
}

/** Whether `addr` is on the network of `net` (its address and prefix). */
export function inNetwork(addr: string, net: Cidr): boolean {
  const fam = addr.includes(':') ? 6 : 4;
  const a = fam === 4 ? parse4(addr) : parse6(addr);
  return !!a && fam === net.family && sameNetwork(a, bytesOf(net), net.prefix);
}

const rtnl = <T>(what: string, f: (fd: number) => T): T => withSocket(what, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, f);

// ---------------------------------------------------------------------------------------------
// The API

export function listAddresses(): IfAddress[] {
  return rtnl('list addresses', dumpAddresses);
}

/** The address `a.addr` on whichever interface holds it (with its own prefix; the one with `a.prefix` first). */
export function holderOf(a: Cidr): IfAddress | null {
  const want = formatAddr(a.family, bytesOf(a));
  const held = listAddresses().filter((x) => x.family === a.family && x.addr === want);
  return held.find((x) => x.prefix === a.prefix) ?? held[0] ?? null;
}

/** Where `a` belongs: the most specific network held here that contains it, as routing would pick. */
export function interfaceFor(a: Cidr): string | null {
  return networkFor(a)?.dev ?? null;
}

/** The address (with its prefix) whose network is the most specific one here containing `a`. */
export function networkFor(a: Cidr): IfAddress | null {
  const want = bytesOf(a), text = formatAddr(a.family, want);
  let best: IfAddress | null = null;
  for (const x of listAddresses()) {
    if (x.family !== a.family || x.addr === text) continue;
    const xb = x.family === 4 ? parse4(x.addr)! : parse6(x.addr)!;
    if (sameNetwork(xb, want, x.prefix) && (!best || x.prefix > best.prefix)) best = x;
  }
  return best;
}

function addressMessage(a: Cidr, index: number, adding: boolean): Buffer {
  const b = bytesOf(a);
  if (a.family === 4) {
    const parts = [ifaddrmsg(AF_INET, a.prefix, 0, index), rtattr(IFA_LOCAL, b), rtattr(IFA_ADDRESS, b)];
    if (adding && a.prefix <= 30) {
      // what `ip addr add ... brd +` gives: the directed broadcast of the network
      const brd = Buffer.from(b);
      for (let bit = a.prefix; bit < 32; bit++) brd[bit >> 3]! |= 0x80 >> (bit & 7);
      parts.push(rtattr(IFA_BROADCAST, brd));
    }
    return Buffer.concat(parts);
  }
  // no duplicate address detection: the address is known to be unique (it just left another
  // host), and DAD would keep it tentative, unusable, for a second or more
  const flags = adding ? IFA_F_NODAD : 0;
  const f = Buffer.alloc(4);
  f.writeUInt32LE(flags, 0);
  return Buffer.concat([ifaddrmsg(AF_INET6, a.prefix, flags, index), rtattr(IFA_ADDRESS, b), ...(adding ? [rtattr(IFA_FLAGS, f)] : [])]);
}

export function addAddress(a: Cidr, dev: string): void {
  checkDev(dev);
  const what = `add ${show(a)} to ${dev}`;
  rtnl(what, (fd) => {
    const index = ifindexOf(fd, dev);
    const e = nlRequest(fd, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, addressMessage(a, index, true));
    if (e === EEXIST) {
      // fine when it is this interface that has it; anywhere else the kernel's word is kept
      const want = formatAddr(a.family, bytesOf(a));
      if (dumpAddresses(fd).some((x) => x.ifindex === index && x.family === a.family && x.addr === want)) return;
    }
    if (e) throw new GodwitError(`${what}: RTM_NEWADDR: ${errnoName(e)}`);
  });
}

/**
 * Note for IPv4: removing an interface's primary address also removes the secondaries of its
 * network unless net.ipv4.conf.DEV.promote_secondaries is set; a moved service address is best
 * added beside the host's own one, as a secondary.
 */
export function removeAddress(a: Cidr, dev: string): void {
  checkDev(dev);
  const what = `remove ${show(a)} from ${dev}`;
  rtnl(what, (fd) => {
    const e = nlRequest(fd, RTM_DELADDR, 0, addressMessage(a, ifindexOf(fd, dev), false));
    if (e && e !== EADDRNOTAVAIL) throw new GodwitError(`${what}: RTM_DELADDR: ${errnoName(e)}`);
  });
}

/** Gratuitous ARP: a broadcast request whose sender and target are both the address. */
function garp(a: Cidr, dev: string, count: number): void {
  // kept: closing a packet socket waits for an RCU grace period (7 to 20 ms here), in the freeze
  withSocket(`announce ${show(a)} on ${dev}`, AF_PACKET, SOCK_DGRAM, 0, (fd) => {
    // protocol 0: the socket only sends, nothing is queued to it
    const index = ifindexOf(fd, dev), mac = macOf(fd, dev), ip = bytesOf(a);
    const arp = Buffer.alloc(28);
    arp.writeUInt16BE(1, 0); // Ethernet
    arp.writeUInt16BE(ETH_P_IP, 2);
    arp.writeUInt8(6, 4);
    arp.writeUInt8(4, 5);
    arp.writeUInt16BE(ARPOP_REQUEST, 6);
    mac.copy(arp, 8);
    ip.copy(arp, 14);
    // target hardware address left zero (RFC 5227): it is ignored in a request
    ip.copy(arp, 24);
    const ll = Buffer.alloc(20); // struct sockaddr_ll
    ll.writeUInt16LE(AF_PACKET, 0);
    ll.writeUInt16BE(ETH_P_ARP, 2);
    ll.writeInt32LE(index, 4);
    ll.writeUInt8(6, 11);
    Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).copy(ll, 12);
    for (let i = 0; i < count; i++) sys('sendto(AF_PACKET)', NR.sendto, fd, addr(arp), arp.length, 0, addr(ll), ll.length);
  }, true);
}

/** Unsolicited neighbour advertisement (RFC 4861 7.2.6) to all nodes, with Override set. */
function unsolicitedNa(a: Cidr, dev: string, count: number): void {
  withSocket(`announce ${show(a)} on ${dev}`, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, (fd) => {
    const index = ifindexOf(fd, dev), mac = macOf(fd, dev), ip = bytesOf(a);
    const name = Buffer.from(dev + '\0', 'latin1');
    sys('setsockopt(SO_BINDTODEVICE)', NR.setsockopt, fd, SOL_SOCKET, SO_BINDTODEVICE, addr(name), name.length);
    // receivers drop neighbour discovery that crossed a router: hop limit 255 proves it did not
    setInt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255);
    // the address itself as the source, as RFC 4861 asks (an address of the interface); should
    // the bind fail, the kernel's choice for ff02::1 on this link does as well
    const src = Buffer.alloc(28);
    src.writeUInt16LE(AF_INET6, 0);
    ip.copy(src, 8);
    src.writeUInt32LE(index, 24);
    sysTry(NR.bind, fd, addr(src), src.length);
    const na = Buffer.alloc(32);
    na.writeUInt8(ND_NEIGHBOR_ADVERT, 0); // code 0; the kernel fills the checksum of ICMPv6 raw sockets
    na.writeUInt32BE(0x20000000, 4); // Override; neither Router nor Solicited
    ip.copy(na, 8);
    na.writeUInt8(2, 24); // option: target link-layer address, 1 x 8 bytes
    na.writeUInt8(1, 25);
    mac.copy(na, 26);
    const to = Buffer.alloc(28);
    to.writeUInt16LE(AF_INET6, 0);
    Buffer.from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).copy(to, 8);
    to.writeUInt32LE(index, 24);
    for (let i = 0; i < count; i++) sys('sendto(ICMPv6)', NR.sendto, fd, addr(na), na.length, 0, addr(to), to.length);
  });
}

/**
 * The copies go back to back, as keepalived sends its gratuitous ARPs by default: more than one
 * only guards against a lost frame; a caller that wants them spaced calls again later.
 */
export function announce(a: Cidr, dev: string, count = 2): void {
  checkDev(dev);
  bytesOf(a);
  if (!Number.isInteger(count) || count < 1 || count > 100) throw new GodwitError(`announce: count must be 1 to 100, not ${count}`, 2);
  // telling the link about an address this interface does not answer for would send its
  // neighbours' traffic into a void (an add that failed, a wrong interface): refused
  const want = formatAddr(a.family, bytesOf(a));
  if (!listAddresses().some((x) => x.dev === dev && x.family === a.family && x.addr === want)) {
    throw new GodwitError(`announce ${show(a)} on ${dev}: ${dev} does not hold ${want}`);
  }
  if (a.family === 4) garp(a, dev, count);
  else unsolicitedNa(a, dev, count);
}
