// A PID the tree needs, taken on the destination after preflight said it was free (by anything:
// a cron job, a shell), must not cost the migration its building ahead, nor the migration itself:
// the destination holds the tree's PIDs (processes and threads) from preflight on, so whoever
// asks for one gets another. The taker here starts when pre-copy starts, before the first link
// can have grown anything on B. The migration succeeds, the memory built ahead is kept, the
// taker runs on, and the tree runs on B with its PIDs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram, askVerdict, notPassing, waitForLog, needCheckpointRestore, alive, sleep } from '../lib/harness.js';
import { simulatedHosts, type Cluster } from '../lib/hosts.js';
import { writeHostsFile, startMigrate, tryTakePid } from '../lib/migrate.js';
import { addServiceAddress, startMemcached, memcachedOn, mcLoad, mcCheck, locate, McLoop } from '../lib/servers.js';
import { serversNeed, builtAhead, describe } from '../lib/server-asserts.js';
import type { MigrationProgress } from '../../src/coordinator/migration.js';

/** Takes `nsPid` on `host` when the first pre-copy link starts; ends the taker by its PID when the test ends. */
function takerAtPrecopy(t: { after: (f: () => void) => void }, c: Cluster, host: string, nsPid: number): { onProgress: (p: MigrationProgress) => void; taker: () => { nsPid: number; pid: number } | null } {
  let taker: { nsPid: number; pid: number } | null = null;
  t.after(() => { if (taker && taker.pid > 1) { try { process.kill(taker.pid, 'SIGKILL'); } catch { /* gone */ } } });
  return {
    onProgress: (p) => {
      if (taker || p.phase !== 'precopy') return;
      const got = tryTakePid(c, host, nsPid);
      taker = { nsPid: got, pid: locate(c, host, got, 'sleep') };
    },
    taker: () => taker,
  };
}

const what = (tk: { nsPid: number } | null, want: number): string =>
  !tk ? 'the taker never started' : tk.nsPid === want ? `the taker got PID ${want} on B` : `the taker got PID ${tk.nsPid} on B, not ${want}: B held it`;

test('a process\'s PID taken on the destination after preflight: the migration succeeds, building ahead is kept, the taker runs on, the tree has its PID on B', async (t) => {
  if (!needCheckpointRestore(t) || !serversNeed(t)) return;
  const c = await simulatedHosts(t);
  const target = await c.launch('a', 'held', [buildProgram('bigcounter'), '64', '10']);
  await waitForLog(target.log, /^TICK \d+$/m);
  const take = takerAtPrecopy(t, c, 'b', target.nsPid!);
  const r = await startMigrate(['--hosts', writeHostsFile(c), '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)], take.onProgress).done;
  const tk = take.taker();
  assert.ok(tk, 'pre-copy never started');
  assert.equal(r.code, 0, `exit ${r.code} (${what(tk, target.nsPid!)})\n${r.stderr.slice(-3000)}`);
  assert.ok(alive(tk.pid), `the taker (PID ${tk.nsPid} on B) is gone`);
  const onB = c.rootPid('b', target.nsPid!);
  assert.ok(onB > 0 && onB !== tk.pid, `the tree does not run on B with its PID ${target.nsPid} (${what(tk, target.nsPid!)})`);
  const v = await askVerdict({ ...target, pid: onB }, 60_000);
  assert.equal(notPassing(v), null);
  t.diagnostic(`${what(tk, target.nsPid!)}; downtime ${r.report!.downtime?.totalMs} ms; built ahead and kept ${((r.report!.builtAheadBytes ?? 0) / 2 ** 20).toFixed(1)} MiB`);
  builtAhead(c, r.report!);
});

test('a thread\'s TID (a memcached worker) taken on the destination after preflight: the migration succeeds, building ahead is kept, memcached has all its TIDs on B', async (t) => {
  if (!needCheckpointRestore(t) || !serversNeed(t)) return;
  const c = await simulatedHosts(t);
  const svc = addServiceAddress(c, 'a');
  const m = await startMemcached(t, c, 'a', svc.ip);
  await mcLoad(m, 10_000, 4000);
  const loop = await McLoop.start(m, 10_000, 4000);
  t.after(() => loop.stop());
  await sleep(300);
  const tid = m.threads[m.threads.length - 1]!;
  const take = takerAtPrecopy(t, c, 'b', tid);
  const r = await startMigrate(['--hosts', writeHostsFile(c), '--from', 'a', '--to', 'b', '--pid', String(m.pid), '--move-ip', svc.cidr], take.onProgress).done;
  const tk = take.taker();
  assert.ok(tk, 'pre-copy never started');
  assert.equal(r.code, 0, `exit ${r.code} (${what(tk, tid)})\n${r.stderr.slice(-3000)}`);
  assert.ok(alive(tk.pid), `the taker (PID ${tk.nsPid} on B) is gone`);
  assert.deepEqual(memcachedOn(c, 'b', m).missing, [], `memcached does not run on B with its TIDs (${what(tk, tid)})`);
  await sleep(1000);
  const s = loop.stats();
  assert.deepEqual(s.failures, [], 'the client saw failures');
  assert.deepEqual((await mcCheck(m, 10_000, 4000)).slice(0, 5), [], 'keys are wrong on B');
  t.diagnostic(`${what(tk, tid)}; ${describe(r.report!, s)}`);
  builtAhead(c, r.report!);
});
