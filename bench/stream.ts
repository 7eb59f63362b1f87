// npm run bench, part 3: streaming a running process's memory from simulated host A to host B
// (agents in their own network, PID and mount namespaces, over a veth pair and a bridge), for a
// compressible and an incompressible workload, with lz4 where it pays and without. Prints the
// page-data throughput of the pre-dump link and each agent's peak RSS (VmHWM).
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { simulatedHosts } from '../test/lib/hosts.js';
import { ROOT } from '../test/lib/harness.js';
import type { LinkResult } from '../src/agent/ops/send.js';
import type { Compression } from '../src/pageserver/protocol.js';

const MIB = Number(process.env.BENCH_STREAM_MIB ?? 1024);
const BIG = Number(process.env.BENCH_STREAM_BIG_MIB ?? 4096);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

const afters: Array<() => void | Promise<void>> = [];
const t = { after: (f: () => void | Promise<void>) => { afters.push(f); } };

function build(): string {
  const out = join(ROOT, 'native/build/streamhog');
  execFileSync('cc', ['-O2', '-o', out, join(ROOT, 'bench/programs/streamhog.c')]);
  return out;
}

const hwm = (pid: number): number => Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const hog = build();
  const c = await simulatedHosts(t);
  const a = await c.client('a'), b = await c.client('b');
  console.log(`\ngodwit bench: pre-dump link streamed from host A to host B over a veth and a bridge, median of ${RUNS}`);
  console.log('| workload | RSS | compression | link s | page data GB/s | on the wire | zero pages |');
  console.log('|---|---|---|---|---|---|---|');
  const run = async (mib: number, kind: string, comp: Compression, runs: number): Promise<void> => {
    const target = await c.launch('a', `${kind}-${mib}-${comp}`, [hog, String(mib), kind]);
    const res: LinkResult[] = [];
    for (let i = 0; i < runs; i++) {
      const { migration, key } = (await b.call('expect', { label: 'bench' })) as { migration: string; key: string };
      const peer = { url: c.hosts.b!.url, migration, key };
      res.push((await a.call('predump', { pid: target.nsPid!, peer, compress: comp })) as LinkResult);
      await a.call('cancel', { migration });
      await b.call('cancel', { migration });
    }
    if (target.pid > 1) process.kill(target.pid, 'SIGKILL');
    const r = res.sort((x, y) => x.throughput - y.throughput)[Math.floor(res.length / 2)]!;
    console.log(`| ${kind === 'text' ? 'compressible (text records)' : 'incompressible (random)'} | ${mib} MiB | ${comp === 'none' ? 'none' : 'lz4 where it pays'} | ` +
      `${((r.pagesBytes / r.throughput)).toFixed(2)} | ${(r.throughput / 1e9).toFixed(2)} | ${(100 * r.wireBytes / r.pagesBytes).toFixed(0)}% | ${(100 * r.zeroBytes / r.pagesBytes).toFixed(0)}% |`);
  };
  for (const kind of ['text', 'random']) for (const comp of ['auto', 'none'] as const) await run(MIB, kind, comp, RUNS);
  const small = { a: hwm(c.hosts.a!.agent), b: hwm(c.hosts.b!.agent) };
  if (BIG > 0) await run(BIG, 'random', 'auto', 1);
  console.log(`\nagent peak RSS (VmHWM) after the ${MIB} MiB runs: A ${(small.a / 2 ** 20).toFixed(0)} MiB, B ${(small.b / 2 ** 20).toFixed(0)} MiB; ` +
    `after a ${BIG} MiB one: A ${(hwm(c.hosts.a!.agent) / 2 ** 20).toFixed(0)} MiB, B ${(hwm(c.hosts.b!.agent) / 2 ** 20).toFixed(0)} MiB`);
  a.close(); b.close();
  void median;
} finally {
  for (const f of afters.reverse()) await f();
}
