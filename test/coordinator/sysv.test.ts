// System V IPC between simulated hosts (each has its own IPC namespace): a process with a
// segment, a semaphore set and a message queue migrates with its objects, which keep their ids,
// keys and contents on B and are gone from A; preflight refuses a destination where a key is
// taken. And a dump that leaves the tree running (-R) restores on another host.
import { test } from 'node:test';
import { attachFromOutside } from '../lib/sysv.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, buildProgram, askVerdict, notPassing, alive, runsUntraced, waitForLog, sleep } from '../lib/harness.js';
import { simulatedHosts, hostPrefix, type Cluster } from '../lib/hosts.js';
import { writeHostsFile, startMigrate } from '../lib/migrate.js';

/** /proc/sysvipc/KIND as a host's IPC namespace lists it: rows of [key, id]. */
function objectsOn(c: Cluster, host: string, kind: 'shm' | 'sem' | 'msg'): Array<[number, number]> {
  const r = spawnSync('nsenter', ['-t', String(c.hosts[host]!.init), '-i', '--', 'cat', `/proc/sysvipc/${kind}`], { encoding: 'utf8' });
  return r.stdout.split('\n').slice(1).filter((l) => l.trim()).map((l) => { const f = l.trim().split(/\s+/).map(Number); return [f[0]!, f[1]!]; });
}

/** `godwit ARGS` run inside a host (its PID, mount and IPC namespaces). */
function godwitOn(c: Cluster, host: string, args: string[]): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync(hostPrefix(c.hosts[host]!.init)[0]!, [...hostPrefix(c.hosts[host]!.init).slice(1), process.execPath, join(ROOT, 'bin', 'godwit.js'), ...args], { encoding: 'utf8', cwd: ROOT, timeout: 120_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

const base = (): number => 0x47620000 + (process.pid & 0xfff) * 16;

test('godwit migrate carries System V objects: same ids, keys and contents on B, gone on A', async (t) => {
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const b0 = base();
  const target = await c.launch('a', 'sysv-mig', [buildProgram('sysv-ipc'), b0.toString(16)]);
  const ready = readFileSync(target.log, 'utf8');
  const ids = { shm: Number(/shm=(\d+)/.exec(ready)![1]), sem: Number(/sem=(\d+)/.exec(ready)![1]), msg: Number(/msg=(\d+)/.exec(ready)![1]) };
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)]).done;
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(-3000)}`);
  assert.equal(r.report!.outcome, 'migrated');
  assert.ok(!alive(target.pid), 'the source copy is gone');
  ([['shm', 1], ['sem', 2], ['msg', 3]] as const).forEach(([kind, k]) => {
    assert.deepEqual(objectsOn(c, 'b', kind).filter(([key]) => key === b0 + k), [[b0 + k, ids[kind]]], `${kind} on B`);
    assert.deepEqual(objectsOn(c, 'a', kind).filter(([key, id]) => key === b0 + k || id === ids[kind]), [], `${kind} left on A`);
  });
  const onB = c.rootPid('b', target.nsPid!);
  assert.ok(onB > 0, 'the process runs on B');
  // the restorer sent the messages, but the process is the queue's last sender again: a second
  // migration finds the queue the tree's
  const q = spawnSync('nsenter', ['-t', String(c.hosts.b!.init), '-i', '-p', '-m', '--', 'cat', '/proc/sysvipc/msg'], { encoding: 'utf8' }).stdout
    .split('\n').map((l) => l.trim().split(/\s+/).map(Number)).find((f) => f[1] === ids.msg);
  assert.equal(q?.[5], target.nsPid, `msg_lspid on B: ${q?.[5]}`);
  assert.equal(notPassing(await askVerdict({ ...target, pid: onB }, 60_000)), null);
});

test('preflight refuses a destination where a System V key of the tree is taken', async (t) => {
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const b0 = base() + 0x100;
  const target = await c.launch('a', 'sysv-pf', [buildProgram('sysv-ipc'), b0.toString(16)]);
  // the same keys, taken on B by another copy of the program
  await c.launch('b', 'sysv-pf-b', [buildProgram('sysv-ipc'), b0.toString(16)]);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)]).done;
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`System V shared memory segment key 0x${(b0 + 1).toString(16)} \\(id \\d+\\): its key is taken`));
  assert.equal(r.report!.outcome, 'refused');
  assert.equal(await runsUntraced(target.pid), null);
  assert.equal(notPassing(await askVerdict(target)), null);
});

for (const name of ['sysv-shm', 'sysv-sem', 'sysv-msg']) {
  test(`${name}: dump -R on A leaves the tree and its objects there; the image restores on B`, async (t) => {
    const c = await simulatedHosts(t);
    const target = await c.launch('a', name, [buildProgram(`../matrix/${name}`)]);
    const id = Number(/id=(\d+)/.exec(readFileSync(target.log, 'utf8'))![1]);
    const kind = name.slice(5) as 'shm' | 'sem' | 'msg';
    const img = join(target.dir, 'img');
    await sleep(100);
    const d = godwitOn(c, 'a', ['dump', '-t', String(target.nsPid), '-D', img, '-R']);
    assert.equal(d.code, 0, d.stderr);
    const size = statSync(target.log).size;
    assert.equal(await runsUntraced(target.pid), null);
    assert.ok(objectsOn(c, 'a', kind).some(([, i]) => i === id), 'the objects stay on A');
    // the original checks itself first (and removes its objects); then its copy writes over its verdict
    assert.equal(notPassing(await askVerdict(target)), null);
    truncateSync(target.log, size);
    const r = godwitOn(c, 'b', ['restore', '-D', img, '-d']);
    assert.equal(r.code, 0, r.stderr);
    const onB = c.rootPid('b', Number(r.stdout.trim()));
    assert.ok(onB > 0 && alive(onB));
    assert.ok(objectsOn(c, 'b', kind).some(([, i]) => i === id), 'the same id on B');
    const v = await askVerdict({ ...target, pid: onB }, 30_000);
    assert.equal(notPassing(v), null);
    await waitForLog(target.log, new RegExp(`^PASS ${name}$`, 'm'));
  });
}

test('preflight refuses a tree whose System V segment a process outside it attaches too, before anything is frozen', async (t) => {
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const b0 = base() + 0x200;
  const target = await c.launch('a', 'sysv-shared', [buildProgram('sysv-ipc'), b0.toString(16)]);
  const shm = Number(/shm=(\d+)/.exec(readFileSync(target.log, 'utf8'))![1]);
  await c.launch('a', 'sysv-outsider', attachFromOutside(shm));
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)]).done;
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`System V shared memory segment key 0x${(b0 + 1).toString(16)} \\(id ${shm}\\) is attached 1 more time\\(s\\) by processes outside the tree`));
  assert.equal(await runsUntraced(target.pid), null);
  assert.equal(notPassing(await askVerdict(target)), null);
});
