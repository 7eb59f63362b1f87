// PostgreSQL 15 migrates between simulated hosts with its clients: the cluster (100 000 rows) on
// A at a service address, a client on the operator's network in the middle of an open
// transaction. `godwit migrate --move-ip` moves the postmaster's whole tree (its System V
// interlock segment, its shared memory, every backend and the client's TCP connection) to B.
// The client commits its transaction afterwards on the same connection; its rows are there; the
// backends are the same processes (pg_stat_activity); new clients connect over TCP and, on B,
// over the unix socket; nothing of the cluster is left on A.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { alive } from '../lib/harness.js';
import { simulatedHosts, hostPrefix } from '../lib/hosts.js';
import { writeHostsFile, startMigrate } from '../lib/migrate.js';
import { postgresOnHost, stopPostgres, client, one, loadRows, PG_BIN } from '../lib/postgres.js';
import { probeTcpRepair, probeNftables } from '../../src/core/check/network.js';

const repair = probeTcpRepair(), nftables = probeNftables();

test('PostgreSQL migrates with a client in an open transaction: it commits on B, its rows are there, the backends are the same', async (t) => {
  if (!repair.ok) { t.skip(`this kernel lacks TCP repair: ${repair.detail}`); return; }
  if (!nftables.ok) { t.skip(`no nftables for the network lock: ${nftables.detail}`); return; }
  const c = await simulatedHosts(t, ['a', 'b']);
  const service = `${c.hosts.a!.ip.split('.').slice(0, 3).join('.')}.100`;
  execFileSync('ip', ['-n', c.hosts.a!.netns, 'addr', 'add', `${service}/24`, 'dev', 'eth0']);
  const port = 5432;
  const { cluster, postmaster } = await postgresOnHost(c, 'a', service, port);
  t.after(() => stopPostgres(c.rootPid('b', postmaster.nsPid!)));
  const setup = client(service, port);
  await setup.connect();
  await loadRows(setup, 100_000);
  await setup.end();

  const c1 = client(service, port);
  await c1.connect();
  const backend = await one<number>(c1, 'SELECT pg_backend_pid()');
  await c1.query('BEGIN');
  await c1.query(`INSERT INTO items VALUES (100001, 'on A')`);
  const sysvOnA = readFileSync(`/proc/${postmaster.pid}/maps`, 'utf8').includes('/SYSV');
  assert.ok(sysvOnA, 'the postmaster holds its System V segment');

  const hosts = writeHostsFile(c);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(postmaster.nsPid), '--move-ip', `${service}/24`]).done;
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(-3000)}`);
  assert.equal(r.report!.outcome, 'migrated');
  assert.ok(!alive(postmaster.pid), 'the postmaster is gone from A');
  assert.ok(c.rootPid('b', postmaster.nsPid!) > 0, 'the postmaster runs on B');
  assert.ok(r.report!.network!.connections >= 1, 'the client\'s connection moved');

  // the client's same connection: the transaction goes on and commits
  await c1.query(`INSERT INTO items VALUES (100002, 'on B')`);
  assert.equal(await one<number>(c1, 'SELECT pg_backend_pid()'), backend);
  await c1.query('COMMIT');
  assert.equal(Number(await one(c1, 'SELECT count(*) FROM items')), 100_002);
  const c2 = client(service, port);
  await c2.connect();
  assert.deepEqual((await c2.query('SELECT v FROM items WHERE id > 100000 ORDER BY id')).rows.map((x: { v: string }) => x.v), ['on A', 'on B']);
  const active = (await c2.query('SELECT pid FROM pg_stat_activity WHERE backend_type = \'client backend\'')).rows.map((x: { pid: number }) => x.pid);
  assert.ok(active.includes(backend), `pg_stat_activity on B lists ${active.join(',')}, not the moved backend ${backend}`);
  await Promise.all([c1.end(), c2.end()]);

  // a client on B's own unix socket (the listener was bound again there)
  const psql = execFileSync(hostPrefix(c.hosts.b!.init)[0]!, [...hostPrefix(c.hosts.b!.init).slice(1), 'setpriv', '--reuid=postgres', '--regid=postgres', '--clear-groups', '--',
    `${PG_BIN}/psql`, '-h', cluster.socketDir, '-p', String(port), '-U', 'postgres', '-Atc', 'SELECT count(*) FROM items'], { encoding: 'utf8' });
  assert.equal(psql.trim(), '100002');
  // nothing of the cluster on A: its processes, its System V segment
  const ipcsA = execFileSync(hostPrefix(c.hosts.a!.init)[0]!, [...hostPrefix(c.hosts.a!.init).slice(1), 'ipcs', '-m'], { encoding: 'utf8' });
  assert.doesNotMatch(ipcsA, /^0x[0-9a-f]+\s+\d+\s+postgres/m, `A still has the cluster's segment:\n${ipcsA}`);
});
