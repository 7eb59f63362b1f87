// Agents on two simulated hosts stream a running process's memory from A to B, link by link,
// and B restores it: the count goes on from where it was and every page is what it was. Then
// what must not lose the process: either agent killed or stopped mid-stream, a second migration
// of the same process, a destination whose disk fills up.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram, askVerdict, notPassing, runsUntraced, alive, sleep, waitForLog, waitGone } from '../lib/harness.js';
import { simulatedHosts, type HostsOptions } from '../lib/hosts.js';
import { probeTracking } from '../../src/core/check.js';
import type { AgentClient } from '../../src/pageserver/client.js';
import type { PeerRef } from '../../src/pageserver/protocol.js';
import type { LinkResult } from '../../src/agent/ops/send.js';

const uffd = probeTracking().uffd;
const NEEDS = 'this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN (pre-copy tracking)';
const MiB = 1 << 20;

async function newMigration(b: AgentClient, url: string): Promise<PeerRef> {
  const { migration, key } = (await b.call('expect', { label: 'test' })) as { migration: string; key: string };
  return { url, migration, key };
}

/** Two hosts, a bigcounter of `mib` MiB on A, a client of each agent (closed when the test ends). */
async function setup(t: TestContext, tag: string, mib: number, opts: HostsOptions = {}) {
  const c = await simulatedHosts(t, ['a', 'b'], opts);
  const target = await c.launch('a', tag, [buildProgram('bigcounter'), String(mib)]);
  const a = await c.client('a'), b = await c.client('b');
  t.after(() => { a.close(); b.close(); });
  return { c, target, a, b };
}

const lastTick = (log: string): number => Math.max(0, ...[...readFileSync(log, 'utf8').matchAll(/^TICK (\d+)$/gm)].map((m) => Number(m[1])));

/** What a user would check on the source after a failed move: running, untraced, no tracker left. */
async function leftAsItWas(pid: number): Promise<void> {
  assert.ok(alive(pid), `the process ${pid} is gone`);
  assert.equal(await runsUntraced(pid), null);
  const uffds = readdirSync(`/proc/${pid}/fd`).filter((f) => {
    try { return readlinkSync(`/proc/${pid}/fd/${f}`).includes('userfaultfd'); } catch { return false; }
  });
  assert.deepEqual(uffds, [], 'a dirty tracker was left in the process');
}

test('a 1 GiB process\'s pre-dump chain streams from host A to host B and runs on there', async (t) => {
  if (!uffd) { t.skip(NEEDS); return; }
  const { c, target, a, b } = await setup(t, 'big', 1024);
  const peer = await newMigration(b, c.hosts.b!.url);
  // an operator's view: every operation's progress, on a connection of its own
  const watcher = await c.client('b');
  t.after(() => watcher.close());
  const watched: string[] = [];
  await watcher.call('status', { follow: true }, (e) => { if (e.progress) watched.push(`${e.progress.op}:${e.progress.phase}`); });
  const progress: number[] = [];
  const links: LinkResult[] = [];
  for (let k = 0; k < 2; k++) {
    links.push((await a.call('predump', { pid: target.nsPid!, peer }, (e) => { if (e.progress) progress.push(e.progress.done); })) as LinkResult);
    await sleep(200);
  }
  await waitForLog(target.log, /^TICK \d+$/m);
  const before = lastTick(target.log);
  links.push((await a.call('dump', { pid: target.nsPid!, peer })) as LinkResult);
  t.diagnostic(links.map((l) => `${l.link}: ${(l.pagesBytes / MiB).toFixed(1)} MiB, ${(l.wireBytes / MiB).toFixed(1)} MiB on the wire, ` +
    `${(l.throughput / 1e9).toFixed(2)} GB/s, frozen ${l.freezeMs} ms`).join('; '));
  assert.ok(links[0]!.pagesBytes >= 1024 * MiB, `the first link holds every page (${links[0]!.pagesBytes} bytes)`);
  assert.ok(links[1]!.pagesBytes < 64 * MiB, `the second link holds what changed only (${links[1]!.pagesBytes} bytes)`);
  assert.ok(progress.length > 1, 'progress events came while the first link streamed');
  assert.ok(watched.includes('receive:receiving') && watched.includes('receive:done'), `a follower of B saw: ${[...new Set(watched)].join(', ')}`);
  await waitGone(target.pid);

  const r = (await b.call('restore', { migration: peer.migration })) as { pid: number };
  assert.equal(r.pid, target.nsPid, 'the process keeps its PID on B');
  const onB = c.rootPid('b', r.pid);
  assert.ok(onB > 0, 'the process runs in host B\'s PID namespace');
  await waitForLog(target.log, new RegExp(`^TICK ${before + 100}$`, 'm'), 30_000);
  const v = await askVerdict({ ...target, pid: onB }, 60_000);
  assert.equal(notPassing(v), null);
  assert.ok(Number(/count=(\d+)/.exec(v.line)![1]) > before, `the count went on from ${before}: ${v.line}`);
  assert.deepEqual(readdirSync(join(c.hosts.b!.stateDir, 'incoming')), [], 'B dropped the images once the process ran');
  assert.deepEqual(readdirSync(join(c.hosts.a!.stateDir, 'outgoing')), [], 'A forgot the migration');
});

/** Start a pre-dump of `pid` and run `during` once it has streamed some data. */
async function midStream(a: AgentClient, pid: number, peer: PeerRef, during: () => void | Promise<void>): Promise<Error> {
  let fired = false;
  const call = a.call('predump', { pid, peer }, (e) => {
    if (!fired && e.progress && e.progress.done > 64 * MiB) { fired = true; void during(); }
  });
  const err = await call.then(() => null, (e: Error) => e);
  assert.ok(fired, 'the stream ended before the fault was injected');
  assert.ok(err, 'the pre-dump succeeded anyway');
  return err;
}

test('killing either agent mid-stream leaves the process running on A, untraced', async (t) => {
  if (!uffd) { t.skip(NEEDS); return; }
  const c = await simulatedHosts(t);
  const target = await c.launch('a', 'kill', [buildProgram('bigcounter'), '768']);

  // B dies: A's operation fails with a clear error and takes its tracker back
  let a = await c.client('a');
  let b = await c.client('b');
  const e1 = await midStream(a, target.nsPid!, await newMigration(b, c.hosts.b!.url), () => c.killAgent('b'));
  t.diagnostic(`destination killed: ${e1.message}`);
  assert.match(e1.message, /destination|connection|closed/i);
  await leftAsItWas(target.pid);
  assert.deepEqual(readdirSync(join(c.hosts.a!.stateDir, 'outgoing')), []);

  // A dies: nothing on A can clean up; the kernel detaches, the process runs on
  await c.startAgent('b');
  b = await c.client('b');
  const peer = await newMigration(b, c.hosts.b!.url);
  const e2 = await midStream(a, target.nsPid!, peer, () => c.killAgent('a'));
  t.diagnostic(`source killed: ${e2.message}`);
  assert.ok(alive(target.pid));
  assert.equal(await runsUntraced(target.pid), null);
  // B discarded the half link
  await sleep(300);
  const st = (await b.call('status', {})) as { incoming: Array<{ migration: string; links: string[]; receiving: string | null }> };
  const m = st.incoming.find((x) => x.migration === peer.migration)!;
  assert.deepEqual([m.links, m.receiving], [[], null]);
  assert.deepEqual(readdirSync(join(c.hosts.b!.stateDir, 'incoming', peer.migration)), []);

  // A stopped with SIGTERM mid-stream: it aborts, takes the tracker back, and exits
  await c.startAgent('a');
  a = await c.client('a');
  const agentA = c.hosts.a!.agent;
  const e3 = await midStream(a, target.nsPid!, await newMigration(b, c.hosts.b!.url), () => { process.kill(agentA, 'SIGTERM'); });
  t.diagnostic(`source stopped: ${e3.message}`);
  await waitGone(agentA, 30_000);
  await leftAsItWas(target.pid);
  assert.match(readFileSync(c.hosts.a!.log, 'utf8'), /"msg":"stopped"/);
  a.close(); b.close();
  const v = await askVerdict(target, 60_000);
  assert.equal(notPassing(v), null);
});

/** A final dump (the tree frozen, godwit's hands in every thread) cut off by killing one agent. */
async function finalDumpCutOff(t: TestContext, victim: 'a' | 'b'): Promise<void> {
  const { c, target, a, b } = await setup(t, `cut-${victim}`, 768);
  let fired = false;
  const err = await a.call('dump', { pid: target.nsPid!, peer: await newMigration(b, c.hosts.b!.url) }, (e) => {
    if (!fired && e.progress && e.progress.done > 64 * MiB) { fired = true; c.killAgent(victim); }
  }).then(() => null, (e: Error) => e);
  assert.ok(fired && err, 'the dump was not cut off');
  t.diagnostic(err.message);
  await sleep(300);
  const reaped = readFileSync(c.hosts.a!.log, 'utf8').split('\n').filter((l) => l.includes('hostinit') && l.includes(`PID ${target.nsPid} `));
  assert.ok(alive(target.pid), `the process died: ${reaped.join('; ')}`);
  await leftAsItWas(target.pid);
  const v = await askVerdict(target, 60_000);
  assert.equal(notPassing(v), null);
}

test('a final dump cut off by the destination agent dying leaves the process running on A, untraced', (t) => finalDumpCutOff(t, 'b'));

test('the source agent killed during a final dump: the kernel lets the frozen process go, and it runs on', (t) => finalDumpCutOff(t, 'a'));

test('a migration left idle is cancelled: the key stops working, the tracker leaves the process', async (t) => {
  if (!uffd) { t.skip(NEEDS); return; }
  const { c, target, a, b } = await setup(t, 'idle', 32, { agentArgs: ['--expire-after', '2'] });
  const peer = await newMigration(b, c.hosts.b!.url);
  await a.call('predump', { pid: target.nsPid!, peer });
  assert.equal((await a.call('status', {}) as { outgoing: unknown[] }).outgoing.length, 1);
  await sleep(4000);
  const sa = (await a.call('status', {})) as { outgoing: unknown[] };
  const sb = (await b.call('status', {})) as { incoming: unknown[] };
  assert.deepEqual([sa.outgoing, sb.incoming], [[], []]);
  await leftAsItWas(target.pid);
  assert.match(readFileSync(c.hosts.a!.log, 'utf8'), /idle too long: cancelled/);
  const err = await a.call('predump', { pid: target.nsPid!, peer }).then(() => null, (e: Error) => e);
  assert.match(err?.message ?? '', /no migration is expected/);
});

test('a second migration of a process that is being moved is refused', async (t) => {
  if (!uffd) { t.skip(NEEDS); return; }
  const { c, target, a, b } = await setup(t, 'busy', 64);
  const first = await newMigration(b, c.hosts.b!.url);
  await a.call('predump', { pid: target.nsPid!, peer: first });
  const second = await newMigration(b, c.hosts.b!.url);
  const err = await a.call('predump', { pid: target.nsPid!, peer: second }).then(() => null, (e: Error & { code?: string }) => e);
  assert.ok(err);
  assert.equal((err as { code?: string }).code, 'busy');
  assert.match(err.message, new RegExp(`process ${target.nsPid} is already being moved`));
  // cancelling the first gives the process back as it was, and frees it for another migration
  assert.deepEqual(await a.call('cancel', { migration: first.migration }), { cancelled: true });
  await leftAsItWas(target.pid);
  await a.call('predump', { pid: target.nsPid!, peer: second });
  await a.call('cancel', { migration: second.migration });
  await b.call('cancel', { migration: second.migration });
  await leftAsItWas(target.pid);
});

test('a destination whose disk fills up ends the stream cleanly on both sides', async (t) => {
  if (!uffd) { t.skip(NEEDS); return; }
  const small = join('/tmp', `godwit-test-full-${process.pid}`);
  mkdirSync(small, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=700', 'godwit-test-full', small]);
  t.after(() => {
    try { execFileSync('umount', ['-l', small]); } catch { /* gone */ }
    rmSync(small, { recursive: true, force: true });
  });
  const { c, target, a, b } = await setup(t, 'full', 256, { stateDirs: { b: join(small, 'state') } });
  const peer = await newMigration(b, c.hosts.b!.url);
  const err = await a.call('predump', { pid: target.nsPid!, peer }).then(() => null, (e: Error) => e);
  assert.ok(err, 'the pre-dump succeeded into a 48 MiB disk');
  t.diagnostic(err.message);
  assert.match(err.message, /full|ENOSPC/);
  await leftAsItWas(target.pid);
  assert.deepEqual(readdirSync(join(small, 'state', 'incoming', peer.migration)), [], 'the partial link was removed');
  const st = (await b.call('status', {})) as { operations: unknown[] };
  assert.deepEqual(st.operations, []);
  assert.ok(existsSync(`/proc/${c.hosts.b!.agent}`), 'agent B is still up');
});


