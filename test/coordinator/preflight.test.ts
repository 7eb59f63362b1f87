// Preflight refuses a move that cannot work before anything is frozen, with its reasons, and
// `godwit migrate` turns bad input into one clear line and a non-zero exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram, godwit, runsUntraced, waitForLog, alive, status, askVerdict, notPassing } from '../lib/harness.js';
import { simulatedHosts } from '../lib/hosts.js';
import { writeHostsFile, startMigrate, takePid } from '../lib/migrate.js';

test('--dry-run reports what the move needs and changes nothing', async (t) => {
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const target = await c.launch('a', 'dry', [buildProgram('bigcounter'), '64']);
  await waitForLog(target.log, /^TICK \d+$/m);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid), '--dry-run']).done;
  assert.equal(r.code, 0, r.stderr);
  const pf = r.report!.preflight!;
  assert.equal(r.report!.outcome, 'dry-run');
  assert.ok(pf.ok);
  assert.equal(pf.tree.root, target.nsPid);
  assert.ok(pf.tree.memoryBytes >= 64 << 20, `memory ${pf.tree.memoryBytes}`);
  assert.ok(pf.tree.files >= 2, 'the executable and libc at least');
  assert.equal(await runsUntraced(target.pid), null);
  assert.ok(c.rootPid('b', target.nsPid!) < 0);
});

test('preflight refuses a tree whose PID is taken, or whose mapped file is missing on the destination', async (t) => {
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  // a data file the program maps; on B a tmpfs hides it
  const dataDir = join(c.dir, 'data');
  mkdirSync(dataDir);
  writeFileSync(join(dataDir, 'table.bin'), Buffer.alloc(1 << 20, 7));
  const target = await c.launch('a', 'pf', [buildProgram('bigcounter'), '16']);
  await waitForLog(target.log, /^TICK \d+$/m);
  // the same PID, taken on B
  takePid(c, 'b', target.nsPid!);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)]).done;
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`PID ${target.nsPid} of the tree are taken on the destination`));
  assert.equal(r.report!.outcome, 'refused');
  assert.equal(await runsUntraced(target.pid), null);

  const mapper = await c.launch('a', 'map', ['python3', '-c',
    `import mmap,time,sys\nf=open('${join(dataDir, 'table.bin')}','rb')\nm=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)\nimport os\nprint(f'READY {os.getpid()}',flush=True)\ntime.sleep(600)`]);
  execFileSync('nsenter', ['-t', String(c.hosts.b!.init), '-m', '--', 'mount', '-t', 'tmpfs', 'hide', dataDir]);
  const r2 = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(mapper.nsPid)]).done;
  assert.equal(r2.code, 3, r2.stderr);
  assert.match(r2.stderr, /table\.bin is missing on the destination/);
  assert.ok(alive(mapper.pid));
  assert.equal(status(mapper.pid).TracerPid, '0');
});

test('godwit migrate: bad input gets one line and a non-zero exit', async (t) => {
  const c = await simulatedHosts(t, ['a']);
  const hosts = writeHostsFile(c);
  const bad = join(c.dir, 'bad-hosts');
  writeFileSync(bad, 'a ws://10.0.0.1:7749 token-file=/x\nb http://x\n');
  const tok = ['--token-file', c.tokenFile];
  const cases: Array<[string[], number, RegExp]> = [
    [['--to', 'ws://10.0.0.1:7749', '--from', 'a', '--pid', '5', '--hosts', hosts, '--token-file', join(c.dir, 'nope')], 2, /cannot read token file .*nope: ENOENT/],
    [['--to', 'nowhere', '--pid', '1', '--hosts', hosts], 2, /'nowhere' is not in .*hosts \(it lists a\)/],
    [['--to', 'b', '--pid', '1', '--hosts', join(c.dir, 'missing')], 2, /cannot read the hosts file .*missing: ENOENT/],
    [['--to', 'b', '--pid', '1', '--hosts', bad], 2, /bad-hosts:2: give the agent's URL/],
    [['--to', 'a', '--from', 'a', '--pid', '1', '--hosts', hosts], 2, /the same agent/],
    [['--to', 'ws://10.0.0.1:7749', '--from', 'a', '--pid', 'x', '--hosts', hosts], 2, /--pid|pid/],
    [['--to', 'ws://10.0.0.1:7749', '--from', 'a', '--pid', '5', '--hosts', hosts, '--bandwidth', 'fast'], 2, /--bandwidth fast: give bytes per second/],
    [['--to', 'ws://10.0.0.1:7749', '--from', 'a', '--pid', '5', '--hosts', hosts, '--slice', '100K'], 2, /--slice 100K: give a size such as 512M or 2G, at least 1 MiB/],
    [['--to', 'ws://10.0.0.1:7749', '--from', 'a', '--pid', '5', '--hosts', hosts, '--move-ip', '10.0.0.300/24'], 2, /--move-ip 10\.0\.0\.300\/24: .*10\.0\.0\.300 is not an IPv4 address/],
    [['--to', 'ws://10.0.0.1:7749', '--from', 'a', '--pid', '5', '--hosts', hosts, '--move-ip', '10.0.0.5'], 2, /--move-ip 10\.0\.0\.5: .*the prefix length is missing/],
    [['--to', 'ws://10.0.0.1:7749', '--from', 'a', '--pid', '5', '--hosts', hosts, '--hook-pre-restore', join(c.dir, 'no-such-hook')], 2, /--hook-pre-restore .*no-such-hook: not an executable file/],
    [['--to', 'ws://10.0.0.1:7749', '--from', 'a', '--pid', '5', '--hosts', hosts, '--hook-post-resume', hosts], 2, /--hook-post-resume .*hosts: not an executable file/],
    [['--to', `ws://${c.hosts.a!.ip}:1`, '--from', 'a', '--pid', '5', '--hosts', hosts, ...tok], 3, /cannot reach agent .*ECONNREFUSED.*nothing was done/],
    [['--to', `ws://${c.hosts.a!.ip}:1`, '--from', 'a', '--pid', '999999', '--hosts', hosts, '--dry-run', ...tok], 3, /cannot reach agent/],
  ];
  for (const [args, code, re] of cases) {
    const r = godwit(['migrate', ...args]);
    assert.equal(r.code, code, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'a stack trace');
  }
  // a PID that does not exist on the source
  const r = godwit(['migrate', '--from', 'a', '--to', `ws://${c.hosts.a!.ip}:7749`, '--pid', '999999', '--hosts', hosts, ...tok]);
  assert.equal(r.code, 2, r.stderr);
});

test('godwit migrate --new-pidns: where the PID is taken, the tree moves into a new PID namespace and keeps it', async (t) => {
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const target = await c.launch('a', 'ns', [buildProgram('bigcounter'), '32', '1']);
  await waitForLog(target.log, /^TICK \d+$/m);
  takePid(c, 'b', target.nsPid!);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid), '--new-pidns']).done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.report!.warnings.join('\n'), /restored into a new PID namespace/);
  // on this machine: host B's namespace, and one more inside it where the tree has its own PID
  const moved = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).find((p) => {
    try {
      const ns = status(p).NSpid?.split(/\s+/).map(Number) ?? [];
      return ns.length === 3 && ns[2] === target.nsPid && readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'bigcounter';
    } catch { return false; }
  });
  assert.ok(moved, 'no bigcounter with its own PID in a nested PID namespace');
  assert.equal(r.report!.destinationPid, status(moved).NSpid!.split(/\s+/).map(Number)[1], 'the report gives its PID on B');
  const v = await askVerdict({ ...target, pid: moved }, 60_000);
  assert.equal(notPassing(v), null);
});

test('a tree with a loopback TCP connection to a process that stays behind is refused before anything is frozen, and both ends go on', async (t) => {
  const c = await simulatedHosts(t);
  const hosts = writeHostsFile(c);
  const server = await c.launch('a', 'tcp-server', [buildProgram('tcpstream'), 'server', '7000']);
  const client = await c.launch('a', 'tcp-client', [buildProgram('tcpstream'), 'client', '127.0.0.1', '7000']);
  await waitForLog(server.log, /^CONNECTED$/m);
  const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(server.nsPid)]).done;
  assert.equal(r.code, 3, `exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, /the tree has 1 loopback connection\(s\) to processes outside it, which stay behind: 127\.0\.0\.1:7000 <-> 127\.0\.0\.1:\d+/);
  assert.equal(r.report?.iterations.length, 0, 'pre-copy ran');
  const [vs, vc] = await Promise.all([askVerdict(server, 30_000), askVerdict(client, 30_000)]);
  assert.equal(notPassing(vs), null);
  assert.equal(notPassing(vc), null);
});
