// A PostgreSQL 15 cluster as Debian ships it (the `postgresql` package): made by initdb, run by
// the postgres user, the postmaster started detached like any test target, clients through `pg`.
// The cluster lives under the test's directory; its unix socket where the caller says.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, appendFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { join } from 'node:path';
import pg from 'pg';
import { waitForLog, alive, sleep, type Target } from './harness.js';
import type { Cluster } from './hosts.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface PgCluster { data: string; port: number; socketDir: string }

function pgUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('there is no postgres user: install the postgresql package (scripts/setup.sh does)');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** A directory the postgres user owns (the cluster refuses a data directory it does not own). */
export function pgDir(path: string): string {
  const { uid, gid } = pgUser();
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chownSync(path, uid, gid);
  return path;
}

/**
 * initdb a cluster in `dir`/data listening on `listen`:`port`, its unix socket in `socketDir`.
 * `settings` go into postgresql.conf.
 */
export function makeCluster(dir: string, o: { listen: string; port: number; socketDir: string; settings?: Record<string, string | number> }): PgCluster {
  // the test's directory is root's and 0700: the postgres user must be let through it
  chmodSync(dirname(dir), 0o755);
  pgDir(dir);
  const data = join(dir, 'data');
  execFileSync('setpriv', ['--reuid=postgres', '--regid=postgres', '--clear-groups', '--', join(PG_BIN, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'], { stdio: 'ignore', cwd: dir });
  const conf: Record<string, string | number> = {
    listen_addresses: `'${o.listen}'`, port: o.port, unix_socket_directories: `'${o.socketDir}'`, ...(o.settings ?? {}),
  };
  appendFileSync(join(data, 'postgresql.conf'), Object.entries(conf).map(([k, v]) => `${k} = ${v}\n`).join(''));
  // clients come from the test's own networks (a simulated host's bridge): a test cluster trusts them
  appendFileSync(join(data, 'pg_hba.conf'), 'host all all 0.0.0.0/0 trust\nhost all all ::/0 trust\n');
  return { data, port: o.port, socketDir: o.socketDir };
}

/**
 * Start the postmaster as the postgres user, detached; `start` runs the command the way the
 * caller launches targets (on this host, or inside a simulated host). Returns once it accepts
 * connections.
 */
export async function startPostgres(c: PgCluster, start: (cmd: string[]) => Promise<Target>): Promise<Target> {
  if (!existsSync(join(PG_BIN, 'postgres'))) throw new Error(`${PG_BIN}/postgres is missing: install postgresql-15 (scripts/setup.sh does)`);
  // the postmaster is the PID the harness reads (bash and setpriv exec it)
  const target = await start(['setpriv', '--reuid=postgres', '--regid=postgres', '--clear-groups', '--', join(PG_BIN, 'postgres'), '-D', c.data]);
  await waitForLog(target.log, /database system is ready to accept connections/, 60_000);
  return target;
}

/** SIGTERM (a smart shutdown would wait for the clients: SIGINT is the fast one) and wait. */
export async function stopPostgres(pid: number): Promise<void> {
  if (!(pid > 0) || !alive(pid)) return;
  try { process.kill(pid, 'SIGINT'); } catch { return; }
  for (let i = 0; i < 200 && alive(pid); i++) await sleep(50);
  if (alive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}

export function client(host: string, port: number, database = 'postgres'): pg.Client {
  return new pg.Client({ host, port, user: 'postgres', database, connectionTimeoutMillis: 20_000 });
}

/** One value of the first row. */
export async function one<T = unknown>(c: pg.Client, sql: string, params: unknown[] = []): Promise<T> {
  const r = await c.query(sql, params);
  return Object.values(r.rows[0] as Record<string, unknown>)[0] as T;
}

/** The table of the tests: `rows` rows of (id, md5 of id). */
export async function loadRows(c: pg.Client, rows: number): Promise<void> {
  await c.query('CREATE TABLE items (id integer PRIMARY KEY, v text NOT NULL)');
  await c.query('INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, $1) g', [rows]);
}

/**
 * A cluster on simulated host `host` of `c`, listening on `service` (an address of that host's)
 * and on a unix socket in a directory of the host's own /run, which every host of `c` gets (the
 * package makes /run/postgresql on a real one). `settings` go into postgresql.conf.
 */
export async function postgresOnHost(
  c: Cluster, host: string, service: string, port: number, settings: Record<string, string | number> = {},
): Promise<{ cluster: PgCluster; postmaster: Target }> {
  const socketDir = '/run/godwit-pg';
  for (const h of Object.values(c.hosts)) {
    execFileSync('nsenter', ['-t', String(h.init), '-m', '--', 'sh', '-c', `mkdir -p ${socketDir} && chown postgres:postgres ${socketDir}`]);
  }
  const cluster = makeCluster(join(c.dir, 'pg'), { listen: service, port, socketDir, settings });
  const postmaster = await startPostgres(cluster, (cmd) => c.launch(host, 'postmaster', cmd, { ready: false }));
  return { cluster, postmaster };
}
