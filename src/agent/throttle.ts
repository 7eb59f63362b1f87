// Auto-converge on the source: a tree that dirties memory faster than the link carries it is
// slowed down by capping its CPU time. Its processes move into a cgroup of godwit's own (the
// cgroup v1 cpu hierarchy, or cgroup v2 with the cpu controller) whose bandwidth is the CPU the
// tree used before, less the given share; lifting the throttle moves each process back where it
// was and removes the cgroup.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { listTree, listTids } from '../core/proc/tree.js';
import { readStat } from '../core/proc/stat.js';
import { GodwitError, errorMessage } from '../core/errors.js';

const PERIOD_US = 100_000;

interface Hierarchy { kind: 'v1' | 'v2'; root: string }

function mounted(): Hierarchy | null {
  for (const root of ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct', OWN_V1]) {
    if (existsSync(join(root, 'cpu.cfs_quota_us'))) return { kind: 'v1', root };
  }
  for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified', OWN_V2]) {
    try {
      if (readFileSync(join(root, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('cpu')) return { kind: 'v2', root };
    } catch { /* not a v2 root */ }
  }
  return null;
}

const OWN_V1 = '/run/godwit/cgroup-cpu', OWN_V2 = '/run/godwit/cgroup2';

/**
 * The cpu hierarchy, mounted by us when this mount namespace has none in sight (an agent under
 * `ip netns exec`, which mounts a fresh /sys): mounting an existing hierarchy again shows the same
 * cgroups.
 */
function findHierarchy(): Hierarchy | null {
  const h = mounted();
  if (h) return h;
  for (const [dir, args] of [[OWN_V1, ['-t', 'cgroup', '-o', 'cpu']], [OWN_V2, ['-t', 'cgroup2']]] as const) {
    mkdirSync(dir, { recursive: true });
    if (spawnSync('mount', [...args, 'godwit-cpu', dir], { stdio: 'ignore' }).status === 0) {
      const got = mounted();
      if (got) return got;
      spawnSync('umount', [dir], { stdio: 'ignore' });
    }
  }
  return null;
}

function cgroupOf(pid: number, h: Hierarchy): string {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [id, ctrls, path] = [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1, line.lastIndexOf(':')), line.slice(line.lastIndexOf(':') + 1)];
    if (h.kind === 'v2' ? id === '0' && ctrls === '' : ctrls.split(',').includes('cpu')) return path;
  }
  throw new GodwitError(`process ${pid} is in no ${h.kind} cpu cgroup`);
}

/** CPU seconds the tree's threads have used so far. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const p of pids) {
    for (const t of listTids(p)) {
      try {
        const s = readStat(p, t);
        ticks += s.utime + s.stime;
      } catch { /* gone */ }
    }
  }
  return ticks / 100;
}

export class Throttle {
  private moved = new Map<number, string>();

  private constructor(private h: Hierarchy, private dir: string, private root: number, private baseCpus: number) {}

  /** A cgroup for this migration; the tree's CPU use is measured over `sampleMs` first. */
  static async create(migration: string, root: number, sampleMs = 200): Promise<Throttle> {
    const h = findHierarchy();
    if (!h) throw new GodwitError('auto-converge needs the cpu cgroup controller (cgroup v1 cpu or v2 cpu), which this host lacks');
    const pids = listTree(root);
    const c0 = cpuSeconds(pids), t0 = performance.now();
    await new Promise((r) => setTimeout(r, sampleMs));
    const used = (cpuSeconds(pids) - c0) / ((performance.now() - t0) / 1000);
    const base = Math.min(availableParallelism(), Math.max(0.05, used));
    const parent = join(h.root, 'godwit');
    mkdirSync(parent, { recursive: true });
    if (h.kind === 'v2') {
      writeFileSync(join(h.root, 'cgroup.subtree_control'), '+cpu');
      writeFileSync(join(parent, 'cgroup.subtree_control'), '+cpu');
    }
    const dir = join(parent, `throttle-${migration}`);
    mkdirSync(dir, { recursive: true });
    return new Throttle(h, dir, root, base);
  }

  private quota = -1;

  /** Take `percent` of the tree's CPU away; new processes of the tree are moved in as well. */
  set(percent: number): void {
    this.quota = Math.max(1000, Math.round(this.baseCpus * PERIOD_US * (100 - percent) / 100));
    this.write(this.quota);
    for (const p of listTree(this.root)) {
      if (this.moved.has(p)) continue;
      try {
        this.moved.set(p, cgroupOf(p, this.h));
        writeFileSync(join(this.dir, 'cgroup.procs'), String(p));
      } catch (e) {
        if (existsSync(`/proc/${p}`)) throw new GodwitError(`cannot throttle process ${p}: ${errorMessage(e)}`);
      }
    }
  }

  /**
   * No limit while we freeze the tree: a task stops for ptrace, and runs each remote call, only
   * when its cgroup lets it run, so a throttled freeze took up to a period per step (200 ms of
   * downtime at 80%). `resume` puts the limit back once the tree runs again.
   */
  pause(): void {
    if (this.quota > 0) this.write(-1);
  }

  resume(): void {
    if (this.quota > 0) this.write(this.quota);
  }

  private write(quota: number): void {
    if (this.h.kind === 'v1') {
      writeFileSync(join(this.dir, 'cpu.cfs_period_us'), String(PERIOD_US));
      writeFileSync(join(this.dir, 'cpu.cfs_quota_us'), String(quota));
    } else {
      writeFileSync(join(this.dir, 'cpu.max'), `${quota < 0 ? 'max' : quota} ${PERIOD_US}`);
    }
  }

  /** Every process back in its own cgroup, ours removed. Never throws: it runs on failure paths. */
  lift(): string[] {
    const problems: string[] = [];
    for (const [p, path] of this.moved) {
      try {
        writeFileSync(join(this.h.root, path, 'cgroup.procs'), String(p));
      } catch (e) {
        if (existsSync(`/proc/${p}`)) problems.push(`process ${p} could not go back to ${path}: ${errorMessage(e)}`);
      }
    }
    this.moved.clear();
    // a killed tree's last threads may take a moment to leave the cgroup
    for (let i = 0; i < 50; i++) {
      try { rmdirSync(this.dir); return problems; } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY') { problems.push(`${this.dir}: ${errorMessage(e)}`); return problems; }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
    problems.push(`${this.dir} is still busy`);
    return problems;
  }
}
