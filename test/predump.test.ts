// Iterative pre-copy from the command line, as CRIU users know it: pre-dump links while the
// process keeps running, a final dump with --prev-images-dir, and a restore that takes every
// page from the newest link holding it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram, launch, godwit, waitGone, waitForLog, verdict, sleep } from './lib/harness.js';
import { copyOut } from '../src/core/image/dense.js';
import { probeTracking } from '../src/core/check.js';

const uffd = probeTracking().uffd;

test('5 pre-dumps and a dump of a process that keeps writing restore with every page right', async (t) => {
  if (!uffd) { t.skip('this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN'); return; }
  const target = await launch(t, 'chain', [buildProgram('writer')]);
  const sizes: number[] = [];
  for (let k = 1; k <= 5; k++) {
    const args = ['pre-dump', '-t', String(target.pid), '-D', join(target.dir, `p${k}`)];
    if (k > 1) args.push('--prev-images-dir', `../p${k - 1}`);
    const r = godwit(args);
    assert.equal(r.code, 0, r.stderr);
    sizes.push(Number(/: ([\d.]+) MiB/.exec(r.stderr)![1]));
    await sleep(150);
  }
  const d = godwit(['dump', '-t', String(target.pid), '-D', join(target.dir, 'final'), '--prev-images-dir', join(target.dir, 'p5')]);
  assert.equal(d.code, 0, d.stderr);
  t.diagnostic(`links: ${sizes.map((s) => `${s} MiB`).join(', ')}; final: ${/([\d.]+) MiB of pages/.exec(d.stderr)?.[1]} MiB`);
  assert.ok(sizes[0]! >= 64, 'the first link holds every present page');
  for (const s of sizes.slice(1)) assert.ok(s < sizes[0]! / 2, `a later link holds ${s} MiB: more than what changed`);
  const chain = JSON.parse(godwit(['inspect', join(target.dir, 'final'), '--json']).stdout) as { chain: Array<{ kind: string; pages: number }> };
  assert.deepEqual(chain.chain.map((c) => c.kind), ['pre-dump', 'pre-dump', 'pre-dump', 'pre-dump', 'pre-dump', 'dump']);
  assert.match(godwit(['inspect', join(target.dir, 'final')]).stdout, /pre-dump chain, oldest first/);
  const r0 = godwit(['restore', '-D', join(target.dir, 'p3'), '-d']);
  assert.match(r0.stderr, /is a pre-dump \(memory only\)/);
  await waitGone(target.pid);
  const r = godwit(['restore', '-D', join(target.dir, 'final'), '-d']);
  assert.equal(r.code, 0, r.stderr);
  const v = await verdict(target, 30_000);
  assert.match(v, /^PASS/, v);
});

test('a first pass cut into links of --max-bytes, and a dump that carries what is still owed, restore every page', async (t) => {
  if (!uffd) { t.skip('this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN'); return; }
  const target = await launch(t, 'slices', [buildProgram('writer')]);
  const owed: number[] = [], sizes: number[] = [];
  for (let k = 1; k <= 2; k++) {
    const args = ['pre-dump', '-t', String(target.pid), '-D', join(target.dir, `p${k}`), '--max-bytes', '8M'];
    if (k > 1) args.push('--prev-images-dir', `../p${k - 1}`);
    const r = godwit(args);
    assert.equal(r.code, 0, r.stderr);
    sizes.push(Number(/: ([\d.]+) MiB in/.exec(r.stderr)![1]));
    owed.push(Number(/([\d.]+) MiB left for the next link/.exec(r.stderr)?.[1] ?? 0));
    await sleep(100);
  }
  // the first link: 8 MiB of the buffer; the second: 8 MiB more of it, and every page written since
  assert.ok(sizes[0]! <= 8 && sizes[1]! >= 8, `links of ${sizes.join(', ')} MiB`);
  assert.ok(owed[0]! >= 48 && owed[1]! <= owed[0]! - 7.9 && owed[1]! >= 40, `owed after each link: ${owed.join(', ')} MiB`);
  const d = godwit(['dump', '-t', String(target.pid), '-D', join(target.dir, 'final'), '--prev-images-dir', join(target.dir, 'p2')]);
  assert.equal(d.code, 0, d.stderr);
  const final = Number(/([\d.]+) MiB of pages/.exec(d.stderr)?.[1]);
  t.diagnostic(`owed after each link: ${owed.join(', ')} MiB; the final dump carried ${final} MiB`);
  assert.ok(final >= owed[1]!, `the final dump carried ${final} MiB of the ${owed[1]} MiB owed`);
  await waitGone(target.pid);
  const r = godwit(['restore', '-D', join(target.dir, 'final'), '-d']);
  assert.equal(r.code, 0, r.stderr);
  const v = await verdict(target, 30_000);
  assert.match(v, /^PASS/, v);
});

test('untrack ends a chain: no registration, no protection, no extra fd; the process goes on', async (t) => {
  if (!uffd) { t.skip('this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN'); return; }
  const target = await launch(t, 'untrack', [buildProgram('writer')]);
  const fds = () => readdirSync(`/proc/${target.pid}/fd`).length;
  const before = fds();
  const r = godwit(['pre-dump', '-t', String(target.pid), '-D', join(target.dir, 'p1')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(readFileSync(`/proc/${target.pid}/smaps`, 'utf8'), /VmFlags:.* uw/, 'tracking stays armed between links');
  assert.equal(fds(), before + 1, 'the parked tracker');
  const u = godwit(['untrack', '-t', String(target.pid), '--prev-images-dir', join(target.dir, 'p1')]);
  assert.equal(u.code, 0, u.stderr);
  assert.doesNotMatch(readFileSync(`/proc/${target.pid}/smaps`, 'utf8'), /VmFlags:.* uw/);
  assert.equal(fds(), before);
  const v = await verdict(target);
  assert.match(v, /^PASS/, v);
});

test('a pre-dump read keeps the rest of a run whose first mapping vanished before it was read', async (t) => {
  // the tracker collects runs while the tree is frozen; the pages are read after it runs again,
  // when the process may have unmapped a part of a run: only that part may come back empty
  const target = await launch(t, 'vanish', [buildProgram('vanish')]);
  const at = parseInt(/at=([0-9a-f]+)/.exec(readFileSync(target.log, 'utf8'))![1]!, 16);
  process.kill(target.pid, 'SIGUSR1');
  await waitForLog(target.log, /^GONE$/m);
  const half = 2 << 20, img = join(target.dir, 'pages.img');
  assert.throws(() => copyOut(target.pid, img, [{ start: at, pages: (2 * half) / 4096 }], false), /EFAULT|stopped after/, 'a dump (frozen) does not tolerate a hole');
  const out = copyOut(target.pid, img, [{ start: at, pages: (2 * half) / 4096 }], true);
  const data = readFileSync(img);
  // read as zero, the unmapped half takes no room: the image says it is zero
  assert.equal(data.length, half);
  assert.deepEqual(out.zero, [[at, at + half]], 'the unmapped half is recorded as zero');
  assert.deepEqual(out.entries, [{ start: at + half, pages: half / 4096, offset: 0 }]);
  let wrong = 0;
  for (let o = 0; o < half; o += 4096) if (data.readBigUInt64LE(o) !== BigInt(at + half + o)) wrong++;
  assert.equal(wrong, 0, `${wrong} of ${half / 4096} pages of the mapping still there were not read`);
  assert.match(await verdict(target), /^PASS/);
});

test('memory dropped with MADV_DONTNEED after a pre-dump comes back zero, not from the older link', async (t) => {
  if (!uffd) { t.skip('this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN'); return; }
  const target = await launch(t, 'zapper', [buildProgram('zapper')]);
  const p1 = godwit(['pre-dump', '-t', String(target.pid), '-D', join(target.dir, 'p1')]);
  assert.equal(p1.code, 0, p1.stderr);
  process.kill(target.pid, 'SIGUSR1');
  await waitForLog(target.log, /^ZAPPED$/m);
  const d = godwit(['dump', '-t', String(target.pid), '-D', join(target.dir, 'final'), '--prev-images-dir', join(target.dir, 'p1')]);
  assert.equal(d.code, 0, d.stderr);
  await waitGone(target.pid);
  const r = godwit(['restore', '-D', join(target.dir, 'final'), '-d']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(await verdict(target), /^PASS zapper: dropped MiB zero/);
});
