// `godwit agent` as an operator starts it: mistakes get one clear line and exit code 2, a good
// start logs structured lines, SIGTERM stops it with exit code 0. Each agent runs in a network
// namespace the test makes, so the addresses are the test's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT, tempDir, cleanup, sleep } from '../lib/harness.js';

const GODWIT = join(ROOT, 'bin', 'godwit.js');

function netns(t: { after: (f: () => void) => void }): string {
  const name = `gwcli${randomBytes(3).toString('hex')}`;
  assert.equal(spawnSync('ip', ['netns', 'add', name]).status, 0);
  spawnSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  t.after(() => { spawnSync('ip', ['netns', 'del', name]); });
  return name;
}

function agentCli(ns: string, args: string[], uid?: number): { code: number; stderr: string } {
  const as = uid !== undefined ? ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'] : [];
  const r = spawnSync('ip', ['netns', 'exec', ns, ...as, 'node', GODWIT, 'agent', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status ?? -1, stderr: r.stderr };
}

test('godwit agent refuses bad settings with one line and exit code 2', async (t) => {
  const ns = netns(t);
  const dir = tempDir('agent-cli');
  t.after(() => cleanup(dir));
  const good = join(dir, 'token'), open = join(dir, 'open'), short = join(dir, 'short');
  writeFileSync(good, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  writeFileSync(open, `${randomBytes(24).toString('hex')}\n`);
  chmodSync(open, 0o644);
  writeFileSync(short, 'abc\n', { mode: 0o600 });
  const state = ['--state-dir', join(dir, 'state')];
  const cases: Array<[string, string[], RegExp]> = [
    ['no token file', ['--listen', '127.0.0.1', ...state], /Missing required argument: token-file/],
    ['no listen address', ['--token-file', good, ...state], /Missing required argument: listen/],
    ['a token others can read', ['--listen', '127.0.0.1', '--token-file', open, ...state], /readable by others/],
    ['a short token', ['--listen', '127.0.0.1', '--token-file', short, ...state], /at least 16 bytes/],
    ['a missing token file', ['--listen', '127.0.0.1', '--token-file', join(dir, 'nope'), ...state], /cannot read token file .*ENOENT/],
    ['a bad address', ['--listen', 'a:b:c', '--token-file', good, ...state], /--listen a:b:c: give ADDRESS or ADDRESS:PORT/],
    ['a bad port', ['--listen', '127.0.0.1:99999', '--token-file', good, ...state], /bad port/],
    ['an address not on this host', ['--listen', '192.0.2.7', '--token-file', good, ...state], /cannot listen on 192\.0\.2\.7:7749: EADDRNOTAVAIL/],
    ['half the TLS files', ['--listen', '127.0.0.1', '--token-file', good, '--tls-cert', good, ...state], /TLS needs all of --tls-cert, --tls-key and --tls-ca/],
  ];
  for (const [what, args, want] of cases) {
    const r = agentCli(ns, args);
    assert.equal(r.code, 2, `${what}: exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, want, what);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: a stack trace`);
  }
  const nobody = agentCli(ns, ['--listen', '127.0.0.1', '--token-file', good, ...state], 65534);
  assert.notEqual(nobody.code, 0);
  assert.match(nobody.stderr, /root/);
});

test('godwit agent logs JSON lines, refuses a second agent on its port, and stops on SIGTERM', async (t) => {
  const ns = netns(t);
  const dir = tempDir('agent-run');
  t.after(() => cleanup(dir));
  const token = join(dir, 'token');
  writeFileSync(token, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  const log = join(dir, 'agent.log');
  writeFileSync(log, '');
  const p = spawn('ip', ['netns', 'exec', ns, 'node', GODWIT, 'agent', '--listen', '127.0.0.1', '--token-file', token, '--state-dir', join(dir, 'state')],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => { err += d.toString(); writeFileSync(log, err); });
  const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
  t.after(() => { try { p.kill('SIGKILL'); } catch { /* gone */ } });
  for (let i = 0; i < 400 && !err.includes('agent listening'); i++) await sleep(25);
  const first = JSON.parse(err.split('\n').find((l) => l.includes('agent listening'))!) as Record<string, unknown>;
  assert.equal(first.host, '127.0.0.1');
  assert.equal(first.port, 7749);
  assert.equal(first.level, 30);
  const second = agentCli(ns, ['--listen', '127.0.0.1', '--token-file', token, '--state-dir', join(dir, 'state2')]);
  assert.equal(second.code, 2);
  assert.match(second.stderr, /cannot listen on 127\.0\.0\.1:7749: EADDRINUSE/);
  p.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(readFileSync(log, 'utf8'), /"msg":"stopped"/);
});
