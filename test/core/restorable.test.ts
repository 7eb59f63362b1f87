// Every refusal a restore makes for reasons in the image alone (image/restorable.ts) is made by
// the dump first, before the tree is killed (it runs on untraced and passes its own check), and
// by a migration's preflight before anything is frozen, naming the process, the fd and the way
// out. The trees here are real programs (test/programs/unrestorable.c).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { askVerdict, buildProgram, godwit, launch, needCheckpointRestore, runsUntraced, waitForLog, status, type Target } from '../lib/harness.js';
import { assertNoStack, assertNull, assertPass, assertRefused } from '../lib/asserts.js';
import { simulatedHosts } from '../lib/hosts.js';
import { writeHostsFile, startMigrate } from '../lib/migrate.js';

const cases = [
  { mode: 'inflight', says: [/in flight in its own queue/, /before the dump/] },
  { mode: 'dgram', says: [/connected to an unnamed socket/, /connect it to a named socket|keep both ends/] },
];

const fdOf = (t: Target): number => Number(/fd=(\d+)/.exec(readFileSync(t.log, 'utf8'))![1]);
const maps = (pid: number): string => readFileSync(`/proc/${pid}/maps`, 'utf8');

for (const c of cases) {
  test(`dump refuses what its restore would (${c.mode}), and the tree runs on untouched`, async (t) => {
    if (!needCheckpointRestore(t)) return;
    const target = await launch(t, `restorable-${c.mode}`, [buildProgram('unrestorable'), c.mode]);
    const before = maps(target.pid);
    const d = godwit(['dump', '-t', String(target.pid), '-D', join(target.dir, 'img')]);
    assertRefused(d, [new RegExp(`process ${target.pid}\\b`), new RegExp(`fd ${fdOf(target)}\\b`), ...c.says]);
    assert.equal(maps(target.pid), before, 'the address space changed');
    assertNull(await runsUntraced(target.pid));
    assertPass(await askVerdict(target));
  });
}

test('preflight refuses them too, before anything is frozen', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const cl = await simulatedHosts(t);
  const hosts = writeHostsFile(cl);
  for (const c of cases) {
    const target = await cl.launch('a', `pf-${c.mode}`, [buildProgram('unrestorable'), c.mode]);
    await waitForLog(target.log, /^READY/m);
    const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)]).done;
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.report!.outcome, 'refused');
    const said = r.report!.preflight!.problems.join('\n');
    for (const re of [new RegExp(`process ${target.nsPid}\\b`), new RegExp(`fd ${fdOf(target)}\\b`), ...c.says]) assert.match(said, re);
    assertNoStack(r.stderr);
    assert.equal(status(target.pid).TracerPid, '0');
    assertNull(await runsUntraced(target.pid));
    assertPass(await askVerdict(target));
  }
});
