// npm run bench, part 9: memory that is mostly zero, and many mappings. test/programs/zeroes.c
// maps 1 GiB: 600 MB read-faulted (the shared zero page), 200 MB written then memset to zero,
// 32 MB written then dropped, 8 MB of data it keeps writing. Its dump and restore on this host
// (images on /dev/shm), then `godwit migrate` of it between two simulated hosts: the bytes that
// move, the downtime and the destination's restore must follow the 8 MB, not the mapping. Then
// the restore of test/programs/manymaps.c, 500 small mappings: milliseconds, not a remote
// syscall round trip per mapping. RUNS (5) of each, median and worst; every run checks itself.
import { mkdtempSync, rmSync, readFileSync, existsSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dump } from '../src/core/dump.js';
import { restore } from '../src/core/restore.js';
import { buildProgram, waitForLog, askVerdict, startTarget, waitGone, type Target } from '../test/lib/harness.js';
import { simulatedHosts } from '../test/lib/hosts.js';
import { writeHostsFile, startMigrate } from '../test/lib/migrate.js';
import { mappingRss } from '../test/lib/zeroes.js';

const RUNS = Number(process.env.BENCH_ZERO_RUNS ?? 5);
const MB = 1e6;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const worst = (xs: number[]): number => Math.max(...xs);
const both = (xs: number[], f: (x: number) => string): string => `${f(median(xs))} / ${f(worst(xs))}`;
const ms = (x: number): string => x.toFixed(1);
const mb = (x: number): string => (x / MB).toFixed(1);

function imageBytes(dir: string): number {
  return readdirSync(dir).filter((f) => f.endsWith('.img')).reduce((t, f) => t + statSync(join(dir, f)).size, 0);
}

async function start(work: string, prog: string, args: string[] = []): Promise<Target> {
  return startTarget(work, [buildProgram(prog), ...args], { timeoutMs: 60_000 });
}

/** Dump (killing it) and restore a program on this host; returns what the round trip cost. */
async function roundTrip(prog: string, args: string[], zero: boolean): Promise<{ image: number; dumpMs: number; frozenMs: number; restoreMs: number; rss: number; pass: boolean }> {
  const work = mkdtempSync('/dev/shm/godwit-bench-zero-');
  try {
    const t = await start(work, prog, args);
    if (zero) {
      process.kill(t.pid, 'SIGUSR1');
      await waitForLog(t.log, /^ZEROED$/m);
    }
    const base = /base=0x([0-9a-f]+)/.exec(readFileSync(t.log, 'utf8'))?.[1];
    const img = join(work, 'img');
    const d = await dump({ pid: t.pid, dir: img });
    await waitGone(t.pid);
    const r = await restore({ dir: img, detach: true, pidWaitMs: 15_000 });
    const rss = base && zero ? mappingRss(t.pid, parseInt(base, 16)) : 0;
    const v = await askVerdict(t, 60_000);
    return { image: imageBytes(img), dumpMs: d.totalMs, frozenMs: d.freezeMs, restoreMs: r.restoreMs, rss, pass: v.pass };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The destination's own account of its last restore, from its agent's log at debug level: the
 * build's time (the builder process's, as the agent heard it) and, where the line has it, the
 * address spaces' part of it.
 */
function lastBuild(log: string, from: number): { buildMs: number; mmMs?: number } | null {
  const lines = readFileSync(log, 'utf8').slice(from).split('\n').filter((l) => l.includes('"tree built"'));
  const l = lines[lines.length - 1];
  if (!l) return null;
  const j = JSON.parse(l) as { buildMs?: number; restoreMs?: number; mmMs?: number };
  const buildMs = j.buildMs ?? j.restoreMs;
  return buildMs === undefined ? null : { buildMs, ...(j.mmMs !== undefined ? { mmMs: j.mmMs } : {}) };
}

console.log(`\n== memory that is mostly zero (zeroes.c: 1 GiB mapped, 8 MB of data), many mappings (manymaps.c); ${RUNS} runs, median / worst`);

{
  const rows = [];
  for (let i = 0; i < RUNS; i++) rows.push(await roundTrip('zeroes', [], true));
  console.log('| on this host | image MB | dump ms | frozen ms | restore ms | restored mapping RSS MB | check |');
  console.log('|---|---|---|---|---|---|---|');
  console.log(`| zeroes, dump + restore | ${both(rows.map((r) => r.image), mb)} | ${both(rows.map((r) => r.dumpMs), ms)} | ${both(rows.map((r) => r.frozenMs), ms)} | ` +
    `${both(rows.map((r) => r.restoreMs), ms)} | ${both(rows.map((r) => r.rss), mb)} | ${rows.every((r) => r.pass) ? 'PASS' : 'FAIL'} |`);
  const maps = [];
  for (let i = 0; i < RUNS; i++) maps.push(await roundTrip('manymaps', ['500'], false));
  console.log(`| manymaps 500, dump + restore | ${both(maps.map((r) => r.image), mb)} | ${both(maps.map((r) => r.dumpMs), ms)} | ${both(maps.map((r) => r.frozenMs), ms)} | ` +
    `${both(maps.map((r) => r.restoreMs), ms)} | - | ${maps.every((r) => r.pass) ? 'PASS' : 'FAIL'} |`);
}

{
  const afters: Array<() => void | Promise<void>> = [];
  try {
    // the agents log at debug level: the destination's restore times are in its log
    const c = await simulatedHosts({ after: (f) => { afters.push(f); } }, ['a', 'b'], { agentArgs: ['-v'] });
    const hosts = writeHostsFile(c);
    const rows: Array<{ pages: number; wire: number; down: number; restore: number; mm?: number; links: number; total: number; rss: number; pass: boolean }> = [];
    for (let i = 0; i < RUNS; i++) {
      const target = await c.launch('a', `zeroes${i}`, [buildProgram('zeroes')]);
      process.kill(target.pid, 'SIGUSR1');
      await waitForLog(target.log, /^ZEROED$/m);
      const from = existsSync(c.hosts.b!.log) ? statSync(c.hosts.b!.log).size : 0;
      const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)], undefined, 600_000).done;
      if (r.code !== 0 || !r.report?.downtime) throw new Error(`migrate exited ${r.code}: ${r.stderr.slice(-2000)}`);
      const rep = r.report;
      const down = r.report.downtime;
      const built = lastBuild(c.hosts.b!.log, from);
      const onB = c.rootPid('b', target.nsPid!);
      const rss = mappingRss(onB, parseInt(/base=0x([0-9a-f]+)/.exec(readFileSync(target.log, 'utf8'))![1]!, 16));
      const v = await askVerdict({ ...target, pid: onB }, 60_000);
      rows.push({
        pages: rep.iterations.reduce((s, x) => s + x.pagesBytes, 0) + (rep.final?.pagesBytes ?? 0),
        wire: rep.iterations.reduce((s, x) => s + x.wireBytes, 0) + (rep.final?.wireBytes ?? 0),
        down: down.totalMs, restore: built?.buildMs ?? down.restoreMs, ...(built?.mmMs !== undefined ? { mm: built.mmMs } : {}), links: rep.iterations.length + 1, total: rep.totalMs, rss, pass: v.pass,
      });
    }
    const mm = rows.every((r) => r.mm !== undefined) ? ` (address spaces ${both(rows.map((r) => r.mm!), ms)})` : '';
    console.log('| godwit migrate between simulated hosts | pages MB | wire MB | links | total ms | downtime ms | restore on B ms | mapping RSS on B MB | check |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    console.log(`| zeroes | ${both(rows.map((r) => r.pages), mb)} | ${both(rows.map((r) => r.wire), mb)} | ${median(rows.map((r) => r.links))} | ${both(rows.map((r) => r.total), ms)} | ` +
      `${both(rows.map((r) => r.down), ms)} | ${both(rows.map((r) => r.restore), ms)}${mm} | ${both(rows.map((r) => r.rss), mb)} | ${rows.every((r) => r.pass) ? 'PASS' : 'FAIL'} |`);
  } finally {
    for (const f of afters.reverse()) await f();
  }
}
