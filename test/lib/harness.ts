// Test harness: builds C test programs, starts them detached (so they are nobody's child here and
// carry no stray fds), runs the godwit CLI, and waits for what a user would look for.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // from dist/test/lib
export const PROGRAMS = join(ROOT, 'test', 'programs');
const BUILD = join(ROOT, 'native', 'build', 'test');

export function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

/** Compile test/programs/NAME.c once (again when the source is newer). */
export function buildProgram(name: string, extra: string[] = []): string {
  mkdirSync(BUILD, { recursive: true });
  const src = join(PROGRAMS, `${name}.c`);
  const out = join(BUILD, name.replace(/^.*\//, ''));
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    const r = spawnSync('cc', ['-O1', '-g', '-pthread', '-Wall', '-o', out, src, ...extra], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot build ${src}:\n${r.stderr}`);
  }
  return out;
}

export function tempDir(tag: string): string { return mkdtempSync(`/tmp/godwit-test-${tag}-`); }

export interface Target { pid: number; log: string; dir: string }

/**
 * Start `cmd` as `setsid cmd </dev/null >log 2>&1` from a shell that closes every fd above 2, in
 * `dir`; the program prints `READY <pid>` when its state is set up.
 */
export async function startTarget(dir: string, cmd: string[], opts: { ready?: RegExp; timeoutMs?: number } = {}): Promise<Target> {
  const log = join(dir, 'out.log');
  const quoted = cmd.map((c) => `'${c.replace(/'/g, `'\\''`)}'`).join(' ');
  const script = `cd '${dir}' && for f in /proc/$$/fd/*; do n=\${f##*/}; [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-"; done; exec setsid ${quoted} </dev/null >'${log}' 2>&1`;
  spawnSync('setsid', ['-f', 'bash', '-c', script], { stdio: 'ignore' });
  const m = await waitForLog(log, opts.ready ?? /READY (\d+)/, opts.timeoutMs ?? 20_000);
  return { pid: Number(m[1]), log, dir };
}

export async function waitForLog(log: string, re: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    const m = re.exec(text);
    if (m) return m;
    if (Date.now() > end) throw new Error(`timed out waiting for ${re} in ${log}; it holds:\n${text.slice(-2000)}`);
    await sleep(25);
  }
}

export interface CliResult { code: number; stdout: string; stderr: string }

export function godwit(args: string[], opts: { uid?: number; timeoutMs?: number } = {}): CliResult {
  const argv = [join(ROOT, 'bin', 'godwit.js'), ...args];
  const r = opts.uid !== undefined
    ? spawnSync('setpriv', [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', process.execPath, ...argv], { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000 })
    : spawnSync(process.execPath, argv, { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function alive(pid: number): boolean {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = l.indexOf(':');
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 1).trim();
  }
  return out;
}

/** PID free again: init here reaps orphaned zombies only every few seconds. */
export async function waitGone(pid: number, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (existsSync(`/proc/${pid}`)) {
    if (Date.now() > end) throw new Error(`PID ${pid} still exists after ${timeoutMs} ms`);
    await sleep(25);
  }
}

export function killTree(pid: number): void {
  spawnSync('pkill', ['-9', '-s', String(pid)]);
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

export function cleanup(dir: string, pids: number[]): void {
  for (const p of pids) killTree(p);
  rmSync(dir, { recursive: true, force: true });
}

/** dump (kill), wait for the PIDs to be free, restore -d: the usual round trip of a test. */
export async function roundTrip(t: Target, extraPids: number[] = []): Promise<void> {
  const img = join(t.dir, 'img');
  const d = godwit(['dump', '-t', String(t.pid), '-D', img]);
  if (d.code !== 0) throw new Error(`dump failed (${d.code}): ${d.stderr}`);
  for (const p of [t.pid, ...extraPids]) await waitGone(p);
  const r = godwit(['restore', '-D', img, '-d']);
  if (r.code !== 0) throw new Error(`restore failed (${r.code}): ${r.stderr}`);
  if (r.stdout.trim() !== String(t.pid)) throw new Error(`restore printed ${r.stdout.trim()}, expected ${t.pid}`);
}

/** Ask a protocol program to check itself; returns its verdict line. */
export async function verdict(t: Target, timeoutMs = 20_000): Promise<string> {
  process.kill(t.pid, 'SIGUSR2');
  return (await waitForLog(t.log, /^(PASS|FAIL).*$/m, timeoutMs))[0];
}

/** A temp dir and a started target, both removed when the test ends, whatever happens. */
export async function launch(
  t: { after: (f: () => void) => void }, tag: string, cmd: string[], opts: { ready?: RegExp; timeoutMs?: number } = {},
): Promise<Target> {
  const dir = tempDir(tag);
  const pids: number[] = [];
  t.after(() => cleanup(dir, pids));
  const target = await startTarget(dir, cmd, opts);
  if (target.pid) pids.push(target.pid);
  return target;
}
