// Failure is part of the feature: refusals leave the process running untouched, a restore that
// cannot complete leaves nothing behind, bad input gets one clear line and a non-zero exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, readdirSync, truncateSync, statSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { launch, buildProgram, godwit, alive, status, verdict, waitGone, sleep, waitForLog } from '../lib/harness.js';

function noStack(s: string): void {
  assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+/, `a stack trace leaked:\n${s}`);
}

/** Mappings as the process sees them: a refused dump must leave no scratch area behind. */
function maps(pid: number): string { return readFileSync(`/proc/${pid}/maps`, 'utf8'); }

async function stillCounting(pid: number, log: string, mapsBefore?: string): Promise<void> {
  if (mapsBefore !== undefined) assert.equal(maps(pid), mapsBefore, 'the address space changed');
  const st = status(pid);
  assert.equal(st.TracerPid, '0', 'left traced');
  assert.notEqual(st.State?.[0], 't', 'left stopped');
  const v = await verdict({ pid, log, dir: '' });
  assert.match(v, /^PASS/, v);
}

test('io_uring is refused at dump time, the process runs on untouched', async (t) => {
  const bin = buildProgram('iouring');
  const target = await launch(t, 'uring', [bin], { ready: /READY (\d+)|NOURING/ });
  if (!target.pid) { t.skip('io_uring_setup is not available in this kernel'); return; }
  const dir = target.dir;
  const fd = /fd=(\d+)/.exec(readFileSync(target.log, 'utf8'))![1];
  const before = maps(target.pid);
  const d = godwit(['dump', '-t', String(target.pid), '-D', join(dir, 'img')]);
  assert.notEqual(d.code, 0);
  assert.match(d.stderr, new RegExp(`process ${target.pid}: fd ${fd} .*io_uring`));
  noStack(d.stderr);
  await stillCounting(target.pid, target.log, before);
});

test('a terminal is refused at dump time, the process runs on untouched', async (t) => {
  const bin = buildProgram('files'); // any protocol program; it is handed a pty master as fd 7
  const target = await launch(t, 'tty', ['bash', '-c', `exec 7<>/dev/ptmx; PROTO_KEEP_FDS=1 exec "${bin}"`]);
  const dir = target.dir;
  const d = godwit(['dump', '-t', String(target.pid), '-D', join(dir, 'img')]);
  assert.notEqual(d.code, 0);
  assert.match(d.stderr, new RegExp(`process ${target.pid}: fd 7 -> /dev/(ptmx|pts/\\d+): a terminal`));
  noStack(d.stderr);
  await stillCounting(target.pid, target.log);
});

test('a process under a seccomp filter is refused, and runs on untouched', async (t) => {
  const target = await launch(t, 'seccomp', [buildProgram('seccomp')], { ready: /READY (\d+)|NOSECCOMP/ });
  if (!target.pid) { t.skip('seccomp filters (CONFIG_SECCOMP_FILTER) are not available'); return; }
  const before = maps(target.pid);
  const d = godwit(['dump', '-t', String(target.pid), '-D', join(target.dir, 'img')]);
  assert.notEqual(d.code, 0);
  assert.match(d.stderr, new RegExp(`process ${target.pid} \\(seccomp\\): seccomp filters are not supported`));
  noStack(d.stderr);
  await stillCounting(target.pid, target.log, before);
});

test('a process in another network namespace is refused, and runs on untouched', async (t) => {
  const target = await launch(t, 'netns', ['unshare', '--net', buildProgram('files')]);
  const d = godwit(['dump', '-t', String(target.pid), '-D', join(target.dir, 'img')]);
  assert.notEqual(d.code, 0);
  assert.match(d.stderr, /another net namespace/);
  noStack(d.stderr);
  await stillCounting(target.pid, target.log);
});

test('dump --leave-running: the process goes on as if nothing happened', async (t) => {
  const bin = buildProgram('threads');
  const target = await launch(t, 'leave', [bin]);
  const dir = target.dir;
  const d = godwit(['dump', '-t', String(target.pid), '-D', join(dir, 'img'), '-R']);
  assert.equal(d.code, 0, d.stderr);
  await stillCounting(target.pid, target.log);
});

test('restore refuses when the PID is taken, and leaves nothing behind', async (t) => {
  const bin = buildProgram('files');
  const target = await launch(t, 'taken', [bin]);
  const dir = target.dir;
  const d = godwit(['dump', '-t', String(target.pid), '-D', join(dir, 'img'), '-R']);
  assert.equal(d.code, 0, d.stderr);
  const before = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
  const r = godwit(['restore', '-D', join(dir, 'img'), '-d']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`PID ${target.pid} is taken`));
  noStack(r.stderr);
  const after = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
  assert.ok(after <= before + 1, `processes were left behind: ${before} -> ${after}`);
  await stillCounting(target.pid, target.log);
});

async function dumped(tag: string, t: { after: (f: () => void) => void }): Promise<{ dir: string; img: string; pid: number }> {
  const target = await launch(t, tag, [buildProgram('memory')]);
  const dir = target.dir;
  const img = join(dir, 'img');
  const d = godwit(['dump', '-t', String(target.pid), '-D', img]);
  assert.equal(d.code, 0, d.stderr);
  await waitGone(target.pid);
  return { dir, img, pid: target.pid };
}

async function refusedCleanly(img: string, pid: number, re: RegExp): Promise<void> {
  const r = godwit(['restore', '-D', img, '-d']);
  assert.notEqual(r.code, 0, 'a damaged image was restored');
  assert.match(r.stderr, re);
  noStack(r.stderr);
  await sleep(100);
  assert.ok(!alive(pid), `PID ${pid} is running after a failed restore`);
}

test('a damaged page file is refused and nothing is left running', async (t) => {
  const { img, pid } = await dumped('damaged', t);
  const seg = readdirSync(img).find((f) => f.startsWith(`pages-${pid}.`))!;
  const fd = openSync(join(img, seg), 'r+');
  writeSync(fd, Buffer.from('corruption'), 0, 10, Math.floor(statSync(join(img, seg)).size / 2));
  closeSync(fd);
  await refusedCleanly(img, pid, /checksum mismatch/);
});

test('a truncated image is refused before anything is built', async (t) => {
  const { img, pid } = await dumped('truncated', t);
  const seg = readdirSync(img).find((f) => f.startsWith(`pages-${pid}.`))!;
  truncateSync(join(img, seg), 4096);
  await refusedCleanly(img, pid, /truncated/);
  truncateSync(join(img, `core-${pid}.mpk`), 100);
  await refusedCleanly(img, pid, /core-\d+\.mpk: truncated/);
});

test('an image of another format version is refused', async (t) => {
  const { img, pid } = await dumped('version', t);
  const inv = readFileSync(join(img, 'inventory.mpk'));
  inv.writeUInt32LE(99, 8);
  writeFileSync(join(img, 'inventory.mpk'), inv);
  await refusedCleanly(img, pid, /format version 99/);
});

test('bad input: clear messages and non-zero exits', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['dump', '-t', '999999', '-D', '/tmp/godwit-none'], /no process with PID 999999/],
    [['dump', '-D', '/tmp/x'], /Missing required argument: tree|t/],
    [['restore', '-D', '/nonexistent/image'], /does not exist/],
    [['inspect', '/tmp'], /inventory\.mpk: missing/],
    [['frobnicate'], /Unknown|unknown/],
  ];
  for (const [args, re] of cases) {
    const r = godwit(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, re, `godwit ${args.join(' ')}: ${r.stderr}`);
    noStack(r.stderr);
  }
});

test('a non-root user gets a clear message', async () => {
  const r = godwit(['dump', '-t', '1', '-D', '/tmp/godwit-nonroot'], { uid: 65534 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /needs root/);
  noStack(r.stderr);
  const r2 = godwit(['restore', '-D', '/tmp'], { uid: 65534 });
  assert.match(r2.stderr, /needs root/);
});

void waitForLog;
