// Moving an IP address between hosts (src/core/net/address.ts): three simulated hosts a, b, c on
// one bridge. An address added on a is reached by c; it moves to b, b announces it, and c's
// neighbour entry takes b's MAC with no traffic from c, after which c's pings are answered by b.
// address.ts runs in a host's network namespace in a child node (`ip netns exec`), the way the
// agent runs inside its host's; c's pings come from an ICMP socket made in c's namespace.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { ROOT, kernel, sleep } from '../lib/harness.js';
import { parseCidr, type Cidr, type IfAddress } from '../../src/core/net/address.js';
import { GodwitError } from '../../src/core/errors.js';
import { sys, sysTry, addr } from '../../src/core/sys/libc.js';
import { NR } from '../../src/core/sys/nr.js';

const MODULE = pathToFileURL(join(ROOT, 'dist', 'src', 'core', 'net', 'address.js')).href;
const CLONE_NEWNET = 0x40000000;

// One call of the module in the child: its value, or the error it threw (name, message, code).
const CHILD = `
const m = await import(process.env.GODWIT_ADDRESS_MODULE);
const { op, args } = JSON.parse(process.env.GODWIT_ADDRESS_CALL);
let out;
try { out = { ok: true, value: m[op](...args) ?? null }; }
catch (e) { out = { ok: false, name: e.name, message: e.message, exitCode: e.exitCode ?? null }; }
process.stdout.write(JSON.stringify(out));
`;

type Outcome = { ok: true; value: unknown } | { ok: false; name: string; message: string; exitCode: number | null };

function run(cmd: string, ...args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error}`);
  return r.stdout;
}

/** address.ts's `op(...args)` in network namespace `ns`. */
function attempt(ns: string, op: string, ...args: unknown[]): Outcome {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', CHILD], {
    encoding: 'utf8',
    env: { ...process.env, GODWIT_ADDRESS_MODULE: MODULE, GODWIT_ADDRESS_CALL: JSON.stringify({ op, args }) },
  });
  if (r.status !== 0) throw new Error(`${op} in ${ns}: the child failed (${r.status}): ${r.stderr || r.error}`);
  return JSON.parse(r.stdout) as Outcome;
}

function call<T>(ns: string, op: string, ...args: unknown[]): T {
  const o = attempt(ns, op, ...args);
  if (!o.ok) throw new Error(`${op}(${JSON.stringify(args)}) in ${ns}: ${o.name}: ${o.message}`);
  return o.value as T;
}

function macOf(ns: string, dev: string): string {
  return (JSON.parse(run('ip', '-n', ns, '-j', 'link', 'show', dev)) as Array<{ address: string }>)[0]!.address;
}

/** The MAC c's neighbour table holds for `ip`, or null (no entry, or none resolved). */
function neighbour(ns: string, ip: string): string | null {
  const rows = JSON.parse(run('ip', '-n', ns, '-j', 'neigh', 'show', ip) || '[]') as Array<{ lladdr?: string }>;
  return rows[0]?.lladdr ?? null;
}

/** Echo replies a host has sent (its kernel's counters: who answered a ping). */
function echoReplies(ns: string, family: 4 | 6): number {
  if (family === 4) {
    const lines = run('ip', 'netns', 'exec', ns, 'cat', '/proc/net/snmp').split('\n').filter((l) => l.startsWith('Icmp:'));
    const names = lines[0]!.split(/\s+/), values = lines[1]!.split(/\s+/);
    return Number(values[names.indexOf('OutEchoReps')]);
  }
  const m = /^Icmp6OutEchoReplies\s+(\d+)$/m.exec(run('ip', 'netns', 'exec', ns, 'cat', '/proc/net/snmp6'));
  return Number(m![1]);
}

/** A socket in network namespace `ns`, made by this thread there; it stays in `ns` once we are back. */
function socketIn(ns: string, domain: number, type: number, protocol: number): number {
  const home = openSync('/proc/thread-self/ns/net', 'r'), there = openSync(`/run/netns/${ns}`, 'r');
  try {
    sys('setns', NR.setns, there, CLONE_NEWNET);
    try { return sys('socket', NR.socket, domain, type | 0o2000000, protocol); } finally { sys('setns', NR.setns, home, CLONE_NEWNET); }
  } finally {
    closeSync(there);
    closeSync(home);
  }
}

function checksum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length & 1) s += b[b.length - 1]! << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

/** `ping -c1 -W1` from `ns`: one ICMP echo, true when its reply came back within a second. */
function ping(ns: string, a: Cidr): boolean {
  const v6 = a.family === 6;
  const fd = socketIn(ns, v6 ? 10 : 2, 3 /* SOCK_RAW */, v6 ? 58 : 1);
  try {
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(1n, 0);
    sys('setsockopt(SO_RCVTIMEO)', NR.setsockopt, fd, 1, 20, addr(tv), 16);
    const id = randomBytes(2).readUInt16BE(0);
    const echo = Buffer.alloc(24);
    echo.writeUInt8(v6 ? 128 : 8, 0);
    echo.writeUInt16BE(id, 4);
    echo.writeUInt16BE(1, 6);
    echo.write('godwit-address', 8);
    if (!v6) echo.writeUInt16BE(checksum(echo), 2); // ICMPv6's is the kernel's to fill
    const to = Buffer.alloc(v6 ? 28 : 16);
    to.writeUInt16LE(v6 ? 10 : 2, 0);
    const ip = v6 ? ipv6Bytes(a.addr) : Buffer.from(a.addr.split('.').map(Number));
    ip.copy(to, v6 ? 8 : 4);
    sys('sendto', NR.sendto, fd, addr(echo), echo.length, 0, addr(to), to.length);
    const buf = Buffer.alloc(2048), deadline = Date.now() + 1000;
    while (Date.now() < deadline) {
      const n = sysTry(NR.recvfrom, fd, addr(buf), buf.length, 0, 0, 0);
      if (n < 0) return false; // EAGAIN: the second went by
      const icmp = v6 ? 0 : (buf[0]! & 0xf) * 4; // IPv4 raw sockets see the IP header
      if (n >= icmp + 8 && buf[icmp] === (v6 ? 129 : 0) && buf.readUInt16BE(icmp + 4) === id) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

function ipv6Bytes(s: string): Buffer {
  const [h, t = ''] = s.split('::');
  const g = (x: string) => (x ? x.split(':').map((p) => parseInt(p, 16)) : []);
  const head = g(h!), tail = s.includes('::') ? g(t) : [];
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const b = Buffer.alloc(16);
  all.forEach((x, i) => b.writeUInt16BE(x, i * 2));
  return b;
}

describe('moving an IP address between hosts', () => {
  const tag = `gwad${randomBytes(3).toString('hex')}`;
  const ns = { wire: `${tag}-wire`, a: `${tag}-a`, b: `${tag}-b`, c: `${tag}-c` };
  const x = randomBytes(1)[0]! % 250;
  const made: string[] = [];
  let missing: string | null = null;
  const mac: Record<string, string> = {};
  const started = Date.now();

  before(() => {
    if (!kernel.netns()) { missing = 'the kernel lacks network namespaces (CONFIG_NET_NS)'; return; }
    const v6 = existsSync('/proc/sys/net/ipv6');
    for (const n of Object.values(ns)) { run('ip', 'netns', 'add', n); made.push(n); }
    const br = spawnSync('ip', ['-n', ns.wire, 'link', 'add', 'br0', 'type', 'bridge'], { encoding: 'utf8' });
    if (br.status !== 0) {
      if (/unknown device type|not supported|no such device/i.test(br.stderr)) { missing = `no bridge devices in this kernel: ${br.stderr.trim()}`; return; }
      throw new Error(`ip link add br0 type bridge: ${br.stderr}`);
    }
    run('ip', '-n', ns.wire, 'link', 'set', 'br0', 'up');
    (['a', 'b', 'c'] as const).forEach((h, i) => {
      const veth = spawnSync('ip', ['-n', ns.wire, 'link', 'add', `p-${h}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[h]], { encoding: 'utf8' });
      if (veth.status !== 0) {
        if (/unknown device type|not supported/i.test(veth.stderr)) { missing = `no veth devices in this kernel: ${veth.stderr.trim()}`; return; }
        throw new Error(`ip link add type veth: ${veth.stderr}`);
      }
      run('ip', '-n', ns.wire, 'link', 'set', `p-${h}`, 'master', 'br0', 'up');
      run('ip', '-n', ns[h], 'addr', 'add', `10.77.${x}.${i + 1}/24`, 'dev', 'eth0');
      if (v6) run('ip', '-n', ns[h], 'addr', 'add', `fd77:${x}::${i + 1}/64`, 'dev', 'eth0', 'nodad');
      run('ip', '-n', ns[h], 'link', 'set', 'eth0', 'up');
      run('ip', '-n', ns[h], 'link', 'set', 'lo', 'up');
      mac[h] = macOf(ns[h], 'eth0');
    });
  });

  after(() => {
    for (const n of made) spawnSync('ip', ['netns', 'del', n]);
  });

  it('parseCidr refuses what is not ADDRESS/PREFIX (exit code 2) and normalises what is', () => {
    for (const s of ['10.0.0.1', '10.0.0.1/33', 'fd00::1/129', 'hello/24', '10.0.0.256/24', '10.0.0.1/', 'fd00::1::2/64', '10.0.0.1/24/3', 'fe80::1%eth0/64', '']) {
      assert.throws(() => parseCidr(s), (e: unknown) => {
        assert.ok(e instanceof GodwitError, `${s}: not a GodwitError`);
        assert.equal(e.exitCode, 2, s);
        assert.ok(!e.message.includes('\n') && e.message.includes(`'${s}'`), `${s}: ${e.message}`);
        return true;
      }, s);
    }
    assert.deepEqual(parseCidr('10.0.0.5/24'), { family: 4, addr: '10.0.0.5', prefix: 24 });
    assert.deepEqual(parseCidr(' 0.0.0.0/0 '), { family: 4, addr: '0.0.0.0', prefix: 0 });
    assert.deepEqual(parseCidr('fd00::5/64'), { family: 6, addr: 'fd00::5', prefix: 64 });
    assert.deepEqual(parseCidr('FD00:0000:0:0:0:0:0:0005/64'), { family: 6, addr: 'fd00::5', prefix: 64 });
    assert.deepEqual(parseCidr('2001:db8:0:0:1:0:0:1/128'), { family: 6, addr: '2001:db8::1:0:0:1', prefix: 128 });
    assert.deepEqual(parseCidr('::ffff:10.0.0.1/96'), { family: 6, addr: '::ffff:10.0.0.1', prefix: 96 });
    assert.deepEqual(parseCidr('::/0'), { family: 6, addr: '::', prefix: 0 });
  });

  for (const family of [4, 6] as const) {
    const moved = (): Cidr => parseCidr(family === 4 ? `10.77.${x}.100/24` : `fd77:${x}::100/64`);
    const skip = (t: { skip: (m: string) => void }): boolean => {
      const why = missing ?? (family === 6 && !existsSync('/proc/sys/net/ipv6') ? 'IPv6 is disabled in this kernel' : null);
      if (why) t.skip(why);
      return why !== null;
    };

    it(`IPv${family}: an address added on a is listed there, belongs on b's eth0, and c reaches it at a's MAC`, (t) => {
      if (skip(t)) return;
      const m = moved();
      call(ns.a, 'addAddress', m, 'eth0');
      const listed = call<IfAddress[]>(ns.a, 'listAddresses');
      assert.ok(listed.some((r) => r.addr === m.addr && r.prefix === m.prefix && r.dev === 'eth0' && r.family === family), JSON.stringify(listed));
      // the kernel's own view agrees
      assert.match(run('ip', '-n', ns.a, 'addr', 'show', 'dev', 'eth0'), new RegExp(` ${m.addr.replace(/\./g, '\\.')}/${m.prefix} `));
      const held = call<IfAddress | null>(ns.a, 'holderOf', m);
      assert.equal(held?.dev, 'eth0');
      assert.ok(held!.ifindex > 0);
      assert.equal(call(ns.b, 'holderOf', m), null);
      assert.equal(call(ns.b, 'interfaceFor', m), 'eth0');
      assert.equal(call(ns.b, 'interfaceFor', parseCidr(family === 4 ? '192.0.2.1/24' : '2001:db8::1/64')), null);
      assert.ok(ping(ns.c, m), `c cannot ping ${m.addr} on a`);
      assert.equal(neighbour(ns.c, m.addr), mac.a, "c's neighbour entry is not a's MAC");
    });

    it(`IPv${family}: moved to b and announced, c's neighbour entry takes b's MAC without c sending a thing; b answers c's pings`, async (t) => {
      if (skip(t)) return;
      const m = moved();
      call(ns.a, 'removeAddress', m, 'eth0');
      assert.equal(call(ns.a, 'holderOf', m), null);
      call(ns.b, 'addAddress', m, call<string>(ns.b, 'interfaceFor', m));
      assert.equal(call<IfAddress>(ns.b, 'holderOf', m).dev, 'eth0');
      // neither the removal nor the addition told c anything: the announcement is what does
      assert.equal(neighbour(ns.c, m.addr), mac.a, "c's neighbour entry changed before b announced the address");
      if (family === 4) t.diagnostic(`c's arp_accept: ${run('ip', 'netns', 'exec', ns.c, 'sysctl', '-n', 'net.ipv4.conf.eth0.arp_accept').trim()}`);
      const t0 = Date.now();
      call(ns.b, 'announce', m, 'eth0');
      let seen = neighbour(ns.c, m.addr);
      while (seen !== mac.b && Date.now() - t0 < 1000) { await sleep(20); seen = neighbour(ns.c, m.addr); }
      assert.equal(seen, mac.b, `c's neighbour entry for ${m.addr} did not take b's MAC (${mac.b}) after the announcement`);
      t.diagnostic(`c's entry took b's MAC ${Date.now() - t0} ms after the announce call (child start included)`);
      const before = { a: echoReplies(ns.a, family), b: echoReplies(ns.b, family) };
      assert.ok(ping(ns.c, m), `c cannot ping ${m.addr} on b`);
      assert.equal(echoReplies(ns.b, family) - before.b, 1, 'b did not answer the ping');
      assert.equal(echoReplies(ns.a, family) - before.a, 0, 'a answered the ping');
    });
  }

  it('removing an absent address and adding a present one are no-ops; bad interface names are refused', (t) => {
    if (missing) { t.skip(missing); return; }
    const m = parseCidr(`10.77.${x}.100/24`);
    assert.deepEqual(attempt(ns.a, 'removeAddress', m, 'eth0'), { ok: true, value: null });
    assert.deepEqual(attempt(ns.b, 'addAddress', m, 'eth0'), { ok: true, value: null });
    assert.equal(call<IfAddress[]>(ns.b, 'listAddresses').filter((r) => r.addr === m.addr).length, 1);
    if (existsSync('/proc/sys/net/ipv6')) {
      const m6 = parseCidr(`fd77:${x}::100/64`);
      assert.deepEqual(attempt(ns.a, 'removeAddress', m6, 'eth0'), { ok: true, value: null });
      assert.deepEqual(attempt(ns.b, 'addAddress', m6, 'eth0'), { ok: true, value: null });
    }
    const none = attempt(ns.b, 'addAddress', m, 'eth9');
    assert.ok(!none.ok && none.name === 'GodwitError' && /eth9/.test(none.message), JSON.stringify(none));
    // announcing an address the interface does not hold would draw its traffic into a void
    const stray = attempt(ns.a, 'announce', m, 'eth0');
    assert.ok(!stray.ok && /does not hold/.test(stray.message), JSON.stringify(stray));
    const odd = attempt(ns.b, 'announce', m, 'eth0; reboot');
    assert.ok(!odd.ok && odd.name === 'GodwitError' && odd.exitCode === 2, JSON.stringify(odd));
    call(ns.b, 'removeAddress', m, 'eth0');
    assert.equal(call(ns.b, 'holderOf', m), null);
    t.diagnostic(`the whole file so far: ${Date.now() - started} ms`);
  });
});
