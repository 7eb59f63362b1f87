// The coordinator's store: values go through libsqlite3 and come back as they went in, sqlite's
// errors reach the operator as one line, and the history of migrations survives restarts and
// schema upgrades.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GodwitError } from '../../src/core/errors.js';
import { Database } from '../../src/coordinator/store/sqlite.js';
import { History, SCHEMA } from '../../src/coordinator/store/history.js';

const dir = mkdtempSync(join(tmpdir(), 'godwit-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (): string => join(dir, `db${++n}.sqlite`);

/** Runs f, which must throw a GodwitError; returns its message. */
function refused(f: () => unknown, pattern: RegExp): string {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  assert.ok(err instanceof GodwitError, `expected a GodwitError, got ${String(err)}`);
  assert.match(err.message, pattern);
  return err.message;
}

test('values round-trip: integers (as bigint past 2^53), floats, unicode text, blobs, null', () => {
  const db = Database.open(file());
  db.exec('CREATE TABLE v (k INTEGER PRIMARY KEY, x)');
  const values = [
    0, 42, -7, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER,
    2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n),
    1.5, -0.25, 1e300,
    'héllo wörld ✓ 🦤 日本語', '', 'a\0b',
    Buffer.from([0, 1, 2, 255, 0]), Buffer.alloc(0),
    null,
  ];
  for (const x of values) db.run('INSERT INTO v (x) VALUES (?)', [x]);
  const back = db.all('SELECT x FROM v ORDER BY k').map((r) => r.x);
  assert.deepEqual(back, values);
  // the column types sqlite stored them as: 2^53 is an integer, not a float that rounds
  assert.deepEqual(db.all('SELECT typeof(x) AS t FROM v ORDER BY k').map((r) => r.t),
    ['integer', 'integer', 'integer', 'integer', 'integer', 'integer', 'integer', 'integer', 'integer',
      'real', 'real', 'real', 'text', 'text', 'text', 'blob', 'blob', 'null']);
  assert.equal(typeof db.get('SELECT 9007199254740991 AS n')?.n, 'number');
  db.close();
});

test('parameters: positional, numbered, named with $ : @; a wrong count or a missing name is an error', () => {
  const db = Database.open(':memory:');
  db.exec('CREATE TABLE p (a, b, c)');
  const r = db.run('INSERT INTO p VALUES (?, ?, ?)', [1, 'two', null]);
  assert.deepEqual(r, { changes: 1, lastInsertRowid: 1 });
  assert.equal(db.run('INSERT INTO p VALUES ($a, :b, @c)', { a: 2, b: 'x', c: 3.5 }).lastInsertRowid, 2);
  assert.deepEqual(db.get('SELECT * FROM p WHERE a = ?2 AND b = ?1', ['x', 2]), { a: 2, b: 'x', c: 3.5 });
  assert.deepEqual(db.all('SELECT a FROM p WHERE a >= $min ORDER BY a', { min: 1 }), [{ a: 1 }, { a: 2 }]);
  assert.equal(db.get('SELECT a FROM p WHERE a = $a', { a: 99 }), undefined);
  assert.deepEqual(db.run('UPDATE p SET c = 0', []).changes, 2);
  refused(() => db.get('SELECT ?, ?', [1]), /2 parameter\(s\) expected, 1 given, in "SELECT \?, \?"/);
  refused(() => db.get('SELECT $a, $b', { a: 1 }), /no value for parameter \$b/);
  refused(() => db.get('SELECT ?', [2n ** 64n]), /does not fit in 64 bits/);
  // a second statement would be ignored silently: refused; a trailing comment is fine
  refused(() => db.run('DELETE FROM p; DROP TABLE p'), /more than one statement/);
  assert.equal(db.get('SELECT count(*) AS n FROM p; -- all of them')?.n, 2);
  db.close();
});

test('a failing statement is a GodwitError with sqlite\'s message and the SQL; a bad file names its path', () => {
  const db = Database.open(':memory:');
  db.exec('CREATE TABLE u (k TEXT PRIMARY KEY)');
  db.run('INSERT INTO u VALUES (?)', ['a']);
  refused(() => db.run('INSERT INTO u VALUES (?)', ['a']), /^sqlite: UNIQUE constraint failed: u\.k, in "INSERT INTO u VALUES \(\?\)"$/);
  refused(() => db.all('SELEC * FROM u'), /near "SELEC": syntax error/);
  refused(() => db.exec('CREATE TABLE u (k)'), /table u already exists/);
  const long = `SELECT * FROM nowhere WHERE ${'x = 1 AND '.repeat(20)}1`;
  const m = refused(() => db.all(long), /no such table: nowhere/);
  assert.ok(m.length < 140, m);
  // the statement that failed is usable again
  assert.equal(db.get('SELECT count(*) AS n FROM u')?.n, 1);
  db.close();
  db.close();
  refused(() => db.get('SELECT 1'), /is closed/);

  const junk = file();
  writeFileSync(junk, 'not a database, no, not at all. '.repeat(100));
  refused(() => Database.open(junk), new RegExp(`^cannot open the database ${junk}: file is not a database$`));
  refused(() => Database.open(join(dir, 'missing', 'x.db')), /cannot open the database .*missing\/x\.db: unable to open database file/);
});

test('open: WAL journal, foreign keys on, busy timeout 5 s', () => {
  const db = Database.open(file());
  assert.equal(db.get('PRAGMA journal_mode')?.journal_mode, 'wal');
  assert.equal(db.get('PRAGMA foreign_keys')?.foreign_keys, 1);
  assert.equal(db.get('PRAGMA busy_timeout')?.timeout, 5000);
  db.close();
});

test('a transaction that throws leaves nothing; one that returns commits; a nested one is a savepoint', (t) => {
  const db = Database.open(file());
  db.exec('CREATE TABLE t (x INTEGER)');
  assert.throws(() => db.transaction(() => {
    db.run('INSERT INTO t VALUES (1)');
    db.run('INSERT INTO t VALUES (2)');
    throw new Error('no');
  }), /^Error: no$/);
  assert.equal(db.get('SELECT count(*) AS n FROM t')?.n, 0);
  assert.equal(db.transaction(() => db.run('INSERT INTO t VALUES (3)').changes), 1);
  db.transaction(() => {
    db.run('INSERT INTO t VALUES (4)');
    assert.throws(() => db.transaction(() => { db.run('INSERT INTO t VALUES (5)'); throw new Error('inner'); }));
    db.run('INSERT INTO t VALUES (6)');
  });
  assert.deepEqual(db.all('SELECT x FROM t ORDER BY x').map((r) => r.x), [3, 4, 6]);
  refused(() => db.transaction(async () => { db.run('INSERT INTO t VALUES (7)'); }), /synchronous function/);
  assert.equal(db.get('SELECT count(*) AS n FROM t WHERE x = 7')?.n, 0);

  const t0 = performance.now();
  db.transaction(() => { for (let i = 0; i < 1000; i++) db.run('INSERT INTO t VALUES (?)', [i]); });
  const ms = performance.now() - t0;
  t.diagnostic(`1000 inserts in one transaction: ${ms.toFixed(1)} ms, ${((ms * 1e3) / 1000).toFixed(2)} µs per insert`);
  assert.equal(db.get('SELECT count(*) AS n FROM t')?.n, 1003);
  db.close();
});

const report = (downtimeMs: number, links: number[], finalBytes: number) => ({
  outcome: 'migrated', downtime: { totalMs: downtimeMs }, iterations: links.map((wireBytes) => ({ link: 'x', wireBytes })),
  final: { wireBytes: finalBytes },
});

test('history: a migration from queued to done, with its trail, survives close and open', () => {
  const path = file();
  let h = History.open(path);
  assert.equal(h.schemaVersion, SCHEMA.length);
  const before = Date.now();
  const a = h.add({ id: 'm1', pid: 4242, from: 'a', to: 'b', options: { maxDowntimeMs: 300, moveIp: ['10.0.0.5'] } });
  assert.equal(a.state, 'queued');
  assert.ok(a.createdAt >= before && a.createdAt <= Date.now());
  h.start('m1');
  h.addEvent('m1', 'precopy', 'link 1');
  h.addEvent('m1', 'freeze');
  h.finish('m1', { outcome: 'migrated', exitCode: 0, report: report(42.5, [1000, 200], 30) });
  refused(() => h.start('m1'), /migration m1 is done, not queued/);
  refused(() => h.finish('nope', { outcome: 'migrated', exitCode: 0 }), /no migration nope/);
  refused(() => h.addEvent('nope', 'freeze'), /no migration nope/);
  refused(() => h.add({ id: 'm1', pid: 1, from: 'a', to: 'b', options: {} }), /UNIQUE constraint failed: migrations\.id/);
  h.close();

  h = History.open(path);
  const m = h.get('m1')!;
  assert.equal(m.state, 'done');
  assert.equal(m.outcome, 'migrated');
  assert.equal(m.exitCode, 0);
  assert.equal(m.error, undefined);
  assert.deepEqual(m.options, { maxDowntimeMs: 300, moveIp: ['10.0.0.5'] });
  assert.deepEqual(m.report, report(42.5, [1000, 200], 30));
  assert.equal(m.downtimeMs, 42.5);
  assert.equal(m.bytes, 1230);
  assert.ok(m.startedAt! >= m.createdAt && m.endedAt! >= m.startedAt!);
  assert.deepEqual(h.events('m1').map((e) => [e.phase, e.message]), [['precopy', 'link 1'], ['freeze', undefined]]);
  assert.equal(h.get('m2'), undefined);
  h.close();
});

test('history: a file at schema v1 is upgraded on open and keeps its rows; a newer one is refused', () => {
  const path = file();
  const db = Database.open(path);
  db.exec(SCHEMA[0]!);
  db.exec('PRAGMA user_version = 1');
  db.run(`INSERT INTO migrations (id, pid, from_host, to_host, options, state, created_at) VALUES ('old', 7, 'a', 'b', '{"x":1}', 'queued', 1000)`);
  db.close();

  const h = History.open(path);
  assert.equal(h.schemaVersion, 2);
  assert.deepEqual(h.get('old'), { id: 'old', pid: 7, from: 'a', to: 'b', options: { x: 1 }, state: 'queued', createdAt: 1000 });
  h.addEvent('old', 'preflight');
  assert.equal(h.events('old').length, 1);
  h.close();
  // opening again applies nothing
  const again = History.open(path);
  assert.equal(again.schemaVersion, 2);
  again.close();

  const newer = file();
  const d2 = Database.open(newer);
  d2.exec('PRAGMA user_version = 99');
  d2.close();
  refused(() => History.open(newer), /schema version 99 was written by a newer godwit \(this one knows up to 2\)/);
});

test('history: abandonRunning marks what a stopped coordinator left; totals and list count and order', () => {
  const h = History.open(file());
  h.add({ id: 'q', pid: 1, from: 'a', to: 'b', options: {} });
  h.add({ id: 'r', pid: 2, from: 'a', to: 'b', options: {} });
  h.start('r');
  h.add({ id: 'ok1', pid: 3, from: 'a', to: 'b', options: {} });
  h.finish('ok1', { outcome: 'migrated', exitCode: 0, report: report(10, [100], 1) });
  h.add({ id: 'ok2', pid: 4, from: 'b', to: 'a', options: {} });
  h.finish('ok2', { outcome: 'migrated', exitCode: 0, report: report(20, [], 5) });
  h.add({ id: 'rb', pid: 5, from: 'a', to: 'b', options: {} });
  h.finish('rb', { outcome: 'rolled-back', exitCode: 6, error: 'the destination went away', report: { iterations: [{ wireBytes: 50 }] } });
  h.add({ id: 'no', pid: 6, from: 'a', to: 'b', options: {} });
  h.finish('no', { outcome: 'refused', exitCode: 5, error: 'PID taken' });

  const gone = h.abandonRunning();
  assert.deepEqual(gone.map((m) => [m.id, m.state, m.outcome]), [['q', 'done', 'unknown'], ['r', 'done', 'unknown']]);
  assert.match(gone[0]!.error!, /coordinator stopped before this migration started/);
  assert.match(gone[1]!.error!, /coordinator stopped during this migration/);
  assert.equal(h.get('r')!.outcome, 'unknown');
  assert.deepEqual(h.abandonRunning(), []);

  const tot = h.totals();
  assert.deepEqual(tot.byOutcome, { migrated: 2, 'rolled-back': 1, refused: 1, unknown: 2 });
  assert.deepEqual(tot.downtimesMs, [10, 20]);
  assert.equal(tot.bytes, 101 + 5 + 50);
  assert.equal(h.get('no')!.bytes, undefined);

  assert.deepEqual(h.list().map((m) => m.id), ['no', 'rb', 'ok2', 'ok1', 'r', 'q']);
  assert.deepEqual(h.list({ limit: 2 }).map((m) => m.id), ['no', 'rb']);
  h.close();

  // `before` pages by creation time
  const path = file();
  const h2 = History.open(path);
  for (let i = 0; i < 5; i++) h2.add({ id: `t${i}`, pid: i, from: 'a', to: 'b', options: {} });
  h2.close();
  const raw = Database.open(path);
  raw.transaction(() => { for (let i = 0; i < 5; i++) raw.run('UPDATE migrations SET created_at = ? WHERE id = ?', [1000 + i, `t${i}`]); });
  raw.close();
  const h3 = History.open(path);
  assert.deepEqual(h3.list({ before: 1003 }).map((m) => m.id), ['t2', 't1', 't0']);
  assert.deepEqual(h3.list({ before: 1003, limit: 1 }).map((m) => m.id), ['t2']);
  h3.close();
});
