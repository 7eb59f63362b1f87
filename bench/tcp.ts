// npm run bench, part 5: what moving established TCP connections adds to a freeze, for 1, 100
// and 1000 connections on loopback: the network lock (one nftables transaction, per connection
// or for the server's endpoint whole),
// reading each out in repair mode, making each again in repair mode, and ending repair mode with
// the lock lifted. The connections are this process's own (the agent works on duplicates of the
// tree's sockets in just this way); each end has unread data queued both ways, and afterwards a
// message crosses every connection to show it still works.
import { sys, addr } from '../src/core/sys/libc.js';
import { NR } from '../src/core/sys/nr.js';
import { NetworkLock } from '../src/core/net/lock.js';
import { dumpTcp, restoreTcp, finishTcp, connectionOf } from '../src/core/net/tcp.js';
import { sockName, setInt, SOL_SOCKET, SO } from '../src/core/net/sockopt.js';
import type { TcpState } from '../src/core/image/format.js';

const COUNTS = (process.env.BENCH_TCP ?? '1,100,1000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const AF_INET = 2, SOCK_STREAM = 1, RLIMIT_NOFILE = 7;

function raiseFdLimit(n: number): void {
  const lim = Buffer.alloc(16);
  lim.writeBigUInt64LE(BigInt(n), 0);
  lim.writeBigUInt64LE(BigInt(n), 8);
  sys('prlimit64(RLIMIT_NOFILE)', NR.prlimit64, 0, RLIMIT_NOFILE, addr(lim), 0);
}

function sockaddr(port: number): Buffer {
  const sa = Buffer.alloc(16);
  sa.writeUInt16LE(AF_INET, 0);
  sa.writeUInt16BE(port, 2);
  Buffer.from([127, 0, 0, 1]).copy(sa, 4);
  return sa;
}

function send(fd: number, b: Buffer): void { sys('sendto', NR.sendto, fd, addr(b), b.length, 0, 0, 0); }
/** Exactly `n` bytes (blocking). */
function recv(fd: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let got = 0; got < n; ) {
    const r = sys('recvfrom', NR.recvfrom, fd, addr(b.subarray(got)), n - got, 0, 0, 0);
    if (r === 0) throw new Error('the connection ended');
    got += r;
  }
  return b;
}

/** `n` connected pairs on loopback: [client, server] fds, with 1 KiB unread each way. */
function pairs(n: number): Array<[number, number]> {
  const lst = sys('socket', NR.socket, AF_INET, SOCK_STREAM, 0);
  setInt(lst, SOL_SOCKET, SO.REUSEADDR, 1);
  const any = sockaddr(0);
  sys('bind', NR.bind, lst, addr(any), 16);
  sys('listen', NR.listen, lst, 4096);
  const port = Buffer.from(sockName(lst, false)).readUInt16BE(2);
  const out: Array<[number, number]> = [];
  const to = sockaddr(port);
  for (let i = 0; i < n; i++) {
    const c = sys('socket', NR.socket, AF_INET, SOCK_STREAM, 0);
    sys('connect', NR.connect, c, addr(to), 16);
    const s = sys('accept4', NR.accept4, lst, 0, 0, 0);
    send(c, Buffer.alloc(1024, 1));
    send(s, Buffer.alloc(1024, 2));
    out.push([c, s]);
  }
  sys('close', NR.close, lst);
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function once(n: number): { perConn: number; lock: number; dump: number; restore: number; finish: number } {
  const ps = pairs(n);
  // settle: every byte sent has been acknowledged
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  // per connection, as where another process shares the server's port; and the server's endpoint
  // whole, as where it does not (the usual case, and what a dump does then)
  const conns = ps.map(([, s]) => connectionOf(sockName(s, false), sockName(s, true)));
  const tc = performance.now();
  const byConn = NetworkLock.take(`bench_c${process.pid}`, conns);
  const perConn = performance.now() - tc;
  byConn.release();
  const t0 = performance.now();
  const lock = NetworkLock.take(`bench_${process.pid}`, [], [{ family: 4, addr: conns[0]!.local, port: conns[0]!.localPort }]);
  const t1 = performance.now();
  const states: Array<{ st: TcpState; local: Uint8Array; peer: Uint8Array }> = [];
  for (const [, s] of ps) {
    states.push({ st: dumpTcp(s, `bench socket ${s}`), local: sockName(s, false), peer: sockName(s, true) });
    sys('close', NR.close, s); // in repair mode: nothing is sent
  }
  const t2 = performance.now();
  const fresh = states.map((x) => restoreTcp(AF_INET, x.local, x.peer, x.st, () => undefined));
  const t3 = performance.now();
  fresh.forEach((fd, i) => finishTcp(fd, states[i]!.st, 0));
  lock.open();
  const t4 = performance.now();
  lock.release(); // after the tree runs: not part of the freeze
  // every connection works: what was queued arrives, and a new message crosses each way
  for (let i = 0; i < n; i++) {
    const [c] = ps[i]!, s = fresh[i]!;
    send(c, Buffer.from('ping'));
    send(s, Buffer.from('pong'));
    // each end reads the 1 KiB queued before the move, then the new message
    if (recv(s, 1028).subarray(1024).toString() !== 'ping' || recv(c, 1028).subarray(1024).toString() !== 'pong') {
      throw new Error(`connection ${i} lost or mixed up its bytes`);
    }
    sys('close', NR.close, c);
    sys('close', NR.close, s);
  }
  return { perConn, lock: t1 - t0, dump: t2 - t1, restore: t3 - t2, finish: t4 - t3 };
}

raiseFdLimit(8192);
NetworkLock.present(); // libnftables' socket, opened now, keeps a low fd number (see nft.ts)
console.log('\n== moving established TCP connections on loopback: what the network lock and TCP repair add to a freeze');
console.log(`runs per case: ${RUNS} (median shown)`);
console.log('| connections | lock (per connection) ms | lock (the endpoint) ms | read out ms | made again ms | repair off + unlock ms | total ms |');
console.log('|---|---|---|---|---|---|---|');
for (const n of COUNTS) {
  const rs = Array.from({ length: RUNS }, () => once(n));
  const m = (k: 'perConn' | 'lock' | 'dump' | 'restore' | 'finish') => median(rs.map((r) => r[k]));
  const total = median(rs.map((r) => r.lock + r.dump + r.restore + r.finish));
  console.log(`| ${n} | ${m('perConn').toFixed(2)} | ${m('lock').toFixed(2)} | ${m('dump').toFixed(2)} | ${m('restore').toFixed(2)} | ${m('finish').toFixed(2)} | ${total.toFixed(2)} |`);
}
