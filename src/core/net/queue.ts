// Reading what waits in a socket's receive queue without taking it: MSG_PEEK with SO_PEEK_OFF to
// step from one message (or stream segment) to the next, put back as it was afterwards. A peek
// also hands us duplicates of file descriptors in flight (SCM_RIGHTS): they are returned with
// the message that carries them, open in the agent, for the caller to dump and close.
import { sysTry, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { getInt, setInt, SOL_SOCKET, SO } from './sockopt.js';

const MSG_PEEK = 2, MSG_DONTWAIT = 0x40, MSG_CMSG_CLOEXEC = 0x40000000, SCM_RIGHTS = 1;
const CTL = 4096;

export interface QueuedMessage { data: Buffer; fds: number[] }

export function peekQueue(fd: number): QueuedMessage[] {
  const buf = Buffer.alloc(1 << 20), ctl = Buffer.alloc(CTL), iov = Buffer.alloc(16), msg = Buffer.alloc(56);
  iov.writeBigUInt64LE(addr(buf), 0);
  iov.writeBigUInt64LE(BigInt(buf.length), 8);
  msg.writeBigUInt64LE(addr(iov), 16);
  msg.writeBigUInt64LE(1n, 24);
  msg.writeBigUInt64LE(addr(ctl), 32);
  const out: QueuedMessage[] = [];
  const saved = getInt(fd, SOL_SOCKET, SO.PEEK_OFF);
  setInt(fd, SOL_SOCKET, SO.PEEK_OFF, 0);
  try {
    for (let i = 0; i < 1_000_000; i++) {
      msg.writeBigUInt64LE(BigInt(CTL), 40);
      const n = sysTry(NR.recvmsg, fd, addr(msg), MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n <= 0) break;
      const fds: number[] = [];
      const ctlLen = Number(msg.readBigUInt64LE(40));
      for (let c = 0; c + 16 <= ctlLen; ) {
        const len = Number(ctl.readBigUInt64LE(c));
        if (len < 16) break;
        if (ctl.readInt32LE(c + 8) === SOL_SOCKET && ctl.readInt32LE(c + 12) === SCM_RIGHTS) {
          for (let p = c + 16; p + 4 <= c + len; p += 4) fds.push(ctl.readInt32LE(p));
        }
        c += (len + 7) & ~7;
      }
      out.push({ data: Buffer.from(buf.subarray(0, n)), fds });
    }
  } finally {
    setInt(fd, SOL_SOCKET, SO.PEEK_OFF, saved);
  }
  return out;
}
