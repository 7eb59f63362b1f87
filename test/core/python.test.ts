// A real interpreter: Python 3 holding a 200 MB structure and a counter thread keeps both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { launch, PROGRAMS, roundTrip, verdict } from '../lib/harness.js';

test('python with 200 MB of objects and a thread', async (t) => {
  const target = await launch(t, 'python', ['python3', join(PROGRAMS, 'bigpy.py')], { timeoutMs: 60_000 });
  await roundTrip(target);
  const v = await verdict(target, 60_000);
  assert.match(v, /^PASS/, v);
});
