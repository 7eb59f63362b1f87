// Restoring into a fresh PID namespace (restore and migrate --new-pidns), for when the tree's PIDs
// are taken on this host: inside a new namespace every PID but 1 is free, so the tree keeps its
// own. The namespace's PID 1 is our minimal init (godwit-hostinit --until-empty), which reaps
// what is orphaned to it and lives as long as any of the tree does; under it, a godwit restore of
// its own builds the tree, seeing /proc as the tree knows it (a mount namespace of its own, slave
// to the host's, with /proc mounted again). The tree ends up there too: as in a container.
//
// An agent's migration builds there through a builder of its own (builder/): the namespace and its
// init are made when the migration is expected, and the tree is built ahead inside it.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Interface } from 'node:readline';
import { readStatus } from './proc/status.js';
import { GodwitError } from './errors.js';

// compiled to dist/src/core/pidns.js
const GODWIT = fileURLToPath(new URL('../../../bin/godwit.js', import.meta.url));
const HOSTINIT = fileURLToPath(new URL('../../../native/build/godwit-hostinit', import.meta.url));

/**
 * `godwit restore ARGS` under a new init in a new PID namespace; `lastPid`: the restorer's own
 * PIDs (and its threads') come after it, clear of the tree's.
 */
export function spawnInNewPidns(args: string[], stdio: StdioOptions, lastPid?: number): ChildProcess {
  if (!existsSync(HOSTINIT)) throw new GodwitError(`helper ${HOSTINIT} is missing: run \`npm run build:native\``, 70);
  return spawn('unshare', ['--pid', '--fork', '--mount', '--mount-proc', '--propagation', 'slave', '--',
    HOSTINIT, '--until-empty', ...(lastPid ? ['--last-pid', String(lastPid)] : []), process.execPath, GODWIT, 'restore', ...args],
  { stdio });
}

/** `godwit restore ARGS` here, in this host's PID namespace. */
export function spawnRestorer(args: string[], stdio: StdioOptions): ChildProcess {
  return spawn(process.execPath, [GODWIT, 'restore', ...args], { stdio });
}

/**
 * Where a new PID namespace's own processes start so as to leave the tree's IDs free: past the
 * first gap of `room` IDs above 300 (where the kernel wraps to) that none of them is in.
 */
export function clearOfIds(ids: number[], room = 512, pidMax = 32768): number {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  let from = 300;
  for (const id of sorted) {
    if (id <= from) continue;
    if (id - from > room) break;
    from = id;
  }
  return from + room < pidMax ? from : 300;
}

/**
 * The PID on this host of the process that is `inner` in a namespace we made: the one of
 * `unshare`'s children (`unshare` true: `pid` is the unshare process), or of `pid` itself.
 */
export function outerPid(pid: number, inner: number, unshare = false): number {
  let ns = '';
  try { ns = readlinkSync(`/proc/${unshare ? initOf(pid) : pid}/ns/pid`); } catch { return -1; }
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const nspid = readStatus(Number(d)).nspid;
      if (nspid.length < 2 || nspid[nspid.length - 1] !== inner) continue;
      if (readlinkSync(`/proc/${d}/ns/pid`) === ns) return Number(d);
    } catch { /* gone while we looked */ }
  }
  return -1;
}

/** The next line of `lines`, or null once it closes. */
export function nextLine(lines: Interface): Promise<string | null> {
  return new Promise((resolve) => {
    const onLine = (l: string) => { lines.off('close', onClose); resolve(l); };
    const onClose = () => { lines.off('line', onLine); resolve(null); };
    lines.once('line', onLine);
    lines.once('close', onClose);
  });
}

/**
 * The lines of a stream one at a time, none lost between two reads: readline emits all the lines
 * of a chunk at once, so a listener added after the first `await` misses the second line
 * (`EXTERNAL …` and `BUILT …` come together; a migration hung on that now and then).
 */
export function lineReader(lines: Interface): () => Promise<string | null> {
  const queue: string[] = [];
  const waiting: Array<(l: string | null) => void> = [];
  let closed = false;
  lines.on('line', (l: string) => { const w = waiting.shift(); if (w) w(l); else queue.push(l); });
  lines.on('close', () => { closed = true; for (const w of waiting.splice(0)) w(null); });
  return () => (queue.length ? Promise.resolve(queue.shift()!) : closed ? Promise.resolve(null) : new Promise((r) => { waiting.push(r); }));
}

/** The unshare process's child: our init, PID 1 inside. */
function initOf(unshare: number): number {
  try {
    return Number(readFileSync(`/proc/${unshare}/task/${unshare}/children`, 'utf8').trim().split(/\s+/)[0]) || -1;
  } catch {
    return -1;
  }
}

/**
 * The inner restore's own reason, from its stderr: its `godwit: ...` line, not the init's note
 * that its child exited, nor its JSON log lines.
 */
export function innerReason(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const own = lines.filter((l) => /^godwit: /.test(l)).pop();
  if (own) return own.replace(/^godwit: /, '');
  const logged = lines.map((l) => { try { return (JSON.parse(l) as { level?: number; err?: string; msg?: string }); } catch { return null; } })
    .filter((j): j is { level?: number; err?: string; msg?: string } => !!j && (j.level ?? 0) >= 50).pop();
  return logged?.err ?? logged?.msg ?? lines.pop() ?? 'it exited';
}
