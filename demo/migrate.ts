// The demo's migration: two simulated hosts on this machine (each its own network, PID and mount
// namespace, joined by a bridge), a godwit agent on each, and a running process with 512 MiB of
// memory that moves from host A to host B: two pre-copy links while it runs, a final dump, a
// restore on B. It keeps counting on B, and checks every page of its memory there.
import { readFileSync, readlinkSync } from 'node:fs';
import { simulatedHosts } from '../test/lib/hosts.js';
import { buildProgram, askVerdict, waitForLog, sleep } from '../test/lib/harness.js';
import { probeTracking } from '../src/core/check.js';
import type { LinkResult } from '../src/agent/ops/send.js';

const MiB = 1 << 20;
const afters: Array<() => void | Promise<void>> = [];
const say = (s = '') => console.log(s);
const ticks = (log: string) => [...readFileSync(log, 'utf8').matchAll(/^TICK (\d+)$/gm)].map((m) => Number(m[1]));

try {
  const c = await simulatedHosts({ after: (f) => { afters.push(f); } });
  for (const h of Object.values(c.hosts)) say(`host ${h.name}: network namespace ${h.netns}, address ${h.ip}, agent at ${h.url} (log ${h.log})`);
  const target = await c.launch('a', 'demo', [buildProgram('bigcounter'), '512']);
  say(`\nbigcounter (512 MiB, counting) runs on host A as PID ${target.nsPid} there (${target.pid} seen from this machine), ` +
    `pid namespace ${readlinkSync(`/proc/${target.pid}/ns/pid`)}`);
  await waitForLog(target.log, /^TICK \d+$/m);
  const a = await c.client('a'), b = await c.client('b');
  const { migration, key } = (await b.call('expect', { label: 'demo' })) as { migration: string; key: string };
  const peer = { url: c.hosts.b!.url, migration, key };
  say(`host B expects migration ${migration}; host A streams to it directly\n`);
  const show = (l: LinkResult) => say(`  ${l.link}: ${(l.pagesBytes / MiB).toFixed(1)} MiB of pages, ${(l.wireBytes / MiB).toFixed(1)} MiB on the wire, ` +
    `${(l.throughput / 1e9).toFixed(2)} GB/s, process frozen ${l.freezeMs} ms`);
  if (probeTracking().uffd) {
    for (let k = 0; k < 2; k++) { show((await a.call('predump', { pid: target.nsPid!, peer })) as LinkResult); await sleep(300); }
  } else {
    say('  (this kernel lacks uffd write-protect tracking: no pre-copy, the dump carries everything)');
  }
  const before = Math.max(...ticks(target.log));
  show((await a.call('dump', { pid: target.nsPid!, peer })) as LinkResult);
  say(`  the process is gone from host A: ${c.rootPid('a', target.nsPid!) < 0 ? 'yes' : 'no'}`);
  const r = (await b.call('restore', { migration })) as { pid: number; restoreMs: number };
  const onB = c.rootPid('b', r.pid);
  say(`\nrestored on host B as PID ${r.pid} there (${onB} seen from this machine) in ${r.restoreMs} ms, pid namespace ${readlinkSync(`/proc/${onB}/ns/pid`)}`);
  await waitForLog(target.log, new RegExp(`^TICK ${before + 200}$`, 'm'), 30_000);
  const t = ticks(target.log);
  say(`its count before the dump: ${before}; now: ${Math.max(...t)}; every count logged once: ${new Set(t).size === t.length ? 'yes' : 'NO'}`);
  const v = await askVerdict({ ...target, pid: onB }, 60_000);
  say(`its own check of all 512 MiB on host B: ${v.line}`);
  a.close(); b.close();
  if (!v.pass || new Set(t).size !== t.length) process.exitCode = 1;
} finally {
  for (const f of afters.reverse()) await f();
}
