// PostgreSQL 15 as Debian ships it, dumped and restored on one host: a cluster made by initdb with
// a table of 100 000 rows; a client connected over TCP is in the middle of an open transaction
// when the postmaster's tree (with its System V interlock segment, its shared memory and every
// backend) is dumped and killed. After the restore the client goes on in the same transaction on
// the same connection and commits; its rows are there; its backend is the same process; new
// clients connect over TCP and over the unix socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { godwit, needCheckpointRestore, waitGone, alive, descendants, sleep, tempDir, cleanup, startTarget } from '../lib/harness.js';
import { makeCluster, startPostgres, stopPostgres, client, one, loadRows } from '../lib/postgres.js';
import { probeTcpRepair, probeNftables } from '../../src/core/check/network.js';

const repair = probeTcpRepair(), nftables = probeNftables();

test('PostgreSQL: dump and restore with a client in an open transaction; it commits afterwards, its rows are there', async (t) => {
  if (!needCheckpointRestore(t)) return;
  if (!repair.ok) { t.skip(`this kernel lacks TCP repair: ${repair.detail}`); return; }
  if (!nftables.ok) { t.skip(`no nftables for the network lock: ${nftables.detail}`); return; }
  const port = 25000 + (process.pid % 5000);
  const dir = tempDir('pg');
  t.after(() => cleanup(dir));
  const cl = makeCluster(join(dir, 'pg'), { listen: '127.0.0.1', port, socketDir: join(dir, 'pg') });
  const pm = await startPostgres(cl, (cmd) => startTarget(dir, cmd, { ready: false }));
  t.after(() => stopPostgres(pm.pid));
  const setup = client('127.0.0.1', port);
  await setup.connect();
  await loadRows(setup, 100_000);
  await setup.end();

  const c1 = client('127.0.0.1', port);
  await c1.connect();
  const backend = await one<number>(c1, 'SELECT pg_backend_pid()');
  await c1.query('BEGIN');
  await c1.query(`INSERT INTO items VALUES (100001, 'before the dump')`);
  const before = [pm.pid, ...descendants(pm.pid)].sort((a, b) => a - b);
  assert.ok(before.includes(backend), `the client's backend ${backend} is in the tree ${before.join(',')}`);

  const img = join(pm.dir, 'img');
  const d = godwit(['dump', '-t', String(pm.pid), '-D', img, '--tcp-established']);
  assert.equal(d.code, 0, d.stderr);
  for (const p of before) await waitGone(p);
  const r = godwit(['restore', '-D', img, '-d']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(alive(pm.pid), 'the postmaster runs again');
  const after = [pm.pid, ...descendants(pm.pid)].sort((a, b) => a - b);
  assert.deepEqual(after, before, 'the same processes, with the same PIDs');

  // the same connection, the same transaction, the same backend
  await c1.query(`INSERT INTO items VALUES (100002, 'after the restore')`);
  assert.equal(await one<number>(c1, 'SELECT pg_backend_pid()'), backend);
  await c1.query('COMMIT');
  assert.equal(Number(await one(c1, 'SELECT count(*) FROM items')), 100_002);

  // new clients, over TCP and over the unix socket; they see the committed rows and the old backend
  const c2 = client('127.0.0.1', port);
  await c2.connect();
  assert.equal(await one<string>(c2, 'SELECT v FROM items WHERE id = 100002'), 'after the restore');
  assert.equal(await one<string>(c2, 'SELECT md5(\'77777\') = v FROM items WHERE id = 77777'), true);
  const active = (await c2.query('SELECT pid FROM pg_stat_activity WHERE backend_type = \'client backend\'')).rows.map((x: { pid: number }) => x.pid);
  assert.ok(active.includes(backend), `pg_stat_activity lists ${active.join(',')}, not the old backend ${backend}`);
  const c3 = client(cl.socketDir, port);
  await c3.connect();
  assert.equal(Number(await one(c3, 'SELECT count(*) FROM items')), 100_002);
  await Promise.all([c1.end(), c2.end(), c3.end()]);
  await sleep(100);
  assert.doesNotMatch(readFileSync(pm.log, 'utf8'), /PANIC|terminated by signal/);
});
