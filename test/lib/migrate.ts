// `godwit migrate` as an operator runs it, against simulated hosts: a hosts file naming them,
// the CLI spawned with --json, its progress lines watched (a test injects its fault when a phase
// begins), its exit code and report collected.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness.js';
import type { Cluster } from './hosts.js';
import type { MigrationProgress, MigrationReport } from '../../src/coordinator/migration.js';

/** Start a process that holds PID `nsPid` on `host` (a sleep, orphaned to the host's init). */
export function takePid(c: Cluster, host: string, nsPid: number): void {
  const r = spawnSync('nsenter', ['-t', String(c.hosts[host]!.init), '-p', '-m', '-i', '-u', '--', 'sh', '-c',
    `echo ${nsPid - 1} > /proc/sys/kernel/ns_last_pid; sleep 600 >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
  if (Number(r.stdout.trim()) !== nsPid) throw new Error(`could not take PID ${nsPid} on ${host}: ${r.stdout} ${r.stderr}`);
}

/**
 * Start a process that asks for PID `nsPid` on `host` as takePid does, but take what it gets: the
 * PID it got (inside the host), `nsPid` or, where the PID is held, another.
 */
export function tryTakePid(c: Cluster, host: string, nsPid: number): number {
  const r = spawnSync('nsenter', ['-t', String(c.hosts[host]!.init), '-p', '-m', '-i', '-u', '--', 'sh', '-c',
    `echo ${nsPid - 1} > /proc/sys/kernel/ns_last_pid; sleep 600 >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
  const got = Number(r.stdout.trim());
  if (!(got > 0)) throw new Error(`could not start a process on ${host}: ${r.stdout} ${r.stderr}`);
  return got;
}

export function writeHostsFile(c: Cluster): string {
  const f = join(c.dir, 'hosts');
  writeFileSync(f, Object.values(c.hosts).map((h) => `${h.name} ${h.url} token-file=${c.tokenFile}`).join('\n') + '\n');
  return f;
}

export interface MigrateRun { code: number | null; signal: string | null; report: MigrationReport | null; progress: MigrationProgress[]; stdout: string; stderr: string }

export interface MigrateHandle { done: Promise<MigrateRun>; kill(sig: NodeJS.Signals): void }

/** Spawn `godwit migrate ARGS --json`; `onProgress` sees each progress line as it comes. */
export function startMigrate(args: string[], onProgress?: (p: MigrationProgress) => void, timeoutMs = 300_000): MigrateHandle {
  const p = spawn(process.execPath, [join(ROOT, 'bin', 'godwit.js'), 'migrate', ...args, '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '', partial = '';
  const progress: MigrationProgress[] = [];
  let report: MigrationReport | null = null;
  p.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      let m: { type?: string } & Record<string, unknown>;
      try { m = JSON.parse(l) as typeof m; } catch { continue; }
      if (m.type === 'progress') { progress.push(m as unknown as MigrationProgress); onProgress?.(m as unknown as MigrationProgress); }
      if (m.type === 'report') report = m as unknown as MigrationReport;
    }
  });
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const done = new Promise<MigrateRun>((resolve) => {
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, report, progress, stdout, stderr }); });
  });
  return { done, kill: (sig) => p.kill(sig) };
}
