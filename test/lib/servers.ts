// Real servers on simulated hosts, started the way Debian's units start them, and clients that
// use them as their users do, from the operator's address on the bridge (the test's own network
// namespace: see hosts.ts), each checking every answer it gets.
//
// - nginx (the nginx-light package): master as root and 2 workers as www-data, daemonized as
//   Debian's unit runs it (`-g 'daemon on; master_process on;'`, Type=forking, the PID from its
//   pid file): the master forks away from whatever started it and is orphaned to the host's init,
//   its stdio on /dev/null. That is the tree a user would migrate. Its config is its own, in the
//   test's directory (pid file, error and access logs, temp paths), serving one 270 KB file.
// - memcached: in the foreground as the user memcache, as Debian's unit runs it through
//   systemd-memcached-wrapper (which drops `-d`), `-t 10` worker threads, `-m 400`.
// - redis-server: in the foreground as the user redis, as Debian's unit does (`--daemonize no`,
//   Type=notify), no persistence.
//
// Every process is found, and ended, by its PID: the PID a tree has inside the host (or inside
// the PID namespace --new-pidns made for it there) and the host whose init it descends from.
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { allPids, sleep, waitForLog, type TestLike } from './harness.js';
import { hostPrefix, type Cluster } from './hosts.js';

// ---------------------------------------------------------------------------------------------
// Where a process runs

/** The service address (SUBNET.`octet`) added to `host`'s eth0, as a user gives a service its own address. */
export function addServiceAddress(c: Cluster, host: string, octet = 100): { ip: string; cidr: string } {
  const ip = `${c.hosts[host]!.ip.split('.').slice(0, 3).join('.')}.${octet}`;
  const r = spawnSync('ip', ['-n', c.hosts[host]!.netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot add ${ip} to ${host}: ${r.stderr}`);
  return { ip, cidr: `${ip}/24` };
}

function statOf(pid: number): { ppid: number; comm: string } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return { comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), ppid: Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) };
  } catch { return null; }
}

/** The PID a task has in its innermost PID namespace (`tid` of `pid`: a thread of it). */
function innerPid(pid: number, tid = pid): number {
  try {
    const m = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
    return Number(m![1]!.trim().split(/\s+/).pop());
  } catch { return -1; }
}

/** The host whose init `pid` descends from (a tree in a PID namespace of its own there too), or null. */
export function hostOf(c: Cluster, pid: number): string | null {
  const inits = new Map(Object.values(c.hosts).map((h) => [h.init, h.name]));
  for (let p = pid, n = 0; p > 1 && n < 64; n++) {
    const host = inits.get(p);
    if (host) return host;
    p = statOf(p)?.ppid ?? 0;
  }
  return null;
}

/**
 * The PID (as this test sees it) of the process on `host` that is `nsPid` inside the host or
 * inside a PID namespace made there, and whose command is `comm`; -1: none.
 */
export function locate(c: Cluster, host: string, nsPid: number, comm: string): number {
  for (const p of allPids()) {
    if (innerPid(p) !== nsPid || statOf(p)?.comm !== comm) continue;
    if (hostOf(c, p) === host) return p;
  }
  return -1;
}

/** The thread IDs of `pid`, as its own PID namespace numbers them, sorted. */
export function threadIds(pid: number): number[] {
  try { return readdirSync(`/proc/${pid}/task`).map((t) => innerPid(pid, Number(t))).sort((a, b) => a - b); } catch { return []; }
}

function childrenOf(pid: number): number[] {
  try { return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
}

/** What of a server's tree (processes by their PIDs inside, threads too) runs on `host`, and what is missing. */
export interface Placement { found: number[]; missing: string[] }

/** Each of `procs` (PID inside → its thread IDs inside, when they matter) on `host` under `comm`. */
export function placement(c: Cluster, host: string, comm: string, procs: Record<number, number[] | null>): Placement {
  const found: number[] = [], missing: string[] = [];
  for (const [k, tids] of Object.entries(procs)) {
    const nsPid = Number(k);
    const p = locate(c, host, nsPid, comm);
    if (p < 0) { missing.push(`${comm} ${nsPid} is not on ${host}`); continue; }
    found.push(nsPid);
    if (tids) {
      const now = threadIds(p);
      if (now.join(',') !== tids.join(',')) missing.push(`${comm} ${nsPid} on ${host} has threads ${now.join(',')}, not ${tids.join(',')}`);
    }
  }
  return { found, missing };
}

/** Make sure the path down to `dir` lets a server's own user through (the test's temp dir is 0700). */
function openPath(dir: string): void {
  for (let d = dir; d.startsWith('/tmp/godwit-test-'); d = d.slice(0, d.lastIndexOf('/'))) chmodSync(d, 0o755);
}

function userIds(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`there is no ${name} user: install its package (scripts/setup.sh does)`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** Accepts a TCP connection from here (the operator's address). */
function accepts(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: ip, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * Start `cmd` on `host` from a shell of its own session, as a service manager does: every fd
 * above 2 closed, stdin /dev/null, output to dir/out.log, cwd `dir`; its PIDs start high, as
 * c.launch's do, so that the same PIDs are free on the other hosts. Returns the PID inside the host
 * that `pidFile` names, once `ip`:`port` accepts connections.
 */
async function startDaemon(c: Cluster, host: string, dir: string, cmd: string[], pidFile: string, ip: string, port: number): Promise<number> {
  const h = c.hosts[host]!;
  spawnSync('nsenter', ['-t', String(h.init), '-p', '-m', '--', 'sh', '-c', 'echo 4999 > /proc/sys/kernel/ns_last_pid']);
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = [
    `cd ${q(dir)} || exit 1`,
    `for f in /proc/$$/fd/*; do n=\${f##*/}; [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-"; done`,
    `exec ${cmd.map(q).join(' ')} </dev/null >>${q(join(dir, 'out.log'))} 2>&1`,
  ].join('\n');
  const argv = [...hostPrefix(h.init), 'setsid', '-f', 'bash', '-c', script];
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} did not start on ${host}: ${r.status ?? r.error}`);
  const out = () => (existsSync(join(dir, 'out.log')) ? readFileSync(join(dir, 'out.log'), 'utf8').slice(-2000) : '');
  const nsPid = Number((await waitForLog(pidFile, /^(\d+)\s*$/m, 30_000).catch((e: Error) => { throw new Error(`${e.message}\n${cmd[0]} said: ${out()}`); }))[1]);
  for (let i = 0; !(await accepts(ip, port)); i++) {
    if (i > 400) throw new Error(`${cmd[0]} on ${host} (PID ${nsPid} there) does not accept connections on ${ip}:${port}; it said: ${out()}`);
    await sleep(25);
  }
  return nsPid;
}

/** SIGKILL, by PID, each of `nsPids` found on any host under `comm`: a test's servers end with it. */
export function killTree(c: Cluster, comm: string, nsPids: () => number[]): void {
  for (const h of Object.keys(c.hosts)) {
    for (const n of nsPids()) {
      const p = locate(c, h, n, comm);
      if (p > 1) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// nginx

export interface Nginx {
  dir: string;
  ip: string;
  port: number;
  /** the URL path of the file served, its size and sha256 */
  path: string;
  size: number;
  sha256: string;
  /** PIDs inside the host */
  master: number;
  workers: number[];
  errorLog: string;
  accessLog: string;
}

/** The file every client fetches: 270 KB of bytes that do not compress, so it is the same size on the wire. */
const NGINX_FILE_BYTES = 270 * 1024;

/**
 * nginx on `host` listening on `ip`:`port`, master + `workers` workers, daemonized as Debian's
 * unit does; ended by PID when the test ends.
 */
export async function startNginx(t: Pick<TestLike, 'after'>, c: Cluster, host: string, ip: string, o: { port?: number; workers?: number } = {}): Promise<Nginx> {
  const port = o.port ?? 80, workers = o.workers ?? 2;
  const dir = join(c.dir, 'nginx');
  const www = join(dir, 'www'), tmp = join(dir, 'tmp');
  mkdirSync(www, { recursive: true });
  mkdirSync(tmp);
  openPath(dir);
  const { uid, gid } = userIds('www-data');
  chownSync(tmp, uid, gid);
  const body = keystream('nginx', 0, NGINX_FILE_BYTES);
  writeFileSync(join(www, 'file.bin'), body);
  const errorLog = join(dir, 'error.log'), accessLog = join(dir, 'access.log'), pidFile = join(dir, 'nginx.pid');
  // Debian's nginx.conf, minus what reads /etc (modules, sites, mime.types), plus what keeps one
  // client's connection open all along: keepalive_requests would close it after 1000 responses
  const conf = `user www-data;
worker_processes ${workers};
pid ${pidFile};
error_log ${errorLog};
events { worker_connections 768; }
http {
  sendfile on;
  tcp_nopush on;
  types_hash_max_size 2048;
  default_type application/octet-stream;
  access_log ${accessLog};
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  server {
    listen ${ip}:${port};
    root ${www};
    location / { }
  }
}
`;
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, conf);
  const n: Nginx = { dir, ip, port, path: '/file.bin', size: body.length, sha256: createHash('sha256').update(body).digest('hex'), master: -1, workers: [], errorLog, accessLog };
  t.after(() => killTree(c, 'nginx', () => [n.master, ...n.workers].filter((p) => p > 0)));
  n.master = await startDaemon(c, host, dir, ['nginx', '-c', confFile, '-e', errorLog, '-g', 'daemon on; master_process on;'], pidFile, ip, port);
  const master = locate(c, host, n.master, 'nginx');
  for (let i = 0; childrenOf(master).length < workers; i++) {
    if (i > 400) throw new Error(`nginx ${n.master} on ${host} has ${childrenOf(master).length} workers, not ${workers}; its error log:\n${readFileSync(errorLog, 'utf8').slice(-2000)}`);
    await sleep(25);
  }
  n.workers = childrenOf(master).map((p) => innerPid(p)).sort((a, b) => a - b);
  return n;
}

/** Where nginx's master and workers run: all of them on `host`, or what is missing there. */
export function nginxOn(c: Cluster, host: string, n: Nginx): Placement {
  const p = placement(c, host, 'nginx', Object.fromEntries([n.master, ...n.workers].map((x) => [x, null])));
  // the workers must still be the master's children, not processes of the same PIDs elsewhere
  const master = locate(c, host, n.master, 'nginx');
  if (master > 0) {
    const kids = childrenOf(master).map((x) => innerPid(x)).sort((a, b) => a - b);
    if (kids.join(',') !== n.workers.join(',')) p.missing.push(`the master's children on ${host} are ${kids.join(',') || 'none'}, not ${n.workers.join(',')}`);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// memcached

export interface Memcached { dir: string; ip: string; port: number; pid: number; threads: number[] }

/** memcached on `host` as Debian's unit runs it (foreground, user memcache); ended by PID when the test ends. */
export async function startMemcached(t: Pick<TestLike, 'after'>, c: Cluster, host: string, ip: string, o: { port?: number; threads?: number; mib?: number } = {}): Promise<Memcached> {
  const port = o.port ?? 11211;
  const dir = join(c.dir, 'memcached');
  const run = join(dir, 'run'); // as /run/memcached, the user's own: it writes its pid file there
  mkdirSync(run, { recursive: true });
  openPath(dir);
  const { uid, gid } = userIds('memcache');
  chownSync(run, uid, gid);
  const pidFile = join(run, 'memcached.pid');
  const m: Memcached = { dir, ip, port, pid: -1, threads: [] };
  t.after(() => killTree(c, 'memcached', () => (m.pid > 0 ? [m.pid] : [])));
  m.pid = await startDaemon(c, host, dir, ['memcached', '-m', String(o.mib ?? 400), '-t', String(o.threads ?? 10), '-p', String(port), '-u', 'memcache', '-l', ip, '-P', pidFile], pidFile, ip, port);
  m.threads = threadIds(locate(c, host, m.pid, 'memcached'));
  return m;
}

export function memcachedOn(c: Cluster, host: string, m: Memcached): Placement {
  return placement(c, host, 'memcached', { [m.pid]: m.threads });
}

// ---------------------------------------------------------------------------------------------
// redis-server

export interface Redis { dir: string; ip: string; port: number; pid: number; threads: number[] }

/** redis-server on `host` as Debian's unit runs it (foreground, user redis), no persistence; ended by PID. */
export async function startRedis(t: Pick<TestLike, 'after'>, c: Cluster, host: string, ip: string, o: { port?: number } = {}): Promise<Redis> {
  const port = o.port ?? 6379;
  const dir = join(c.dir, 'redis');
  mkdirSync(dir, { recursive: true });
  openPath(dir);
  const { uid, gid } = userIds('redis');
  chownSync(dir, uid, gid);
  const pidFile = join(dir, 'redis-server.pid');
  const r: Redis = { dir, ip, port, pid: -1, threads: [] };
  t.after(() => killTree(c, 'redis-server', () => (r.pid > 0 ? [r.pid] : [])));
  r.pid = await startDaemon(c, host, dir, ['setpriv', '--reuid=redis', '--regid=redis', '--clear-groups', '--', 'redis-server', '--port', String(port), '--bind', ip,
    '--daemonize', 'no', '--save', '', '--appendonly', 'no', '--dir', dir, '--pidfile', pidFile, '--logfile', join(dir, 'redis-server.log'), '--protected-mode', 'no'], pidFile, ip, port);
  r.threads = threadIds(locate(c, host, r.pid, 'redis-server'));
  return r;
}

// ---------------------------------------------------------------------------------------------
// Data the clients write and check: a keystream (AES-128-CTR) per name and index, so no value
// compresses and each can be checked without keeping it.

const KEY = Buffer.from('godwit-servers-k');

export function keystream(name: string, index: number, bytes: number): Buffer {
  const iv = createHash('md5').update(`${name}:${index}`).digest();
  return createCipheriv('aes-128-ctr', KEY, iv).update(Buffer.alloc(bytes));
}

// ---------------------------------------------------------------------------------------------
// A client that runs all along: what it counted, and every failure it saw

export interface LoadStats {
  /** answers received and checked */
  requests: number;
  /** each failure: what went wrong, and when (ms since the client started) */
  failures: string[];
  /** TCP connections it had to open (1: the same one all along) */
  connections: number;
  /** the longest wait between two answers, ms, and when it ended */
  maxGapMs: number;
  maxGapEndedAt: number;
}

/** Shared by the loops: counting, failures, the longest wait, reconnecting after a failure. */
abstract class Loop {
  requests = 0;
  connections = 0;
  readonly failures: string[] = [];
  protected readonly t0 = performance.now();
  private last = performance.now();
  private gap = 0;
  private gapAt = 0;
  protected stopped = false;
  protected sock: Socket | null = null;
  private stalled: NodeJS.Timeout | null = null;
  private ended: (() => void) | null = null;
  private readonly first: Promise<void>;
  private firstDone!: () => void;

  /** `pauseMs` between an answer and the next request (0: at once) */
  pauseMs = 0;

  constructor(readonly ip: string, readonly port: number, readonly what: string, private readonly stallMs = 20_000) {
    this.first = new Promise((r) => { this.firstDone = r; });
  }

  /** Connected, and the first answer checked. */
  protected async begin(): Promise<void> {
    this.open();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.what} on ${this.ip}:${this.port}: no first answer in 20 s: ${this.failures.join('; ')}`)), 20_000);
    });
    try { await Promise.race([this.first, late]); } catch (e) { await this.stop(); throw e; } finally { clearTimeout(timer); }
  }

  protected abstract next(): void;
  protected abstract data(chunk: Buffer): void;
  protected abstract reset(): void;

  private open(): void {
    this.connections++;
    this.reset();
    const s = connect({ host: this.ip, port: this.port });
    s.setNoDelay(true);
    this.sock = s;
    s.on('connect', () => this.next());
    s.on('data', (d: Buffer) => { if (this.sock === s) { this.armStall(); this.data(d); } });
    s.on('error', (e) => this.broken(s, `${this.what}: ${e.message}`));
    s.on('close', () => this.broken(s, `${this.what}: the server closed the connection`));
    this.armStall();
  }

  private armStall(): void {
    if (this.stalled) clearTimeout(this.stalled);
    this.stalled = setTimeout(() => { if (this.sock) this.broken(this.sock, `${this.what}: no answer for ${this.stallMs} ms`); }, this.stallMs);
  }

  protected fail(why: string): void {
    this.failures.push(`${why} (at ${((performance.now() - this.t0) / 1000).toFixed(2)} s, after ${this.requests} answers)`);
  }

  private broken(s: Socket, why: string): void {
    if (this.sock !== s) return;
    this.sock = null;
    s.destroy();
    if (this.stalled) clearTimeout(this.stalled);
    if (this.stopped) { this.ended?.(); return; }
    this.fail(why);
    // a client goes on: it reconnects, and counts that as the failure it is
    setTimeout(() => { if (!this.stopped) this.open(); }, 200);
  }

  /** An answer was checked (`bad`: the reason it is wrong); ask the next one. */
  protected answered(bad: string | null): void {
    const now = performance.now();
    if (now - this.last > this.gap) { this.gap = now - this.last; this.gapAt = now; }
    this.last = now;
    if (bad) this.fail(`${this.what}: ${bad}`); else this.requests++;
    this.firstDone();
    if (this.stopped) return;
    if (this.pauseMs > 0) {
      const s = this.sock;
      setTimeout(() => { if (!this.stopped && this.sock === s) this.next(); }, this.pauseMs);
    } else this.next();
  }

  stats(): LoadStats {
    return { requests: this.requests, failures: [...this.failures], connections: this.connections, maxGapMs: Math.round(this.gap), maxGapEndedAt: Math.round(this.gapAt - this.t0) };
  }

  /** Forget the longest wait so far: stats() then tells the longest since (one migration's, say). */
  resetGap(): void { this.gap = 0; this.gapAt = 0; }

  /** Stop after the answer in flight; the connection is closed. */
  async stop(): Promise<LoadStats> {
    this.stopped = true;
    const s = this.sock;
    if (s) {
      const done = new Promise<void>((r) => { this.ended = r; });
      s.end();
      await Promise.race([done, sleep(2000)]);
      s.destroy();
    }
    if (this.stalled) clearTimeout(this.stalled);
    return this.stats();
  }
}

/**
 * A keep-alive HTTP/1.1 client on one connection, fetching `n.path` again and again: every
 * response must be a 200 of the file's length and sha256, on the same connection.
 */
export class HttpLoop extends Loop {
  private head: Buffer = Buffer.alloc(0);
  private body = -1;
  private hash = createHash('sha256');
  private status = '';

  private constructor(private readonly n: Pick<Nginx, 'ip' | 'port' | 'path' | 'size' | 'sha256'>) { super(n.ip, n.port, `GET ${n.path}`); }

  static async start(n: Pick<Nginx, 'ip' | 'port' | 'path' | 'size' | 'sha256'>): Promise<HttpLoop> {
    const l = new HttpLoop(n);
    await l.begin();
    return l;
  }

  protected reset(): void { this.head = Buffer.alloc(0); this.body = -1; }

  protected next(): void {
    this.sock?.write(`GET ${this.n.path} HTTP/1.1\r\nHost: ${this.n.ip}\r\nUser-Agent: godwit-test\r\n\r\n`);
  }

  protected data(d: Buffer): void {
    for (let chunk: Buffer | null = d; chunk && chunk.length;) {
      if (this.body < 0) {
        this.head = Buffer.concat([this.head, chunk]);
        const end = this.head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = this.head.subarray(0, end).toString('latin1');
        chunk = this.head.subarray(end + 4);
        this.head = Buffer.alloc(0);
        this.status = text.slice(0, text.indexOf('\r\n'));
        this.body = Number(/^content-length:\s*(\d+)/im.exec(text)?.[1] ?? 0);
        this.hash = createHash('sha256');
        if (/^connection:\s*close/im.test(text)) this.fail(`${this.what}: the server said Connection: close`);
      }
      const take = Math.min(this.body, chunk.length);
      this.hash.update(chunk.subarray(0, take));
      this.body -= take;
      chunk = chunk.subarray(take);
      if (this.body === 0) {
        this.body = -1;
        const sum = this.hash.digest('hex');
        const bad = !/^HTTP\/1\.1 200 /.test(this.status) ? `status "${this.status}"` : sum !== this.n.sha256 ? `a body of sha256 ${sum.slice(0, 12)}…, not the file's` : null;
        if (chunk.length) this.fail(`${this.what}: ${chunk.length} bytes after the response`);
        this.answered(bad);
        return;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The memcached text protocol (set, get), over node:net

type Pending = { kind: 'store' | 'get'; resolve: (v: Buffer | null) => void; reject: (e: Error) => void };

/** Reads the memcached text protocol's answers, in order, from a byte stream. */
class McParser {
  private buf: Buffer = Buffer.alloc(0);
  readonly queue: Pending[] = [];

  feed(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const p = this.queue[0];
      if (!p) { if (this.buf.length) throw new Error(`memcached said ${JSON.stringify(this.buf.subarray(0, 80).toString('latin1'))} unasked`); return; }
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return;
      const line = this.buf.subarray(0, eol).toString('latin1');
      if (p.kind === 'store') {
        this.buf = this.buf.subarray(eol + 2);
        this.queue.shift();
        if (line === 'STORED') p.resolve(null); else p.reject(new Error(`set: ${line}`));
        continue;
      }
      if (line === 'END') { this.buf = this.buf.subarray(eol + 2); this.queue.shift(); p.resolve(null); continue; }
      const m = /^VALUE \S+ \d+ (\d+)$/.exec(line);
      if (!m) { this.buf = this.buf.subarray(eol + 2); this.queue.shift(); p.reject(new Error(`get: ${line}`)); continue; }
      const len = Number(m[1]), start = eol + 2, endAt = start + len + 2 + 5; // data \r\n END\r\n
      if (this.buf.length < endAt) return;
      const value = Buffer.from(this.buf.subarray(start, start + len));
      if (this.buf.subarray(start + len, endAt).toString('latin1') !== '\r\nEND\r\n') { this.queue.shift(); p.reject(new Error('get: a value not followed by END')); this.buf = this.buf.subarray(endAt); continue; }
      this.buf = this.buf.subarray(endAt);
      this.queue.shift();
      p.resolve(value);
    }
  }

  failAll(e: Error): void { for (const p of this.queue.splice(0)) p.reject(e); }
}

/** One connection to memcached; commands may be pipelined (their answers come in order). */
export class Memcache {
  private readonly parser = new McParser();
  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => { try { this.parser.feed(d); } catch (e) { this.parser.failAll(e as Error); sock.destroy(); } });
    sock.on('error', (e) => this.parser.failAll(e));
    sock.on('close', () => this.parser.failAll(new Error('memcached closed the connection')));
  }

  static connect(ip: string, port: number): Promise<Memcache> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: ip, port });
      s.setNoDelay(true);
      s.once('connect', () => resolve(new Memcache(s)));
      s.once('error', reject);
    });
  }

  private call(kind: Pending['kind'], data: Buffer[]): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      this.parser.queue.push({ kind, resolve, reject });
      for (const d of data) this.sock.write(d);
    });
  }

  set(key: string, value: Buffer): Promise<Buffer | null> {
    return this.call('store', [Buffer.from(`set ${key} 0 0 ${value.length}\r\n`), value, Buffer.from('\r\n')]);
  }

  get(key: string): Promise<Buffer | null> { return this.call('get', [Buffer.from(`get ${key}\r\n`)]); }

  close(): void { this.sock.end(); }
}

export const mcKey = (i: number): string => `key:${i}`;
export const mcValue = (i: number, bytes: number): Buffer => keystream('memcached', i, bytes);

/** Set keys 0..`keys`-1 to their values (pipelined, in batches). */
export async function mcLoad(m: Pick<Memcached, 'ip' | 'port'>, keys: number, bytes: number): Promise<void> {
  const mc = await Memcache.connect(m.ip, m.port);
  try {
    for (let i = 0; i < keys; i += 500) await Promise.all(Array.from({ length: Math.min(500, keys - i) }, (_, k) => mc.set(mcKey(i + k), mcValue(i + k, bytes))));
  } finally { mc.close(); }
}

/** Every key read back: the reasons of those missing or wrong (empty: all there and right). */
export async function mcCheck(m: Pick<Memcached, 'ip' | 'port'>, keys: number, bytes: number): Promise<string[]> {
  const mc = await Memcache.connect(m.ip, m.port);
  const bad: string[] = [];
  try {
    for (let i = 0; i < keys; i += 500) {
      const got = await Promise.all(Array.from({ length: Math.min(500, keys - i) }, (_, k) => mc.get(mcKey(i + k))));
      got.forEach((v, k) => {
        if (v === null) bad.push(`${mcKey(i + k)} is missing`);
        else if (!v.equals(mcValue(i + k, bytes))) bad.push(`${mcKey(i + k)} holds other bytes`);
      });
    }
  } finally { mc.close(); }
  return bad;
}

/**
 * A memcached client on one connection all along: gets a random key of 0..`keys`-1 and checks
 * its value, and every 8th command sets one again (the same value: a server that is written to).
 */
export class McLoop extends Loop {
  private readonly parser = new McParser();
  private n = 0;

  private constructor(m: Pick<Memcached, 'ip' | 'port'>, private readonly keys: number, private readonly bytes: number) { super(m.ip, m.port, 'memcached get/set'); }

  static async start(m: Pick<Memcached, 'ip' | 'port'>, keys: number, bytes: number): Promise<McLoop> {
    const l = new McLoop(m, keys, bytes);
    await l.begin();
    return l;
  }

  protected reset(): void { this.parser.failAll(new Error('reconnected')); }

  protected data(d: Buffer): void {
    try { this.parser.feed(d); } catch (e) { this.fail(`memcached: ${(e as Error).message}`); this.sock?.destroy(); }
  }

  protected next(): void {
    const i = Math.floor(Math.random() * this.keys), want = mcValue(i, this.bytes);
    const set = ++this.n % 8 === 0;
    const p = new Promise<Buffer | null>((resolve, reject) => this.parser.queue.push({ kind: set ? 'store' : 'get', resolve, reject }));
    p.then((v) => this.answered(set ? null : v === null ? `${mcKey(i)} is missing` : v.equals(want) ? null : `${mcKey(i)} holds other bytes`), () => undefined);
    if (set) { this.sock?.write(`set ${mcKey(i)} 0 0 ${want.length}\r\n`); this.sock?.write(want); this.sock?.write('\r\n'); } else this.sock?.write(`get ${mcKey(i)}\r\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// The Redis protocol (RESP2), over node:net

export type Resp = string | number | Buffer | null | Error | Resp[];

/** One connection to Redis; commands may be pipelined. */
export class RedisConn {
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: Array<{ resolve: (v: Resp) => void; reject: (e: Error) => void }> = [];
  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      for (;;) {
        const r = parseResp(this.buf, 0);
        if (!r) return;
        this.buf = this.buf.subarray(r.end);
        const p = this.queue.shift();
        if (r.value instanceof Error) p?.reject(r.value); else p?.resolve(r.value);
      }
    });
    const failAll = (e: Error) => { for (const p of this.queue.splice(0)) p.reject(e); };
    sock.on('error', failAll);
    sock.on('close', () => failAll(new Error('redis closed the connection')));
  }

  static connect(ip: string, port: number): Promise<RedisConn> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: ip, port });
      s.setNoDelay(true);
      s.once('connect', () => resolve(new RedisConn(s)));
      s.once('error', reject);
    });
  }

  command(...args: Array<string | Buffer>): Promise<Resp> {
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = typeof a === 'string' ? Buffer.from(a) : a;
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject });
      this.sock.write(Buffer.concat(parts));
    });
  }

  close(): void { this.sock.end(); }
}

function parseResp(b: Buffer, at: number): { value: Resp; end: number } | null {
  const eol = b.indexOf('\r\n', at);
  if (eol < 0) return null;
  const line = b.subarray(at + 1, eol).toString('latin1');
  switch (String.fromCharCode(b[at]!)) {
    case '+': return { value: line, end: eol + 2 };
    case '-': return { value: new Error(line), end: eol + 2 };
    case ':': return { value: Number(line), end: eol + 2 };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      if (b.length < eol + 2 + n + 2) return null;
      return { value: Buffer.from(b.subarray(eol + 2, eol + 2 + n)), end: eol + 2 + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      const out: Resp[] = [];
      let end = eol + 2;
      for (let i = 0; i < n; i++) {
        const r = parseResp(b, end);
        if (!r) return null;
        out.push(r.value);
        end = r.end;
      }
      return { value: out, end };
    }
    default: throw new Error(`redis said ${JSON.stringify(b.subarray(at, at + 40).toString('latin1'))}`);
  }
}

export const redisValue = (i: number, bytes: number): Buffer => keystream('redis', i, bytes);

/** Set keys 0..`keys`-1 to their values (pipelined). */
export async function redisLoad(r: Pick<Redis, 'ip' | 'port'>, keys: number, bytes: number): Promise<void> {
  const conn = await RedisConn.connect(r.ip, r.port);
  try {
    for (let i = 0; i < keys; i += 1000) await Promise.all(Array.from({ length: Math.min(1000, keys - i) }, (_, k) => conn.command('SET', `key:${i + k}`, redisValue(i + k, bytes))));
  } finally { conn.close(); }
}

/** Keys `indexes` read back: the reasons of those missing or wrong. */
export async function redisCheck(conn: RedisConn, indexes: number[], bytes: number): Promise<string[]> {
  const got = await Promise.all(indexes.map((i) => conn.command('GET', `key:${i}`)));
  return got.flatMap((v, k) => {
    const i = indexes[k]!;
    if (v === null) return [`key:${i} is missing`];
    return Buffer.isBuffer(v) && v.equals(redisValue(i, bytes)) ? [] : [`key:${i} holds other bytes`];
  });
}

/**
 * A Redis client on one connection all along: GETs a random key of 0..`keys`-1 and checks its value.
 */
export class RedisLoop extends Loop {
  private buf: Buffer = Buffer.alloc(0);
  private want: Buffer | null = null;
  private key = '';

  private constructor(r: Pick<Redis, 'ip' | 'port'>, private readonly keys: number, private readonly bytes: number) { super(r.ip, r.port, 'redis GET'); }

  static async start(r: Pick<Redis, 'ip' | 'port'>, keys: number, bytes: number): Promise<RedisLoop> {
    const l = new RedisLoop(r, keys, bytes);
    await l.begin();
    return l;
  }

  protected reset(): void { this.buf = Buffer.alloc(0); this.want = null; }

  protected next(): void {
    const i = Math.floor(Math.random() * this.keys);
    this.key = `key:${i}`;
    this.want = redisValue(i, this.bytes);
    this.sock?.write(`*2\r\n$3\r\nGET\r\n$${this.key.length}\r\n${this.key}\r\n`);
  }

  protected data(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let r: { value: Resp; end: number } | null;
    try { r = parseResp(this.buf, 0); } catch (e) { this.fail(`redis: ${(e as Error).message}`); this.sock?.destroy(); return; }
    if (!r) return;
    this.buf = this.buf.subarray(r.end);
    const v = r.value;
    this.answered(v === null ? `${this.key} is missing` : v instanceof Error ? `GET ${this.key}: ${v.message}` : Buffer.isBuffer(v) && this.want && v.equals(this.want) ? null : `${this.key} holds other bytes`);
  }
}

/** A field of INFO. */
export async function redisInfo(conn: RedisConn, field: string): Promise<string> {
  const info = await conn.command('INFO');
  const text = Buffer.isBuffer(info) ? info.toString() : String(info);
  return new RegExp(`^${field}:(.*)\\r?$`, 'm').exec(text)?.[1]?.trim() ?? '';
}
