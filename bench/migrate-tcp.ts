// npm run bench, part 6: what established TCP connections add to the downtime of `godwit migrate`:
// a server on host A with 0, 1, 100 and 1000 clients on host C, at a service address moved to B
// with --move-ip. Each connection holds 1 KiB the client has not read; after the move every client
// connection must echo a message through the server on B. The downtime of 0 connections is the
// baseline: the rows show what the connections add, and where (dump, restore, other).
import { execFileSync } from 'node:child_process';
import { simulatedHosts } from '../test/lib/hosts.js';
import { buildProgram, waitForLog, askVerdict, sleep } from '../test/lib/harness.js';
import { writeHostsFile, startMigrate } from '../test/lib/migrate.js';

const COUNTS = (process.env.BENCH_TCP_MIGRATE ?? '0,1,100,1000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_TCP_MIGRATE_RUNS ?? 3);

interface Row { conns: number; down: number; dump: number; transfer: number; restore: number; handover: number; resume: number; other: number; pass: boolean }

async function once(n: number): Promise<Row> {
  const afters: Array<() => void | Promise<void>> = [];
  try {
    const c = await simulatedHosts({ after: (f) => { afters.push(f); } }, ['a', 'b', 'c']);
    const net = c.hosts.a!.ip.split('.').slice(0, 3).join('.');
    const service = `${net}.100`;
    execFileSync('ip', ['-n', c.hosts.a!.netns, 'addr', 'add', `${service}/24`, 'dev', 'eth0']);
    const hosts = writeHostsFile(c);
    const server = await c.launch('a', 'echo', [buildProgram('tcpecho'), 'server', '7080']);
    const client = n ? await c.launch('c', 'clients', [buildProgram('tcpecho'), 'client', service, '7080', String(n)]) : null;
    if (client) await waitForLog(client.log, /^CONNECTED \d+$/m, 60_000);
    await sleep(300);
    const r = await startMigrate(['--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(server.nsPid), '--move-ip', `${service}/24`]).done;
    if (r.code !== 0 || !r.report?.downtime) throw new Error(`migrate exited ${r.code}: ${r.stderr.slice(-2000)}`);
    const d = r.report.downtime;
    const v = client ? await askVerdict(client, 60_000) : { pass: true, line: '' };
    if (client && !new RegExp(`echoed=${n}\\b`).test(v.line)) throw new Error(`${n} connections: ${v.line}`);
    return { conns: n, down: d.totalMs, dump: d.dumpMs, transfer: d.transferMs, restore: d.restoreMs, handover: d.handoverMs, resume: d.resumeMs, other: d.otherMs, pass: v.pass };
  } finally {
    for (const f of afters.reverse()) await f();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log('\n== godwit migrate of a server with its clients\' TCP connections (3 simulated hosts, --move-ip): downtime');
console.log(`runs per case: ${RUNS} (median shown); the 0 row is the baseline, "added" is what the connections cost`);
console.log('| connections | downtime ms | added ms | dump | transfer | restore (built at the final link) | address handover | resume | other | echo check |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
let base: number | undefined;
for (const n of COUNTS) {
  const rs: Row[] = [];
  for (let i = 0; i < RUNS; i++) rs.push(await once(n));
  const m = (k: keyof Omit<Row, 'pass' | 'conns'>) => median(rs.map((r) => r[k])).toFixed(1);
  const down = median(rs.map((r) => r.down));
  if (n === 0) base = down;
  console.log(`| ${n} | ${down.toFixed(1)} | ${base === undefined || n === 0 ? '' : (down - base).toFixed(1)} | ${m('dump')} | ${m('transfer')} | ${m('restore')} | ${m('handover')} | ${m('resume')} | ${m('other')} | ${rs.every((r) => r.pass) ? 'PASS' : 'FAIL'} |`);
}
