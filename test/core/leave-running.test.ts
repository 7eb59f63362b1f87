// dump --leave-running (-R): the image is written and the tree goes on as if nothing happened:
// not traced, not stopped, and its own check passes without any restore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { askVerdict, buildProgram, godwit, launch, needCheckpointRestore, runsUntraced } from '../lib/harness.js';
import { assertNull, assertPass } from '../lib/asserts.js';

test('dump --leave-running: the process goes on as if nothing happened', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const target = await launch(t, 'leave', [buildProgram('threads')]);
  const img = join(target.dir, 'img');
  const d = godwit(['dump', '-t', String(target.pid), '-D', img, '-R']);
  assert.equal(d.code, 0, d.stderr);
  assertNull(await runsUntraced(target.pid));
  assert.equal(godwit(['inspect', img, '--json']).code, 0, 'the image is complete');
  assertPass(await askVerdict(target));
});
