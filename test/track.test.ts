// Dirty-page tracking: a program writes known pages between iterations; the tracker must report
// every one (uffd: exactly those in the region), and every page of mappings that appear between
// iterations. When tracking ends, even by kill -9 of the tracker, nothing of it is left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, openSync, readSync, closeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, buildProgram, launch, waitForLog, sleep } from './lib/harness.js';
import { startTracker, type TrackBackend } from '../src/core/mem/track/index.js';
import { probeTracking } from '../src/core/check.js';
import type { PageRun } from '../src/core/image/page-copy.js';

function pageSet(runs: PageRun[]): Set<number> {
  const s = new Set<number>();
  for (const r of runs) for (let i = 0; i < r.pages; i++) s.add(r.start + i * 4096);
  return s;
}

function addrs(file: string): number[] {
  const b = readFileSync(file);
  const out: number[] = [];
  for (let i = 0; i + 8 <= b.length; i += 8) out.push(Number(b.readBigUInt64LE(i)));
  return out;
}

const have = probeTracking();
const backends: Array<{ name: TrackBackend; ok: boolean; why: string }> = [
  { name: 'uffd', ok: have.uffd, why: 'userfaultfd WP_ASYNC with PAGEMAP_SCAN (Linux 6.7+)' },
  { name: 'soft-dirty', ok: have.softDirty, why: 'the soft-dirty bit (CONFIG_MEM_SOFT_DIRTY)' },
  { name: 'hash', ok: true, why: '' },
];

for (const b of backends) {
  test(`${b.name}: every written page is reported, and new mappings whole`, async (t) => {
    if (!b.ok) { t.skip(`this kernel lacks ${b.why}`); return; }
    const target = await launch(t, `track-${b.name}`, [buildProgram('dirtier')]);
    const m = /region=([0-9a-f]+)-([0-9a-f]+)/.exec(readFileSync(target.log, 'utf8'))!;
    const lo = parseInt(m[1]!, 16), hi = parseInt(m[2]!, 16);
    const tracker = startTracker(target.pid, b.name);
    t.after(() => tracker.stop());
    tracker.collect(); // iteration 0: everything present
    for (let k = 1; k <= 3; k++) {
      process.kill(target.pid, 'SIGUSR1');
      await waitForLog(target.log, new RegExp(`^ROUND ${k} `, 'm'));
      const got = pageSet(tracker.collect());
      const want = addrs(join(target.dir, `round-${k}.bin`));
      const missed = want.filter((a) => !got.has(a));
      assert.equal(missed.length, 0, `round ${k}: ${missed.length} written pages not reported`);
      const inRegion = [...got].filter((a) => a >= lo && a < hi);
      const extra = inRegion.length - want.length;
      t.diagnostic(`${b.name} round ${k}: ${want.length} written, ${got.size} reported (${extra} extra in the region)`);
      if (b.name === 'uffd') assert.equal(extra, 0, `round ${k}: uffd reported ${extra} pages that were not written`);
      const fresh = addrs(join(target.dir, `new-${k}.bin`));
      for (let i = 0; i < fresh.length; i += 2) {
        for (let a = fresh[i]!; a < fresh[i + 1]!; a += 4096) assert.ok(got.has(a), `round ${k}: page ${a.toString(16)} of a new mapping not reported`);
      }
    }
  });
}

/** No page of the process is uffd-write-protected any more (pagemap bit 57). */
function protectedPages(pid: number, lo: number, hi: number): number {
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  const buf = Buffer.alloc(((hi - lo) / 4096) * 8);
  readSync(fd, buf, 0, buf.length, (lo / 4096) * 8);
  closeSync(fd);
  let n = 0;
  for (let i = 0; i < buf.length; i += 8) if (buf.readUInt32LE(i + 4) & (1 << 25)) n++;
  return n;
}

test('uffd: stopping, or kill -9 of the tracker, leaves no registration and no protection', async (t) => {
  if (!have.uffd) { t.skip('this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN'); return; }
  const target = await launch(t, 'track-stop', [buildProgram('dirtier')]);
  const m = /region=([0-9a-f]+)-([0-9a-f]+)/.exec(readFileSync(target.log, 'utf8'))!;
  const lo = parseInt(m[1]!, 16), hi = parseInt(m[2]!, 16);
  const smaps = () => readFileSync(`/proc/${target.pid}/smaps`, 'utf8');
  const tracker = startTracker(target.pid, 'uffd');
  assert.match(smaps(), /VmFlags:.* uw/, 'tracking armed');
  assert.ok(protectedPages(target.pid, lo, hi) > 0);
  tracker.stop();
  assert.doesNotMatch(smaps(), /VmFlags:.* uw/);
  assert.equal(protectedPages(target.pid, lo, hi), 0);
  // a tracker in another process, killed with SIGKILL while it tracks
  const holder = spawn(process.execPath, [join(ROOT, 'dist', 'test', 'lib', 'track-holder.js'), String(target.pid)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((res) => holder.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('TRACKING')) res(); }));
  assert.match(smaps(), /VmFlags:.* uw/);
  holder.kill('SIGKILL');
  await new Promise((res) => holder.on('exit', res));
  for (let i = 0; i < 40 && /VmFlags:.* uw/.test(smaps()); i++) await sleep(25);
  assert.doesNotMatch(smaps(), /VmFlags:.* uw/, 'registration left after kill -9 of the tracker');
  assert.equal(protectedPages(target.pid, lo, hi), 0, 'write-protection left after kill -9 of the tracker');
  assert.ok(existsSync(`/proc/${target.pid}`));
  process.kill(target.pid, 'SIGUSR1');
  await waitForLog(target.log, /^ROUND 1 /m); // and the process goes on
});
