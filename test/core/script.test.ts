// The example from the seeds: `setsid ./script < /dev/null &> log &` where the script loops
// `sleep 1; date` with a counter (test/programs/counter.sh). After the restore the log goes on
// from the count where it stopped: no number skipped, none repeated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROGRAMS, launch, godwit, needCheckpointRestore, roundTrip, waitForLog, sleep } from '../lib/harness.js';

function counts(log: string): number[] {
  return readFileSync(log, 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[0]));
}

test('a counting shell script goes on from its count', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const target = await launch(t, 'script', [join(PROGRAMS, 'counter.sh')], { ready: false });
  await waitForLog(target.log, /^3 /m);
  await roundTrip(target);
  const last = counts(target.log).at(-1)!;
  await waitForLog(target.log, new RegExp(`^${last + 2} `, 'm'), 10_000);
  await sleep(100);
  const all = counts(target.log);
  assert.deepEqual(all, all.map((_, i) => i + 1), `the count skipped or repeated: ${all.join(' ')}`);
  // the restored script is the same process, still counting once a second
  const stamps = readFileSync(target.log, 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[1]));
  const gap = stamps.at(-1)! - stamps.at(-2)!;
  assert.ok(gap > 0.9 && gap < 3, `lines ${gap.toFixed(2)} s apart after the restore`);
  assert.equal(godwit(['inspect', join(target.dir, 'img')]).code, 0);
});
