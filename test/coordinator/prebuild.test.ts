// The destination builds the tree while pre-copy runs (core/prebuild.ts): its memory must come out
// exactly as a restore from the images would make it, whatever the process does to its mappings
// meanwhile, and a tree that changes shape keeps what was built for the processes that stayed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildProgram, askVerdict, notPassing, waitForLog } from '../lib/harness.js';
import { simulatedHosts } from '../lib/hosts.js';
import { writeHostsFile, startMigrate } from '../lib/migrate.js';
import { probeTracking } from '../../src/core/check.js';

const uffd = probeTracking().uffd;
const MiB = 2 ** 20;

test('a process that maps, moves and drops memory as it runs migrates with every page right, its memory built during pre-copy', async (t) => {
  if (!uffd) { t.skip('this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN: no pre-copy to build from'); return; }
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const target = await c.launch('a', 'churn', [buildProgram('writer')]);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)]).done;
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
  const rep = r.report!;
  assert.ok(rep.iterations.length >= 2, 'pre-copy ran more than one link');
  assert.ok((rep.builtAheadBytes ?? 0) >= 64 * MiB, `only ${rep.builtAheadBytes} bytes were built ahead`);
  const v = await askVerdict({ ...target, pid: c.rootPid('b', target.nsPid!) }, 60_000);
  assert.equal(notPassing(v), null);
  t.diagnostic(`${rep.iterations.length} links; ${(rep.builtAheadBytes! / MiB).toFixed(1)} MiB built ahead and kept; restore ${rep.downtime!.restoreMs} ms; ${v.line}`);
});

test('a first pass in slices: each is built on the destination while the next streams, and every page comes out right', async (t) => {
  if (!uffd) { t.skip('this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN: no pre-copy to build from'); return; }
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const target = await c.launch('a', 'slices', [buildProgram('writer')]);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid), '--slice', '16M']).done;
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
  const rep = r.report!;
  const slices = rep.iterations.filter((i) => i.owedBytes > 0);
  assert.ok(slices.length >= 3, `${slices.length} links of the first pass left memory for the next`);
  // each slice moves the pass on by 16 MiB, whatever the process writes meanwhile (that goes too)
  for (let k = 1; k < slices.length; k++) assert.ok(slices[k]!.owedBytes <= slices[k - 1]!.owedBytes - 15 * MiB, `owed: ${slices.map((i) => i.owedBytes).join(', ')}`);
  assert.ok(slices[0]!.pagesBytes <= 16 * MiB, `a first slice of ${slices[0]!.pagesBytes} bytes`);
  assert.ok((rep.builtAheadBytes ?? 0) >= 64 * MiB, `only ${rep.builtAheadBytes} bytes were built ahead`);
  assert.ok(r.progress.some((p) => /^first pass: \d+ MiB still to copy$/.test(p.message ?? '')), 'progress never told of the first pass');
  const v = await askVerdict({ ...target, pid: c.rootPid('b', target.nsPid!) }, 60_000);
  assert.equal(notPassing(v), null);
  t.diagnostic(`${rep.iterations.length} links, ${slices.length} of them slices; ${(rep.builtAheadBytes! / MiB).toFixed(1)} MiB built ahead and kept; ${v.line}`);
});

test('a tree that forks during pre-copy: the seeds follow it, what was built for the parent is kept, the child comes right', async (t) => {
  if (!uffd) { t.skip('this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN: no pre-copy to build from'); return; }
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const target = await c.launch('a', 'forks', [buildProgram('bigcounter'), '64', '10']);
  await waitForLog(target.log, /^TICK \d+$/m);
  let forked = false;
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)], (p) => {
    // the first link has landed on B, and B has grown its seeds from it
    if (!forked && p.phase === 'precopy' && p.iteration === 2) { forked = true; process.kill(target.pid, 'SIGUSR1'); }
  }).done;
  assert.ok(forked, 'pre-copy never reached a second link');
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
  const child = Number(/^FORKED (\d+)$/m.exec(readFileSync(target.log, 'utf8'))?.[1]);
  assert.ok(child > 0, 'the process did not fork');
  assert.ok((r.report!.builtAheadBytes ?? 0) > 32 * MiB, `memory built for the parent before it forked was not kept (${r.report!.builtAheadBytes} bytes)`);
  assert.ok(c.rootPid('b', child) > 0, 'the child does not run on B');
  const v = await askVerdict({ ...target, pid: c.rootPid('b', target.nsPid!) }, 60_000);
  assert.equal(notPassing(v), null);
  assert.match(v.line, /children=1/);
});
