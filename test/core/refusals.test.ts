// What godwit does not support is refused at dump time: a non-zero exit, a short message naming
// the process and the fd (or the reason), no stack trace, and the tree left running exactly as it
// was: not traced, not stopped, its address space untouched, still counting.
import { test } from 'node:test';
import { attachFromOutside } from '../lib/sysv.js';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { askVerdict, buildProgram, godwit, kernel, launch, needCheckpointRestore, runsUntraced, type Target } from '../lib/harness.js';
import { assertNull, assertPass, assertRefused } from '../lib/asserts.js';

function maps(pid: number): string { return readFileSync(`/proc/${pid}/maps`, 'utf8'); }

async function refusedAndUntouched(target: Target, mustSay: RegExp[]): Promise<void> {
  const before = maps(target.pid);
  const d = godwit(['dump', '-t', String(target.pid), '-D', join(target.dir, 'img')]);
  assertRefused(d, [new RegExp(`\\b${target.pid}\\b`), ...mustSay]);
  assert.equal(maps(target.pid), before, 'the address space changed');
  assertNull(await runsUntraced(target.pid));
  assertPass(await askVerdict(target));
}

test('io_uring is refused at dump time, the process runs on untouched', async (t) => {
  if (!needCheckpointRestore(t)) return;
  if (!kernel.ioUring()) { t.skip('io_uring is disabled in this kernel (kernel.io_uring_disabled = 2)'); return; }
  const target = await launch(t, 'uring', [buildProgram('iouring')], { ready: /^READY (\d+)|^NOURING/m });
  if (!target.pid) { t.skip('io_uring_setup is not available in this kernel (CONFIG_IO_URING)'); return; }
  const fd = /fd=(\d+)/.exec(readFileSync(target.log, 'utf8'))![1];
  await refusedAndUntouched(target, [new RegExp(`\\bfd\\W{0,3}${fd}\\b`), /io_uring/]);
});

test('a terminal that is not a pseudo-terminal is refused at dump time, the process runs on untouched', async (t) => {
  if (!needCheckpointRestore(t)) return;
  if (!existsSync('/dev/console')) { t.skip('no /dev/console'); return; }
  // the console held as fd 7 by a plain counting program; opened by a process that leads no
  // session, so that the console does not become its controlling terminal (pseudo-terminals are
  // carried: see tmux.test.ts and matrix/pty.c)
  const target = await launch(t, 'tty', ['bash', '-c', `bash -c 'exec 7<>/dev/console; PROTO_KEEP_FDS=1 exec "${buildProgram('plain')}"'; true`]);
  await refusedAndUntouched(target, [/\bfd\W{0,3}7\b/, /terminal|console/i]);
});

test('a process under a seccomp filter is refused, and runs on untouched', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const target = await launch(t, 'seccomp', [buildProgram('seccomp')], { ready: /^READY (\d+)|^NOSECCOMP/m });
  if (!target.pid) { t.skip('seccomp filters (CONFIG_SECCOMP_FILTER) are not available'); return; }
  await refusedAndUntouched(target, [/seccomp/]);
});

test('a process in another network namespace is refused, and runs on untouched', async (t) => {
  if (!needCheckpointRestore(t)) return;
  if (!kernel.netns()) { t.skip('the kernel lacks network namespaces (CONFIG_NET_NS)'); return; }
  const target = await launch(t, 'netns', ['unshare', '--net', buildProgram('plain')]);
  await refusedAndUntouched(target, [/net(work)? namespace/]);
});

test('a System V segment that a process outside the tree attaches too is refused, the tree runs on untouched', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const base = 0x47610000 + (process.pid & 0xfff) * 16;
  const target = await launch(t, 'sysv-out', [buildProgram('sysv-ipc'), base.toString(16)]);
  const shm = Number(/shm=(\d+)/.exec(readFileSync(target.log, 'utf8'))![1]);
  await launch(t, 'sysv-outsider', attachFromOutside(shm));
  const key = (base + 1).toString(16).padStart(8, '0');
  await refusedAndUntouched(target, [new RegExp(`System V shared memory segment key 0x${key} \\(id ${shm}\\)`), /outside the tree/]);
});
