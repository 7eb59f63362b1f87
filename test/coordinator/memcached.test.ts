// memcached as Debian runs it (foreground, user memcache, -t 10 worker threads, -m 400) holding
// 10 000 keys migrates from A to B at its service address (--move-ip) while a client on the
// operator's network gets and sets keys on one connection all along: every answer is right, the
// same connection goes on, all 10 000 keys are there when read back from B, memcached runs on B
// with its PID and every thread's TID and is gone from A, and the memory B built while pre-copy
// ran was kept (builtAheadBytes), with --new-pidns too.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { needCheckpointRestore } from '../lib/harness.js';
import { simulatedHosts } from '../lib/hosts.js';
import { addServiceAddress, startMemcached, memcachedOn, mcLoad, mcCheck, McLoop } from '../lib/servers.js';
import { serversNeed, builtAhead, migrateUnderLoad } from '../lib/server-asserts.js';

const KEYS = 10_000, VALUE_BYTES = 4000;

async function memcachedMigrates(t: TestContext, newPidns: boolean): Promise<void> {
  if (!needCheckpointRestore(t) || !serversNeed(t)) return;
  const c = await simulatedHosts(t, ['a', 'b']);
  const svc = addServiceAddress(c, 'a');
  const m = await startMemcached(t, c, 'a', svc.ip);
  assert.ok(m.threads.length > 10, `memcached has ${m.threads.length} threads: -t 10 makes 10 workers beside its own`);
  await mcLoad(m, KEYS, VALUE_BYTES);
  const loop = await McLoop.start(m, KEYS, VALUE_BYTES);
  t.after(() => loop.stop());
  const rep = await migrateUnderLoad(t, c, loop, m.pid, svc, newPidns ? ['--new-pidns'] : [], 'answers');
  assert.deepEqual(memcachedOn(c, 'b', m).missing, [], 'memcached does not run whole on B');
  assert.deepEqual(memcachedOn(c, 'a', m).found, [], 'memcached is left on A');
  const bad = await mcCheck(m, KEYS, VALUE_BYTES);
  assert.equal(bad.length, 0, `${bad.length} of ${KEYS} keys are wrong on B: ${bad.slice(0, 5).join(', ')}`);
  builtAhead(c, rep);
}

test('memcached (10 worker threads, 10 000 keys) migrates with --move-ip while a client gets and sets: every answer right, all keys there on B, the same PID and TIDs', async (t) => {
  await memcachedMigrates(t, false);
});

test('memcached migrates with --move-ip --new-pidns while the client gets and sets: every answer right, all keys there on B, memory built ahead', async (t) => {
  await memcachedMigrates(t, true);
});
