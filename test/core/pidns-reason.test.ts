// A restore under godwit-hostinit that fails tells the user the restore's own reason, not the
// init's note that its child exited.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { innerReason, lineReader } from '../../src/core/pidns.js';

test('the inner restore\'s own line is the reason, not godwit-hostinit\'s', () => {
  const stderr = [
    '{"level":30,"module":"restore","msg":"something"}',
    'godwit: PID 4242 is taken by a running process (sleep); the tree needs its original PIDs. Stop that process, or restore on another host.',
    'godwit-hostinit: PID 2 exited with 6',
  ].join('\n');
  assert.match(innerReason(stderr), /^PID 4242 is taken by a running process/);
  assert.equal(innerReason('{"level":50,"err":"cannot bind unix socket /x again"}\ngodwit-hostinit: PID 2 exited with 1\n'), 'cannot bind unix socket /x again');
  assert.equal(innerReason(''), 'it exited');
});

test('the restorer\'s lines are read one by one, none lost when they come in one chunk (EXTERNAL and BUILT)', async () => {
  const out = new PassThrough();
  const next = lineReader(createInterface({ input: out }));
  out.write('EXTERNAL []\nBUILT 5001 12.5\n');
  assert.equal(await next(), 'EXTERNAL []');
  await new Promise((r) => setImmediate(r));
  assert.equal(await next(), 'BUILT 5001 12.5');
  out.end('RAN\n');
  assert.equal(await next(), 'RAN');
  assert.equal(await next(), null);
});
