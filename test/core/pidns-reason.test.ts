// A restore under godwit-hostinit that fails tells the user the restore's own reason, not the
// init's note that its child exited.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { innerReason } from '../../src/core/pidns.js';

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
