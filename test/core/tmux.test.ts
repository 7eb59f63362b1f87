// A tmux server, its two sessions and the shells inside them (each counting in a loop) carried
// whole: both ends of every pty are in the tree. After a dump and restore on one host, and after
// `godwit migrate` between simulated hosts, tmux's own commands work against the same server:
// the counts go on, without a line lost or doubled, the earlier lines are still in the panes'
// history, both sessions are listed and keys sent reach the shell.
//
// The socket: on one host, under the test's directory. A migration binds it again on the
// destination, and the simulated hosts share /tmp, where the frozen source would still hold the
// name; so there it lives in /run, which is each host's own (as it is each machine's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { godwit, tempDir, cleanup, descendants, waitGone, alive, sleep, kernel } from '../lib/harness.js';
import { simulatedHosts, hostPrefix } from '../lib/hosts.js';
import { writeHostsFile, startMigrate } from '../lib/migrate.js';

const LOOP = 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done';

/** tmux against `sock`, run through `prefix` (nsenter into a host) */
function tmux(prefix: string[], sock: string, ...args: string[]): string {
  const argv = [...prefix, 'tmux', '-S', sock, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** What a pane holds, history included, without the empty lines. */
const pane = (prefix: string[], sock: string, s: string): string[] =>
  tmux(prefix, sock, 'capture-pane', '-p', '-J', '-S', '-', '-t', s).split('\n').filter((l) => l.trim());
const counts = (lines: string[]): number[] => lines.filter((l) => /^\d+$/.test(l)).map(Number);
const last = (prefix: string[], sock: string, s: string): number => Math.max(0, ...counts(pane(prefix, sock, s)));

async function until(what: string, f: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await sleep(50);
  }
}

/**
 * A detached tmux server (setsid, every fd above 2 closed, stdio to files, as the harness starts
 * its targets), its sessions `one` and `two` counting. Returns the server's PID as `prefix` sees it.
 */
async function startTmux(dir: string, sock: string, prefix: string[] = []): Promise<number> {
  const script = join(dir, 'start.sh');
  writeFileSync(script, [
    `for f in /proc/$$/fd/*; do n=\${f##*/}; [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-"; done`,
    `cd ${dir}`,
    'export SHELL=/bin/bash TERM=xterm',
    `tmux -S ${sock} -f /dev/null new-session -d -s one -x 100 -y 30 </dev/null >${dir}/tmux.log 2>&1`,
    `tmux -S ${sock} new-session -d -s two -x 100 -y 30`,
    ...['one', 'two'].map((s) => `tmux -S ${sock} send-keys -t ${s} '${LOOP}' Enter`),
  ].join('\n'));
  const argv = [...prefix, 'setsid', '-f', 'bash', script];
  assert.equal(spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' }).status, 0);
  for (const s of ['one', 'two']) await until(`session ${s} counts`, () => { try { return last(prefix, sock, s) >= 5; } catch { return false; } });
  return Number(tmux(prefix, sock, 'display', '-p', '-t', 'one', '#{pid}').trim());
}

/** The tmux server is the same and works: counts go on from where they were, keys reach a shell. */
async function checkTmux(prefix: string[], sock: string, before: Record<string, number>): Promise<string> {
  assert.match(tmux(prefix, sock, 'list-sessions'), /^one: .*\ntwo: /m);
  for (const s of ['one', 'two']) {
    await until(`session ${s} counts on past ${before[s]! + 10}`, () => last(prefix, sock, s) > before[s]! + 10);
    const c = counts(pane(prefix, sock, s));
    // the pane's history holds the lines from before the dump, and no count was lost or doubled
    assert.equal(c[0], 1, `session ${s}: the earlier lines are gone: ${c.slice(0, 5).join(' ')}`);
    assert.ok(c.every((n, i) => n === i + 1), `session ${s}: counts ${c.join(' ')}`);
  }
  tmux(prefix, sock, 'send-keys', '-t', 'two', 'C-c');
  await sleep(300);
  tmux(prefix, sock, 'send-keys', '-t', 'two', 'echo marker-$((6*7)) on $(tty)', 'Enter');
  await until('the shell in session two runs what was typed', () => pane(prefix, sock, 'two').some((l) => /^marker-42 on \/dev\/pts\/\d+$/.test(l)));
  return pane(prefix, sock, 'one').slice(-2).join(' ');
}

test('a tmux server with two sessions is dumped and restored whole, and tmux works against it', async (t) => {
  if (!kernel.ptys()) { t.skip('no /dev/ptmx'); return; }
  const dir = tempDir('tmux');
  const sock = join(dir, 'sock');
  let server = 0;
  t.after(() => {
    spawnSync('tmux', ['-S', sock, 'kill-server'], { stdio: 'ignore' });
    if (server > 0 && alive(server)) { try { process.kill(server, 'SIGKILL'); } catch { /* gone */ } }
    cleanup(dir);
  });
  server = await startTmux(dir, sock);
  const tree = [server, ...descendants(server)];
  const before = { one: last([], sock, 'one'), two: last([], sock, 'two') };
  const img = join(dir, 'img');
  const d = godwit(['dump', '-t', String(server), '-D', img]);
  assert.equal(d.code, 0, d.stderr);
  for (const p of tree) await waitGone(p);
  const r = godwit(['restore', '-D', img, '-d']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), String(server));
  const tail = await checkTmux([], sock, before);
  t.diagnostic(`before the dump: one at ${before.one}, two at ${before.two}; after the restore, one shows: ${tail}`);
});

test('godwit migrate moves a tmux server and its sessions to another host, where tmux works against them', async (t) => {
  if (!kernel.ptys()) { t.skip('no /dev/ptmx'); return; }
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const dir = join(c.dir, 'tmux');
  spawnSync('mkdir', [dir]);
  const sock = `/run/godwit-tmux-${randomBytes(3).toString('hex')}.sock`;
  const [onA, onB] = [hostPrefix(c.hosts.a!.init), hostPrefix(c.hosts.b!.init)];
  // PIDs on A start high, so that the same PIDs are free on B
  spawnSync('nsenter', ['-t', String(c.hosts.a!.init), '-p', '-m', '--', 'sh', '-c', 'echo 4999 > /proc/sys/kernel/ns_last_pid']);
  const nsPid = await startTmux(dir, sock, onA);
  const before = { one: last(onA, sock, 'one'), two: last(onA, sock, 'two') };
  const hostPid = c.rootPid('a', nsPid);
  const m = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(nsPid)]).done;
  assert.equal(m.code, 0, `exit ${m.code}\n${m.stderr}\n${m.stdout.slice(-3000)}`);
  assert.equal(m.report?.outcome, 'migrated');
  assert.ok(!alive(hostPid), 'the source copy is gone');
  assert.ok(c.rootPid('b', nsPid) > 0, 'the tmux server runs on B');
  const tail = await checkTmux(onB, sock, before);
  const rep = m.report!;
  t.diagnostic(`downtime ${rep.downtime?.totalMs} ms; on B, session one shows: ${tail}`);
});
