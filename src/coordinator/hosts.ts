// Where agents are: a hosts file maps names to agent URLs and their credentials, one host per
// line, like /etc/hosts:
//
//   # name   agent URL                 credentials
//   hostA    ws://10.0.0.1:7749        token-file=/etc/godwit/token
//   hostB    wss://10.0.0.2:7749       token-file=/etc/godwit/token tls-cert=/etc/godwit/me.pem tls-key=/etc/godwit/me.key tls-ca=/etc/godwit/ca.pem
//
// --hosts F, else $GODWIT_HOSTS, else /etc/godwit/hosts. `--to`/`--from` also take a URL.
import { readFileSync, existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { GodwitError } from '../core/errors.js';
import { readToken } from '../pageserver/auth.js';
import { DEFAULT_PORT } from '../pageserver/protocol.js';
import type { ClientOptions, TlsMaterial } from '../pageserver/client.js';

export const DEFAULT_HOSTS_FILE = '/etc/godwit/hosts';
export const DEFAULT_TOKEN_FILE = '/etc/godwit/token';

export interface HostEntry {
  name: string;
  url: string;
  tokenFile?: string;
  tls?: { cert: string; key: string; ca: string };
}

const KEYS = ['token-file', 'tls-cert', 'tls-key', 'tls-ca'] as const;

export function parseHosts(text: string, file: string): Map<string, HostEntry> {
  const hosts = new Map<string, HostEntry>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const where = `${file}:${i + 1}`;
    const [name, url, ...opts] = line.split(/\s+/);
    if (!name || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) throw new GodwitError(`${where}: '${name}' is not a host name`, 2);
    if (!url || !/^wss?:\/\/[^\s/]+/.test(url)) throw new GodwitError(`${where}: give the agent's URL (ws://ADDRESS:PORT or wss://...) after ${name}`, 2);
    if (hosts.has(name)) throw new GodwitError(`${where}: ${name} is listed twice`, 2);
    const kv: Partial<Record<(typeof KEYS)[number], string>> = {};
    for (const o of opts) {
      const eq = o.indexOf('=');
      const k = o.slice(0, eq) as (typeof KEYS)[number];
      if (eq < 1 || !KEYS.includes(k)) throw new GodwitError(`${where}: unknown setting '${o}' (known: ${KEYS.join(', ')})`, 2);
      kv[k] = o.slice(eq + 1);
    }
    const tlsGiven = [kv['tls-cert'], kv['tls-key'], kv['tls-ca']].filter(Boolean).length;
    if (tlsGiven !== 0 && tlsGiven !== 3) throw new GodwitError(`${where}: TLS needs tls-cert, tls-key and tls-ca together`, 2);
    hosts.set(name, {
      name, url, ...(kv['token-file'] ? { tokenFile: kv['token-file'] } : {}),
      ...(tlsGiven ? { tls: { cert: kv['tls-cert']!, key: kv['tls-key']!, ca: kv['tls-ca']! } } : {}),
    });
  });
  return hosts;
}

export interface Credentials { tokenFile?: string; tls?: { cert: string; key: string; ca: string } }

/** The hosts file in force, or null when none is given and the default does not exist. */
export function loadHosts(explicit?: string): { file: string; hosts: Map<string, HostEntry> } | null {
  const file = explicit ?? process.env.GODWIT_HOSTS ?? DEFAULT_HOSTS_FILE;
  if (!explicit && !process.env.GODWIT_HOSTS && !existsSync(file)) return null;
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    throw new GodwitError(`cannot read the hosts file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2);
  }
  return { file, hosts: parseHosts(text, file) };
}

/**
 * A host named on the command line: a URL as it is, a name through the hosts file. Without
 * `--from`, this host's agent: its own name in the hosts file, else the loopback agent.
 */
export function resolveHost(
  spec: string | undefined, role: 'source' | 'destination', hosts: ReturnType<typeof loadHosts>, cli: Credentials,
): HostEntry {
  let e: HostEntry | undefined;
  if (spec === undefined) {
    e = hosts?.hosts.get(hostname()) ?? { name: hostname(), url: `ws://127.0.0.1:${DEFAULT_PORT}` };
  } else if (/^wss?:\/\//.test(spec)) {
    e = { name: spec, url: spec };
  } else {
    if (!hosts) throw new GodwitError(`the ${role} '${spec}' is a name, and there is no hosts file (${DEFAULT_HOSTS_FILE}; or --hosts F, GODWIT_HOSTS); or give ws://ADDRESS:PORT`, 2);
    e = hosts.hosts.get(spec);
    if (!e) throw new GodwitError(`the ${role} '${spec}' is not in ${hosts.file} (it lists ${[...hosts.hosts.keys()].join(', ') || 'no host'})`, 2);
  }
  return { ...e, ...(cli.tokenFile ? { tokenFile: cli.tokenFile } : {}), ...(cli.tls ? { tls: cli.tls } : {}) };
}

export function clientOptions(e: HostEntry): ClientOptions {
  const token = readToken(e.tokenFile ?? DEFAULT_TOKEN_FILE);
  const read = (f: string): Buffer => {
    try { return readFileSync(f); } catch (err) { throw new GodwitError(`${e.name}: cannot read ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 2); }
  };
  const tls: TlsMaterial | undefined = e.tls ? { cert: read(e.tls.cert), key: read(e.tls.key), ca: read(e.tls.ca) } : undefined;
  return { token, ...(tls ? { tls } : {}) };
}
