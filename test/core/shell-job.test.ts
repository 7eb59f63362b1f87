// A process on a terminal held outside its tree (script(1) gives it a real pty whose master
// script keeps). Without --shell-job the terminal is dumped like any external peer, and by
// default a restore gives the tree a new pty with the same settings, whose master godwit-sink
// holds, capturing what the tree writes. With --shell-job (a shell job: its session is outside
// too) it is restored onto the terminal of whoever restores it, in the foreground.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, buildProgram, launch, godwit, waitGone, waitForLog, sleep, alive } from '../lib/harness.js';

const counts = (text: string): number[] => [...text.matchAll(/^COUNT (\d+)\r?$/gm)].map((m) => Number(m[1]));

test('a terminal held outside the tree is dumped; restored, it is a new pty captured into a file', async (t) => {
  const bin = buildProgram('ttycount');
  const target = await launch(t, 'ttyext', ['script', '-qfec', `sh -c '${bin}; true'`, '/dev/null']);
  await waitForLog(target.log, /^COUNT 20\r?$/m);
  const img = join(target.dir, 'img');
  // left running: what was queued on the terminal is given back, the process counts on there
  const probe = godwit(['dump', '-t', String(target.pid), '-D', join(target.dir, 'probe'), '-R']);
  assert.equal(probe.code, 0, probe.stderr);
  const seen = Math.max(...counts(readFileSync(target.log, 'utf8')));
  await waitForLog(target.log, new RegExp(`^COUNT ${seen + 10}\\r?$`, 'm'));
  const d = godwit(['dump', '-t', String(target.pid), '-D', img]);
  assert.equal(d.code, 0, d.stderr);
  await waitGone(target.pid);
  const last = Math.max(...counts(readFileSync(target.log, 'utf8')));
  const r = godwit(['restore', '-D', img, '-d'], { cwd: target.dir });
  assert.equal(r.code, 0, r.stderr);
  const tty = /tty=(\/dev\/pts\/\d+)/.exec(readFileSync(target.log, 'utf8'))![1]!;
  const capture = join(img, 'captured', `${tty.slice(5).replace('/', '-')}.log`);
  await waitForLog(capture, new RegExp(`^COUNT ${last + 20}\\r?$`, 'm'));
  const after = counts(readFileSync(capture, 'utf8'));
  assert.ok(after[0]! > last && after[0]! <= last + 2, `counts went on from ${last} at ${after[0]}`);
  assert.ok(after.every((n, i) => i === 0 || n === after[i - 1]! + 1), 'a count was lost or doubled');
  process.kill(target.pid, 'SIGUSR2');
  const v = await waitForLog(capture, /^(PASS|FAIL).*$/m);
  assert.match(v[0], /^PASS/, readFileSync(capture, 'utf8').slice(-500));
  t.diagnostic(`before the dump ${last}, captured from ${after[0]}; ${/^counted .*$/m.exec(readFileSync(capture, 'utf8'))?.[0]}`);
  await waitGone(target.pid);
});

test('a shell job on a terminal comes back on the restorer\'s terminal (--shell-job)', async (t) => {
  const bin = buildProgram('tty');
  // `sh -c 'prog; true'` forks prog: it is a job of the shell, in the shell's session and group
  const target = await launch(t, 'tty', ['script', '-qfec', `sh -c '${bin}; true'`, '/dev/null']);
  const img = join(target.dir, 'img');
  const d = godwit(['dump', '-t', String(target.pid), '-D', img, '--shell-job']);
  assert.equal(d.code, 0, d.stderr);
  await waitGone(target.pid);
  const r0 = godwit(['restore', '-D', img, '-d']);
  assert.match(r0.stderr, /restore it with --shell-job/);
  assert.ok(!alive(target.pid));
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
