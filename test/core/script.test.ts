// The example from the seeds: `setsid ./script < /dev/null &> log &` looping `sleep 1; date` with a
// counter. After the restore the log goes on from the count where it stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { startTarget, tempDir, cleanup, godwit, waitGone, waitForLog, sleep } from '../lib/harness.js';

test('a counting shell script goes on from its count', async (t) => {
  const dir = tempDir('script');
  const pids: number[] = [];
  t.after(() => cleanup(dir, pids));
  const script = join(dir, 'script');
  writeFileSync(script, '#!/bin/bash\necho "READY $$"\ni=0\nwhile :; do i=$((i+1)); echo "$i $(date +%s.%N)"; sleep 1; done\n');
  chmodSync(script, 0o755);
  const target = await startTarget(dir, [script]);
  pids.push(target.pid);
  await waitForLog(target.log, /^3 /m);
  const d = godwit(['dump', '-t', String(target.pid), '-D', join(dir, 'img')]);
  assert.equal(d.code, 0, d.stderr);
  const before = readFileSync(target.log, 'utf8').trim().split('\n');
  const last = Number(before.at(-1)!.split(' ')[0]);
  await waitGone(target.pid);
  const r = godwit(['restore', '-D', join(dir, 'img'), '-d']);
  assert.equal(r.code, 0, r.stderr);
  await waitForLog(target.log, new RegExp(`^${last + 2} `, 'm'), 10_000);
  await sleep(100);
  const counts = readFileSync(target.log, 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(' ')[0]));
  assert.deepEqual(counts, counts.map((_, i) => i + 1), `the count skipped or repeated: ${counts.join(' ')}`);
});
