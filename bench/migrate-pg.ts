// npm run bench, part 7: the downtime of `godwit migrate` of a PostgreSQL 15 cluster (100 000
// rows, the postmaster's whole tree with its System V segment and shared memory) between
// simulated hosts, with 1, 10 and 100 clients connected over TCP from the operator's network,
// each in an open transaction; --move-ip moves the service address. After the move every client
// commits on its same connection, and the count of rows must be right.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simulatedHosts } from '../test/lib/hosts.js';
import { writeHostsFile, startMigrate } from '../test/lib/migrate.js';
import { postgresOnHost, makeCluster, startPostgres, stopPostgres, client, one, loadRows } from '../test/lib/postgres.js';
import { startTarget, tempDir, cleanup } from '../test/lib/harness.js';

const COUNTS = (process.env.BENCH_PG_CLIENTS ?? '1,10,100').split(',').map(Number);
const RUNS = Number(process.env.BENCH_PG_RUNS ?? 3);

interface Row { clients: number; processes: number; down: number; dump: number; transfer: number; restore: number; handover: number; resume: number; other: number; total: number; pass: boolean; failed?: string }

async function once(n: number): Promise<Row> {
  const afters: Array<() => void | Promise<void>> = [];
  try {
    const c = await simulatedHosts({ after: (f) => { afters.push(f); } }, ['a', 'b']);
    const service = `${c.hosts.a!.ip.split('.').slice(0, 3).join('.')}.100`;
    execFileSync('ip', ['-n', c.hosts.a!.netns, 'addr', 'add', `${service}/24`, 'dev', 'eth0']);
    const { postmaster } = await postgresOnHost(c, 'a', service, 5432, { max_connections: n + 20 });
    afters.push(() => stopPostgres(c.rootPid('b', postmaster.nsPid!)));
    const setup = client(service, 5432);
    await setup.connect();
    await loadRows(setup, 100_000);
    await setup.end();
    const clients = Array.from({ length: n }, () => client(service, 5432));
    await Promise.all(clients.map((x) => x.connect()));
    await Promise.all(clients.map(async (x, i) => { await x.query('BEGIN'); await x.query('INSERT INTO items VALUES ($1, $2)', [200_000 + i, 'in flight']); }));
    const r = await startMigrate(['--hosts', writeHostsFile(c), '--from', 'a', '--to', 'b', '--pid', String(postmaster.nsPid), '--move-ip', `${service}/24`]).done;
    if (r.code !== 0 || !r.report?.downtime) {
      // a rolled-back migration is a figure too (the cluster runs on A): the row says why
      const why = /godwit: (.*)/.exec(r.stderr)?.[1] ?? `exit ${r.code}`;
      await Promise.all(clients.map((x) => x.query('COMMIT').then(() => x.end(), () => x.end())));
      return { clients: n, processes: r.report?.preflight?.tree.processes ?? 0, down: 0, dump: 0, transfer: 0, restore: 0, handover: 0, resume: 0, other: 0, total: r.report?.totalMs ?? 0, pass: false, failed: `exit ${r.code}: ${why}` };
    }
    await Promise.all(clients.map((x) => x.query('COMMIT')));
    const count = Number(await one(clients[0]!, 'SELECT count(*) FROM items'));
    await Promise.all(clients.map((x) => x.end()));
    const d = r.report.downtime;
    return {
      clients: n, processes: r.report.preflight?.tree.processes ?? 0, down: d.totalMs, dump: d.dumpMs, transfer: d.transferMs, restore: d.restoreMs, handover: d.handoverMs,
      resume: d.resumeMs, other: d.otherMs, total: r.report.totalMs ?? 0, pass: count === 100_000 + n,
    };
  } finally {
    for (const f of afters.reverse()) await f();
  }
}

/**
 * CRIU beside it, where it is (GODWIT_CRIU, else shared/tools/criu-4.2/criu): a stop-and-copy of
 * the same cluster on one host (dump with --tcp-established, restore), one client in an open
 * transaction. CRIU cannot pre-copy here (no soft-dirty): its dump + restore is its downtime.
 */
async function criuRow(): Promise<string> {
  const criu = process.env.GODWIT_CRIU ?? fileURLToPath(new URL('../../../shared/tools/criu-4.2/criu', import.meta.url));
  if (!existsSync(criu)) return `CRIU: not found (set GODWIT_CRIU to a criu binary to compare)`;
  const dir = tempDir('bench-pg-criu');
  let pid = 0;
  try {
    const cl = makeCluster(join(dir, 'pg'), { listen: '127.0.0.1', port: 25432, socketDir: join(dir, 'pg') });
    pid = (await startPostgres(cl, (cmd) => startTarget(dir, cmd, { ready: false }))).pid;
    const c = client('127.0.0.1', 25432);
    await c.connect();
    await loadRows(c, 100_000);
    await c.query('BEGIN');
    const img = join(dir, 'criu-img');
    mkdirSync(img);
    const t0 = performance.now();
    const d = spawnSync(criu, ['dump', '-t', String(pid), '-D', img, '--tcp-established', '-o', 'dump.log'], { encoding: 'utf8' });
    const dumpMs = performance.now() - t0;
    // its cause, not its warnings nor the lines that only say it failed
    const firstError = (f: string): string => {
      const errs = existsSync(join(img, f)) ? [...readFileSync(join(img, f), 'utf8').matchAll(/Error \([^)]*\): (.*)/g)].map((m) => m[1]!) : [d.stderr.trim()];
      return errs.find((e) => !/FAILED|failed with -1|for self/.test(e)) ?? errs[0] ?? 'no error logged';
    };
    if (d.status !== 0) { await c.end().catch(() => {}); return `CRIU 4.2 (${criu}): criu dump of the cluster refused: "${firstError('dump.log')}"; the cluster runs on`; }
    const t1 = performance.now();
    const r = spawnSync(criu, ['restore', '-d', '-D', img, '--tcp-established', '-o', 'restore.log'], { encoding: 'utf8' });
    const restoreMs = performance.now() - t1;
    if (r.status !== 0) return `CRIU 4.2: criu dump ${dumpMs.toFixed(0)} ms, then criu restore refused: "${firstError('restore.log')}"`;
    await c.query('COMMIT');
    await c.end();
    return `CRIU 4.2 stop-and-copy on one host (1 client): dump ${dumpMs.toFixed(0)} ms + restore ${restoreMs.toFixed(0)} ms = ${(dumpMs + restoreMs).toFixed(0)} ms frozen, before any byte crosses a network`;
  } finally {
    await stopPostgres(pid);
    cleanup(dir);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const criu = await criuRow();
console.log('\n== godwit migrate of PostgreSQL 15 (100 000 rows) with N clients in open transactions (2 simulated hosts, --move-ip): downtime');
console.log(`runs per case: ${RUNS} (median, and the worst run); every client commits on B afterwards`);
console.log(criu);
console.log('| clients | processes | downtime ms (median) | worst | dump | transfer | restore | address handover | resume | other | migration s | commits |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const n of COUNTS) {
  const rs: Row[] = [];
  for (let i = 0; i < RUNS; i++) rs.push(await once(n));
  const failed = rs.find((r) => r.failed);
  if (failed) {
    console.log(`| ${n} | ${failed.processes} | ${rs.filter((r) => !r.failed).length} of ${rs.length} runs migrated; the first failure: ${failed.failed} (after ${(failed.total / 1000).toFixed(1)} s) |||||||||| FAIL |`);
    continue;
  }
  const m = (k: 'dump' | 'transfer' | 'restore' | 'handover' | 'resume' | 'other') => median(rs.map((r) => r[k])).toFixed(1);
  console.log(`| ${n} | ${rs[0]!.processes} | ${median(rs.map((r) => r.down)).toFixed(1)} | ${Math.max(...rs.map((r) => r.down)).toFixed(1)} | ${m('dump')} | ${m('transfer')} | ${m('restore')} | ${m('handover')} | ${m('resume')} | ${m('other')} | ${(median(rs.map((r) => r.total)) / 1000).toFixed(1)} | ${rs.every((r) => r.pass) ? 'PASS' : 'FAIL'} |`);
}
