// godwit killed (SIGKILL, no chance to clean up) in the middle of a dump: the kernel detaches the
// tree, and every thread must find its own registers, mask and state then. Killed at several
// points of the dump, the process runs on each time and its memory is intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { buildProgram, launch, ROOT, sleep, alive, runsUntraced, askVerdict, notPassing, waitForLog } from '../lib/harness.js';

test('a dump killed at any point leaves the process running, untraced, its memory intact', async (t) => {
  const target = await launch(t, 'dump-killed', [buildProgram('bigcounter'), '512']);
  for (const ms of [30, 120, 300, 600]) {
    const g = spawn(process.execPath, [join(ROOT, 'bin', 'godwit.js'), 'dump', '-t', String(target.pid), '-D', join(target.dir, `img-${ms}`)],
      { stdio: 'ignore', cwd: target.dir });
    const done = new Promise((r) => g.on('exit', r));
    await sleep(ms);
    g.kill('SIGKILL');
    await done;
    await sleep(100);
    assert.ok(alive(target.pid), `the process died when godwit was killed ${ms} ms into the dump`);
    assert.equal(await runsUntraced(target.pid), null, `killed ${ms} ms in`);
  }
  await waitForLog(target.log, /^TICK \d+$/m);
  const v = await askVerdict(target, 60_000);
  assert.equal(notPassing(v), null);
});
