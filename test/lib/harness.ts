// Test harness: builds the C test programs, starts them detached (orphaned to init, so they are
// nobody's child here and carry no stray fds), runs the godwit CLI, asks a program for its verdict,
// and cleans up everything a test started, even when the test fails.
//
// The protocol of the programs (test/programs/proto.h): set up state, print `READY <pid> ...`,
// keep working until SIGUSR2, then check from the inside and print `PASS ...` or `FAIL ...`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file runs as dist/test/lib/harness.js. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const PROGRAMS = join(ROOT, 'test', 'programs');
/** Compiled programs: a cache beside the sources, ignored by git. */
export const BUILD = join(ROOT, 'test', '.build');

export function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

/** What a test needs to know about its `t`: node:test's TestContext fits. */
export interface TestLike { after: (f: () => void | Promise<void>) => void; skip: (message?: string) => void }

// ---------------------------------------------------------------------------------------------
// Building

/**
 * Compile test/programs/NAME.c (NAME may be `../matrix/x`) with gcc -O1 -g -pthread into
 * test/.build, again only when the source or proto.h is newer than the binary. Extra libraries
 * come from `extra` and from a `// libs: -lm ...` line in the source.
 */
export function buildProgram(name: string, extra: string[] = []): string {
  mkdirSync(BUILD, { recursive: true });
  const src = join(PROGRAMS, `${name}.c`);
  const out = join(BUILD, name.replace(/^.*\//, ''));
  const deps = [src, join(PROGRAMS, 'proto.h')];
  const newest = Math.max(...deps.map((d) => statSync(d).mtimeMs));
  if (existsSync(out) && statSync(out).mtimeMs >= newest) return out;
  const libs = /^\/\/ libs: (.*)$/m.exec(readFileSync(src, 'utf8'))?.[1]?.trim().split(/\s+/) ?? [];
  // build beside and rename: a half-written binary is never run, even by a parallel run
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync('gcc', ['-O1', '-g', '-pthread', '-Wall', '-o', tmp, src, ...extra, ...libs], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot build ${src}:\n${r.stderr ?? r.error}`);
  renameSync(tmp, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Kernel features, checked at run time: a test skips only when one it needs is missing.

export const kernel = {
  /** CONFIG_CHECKPOINT_RESTORE: map_files and ns_last_pid exist only with it. */
  checkpointRestore: (): boolean => existsSync('/proc/self/map_files') && existsSync('/proc/sys/kernel/ns_last_pid'),
  /** io_uring, unless the sysctl turned it off for everyone (2). */
  ioUring: (): boolean => !existsSync('/proc/sys/kernel/io_uring_disabled') || readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim() !== '2',
  /** Unix98 pseudo-terminals (CONFIG_UNIX98_PTYS, devpts). */
  ptys: (): boolean => existsSync('/dev/ptmx'),
  /** Network namespaces (CONFIG_NET_NS). */
  netns: (): boolean => existsSync('/proc/self/ns/net'),
};

/** Skip `t` (and return false) when the kernel lacks checkpoint/restore support. */
export function needCheckpointRestore(t: TestLike): boolean {
  if (kernel.checkpointRestore()) return true;
  t.skip('the kernel lacks CONFIG_CHECKPOINT_RESTORE (no /proc/self/map_files or ns_last_pid)');
  return false;
}

// ---------------------------------------------------------------------------------------------
// Targets

export function tempDir(tag: string): string { return mkdtempSync(`/tmp/godwit-test-${tag}-`); }

export interface Target { pid: number; log: string; dir: string; /** the PID inside its own namespace */ nsPid?: number }
export interface StartOptions {
  /** What the log shows when the target is set up; group 1 is its PID. `false`: no READY line, the
   *  PID is the one of the started command (it writes none, like counter.sh). */
  ready?: RegExp | false;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** run the start through this (nsenter into a simulated host) */
  prefix?: string[];
  /** the PID this test sees for a PID the target prints (its own namespace's) */
  rootPid?: (pid: number) => number;
}

/**
 * Start `cmd` in `dir` as `setsid -f cmd </dev/null >dir/out.log 2>&1`: a shell in a new session
 * closes every fd above 2, writes its PID to dir/target.pid and execs the command, which is
 * orphaned to init at once. Returns when the READY line is in the log (its PID is the target's:
 * for a wrapper such as script(1), the program inside).
 */
export async function startTarget(dir: string, cmd: string[], opts: StartOptions = {}): Promise<Target> {
  const log = join(dir, 'out.log');
  const pidFile = join(dir, 'target.pid');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = [
    `cd ${q(dir)} || exit 1`,
    `for f in /proc/$$/fd/*; do n=\${f##*/}; [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-"; done`,
    `echo $$ > ${q(pidFile)}`,
    `exec ${cmd.map(q).join(' ')} </dev/null >${q(log)} 2>&1`,
  ].join('\n');
  const argv = [...(opts.prefix ?? []), 'setsid', '-f', 'bash', '-c', script];
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore', env: { ...process.env, ...opts.env } });
  if (r.status !== 0) throw new Error(`setsid -f ${cmd.join(' ')} failed: ${r.status ?? r.error}`);
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const real = opts.rootPid ?? ((p: number) => p);
  const shellNsPid = Number((await waitForLog(pidFile, /^(\d+)$/m, timeoutMs))[1]);
  const shellPid = real(shellNsPid);
  if (opts.ready === false) {
    await waitForLog(log, /./, timeoutMs); // it has started writing
    return { pid: shellPid, log, dir, nsPid: shellNsPid };
  }
  // wait for READY; a command that died before saying it fails at once (it must not daemonize)
  const re = opts.ready ?? /^READY (\d+)/m;
  const end = Date.now() + timeoutMs;
  for (let died = 0; ; await sleep(25)) {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    const m = re.exec(text);
    if (m) return { pid: real(Number(m[1])), log, dir, nsPid: Number(m[1]) };
    if (!alive(shellPid) && ++died > 8) throw new Error(`${cmd.join(' ')} exited without ${re}; its log:\n${text.slice(-2000)}`);
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${re} in ${log}; it holds:\n${text.slice(-2000)}`);
  }
}

/** Wait until `re` matches the text of the file `log`. */
export async function waitForLog(log: string, re: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    const m = re.exec(text);
    if (m) return m;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${re} in ${log}; it holds:\n${text.slice(-2000)}`);
    await sleep(25);
  }
}

/** A temp dir and a started target, both removed when the test ends, whatever happens. */
export async function launch(t: Pick<TestLike, 'after'>, tag: string, cmd: string[], opts: StartOptions = {}): Promise<Target> {
  const dir = tempDir(tag);
  const pids: number[] = [];
  t.after(() => cleanup(dir, pids));
  const target = await startTarget(dir, cmd, opts);
  if (target.pid) pids.push(target.pid);
  return target;
}

/** Other PIDs of the tree that a READY line names (`child=1,2 children=3,4 grandchild=5`). */
export function treePids(t: Target): number[] {
  const ready = /^READY .*$/m.exec(readFileSync(t.log, 'utf8'))?.[0] ?? '';
  return [...ready.matchAll(/\b(?:child|children|grandchild)=(\d+(?:,\d+)*)/g)].flatMap((m) => m[1]!.split(',').map(Number));
}

// ---------------------------------------------------------------------------------------------
// The CLI

export interface CliResult { code: number; stdout: string; stderr: string }

/** Run `node bin/godwit.js ARGS` (as `uid` through setpriv when given); never throws. */
export function godwit(args: string[], opts: { uid?: number; timeoutMs?: number; cwd?: string } = {}): CliResult {
  const argv = [join(ROOT, 'bin', 'godwit.js'), ...args];
  const timeout = opts.timeoutMs ?? 120_000;
  const [cmd, cmdArgs] = opts.uid !== undefined
    ? ['setpriv', [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', process.execPath, ...argv]] as const
    : [process.execPath, argv] as const;
  const r = spawnSync(cmd, cmdArgs, { encoding: 'utf8', timeout, killSignal: 'SIGKILL', cwd: opts.cwd ?? ROOT, maxBuffer: 64 << 20 });
  let stderr = r.stderr ?? '';
  if (r.error) stderr += `\n[harness] godwit ${args.join(' ')}: ${r.error.message}${r.signal ? ` (killed by ${r.signal} after ${timeout} ms)` : ''}`;
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr };
}

/**
 * dump (and kill), wait for every PID of the tree to be free, restore -d: the usual round trip of
 * a test. The image is `dir/img`.
 */
export async function roundTrip(t: Target, extraPids: number[] = []): Promise<void> {
  const img = join(t.dir, 'img');
  const tree = new Set([t.pid, ...descendants(t.pid), ...extraPids]);
  const d = godwit(['dump', '-t', String(t.pid), '-D', img]);
  if (d.code !== 0) throw new Error(`dump failed (${d.code}): ${d.stderr}`);
  for (const p of tree) await waitGone(p);
  const r = godwit(['restore', '-D', img, '-d']);
  if (r.code !== 0) throw new Error(`restore failed (${r.code}): ${r.stderr}`);
  if (r.stdout.trim() !== String(t.pid)) throw new Error(`restore printed ${r.stdout.trim()}, expected ${t.pid}`);
}

// ---------------------------------------------------------------------------------------------
// Processes that are not our children: everything goes through /proc.

/** /proc/PID/stat split after the command name: [0] is the state, [1] the ppid, ... */
function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).trim().split(' ');
  } catch {
    return null;
  }
}

/** Running (or stopped), i.e. not gone and not a zombie. */
export function alive(pid: number): boolean {
  const f = statFields(pid);
  return f !== null && f[0] !== 'Z' && f[0] !== 'X';
}

export function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = l.indexOf(':');
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 1).trim();
  }
  return out;
}

/** The PID is free again. Init here reaps orphaned zombies only every few seconds: bounded wait. */
export async function waitGone(pid: number, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (existsSync(`/proc/${pid}`)) {
    if (Date.now() > end) throw new Error(`PID ${pid} still exists after ${timeoutMs} ms (state ${statFields(pid)?.[0] ?? '?'})`);
    await sleep(25);
  }
}
export const waitPidFree = waitGone;

/**
 * Wait for `pid` to exit. Returns its exit status as waitpid reports it when it is seen as a
 * zombie (field 52 of /proc/PID/stat), or null when init reaped it before we looked.
 */
export async function waitExit(pid: number, timeoutMs = 15_000): Promise<number | null> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const f = statFields(pid);
    if (f === null) return null;
    if (f[0] === 'Z') return Number(f[49]); // field 52 counted from 1, the state is field 3
    if (Date.now() > end) throw new Error(`PID ${pid} did not exit within ${timeoutMs} ms (state ${f[0]})`);
    await sleep(20);
  }
}

export interface Verdict { line: string; pass: boolean; exitStatus: number | null; log: string }

/** Send SIGUSR2, wait for the PASS/FAIL line and for the process to exit. */
export async function askVerdict(t: Target, timeoutMs = 20_000): Promise<Verdict> {
  process.kill(t.pid, 'SIGUSR2');
  const line = (await waitForLog(t.log, /^(PASS|FAIL).*$/m, timeoutMs))[0];
  const exitStatus = await waitExit(t.pid, timeoutMs);
  return { line, pass: line.startsWith('PASS'), exitStatus, log: readFileSync(t.log, 'utf8') };
}

/** The verdict line only (the process has exited when this returns). */
export async function verdict(t: Target, timeoutMs = 20_000): Promise<string> {
  return (await askVerdict(t, timeoutMs)).line;
}

/** Why `v` is not a clean PASS with exit status 0, or null. */
export function notPassing(v: Verdict): string | null {
  if (!v.pass) return `${v.line}\n--- log:\n${v.log.slice(-3000)}`;
  if (v.exitStatus !== null && v.exitStatus !== 0) {
    const how = v.exitStatus & 0x7f ? `killed by signal ${v.exitStatus & 0x7f}` : `exit code ${v.exitStatus >> 8}`;
    return `PASS printed, but then ${how}\n--- log:\n${v.log.slice(-3000)}`;
  }
  return null;
}

/** Not traced, not stopped, and it keeps being scheduled: its context switches go up. */
export async function runsUntraced(pid: number): Promise<string | null> {
  const switches = () => {
    const s = status(pid);
    return Number(s.voluntary_ctxt_switches) + Number(s.nonvoluntary_ctxt_switches);
  };
  const s = status(pid);
  if (s.TracerPid !== '0') return `PID ${pid} is still traced by ${s.TracerPid}`;
  if (/^[tT]/.test(s.State ?? '')) return `PID ${pid} is left stopped (${s.State})`;
  const a = switches();
  await sleep(300);
  const b = switches();
  return b > a ? null : `PID ${pid} is not running: ${a} -> ${b} context switches in 300 ms`;
}

/** The PIDs below `pid` in the process tree (from the ppid of every process). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of allPids()) {
    const ppid = Number(statFields(p)?.[1] ?? -1);
    children.set(ppid, [...(children.get(ppid) ?? []), p]);
  }
  const out: number[] = [];
  for (let todo = [pid]; todo.length;) {
    const kids = children.get(todo.pop()!) ?? [];
    out.push(...kids);
    todo.push(...kids);
  }
  return out;
}

/** Every PID on the host. */
export function allPids(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

/**
 * Processes that appeared since `before` and are ours: living in `dir` (run godwit with its cwd
 * there, so that its helpers are too), among `pids`, or naming `dir` on their command line. What a
 * failed restore must not leave behind. (Other runs of the suite may share the machine: a process
 * of theirs is none of these.)
 */
export function leftovers(before: Set<number>, dir: string, pids: number[] = []): string[] {
  const inDir = new Set(processesIn(dir));
  return allPids().filter((p) => !before.has(p) && alive(p)).flatMap((p) => {
    let cmdline = '';
    try { cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').trim(); } catch { return []; }
    const ours = inDir.has(p) || pids.includes(p) || cmdline.includes(dir);
    return ours ? [`${p}: ${cmdline || '(no cmdline)'}`] : [];
  });
}

function cwdOf(pid: number): string | null {
  try { return readlinkSync(`/proc/${pid}/cwd`); } catch { return null; }
}

/** Processes whose cwd is `dir` or below it: what a test started there (and restored there). */
export function processesIn(dir: string): number[] {
  const d = dir.replace(/\/$/, '');
  return allPids().filter((p) => {
    const c = cwdOf(p);
    return c !== null && (c === d || c.startsWith(`${d}/`) || c === `${d} (deleted)`);
  });
}

/**
 * Kill `pids` and every process living in `dir` (cwd there or below, as every target and its
 * restored tree does), then remove `dir`. PIDs whose cwd is elsewhere are not ours any more (the
 * PID went free and was reused) and are left alone.
 */
export function cleanup(dir: string, pids: number[] = []): void {
  for (let round = 0; round < 5; round++) {
    const victims = new Set(processesIn(dir));
    for (const p of pids) if (victims.has(p) || cwdOf(p)?.startsWith(dir)) victims.add(p);
    victims.delete(process.pid);
    if (victims.size === 0) break;
    for (const p of victims) { if (p > 1) { try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ } } }
    spawnSync('sleep', ['0.05']);
  }
  rmSync(dir, { recursive: true, force: true });
}
