// A restore that cannot be done is refused with a clear message and leaves nothing behind: no
// half-built process, no helper, and whatever was running before still runs untouched.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, openSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  allPids, askVerdict, buildProgram, descendants, godwit, launch, leftovers, needCheckpointRestore, runsUntraced, sleep, waitGone, type Target,
} from '../lib/harness.js';
import { assertNull, assertPass, assertRefused } from '../lib/asserts.js';

/** Restore `img`; it must be refused saying `mustSay`, and leave nothing running. */
async function refusedCleanly(img: string, dir: string, pids: number[], mustSay: RegExp[]): Promise<void> {
  const before = new Set(allPids());
  const r = godwit(['restore', '-D', img, '-d'], { cwd: dir });
  assertRefused(r, mustSay);
  await sleep(100);
  assert.deepEqual(leftovers(before, dir, pids), [], `left behind after: ${r.stderr.trim()}`);
}

test('restore refuses when the PID is taken, and leaves nothing behind', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const target = await launch(t, 'taken', [buildProgram('plain')]);
  const img = join(target.dir, 'img');
  const d = godwit(['dump', '-t', String(target.pid), '-D', img, '-R']);
  assert.equal(d.code, 0, d.stderr);
  await refusedCleanly(img, target.dir, [], [new RegExp(`\\b${target.pid}\\b`), /taken|in use|exists|busy/i]);
  assertNull(await runsUntraced(target.pid));
  assertPass(await askVerdict(target));
});

/** A dumped (and killed) tree.c tree (4 processes, a pipe, a shared file, shared memory): its image,
 * its PIDs free again. */
async function dumped(t: TestContext, tag: string): Promise<{ dir: string; img: string; pids: number[]; target: Target }> {
  const target = await launch(t, tag, [buildProgram('tree')]);
  const img = join(target.dir, 'img');
  const pids = [target.pid, ...descendants(target.pid)];
  const d = godwit(['dump', '-t', String(target.pid), '-D', img]);
  assert.equal(d.code, 0, d.stderr);
  for (const p of pids) await waitGone(p);
  return { dir: target.dir, img, pids, target };
}

test('every image file truncated: refused, naming the file, nothing left running', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const { dir, img, pids } = await dumped(t, 'truncated');
  const files = readdirSync(img).sort();
  assert.ok(files.length > 1, `the image holds ${files.join(', ')}`);
  for (const f of files) {
    const copy = join(dir, `img-${f}`);
    cpSync(img, copy, { recursive: true });
    truncateSync(join(copy, f), Math.floor(statSync(join(copy, f)).size / 2));
    await refusedCleanly(copy, dir, pids, [new RegExp(f.replace(/\./g, '\\.'))]);
  }
});

test('a damaged page file is refused and nothing is left running', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const { dir, img, pids } = await dumped(t, 'damaged');
  // the largest file holds page data: damage its middle, keeping its size
  const big = readdirSync(img).map((f) => ({ f, size: statSync(join(img, f)).size })).sort((a, b) => b.size - a.size)[0]!;
  const fd = openSync(join(img, big.f), 'r+');
  writeSync(fd, Buffer.from('corruption'), 0, 10, Math.floor(big.size / 2));
  closeSync(fd);
  await refusedCleanly(img, dir, pids, [new RegExp(big.f.replace(/\./g, '\\.')), /checksum|corrupt|damaged/i]);
});

test('an image of another format version is refused', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const { dir, img, pids } = await dumped(t, 'version');
  const inv = readFileSync(join(img, 'inventory.mpk'));
  inv.writeUInt32LE(99, 8); // the format version (see src/core/image)
  writeFileSync(join(img, 'inventory.mpk'), inv);
  await refusedCleanly(img, dir, pids, [/version 99/]);
});

test('the intact image of the same kind restores and passes (the control)', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const { img, target } = await dumped(t, 'control');
  const r = godwit(['restore', '-D', img, '-d']);
  assert.equal(r.code, 0, r.stderr);
  assertPass(await askVerdict(target));
});

test('restore refuses when a System V key of the image is taken, builds nothing, and goes once it is free', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const base = 0x47630000 + (process.pid & 0xfff) * 16;
  const target = await launch(t, 'sysv-taken', [buildProgram('sysv-ipc'), base.toString(16)]);
  const msg = Number(/msg=(\d+)/.exec(readFileSync(target.log, 'utf8'))![1]);
  const img = join(target.dir, 'img');
  const pids = [target.pid, ...descendants(target.pid)];
  const d = godwit(['dump', '-t', String(target.pid), '-D', img]);
  assert.equal(d.code, 0, d.stderr);
  for (const p of pids) await waitGone(p);
  const listed = (kind: string) => readFileSync(`/proc/sysvipc/${kind}`, 'utf8');
  for (const k of ['shm', 'sem', 'msg']) assert.doesNotMatch(listed(k), new RegExp(`^\\s*${base + 1}\\s|^\\s*${base + 2}\\s|^\\s*${base + 3}\\s`, 'm'), `the dump left its ${k} object`);
  // someone else takes the queue's key meanwhile
  const py = (code: string) => execFileSync('python3', ['-c', `import ctypes\nlibc = ctypes.CDLL(None)\n${code}`], { encoding: 'utf8' }).trim();
  const other = Number(py(`print(libc.msgget(${base + 3}, 0o1600))`));
  assert.ok(other >= 0);
  try {
    await refusedCleanly(img, target.dir, pids, [new RegExp(`System V message queue key 0x${(base + 3).toString(16)} \\(id ${msg}\\)`), /taken/]);
    for (const k of ['shm', 'sem']) assert.doesNotMatch(listed(k), new RegExp(`^\\s*${base + (k === 'shm' ? 1 : 2)}\\s`, 'm'), `the refused restore made the ${k} object`);
  } finally {
    py(`libc.msgctl(${other}, 0, None)`);
  }
  const r = godwit(['restore', '-D', img, '-d']);
  assert.equal(r.code, 0, r.stderr);
  assertPass(await askVerdict(target));
});
