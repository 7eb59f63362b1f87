// godwit agent --listen ADDR[:PORT] --token-file F [--tls-cert F --tls-key F --tls-ca F] [--state-dir DIR]
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import type { CommandModule } from './command.js';
import { Agent } from '../agent/server.js';
import { readToken } from '../pageserver/auth.js';
import { DEFAULT_PORT } from '../pageserver/protocol.js';
import type { TlsMaterial } from '../pageserver/client.js';
import { GodwitError } from '../core/errors.js';
import { setLogger } from '../core/log.js';
import { requireRoot } from '../core/privileges.js';

/** ADDR, ADDR:PORT, [V6] or [V6]:PORT. */
export function parseListen(s: string, defaultPort = DEFAULT_PORT): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(s) ?? /^([^:\s]+)(?::(\d+))?$/.exec(s);
  if (!m || !m[1]) throw new GodwitError(`--listen ${s}: give ADDRESS or ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)`, 2);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new GodwitError(`--listen ${s}: bad port`, 2);
  return { host: m[1], port };
}

export function readTls(cert?: string, key?: string, ca?: string): TlsMaterial | undefined {
  const given = [cert, key, ca].filter((x) => x !== undefined).length;
  if (given === 0) return undefined;
  if (given !== 3) throw new GodwitError('TLS needs all of --tls-cert, --tls-key and --tls-ca (certificates are checked both ways)', 2);
  const read = (f: string, what: string) => {
    try { return readFileSync(f); } catch (e) { throw new GodwitError(`cannot read ${what} ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2); }
  };
  return { cert: read(cert!, '--tls-cert'), key: read(key!, '--tls-key'), ca: read(ca!, '--tls-ca') };
}

export const agentCommand: CommandModule = {
  command: 'agent',
  describe: 'run the per-host agent: checkpoint, stream and restore on behalf of a coordinator',
  builder: (y) => y
    .option('listen', { type: 'string', demandOption: true, describe: `ADDRESS[:PORT] to listen on (port ${DEFAULT_PORT} by default)` })
    .option('token-file', { type: 'string', demandOption: true, describe: 'file holding the cluster token (mode 600, at least 16 bytes)' })
    .option('tls-cert', { type: 'string', describe: 'this agent\'s certificate (PEM)' })
    .option('tls-key', { type: 'string', describe: 'its private key (PEM)' })
    .option('tls-ca', { type: 'string', describe: 'CA that signs every agent\'s and client\'s certificate (PEM)' })
    .option('state-dir', { type: 'string', default: '/var/lib/godwit', describe: 'where received images are kept' })
    .option('expire-after', { type: 'number', default: 1800, describe: 'seconds after which an idle migration is cancelled' })
    .example('$0 agent --listen 10.0.0.5 --token-file /etc/godwit/token', `listen on 10.0.0.5:${DEFAULT_PORT}`),
  handler: async (argv) => {
    requireRoot('run an agent');
    const { host, port } = parseListen(String(argv.listen));
    const token = readToken(String(argv['token-file']));
    const tls = readTls(argv['tls-cert'] as string | undefined, argv['tls-key'] as string | undefined, argv['tls-ca'] as string | undefined);
    if (!process.env.GODWIT_LOG && !argv.verbose) setLogger(pino({ level: 'info', base: undefined }, pino.destination(2)));
    const expireAfter = Number(argv['expire-after']);
    if (!Number.isFinite(expireAfter) || expireAfter <= 0) throw new GodwitError('--expire-after: give a number of seconds above 0', 2);
    const agent = new Agent({ host, port, token, ...(tls ? { tls } : {}), stateDir: String(argv['state-dir']), expireAfter });
    await agent.listen();
    return new Promise<number>((resolve) => {
      const stop = () => { void agent.stop().then(() => resolve(0)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  },
};
