// `godwit coordinator` as an operator starts it, against simulated hosts: spawned in the hosts'
// wire namespace (where the test's own thread is), listening on every address so that the test
// reaches it both from loopback and from the bridge; killed when the test ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, sleep, type TestLike } from './harness.js';
import type { Cluster } from './hosts.js';
import { writeHostsFile } from './migrate.js';

export interface Coordinator { port: number; url: string; log: string; db: string; proc: ChildProcess; stop(): Promise<void> }

export async function startCoordinator(t: Pick<TestLike, 'after'>, c: Cluster, o: { db?: string; args?: string[]; listen?: string } = {}): Promise<Coordinator> {
  const hosts = writeHostsFile(c);
  const db = o.db ?? join(c.dir, 'coordinator.db');
  const port = 20000 + Math.floor(Math.random() * 20000);
  const log = join(c.dir, `coordinator-${port}.log`);
  const out = openSync(log, 'a');
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'godwit.js'), 'coordinator', '--listen', o.listen ?? `0.0.0.0:${port}`, '--hosts', hosts, '--db', db,
    '--token-file', c.tokenFile, ...(o.args ?? [])], { stdio: ['ignore', out, out] });
  closeSync(out);
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    for (let i = 0; i < 200 && proc.exitCode === null && proc.signalCode === null; i++) await sleep(50);
    if (proc.exitCode === null) proc.kill('SIGKILL');
  };
  t.after(stop);
  for (let i = 0; ; i++) {
    if (readFileSync(log, 'utf8').includes('coordinator listening')) break;
    if (proc.exitCode !== null) throw new Error(`the coordinator exited (${proc.exitCode}):\n${readFileSync(log, 'utf8').slice(-2000)}`);
    if (i > 400) throw new Error(`the coordinator did not start:\n${readFileSync(log, 'utf8').slice(-2000)}`);
    await sleep(25);
  }
  return { port, url: `http://127.0.0.1:${port}`, log, db, proc, stop };
}
