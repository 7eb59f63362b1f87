// Simulated hosts on this machine, as ../shared/DESIGN.md describes them: each host is a network
// namespace with a veth on a shared bridge, plus its own PID, mount, IPC and UTS namespaces (its
// own /proc, System V objects and hostname, as real hosts have), its own pseudo-terminals (a devpts
// instance) and its own /run (a tmpfs: a socket file there is the host's, as on two machines),
// with an agent started inside the way a user starts one. The bridge lives in a namespace of its
// own, with the "operator" address the test (and its clients) speak from: nothing here touches
// the machine's own network. Everything is torn down when the test ends, pass or fail.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sys } from '../../src/core/sys/libc.js';
import { NR } from '../../src/core/sys/nr.js';
import { AgentClient, type TlsMaterial } from '../../src/pageserver/client.js';
import { DEFAULT_PORT } from '../../src/pageserver/protocol.js';
import { ROOT, sleep, startTarget, tempDir, cleanup, allPids, status, type StartOptions, type Target, type TestLike } from './harness.js';

const CLONE_NEWNET = 0x40000000;
/** nsenter's flags for every namespace a simulated host has */
const HOST_NS = ['-n', '-p', '-m', '-i', '-u'];
/** run a command inside a simulated host whose init is `init` (as a user logged in there would) */
export const hostPrefix = (init: number): string[] => ['nsenter', '-t', String(init), ...HOST_NS, '--'];
const HOSTINIT = join(ROOT, 'native', 'build', 'godwit-hostinit');
const GODWIT = join(ROOT, 'bin', 'godwit.js');

export interface SimHost {
  name: string;
  netns: string;
  ip: string;
  url: string;
  /** PID (here) of the host's init; its namespaces are the host's */
  init: number;
  /** PID (here) of the agent, -1 once it is gone */
  agent: number;
  stateDir: string;
  log: string;
}

export interface Cluster {
  dir: string;
  /** the network namespace of the bridge (and of the operator's address) */
  wire: string;
  token: Buffer;
  tokenFile: string;
  hosts: Record<string, SimHost>;
  /** connect to a host's agent, from the operator's address */
  client(host: string, token?: Buffer): Promise<AgentClient>;
  /** the operator's certificate, key and CA when the agents speak TLS */
  tls: TlsMaterial | undefined;
  /** start a test program on a host (`ready: false`: a program that prints no READY line) */
  launch(host: string, tag: string, cmd: string[], opts?: Pick<StartOptions, 'ready' | 'env'>): Promise<Target>;
  /** the PID this test sees for PID `nsPid` of `host` (-1: none) */
  rootPid(host: string, nsPid: number): number;
  /** kill a host's agent (SIGKILL: no chance to clean up) */
  killAgent(host: string): void;
  startAgent(host: string): Promise<void>;
}

function run(cmd: string, ...args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error}`);
}

/** Move this thread (node's main thread: the one that creates sockets) into a network namespace. */
function enterNetns(path: string): void {
  const fd = openSync(path, 'r');
  try { sys('setns', NR.setns, fd, CLONE_NEWNET); } finally { closeSync(fd); }
}

function childrenOf(pid: number): number[] {
  try { return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
}

function nsOf(pid: number): string | null {
  try { return readlinkSync(`/proc/${pid}/ns/pid`); } catch { return null; }
}

/**
 * Two (or more) hosts named `names`, each with an agent listening on its address, port 7749.
 * `stateDirs` may give a host's state directory (a small tmpfs, say); mounts made before the host
 * starts are what its mount namespace sees.
 */
export interface HostsOptions {
  /** a host's state directory (a small tmpfs, say); mounts made before the host starts are what its mount namespace sees */
  stateDirs?: Record<string, string>;
  /** agents speak TLS with certificates from a CA made for the test; clients get one too */
  tls?: boolean;
  /** more options for every agent */
  agentArgs?: string[];
}

/** A CA, and a certificate for each name (an IP address, or a client's name) signed by it. */
function makeCertificates(dir: string, subjects: Array<{ name: string; ip?: string }>): Record<string, { cert: string; key: string }> {
  const ca = { cert: join(dir, 'ca.pem'), key: join(dir, 'ca.key') };
  run('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=godwit test CA', '-keyout', ca.key, '-out', ca.cert);
  const out: Record<string, { cert: string; key: string }> = { ca };
  for (const s of subjects) {
    const key = join(dir, `${s.name}.key`), csr = join(dir, `${s.name}.csr`), cert = join(dir, `${s.name}.pem`), ext = join(dir, `${s.name}.ext`);
    writeFileSync(ext, `subjectAltName=${s.ip ? `IP:${s.ip}` : `DNS:${s.name}`}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    run('openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${s.name}`, '-keyout', key, '-out', csr);
    run('openssl', 'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert);
    out[s.name] = { cert, key };
  }
  return out;
}

export async function simulatedHosts(t: Pick<TestLike, 'after'>, names = ['a', 'b'], opts: HostsOptions = {}): Promise<Cluster> {
  const stateDirs = opts.stateDirs ?? {};
  const tag = `gw${randomBytes(3).toString('hex')}`;
  const dir = tempDir(`hosts-${tag}`);
  const token = Buffer.from(randomBytes(24).toString('base64'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${token.toString()}\n`, { mode: 0o600 });
  const wire = `${tag}-wire`;
  const hosts: Record<string, SimHost> = {};
  const home = openSync('/proc/self/ns/net', 'r');
  const subnet = `10.${100 + (randomBytes(1)[0]! % 100)}.${randomBytes(1)[0]! % 250}`;

  t.after(() => {
    // never kill(-1): that is every process on the machine
    for (const h of Object.values(hosts)) { if (h.init > 1) { try { process.kill(h.init, 'SIGKILL'); } catch { /* gone */ } } }
    try { sys('setns', NR.setns, home, CLONE_NEWNET); } catch { /* stays */ }
    closeSync(home);
    for (const n of [wire, ...Object.values(hosts).map((h) => h.netns)]) spawnSync('ip', ['netns', 'del', n]);
    cleanup(dir);
  });

  run('ip', 'netns', 'add', wire);
  run('ip', '-n', wire, 'link', 'add', 'br0', 'type', 'bridge');
  run('ip', '-n', wire, 'link', 'set', 'br0', 'up');
  run('ip', '-n', wire, 'addr', 'add', `${subnet}.254/24`, 'dev', 'br0');
  run('ip', '-n', wire, 'link', 'set', 'lo', 'up');
  names.forEach((name, i) => {
    const netns = `${tag}-${name}`;
    const ip = `${subnet}.${i + 1}`;
    run('ip', 'netns', 'add', netns);
    run('ip', '-n', wire, 'link', 'add', `p-${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    run('ip', '-n', wire, 'link', 'set', `p-${name}`, 'master', 'br0', 'up');
    run('ip', '-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
    run('ip', '-n', netns, 'link', 'set', 'eth0', 'up');
    run('ip', '-n', netns, 'link', 'set', 'lo', 'up');
    const stateDir = stateDirs[name] ?? join(dir, `state-${name}`);
    hosts[name] = { name, netns, ip, url: `${opts.tls ? 'wss' : 'ws'}://${ip}:${DEFAULT_PORT}`, init: -1, agent: -1, stateDir, log: join(dir, `agent-${name}.log`) };
  });
  enterNetns(`/run/netns/${wire}`);
  const certs = opts.tls ? makeCertificates(dir, [...Object.values(hosts).map((h) => ({ name: h.name, ip: h.ip })), { name: 'operator' }]) : null;
  const tlsOf = (who: string): TlsMaterial | undefined => certs
    ? { cert: readFileSync(certs[who]!.cert), key: readFileSync(certs[who]!.key), ca: readFileSync(certs.ca!.cert) }
    : undefined;

  const rootPid = (host: string, nsPid: number): number => {
    const ns = nsOf(hosts[host]!.init);
    for (const p of allPids()) {
      if (nsOf(p) !== ns) continue;
      try {
        if (Number(status(p).NSpid?.split(/\s+/).pop()) === nsPid) return p;
      } catch { /* gone */ }
    }
    return -1;
  };

  /** The host's init and its first agent; later agents are started inside the same namespaces. */
  const startAgent = async (name: string): Promise<void> => {
    const h = hosts[name]!;
    // GODWIT_AGENT_NODE_ARGS: node options for the agents (--cpu-prof, when profiling the bench);
    // {host} becomes the host's name (each agent is PID 2 in its namespace: profiles need names)
    const nodeArgs = process.env.GODWIT_AGENT_NODE_ARGS?.split(' ').filter(Boolean).map((a) => a.replaceAll('{host}', name)) ?? [];
    const agentArgs = ['node', ...nodeArgs, GODWIT, 'agent', '--listen', h.ip, '--token-file', tokenFile, '--state-dir', h.stateDir,
      ...(certs ? ['--tls-cert', certs[name]!.cert, '--tls-key', certs[name]!.key, '--tls-ca', certs.ca!.cert] : []), ...(opts.agentArgs ?? [])];
    const out = openSync(h.log, 'a');
    // the host's own devpts, /run and hostname are made by its PID 1 before it becomes the init
    const own = `mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts && mount --bind /dev/pts/ptmx /dev/ptmx && ` +
      `mount -t tmpfs -o mode=0755 run /run && hostname ${h.name} && exec "$@"`;
    const argv = h.init > 0
      ? ['nsenter', '-t', String(h.init), ...HOST_NS, '--', ...agentArgs]
      : ['ip', 'netns', 'exec', h.netns, 'unshare', '--pid', '--fork', '--mount', '--mount-proc', '--ipc', '--uts', 'sh', '-c', own, 'host-init', HOSTINIT, ...agentArgs];
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    p.unref();
    if (h.init < 0) {
      for (let i = 0; i < 200 && h.init < 0; i++) { h.init = childrenOf(p.pid!)[0] ?? -1; if (h.init < 0) await sleep(10); }
      if (h.init < 0) throw new Error(`host ${name}: its init did not start`);
    }
    const before = readFileSync(h.log, 'utf8').split('agent listening').length;
    for (let i = 0; ; i++) {
      if (readFileSync(h.log, 'utf8').split('agent listening').length > before) break;
      if (p.exitCode !== null) throw new Error(`host ${name}: the agent exited (${p.exitCode}); its log:\n${readFileSync(h.log, 'utf8').slice(-2000)}`);
      if (i > 600) throw new Error(`host ${name}: the agent did not start; its log:\n${readFileSync(h.log, 'utf8').slice(-2000)}`);
      await sleep(25);
    }
    h.agent = childrenOf(argv[0] === 'nsenter' ? p.pid! : h.init)[0] ?? -1;
  };
  for (const n of names) await startAgent(n);

  return {
    dir, wire, token, tokenFile, hosts, rootPid, startAgent,
    client: (host, tok = token) => {
      const tls = tlsOf('operator');
      return AgentClient.connect(hosts[host]!.url, { token: tok, ...(tls ? { tls } : {}) });
    },
    tls: tlsOf('operator'),
    launch: async (host, tagName, cmd, lo = {}) => {
      const h = hosts[host]!;
      const tdir = join(dir, `${tagName}-${host}`);
      mkdirSync(tdir);
      // PIDs on this host start high, so the same PID is free on the other one
      run('nsenter', '-t', String(h.init), '-p', '-m', '--', 'sh', '-c', 'echo 4999 > /proc/sys/kernel/ns_last_pid');
      return startTarget(tdir, cmd, { ...lo, prefix: hostPrefix(h.init), rootPid: (p) => rootPid(host, p), timeoutMs: 60_000 });
    },
    killAgent: (host) => {
      const h = hosts[host]!;
      if (h.agent > 0) { try { process.kill(h.agent, 'SIGKILL'); } catch { /* gone */ } }
      h.agent = -1;
    },
  };
}
