// godwit coordinator --listen ADDR:PORT --hosts F [--db PATH]: the long-running service. It runs
// migrations as `godwit migrate` does, keeps their history in SQLite, watches the agents, and
// serves the API, the event stream, /metrics and the dashboard (docs/coordinator.md).
import { dirname } from 'node:path';
import { mkdirSync, readFileSync } from 'node:fs';
import { pino } from 'pino';
import type { CommandModule } from './command.js';
import { GodwitError } from '../core/errors.js';
import { setLogger, logger } from '../core/log.js';
import { parseListen } from './agent.js';
import { loadHosts, clientOptions, DEFAULT_TOKEN_FILE, type HostEntry } from '../coordinator/hosts.js';
import { readToken } from '../pageserver/auth.js';
import type { ClientOptions } from '../pageserver/client.js';
import { History } from '../coordinator/store/history.js';
import { HostWatcher } from '../coordinator/service/health.js';
import { Runner } from '../coordinator/service/runner.js';
import { CoordinatorServer } from '../coordinator/service/http.js';
import { checkHook } from '../coordinator/hooks.js';

export const DEFAULT_COORDINATOR_PORT = 7750;

export const coordinatorCommand: CommandModule = {
  command: 'coordinator',
  describe: 'run the coordinator service: HTTP API, event stream, metrics and dashboard for migrations',
  builder: (y) => y
    .option('listen', { type: 'string', demandOption: true, describe: `ADDRESS[:PORT] for the API and dashboard (port ${DEFAULT_COORDINATOR_PORT} by default); only loopback gets in without the token` })
    .option('hosts', { type: 'string', describe: 'hosts file (default: $GODWIT_HOSTS, else /etc/godwit/hosts)' })
    .option('db', { type: 'string', default: '/var/lib/godwit/coordinator.db', describe: 'SQLite file for the history of migrations' })
    .option('token-file', { type: 'string', describe: `the cluster token, asked of clients beyond loopback (default ${DEFAULT_TOKEN_FILE}; also the agents' unless the hosts file names another)` })
    .option('tls-cert', { type: 'string', describe: 'serve HTTPS with this certificate (PEM)' })
    .option('tls-key', { type: 'string', describe: 'and this key (PEM)' })
    .option('hook-pre-restore', { type: 'string', describe: 'as godwit migrate\'s, for every migration' })
    .option('hook-post-resume', { type: 'string', describe: 'as godwit migrate\'s, for every migration' })
    .option('hook-timeout', { type: 'number', default: 30, describe: 'seconds a hook may run' })
    .example('$0 coordinator --listen 127.0.0.1:7750 --hosts /etc/godwit/hosts', 'the dashboard at http://127.0.0.1:7750/'),
  handler: async (argv) => {
    const listen = parseListen(String(argv.listen), DEFAULT_COORDINATOR_PORT);
    const hostsFile = loadHosts(argv.hosts as string | undefined);
    if (!hostsFile || hostsFile.hosts.size === 0) throw new GodwitError('give a hosts file with the agents (--hosts F, GODWIT_HOSTS, or /etc/godwit/hosts)', 2);
    const tokenFile = (argv['token-file'] as string | undefined) ?? DEFAULT_TOKEN_FILE;
    const loopbackOnly = /^(127\.|localhost$|::1$)/.test(listen.host);
    let token: Buffer | undefined;
    try { token = readToken(tokenFile); } catch (e) {
      if (!loopbackOnly) throw e;
    }
    const tlsGiven = [argv['tls-cert'], argv['tls-key']].filter((x) => x !== undefined).length;
    if (tlsGiven === 1) throw new GodwitError('HTTPS needs both --tls-cert and --tls-key', 2);
    const read = (f: string): Buffer => {
      try { return readFileSync(f); } catch (e) { throw new GodwitError(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2); }
    };
    const tls = tlsGiven ? { cert: read(String(argv['tls-cert'])), key: read(String(argv['tls-key'])) } : undefined;
    const hookTimeout = Number(argv['hook-timeout']);
    if (!Number.isFinite(hookTimeout) || hookTimeout <= 0) throw new GodwitError('--hook-timeout: give a number of seconds above 0', 2);
    const hooks = {
      ...(argv['hook-pre-restore'] !== undefined ? { hookPreRestore: checkHook('hook-pre-restore', String(argv['hook-pre-restore'])) } : {}),
      ...(argv['hook-post-resume'] !== undefined ? { hookPostResume: checkHook('hook-post-resume', String(argv['hook-post-resume'])) } : {}),
      hookTimeoutMs: hookTimeout * 1000,
    };
    // credentials of every host, read now: a file that cannot be read is an error at start, not mid-migration
    const creds = new Map<string, ClientOptions>();
    for (const h of hostsFile.hosts.values()) creds.set(h.name, clientOptions({ ...h, ...(h.tokenFile || argv['token-file'] === undefined ? {} : { tokenFile }) }));
    const credentials = (h: HostEntry): ClientOptions => creds.get(h.name)!;
    if (!process.env.GODWIT_LOG && !argv.verbose) setLogger(pino({ level: 'info', base: undefined }, pino.destination(2)));
    const log = logger('coordinator');

    const db = String(argv.db);
    if (db !== ':memory:') mkdirSync(dirname(db), { recursive: true, mode: 0o700 });
    const history = History.open(db);
    for (const r of history.abandonRunning()) log.warn({ id: r.id, pid: r.pid, from: r.from, to: r.to }, 'a migration was running when the coordinator stopped: its outcome is unknown here (the agents know it)');
    let server: CoordinatorServer | null = null;
    const runner = new Runner(history, { hosts: hostsFile.hosts, credentials, hooks, emit: (e) => server?.broadcast(e) });
    const watcher = new HostWatcher([...hostsFile.hosts.values()], credentials, (hosts) => server?.broadcast({ type: 'hosts', hosts }));
    server = new CoordinatorServer({ ...listen, ...(token ? { token } : {}), ...(tls ? { tls } : {}), hosts: hostsFile.hosts, credentials, history, runner, watcher });
    // the first check before the first client: /api/hosts never says "not checked yet"
    await watcher.start();
    const addr = await server.listen();
    if (!token) log.warn({ tokenFile }, 'no token: only loopback clients get in');
    if (!loopbackOnly && !tls) log.warn({}, 'the API is served over plain HTTP beyond loopback: the token crosses the network in clear; give --tls-cert and --tls-key');
    log.info({ address: addr.address, port: addr.port, hosts: [...hostsFile.hosts.keys()], db }, 'coordinator listening');
    return new Promise<number>((resolve) => {
      const stop = (): void => {
        log.info({}, 'stopping: running migrations roll back');
        watcher.stop();
        // new migrations are refused from here; those running roll back and are recorded
        const rolled = runner.stop();
        void Promise.all([rolled, server!.close()])
          .catch((e: unknown) => log.error({ err: (e as Error).message }, 'stopping'))
          .finally(() => { history.close(); resolve(0); });
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  },
};
