// `godwit migrate` between two simulated hosts: the process moves while it runs, keeps counting
// from where it was, and every page of its memory is what it was; the source holds no copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildProgram, askVerdict, notPassing, waitForLog, alive } from '../lib/harness.js';
import { simulatedHosts } from '../lib/hosts.js';
import { writeHostsFile, startMigrate } from '../lib/migrate.js';
import { probeTracking } from '../../src/core/check.js';

const lastTick = (log: string): number => Math.max(0, ...[...readFileSync(log, 'utf8').matchAll(/^TICK (\d+)$/gm)].map((m) => Number(m[1])));

test('godwit migrate moves a running 256 MiB process from host A to host B', async (t) => {
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const target = await c.launch('a', 'mig', [buildProgram('bigcounter'), '256', '10']);
  await waitForLog(target.log, /^TICK \d+$/m);
  const before = lastTick(target.log);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)]).done;
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(-3000)}`);
  const rep = r.report!;
  assert.equal(rep.outcome, 'migrated');
  if (probeTracking().uffd) assert.ok(rep.iterations.length >= 2, 'pre-copy ran');
  assert.ok(rep.downtime && rep.downtime.totalMs > 0);
  assert.ok(!alive(target.pid), 'the source copy is gone');
  const onB = c.rootPid('b', target.nsPid!);
  assert.ok(onB > 0, 'the process runs on B');
  await waitForLog(target.log, new RegExp(`^TICK ${before + 300}$`, 'm'), 30_000);
  const ticks = [...readFileSync(target.log, 'utf8').matchAll(/^TICK (\d+)$/gm)].map((m) => Number(m[1]));
  assert.equal(new Set(ticks).size, ticks.length, 'a count was logged twice');
  const v = await askVerdict({ ...target, pid: onB }, 60_000);
  assert.equal(notPassing(v), null);
  t.diagnostic(`downtime ${rep.downtime!.totalMs} ms (dump ${rep.downtime!.dumpMs}, transfer ${rep.downtime!.transferMs}, restore ${rep.downtime!.restoreMs}, resume ${rep.downtime!.resumeMs}); ` +
    `total ${rep.totalMs} ms; links ${rep.iterations.map((i) => `${(i.pagesBytes / 2 ** 20).toFixed(1)}MiB`).join(' ')}`);
});
