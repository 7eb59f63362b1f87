// npm run bench, part 3: streaming a running process's memory from simulated host A to host B
// (agents in their own network, PID and mount namespaces, over a veth pair and a bridge), for a
// compressible and an incompressible workload, with lz4 where it pays and without, with B's
// state directory on disk and on tmpfs. Prints the page-data throughput of the pre-dump link,
// what this machine does without godwit for reference (TCP between the hosts, a fresh file
// written into B's state directory), and each agent's peak RSS (VmHWM).
import { readFileSync, mkdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { simulatedHosts, type Cluster } from '../test/lib/hosts.js';
import { ROOT } from '../test/lib/harness.js';
import type { LinkResult } from '../src/agent/ops/send.js';
import type { Compression } from '../src/pageserver/protocol.js';

const MIB = Number(process.env.BENCH_STREAM_MIB ?? 1024);
const BIG = Number(process.env.BENCH_STREAM_BIG_MIB ?? 4096);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const GB = 1e9;

function build(): string {
  const out = join(ROOT, 'native/build/streamhog');
  execFileSync('cc', ['-O2', '-o', out, join(ROOT, 'bench/programs/streamhog.c')]);
  return out;
}

const hwm = (pid: number): number => Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/** Bytes per second of writing `mib` MiB into a fresh file in `dir`, as B's receive does. */
function fileWriteRate(dir: string, mib: number): number {
  const f = join(dir, 'bench-write-reference');
  const t0 = performance.now();
  execFileSync('dd', ['if=/dev/zero', `of=${f}`, 'bs=4M', `count=${mib / 4}`], { stdio: 'ignore' });
  const s = (performance.now() - t0) / 1000;
  rmSync(f, { force: true });
  return (mib << 20) / s;
}

/** Bytes per second of one TCP stream from host A to host B (node on both ends, 1 GiB). */
function tcpRate(c: Cluster): number {
  const recv = `require('net').createServer((s)=>{let n=0,t;s.on('data',(d)=>{t??=performance.now();n+=d.length});s.on('end',()=>{console.log(n/((performance.now()-t)/1000));process.exit(0)})}).listen(7801,'${c.hosts.b!.ip}')`;
  const send = `const s=require('net').connect(7801,'${c.hosts.b!.ip}',async()=>{const b=Buffer.alloc(4<<20,1);for(let i=0;i<256;i++){if(!s.write(b))await new Promise((r)=>s.once('drain',r))}s.end()})`;
  const r = execFileSync('sh', ['-c', `ip netns exec ${c.hosts.b!.netns} node -e "${recv}" & sleep 0.5; ip netns exec ${c.hosts.a!.netns} node -e "${send}"; wait`], { encoding: 'utf8' });
  return Number(r.trim());
}

const hog = build();
console.log(`\ngodwit bench: a pre-dump link streamed from host A to host B over a veth and a bridge, median of ${RUNS}`);
console.log('| B\'s state dir | workload | RSS | compression | link s | page data GB/s | on the wire | agents\' peak RSS so far, A / B |');
console.log('|---|---|---|---|---|---|---|---|');
const notes: string[] = [];
for (const where of ['disk', 'tmpfs'] as const) {
  const afters: Array<() => void | Promise<void>> = [];
  try {
    const shm = `/dev/shm/godwit-bench-${process.pid}`;
    if (where === 'tmpfs') { mkdirSync(shm, { recursive: true }); afters.push(() => rmSync(shm, { recursive: true, force: true })); }
    const c = await simulatedHosts({ after: (f) => { afters.push(f); } }, ['a', 'b'], where === 'tmpfs' ? { stateDirs: { b: join(shm, 'state') } } : {});
    const a = await c.client('a'), b = await c.client('b');
    afters.push(() => { a.close(); b.close(); });
    const run = async (mib: number, kind: string, comp: Compression, runs: number): Promise<void> => {
      const target = await c.launch('a', `${kind}-${mib}-${comp}`, [hog, String(mib), kind]);
      const res: LinkResult[] = [];
      for (let i = 0; i < runs; i++) {
        const { migration, key } = (await b.call('expect', { label: 'bench' })) as { migration: string; key: string };
        res.push((await a.call('predump', { pid: target.nsPid!, peer: { url: c.hosts.b!.url, migration, key }, compress: comp })) as LinkResult);
        await a.call('cancel', { migration });
        await b.call('cancel', { migration });
      }
      if (target.pid > 1) process.kill(target.pid, 'SIGKILL');
      const r = res.sort((x, y) => x.throughput - y.throughput)[Math.floor(res.length / 2)]!;
      console.log(`| ${where} | ${kind === 'text' ? 'compressible (text records)' : 'incompressible (random)'} | ${mib} MiB | ${comp === 'none' ? 'none' : 'lz4 where it pays'} | ` +
        `${(r.bytes / r.throughput).toFixed(2)} | ${(r.throughput / GB).toFixed(2)} | ${(100 * r.wireBytes / r.bytes).toFixed(0)}% | ` +
        `${hwm(c.hosts.a!.agent).toFixed(0)} / ${hwm(c.hosts.b!.agent).toFixed(0)} MiB |`);
    };
    for (const kind of ['text', 'random']) for (const comp of ['auto', 'none'] as const) await run(MIB, kind, comp, RUNS);
    const small = { a: hwm(c.hosts.a!.agent), b: hwm(c.hosts.b!.agent) };
    notes.push(`state on ${where}: agents' peak RSS after the ${MIB} MiB runs: A ${small.a.toFixed(0)} MiB, B ${small.b.toFixed(0)} MiB`);
    if (where === 'disk' && BIG > 0) {
      await run(BIG, 'random', 'auto', 1);
      notes.push(`state on ${where}: after a ${BIG} MiB link too: A ${hwm(c.hosts.a!.agent).toFixed(0)} MiB, B ${hwm(c.hosts.b!.agent).toFixed(0)} MiB`);
    }
    notes.push(`state on ${where}: without godwit, a fresh ${MIB} MiB file written into B's state directory: ${(fileWriteRate(c.hosts.b!.stateDir, MIB) / GB).toFixed(2)} GB/s`);
    if (where === 'disk') notes.push(`TCP from host A to host B, one stream, node at both ends: ${(tcpRate(c) / GB).toFixed(2)} GB/s`);
  } finally {
    for (const f of afters.reverse()) await f();
  }
}
console.log('');
for (const n of notes) console.log(n);
