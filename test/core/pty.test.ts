// Pseudo-terminals beyond the matrix's round trip (matrix/pty.c): a dump that leaves the tree
// running gives the terminal back its queued bytes; a restore whose pty index is taken on this
// host is refused before anything is built, naming the terminal and who holds it, and leaves
// nothing behind; the same image restores once the index is free. A migration to a host where
// the index is taken is refused by its preflight, before anything is frozen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram, launch, godwit, waitGone, alive, askVerdict, notPassing, kernel, treePids, leftovers, allPids, runsUntraced } from '../lib/harness.js';
import { simulatedHosts } from '../lib/hosts.js';
import { writeHostsFile, startMigrate } from '../lib/migrate.js';

const ptyProgram = (): string => buildProgram('../matrix/pty');

/** A python program that holds /dev/pts/N (/dev/ptmx gives the lowest free index: open until it comes). */
const holdIndex = (n: number): string => [
  'import os, sys, time',
  'keep = []',
  'while True:',
  '    m, s = os.openpty()',
  '    i = int(os.ttyname(s)[9:])',
  `    if i == ${n}: break`,
  `    if i > ${n}: sys.exit('taken meanwhile')`,
  '    keep.append((m, s))',
  'for m, s in keep: os.close(m); os.close(s)',
  'print("READY", os.getpid(), flush=True)',
  'time.sleep(600)',
].join('\n');

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
  // a process of this host takes the index
  const holder = await launch(t, 'pty-holder', ['python3', '-c', holdIndex(Number(tty[2]))]);
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

test('a migration to a host where the tree\'s pty index is taken is refused before anything is frozen', async (t) => {
  if (!kernel.ptys()) { t.skip('no /dev/ptmx'); return; }
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const target = await c.launch('a', 'pty-mig', [ptyProgram()]);
  const tty = /tty=(\/dev\/pts\/(\d+))/.exec(readFileSync(target.log, 'utf8'))!;
  await c.launch('b', 'pty-hold', ['python3', '-c', holdIndex(Number(tty[2]))]);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)]).done;
  assert.equal(r.code, 3, `exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`pseudo-terminal ${tty[1]} is in use on the destination`));
  assert.equal(r.report?.iterations.length, 0, 'pre-copy ran');
  assert.equal(await runsUntraced(target.pid), null);
  assert.equal(notPassing(await askVerdict(target)), null);
});
