// A shell job on a terminal (script(1) gives it a real pty): dumped with --shell-job, restored
// with --shell-job onto the terminal of whoever restores it, in the foreground.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, buildProgram, launch, godwit, waitGone, waitForLog, sleep } from '../lib/harness.js';

test('a shell job on a terminal comes back on the restorer\'s terminal (--shell-job)', async (t) => {
  const bin = buildProgram('tty');
  // `sh -c 'prog; true'` forks prog: it is a job of the shell, in the shell's session and group
  const target = await launch(t, 'tty', ['script', '-qfec', `sh -c '${bin}; true'`, '/dev/null']);
  const img = join(target.dir, 'img');
  const refused = godwit(['dump', '-t', String(target.pid), '-D', img, '-R']);
  assert.notEqual(refused.code, 0, 'a terminal was dumped without --shell-job');
  assert.match(refused.stderr, /a terminal; dump a shell job with --shell-job/);
  const d = godwit(['dump', '-t', String(target.pid), '-D', img, '--shell-job']);
  assert.equal(d.code, 0, d.stderr);
  await waitGone(target.pid);
  const r0 = godwit(['restore', '-D', img, '-d']);
  assert.match(r0.stderr, /restore it with --shell-job/);
  const log2 = join(target.dir, 'restore.log');
  const cmd = `exec node ${join(ROOT, 'bin', 'godwit.js')} restore --shell-job -D ${img}`;
  const restorer = spawnSync('setsid', ['-f', 'bash', '-c', `exec script -qfec "${cmd}" /dev/null > ${log2} 2>&1 < /dev/null`], { stdio: 'ignore' });
  assert.equal(restorer.status, 0);
  for (let i = 0; i < 400 && !existsSync(`/proc/${target.pid}`); i++) await sleep(25);
  assert.ok(existsSync(`/proc/${target.pid}`), `not restored:\n${existsSync(log2) ? readFileSync(log2, 'utf8') : ''}`);
  await sleep(500);
  process.kill(target.pid, 'SIGUSR2');
  const m = await waitForLog(log2, /^(PASS|FAIL).*$/m, 20_000);
  assert.match(m[0], /^PASS/, readFileSync(log2, 'utf8'));
  assert.match(readFileSync(log2, 'utf8'), /counted \d+, terminal \/dev\/pts\/\d+ -> \/dev\/pts\/\d+/);
});
