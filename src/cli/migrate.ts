// godwit migrate --pid PID --to HOST [--from HOST] [...]: one live migration, start to end.
import type { CommandModule } from './command.js';
import { GodwitError } from '../core/errors.js';
import { loadHosts, resolveHost, clientOptions } from '../coordinator/hosts.js';
import { migrate, MigrationError, DEFAULTS, type MigrationReport } from '../coordinator/migration.js';
import { jsonLines, progressBar, progressLines, formatReport } from '../coordinator/progress.js';
import type { Compression } from '../pageserver/protocol.js';
import { parseSize, parseBandwidth } from './options.js';
import { parseCidr } from '../core/net/address.js';
import { checkHook } from '../coordinator/hooks.js';
import { errorMessage } from '../core/errors.js';

function positive(name: string, v: unknown, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new GodwitError(`--${name} ${String(v)}: give a number of at least ${min}`, 2);
  return n;
}

export const migrateCommand: CommandModule = {
  command: 'migrate',
  describe: 'move a running process tree to another host, live',
  builder: (y) => y
    .option('pid', { type: 'number', demandOption: true, describe: 'the tree\'s root, as the source host sees it' })
    .option('to', { type: 'string', demandOption: true, describe: 'destination: a name in the hosts file, or ws://ADDRESS:PORT' })
    .option('from', { type: 'string', describe: 'source: a name or URL (default: this host\'s agent)' })
    .option('hosts', { type: 'string', describe: 'hosts file (default: $GODWIT_HOSTS, else /etc/godwit/hosts)' })
    .option('token-file', { type: 'string', describe: 'cluster token for hosts given by URL (default /etc/godwit/token)' })
    .option('tls-cert', { type: 'string' }).option('tls-key', { type: 'string' }).option('tls-ca', { type: 'string' })
    .option('max-downtime', { type: 'number', default: DEFAULTS.maxDowntimeMs, describe: 'freeze once the rest can move in this many ms' })
    .option('max-iterations', { type: 'number', default: DEFAULTS.maxIterations, describe: 'pre-copy links at most' })
    .option('max-precopy', { type: 'number', default: DEFAULTS.maxPrecopyS, describe: 'seconds of pre-copy at most' })
    .option('bandwidth', { type: 'string', describe: 'limit on the wire, bytes per second (200M, 1G)' })
    .option('slice', { type: 'string', default: '512M', describe: 'the first pass goes in links of this size, each built on the destination while the next streams (0: one link)' })
    .option('auto-converge', { type: 'boolean', default: true, describe: 'slow the process down when it dirties memory faster than it moves (--no-auto-converge)' })
    .option('compress', { choices: ['auto', 'lz4', 'none'] as const, default: 'auto' as const })
    .option('dry-run', { type: 'boolean', default: false, describe: 'preflight only: say whether the move would work' })
    .option('new-pidns', { type: 'boolean', default: false, describe: 'restore into a fresh PID namespace on the destination, where the tree keeps its PIDs even if they are taken there' })
    .option('pidns-fallback', { type: 'boolean', default: false, describe: 'where a PID or thread ID of the tree is taken on the destination, restore into a fresh PID namespace there instead of refusing (without it, that refuses the migration)' })
    .option('move-ip', { type: 'string', array: true, describe: 'ADDR/PREFIX: move this address (the tree\'s service address) from the source\'s interface to the destination\'s while frozen, and announce it (repeatable)' })
    .option('hook-pre-restore', { type: 'string', describe: 'executable run while the tree is frozen on the source and built on the destination, before it runs there (e.g. to move an address through a load balancer or a cloud API); failing rolls back' })
    .option('hook-post-resume', { type: 'string', describe: 'executable run once the tree runs on the destination; failing only warns' })
    .option('hook-timeout', { type: 'number', default: 30, describe: 'seconds a hook may run' })
    .option('json', { type: 'boolean', default: false, describe: 'progress and report as JSON lines on stdout' })
    .example('$0 migrate --pid 4242 --to hostB', 'move PID 4242 from this host to hostB')
    .example('$0 migrate --pid 4242 --to hostB --move-ip 10.0.0.100/24', 'a server with its clients\' connections and its service address')
    .example('$0 migrate --pid 4242 --from ws://10.0.0.1:7749 --to ws://10.0.0.2:7749 --token-file /etc/godwit/token --json', ''),
  handler: async (argv) => {
    const pid = Number(argv.pid);
    if (!Number.isInteger(pid) || pid < 1) throw new GodwitError(`--pid ${String(argv.pid)}: give a process ID`, 2);
    const tlsGiven = [argv['tls-cert'], argv['tls-key'], argv['tls-ca']].filter((x) => x !== undefined).length;
    if (tlsGiven !== 0 && tlsGiven !== 3) throw new GodwitError('TLS needs all of --tls-cert, --tls-key and --tls-ca', 2);
    const cli = {
      ...(argv['token-file'] ? { tokenFile: String(argv['token-file']) } : {}),
      ...(tlsGiven ? { tls: { cert: String(argv['tls-cert']), key: String(argv['tls-key']), ca: String(argv['tls-ca']) } } : {}),
    };
    const hosts = loadHosts(argv.hosts as string | undefined);
    const from = resolveHost(argv.from as string | undefined, 'source', hosts, cli);
    const to = resolveHost(String(argv.to), 'destination', hosts, cli);
    if (from.url === to.url) throw new GodwitError(`the source and the destination are the same agent (${to.url})`, 2);
    const limits = {
      maxDowntimeMs: positive('max-downtime', argv['max-downtime'], 1),
      maxIterations: Math.floor(positive('max-iterations', argv['max-iterations'], 1)),
      maxPrecopyMs: positive('max-precopy', argv['max-precopy'], 1) * 1000,
      bandwidth: argv.bandwidth !== undefined ? parseBandwidth(String(argv.bandwidth)) : 0,
      sliceBytes: String(argv.slice) === '0' ? 0 : parseSize('slice', String(argv.slice), 1 << 20),
    };
    const moveIps = ((argv['move-ip'] as string[] | undefined) ?? []).map((c) => {
      try { return parseCidr(c); } catch (e) { throw new GodwitError(`--move-ip ${c}: ${errorMessage(e)}`, 2); }
    });
    const hooks = {
      ...(argv['hook-pre-restore'] !== undefined ? { hookPreRestore: checkHook('hook-pre-restore', String(argv['hook-pre-restore'])) } : {}),
      ...(argv['hook-post-resume'] !== undefined ? { hookPostResume: checkHook('hook-post-resume', String(argv['hook-post-resume'])) } : {}),
      hookTimeoutMs: positive('hook-timeout', argv['hook-timeout'], 1) * 1000,
    };
    const fromClient = clientOptions(from), toClient = clientOptions(to);
    const json = Boolean(argv.json);
    const ac = new AbortController();
    const onInt = () => {
      if (!ac.signal.aborted) process.stderr.write('\ngodwit: interrupted: rolling back (the process stays on the source)...\n');
      ac.abort();
    };
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onInt);
    const bar = !json && process.stderr.isTTY ? progressBar(process.stderr) : null;
    const say = (r: MigrationReport) => {
      if (json) process.stdout.write(`${JSON.stringify({ type: 'report', ...r })}\n`);
      else process.stdout.write(`${formatReport(r)}\n`);
    };
    try {
      const report = await migrate({
        pid, from, to, fromClient, toClient,
        ...limits,
        autoConverge: Boolean(argv['auto-converge']),
        compress: argv.compress as Compression,
        dryRun: Boolean(argv['dry-run']), newPidns: Boolean(argv['new-pidns']), pidnsFallback: Boolean(argv['pidns-fallback']),
        moveIps, ...hooks,
        signal: ac.signal,
        onProgress: json ? jsonLines(process.stdout) : bar ? bar.update : progressLines(process.stderr),
      });
      bar?.end();
      say(report);
      return 0;
    } catch (e) {
      bar?.end();
      if (e instanceof MigrationError) say(e.report);
      throw e;
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onInt);
    }
  },
};
