// The command line as an operator uses it: restore in the foreground returns the tree's exit
// status, --pidfile, inspect for people and for scripts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, buildProgram, godwit, waitGone, waitForLog, sleep, ROOT } from '../lib/harness.js';

test('restore without -d waits for the tree and exits with its status', async (t) => {
  const bin = buildProgram('files');
  const target = await launch(t, 'fg', [bin]);
  const dir = target.dir;
  const img = join(dir, 'img');
  assert.equal(godwit(['dump', '-t', String(target.pid), '-D', img]).code, 0);
  await waitGone(target.pid);
  const pidfile = join(dir, 'root.pid');
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'godwit.js'), 'restore', '-D', img, '--pidfile', pidfile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number>((res) => child.on('exit', (c) => res(c ?? -1)));
  await waitForLog(pidfile, /^(\d+)$/m, 20_000);
  assert.equal(Number(readFileSync(pidfile, 'utf8')), target.pid);
  await sleep(200);
  process.kill(target.pid, 'SIGUSR2');
  const code = await exited;
  assert.match(readFileSync(target.log, 'utf8'), /^PASS/m);
  assert.equal(code, 0, 'the exit status of the restored root');
});

test('inspect shows the tree, its files and its pages; --json for scripts', async (t) => {
  const bin = buildProgram('tree');
  const target = await launch(t, 'inspect', [bin]);
  const dir = target.dir;
  const img = join(dir, 'img');
  assert.equal(godwit(['dump', '-t', String(target.pid), '-D', img, '-R']).code, 0);
  const j = godwit(['inspect', img, '--json']);
  assert.equal(j.code, 0, j.stderr);
  const s = JSON.parse(j.stdout) as { root: number; processes: Array<{ pid: number; ppid: number; fds: Array<{ kind: string }>; pages: number }> };
  assert.equal(s.root, target.pid);
  assert.equal(s.processes.length, 4);
  assert.equal(s.processes[0]!.pid, target.pid);
  assert.ok(s.processes.every((p) => p.pid === target.pid || s.processes.some((q) => q.pid === p.ppid)), 'every child has its parent in the image');
  assert.ok(s.processes[0]!.fds.some((f) => f.kind === 'pipe'));
  const h = godwit(['inspect', img]);
  assert.match(h.stdout, new RegExp(`pid ${target.pid} \\(tree\\)`));
  assert.match(h.stdout, /pipe:\[\d+\]/);
});
