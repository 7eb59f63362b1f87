// The coordinator's record of migrations: what was asked, what became of it, and the trail of
// phases it went through, in one SQLite file that outlives the service. The schema evolves by
// numbered scripts; `PRAGMA user_version` says how many a file has had.
import { GodwitError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { Database, type Row, type SqlValue } from './sqlite.js';

export type MigrationState = 'queued' | 'running' | 'done';

export interface MigrationRecord {
  /** the coordinator's id for it (not the agents' migration id) */
  id: string;
  pid: number;
  from: string;
  to: string;
  /** as the API received them */
  options: Record<string, unknown>;
  state: MigrationState;
  /** 'migrated' | 'dry-run' | 'refused' | 'rolled-back' | 'unknown' | 'interrupted' */
  outcome?: string;
  exitCode?: number;
  error?: string;
  /** the MigrationReport */
  report?: Record<string, unknown>;
  /** ms since the epoch */
  createdAt: number;
  startedAt?: number;
  endedAt?: number;
  /** copied out of the report, for listing and metrics */
  downtimeMs?: number;
  bytes?: number;
}

export interface MigrationEvent {
  /** ms since the epoch */
  at: number;
  phase: string;
  message?: string;
}

// Each script runs once, in its own transaction, in this order; never edit one that has shipped:
// add the next. Plain tables, not STRICT ones, so that any sqlite3 shell an operator has at hand
// (STRICT needs 3.37) can read the file.
export const SCHEMA: readonly string[] = [
  // 1: the migrations
  `CREATE TABLE migrations (
     id          TEXT PRIMARY KEY,
     pid         INTEGER NOT NULL,
     from_host   TEXT NOT NULL,
     to_host     TEXT NOT NULL,
     options     TEXT NOT NULL,            -- JSON
     state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done')),
     outcome     TEXT,
     exit_code   INTEGER,
     error       TEXT,
     report      TEXT,                     -- JSON, the MigrationReport
     created_at  INTEGER NOT NULL,         -- ms since the epoch
     started_at  INTEGER,
     ended_at    INTEGER,
     downtime_ms REAL,
     bytes       INTEGER
   );
   CREATE INDEX migrations_created_at ON migrations (created_at);
   -- what a restarted coordinator looks for: the few that are not done
   CREATE INDEX migrations_unfinished ON migrations (state) WHERE state <> 'done';`,
  // 2: the trail of phases each went through, for the API's progress view and post-mortems
  `CREATE TABLE events (
     seq          INTEGER PRIMARY KEY,     -- the order they were written in
     migration_id TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
     at           INTEGER NOT NULL,        -- ms since the epoch
     phase        TEXT NOT NULL,
     message      TEXT
   );
   CREATE INDEX events_migration ON events (migration_id, seq);`,
];

const COLUMNS = `id, pid, from_host, to_host, options, state, outcome, exit_code, error, report,
  created_at, started_at, ended_at, downtime_ms, bytes`;
const STOPPED_RUNNING = 'the coordinator stopped during this migration; the process may be on either host';
const STOPPED_QUEUED = 'the coordinator stopped before this migration started';

const log = logger('history');

export class History {
  readonly schemaVersion: number;
  private readonly db: Database;

  private constructor(db: Database, schemaVersion: number) {
    this.db = db;
    this.schemaVersion = schemaVersion;
  }

  /** Opens (creating) the file and applies the schema scripts it has not had yet. */
  static open(path: string): History {
    const db = Database.open(path);
    try {
      return new History(db, upgrade(db, path));
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** A new migration: state 'queued', created now. */
  add(r: Pick<MigrationRecord, 'id' | 'pid' | 'from' | 'to' | 'options'>): MigrationRecord {
    const rec: MigrationRecord = { id: r.id, pid: r.pid, from: r.from, to: r.to, options: r.options, state: 'queued', createdAt: Date.now() };
    this.db.run(
      `INSERT INTO migrations (id, pid, from_host, to_host, options, state, created_at)
       VALUES ($id, $pid, $from, $to, $options, 'queued', $createdAt)`,
      { id: rec.id, pid: rec.pid, from: rec.from, to: rec.to, options: JSON.stringify(rec.options), createdAt: rec.createdAt },
    );
    return rec;
  }

  /** A queued migration begins: state 'running'. */
  start(id: string): void {
    const r = this.db.run(`UPDATE migrations SET state = 'running', started_at = $now WHERE id = $id AND state = 'queued'`, { id, now: Date.now() });
    if (r.changes === 0) throw this.notIn(id, 'queued');
  }

  /** A queued or running migration ends: state 'done', with the report's downtime and bytes copied out. */
  finish(id: string, end: { outcome: string; exitCode: number; error?: string; report?: Record<string, unknown> }): void {
    const report = end.report;
    const r = this.db.run(
      `UPDATE migrations SET state = 'done', outcome = $outcome, exit_code = $exitCode, error = $error, report = $report,
         ended_at = $now, downtime_ms = $downtimeMs, bytes = $bytes
       WHERE id = $id AND state <> 'done'`,
      {
        id, outcome: end.outcome, exitCode: end.exitCode, error: end.error ?? null, now: Date.now(),
        report: report ? JSON.stringify(report) : null,
        downtimeMs: report ? downtimeOf(report) ?? null : null,
        bytes: report ? bytesOf(report) ?? null : null,
      },
    );
    if (r.changes === 0) throw this.notIn(id, 'queued or running');
  }

  get(id: string): MigrationRecord | undefined {
    const row = this.db.get(`SELECT ${COLUMNS} FROM migrations WHERE id = ?`, [id]);
    return row && record(row);
  }

  /** Newest first; `before`: created before that time (ms); default limit 100. */
  list(o: { limit?: number; before?: number } = {}): MigrationRecord[] {
    const limit = o.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 0) throw new GodwitError(`history: limit ${limit} is not a count`);
    const rows = o.before === undefined
      ? this.db.all(`SELECT ${COLUMNS} FROM migrations ORDER BY created_at DESC, rowid DESC LIMIT ?`, [limit])
      : this.db.all(`SELECT ${COLUMNS} FROM migrations WHERE created_at < ? ORDER BY created_at DESC, rowid DESC LIMIT ?`, [o.before, limit]);
    return rows.map(record);
  }

  /**
   * The migrations a coordinator left 'queued' or 'running' when it stopped: marked done with
   * outcome 'unknown' and an error saying the coordinator stopped during it; returns them.
   */
  abandonRunning(): MigrationRecord[] {
    return this.db.transaction(() => {
      const ids = this.db.all(`SELECT id FROM migrations WHERE state <> 'done' ORDER BY created_at, rowid`).map((r) => r.id as string);
      this.db.run(
        `UPDATE migrations SET outcome = 'unknown', ended_at = $now,
           error = CASE state WHEN 'running' THEN $running ELSE $queued END, state = 'done'
         WHERE state <> 'done'`,
        { now: Date.now(), running: STOPPED_RUNNING, queued: STOPPED_QUEUED },
      );
      if (ids.length) log.warn({ ids }, 'migrations left unfinished by a previous coordinator marked unknown');
      return ids.map((id) => this.get(id) as MigrationRecord);
    });
  }

  /** For /metrics: finished migrations by outcome, the downtimes (ms) of the migrated ones, all bytes sent. */
  totals(): { byOutcome: Record<string, number>; downtimesMs: number[]; bytes: number } {
    const byOutcome: Record<string, number> = {};
    for (const r of this.db.all(`SELECT outcome, count(*) AS n FROM migrations WHERE state = 'done' AND outcome IS NOT NULL GROUP BY outcome`)) {
      byOutcome[r.outcome as string] = Number(r.n);
    }
    const downtimesMs = this.db.all(`SELECT downtime_ms AS d FROM migrations WHERE outcome = 'migrated' AND downtime_ms IS NOT NULL ORDER BY ended_at`)
      .map((r) => Number(r.d));
    const bytes = Number(this.db.get(`SELECT coalesce(sum(bytes), 0) AS b FROM migrations`)?.b ?? 0);
    return { byOutcome, downtimesMs, bytes };
  }

  /** Appends a phase change to a migration's trail. */
  /** `at`: when it happened (ms since the epoch), if it is recorded later */
  addEvent(id: string, phase: string, message?: string, at = Date.now()): void {
    const r = this.db.run(
      `INSERT INTO events (migration_id, at, phase, message) SELECT id, $at, $phase, $message FROM migrations WHERE id = $id`,
      { id, at, phase, message: message ?? null },
    );
    if (r.changes === 0) throw new GodwitError(`history: no migration ${id}`);
  }

  /** A migration's trail, oldest first. */
  events(id: string): MigrationEvent[] {
    return this.db.all(`SELECT at, phase, message FROM events WHERE migration_id = ? ORDER BY seq`, [id]).map((r) => {
      const e: MigrationEvent = { at: Number(r.at), phase: r.phase as string };
      if (r.message !== null) e.message = r.message as string;
      return e;
    });
  }

  close(): void {
    this.db.close();
  }

  private notIn(id: string, states: string): GodwitError {
    const cur = this.db.get(`SELECT state FROM migrations WHERE id = ?`, [id]);
    return new GodwitError(cur ? `history: migration ${id} is ${cur.state as string}, not ${states}` : `history: no migration ${id}`);
  }
}

/** Applies the scripts the file has not had; returns its version. */
function upgrade(db: Database, path: string): number {
  const version = (): number => Number(db.get('PRAGMA user_version')?.user_version ?? 0);
  const have = version();
  if (have > SCHEMA.length) {
    throw new GodwitError(`history ${path}: schema version ${have} was written by a newer godwit (this one knows up to ${SCHEMA.length})`);
  }
  for (;;) {
    // the version is read again inside each transaction: another coordinator opening the same
    // file at the same moment may have applied the script between our reads
    const applied = db.transaction(() => {
      const v = version();
      if (v >= SCHEMA.length) return false;
      db.exec(SCHEMA[v] as string);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      log.info({ path, version: v + 1 }, 'history schema upgraded');
      return true;
    });
    if (!applied) return version();
  }
}

function downtimeOf(report: Record<string, unknown>): number | undefined {
  const d = report.downtime as { totalMs?: unknown } | undefined;
  return typeof d?.totalMs === 'number' ? d.totalMs : undefined;
}

/** Wire bytes of all links, pre-copy and final; undefined for a report with neither (refused early). */
function bytesOf(report: Record<string, unknown>): number | undefined {
  const its = Array.isArray(report.iterations) ? (report.iterations as { wireBytes?: unknown }[]) : undefined;
  const fin = report.final as { wireBytes?: unknown } | undefined;
  if (!its && !fin) return undefined;
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return Math.round((its ?? []).reduce((s, i) => s + n(i?.wireBytes), 0) + n(fin?.wireBytes));
}

function json(v: SqlValue, what: string, id: string): Record<string, unknown> {
  try {
    return JSON.parse(v as string) as Record<string, unknown>;
  } catch (e) {
    throw new GodwitError(`history: migration ${id} has a damaged ${what} (${(e as Error).message})`);
  }
}

const opt = (v: SqlValue): number | undefined => (v === null ? undefined : Number(v));

function record(r: Row): MigrationRecord {
  const id = r.id as string;
  const rec: MigrationRecord = {
    id, pid: Number(r.pid), from: r.from_host as string, to: r.to_host as string,
    options: json(r.options, 'options', id), state: r.state as MigrationState, createdAt: Number(r.created_at),
  };
  // absent, not undefined-valued, so deepEqual and JSON output see only what was recorded
  if (r.outcome !== null) rec.outcome = r.outcome as string;
  if (r.exit_code !== null) rec.exitCode = Number(r.exit_code);
  if (r.error !== null) rec.error = r.error as string;
  if (r.report !== null) rec.report = json(r.report, 'report', id);
  const started = opt(r.started_at ?? null), ended = opt(r.ended_at ?? null);
  const down = opt(r.downtime_ms ?? null), bytes = opt(r.bytes ?? null);
  if (started !== undefined) rec.startedAt = started;
  if (ended !== undefined) rec.endedAt = ended;
  if (down !== undefined) rec.downtimeMs = down;
  if (bytes !== undefined) rec.bytes = bytes;
  return rec;
}
