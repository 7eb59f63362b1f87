// Putting the agent's open files into a restored task: the agent creates every file object
// itself (opens, pipes, later sockets), sends it over an abstract unix socket with SCM_RIGHTS,
// and the task receives it by a remote recvmsg, up to 253 in one, each at its number. The same
// open file description can go to several tasks, so a shared offset stays shared.
import { sys, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import type { Injection } from '../ptrace/inject.js';
import { GodwitError } from '../errors.js';

const AF_UNIX = 1, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0o2000000, SOL_SOCKET = 1, SCM_RIGHTS = 1;
const O_CLOEXEC = 0o2000000, CLOSE_RANGE_CLOEXEC = 4;
/** SCM_MAX_FD: the most fds one message carries */
const MAX_FDS = 253;
const cmsgSpace = (n: number): number => 16 + ((4 * n + 7) & ~7);

/** Consecutive numbers as [first, last] runs. */
function runs(ns: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const n of [...ns].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && n === last[1] + 1) last[1] = n;
    else if (!last || n > last[1]) out.push([n, n]);
  }
  return out;
}

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

  /** One datagram carrying `fds` (at most MAX_FDS) to `to`. */
  private send(to: Buffer, fds: number[]): void {
    const byte = Buffer.from([0]);
    const iov = Buffer.alloc(16);
    iov.writeBigUInt64LE(addr(byte), 0);
    iov.writeBigUInt64LE(1n, 8);
    const ctl = Buffer.alloc(cmsgSpace(fds.length));
    ctl.writeBigUInt64LE(BigInt(16 + 4 * fds.length), 0); // CMSG_LEN
    ctl.writeInt32LE(SOL_SOCKET, 8);
    ctl.writeInt32LE(SCM_RIGHTS, 12);
    fds.forEach((fd, i) => ctl.writeInt32LE(fd, 16 + 4 * i));
    const msg = Buffer.alloc(56);
    msg.writeBigUInt64LE(addr(to), 0);
    msg.writeUInt32LE(to.length, 8);
    msg.writeBigUInt64LE(addr(iov), 16);
    msg.writeBigUInt64LE(1n, 24);
    msg.writeBigUInt64LE(addr(ctl), 32);
    msg.writeBigUInt64LE(BigInt(ctl.length), 40);
    sys('sendmsg(SCM_RIGHTS)', NR.sendmsg, this.sock, addr(msg), 0);
  }

  /**
   * Install every placement in the task; the task's fd table must hold nothing in the way.
   *
   * A task receives fds at its lowest free numbers, in the order they were sent. So the agent
   * sends every number from 0 to the highest target in order, the file itself where a target is
   * and a filler (its own socket) in each gap, up to 253 a datagram (SCM_MAX_FD): each lands where
   * it belongs, and the fillers go with one close_range per gap. A thousand fds take a few remote
   * calls rather than three each. Whatever does not land where planned (a number already taken,
   * a target far above the others) is moved to its place one by one.
   */
  install(inj: Injection, items: FdPlacement[]): void {
    if (!items.length) return;
    const byTarget = new Map(items.map((i) => [i.target, i]));
    const high = Math.max(...byTarget.keys()) + 1;
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
    const ctlSize = cmsgSpace(MAX_FDS);
    const ctl = inj.space(ctlSize);
    const msg = Buffer.alloc(56);
    msg.writeBigUInt64LE(BigInt(iovAt), 16);
    msg.writeBigUInt64LE(1n, 24);
    msg.writeBigUInt64LE(BigInt(ctl), 32);
    const msgAt = inj.put(msg);
    const fillers: number[] = [];
    try {
      // the fillers only where the targets are dense; one far up is moved to its place instead
      const dense = Math.min(high, 2 * items.length + 64);
      const sequence = [
        ...Array.from({ length: dense }, (_, f) => byTarget.get(f) ?? null),
        ...items.filter((i) => i.target >= dense),
      ];
      for (let from = 0; from < sequence.length; from += MAX_FDS) {
        const plan = sequence.slice(from, from + MAX_FDS);
        this.send(to, plan.map((it) => it?.agentFd ?? this.sock));
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(ctlSize), 0);
        inj.mem.write(msgAt + 40, len); // msg_controllen is in/out
        inj.call('recvmsg', NR.recvmsg, s, msgAt, 0);
        const c = inj.mem.read(ctl, ctlSize);
        const n = (Number(c.readBigUInt64LE(0)) - 16) / 4;
        if (c.readInt32LE(8) !== SOL_SOCKET || c.readInt32LE(12) !== SCM_RIGHTS || n !== plan.length) {
          throw new GodwitError(`process ${inj.pid}: ${plan.length} fds sent, ${c.readInt32LE(12) === SCM_RIGHTS ? n : 'none'} arrived`);
        }
        plan.forEach((it, k) => {
          const got = c.readInt32LE(16 + 4 * k);
          if (!it) { fillers.push(got); return; }
          if (got === it.target) return;
          inj.call('dup3', NR.dup3, got, it.target, it.cloexec ? O_CLOEXEC : 0);
          inj.call('close', NR.close, got);
        });
      }
      // a filler a misplaced file was moved onto is gone already
      for (const [a, b] of runs(fillers.filter((f) => !byTarget.has(f)))) inj.call('close_range', NR.close_range, a, b, 0);
      for (const [a, b] of runs(items.filter((i) => i.cloexec).map((i) => i.target))) inj.call('close_range(CLOEXEC)', NR.close_range, a, b, CLOSE_RANGE_CLOEXEC);
    } finally {
      inj.call('close', NR.close, s);
    }
  }

  close(): void { sys('close', NR.close, this.sock); }
}
