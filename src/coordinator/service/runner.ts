// The migrations a coordinator runs: each one is `migrate()` (the state machine `godwit migrate`
// runs), started on request, recorded in the history from the moment it is asked for to its end,
// its progress passed on as events. Many run at once, but one process is moved by one migration
// at a time. Cancelling one rolls it back, as Ctrl-C does.
import { randomBytes } from 'node:crypto';
import { migrate, MigrationError, type MigrationProgress, type MigrationReport } from '../migration.js';
import type { HostEntry } from '../hosts.js';
import type { ClientOptions } from '../../pageserver/client.js';
import type { History, MigrationRecord } from '../store/history.js';
import type { MigrationSettings } from '../request.js';
import { GodwitError, errorMessage } from '../../core/errors.js';
import { logger } from '../../core/log.js';

export type ServiceEvent =
  | { type: 'migration'; migration: MigrationRecord }
  | { type: 'progress'; id: string; progress: MigrationProgress };

export interface RunnerOptions {
  hosts: Map<string, HostEntry>;
  credentials: (h: HostEntry) => ClientOptions;
  hooks: { hookPreRestore?: string; hookPostResume?: string; hookTimeoutMs?: number };
  emit: (e: ServiceEvent) => void;
}

/** Already running for this process. */
export class ConflictError extends GodwitError {}

interface Live { record: MigrationRecord; abort: AbortController; progress?: MigrationProgress; lastSent: number; done: Promise<void> }

const PROGRESS_EVERY_MS = 100;
/** phases from which the destination may already run the tree */
const COMMITTED = new Set(['resume', 'cleanup', 'done']);

export class Runner {
  private live = new Map<string, Live>();
  private readonly log = logger('coordinator');

  constructor(private readonly history: History, private readonly o: RunnerOptions) {}

  private optionsOf(s: MigrationSettings, dryRun: boolean, signal?: AbortSignal, onProgress?: (p: MigrationProgress) => void): Parameters<typeof migrate>[0] {
    const from = this.o.hosts.get(s.from)!, to = this.o.hosts.get(s.to)!;
    return {
      pid: s.pid, from, to, fromClient: this.o.credentials(from), toClient: this.o.credentials(to),
      maxDowntimeMs: s.maxDowntimeMs, maxIterations: s.maxIterations, maxPrecopyMs: s.maxPrecopyMs, autoConverge: s.autoConverge,
      bandwidth: s.bandwidth, sliceBytes: s.sliceBytes, compress: s.compress, newPidns: s.newPidns, pidnsFallback: s.pidnsFallback, moveIps: s.moveIps,
      dryRun, ...this.o.hooks, ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}),
    };
  }

  /** The preflight alone: what `godwit migrate --dry-run` says. */
  async preflight(s: MigrationSettings): Promise<MigrationReport> {
    try {
      return await migrate(this.optionsOf(s, true));
    } catch (e) {
      if (e instanceof MigrationError) return { ...e.report, error: e.message };
      throw e;
    }
  }

  /** Start a migration; it runs on after this returns. */
  start(s: MigrationSettings, asked: Record<string, unknown>): MigrationRecord {
    if (this.stopping) throw new ConflictError('the coordinator is stopping');
    for (const l of this.live.values()) {
      if (l.record.from === s.from && l.record.pid === s.pid) throw new ConflictError(`process ${s.pid} on ${s.from} is being moved already (migration ${l.record.id})`);
    }
    const id = randomBytes(8).toString('hex');
    this.history.add({ id, pid: s.pid, from: s.from, to: s.to, options: asked });
    this.history.start(id);
    const record = this.history.get(id)!;
    const abort = new AbortController();
    const l: Live = { record, abort, lastSent: 0, done: Promise.resolve() };
    this.live.set(id, l);
    this.o.emit({ type: 'migration', migration: record });
    this.log.info({ id, pid: s.pid, from: s.from, to: s.to }, 'migration started');
    l.done = this.run(l, s);
    return record;
  }

  private async run(l: Live, s: MigrationSettings): Promise<void> {
    const id = l.record.id;
    let phase = '';
    const onProgress = (p: MigrationProgress): void => {
      l.progress = p;
      const now = performance.now();
      if (p.phase !== phase) {
        phase = p.phase;
        // not now: a phase changes while the tree is frozen, and this loop carries the freeze's hops
        const at = Date.now();
        setImmediate(() => {
          try { this.history.addEvent(id, p.phase, p.message, at); } catch (e) { this.log.warn({ id, err: errorMessage(e) }, 'cannot record a phase'); }
        });
      } else if (now - l.lastSent < PROGRESS_EVERY_MS && !p.message) {
        return;
      }
      l.lastSent = now;
      this.o.emit({ type: 'progress', id, progress: p });
    };
    let report: MigrationReport | undefined, exitCode = 0, error: string | undefined;
    try {
      report = await migrate(this.optionsOf(s, false, l.abort.signal, onProgress));
    } catch (e) {
      error = errorMessage(e);
      if (e instanceof MigrationError) { report = e.report; exitCode = e.exitCode; } else exitCode = e instanceof GodwitError ? e.exitCode : 70;
    }
    const outcome = l.abort.signal.aborted && report?.outcome === 'rolled-back' ? 'interrupted' : report?.outcome ?? 'unknown';
    this.log.info({ id, outcome, exitCode, downtimeMs: report?.downtime?.totalMs, err: error }, 'migration ended');
    try {
      this.history.finish(id, { outcome, exitCode, ...(error ? { error } : {}), ...(report ? { report: report as unknown as Record<string, unknown> } : {}) });
      this.o.emit({ type: 'migration', migration: this.history.get(id)! });
    } catch (e) {
      // the next start marks it unknown; the process is wherever the report above says
      this.log.error({ id, err: errorMessage(e) }, 'cannot record the end of a migration');
    } finally {
      this.live.delete(id);
    }
  }

  /** `committed`: past the resume on the destination, nothing can be rolled back any more. */
  cancel(id: string): 'cancelled' | 'committed' | 'not-running' {
    const l = this.live.get(id);
    if (!l) return 'not-running';
    if (l.progress && COMMITTED.has(l.progress.phase)) return 'committed';
    l.abort.abort();
    return 'cancelled';
  }

  progress(id: string): MigrationProgress | undefined { return this.live.get(id)?.progress; }
  running(): MigrationRecord[] { return [...this.live.values()].map((l) => l.record); }

  /** Stop: every running migration rolls back (or finishes, past its commit point), and is recorded. */
  async stop(): Promise<void> {
    this.stopping = true;
    const all = [...this.live.values()];
    for (const l of all) l.abort.abort();
    await Promise.all(all.map((l) => l.done.catch(() => undefined)));
  }
  private stopping = false;
}
