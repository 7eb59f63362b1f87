// `godwit migrate` of a daemon whose output goes to a process outside the tree, which stays
// behind on the source (`daemon 2>&1 | cat > file`): the report lists the peer and what it
// became, its output goes on into a capture file under the destination agent's state directory,
// and the source's reader sees EOF once the source's copy is gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram, askVerdict, notPassing, waitForLog, alive, processesIn, sleep } from '../lib/harness.js';
import { simulatedHosts } from '../lib/hosts.js';
import { writeHostsFile, startMigrate } from '../lib/migrate.js';

const lastCount = (file: string): number => Math.max(-1, ...[...(existsSync(file) ? readFileSync(file, 'utf8') : '').matchAll(/^count (\d+)$/gm)].map((m) => Number(m[1])));
const comm = (pid: number): string => { try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; } };

test('godwit migrate: a daemon piped into a reader on the source goes on writing into a capture file on B', async (t) => {
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const target = await c.launch('a', 'migpeer', ['bash', '-c', `PEER_STDERR=1 "${buildProgram('peercounter')}" out.log 2>&1 | cat > peer.txt`]);
  const peer = join(target.dir, 'peer.txt');
  await waitForLog(peer, /^count 5$/m);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)]).done;
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(-3000)}`);
  const rep = r.report!;
  assert.equal(rep.outcome, 'migrated');
  assert.ok(!alive(target.pid), 'the source copy is gone');
  // preflight said so before anything was frozen
  assert.ok(rep.preflight?.warnings.some((w) => /^pipe pipe:\[\d+\] \(process \d+ fd 1, process \d+ fd 2\) leads to a process outside the tree, which stays on the source/.test(w)),
    `no preflight warning of the peer: ${JSON.stringify(rep.preflight?.warnings)}`);
  const ext = rep.external ?? [];
  const out = ext.find((p) => p.kind === 'pipe' && p.users.some((u) => u.fd === 1) && p.users.some((u) => u.fd === 2));
  assert.ok(out, `the report lists the pipe: ${JSON.stringify(ext)}`);
  assert.equal(out.became, 'captured');
  const dir = join(c.hosts.b!.stateDir, 'captured', rep.migration);
  assert.ok(out.capture?.startsWith(`${dir}/`), `${out.capture} is under ${dir}`);
  // the reader that stayed behind saw EOF: cat exits, its file ends
  for (let i = 0; processesIn(target.dir).some((p) => comm(p) === 'cat'); i++) {
    assert.ok(i < 200, 'cat on the source never saw EOF');
    await sleep(50);
  }
  const ended = lastCount(peer);
  await waitForLog(out.capture!, new RegExp(`^count ${ended + 50}$`, 'm'), 30_000);
  assert.equal(lastCount(peer), ended);
  const onB = c.rootPid('b', target.nsPid!);
  const v = await askVerdict({ ...target, pid: onB }, 60_000);
  assert.equal(notPassing(v), null);
});
