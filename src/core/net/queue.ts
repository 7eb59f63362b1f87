// Reading what waits in a socket's receive queue without taking it: MSG_PEEK, and for datagram
// sockets SO_PEEK_OFF to step from one message to the next (put back as it was afterwards).
import { sysTry, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { getInt, setInt, SOL_SOCKET, SO, SOCK_STREAM } from './sockopt.js';

const MSG_PEEK = 2, MSG_DONTWAIT = 0x40;

export function peekQueue(fd: number, type: number): Uint8Array[] {
  const buf = Buffer.alloc(1 << 20);
  if (type === SOCK_STREAM) {
    const n = sysTry(NR.recvfrom, fd, addr(buf), buf.length, MSG_PEEK | MSG_DONTWAIT, 0, 0);
    return n > 0 ? [Buffer.from(buf.subarray(0, n))] : [];
  }
  const out: Uint8Array[] = [];
  const saved = getInt(fd, SOL_SOCKET, SO.PEEK_OFF);
  setInt(fd, SOL_SOCKET, SO.PEEK_OFF, 0);
  try {
    for (let i = 0; i < 100_000; i++) {
      const n = sysTry(NR.recvfrom, fd, addr(buf), buf.length, MSG_PEEK | MSG_DONTWAIT, 0, 0);
      if (n < 0) break;
      out.push(Buffer.from(buf.subarray(0, n)));
    }
  } finally {
    setInt(fd, SOL_SOCKET, SO.PEEK_OFF, saved);
  }
  return out;
}
