// nginx as Debian runs it (master + 2 workers, daemonized) migrates from A to B at its service
// address (--move-ip) while a keep-alive client on the operator's network fetches a 270 KB file
// again and again on one connection: not one response is lost or wrong, the same connection goes
// on afterwards, master and both workers run on B with their PIDs and nothing of them on A, and
// the memory B built while pre-copy ran was kept (builtAheadBytes), with --new-pidns too.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { needCheckpointRestore, sleep } from '../lib/harness.js';
import { simulatedHosts } from '../lib/hosts.js';
import { writeHostsFile, startMigrate } from '../lib/migrate.js';
import { addServiceAddress, startNginx, nginxOn, HttpLoop } from '../lib/servers.js';
import { serversNeed, builtAhead, describe, goesOn } from '../lib/server-asserts.js';

async function nginxMigrates(t: TestContext, newPidns: boolean): Promise<void> {
  if (!needCheckpointRestore(t) || !serversNeed(t)) return;
  const c = await simulatedHosts(t, ['a', 'b']);
  const svc = addServiceAddress(c, 'a');
  const n = await startNginx(t, c, 'a', svc.ip);
  const loop = await HttpLoop.start(n);
  t.after(() => loop.stop());
  await sleep(500);
  const before = loop.stats().requests;
  loop.resetGap();

  const r = await startMigrate(['--hosts', writeHostsFile(c), '--from', 'a', '--to', 'b', '--pid', String(n.master), '--move-ip', svc.cidr, ...(newPidns ? ['--new-pidns'] : [])]).done;
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr.slice(-3000)}`);
  const rep = r.report!;
  assert.equal(rep.outcome, 'migrated');

  const { during, after } = await goesOn(loop);
  t.diagnostic(describe(rep, after));
  assert.deepEqual(after.failures, [], 'the client saw failures');
  assert.equal(after.connections, 1, 'the client had to open another connection');
  assert.ok(during > before, `the client got ${before} responses before the migration and ${during} by its end`);
  assert.ok(after.requests > during, `no response after the migration (${during} by its end, ${after.requests} a second later)`);
  assert.deepEqual(nginxOn(c, 'b', n).missing, [], 'nginx does not run whole on B');
  assert.deepEqual(nginxOn(c, 'a', n).found, [], 'nginx processes are left on A');
  builtAhead(c, rep);
}

test('nginx (master + 2 workers) migrates with --move-ip while a keep-alive client fetches a 270 KB file: no response lost, the same connection goes on, the tree runs on B', async (t) => {
  await nginxMigrates(t, false);
});

test('nginx migrates with --move-ip --new-pidns while the client fetches: no response lost, master and workers on B with their PIDs, memory built ahead', async (t) => {
  await nginxMigrates(t, true);
});
