// The coordinator's embedded store: the system's libsqlite3 bound through koffi, synchronously.
// Node 20 has no node:sqlite and godwit ships no native addon of its own; a synchronous API is
// what SQLite is built for (a local file, microseconds a statement), and it keeps a transaction
// from interleaving with other work on the event loop.
import koffi from 'koffi';
import { GodwitError } from '../../core/errors.js';
import { logger } from '../../core/log.js';

export type SqlValue = number | bigint | string | Buffer | null;
export type Row = Record<string, SqlValue>;
/** Positional (`?`, `?NNN`, in order) or named (`$name`, `:name`, `@name`; keys without the sigil). */
export type Params = SqlValue[] | Record<string, SqlValue>;
export interface RunResult { changes: number; lastInsertRowid: number }

/** A statement sqlite refused; `code` is sqlite's extended result code (0 for misuse caught here). */
export class SqliteError extends GodwitError {
  readonly code: number;
  /** sqlite's own words, without the SQL or path this message adds */
  readonly sqliteMessage: string;
  constructor(message: string, sqliteMessage: string, code: number) {
    super(message);
    this.name = 'SqliteError';
    this.code = code;
    this.sqliteMessage = sqliteMessage;
  }
}

// Pointers are BigInts in koffi 3; an out-parameter is a one-element array it fills in.
type Ptr = bigint;
type Out = [Ptr | null];

interface Lib {
  versionNumber: () => number;
  version: () => string;
  openV2: (path: string, db: Out, flags: number, vfs: null) => number;
  closeV2: (db: Ptr) => number;
  errmsg: (db: Ptr) => string;
  errstr: (rc: number) => string;
  extendedErrcode: (db: Ptr) => number;
  busyTimeout: (db: Ptr, ms: number) => number;
  exec: (db: Ptr, sql: string, callback: null, arg: null, errmsg: null) => number;
  prepare: (db: Ptr, sql: Buffer, bytes: number, stmt: Out, tail: Out) => number;
  finalize: (stmt: Ptr) => number;
  step: (stmt: Ptr) => number;
  reset: (stmt: Ptr) => number;
  clearBindings: (stmt: Ptr) => number;
  paramCount: (stmt: Ptr) => number;
  paramName: (stmt: Ptr, i: number) => string | null;
  bindNull: (stmt: Ptr, i: number) => number;
  bindInt64: (stmt: Ptr, i: number, v: number | bigint) => number;
  bindDouble: (stmt: Ptr, i: number, v: number) => number;
  bindText: (stmt: Ptr, i: number, v: Buffer, bytes: number, destructor: number) => number;
  bindBlob: (stmt: Ptr, i: number, v: Uint8Array, bytes: number, destructor: number) => number;
  bindZeroblob: (stmt: Ptr, i: number, bytes: number) => number;
  columnCount: (stmt: Ptr) => number;
  columnName: (stmt: Ptr, i: number) => string;
  columnType: (stmt: Ptr, i: number) => number;
  columnInt64: (stmt: Ptr, i: number) => number | bigint;
  columnDouble: (stmt: Ptr, i: number) => number;
  columnText: (stmt: Ptr, i: number) => Ptr | null;
  columnBlob: (stmt: Ptr, i: number) => Ptr | null;
  columnBytes: (stmt: Ptr, i: number) => number;
  changes: (db: Ptr) => number;
  lastInsertRowid: (db: Ptr) => number | bigint;
  getAutocommit: (db: Ptr) => number;
}

const OK = 0, ROW = 100, DONE = 101;
const INTEGER = 1, FLOAT = 2, TEXT = 3, BLOB = 4;
const OPEN_READWRITE = 0x2, OPEN_CREATE = 0x4, OPEN_NOMUTEX = 0x8000;
// SQLITE_TRANSIENT, ((void(*)(void *))-1): sqlite copies the value before the bind returns. The
// destructor parameter is declared intptr_t (the same register on x86_64) so -1 goes as is; the
// Buffers we pass are only pinned for the duration of the call.
const TRANSIENT = -1;
const INT64_MIN = -(2n ** 63n), INT64_MAX = 2n ** 63n - 1n;
const MAX_BIND = 0x7fffffff;
const STMT_CACHE = 256;
// a text of zero bytes still needs a non-NULL pointer: NULL binds SQL NULL
const EMPTY = Buffer.alloc(1);

const log = logger('sqlite');
let lib: Lib | undefined;

/** The library, loaded at the first open; throws (with the package to install) where it is missing. */
function load(): Lib {
  if (lib) return lib;
  let l: ReturnType<typeof koffi.load>;
  try {
    l = koffi.load('libsqlite3.so.0');
  } catch (e) {
    throw new GodwitError(`libsqlite3.so.0 cannot be loaded (${(e as Error).message.replace(/\s+/g, ' ').trim()}); install it: apt-get install libsqlite3-0`);
  }
  lib = {
    versionNumber: l.func('int sqlite3_libversion_number()'),
    version: l.func('const char *sqlite3_libversion()'),
    openV2: l.func('int sqlite3_open_v2(const char *, _Out_ void **, int, const char *)'),
    closeV2: l.func('int sqlite3_close_v2(void *)'),
    errmsg: l.func('const char *sqlite3_errmsg(void *)'),
    errstr: l.func('const char *sqlite3_errstr(int)'),
    extendedErrcode: l.func('int sqlite3_extended_errcode(void *)'),
    busyTimeout: l.func('int sqlite3_busy_timeout(void *, int)'),
    exec: l.func('int sqlite3_exec(void *, const char *, void *, void *, void *)'),
    prepare: l.func('int sqlite3_prepare_v2(void *, const void *, int, _Out_ void **, _Out_ void **)'),
    finalize: l.func('int sqlite3_finalize(void *)'),
    step: l.func('int sqlite3_step(void *)'),
    reset: l.func('int sqlite3_reset(void *)'),
    clearBindings: l.func('int sqlite3_clear_bindings(void *)'),
    paramCount: l.func('int sqlite3_bind_parameter_count(void *)'),
    paramName: l.func('const char *sqlite3_bind_parameter_name(void *, int)'),
    bindNull: l.func('int sqlite3_bind_null(void *, int)'),
    bindInt64: l.func('int sqlite3_bind_int64(void *, int, int64_t)'),
    bindDouble: l.func('int sqlite3_bind_double(void *, int, double)'),
    bindText: l.func('int sqlite3_bind_text(void *, int, const void *, int, intptr_t)'),
    bindBlob: l.func('int sqlite3_bind_blob(void *, int, const void *, int, intptr_t)'),
    bindZeroblob: l.func('int sqlite3_bind_zeroblob(void *, int, int)'),
    columnCount: l.func('int sqlite3_column_count(void *)'),
    columnName: l.func('const char *sqlite3_column_name(void *, int)'),
    columnType: l.func('int sqlite3_column_type(void *, int)'),
    columnInt64: l.func('int64_t sqlite3_column_int64(void *, int)'),
    columnDouble: l.func('double sqlite3_column_double(void *, int)'),
    // text and blobs come back as raw pointers read with their byte count: a `const char *`
    // return would stop at the first NUL a text may hold
    columnText: l.func('const void *sqlite3_column_text(void *, int)'),
    columnBlob: l.func('const void *sqlite3_column_blob(void *, int)'),
    columnBytes: l.func('int sqlite3_column_bytes(void *, int)'),
    changes: l.func('int sqlite3_changes(void *)'),
    lastInsertRowid: l.func('int64_t sqlite3_last_insert_rowid(void *)'),
    getAutocommit: l.func('int sqlite3_get_autocommit(void *)'),
  };
  return lib;
}

/** The library's version ("3.40.1"); loads it. */
export function sqliteVersion(): string {
  return load().version();
}

/** The SQL as an error message quotes it: one line, at most 80 characters. */
function quote(sql: string): string {
  const one = sql.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? `${one.slice(0, 80)}…` : one;
}

interface Stmt {
  handle: Ptr;
  /** the name of each parameter (`$id`), null for an anonymous `?` */
  params: (string | null)[];
}

export class Database {
  readonly path: string;
  private db: Ptr | null;
  private readonly L: Lib;
  // prepared statements by SQL text, oldest use first (Map order) for eviction
  private readonly stmts = new Map<string, Stmt>();
  private depth = 0;

  private constructor(path: string, db: Ptr, L: Lib) {
    this.path = path;
    this.db = db;
    this.L = L;
  }

  /**
   * Opens (creating) the file; ':memory:' works too. WAL journal, busy timeout 5 s, foreign keys
   * on. Throws GodwitError naming the path and sqlite's message.
   */
  static open(path: string): Database {
    const L = load();
    const out: Out = [null];
    const rc = L.openV2(path, out, OPEN_READWRITE | OPEN_CREATE | OPEN_NOMUTEX, null);
    const h = out[0];
    if (rc !== OK || h === null) {
      const msg = h !== null ? L.errmsg(h) : L.errstr(rc);
      if (h !== null) L.closeV2(h);
      throw new SqliteError(`cannot open the database ${path}: ${msg}`, msg, rc);
    }
    const db = new Database(path, h, L);
    try {
      // before the journal mode: switching to WAL takes a lock another process may hold
      L.busyTimeout(h, 5000);
      // the first statement is where sqlite reads the file: a file that is no database fails here
      const mode = db.get('PRAGMA journal_mode = WAL')?.journal_mode;
      if (mode !== 'wal' && mode !== 'memory') log.warn({ path, mode }, 'sqlite cannot use WAL here; readers will wait for writers');
      db.exec('PRAGMA foreign_keys = ON');
      // with WAL, NORMAL loses nothing on a crash of the process and fsyncs only at checkpoints:
      // a write costs microseconds, not a flush, on a coordinator's event loop mid-migration
      db.exec('PRAGMA synchronous = NORMAL');
    } catch (e) {
      db.close();
      const msg = e instanceof SqliteError ? e.sqliteMessage : (e as Error).message;
      throw new SqliteError(`cannot open the database ${path}: ${msg}`, msg, e instanceof SqliteError ? e.code : 0);
    }
    log.debug({ path, sqlite: L.version() }, 'database open');
    return db;
  }

  /** Runs one or more statements that take no parameters (a schema script). */
  exec(sql: string): void {
    const db = this.handle();
    if (this.L.exec(db, sql, null, null, null) !== OK) throw this.failure(sql);
  }

  run(sql: string, params?: Params): RunResult {
    this.execute(sql, params, 'run');
    const db = this.handle();
    return { changes: this.L.changes(db), lastInsertRowid: Number(this.L.lastInsertRowid(db)) };
  }

  get(sql: string, params?: Params): Row | undefined {
    return this.execute(sql, params, 'get')[0];
  }

  all(sql: string, params?: Params): Row[] {
    return this.execute(sql, params, 'all');
  }

  /**
   * Runs f in a transaction: BEGIN IMMEDIATE (the write lock up front, so two writers wait on
   * the busy timeout instead of failing half-way), COMMIT, or ROLLBACK when f throws. Nested
   * calls become savepoints, so a helper that makes its own transaction can be called in one.
   */
  transaction<T>(f: () => T): T {
    const outer = this.depth === 0;
    const sp = `godwit_${this.depth}`;
    this.exec(outer ? 'BEGIN IMMEDIATE' : `SAVEPOINT ${sp}`);
    this.depth++;
    let result: T;
    try {
      result = f();
      // the part after its first await would run outside the transaction, after the COMMIT
      if (typeof (result as { then?: unknown } | null)?.then === 'function') {
        throw new SqliteError(`transaction() on ${this.path} takes a synchronous function; it returned a promise`, 'misuse', 0);
      }
    } catch (e) {
      this.depth--;
      this.undo(outer, sp);
      throw e;
    }
    this.depth--;
    try {
      this.exec(outer ? 'COMMIT' : `RELEASE ${sp}`);
    } catch (e) {
      this.undo(outer, sp);
      throw e;
    }
    return result;
  }

  /** Finalizes the statements and closes the file; idempotent. */
  close(): void {
    if (this.db === null) return;
    for (const s of this.stmts.values()) this.L.finalize(s.handle);
    this.stmts.clear();
    // close_v2: should a statement still be live, the handle goes when it does instead of failing
    this.L.closeV2(this.db);
    this.db = null;
    log.debug({ path: this.path }, 'database closed');
  }

  private undo(outer: boolean, sp: string): void {
    // some errors (disk full, I/O, busy in COMMIT) make sqlite roll back the whole transaction
    // itself; a ROLLBACK then would fail and hide the error that matters
    if (this.db === null || this.L.getAutocommit(this.db)) return;
    try {
      this.exec(outer ? 'ROLLBACK' : `ROLLBACK TO ${sp}; RELEASE ${sp}`);
    } catch (e) {
      log.warn({ path: this.path, err: (e as Error).message }, 'rollback failed');
    }
  }

  private handle(): Ptr {
    if (this.db === null) throw new SqliteError(`the database ${this.path} is closed`, 'closed', 0);
    return this.db;
  }

  private failure(sql: string, what?: string): SqliteError {
    const db = this.handle();
    const msg = what ?? this.L.errmsg(db);
    return new SqliteError(`sqlite: ${msg}, in "${quote(sql)}"`, msg, what === undefined ? this.L.extendedErrcode(db) : 0);
  }

  private execute(sql: string, params: Params | undefined, mode: 'run' | 'get' | 'all'): Row[] {
    const L = this.L;
    const st = this.prepare(sql);
    const h = st.handle;
    const rows: Row[] = [];
    try {
      this.bind(sql, st, params);
      let names: string[] | undefined;
      for (;;) {
        const rc = L.step(h);
        if (rc === DONE) break;
        if (rc !== ROW) throw this.failure(sql);
        // run() steps to the end: an INSERT ... RETURNING only completes there
        if (mode === 'run') continue;
        // read at each execution, not at prepare: sqlite re-prepares a `SELECT *` after a schema change
        names ??= Array.from({ length: L.columnCount(h) }, (_, i) => L.columnName(h, i));
        rows.push(this.row(h, names));
        if (mode === 'get') break;
      }
    } finally {
      L.reset(h);
      L.clearBindings(h);
    }
    return rows;
  }

  private prepare(sql: string): Stmt {
    const hit = this.stmts.get(sql);
    if (hit) {
      this.stmts.delete(sql);
      this.stmts.set(sql, hit);
      return hit;
    }
    const db = this.handle();
    const L = this.L;
    const text = Buffer.from(sql + '\0', 'utf8');
    const out: Out = [null], tail: Out = [null];
    if (L.prepare(db, text, text.length, out, tail) !== OK) throw this.failure(sql);
    const h = out[0];
    if (h === null) throw this.failure(sql, 'no statement in it');
    // what follows the first statement: whitespace or a comment is fine, a second statement would
    // be silently ignored, so it is refused
    const rest = tail[0] === null ? '' : text.subarray(Number(tail[0] - koffi.address(text)), text.length - 1).toString('utf8');
    if (rest.replace(/[\s;]+/g, '') !== '') {
      const more: Out = [null];
      const rc = L.prepare(db, Buffer.from(rest + '\0', 'utf8'), -1, more, [null]);
      if (more[0] !== null) L.finalize(more[0]);
      if (rc !== OK || more[0] !== null) {
        L.finalize(h);
        throw this.failure(sql, 'more than one statement (exec() runs several)');
      }
    }
    const params = Array.from({ length: L.paramCount(h) }, (_, i) => L.paramName(h, i + 1));
    const st = { handle: h, params };
    this.stmts.set(sql, st);
    if (this.stmts.size > STMT_CACHE) {
      const [oldest, s] = this.stmts.entries().next().value as [string, Stmt];
      L.finalize(s.handle);
      this.stmts.delete(oldest);
    }
    return st;
  }

  private bind(sql: string, st: Stmt, params: Params | undefined): void {
    const n = st.params.length;
    if (params === undefined) {
      if (n) throw this.failure(sql, `${n} parameter(s) expected, none given`);
      return;
    }
    if (Array.isArray(params)) {
      if (params.length !== n) throw this.failure(sql, `${n} parameter(s) expected, ${params.length} given`);
      params.forEach((v, i) => this.bindOne(sql, st.handle, i + 1, v));
      return;
    }
    st.params.forEach((name, i) => {
      if (name === null || name.startsWith('?')) throw this.failure(sql, `parameter ${i + 1} is positional, but named parameters were given`);
      const key = name.slice(1);
      const v = Object.hasOwn(params, key) ? params[key] : Object.hasOwn(params, name) ? params[name] : undefined;
      if (v === undefined) throw this.failure(sql, `no value for parameter ${name}`);
      this.bindOne(sql, st.handle, i + 1, v);
    });
  }

  private bindOne(sql: string, h: Ptr, i: number, v: SqlValue): void {
    const L = this.L;
    let rc: number;
    if (v === null) {
      rc = L.bindNull(h, i);
    } else if (typeof v === 'number') {
      rc = Number.isSafeInteger(v) ? L.bindInt64(h, i, v) : L.bindDouble(h, i, v);
    } else if (typeof v === 'bigint') {
      // koffi would wrap a value outside int64 silently
      if (v < INT64_MIN || v > INT64_MAX) throw this.failure(sql, `parameter ${i}: ${v} does not fit in 64 bits`);
      rc = L.bindInt64(h, i, v);
    } else if (typeof v === 'string') {
      const b = Buffer.from(v, 'utf8');
      if (b.length > MAX_BIND) throw this.failure(sql, `parameter ${i}: text of ${b.length} bytes is too big`);
      rc = b.length ? L.bindText(h, i, b, b.length, TRANSIENT) : L.bindText(h, i, EMPTY, 0, TRANSIENT);
    } else if (v instanceof Uint8Array) {
      if (v.length > MAX_BIND) throw this.failure(sql, `parameter ${i}: blob of ${v.length} bytes is too big`);
      // koffi passes an empty Buffer as NULL, which sqlite would bind as SQL NULL
      rc = v.length ? L.bindBlob(h, i, v, v.length, TRANSIENT) : L.bindZeroblob(h, i, 0);
    } else {
      throw this.failure(sql, `parameter ${i}: a ${typeof v} is not a SQL value`);
    }
    if (rc !== OK) throw this.failure(sql);
  }

  private row(h: Ptr, names: string[]): Row {
    const L = this.L;
    const row: Row = {};
    names.forEach((name, i) => {
      switch (L.columnType(h, i)) {
        case INTEGER: {
          // koffi gives a number up to 2^53 inclusive; 2^53 itself is not safe (2^53 + 1 reads the same)
          const v = L.columnInt64(h, i);
          row[name] = typeof v === 'number' && !Number.isSafeInteger(v) ? BigInt(v) : v;
          break;
        }
        case FLOAT:
          row[name] = L.columnDouble(h, i);
          break;
        case TEXT: {
          // the pointer first, then the size: that order leaves the value in its UTF-8 form
          const p = L.columnText(h, i), n = L.columnBytes(h, i);
          row[name] = p === null || n === 0 ? '' : Buffer.from(koffi.view(p, n)).toString('utf8');
          break;
        }
        case BLOB: {
          const p = L.columnBlob(h, i), n = L.columnBytes(h, i);
          // a copy: the memory is sqlite's until the next step
          row[name] = p === null || n === 0 ? Buffer.alloc(0) : Buffer.from(new Uint8Array(koffi.view(p, n)));
          break;
        }
        default:
          row[name] = null;
      }
    });
    return row;
  }
}
