// Bad input and missing privileges: one clear message, a non-zero exit, no stack trace, and a
// process that was named is left running untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { askVerdict, buildProgram, godwit, launch, needCheckpointRestore, runsUntraced } from '../lib/harness.js';
import { assertNull, assertPass, assertRefused } from '../lib/asserts.js';

test('bad input: clear messages and non-zero exits', () => {
  const cases: Array<[string[], RegExp[]]> = [
    [['dump', '-t', '999999', '-D', '/tmp/godwit-test-none'], [/999999/]],
    [['dump', '-D', '/tmp/godwit-test-none'], [/-t|tree/]],
    [['restore', '-D', '/nonexistent/image'], [/\/nonexistent\/image/]],
    [['inspect', '/tmp'], [/\/tmp/]],
    [['frobnicate'], [/unknown|frobnicate/i]],
  ];
  for (const [args, mustSay] of cases) assertRefused(godwit(args), mustSay);
});

test('a non-root user gets a clear message, and the process is left alone', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const target = await launch(t, 'nonroot', [buildProgram('plain')]);
  const img = join(target.dir, 'img');
  const d = godwit(['dump', '-t', String(target.pid), '-D', img], { uid: 65534 });
  assertRefused(d, [/root|privilege|permission/i]);
  assertNull(await runsUntraced(target.pid));
  // a real image, restored by the same user: refused too
  assert.equal(godwit(['dump', '-t', String(target.pid), '-D', img, '-R']).code, 0);
  assertRefused(godwit(['restore', '-D', img, '-d'], { uid: 65534 }), [/root|privilege|permission/i]);
  assertPass(await askVerdict(target));
});
