// Real services as they are: a Redis server keeps its data and goes on counting after restore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { launch, roundTrip } from '../lib/harness.js';

function cli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 5000 });
  return (r.stdout ?? '').trim();
}

test('redis-server keeps its keys and counters', async (t) => {
  const port = 20000 + (process.pid % 10000);
  const target = await launch(t, 'redis', ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    ready: /^(\d+):M .*Ready to accept connections/m,
  });
  assert.equal(cli(port, 'set', 'greeting', 'hello'), 'OK');
  for (let i = 0; i < 41; i++) cli(port, 'incr', 'counter');
  await roundTrip(target);
  assert.equal(cli(port, 'get', 'greeting'), 'hello');
  assert.equal(cli(port, 'incr', 'counter'), '42');
  assert.match(cli(port, 'info', 'server'), new RegExp(`process_id:${target.pid}`));
});
