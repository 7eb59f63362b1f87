// nginx as Debian runs it (master + 2 workers, daemonized) migrates from A to B at its service
// address (--move-ip) while a keep-alive client on the operator's network fetches a 270 KB file
// again and again on one connection: not one response is lost or wrong, the same connection goes
// on afterwards, master and both workers run on B with their PIDs and nothing of them on A, and
// the memory B built while pre-copy ran was kept (builtAheadBytes), with --new-pidns too.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { needCheckpointRestore } from '../lib/harness.js';
import { simulatedHosts } from '../lib/hosts.js';
import { addServiceAddress, startNginx, nginxOn, HttpLoop } from '../lib/servers.js';
import { serversNeed, builtAhead, migrateUnderLoad } from '../lib/server-asserts.js';

async function nginxMigrates(t: TestContext, newPidns: boolean): Promise<void> {
  if (!needCheckpointRestore(t) || !serversNeed(t)) return;
  const c = await simulatedHosts(t, ['a', 'b']);
  const svc = addServiceAddress(c, 'a');
  const n = await startNginx(t, c, 'a', svc.ip);
  const loop = await HttpLoop.start(n);
  t.after(() => loop.stop());
  const rep = await migrateUnderLoad(t, c, loop, n.master, svc, newPidns ? ['--new-pidns'] : [], 'responses');
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
