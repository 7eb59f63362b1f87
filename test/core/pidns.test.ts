// restore --new-pidns: where the tree's PID is taken on this host, the tree comes back in a fresh
// PID namespace under our init, with its own PID there, and runs on; plain restore refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, buildProgram, godwit, waitGone, askVerdict, notPassing, status, kernel } from '../lib/harness.js';

/** Start a sleep with PID `pid` (through ns_last_pid); false if another process got it first. */
function holdPid(pid: number): number {
  for (let i = 0; i < 5; i++) {
    const r = spawnSync('sh', ['-c', `echo ${pid - 1} > /proc/sys/kernel/ns_last_pid; sleep 600 >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
    const got = Number(r.stdout.trim());
    if (got === pid) return got;
    process.kill(got, 'SIGKILL');
  }
  return -1;
}

test('restore --new-pidns: the PID is taken here, the tree runs in a new PID namespace with its own', async (t) => {
  if (!kernel.checkpointRestore()) { t.skip('the kernel lacks CONFIG_CHECKPOINT_RESTORE (ns_last_pid)'); return; }
  const target = await launch(t, 'pidns', [buildProgram('bigcounter'), '16', '1']);
  const img = join(target.dir, 'img');
  assert.equal(godwit(['dump', '-t', String(target.pid), '-D', img]).code, 0);
  await waitGone(target.pid);
  const holder = holdPid(target.pid);
  assert.ok(holder > 0, `could not take PID ${target.pid} for the test`);
  t.after(() => { try { process.kill(holder, 'SIGKILL'); } catch { /* gone */ } });
  const refused = godwit(['restore', '-D', img, '-d']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, new RegExp(`PID ${target.pid} is taken by sleep \\(PID ${target.pid}\\)`));
  const r = godwit(['restore', '-D', img, '-d', '--new-pidns']);
  assert.equal(r.code, 0, r.stderr);
  const outer = Number(r.stdout.trim());
  t.after(() => { try { process.kill(outer, 'SIGKILL'); } catch { /* gone */ } });
  assert.match(r.stderr, new RegExp(`PID ${target.pid} there, ${outer} on this host`));
  const nspid = status(outer).NSpid!.split(/\s+/).map(Number);
  assert.deepEqual(nspid, [outer, target.pid], 'its own PID in a namespace one level down');
  assert.equal(readFileSync(`/proc/${outer}/comm`, 'utf8').trim(), 'bigcounter');
  const v = await askVerdict({ ...target, pid: outer }, 30_000);
  assert.equal(notPassing(v), null);
});

test('restore --new-pidns with --shell-job is refused in one line', () => {
  const r = godwit(['restore', '-D', '/nonexistent', '--new-pidns', '--shell-job']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--new-pidns and --shell-job do not go together/);
  assert.doesNotMatch(r.stderr, /at .*\.js/);
});
