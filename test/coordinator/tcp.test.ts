// A server migrates with its clients: three simulated hosts, the clients on C, the server on A at
// a service address of its own (IPv4 and IPv6). Both ends of every connection stream numbered
// messages both ways, also while the server is frozen; the server moves to B with
// `--move-ip`, and each client's same socket goes on, every counter in order both ways, no reset.
// A new client reaches the service address on B. A migration that fails after the network lock
// leaves nothing behind: no lock on either host, the address back on A, the connection going on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram, askVerdict, notPassing, waitForLog, sleep, alive } from '../lib/harness.js';
import { simulatedHosts, type Cluster } from '../lib/hosts.js';
import { writeHostsFile, startMigrate } from '../lib/migrate.js';
import { probeTcpRepair, probeNftables } from '../../src/core/check/network.js';

const repair = probeTcpRepair(), nftables = probeNftables();

const locks = (c: Cluster, host: string): string[] =>
  execFileSync('ip', ['netns', 'exec', c.hosts[host]!.netns, 'nft', 'list', 'tables'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('godwit_lock_'));
const has = (c: Cluster, host: string, address: string): boolean =>
  execFileSync('ip', ['-n', c.hosts[host]!.netns, 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' }).includes(` ${address}/`);

/** The hosts, with IPv6 beside IPv4 on each, and the service addresses on A. */
async function serviceHosts(t: Parameters<typeof simulatedHosts>[0]): Promise<{ c: Cluster; v4: string; v6: string }> {
  const c = await simulatedHosts(t, ['a', 'b', 'c']);
  const net = c.hosts.a!.ip.split('.').slice(0, 3).join('.');
  const net6 = `fd00:${net.split('.').slice(1).join(':')}`;
  ['a', 'b', 'c'].forEach((h, i) => execFileSync('ip', ['-n', c.hosts[h]!.netns, 'addr', 'add', `${net6}::${i + 1}/64`, 'dev', 'eth0', 'nodad']));
  const v4 = `${net}.100`, v6 = `${net6}::100`;
  execFileSync('ip', ['-n', c.hosts.a!.netns, 'addr', 'add', `${v4}/24`, 'dev', 'eth0']);
  execFileSync('ip', ['-n', c.hosts.a!.netns, 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad']);
  return { c, v4, v6 };
}

const counters = (line: string, what: 'sent' | 'read'): number => Number(new RegExp(`${what}=(\\d+)`).exec(line)?.[1] ?? 0);

test('a server migrates with its clients: each client\'s same TCP connection goes on (IPv4 and IPv6), a new client reaches it on B', async (t) => {
  if (!repair.ok) { t.skip(`this kernel lacks TCP repair: ${repair.detail}`); return; }
  if (!nftables.ok) { t.skip(`no nftables for the network lock: ${nftables.detail}`); return; }
  const { c, v4, v6 } = await serviceHosts(t);
  const hosts = writeHostsFile(c);
  const port = '7070';
  const server = await c.launch('a', 'svc', [buildProgram('tcpservice'), port]);
  const client4 = await c.launch('c', 'cli4', [buildProgram('tcpstream'), 'client', v4, port]);
  const client6 = await c.launch('c', 'cli6', [buildProgram('tcpstream'), 'client', v6, port]);
  await waitForLog(server.log, /^CLIENT 1 /m);
  await sleep(300);

  // without the address moving, the destination lacks it: refused before anything is frozen
  const refused = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(server.nsPid)]).done;
  assert.equal(refused.code, 3, refused.stderr);
  assert.match(refused.stderr, new RegExp(`the tree's TCP sockets use ${v4.replace(/\./g, '\\.')}, which the destination does not have: move it with --move-ip`));

  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(server.nsPid), '--move-ip', `${v4}/24`, '--move-ip', `${v6}/64`]).done;
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(-3000)}`);
  const rep = r.report!;
  assert.equal(rep.outcome, 'migrated');
  assert.equal(rep.network?.connections, 2);
  assert.deepEqual(rep.network?.movedIps, [`${v4}/24`, `${v6}/64`]);
  const onB = c.rootPid('b', server.nsPid!);
  assert.ok(onB > 0, 'the server runs on B');
  assert.ok(!alive(server.pid), 'the server is gone from A');
  assert.ok(has(c, 'b', v4) && has(c, 'b', v6) && !has(c, 'a', v4) && !has(c, 'a', v6), 'the service addresses are on B only');
  assert.deepEqual([...locks(c, 'a'), ...locks(c, 'b')], [], 'a network lock outlived the migration');
  assert.ok(alive(client4.pid) && alive(client6.pid), 'a client saw its connection end');

  // a new client, after the move, at the same service address
  const late = await c.launch('c', 'cli-late', [buildProgram('tcpstream'), 'client', v4, port]);
  await waitForLog(late.log, /^CONNECTED$/m, 10_000);
  await sleep(1500);
  const [vs, v4c, v6c, vl] = await Promise.all([
    askVerdict({ ...server, pid: onB }, 30_000), askVerdict(client4, 30_000), askVerdict(client6, 30_000), askVerdict(late, 30_000),
  ]);
  for (const [who, v] of [['server', vs], ['IPv4 client', v4c], ['IPv6 client', v6c], ['new client', vl]] as const) assert.equal(notPassing(v), null, `${who}: ${v.line}`);
  assert.match(vs.line, /clients=3 /);
  // about 256 counters a millisecond each way: the moved connections carried on well past the move
  for (const v of [v4c, v6c]) assert.ok(counters(v.line, 'read') > 200_000 && counters(v.line, 'sent') > 200_000, `not carried on: ${v.line}`);
  assert.ok(counters(vl.line, 'read') > 50_000, `the new client got little: ${vl.line}`);
  const d = rep.downtime!;
  t.diagnostic(`downtime ${d.totalMs} ms (dump ${d.dumpMs}, transfer ${d.transferMs}, restore ${d.restoreMs}, address handover ${d.handoverMs}, resume ${d.resumeMs}, other ${d.otherMs}); ` +
    `server ${vs.line}; IPv4 client ${v4c.line}; IPv6 client ${v6c.line}; new client ${vl.line}`);
});

test('a UDP service migrates too: its client, on C, gets answers from B at the same address after the move', async (t) => {
  if (!repair.ok) { t.skip(`this kernel lacks TCP repair: ${repair.detail}`); return; }
  if (!nftables.ok) { t.skip(`no nftables for the network lock: ${nftables.detail}`); return; }
  const { c, v4 } = await serviceHosts(t);
  const hosts = writeHostsFile(c);
  // bound to the service address, which B does not have until the move: its socket is made there
  // before the address arrives
  const server = await c.launch('a', 'udp', [buildProgram('udpecho'), 'server', v4, '7072']);
  const client = await c.launch('c', 'udp-cli', [buildProgram('udpecho'), 'client', v4, '7072']);
  await sleep(500);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(server.nsPid), '--move-ip', `${v4}/24`]).done;
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
  const onB = c.rootPid('b', server.nsPid!);
  assert.ok(onB > 0 && !alive(server.pid), 'the server did not move to B');
  await sleep(1000);
  const [vc, vs] = [await askVerdict(client, 30_000), await askVerdict({ ...server, pid: onB }, 30_000)];
  assert.equal(notPassing(vc), null, `client: ${vc.line}`);
  assert.equal(notPassing(vs), null, `server: ${vs.line}`);
  t.diagnostic(`downtime ${r.report!.downtime!.totalMs} ms; client ${vc.line}; server on B ${vs.line}`);
});

test('a migration that fails after the network lock leaves no lock, gives the address back, and the connection goes on with the source', async (t) => {
  if (!repair.ok) { t.skip(`this kernel lacks TCP repair: ${repair.detail}`); return; }
  if (!nftables.ok) { t.skip(`no nftables for the network lock: ${nftables.detail}`); return; }
  const { c, v4 } = await serviceHosts(t);
  const hosts = writeHostsFile(c);
  const port = '7071';
  const server = await c.launch('a', 'svc', [buildProgram('tcpservice'), port]);
  const client = await c.launch('c', 'cli', [buildProgram('tcpstream'), 'client', v4, port]);
  await waitForLog(server.log, /^CLIENT 0 /m);
  await sleep(300);
  // the operator's hook fails once the address has moved: everything is undone
  const hook = join(c.dir, 'pre-restore.sh');
  const seen = join(c.dir, 'hook.env');
  writeFileSync(hook, `#!/bin/sh\nenv | grep ^GODWIT_ | sort > ${seen}\necho "load balancer refused the change" >&2\nexit 3\n`);
  chmodSync(hook, 0o755);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(server.nsPid), '--move-ip', `${v4}/24`, '--hook-pre-restore', hook]).done;
  assert.equal(r.code, 4, `exit ${r.code}\n${r.stderr}`);
  assert.equal(r.report?.outcome, 'rolled-back');
  assert.match(r.stderr, /the pre-restore hook .* exited with 3: load balancer refused the change/);
  const env = readFileSync(seen, 'utf8');
  for (const want of ['GODWIT_HOOK=pre-restore', `GODWIT_PID=${server.nsPid}`, 'GODWIT_FROM=a', 'GODWIT_TO=b', `GODWIT_MOVE_IP=${v4}/24`, `GODWIT_ADDRESSES=${v4}`, 'GODWIT_CONNECTIONS=1']) {
    assert.ok(env.includes(`${want}\n`), `the hook did not get ${want}:\n${env}`);
  }
  assert.match(env, /^GODWIT_MIGRATION=[0-9a-f]{32}$/m);
  assert.ok(alive(server.pid), 'the server is not running on A');
  assert.equal(c.rootPid('b', server.nsPid!), -1, 'a copy runs on B');
  assert.ok(has(c, 'a', v4) && !has(c, 'b', v4), 'the service address did not come back to A');
  assert.deepEqual([...locks(c, 'a'), ...locks(c, 'b')], [], 'a network lock outlived the rollback');
  await sleep(1000);
  const [vs, vc] = await Promise.all([askVerdict(server, 30_000), askVerdict(client, 30_000)]);
  assert.equal(notPassing(vs), null, `server: ${vs.line}`);
  assert.equal(notPassing(vc), null, `client: ${vc.line}`);
  assert.ok(counters(vc.line, 'read') > 200_000, `the connection did not carry on: ${vc.line}`);
  t.diagnostic(`server ${vs.line}; client ${vc.line}`);
});

test('an agent that starts removes the network locks its migrations left, not those a godwit dump left for its restore', async (t) => {
  if (!nftables.ok) { t.skip(`no nftables for the network lock: ${nftables.detail}`); return; }
  const c = await simulatedHosts(t, ['a']);
  const nft = (cmd: string) => execFileSync('ip', ['netns', 'exec', c.hosts.a!.netns, 'nft', cmd]);
  nft('add table inet godwit_lock_m0123456789abcdef; add chain inet godwit_lock_m0123456789abcdef in { type filter hook input priority -300; policy accept; }');
  nft('add table inet godwit_lock_d4242_xyz');
  c.killAgent('a');
  await c.startAgent('a');
  assert.deepEqual(locks(c, 'a').map((l) => l.trim()), ['table inet godwit_lock_d4242_xyz']);
  assert.match(readFileSync(c.hosts.a!.log, 'utf8'), /removed the network lock a migration left/);
  spawnSync('ip', ['netns', 'exec', c.hosts.a!.netns, 'nft', 'delete', 'table', 'inet', 'godwit_lock_d4242_xyz']);
});
