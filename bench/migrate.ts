// npm run bench, part 4: `godwit migrate` between two simulated hosts, as an operator runs it:
// processes of 256 MiB, 1 GiB and 4 GiB dirtying 10 MB/s, and a 1 GiB process dirtying 300 MB/s
// that must converge (auto-converge slows it down). Prints downtime with its phases, total time,
// links and the ratio of total time to memory over the measured link bandwidth.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { simulatedHosts } from '../test/lib/hosts.js';
import { buildProgram, waitForLog, askVerdict } from '../test/lib/harness.js';
import { writeHostsFile, startMigrate } from '../test/lib/migrate.js';

const cases = (process.env.BENCH_MIGRATE ?? '256:10,1024:10,4096:10,1024:300').split(',').map((c) => c.split(':').map(Number) as [number, number]);
const RUNS = Number(process.env.BENCH_MIGRATE_RUNS ?? 1);
const MB = 1e6;

interface Row { mib: number; rate: number; down: number; phases: string; total: number; links: string; ratio: number; throttle: number; pass: boolean }

async function once(mib: number, rate: number): Promise<Row> {
  const afters: Array<() => void | Promise<void>> = [];
  try {
    const c = await simulatedHosts({ after: (f) => { afters.push(f); } });
    const hosts = writeHostsFile(c);
    const target = await c.launch('a', 'bench', [buildProgram('bigcounter'), String(mib), String(rate)]);
    await waitForLog(target.log, /^TICK \d+$/m, 120_000);
    const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)], undefined, 900_000).done;
    if (r.code !== 0 || !r.report?.downtime) throw new Error(`migrate exited ${r.code}: ${r.stderr.slice(-2000)}`);
    const rep = r.report;
    const d = rep.downtime!;
    const onB = c.rootPid('b', target.nsPid!);
    const v = await askVerdict({ ...target, pid: onB }, 120_000);
    const pageBytes = rep.iterations.reduce((s, i) => s + i.pagesBytes, 0);
    const secs = rep.iterations.reduce((s, i) => s + i.pagesBytes / Math.max(1, i.throughput), 0);
    const bw = secs ? pageBytes / secs : 1;
    return {
      mib, rate, down: d.totalMs, phases: `${d.dumpMs}/${d.transferMs}/${d.restoreMs}/${d.resumeMs}/${d.otherMs}`, total: rep.totalMs,
      links: rep.iterations.map((i) => (i.pagesBytes / MB).toFixed(0)).join('+') + `+${((rep.final?.pagesBytes ?? 0) / MB).toFixed(1)}`,
      ratio: rep.totalMs / 1000 / ((mib * 2 ** 20) / bw), throttle: Math.max(0, ...rep.iterations.map((i) => i.throttle)), pass: v.pass,
    };
  } finally {
    for (const f of afters.reverse()) await f();
  }
}

console.log('\n== godwit migrate between two simulated hosts (bigcounter: random pages dirtied at the given rate)');
console.log(`host: ${execFileSync('nproc', { encoding: 'utf8' }).trim()} CPUs, ${(Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) / 2 ** 20).toFixed(0)} GiB; runs per case: ${RUNS} (median shown)`);
console.log('| memory | dirtying | downtime ms | dump/transfer/restore/resume/other ms | total s | links MB | total / (memory / link bandwidth) | throttle | check |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const [mib, rate] of cases) {
  const rows: Row[] = [];
  for (let i = 0; i < RUNS; i++) rows.push(await once(mib, rate));
  rows.sort((a, b) => a.down - b.down);
  const m = rows[Math.floor(rows.length / 2)]!;
  console.log(`| ${mib} MiB | ${rate} MB/s | ${m.down.toFixed(1)} | ${m.phases} | ${(m.total / 1000).toFixed(2)} | ${m.links} | ${m.ratio.toFixed(2)} | ${m.throttle}% | ${rows.every((r) => r.pass) ? 'PASS' : 'FAIL'} |`);
}
