// The demo's migration: two simulated hosts on this machine (each its own network, PID and mount
// namespace, joined by a bridge), a godwit agent on each, and a running process with 512 MiB of
// memory that dirties 10 MB/s. `godwit migrate --pid PID --from a --to b` moves it, as an
// operator would type it, with its progress and its report; the process then counts on at B and
// checks every page of its memory there.
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { simulatedHosts } from '../test/lib/hosts.js';
import { buildProgram, askVerdict, waitForLog, ROOT } from '../test/lib/harness.js';
import { writeHostsFile } from '../test/lib/migrate.js';

const afters: Array<() => void | Promise<void>> = [];
const say = (s = '') => console.log(s);
const ticks = (log: string) => [...readFileSync(log, 'utf8').matchAll(/^TICK (\d+)$/gm)].map((m) => Number(m[1]));

try {
  const c = await simulatedHosts({ after: (f) => { afters.push(f); } });
  for (const h of Object.values(c.hosts)) say(`host ${h.name}: network namespace ${h.netns}, address ${h.ip}, agent at ${h.url} (log ${h.log})`);
  const hosts = writeHostsFile(c);
  say(`hosts file ${hosts}:\n${readFileSync(hosts, 'utf8').replace(/^/gm, '  ')}`);
  const target = await c.launch('a', 'demo', [buildProgram('bigcounter'), '512', '10']);
  say(`bigcounter (512 MiB, counting, dirtying 10 MB/s) runs on host A as PID ${target.nsPid} there (${target.pid} seen from this machine), ` +
    `pid namespace ${readlinkSync(`/proc/${target.pid}/ns/pid`)}`);
  await waitForLog(target.log, /^TICK \d+$/m);
  const before = Math.max(...ticks(target.log));
  const argv = ['migrate', '--hosts', hosts, '--from', 'a', '--to', 'b', '--pid', String(target.nsPid)];
  say(`\n$ godwit ${argv.join(' ')}`);
  const code = await new Promise<number | null>((resolve) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin', 'godwit.js'), ...argv], { stdio: 'inherit' });
    p.on('close', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`godwit migrate exited with ${code}`);
  const onB = c.rootPid('b', target.nsPid!);
  say(`\nthe process on host A is gone: ${c.rootPid('a', target.nsPid!) < 0 ? 'yes' : 'NO'}; on host B it is PID ${target.nsPid} there (${onB} seen from this machine), ` +
    `pid namespace ${onB > 0 ? readlinkSync(`/proc/${onB}/ns/pid`) : '?'}`);
  await waitForLog(target.log, new RegExp(`^TICK ${before + 300}$`, 'm'), 30_000);
  const t = ticks(target.log);
  say(`its count when the migration began: ${before}; now: ${Math.max(...t)}; every count logged once: ${new Set(t).size === t.length ? 'yes' : 'NO'}`);
  const v = await askVerdict({ ...target, pid: onB }, 60_000);
  say(`its own check of all 512 MiB on host B: ${v.line}`);
  if (!v.pass || new Set(t).size !== t.length) process.exitCode = 1;
} finally {
  for (const f of afters.reverse()) await f();
}
