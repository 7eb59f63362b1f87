// External peers: a daemon whose stdout and stderr go to a pipe or a unix socket of a process
// outside the dumped tree (`daemon | cat > file`, a log collector), or that holds a stray pipe it
// never uses. The dump records them; the restore gives each a new far end (captured by
// godwit-sink by default), the restorer's own fd (--inherit-fd), or the same listener again
// (--ext-unix-sk). The process never gets SIGPIPE nor a failed write: its verdict passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { askVerdict, buildProgram, godwit, launch, needCheckpointRestore, notPassing, waitForLog, waitGone, alive, ROOT, type Target } from '../lib/harness.js';
import { assertNoStack } from '../lib/asserts.js';

const lastCount = (file: string): number => Math.max(-1, ...[...(existsSync(file) ? readFileSync(file, 'utf8') : '').matchAll(/^count (\d+)$/gm)].map((m) => Number(m[1])));

/** `peercounter | cat > peer.txt` (stderr too with `both`), a stray pipe to a sleep as fd 7 with `stray`. */
async function pipeline(t: Parameters<typeof launch>[0], tag: string, o: { both?: boolean; stray?: boolean } = {}): Promise<Target & { peer: string }> {
  const prog = buildProgram('peercounter');
  const stray = o.stray ? 'exec 7> >(exec sleep 600); ' : '';
  const target = await launch(t, tag, ['bash', '-c', `${stray}${o.both ? 'PEER_STDERR=1 ' : ''}"${prog}" out.log ${o.both ? '2>&1 ' : '2>/dev/null '}| cat > peer.txt`]);
  const peer = join(target.dir, 'peer.txt');
  await waitForLog(peer, /^count 5$/m);
  return { ...target, peer };
}

function dumpKill(target: Target): string {
  const img = join(target.dir, 'img');
  const d = godwit(['dump', '-t', String(target.pid), '-D', img]);
  assert.equal(d.code, 0, d.stderr);
  return img;
}

async function capturesOn(target: Target & { peer: string }, img: string, extra: string[] = []): Promise<void> {
  await waitGone(target.pid);
  // the reader outside sees EOF once the tree's copy is gone: cat exits, its file stops
  const before = lastCount(target.peer);
  const r = godwit(['restore', '-D', img, '-d', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /external peer pipe pipe:\[\d+\] \(process \d+ fd 1.*captured into/);
  const cap = join(img, 'captured');
  const files = readdirSync(cap);
  const out = files.map((f) => join(cap, f)).find((f) => lastCount(f) >= 0) ?? join(cap, files[0]!);
  await waitForLog(out, new RegExp(`^count ${before + 30}$`, 'm'));
  assert.equal(lastCount(target.peer), before, 'the old reader got lines after the dump');
  const v = await askVerdict(target);
  assert.equal(notPassing(v), null);
}

test('a daemon piped into a process outside the tree: dumped, and restored with its output captured', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const target = await pipeline(t, 'extpipe');
  const img = dumpKill(target);
  const ins = godwit(['inspect', img]);
  assert.match(ins.stdout, /external peers[\s\S]*pipe:\[\d+\]: pipe, the tree writes; pid \d+ fd 1/);
  await capturesOn(target, img);
});

test('daemon 2>&1 | cat, with a stray pipe it never uses: both captured, no SIGPIPE', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const target = await pipeline(t, 'extpipe2', { both: true, stray: true });
  const img = dumpKill(target);
  const ins = godwit(['inspect', img, '--json']);
  const ext = (JSON.parse(ins.stdout) as { external: Array<{ key: string; users: Array<{ fd: number }> }> }).external;
  assert.ok(ext.some((o) => o.users.some((u) => u.fd === 1) && o.users.some((u) => u.fd === 2)), JSON.stringify(ext));
  assert.ok(ext.some((o) => o.users.some((u) => u.fd === 7)), 'the stray pipe is recorded');
  await capturesOn(target, img);
});

test('--inherit-fd gives the tree the restorer\'s own pipe in place of its external one', async (t) => {
  if (!needCheckpointRestore(t)) return;
  const target = await pipeline(t, 'extinh');
  const img = dumpKill(target);
  const ext = (JSON.parse(godwit(['inspect', img, '--json']).stdout) as { external: Array<{ key: string; users: Array<{ fd: number }> }> }).external;
  const key = ext.find((o) => o.users.some((u) => u.fd === 1))!.key;
  await waitGone(target.pid);
  // bad input: a clear line and exit 2, nothing restored
  for (const bad of ['3:pipe:[1]', `fd[3]:pipe:[1]`, `fd[99]:${key}`]) {
    const r = godwit(['restore', '-D', img, '-d', '--inherit-fd', bad]);
    assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /^godwit: --inherit-fd/m);
    assertNoStack(r.stderr);
    assert.ok(!alive(target.pid));
  }
  const mine = join(target.dir, 'inherited.txt');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const r = spawnSync('bash', ['-c', `${q(process.execPath)} ${q(join(ROOT, 'bin', 'godwit.js'))} restore -D ${q(img)} -d --inherit-fd ${q(`fd[3]:${key}`)} 3> >(exec cat > ${q(mine)} 2>/dev/null)`], { encoding: 'utf8', cwd: target.dir });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${key.replace(/[[\]]/g, '\\$&')} .*inherited: the restorer's fd 3`));
  await waitForLog(mine, /^count \d+$/m);
  const first = lastCount(mine);
  await waitForLog(mine, new RegExp(`^count ${first + 20}$`, 'm'));
  const v = await askVerdict(target);
  assert.equal(notPassing(v), null);
});

/** A log collector listening at dir/collector.sock, appending what every connection sends to dir/collected.txt. */
async function collector(t: Parameters<typeof launch>[0], dir: string): Promise<{ pid: number; file: string; sock: string }> {
  const py = [
    'import os, socket, selectors',
    "s = socket.socket(socket.AF_UNIX); p = os.path.abspath('collector.sock')",
    'os.path.exists(p) and os.unlink(p)',
    's.bind(p); s.listen(16); sel = selectors.DefaultSelector(); sel.register(s, selectors.EVENT_READ)',
    "out = open('collected.txt', 'ab', buffering=0); print('READY', os.getpid(), flush=True)",
    'while True:',
    '  for k, _ in sel.select():',
    '    if k.fileobj is s: c, _ = s.accept(); sel.register(c, selectors.EVENT_READ)',
    '    else:',
    '      d = k.fileobj.recv(65536)',
    '      if d: out.write(d)',
    '      else: sel.unregister(k.fileobj); k.fileobj.close()',
  ].join('\n');
  const c = await launch(t, 'collector', ['python3', '-c', py]);
  t.after(() => { try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ } });
  void dir;
  return { pid: c.pid, file: join(c.dir, 'collected.txt'), sock: join(c.dir, 'collector.sock') };
}

for (const reconnect of [false, true]) {
  test(`a daemon writing to a log collector's unix socket: ${reconnect ? 'connected to the listener again (--ext-unix-sk)' : 'captured by default'}`, async (t) => {
    if (!needCheckpointRestore(t)) return;
    const col = await collector(t, '');
    const target = await launch(t, 'extunix', [buildProgram('peercounter'), 'out.log'], { env: { PEER_SOCKET: col.sock, PEER_STDERR: '1' } });
    await waitForLog(col.file, /^count 5$/m);
    const img = dumpKill(target);
    await waitGone(target.pid);
    const before = lastCount(col.file);
    const r = godwit(['restore', '-D', img, '-d', ...(reconnect ? ['--ext-unix-sk'] : [])]);
    assert.equal(r.code, 0, r.stderr);
    if (reconnect) {
      assert.match(r.stderr, new RegExp(`external peer unix socket:\\[\\d+\\] .*reconnected to ${col.sock}`));
      await waitForLog(col.file, new RegExp(`^count ${before + 30}$`, 'm'));
    } else {
      const m = /external peer unix socket:\[\d+\] .*captured into (\S+)/.exec(r.stderr);
      assert.ok(m, r.stderr);
      await waitForLog(m[1]!, new RegExp(`^count ${before + 30}$`, 'm'));
      assert.equal(lastCount(col.file), before, 'the collector got lines after the dump');
    }
    const v = await askVerdict(target);
    assert.equal(notPassing(v), null);
  });
}
