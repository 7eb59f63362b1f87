// Zero and untouched pages cost nothing (test/programs/zeroes.c: 1 GiB mapped, 600 MB of it on
// the shared zero page, 200 MB written then memset to zero, 32 MB written then dropped, 8 MB of
// data): the image holds the data, not the mapping; the restore writes only the data, so the
// restored process's mapping is as small in memory as it was; and every region that must read
// zero does, also where an older link of a pre-dump chain held data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { askVerdict, godwit, launch, buildProgram, needCheckpointRestore, notPassing, waitForLog, waitGone } from '../lib/harness.js';
import { zeroesLayout, mappingRss, assertZero, MiB, type ZeroesLayout } from '../lib/zeroes.js';
import { probeTracking } from '../../src/core/check.js';

interface Summary { totalPageBytes: number; processes: Array<{ zeroBytes: number }>; chain: Array<{ pages: number }> }
const inspect = (dir: string): Summary => {
  const r = godwit(['inspect', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Summary;
};

/** Bytes of page files in a link (a pre-dump is not an image inspect reads). */
const inspectLink = (dir: string): number => readdirSync(dir).filter((f) => /^pages-.*\.img$/.test(f)).reduce((t, f) => t + statSync(join(dir, f)).size, 0);

/** After the restore, before the verdict: little of the mapping in memory, the zero regions zero. */
function checkRestored(pid: number, l: ZeroesLayout): void {
  const rss = mappingRss(pid, l.base);
  assert.ok(rss < 64 * MiB, `the restored mapping holds ${(rss / MiB).toFixed(1)} MiB in memory`);
  assertZero(pid, [l.zeroPage], 'the read-faulted region');
  assertZero(pid, [l.memset], 'the region memset to zero');
  assertZero(pid, [l.dropped], 'the region dropped with MADV_DONTNEED');
  assertZero(pid, [[l.data[1], l.base + l.len]], 'the untouched rest');
}


/** The dumped program restored from `img`: its zero regions read zero, its data checks out. */
async function restoreAndCheck(target: Parameters<typeof askVerdict>[0], img: string, l: Parameters<typeof checkRestored>[1]): Promise<Awaited<ReturnType<typeof askVerdict>>> {
  await waitGone(target.pid);
  const r = godwit(['restore', '-D', img, '-d']);
  assert.equal(r.code, 0, r.stderr);
  checkRestored(target.pid, l);
  const v = await askVerdict(target, 30_000);
  assert.equal(notPassing(v), null);
  assert.match(v.line, /zeroed=1/);
  return v;
}

test('a 1 GiB mapping of zero pages and 8 MB of data dumps into a few MB and restores without its zero pages', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const target = await launch(t, 'zeroes', [buildProgram('zeroes')]);
  const l = zeroesLayout(target.log);
  process.kill(target.pid, 'SIGUSR1');
  await waitForLog(target.log, /^ZEROED$/m);
  const img = join(target.dir, 'img');
  const d = godwit(['dump', '-t', String(target.pid), '-D', img]);
  assert.equal(d.code, 0, d.stderr);
  const s = inspect(img);
  assert.ok(s.totalPageBytes < 64 * MiB, `the image holds ${s.totalPageBytes} bytes of pages`);
  // what was written with zeros is named as zero (the shared zero page is not even read)
  assert.ok(s.processes[0]!.zeroBytes >= 200 * MiB, `${s.processes[0]!.zeroBytes} bytes recorded as zero`);
  const v = await restoreAndCheck(target, img, l);
  t.diagnostic(`${(s.totalPageBytes / MiB).toFixed(1)} MiB of pages, ${(s.processes[0]!.zeroBytes / MiB).toFixed(0)} MiB recorded as zero; ${v.line}`);
});

test('a pre-dump chain: pages that held data in an older link and are zero at the final dump come back zero', async (t) => {
  if (!needCheckpointRestore(t)) return;
  if (!probeTracking().uffd) { t.skip('this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN'); return; }
  const target = await launch(t, 'zeroes-chain', [buildProgram('zeroes')]);
  const l = zeroesLayout(target.log);
  const p1 = join(target.dir, 'p1'), p2 = join(target.dir, 'p2'), img = join(target.dir, 'img');
  const a = godwit(['pre-dump', '-t', String(target.pid), '-D', p1]);
  assert.equal(a.code, 0, a.stderr);
  // the link holds the pattern written in the middle, never the 600 MB of zero page
  const first = inspectLink(p1);
  assert.ok(first >= 200 * MiB && first < 300 * MiB, `the first link holds ${first} bytes`);
  process.kill(target.pid, 'SIGUSR1');
  await waitForLog(target.log, /^ZEROED$/m);
  // one link finds the zeroing (written, then zero), the dump ends the chain
  const b = godwit(['pre-dump', '-t', String(target.pid), '-D', p2, '--prev-images-dir', p1]);
  assert.equal(b.code, 0, b.stderr);
  const d = godwit(['dump', '-t', String(target.pid), '-D', img, '--prev-images-dir', p2]);
  assert.equal(d.code, 0, d.stderr);
  const s = inspect(img);
  const later = s.chain.slice(1).reduce((t, c) => t + c.pages * 4096, 0);
  assert.ok(later < 64 * MiB, `the links after the first hold ${later} bytes`);
  const v = await restoreAndCheck(target, img, l);
  t.diagnostic(`links: ${s.chain.map((c) => `${(c.pages * 4096 / MiB).toFixed(1)} MiB`).join(', ')}; ${v.line}`);
});

test('zeroed between the last pre-dump and the dump: the dump alone says so', async (t) => {
  if (!needCheckpointRestore(t)) return;
  if (!probeTracking().uffd) { t.skip('this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN'); return; }
  const target = await launch(t, 'zeroes-late', [buildProgram('zeroes')]);
  const l = zeroesLayout(target.log);
  const p1 = join(target.dir, 'p1'), img = join(target.dir, 'img');
  const a = godwit(['pre-dump', '-t', String(target.pid), '-D', p1]);
  assert.equal(a.code, 0, a.stderr);
  process.kill(target.pid, 'SIGUSR1');
  await waitForLog(target.log, /^ZEROED$/m);
  const d = godwit(['dump', '-t', String(target.pid), '-D', img, '--prev-images-dir', p1]);
  assert.equal(d.code, 0, d.stderr);
  const s = inspect(img);
  assert.ok(s.totalPageBytes < 64 * MiB, `the dump holds ${s.totalPageBytes} bytes of pages`);
  assert.ok(s.processes[0]!.zeroBytes >= 232 * MiB, `the dump records ${s.processes[0]!.zeroBytes} bytes as zero`);
  await restoreAndCheck(target, img, l);
  assert.ok(readFileSync(target.log, 'utf8').includes('ZEROED'));
});
