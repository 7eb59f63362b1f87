// npm run bench, part 8: real servers migrated as a user would (`godwit migrate --move-ip`, with
// and without --new-pidns) between two simulated hosts, each with a client on the operator's
// network that checks every answer all along, and beside each the synthetic workload of the same
// memory (bench/migrate.ts's bigcounter) migrated the same way: the goal is each server's
// downtime within 1.2x of the synthetic workload's, and under 50 ms.
//
//   nginx       master + 2 workers (Debian's daemonized start), a keep-alive client fetching a 270 KB file
//   memcached   -t 10 -m 400, 10 000 keys of 4000 bytes, a client getting and setting them
//   redis       100 000 keys of 10 234 bytes (used_memory about 1 GiB), a client getting them
//   postgres    PostgreSQL 15, 100 000 rows, 1 client in an open transaction (it commits on B)
//
// Every run starts from fresh hosts and a fresh server: a tree restored in a new PID namespace
// cannot be migrated again (preflight refuses processes in another PID namespace), and both
// modes are measured the same way. A run that rolls back is a row saying why, not the end.
//
// GODWIT_BENCH_RUNS (5) runs per case (GODWIT_BENCH_SYNTH_RUNS, 3, of the synthetic); GODWIT_BENCH_SERVERS (nginx,memcached,redis,postgres);
// GODWIT_BENCH_MODES (plain,pidns); GODWIT_BENCH_SYNTH_RATE (10) MB/s the synthetic workload
// dirties, as bench/migrate.ts's; GODWIT_BENCH_CLIENT_PAUSE_MS (0) between a client's answer
// and its next request; GODWIT_BENCH_LOGS: where the agents' logs of every run are kept (else a
// new directory under /tmp). The agents log at debug level (GODWIT_LOG) unless told otherwise:
// the profile printed at the end is read from those logs. With GODWIT_AGENT_NODE_ARGS='--cpu-prof
// --cpu-prof-dir=DIR/{host}' each run's agents leave a CPU profile.
import { copyFileSync, mkdtempSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { simulatedHosts, type Cluster } from '../test/lib/hosts.js';
import { writeHostsFile, startMigrate, type MigrateRun } from '../test/lib/migrate.js';
import { buildProgram, waitForLog, askVerdict, sleep, alive } from '../test/lib/harness.js';
import { postgresOnHost, stopPostgres, client, one, loadRows } from '../test/lib/postgres.js';
import {
  addServiceAddress, startNginx, nginxOn, HttpLoop, startMemcached, memcachedOn, mcLoad, mcCheck, McLoop,
  startRedis, redisLoad, redisCheck, redisInfo, RedisConn, RedisLoop, placement, locate, type LoadStats,
} from '../test/lib/servers.js';
import type { MigrationReport } from '../src/coordinator/migration.js';

process.env.GODWIT_LOG ??= 'debug';
const RUNS = Number(process.env.GODWIT_BENCH_RUNS ?? 5);
const SERVERS = (process.env.GODWIT_BENCH_SERVERS ?? 'nginx,memcached,redis,postgres').split(',').filter(Boolean);
const MODES = (process.env.GODWIT_BENCH_MODES ?? 'plain,pidns').split(',').filter(Boolean) as Array<'plain' | 'pidns'>;
const SYNTH_RATE = Number(process.env.GODWIT_BENCH_SYNTH_RATE ?? 10);
// the synthetic workload varies little from run to run: fewer runs keep the bench within ~10 min
const SYNTH_RUNS = Number(process.env.GODWIT_BENCH_SYNTH_RUNS ?? Math.min(RUNS, 3));
const PAUSE = Number(process.env.GODWIT_BENCH_CLIENT_PAUSE_MS ?? 0);
const LOGS = process.env.GODWIT_BENCH_LOGS ?? mkdtempSync('/tmp/godwit-bench-servers-');
mkdirSync(LOGS, { recursive: true });
const GOAL_RATIO = 1.2, GOAL_MS = 50;
const MiB = 2 ** 20;

interface Run {
  server: string; mode: 'plain' | 'pidns'; run: number;
  /** why it is not a figure (rolled back, refused, a check failed) */
  failed?: string;
  report?: MigrationReport;
  /** the tree's anonymous and shared memory (Pss) just before the migration (the synthetic's: its size) */
  memBytes: number;
  /** the client's longest wait between two answers, across the migration (-1: no client loop) */
  clientGapMs: number;
  note: string;
}

/** What a server's setup hands the run: its tree, its client, and what to check afterwards. */
interface Started { pid: number; comm: string; cidr: string; loop?: { stats(): LoadStats; stop(): Promise<LoadStats>; resetGap(): void }; check(): Promise<string | null>; note: string; treeOnB(): string[] }

/** Pss of anonymous and shared memory of `pid` and its descendants (each page counted once across them). */
function treeMemory(pid: number): number {
  const kids = (p: number): number[] => { try { return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; } };
  let bytes = 0;
  for (let todo = [pid]; todo.length;) {
    const p = todo.pop()!;
    todo.push(...kids(p));
    try {
      const r = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      for (const f of ['Pss_Anon', 'Pss_Shmem']) bytes += Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(r)?.[1] ?? 0) * 1024;
    } catch { /* gone */ }
  }
  return bytes;
}

const loopCheck = (s: LoadStats): string | null =>
  s.failures.length ? `the client saw ${s.failures.length} failures: ${s.failures[0]}` : s.connections !== 1 ? `the client opened ${s.connections} connections` : null;

async function startServer(name: string, c: Cluster, after: (f: () => void | Promise<void>) => void): Promise<Started> {
  const svc = addServiceAddress(c, 'a');
  const t = { after };
  switch (name) {
    case 'nginx': {
      const n = await startNginx(t, c, 'a', svc.ip);
      const loop = await HttpLoop.start(n);
      loop.pauseMs = PAUSE;
      after(async () => { await loop.stop(); });
      return { pid: n.master, comm: 'nginx', cidr: svc.cidr, loop, note: 'master + 2 workers, GET 270 KB', check: async () => loopCheck(loop.stats()), treeOnB: () => nginxOn(c, 'b', n).missing };
    }
    case 'memcached': {
      const m = await startMemcached(t, c, 'a', svc.ip);
      await mcLoad(m, 10_000, 4000);
      const loop = await McLoop.start(m, 10_000, 4000);
      loop.pauseMs = PAUSE;
      after(async () => { await loop.stop(); });
      return {
        pid: m.pid, comm: 'memcached', cidr: svc.cidr, loop, note: `${m.threads.length} threads, 10k keys`, treeOnB: () => memcachedOn(c, 'b', m).missing,
        check: async () => loopCheck(loop.stats()) ?? ((await mcCheck(m, 10_000, 4000)).length ? 'keys are wrong on B' : null),
      };
    }
    case 'redis': {
      const r = await startRedis(t, c, 'a', svc.ip);
      const KEYS = 100_000, BYTES = 10_234; // a value and its sds header fill jemalloc's 10 KiB class
      await redisLoad(r, KEYS, BYTES);
      const conn = await RedisConn.connect(r.ip, r.port);
      after(() => conn.close());
      const used = Number(await redisInfo(conn, 'used_memory'));
      const loop = await RedisLoop.start(r, KEYS, BYTES);
      loop.pauseMs = PAUSE;
      after(async () => { await loop.stop(); });
      return {
        pid: r.pid, comm: 'redis-server', cidr: svc.cidr, loop, note: `100k keys, used_memory ${(used / 2 ** 30).toFixed(2)} GiB`,
        treeOnB: () => placement(c, 'b', 'redis-server', { [r.pid]: r.threads }).missing,
        check: async () => {
          const bad = loopCheck(loop.stats());
          if (bad) return bad;
          const size = await conn.command('DBSIZE');
          if (size !== KEYS) return `DBSIZE ${String(size)} on B`;
          const wrong = await redisCheck(conn, Array.from({ length: 1000 }, () => Math.floor(Math.random() * KEYS)), BYTES);
          return wrong.length ? `${wrong.length} of 1000 keys wrong on B: ${wrong[0]}` : null;
        },
      };
    }
    case 'postgres': {
      const { postmaster } = await postgresOnHost(c, 'a', svc.ip, 5432);
      after(() => stopPostgres(locate(c, 'b', postmaster.nsPid!, 'postgres')));
      const setup = client(svc.ip, 5432);
      await setup.connect();
      await loadRows(setup, 100_000);
      await setup.end();
      const c1 = client(svc.ip, 5432);
      await c1.connect();
      after(() => c1.end().catch(() => undefined));
      await c1.query('BEGIN');
      await c1.query(`INSERT INTO items VALUES (200000, 'in flight')`);
      return {
        pid: postmaster.nsPid!, comm: 'postgres', cidr: svc.cidr, note: '100k rows, 1 client in a transaction',
        treeOnB: () => placement(c, 'b', 'postgres', { [postmaster.nsPid!]: null }).missing,
        check: async () => {
          await c1.query('COMMIT');
          const n = Number(await one(c1, 'SELECT count(*) FROM items'));
          return n === 100_001 ? null : `${n} rows on B, not 100001`;
        },
      };
    }
    default: throw new Error(`GODWIT_BENCH_SERVERS: no server ${name} (nginx, memcached, redis, postgres)`);
  }
}

/** The reason `r` is not a migration: its own message, else its exit. */
const whyNot = (r: MigrateRun): string => `exit ${r.code}: ${/godwit: (.*)/.exec(r.stderr)?.[1] ?? r.report?.error ?? r.stderr.trim().split('\n').pop() ?? ''}`;

/**
 * Keep the run's agent logs. When the agents are profiled (GODWIT_AGENT_NODE_ARGS=--cpu-prof ...),
 * they are stopped with SIGTERM first: the teardown's SIGKILL would leave no profile.
 */
async function keepLogs(c: Cluster, tag: string): Promise<void> {
  if (/--cpu-prof/.test(process.env.GODWIT_AGENT_NODE_ARGS ?? '')) {
    const agents = Object.values(c.hosts).map((h) => h.agent).filter((p) => p > 1);
    for (const p of agents) { try { process.kill(p, 'SIGTERM'); } catch { /* gone */ } }
    for (let i = 0; i < 200 && agents.some((p) => alive(p)); i++) await sleep(25);
  }
  for (const h of Object.values(c.hosts)) { try { copyFileSync(h.log, join(LOGS, `${tag}-${h.name}.log`)); } catch { /* none */ } }
}

async function serverRun(server: string, mode: 'plain' | 'pidns', run: number): Promise<Run> {
  const afters: Array<() => void | Promise<void>> = [];
  const after = (f: () => void | Promise<void>) => { afters.push(f); };
  const out: Run = { server, mode, run, memBytes: 0, clientGapMs: -1, note: '' };
  let c: Cluster | null = null;
  try {
    c = await simulatedHosts({ after }, ['a', 'b']);
    const s = await startServer(server, c, after);
    out.note = s.note;
    await sleep(500);
    out.memBytes = treeMemory(locate(c, 'a', s.pid, s.comm));
    s.loop?.resetGap();
    const r = await startMigrate(['--hosts', writeHostsFile(c), '--from', 'a', '--to', 'b', '--pid', String(s.pid), '--move-ip', s.cidr, ...(mode === 'pidns' ? ['--new-pidns'] : [])], undefined, 600_000).done;
    if (r.report) out.report = r.report;
    if (r.code !== 0 || !r.report?.downtime) { out.failed = whyNot(r); return out; }
    // the client's wait across the freeze ends with its first answer after the resume
    await sleep(1500);
    if (s.loop) out.clientGapMs = s.loop.stats().maxGapMs;
    const missing = s.treeOnB();
    const bad = missing.length ? missing.join('; ') : await s.check();
    if (bad) out.failed = `migrated, but ${bad}`;
    return out;
  } catch (e) {
    out.failed = `the run broke: ${(e as Error).message.split('\n')[0]}`;
    return out;
  } finally {
    if (c) await keepLogs(c, `${server}-${mode}-${run}`);
    for (const f of afters.reverse()) { try { await f(); } catch { /* teardown goes on */ } }
  }
}

async function synthRun(mib: number, mode: 'plain' | 'pidns', run: number): Promise<Run> {
  const afters: Array<() => void | Promise<void>> = [];
  const out: Run = { server: `synthetic ${mib} MiB`, mode, run, memBytes: mib * MiB, clientGapMs: -1, note: `bigcounter ${mib} MiB, ${SYNTH_RATE} MB/s` };
  let c: Cluster | null = null;
  try {
    c = await simulatedHosts({ after: (f) => { afters.push(f); } });
    const target = await c.launch('a', 'synth', [buildProgram('bigcounter'), String(mib), String(SYNTH_RATE)]);
    await waitForLog(target.log, /^TICK \d+$/m, 120_000);
    const r = await startMigrate(['--hosts', writeHostsFile(c), '--from', 'a', '--to', 'b', '--pid', String(target.nsPid), ...(mode === 'pidns' ? ['--new-pidns'] : [])], undefined, 600_000).done;
    if (r.report) out.report = r.report;
    if (r.code !== 0 || !r.report?.downtime) { out.failed = whyNot(r); return out; }
    const v = await askVerdict({ ...target, pid: locate(c, 'b', target.nsPid!, 'bigcounter') }, 120_000);
    if (!v.pass) out.failed = `migrated, but ${v.line}`;
    return out;
  } catch (e) {
    out.failed = `the run broke: ${(e as Error).message.split('\n')[0]}`;
    return out;
  } finally {
    if (c) await keepLogs(c, `synthetic${mib}-${mode}-${run}`);
    for (const f of afters.reverse()) { try { await f(); } catch { /* teardown goes on */ } }
  }
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)]! : NaN; };
/** What the first pass (every present page, in slices) carried on the wire: the tree's memory without its zero pages. */
function firstPass(rep: MigrationReport | undefined): number {
  if (!rep) return 0;
  const end = rep.iterations.findIndex((i) => i.owedBytes === 0);
  return rep.iterations.slice(0, end < 0 ? rep.iterations.length : end + 1).reduce((t, i) => t + i.wireBytes, 0);
}
const sent = (rep: MigrationReport): number => rep.iterations.reduce((t, i) => t + i.wireBytes, 0) + (rep.final?.wireBytes ?? 0);
type Phase = 'dumpMs' | 'transferMs' | 'restoreMs' | 'handoverMs' | 'resumeMs' | 'otherMs';
const PHASES: Phase[] = ['dumpMs', 'transferMs', 'restoreMs', 'handoverMs', 'resumeMs', 'otherMs'];

interface Summary { ok: Run[]; failed: Run[]; down: number; worst: number }
function summarize(rs: Run[]): Summary {
  const ok = rs.filter((r) => !r.failed);
  const downs = ok.map((r) => r.report!.downtime!.totalMs);
  return { ok, failed: rs.filter((r) => r.failed), down: median(downs), worst: downs.length ? Math.max(...downs) : NaN };
}

function row(label: string, mode: string, rs: Run[], synth: Summary | null): string {
  const s = summarize(rs);
  const first = rs[0]!;
  const mem = `${(median(rs.map((r) => r.memBytes)) / MiB).toFixed(0)} / ${(median(rs.map((r) => firstPass(r.report))) / MiB).toFixed(0)}`;
  if (!s.ok.length) return `| ${label} | ${mode} | ${mem} | ${first.note} | 0 of ${rs.length} runs migrated: ${s.failed[0]!.failed} |||||||||||| MISS |`;
  const m = (f: (r: Run) => number, d = 1) => median(s.ok.map(f)).toFixed(d);
  const phases = PHASES.map((p) => m((r) => r.report!.downtime![p])).join(' / ');
  const gaps = s.ok.map((r) => r.clientGapMs).filter((g) => g >= 0);
  const ratio = synth && synth.ok.length ? s.down / synth.down : NaN;
  const goal = synth ? (Number.isFinite(ratio) && ratio <= GOAL_RATIO && s.down <= GOAL_MS && !s.failed.length ? 'PASS' : 'MISS') : '';
  const failedNote = s.failed.length ? ` (${s.failed.length} failed: ${s.failed[0]!.failed})` : '';
  return `| ${label} | ${mode} | ${mem} | ${first.note}${failedNote} | ${s.ok.length}/${rs.length} | ${s.down.toFixed(1)} | ${s.worst.toFixed(1)} | ${phases} | ` +
    `${m((r) => (r.report!.builtAheadBytes ?? 0) / MiB)} | ${m((r) => r.report!.totalMs / 1000, 2)} | ${m((r) => sent(r.report!) / 1e6, 0)} | ` +
    `${gaps.length ? Math.max(...gaps).toFixed(0) : '-'} | ${synth ? (synth.ok.length ? synth.down.toFixed(1) : 'failed') : ''} | ${Number.isFinite(ratio) ? ratio.toFixed(2) : ''} | ${goal} |`;
}

// ---- the profile, from the agents' logs of every run

interface LogLine { msg: string; [k: string]: unknown }
function logLines(file: string): LogLine[] {
  return readFileSync(file, 'utf8').split('\n').flatMap((l) => { try { return [JSON.parse(l) as LogLine]; } catch { return []; } });
}
const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);

/** From one run's logs: what the source's final dump and the destination's restore spent their time on. */
function profileOf(tag: string): Record<string, number> {
  const out: Record<string, number> = {};
  const a = logLines(join(LOGS, `${tag}-a.log`)), b = logLines(join(LOGS, `${tag}-b.log`));
  // 'pages dumped' and 'process dumped' are the final dump's, one per process (a pre-dump writes neither)
  const finalPages = a.filter((l) => l.msg === 'pages dumped');
  out.dumpScanMs = finalPages.reduce((t, l) => t + num(l.scanMs), 0);
  out.dumpCopyMs = finalPages.reduce((t, l) => t + num(l.copyMs), 0);
  const procs = a.filter((l) => l.msg === 'process dumped');
  out.processes = procs.length;
  out.threads = procs.reduce((t, l) => t + num(l.threads), 0);
  out.vmas = procs.reduce((t, l) => t + num(l.vmas), 0);
  out.finalMiB = procs.reduce((t, l) => t + num(l.bytes), 0) / MiB;
  // the first pass: the links up to the one that leaves nothing owed; what it read, and how much of that was zero pages
  const links = a.filter((l) => l.msg === 'link sent' && l.link !== 'final');
  const end = links.findIndex((l) => num(l.owedBytes) === 0);
  const pass = links.slice(0, end < 0 ? links.length : end + 1);
  out.passMiB = pass.reduce((t, l) => t + num(l.bytes), 0) / MiB;
  out.passZeroMiB = pass.reduce((t, l) => t + num(l.zeroBytes), 0) / MiB;
  const finalLink = a.find((l) => l.msg === 'link sent' && l.link === 'final');
  out.heldMs = num(finalLink?.freezeMs);
  const built = b.find((l) => l.msg === 'tree built');
  for (const k of ['buildMs', 'readMs', 'seedsMs', 'mmMs']) out[k] = num(built?.[k]);
  out.keptMiB = num(built?.keptBytes) / MiB;
  const ahead = b.find((l) => l.msg === 'memory built ahead');
  out.aheadMs = num(ahead?.ms);
  const dropped = b.find((l) => l.msg === 'memory built ahead dropped');
  if (dropped) out.dropped = 1;
  const pidns = b.find((l) => l.msg === 'restored');
  out.restoredMs = num(pidns?.restoreMs);
  return out;
}

function droppedWhy(tags: string[]): string {
  for (const t of tags) {
    const d = logLines(join(LOGS, `${t}-b.log`)).find((l) => l.msg === 'memory built ahead dropped');
    if (d) return String(d.why);
  }
  return '';
}

// ---- the runs

const tBench = performance.now();
const results = new Map<string, Run[]>();
for (const server of SERVERS) {
  for (const mode of MODES) {
    const rs: Run[] = [];
    for (let i = 0; i < RUNS; i++) rs.push(await serverRun(server, mode, i));
    results.set(`${server}/${mode}`, rs);
  }
}
// the synthetic workload of each server's memory, once per size and mode: as much memory as the
// server's first pass carried (its median), which is what pre-copy and building ahead work on
// (the synthetic's pages are neither zero nor compressible, so its first pass carries them all)
const sizeOf = (server: string): number => Math.max(8, Math.round(median(MODES.flatMap((m) => results.get(`${server}/${m}`)!.map((r) => firstPass(r.report))).filter((b) => b > 0)) / MiB));
const synth = new Map<string, Run[]>();
for (const server of SERVERS) {
  const mib = sizeOf(server);
  if (!Number.isFinite(mib)) continue;
  for (const mode of MODES) {
    const key = `${mib}/${mode}`;
    if (synth.has(key)) continue;
    const rs: Run[] = [];
    for (let i = 0; i < SYNTH_RUNS; i++) rs.push(await synthRun(mib, mode, i));
    synth.set(key, rs);
  }
}

console.log('\n== godwit migrate of real servers with their clients (2 simulated hosts, --move-ip), beside the synthetic workload of the same memory');
console.log(`runs per case: ${RUNS} (synthetic: ${SYNTH_RUNS}), each from fresh hosts and a fresh server; downtime median and worst; phases and the rest are medians; ` +
  `memory: the tree's anonymous and shared Pss before the migration / what the first pass carried (zero pages are not sent); synthetic: bigcounter of the first pass's memory dirtying ${SYNTH_RATE} MB/s, the same mode; ` +
  `goal: downtime <= ${GOAL_RATIO}x the synthetic's and <= ${GOAL_MS} ms${PAUSE ? `; clients pause ${PAUSE} ms between requests` : ''}`);
console.log('| server | mode | memory MiB: Pss / first pass | what | migrated | downtime ms | worst | dump / transfer / restore / handover / resume / other ms | built ahead MiB | total s | sent MB | client\'s longest wait ms | synthetic downtime ms | ratio | goal |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const server of SERVERS) {
  for (const mode of MODES) {
    const mib = sizeOf(server);
    const sy = synth.get(`${mib}/${mode}`);
    console.log(row(server, mode === 'pidns' ? '--new-pidns' : 'plain', results.get(`${server}/${mode}`)!, sy ? summarize(sy) : null));
  }
}
for (const [key, rs] of synth) {
  const [mib, mode] = key.split('/');
  console.log(row(`synthetic ${mib} MiB`, mode === 'pidns' ? '--new-pidns' : 'plain', rs, null));
}

console.log(`(this part took ${((performance.now() - tBench) / 60_000).toFixed(1)} min)`);
console.log(`\n== where the downtime goes, from the agents' logs (medians; logs of every run in ${LOGS})`);
console.log('first pass on A: the pages it read, and how many of them were zero; final dump on A: scan/copy ms of the dirty pages, processes/threads/VMAs, MiB; held: how long A held the frozen tree. On B: the restore\'s build (read the image, grow the seeds, build memory) and what was built ahead and kept.');
console.log('| case | first pass read / zero MiB | dump scan / copy ms | processes / threads / VMAs | final MiB | A held frozen ms | B build ms | read / seeds / memory ms | kept MiB | building ahead |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
const tagsOf = (prefix: string): string[] => readdirSync(LOGS).filter((f) => f.startsWith(`${prefix}-`) && f.endsWith('-a.log')).map((f) => f.slice(0, -6));
for (const key of [...results.keys(), ...[...synth.keys()].map((k) => `synthetic${k.split('/')[0]}/${k.split('/')[1]}`)]) {
  const [name, mode] = key.split('/');
  const tags = tagsOf(`${name}-${mode}`);
  if (!tags.length) continue;
  const ps = tags.map(profileOf);
  const m = (k: string, d = 0) => { const v = median(ps.map((p) => p[k] ?? NaN).filter(Number.isFinite)); return Number.isFinite(v) ? v.toFixed(d) : '-'; };
  const why = droppedWhy(tags);
  const ahead = why ? `dropped: ${why}` : ps.some((p) => Number.isFinite(p.aheadMs)) ? `built in ${m('aheadMs')} ms over pre-copy` : 'none';
  console.log(`| ${name} ${mode === 'pidns' ? '--new-pidns' : 'plain'} | ${m('passMiB')} / ${m('passZeroMiB')} | ${m('dumpScanMs', 1)} / ${m('dumpCopyMs', 1)} | ${m('processes')} / ${m('threads')} / ${m('vmas')} | ${m('finalMiB', 1)} | ${m('heldMs')} | ` +
    `${mode === 'pidns' ? `${m('restoredMs')} (in the new namespace's own restorer: not in the agent's log)` : m('buildMs')} | ${mode === 'pidns' ? '-' : `${m('readMs', 1)} / ${m('seedsMs', 1)} / ${m('mmMs')}`} | ${m('keptMiB', 1)} | ${ahead} |`);
}
