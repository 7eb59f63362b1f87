// IPv4/IPv6 sockets: TCP listeners (a server still accepts on the same address after restore),
// UDP sockets bound and possibly connected, sockets not yet bound, and established TCP
// connections, whose state tcp.ts moves by TCP repair under the network lock.
import { sys } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import type { FileEntry } from '../image/format.js';
import { O, SETFL_MASK } from '../files/flags.js';
import { getInt, getBytes, readOptions, applyOptions, bindAnywhere, sockName, describeAddr, SOL_SOCKET, SO, SOCK_STREAM, SOCK_DGRAM, IPPROTO_TCP } from './sockopt.js';
import { UnsupportedError, GodwitError } from '../errors.js';
import { addr } from '../sys/libc.js';
import { dumpTcp, restoreTcp } from './tcp.js';

const F_SETFL = 4, SOMAXCONN = 4096, TCP_INFO = 11;

/**
 * Connections waiting to be accepted by a listener: of a listening socket, TCP_INFO's
 * tcpi_unacked is its accept queue (sk_ack_backlog).
 */
function acceptQueue(fd: number): number {
  return getBytes(fd, IPPROTO_TCP, TCP_INFO, 104, 'getsockopt(TCP_INFO)').readUInt32LE(24);
}

export function dumpInet(pid: number, id: number, fdNum: number, dup: number, ino: number, flags: number, family: number, tcp: boolean): FileEntry {
  const type = getInt(dup, SOL_SOCKET, SO.TYPE), protocol = getInt(dup, SOL_SOCKET, SO.PROTOCOL);
  const listening = getInt(dup, SOL_SOCKET, SO.ACCEPTCONN) === 1;
  const local = sockName(dup, false), peer = sockName(dup, true);
  const where = `process ${pid}: fd ${fdNum} -> socket:[${ino}] (${type === SOCK_STREAM ? 'TCP' : 'UDP'} ${describeAddr(local)}${peer.length ? ` <-> ${describeAddr(peer)}` : ''})`;
  if (type === SOCK_STREAM && peer.length) {
    if (!tcp) throw new UnsupportedError(`${where}: an established TCP connection; --tcp-established moves it (godwit migrate always does)`);
    return { id, kind: 'inet', family, type, protocol, flags, listening: false, local, peer, opts: readOptions(dup, family, type), tcp: dumpTcp(dup, where) };
  }
  if (type !== SOCK_STREAM && type !== SOCK_DGRAM) throw new UnsupportedError(`${where}: socket type ${type} is not supported yet`);
  if (listening) {
    const waiting = type === SOCK_STREAM ? acceptQueue(dup) : 0;
    if (waiting) throw new UnsupportedError(`${where}: ${waiting} connection(s) wait to be accepted and would be reset; try again`);
  }
  return {
    id, kind: 'inet', family, type, protocol, flags, listening, local, peer, opts: readOptions(dup, family, type),
  };
}

export function openInet(e: Extract<FileEntry, { kind: 'inet' }>): number {
  if (e.tcp) return restoreTcp(e.family, e.local, e.peer, e.tcp, (fd) => applyOptions(fd, e.family, e.type, e.opts));
  const fd = sys('socket', NR.socket, e.family, e.type | O.CLOEXEC, e.protocol);
  try {
    applyOptions(fd, e.family, e.type, e.opts);
    const port = e.local.length >= 4 ? Buffer.from(e.local).readUInt16BE(2) : 0;
    let bound = (): void => undefined;
    if (port) {
      try {
        bound = bindAnywhere(fd, e.family, Buffer.from(e.local));
      } catch (err) {
        throw new GodwitError(`cannot bind ${describeAddr(e.local)} again: ${(err as Error).message} (is the original process still running?)`);
      }
    }
    if (e.listening) sys('listen', NR.listen, fd, SOMAXCONN);
    if (e.peer.length) {
      const pa = Buffer.from(e.peer);
      sys('connect', NR.connect, fd, addr(pa), pa.length);
    }
    bound();
    sys('fcntl(F_SETFL)', NR.fcntl, fd, F_SETFL, e.flags & SETFL_MASK);
    return fd;
  } catch (err) {
    sys('close', NR.close, fd);
    throw err;
  }
}
