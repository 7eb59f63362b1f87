// Pseudo-terminals beyond the matrix's round trip (matrix/pty.c): a dump that leaves the tree
// running gives the terminal back its queued bytes; a restore whose pty index is taken on this
// host is refused before anything is built, naming the terminal and who holds it, and leaves
// nothing behind; the same image restores once the index is free.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram, launch, godwit, waitGone, alive, askVerdict, notPassing, kernel, treePids, leftovers, allPids } from '../lib/harness.js';

const ptyProgram = (): string => buildProgram('../matrix/pty');

test('a dump that leaves a pty\'s tree running puts its queued bytes back', async (t) => {
  if (!kernel.ptys()) { t.skip('no /dev/ptmx'); return; }
  const target = await launch(t, 'pty-r', [ptyProgram()]);
  const d = godwit(['dump', '-t', String(target.pid), '-D', join(target.dir, 'img'), '-R']);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(notPassing(await askVerdict(target)), null);
});

test('a restore whose pty index is taken here is refused before anything is built, and works once it is free', async (t) => {
  if (!kernel.ptys()) { t.skip('no /dev/ptmx'); return; }
  const target = await launch(t, 'pty-taken', [ptyProgram()]);
  const tty = /tty=(\/dev\/pts\/(\d+))/.exec(readFileSync(target.log, 'utf8'))!;
  const tree = [target.pid, ...treePids(target)];
  const img = join(target.dir, 'img');
  const d = godwit(['dump', '-t', String(target.pid), '-D', img]);
  assert.equal(d.code, 0, d.stderr);
  for (const p of tree) await waitGone(p);
  // a process of this host takes the index (/dev/ptmx gives the lowest free one: open until it comes)
  const hold = [
    'import os, sys, time',
    'keep = []',
    'while True:',
    '    m, s = os.openpty()',
    `    n = int(os.ttyname(s)[9:])`,
    `    if n == ${tty[2]}: break`,
    `    if n > ${tty[2]}: sys.exit('taken meanwhile')`,
    '    keep.append((m, s))',
    'for m, s in keep: os.close(m); os.close(s)',
    'print("READY", os.getpid(), flush=True)',
    'time.sleep(600)',
  ].join('\n');
  const holder = await launch(t, 'pty-holder', ['python3', '-c', hold]);
  const before = new Set(allPids());
  const r = godwit(['restore', '-D', img, '-d'], { cwd: target.dir });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`pseudo-terminal ${tty[1]} is in use on this host \\(by process ${holder.pid} \\(python3\\)\\)`));
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(tree.every((p) => !alive(p)), 'a process of the tree was left');
  assert.deepEqual(leftovers(before, target.dir, tree), []);
  process.kill(holder.pid, 'SIGKILL');
  await waitGone(holder.pid);
  const r2 = godwit(['restore', '-D', img, '-d'], { cwd: target.dir });
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(notPassing(await askVerdict(target)), null);
});
