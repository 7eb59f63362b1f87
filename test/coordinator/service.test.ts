// `godwit coordinator`: the service an operator leaves running. Against two simulated hosts it
// lists the hosts and their processes, refuses what it should (bad requests, strangers without
// the token, a foreign Host header), runs a migration asked for over HTTP while the event stream
// shows its phases, cancels one (it rolls back), counts them in /metrics, and remembers them
// across a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { request } from 'node:http';
import { connect } from 'node:net';
import { buildProgram, askVerdict, notPassing, waitForLog, sleep } from '../lib/harness.js';
import { simulatedHosts } from '../lib/hosts.js';
import { startCoordinator } from '../lib/coordinator.js';

interface Json { [k: string]: unknown }
async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: Json; headers: Headers }> {
  const r = await fetch(url, { redirect: 'manual', ...init });
  const text = await r.text();
  let body: Json = {};
  try { body = JSON.parse(text) as Json; } catch { body = { text }; }
  return { status: r.status, body, headers: r.headers };
}
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  call(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

test('godwit coordinator: hosts, processes, access, a migration over HTTP with its events, a cancel, metrics, history across a restart', async (t) => {
  const c = await simulatedHosts(t);
  const target = await c.launch('a', 'svc-mig', [buildProgram('bigcounter'), '96', '10']);
  await waitForLog(target.log, /^TICK \d+$/m);
  const co = await startCoordinator(t, c);
  const api = co.url;

  // hosts, checked at start
  const hosts = await call(`${api}/api/hosts`);
  assert.equal(hosts.status, 200);
  const hs = hosts.body.hosts as Array<{ name: string; health: { up: boolean; kernel?: string } }>;
  assert.deepEqual(hs.map((h) => [h.name, h.health.up]), [['a', true], ['b', true]], JSON.stringify(hs));
  // processes of a host, as its agent sees them
  const ps = await call(`${api}/api/hosts/a/processes`);
  const mine = (ps.body.processes as Array<{ pid: number; command: string; rssBytes: number }>).find((p) => p.pid === target.nsPid);
  assert.ok(mine && /bigcounter/.test(mine.command) && mine.rssBytes > 90 * 2 ** 20, JSON.stringify(mine));
  assert.equal((await call(`${api}/api/hosts/zz/processes`)).status, 404);

  // access: loopback is open; from the bridge, the token; never under a foreign Host name
  const wire = `http://${c.hosts.a!.ip.replace(/\.\d+$/, '.254')}:${co.port}`;
  assert.equal((await call(`${wire}/api/hosts`)).status, 401);
  assert.equal((await call(`${wire}/api/hosts`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
  assert.equal((await call(`${wire}/api/hosts`, { headers: { authorization: `Bearer ${c.token.toString()}` } })).status, 200);
  assert.equal((await call(`${wire}/?token=nope`)).status, 401);
  const login = await call(`${wire}/?token=${encodeURIComponent(c.token.toString())}`);
  assert.equal(login.status, 302);
  const cookie = login.headers.get('set-cookie')!;
  assert.match(cookie, /^godwit_session=[0-9a-f]{64}; HttpOnly; SameSite=Strict/);
  assert.ok(!cookie.includes(c.token.toString()), 'the token itself went into a cookie');
  assert.equal((await call(`${wire}/metrics`, { headers: { cookie: cookie.split(';')[0]! } })).status, 200);
  // fetch may not set Host: a plain request does, as a browser does for a rebound name
  const rebound = await new Promise<number>((resolve, reject) => {
    request({ host: '127.0.0.1', port: co.port, path: '/api/hosts', headers: { host: `evil.example:${co.port}` } }, (r) => { r.resume(); resolve(r.statusCode ?? 0); }).on('error', reject).end();
  });
  assert.equal(rebound, 401, 'DNS rebinding onto loopback');
  assert.equal((await call(`${api}/api/hosts`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status, 401, 'a reverse proxy on loopback speaks for others');
  // a request line that is no URL gets an answer, and the service lives on
  const raw = await new Promise<string>((resolve) => {
    const sock = connect(co.port, '127.0.0.1', () => sock.end(`GET //[ HTTP/1.1\r\nHost: 127.0.0.1:${co.port}\r\n\r\n`));
    let got = '';
    sock.on('data', (d) => { got += d.toString(); });
    sock.on('close', () => resolve(got));
  });
  assert.match(raw, /^HTTP\/1\.1 400/);
  assert.equal((await call(`${api}/api/migrations?limit=1.5`)).status, 400);

  // bad requests: one clear line each
  for (const [body, re] of [
    [{ pid: target.nsPid, from: 'a', to: 'x' }, /to: give a host of the hosts file \(a, b\)/],
    [{ pid: 'x', from: 'a', to: 'b' }, /pid: give a process ID/],
    [{ pid: target.nsPid, from: 'a', to: 'b', hookPreRestore: '/bin/sh' }, /unknown option hookPreRestore/],
    [{ pid: target.nsPid, from: 'a', to: 'b', moveIps: ['10.0.0.1'] }, /the prefix length is missing/],
  ] as const) {
    const r = await post(`${api}/api/migrations`, body);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match((r.body.error as { message: string }).message, re);
  }
  const form = await call(`${api}/api/migrations`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
  assert.equal(form.status, 400, 'a request that is not JSON');

  // the preflight alone
  const pf = await post(`${api}/api/preflight`, { pid: target.nsPid, from: 'a', to: 'b' });
  assert.equal(pf.status, 200, JSON.stringify(pf.body));
  const pfr = pf.body.report as { outcome: string; preflight: { ok: boolean } };
  assert.equal(pfr.outcome, 'dry-run');
  assert.ok(pfr.preflight.ok);

  // a migration, followed on the event stream
  const ws = new WebSocket(`ws://127.0.0.1:${co.port}/api/events`);
  const events: Json[] = [];
  ws.on('message', (d) => events.push(JSON.parse(d.toString()) as Json));
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  t.after(() => ws.close());
  const started = await post(`${api}/api/migrations`, { pid: target.nsPid, from: 'a', to: 'b', maxDowntimeMs: 200 });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const id = (started.body.migration as { id: string }).id;
  const ended = async (which: string, ms: number): Promise<Json> => {
    for (let i = 0; i < ms / 100; i++) {
      const e = events.find((x) => x.type === 'migration' && (x.migration as Json).id === which && (x.migration as Json).state === 'done');
      if (e) return e.migration as Json;
      await sleep(100);
    }
    throw new Error(`migration ${which} did not end in ${ms} ms`);
  };
  const done = await ended(id, 120_000);
  assert.equal(done.outcome, 'migrated', JSON.stringify(done).slice(0, 2000));
  assert.equal(events[0]!.type, 'hello');
  const phases = [...new Set(events.filter((e) => e.type === 'progress' && e.id === id).map((e) => (e.progress as Json).phase))];
  for (const p of ['preflight', 'precopy', 'freeze', 'restore', 'resume', 'done']) assert.ok(phases.includes(p), `phase ${p} not seen: ${phases.join(' ')}`);
  const onB = c.rootPid('b', target.nsPid!);
  assert.ok(onB > 0, 'the process runs on B');
  const detail = await call(`${api}/api/migrations/${id}`);
  const rec = detail.body.migration as { outcome: string; downtimeMs: number; bytes: number; report: { downtime: { totalMs: number } } };
  assert.equal(rec.outcome, 'migrated');
  assert.ok(rec.downtimeMs > 0 && rec.downtimeMs === rec.report.downtime.totalMs && rec.bytes > 0);
  assert.ok((detail.body.events as Array<{ phase: string }>).some((e) => e.phase === 'resume'), 'the phases are recorded');

  // a migration cancelled mid-way rolls back: the process stays where it was
  const back = await post(`${api}/api/migrations`, { pid: target.nsPid, from: 'b', to: 'a', bandwidth: '2M' });
  assert.equal(back.status, 202, JSON.stringify(back.body));
  const bid = (back.body.migration as { id: string }).id;
  assert.equal((await post(`${api}/api/migrations`, { pid: target.nsPid, from: 'b', to: 'a' })).status, 409, 'two migrations of one process');
  for (let i = 0; i < 100 && !events.some((e) => e.type === 'progress' && e.id === bid && (e.progress as Json).phase === 'precopy'); i++) await sleep(100);
  assert.equal((await call(`${api}/api/migrations/${bid}/cancel`, { method: 'POST' })).status, 400, 'a cancel that is not JSON (a cross-site form)');
  assert.equal((await post(`${api}/api/migrations/${bid}/cancel`, {})).status, 200);
  const cancelled = await ended(bid, 60_000);
  assert.equal(cancelled.outcome, 'interrupted', JSON.stringify(cancelled).slice(0, 1000));
  assert.equal((await post(`${api}/api/migrations/${bid}/cancel`, {})).status, 409);
  assert.ok(c.rootPid('b', target.nsPid!) > 0 && c.rootPid('a', target.nsPid!) === -1, 'the cancelled migration moved the process');

  // metrics
  const m = (await call(`${api}/metrics`)).body.text as string;
  assert.match(m, /^godwit_migrations_total\{outcome="migrated"\} 1$/m);
  assert.match(m, /^godwit_migrations_total\{outcome="interrupted"\} 1$/m);
  assert.match(m, /^godwit_migration_downtime_seconds_count 1$/m);
  assert.match(m, /^godwit_agent_up\{host="a"\} 1$/m);
  assert.match(m, /^godwit_migration_bytes_total [1-9]\d*$/m);

  // the history outlives the service
  await co.stop();
  const again = await startCoordinator(t, c, { db: co.db });
  const list = (await call(`${again.url}/api/migrations`)).body.migrations as Array<{ id: string; outcome: string }>;
  assert.deepEqual(list.map((x) => [x.id, x.outcome]), [[bid, 'interrupted'], [id, 'migrated']]);

  const v = await askVerdict({ ...target, pid: onB }, 60_000);
  assert.equal(notPassing(v), null);
  t.diagnostic(`downtime ${rec.downtimeMs} ms; phases seen ${phases.join(' ')}; events ${events.length}`);
});
