// Putting the agent's open files into a restored task: the agent creates every file object
// itself (opens, pipes, later sockets), sends it over an abstract unix socket with SCM_RIGHTS,
// and the task receives it by a remote recvmsg and moves it to its number. The same open file
// description can go to several tasks, so a shared offset stays shared.
import { sys, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import type { Injection } from '../ptrace/inject.js';
import { GodwitError } from '../errors.js';

const AF_UNIX = 1, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0o2000000, SOL_SOCKET = 1, SCM_RIGHTS = 1;
const O_CLOEXEC = 0o2000000, F_SETFD = 2, FD_CLOEXEC = 1;

function sockaddr(name: string): Buffer {
  const b = Buffer.alloc(2 + 1 + name.length);
  b.writeUInt16LE(AF_UNIX, 0);
  b.write(name, 3, 'latin1'); // leading NUL: abstract namespace, nothing on disk
  return b;
}

let counter = 0;

export interface FdPlacement { agentFd: number; target: number; cloexec: boolean }

export class FdSender {
  private sock: number;
  constructor() {
    this.sock = sys('socket', NR.socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }

  private send(to: Buffer, fd: number): void {
    const byte = Buffer.from([0]);
    const iov = Buffer.alloc(16);
    iov.writeBigUInt64LE(addr(byte), 0);
    iov.writeBigUInt64LE(1n, 8);
    const ctl = Buffer.alloc(24);
    ctl.writeBigUInt64LE(20n, 0); // CMSG_LEN(sizeof(int))
    ctl.writeInt32LE(SOL_SOCKET, 8);
    ctl.writeInt32LE(SCM_RIGHTS, 12);
    ctl.writeInt32LE(fd, 16);
    const msg = Buffer.alloc(56);
    msg.writeBigUInt64LE(addr(to), 0);
    msg.writeUInt32LE(to.length, 8);
    msg.writeBigUInt64LE(addr(iov), 16);
    msg.writeBigUInt64LE(1n, 24);
    msg.writeBigUInt64LE(addr(ctl), 32);
    msg.writeBigUInt64LE(24n, 40);
    sys('sendmsg(SCM_RIGHTS)', NR.sendmsg, this.sock, addr(msg), 0);
  }

  /** Install every placement in the task; the task's fd table must hold nothing in the way. */
  install(inj: Injection, items: FdPlacement[]): void {
    if (!items.length) return;
    const high = Math.max(...items.map((i) => i.target)) + 1;
    const name = `\0godwit-${process.pid}-${inj.pid}-${counter++}`.slice(1);
    let s = inj.call('socket', NR.socket, AF_UNIX, SOCK_DGRAM, 0);
    if (s < high) {
      inj.call('dup3', NR.dup3, s, high, 0);
      inj.call('close', NR.close, s);
      s = high;
    }
    const to = sockaddr(name);
    inj.reset(16);
    inj.call('bind', NR.bind, s, inj.put(to), to.length);
    const byte = inj.space(8);
    const iov = Buffer.alloc(16);
    iov.writeBigUInt64LE(BigInt(byte), 0);
    iov.writeBigUInt64LE(1n, 8);
    const iovAt = inj.put(iov);
    const ctl = inj.space(24);
    const msg = Buffer.alloc(56);
    msg.writeBigUInt64LE(BigInt(iovAt), 16);
    msg.writeBigUInt64LE(1n, 24);
    msg.writeBigUInt64LE(BigInt(ctl), 32);
    msg.writeBigUInt64LE(24n, 40);
    const msgAt = inj.put(msg);
    try {
      for (const it of items) {
        this.send(to, it.agentFd);
        inj.mem.write(msgAt + 40, Buffer.from([24, 0, 0, 0, 0, 0, 0, 0])); // msg_controllen is in/out
        inj.call('recvmsg', NR.recvmsg, s, msgAt, 0);
        const c = inj.mem.read(ctl, 24);
        if (c.readInt32LE(8) !== SOL_SOCKET || c.readInt32LE(12) !== SCM_RIGHTS) {
          throw new GodwitError(`process ${inj.pid}: fd ${it.target} did not arrive`);
        }
        const got = c.readInt32LE(16);
        if (got !== it.target) {
          inj.call('dup3', NR.dup3, got, it.target, it.cloexec ? O_CLOEXEC : 0);
          inj.call('close', NR.close, got);
        } else if (it.cloexec) {
          inj.call('fcntl', NR.fcntl, got, F_SETFD, FD_CLOEXEC);
        }
      }
    } finally {
      inj.call('close', NR.close, s);
    }
  }

  close(): void { sys('close', NR.close, this.sock); }
}
