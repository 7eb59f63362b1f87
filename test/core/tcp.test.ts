// Established TCP connections through dump and restore (`--tcp-established`): a server and its
// client stream counters to each other, the server is dumped (its connection held by the network
// lock, the client writing on into it) and restored, and both ends must have read every counter
// in order, with no reset and no end of stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram, launch, godwit, verdict, waitForLog, waitGone, sleep, alive, tempDir } from '../lib/harness.js';
import { probeTcpRepair, probeNftables } from '../../src/core/check/network.js';
import { freezeTree, thawTree } from '../../src/core/ptrace/freeze.js';
import { drainAcceptQueues } from '../../src/core/net/backlog.js';
import { acceptBacklog } from '../../src/core/net/tcp.js';

const repair = probeTcpRepair(), nftables = probeNftables();
const locks = (): string[] => execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('godwit_lock_'));

for (const [mode, what] of [['server', 'IPv4'], ['server6', 'IPv4 client of a dual-stack IPv6 socket']] as const) {
  test(`a server's established TCP connection (${what}) goes on after dump and restore: every counter in order both ways, no reset`, async (t) => {
    if (!repair.ok) { t.skip(`this kernel lacks TCP repair: ${repair.detail}`); return; }
    if (!nftables.ok) { t.skip(`no nftables for the network lock: ${nftables.detail}`); return; }
    const port = String(20000 + ((process.pid + (mode === 'server' ? 0 : 3)) % 20000));
    const server = await launch(t, 'tcp-server', [buildProgram('tcpstream'), mode, port]);
    const client = await launch(t, 'tcp-client', [buildProgram('tcpstream'), 'client', '127.0.0.1', port]);
    await waitForLog(server.log, /^CONNECTED$/m);
    await sleep(300);

    // without the option: refused, and nothing changes for either end
    const no = godwit(['dump', '-t', String(server.pid), '-D', join(tempDir('tcp-no'), 'img')]);
    assert.notEqual(no.code, 0);
    assert.match(no.stderr, /an established TCP connection; --tcp-established moves it/);
    assert.doesNotMatch(no.stderr, /\n\s+at /, 'a stack trace');
    assert.ok(alive(server.pid), 'the refused dump did not leave the server running');

    const before = locks();
    // left running: the connection leaves repair mode and goes on, the lock is lifted
    const kept = godwit(['dump', '-t', String(server.pid), '-D', join(tempDir('tcp-r'), 'img'), '--tcp-established', '-R']);
    assert.equal(kept.code, 0, kept.stderr);
    assert.deepEqual(locks().filter((l) => !before.includes(l)), [], 'a dump that left the server running left its lock');

    // a failed restore leaves the lock on purpose (the connection must not be reset): not the test's
    t.after(() => { for (const l of locks()) if (!before.includes(l)) execFileSync('nft', ['delete', 'table', 'inet', l.split(' ')[2]!]); });
    const dir = join(tempDir('tcp'), 'img');
    const d = godwit(['dump', '-t', String(server.pid), '-D', dir, '--tcp-established']);
    assert.equal(d.code, 0, d.stderr);
    await waitGone(server.pid);
    assert.equal(locks().filter((l) => !before.includes(l)).length, 1, 'the connection is not held by a network lock while the server is gone');
    // the client writes on into the held connection; it must see neither a reset nor an end
    await sleep(700);
    assert.ok(alive(client.pid));
    const r = godwit(['restore', '-D', dir, '-d']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(locks().filter((l) => !before.includes(l)), [], 'the network lock outlived the restore');
    await sleep(1500);
    // both at once: each ends the stream after its verdict, which the other must not take for a loss
    const [vs, vc] = await Promise.all([verdict(server, 30_000), verdict(client, 30_000)]);
    assert.match(vs, /^PASS/, `server: ${vs}`);
    assert.match(vc, /^PASS/, `client: ${vc}`);
    const read = (v: string) => Number(/read=(\d+)/.exec(v)![1]);
    t.diagnostic(`server ${vs}; client ${vc}`);
    // about 256 counters a millisecond each way: both read well past what the first 300 ms gave
    assert.ok(read(vs) > 150_000 && read(vc) > 150_000, 'the connection did not carry on after the restore');
  });
}

test('a dump that fails after it locked the network leaves the connection as it was: no lock, no repair mode, both ends go on', async (t) => {
  if (!repair.ok) { t.skip(`this kernel lacks TCP repair: ${repair.detail}`); return; }
  if (!nftables.ok) { t.skip(`no nftables for the network lock: ${nftables.detail}`); return; }
  const port = String(20000 + ((process.pid + 7) % 20000));
  const server = await launch(t, 'tcp-fail', [buildProgram('tcpstream'), 'server', port, 'netlink']);
  const client = await launch(t, 'tcp-fail-client', [buildProgram('tcpstream'), 'client', '127.0.0.1', port]);
  await waitForLog(server.log, /^CONNECTED$/m);
  await sleep(200);
  const before = locks();
  const d = godwit(['dump', '-t', String(server.pid), '-D', join(tempDir('tcp-fail'), 'img'), '--tcp-established']);
  assert.notEqual(d.code, 0, 'the dump of a netlink socket succeeded');
  assert.match(d.stderr, /address family 16 is not supported/);
  assert.doesNotMatch(d.stderr, /\n\s+at /, 'a stack trace');
  assert.deepEqual(locks().filter((l) => !before.includes(l)), [], 'the failed dump left its lock');
  await sleep(800);
  const [vs, vc] = await Promise.all([verdict(server, 30_000), verdict(client, 30_000)]);
  assert.match(vs, /^PASS/, `server: ${vs}`);
  assert.match(vc, /^PASS/, `client: ${vc}`);
  t.diagnostic(`server ${vs}; client ${vc}`);
});

test('connections waiting in a listener\'s accept queue at the freeze are let in before the dump, then move with the rest', async (t) => {
  if (!repair.ok) { t.skip(`this kernel lacks TCP repair: ${repair.detail}`); return; }
  if (!nftables.ok) { t.skip(`no nftables for the network lock: ${nftables.detail}`); return; }
  const port = String(20000 + ((process.pid + 11) % 20000));
  // it accepts nobody until it has seen a pause of 50 ms, as a freeze is: its three clients are
  // all in its accept queue when it is frozen, and a dump would refuse them
  const server = await launch(t, 'tcp-backlog', [buildProgram('tcpservice'), port, 'after-pause']);
  const clients = await Promise.all([0, 1, 2].map((i) => launch(t, `tcp-backlog-c${i}`, [buildProgram('tcpstream'), 'client', '127.0.0.1', port])));
  await Promise.all(clients.map((c) => waitForLog(c.log, /^CONNECTED$/m)));
  assert.doesNotMatch(readFileSync(server.log, 'utf8'), /^CLIENT /m, 'the server accepted before the freeze');
  const frozen = freezeTree(server.pid);
  await sleep(80); // the pause it waits for (a dump's own freeze is shorter)
  assert.equal(acceptBacklog([server.pid]), 3);
  const again = await drainAcceptQueues(frozen, server.pid);
  assert.equal(acceptBacklog([server.pid]), 0, 'the queue is not empty after the drain');
  thawTree(again);
  assert.equal(readFileSync(server.log, 'utf8').match(/^CLIENT /gm)?.length, 3);

  // and the whole move: the three connections are established now, and go through a dump and restore
  const before = locks();
  t.after(() => { for (const l of locks()) if (!before.includes(l)) execFileSync('nft', ['delete', 'table', 'inet', l.split(' ')[2]!]); });
  const dir = join(tempDir('tcp-backlog'), 'img');
  const d = godwit(['dump', '-t', String(server.pid), '-D', dir, '--tcp-established']);
  assert.equal(d.code, 0, d.stderr);
  await waitGone(server.pid);
  const r = godwit(['restore', '-D', dir, '-d']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(locks().filter((l) => !before.includes(l)), [], 'the network lock outlived the restore');
  await sleep(800);
  const vs = await Promise.all([verdict(server, 30_000), ...clients.map((c) => verdict(c, 30_000))]);
  for (const v of vs) assert.match(v, /^PASS/, v);
  assert.match(vs[0]!, /clients=3 /, 'the server did not keep all three clients');
  t.diagnostic(vs.join('; '));
});
