// A Node.js process: threads, JIT code, epoll, eventfds, a listening HTTP server. It still
// answers after restore, with its heap and counter intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROGRAMS, launch, roundTrip } from '../lib/harness.js';

function ask(port: number): Promise<{ hits: number; pid: number; heapOk: boolean }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve(JSON.parse(body) as { hits: number; pid: number; heapOk: boolean }));
    }).on('error', reject).on('timeout', () => reject(new Error('no answer')));
  });
}

test('a Node.js HTTP server answers after restore, its state intact', async (t) => {
  const target = await launch(t, 'node', [process.execPath, join(PROGRAMS, 'http-server.cjs')]);
  const port = Number(/port=(\d+)/.exec(readFileSync(target.log, 'utf8'))![1]);
  const before = await ask(port);
  assert.equal(before.hits, 1);
  await roundTrip(target);
  const after = await ask(port);
  assert.deepEqual(after, { hits: 2, pid: target.pid, heapOk: true });
  assert.equal((await ask(port)).hits, 3);
});
