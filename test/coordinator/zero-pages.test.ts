// `godwit migrate` of a process whose 1 GiB mapping is mostly zero (test/programs/zeroes.c): the
// links and the final dump carry its data, not its mapping, on the wire as in the reports; the
// destination's copy holds in memory what the source's did; and what was zeroed after the first
// link (data there, memory built ahead from it on the destination) reads zero there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram, askVerdict, notPassing, waitForLog, type Target, type Verdict } from '../lib/harness.js';
import { simulatedHosts, type Cluster } from '../lib/hosts.js';
import { writeHostsFile, startMigrate } from '../lib/migrate.js';
import { zeroesLayout, mappingRss, assertZero, MiB, type ZeroesLayout } from '../lib/zeroes.js';
import type { MigrationReport } from '../../src/coordinator/migration.js';
import { probeTracking } from '../../src/core/check.js';

const uffd = probeTracking().uffd;
const mb = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
const links = (rep: MigrationReport): string => `${rep.iterations.map((i) => `${mb(i.pagesBytes)}/${mb(i.wireBytes)}`).join(' ')} final ${mb(rep.final?.pagesBytes ?? 0)}/${mb(rep.final?.wireBytes ?? 0)}`;


/** The program on B: its mapping holds only its data, the zero regions read zero, its data checks out. */
async function checkOnB(c: Cluster, target: Target, l: ZeroesLayout): Promise<Verdict> {
  const onB = c.rootPid('b', target.nsPid!);
  const rss = mappingRss(onB, l.base);
  assert.ok(rss < 64 * MiB, `the mapping holds ${mb(rss)} on B`);
  assertZero(onB, [l.zeroPage, l.memset, l.dropped, [l.data[1], l.base + l.len]], 'on B, a region that must read zero');
  const v = await askVerdict({ ...target, pid: onB }, 60_000);
  assert.equal(notPassing(v), null);
  return v;
}

test('a 1 GiB mapping of zero pages migrates as its 8 MB of data', async (t) => {
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const target = await c.launch('a', 'zeroes', [buildProgram('zeroes')]);
  const l = zeroesLayout(target.log);
  process.kill(target.pid, 'SIGUSR1');
  await waitForLog(target.log, /^ZEROED$/m);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)]).done;
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(-3000)}`);
  const rep = r.report!;
  const pages = rep.iterations.reduce((s, i) => s + i.pagesBytes, 0) + (rep.final?.pagesBytes ?? 0);
  const wire = rep.iterations.reduce((s, i) => s + i.wireBytes, 0) + (rep.final?.wireBytes ?? 0);
  assert.ok(pages < 64 * MiB, `${pages} bytes of pages moved: ${links(rep)}`);
  assert.ok(wire < 64 * MiB, `${wire} bytes on the wire: ${links(rep)}`);
  const v = await checkOnB(c, target, l);
  t.diagnostic(`links ${links(rep)}; downtime ${rep.downtime!.totalMs} ms (restore ${rep.downtime!.restoreMs}); ${v.line}`);
});

test('zeroed after the first link: the later links say so, and B, which built that memory ahead, zeroes it', async (t) => {
  if (!uffd) { t.skip('this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN: no pre-copy'); return; }
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const target = await c.launch('a', 'zeroes-late', [buildProgram('zeroes')]);
  const l = zeroesLayout(target.log);
  await waitForLog(target.log, /^TICK \d+$/m);
  let zeroing = false;
  const h = startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)], (p) => {
    if (zeroing || p.phase !== 'precopy' || p.iteration < 2) return;
    // the first link is across: the migration waits (its coordinator stopped) until the process has zeroed
    zeroing = true;
    h.kill('SIGSTOP');
    process.kill(target.pid, 'SIGUSR1');
    void waitForLog(target.log, /^ZEROED$/m).finally(() => h.kill('SIGCONT'));
  });
  const r = await h.done;
  assert.ok(zeroing, 'pre-copy never reached a second link');
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(-3000)}`);
  const rep = r.report!;
  const [first, ...rest] = rep.iterations;
  // the first link carries what was written then (232 MB and the data), not the zero page
  assert.ok(first!.pagesBytes < 256 * MiB, `the first link: ${links(rep)}`);
  const later = rest.reduce((s, i) => s + i.pagesBytes, 0) + (rep.final?.pagesBytes ?? 0);
  const laterWire = rest.reduce((s, i) => s + i.wireBytes, 0) + (rep.final?.wireBytes ?? 0);
  assert.ok(later < 64 * MiB && laterWire < 64 * MiB, `after the first link: ${links(rep)}`);
  const v = await checkOnB(c, target, l);
  assert.match(v.line, /zeroed=1/);
  t.diagnostic(`links ${links(rep)}; built ahead ${mb(rep.builtAheadBytes ?? 0)}; downtime ${rep.downtime!.totalMs} ms (restore ${rep.downtime!.restoreMs}); ${v.line}`);
});
