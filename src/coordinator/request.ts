// A migration asked for over the coordinator's API: the options of `godwit migrate`, as JSON,
// checked as strictly as the command line checks them, with the same defaults. Hosts are names
// from the hosts file only: a request never points the coordinator at an agent of its choosing.
import { GodwitError } from '../core/errors.js';
import { parseCidr, type Cidr } from '../core/net/address.js';
import { parseBandwidth, parseSize } from '../core/units.js';
import type { Compression } from '../pageserver/protocol.js';
import { DEFAULT_SLICE, DEFAULTS } from './migration.js';

export interface MigrationSettings {
  pid: number; from: string; to: string;
  maxDowntimeMs: number; maxIterations: number; maxPrecopyMs: number;
  bandwidth: number; sliceBytes: number; autoConverge: boolean; compress: Compression;
  newPidns: boolean; pidnsFallback: boolean; moveIps: Cidr[];
}

const KNOWN = ['pid', 'from', 'to', 'maxDowntimeMs', 'maxIterations', 'maxPrecopyS', 'bandwidth', 'slice', 'autoConverge', 'compress', 'newPidns', 'pidnsFallback', 'moveIps'];

function bad(message: string): never { throw new GodwitError(message, 2); }

/** the kernel's limit (PID_MAX_LIMIT on 64-bit) */
const PID_MAX = 4_194_304;

function num(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) bad(`${name}: give a number from ${min} to ${max}`);
  return v;
}

function bool(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') bad(`${name}: give true or false`);
  return v;
}

export function parseRequest(body: unknown, hosts: ReadonlySet<string>): MigrationSettings {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) bad('give a JSON object');
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !KNOWN.includes(k));
  if (unknown.length) bad(`unknown option${unknown.length > 1 ? 's' : ''} ${unknown.slice(0, 5).join(', ')} (known: ${KNOWN.join(', ')})`);
  if (!Number.isInteger(b.pid) || (b.pid as number) < 1 || (b.pid as number) > PID_MAX) bad('pid: give a process ID');
  const host = (k: 'from' | 'to'): string => {
    const h = b[k];
    if (typeof h !== 'string' || !hosts.has(h)) bad(`${k}: give a host of the hosts file (${[...hosts].join(', ')})`);
    return h;
  };
  const from = host('from'), to = host('to');
  if (from === to) bad('from and to are the same host');
  const compress = b.compress ?? 'auto';
  if (compress !== 'auto' && compress !== 'lz4' && compress !== 'none') bad('compress: auto, lz4 or none');
  const size = (v: unknown, name: string, min: number, parse: (s: string) => number): number => {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v === 0 || v >= min ? v : bad(`${name}: at least ${min}`);
    if (typeof v === 'string') {
      // the parsers speak of command-line flags; here the option has its JSON name
      try { return parse(v); } catch (e) { return bad(`${name}: ${(e as Error).message.replace(/^--\S+ /, '')}`); }
    }
    return bad(`${name}: give a size such as "200M", or a number of bytes`);
  };
  if (b.moveIps !== undefined && (!Array.isArray(b.moveIps) || b.moveIps.length > 16 || !b.moveIps.every((x) => typeof x === 'string'))) bad('moveIps: give a list of ADDRESS/PREFIX');
  return {
    pid: b.pid as number, from, to,
    maxDowntimeMs: num(b.maxDowntimeMs, 'maxDowntimeMs', 1, 3_600_000, DEFAULTS.maxDowntimeMs),
    maxIterations: Math.floor(num(b.maxIterations, 'maxIterations', 1, 10_000, DEFAULTS.maxIterations)),
    maxPrecopyMs: num(b.maxPrecopyS, 'maxPrecopyS', 1, 86_400, DEFAULTS.maxPrecopyS) * 1000,
    bandwidth: b.bandwidth === undefined ? 0 : size(b.bandwidth, 'bandwidth', 100_000, (s) => parseBandwidth(s)),
    sliceBytes: b.slice === undefined ? DEFAULT_SLICE : size(b.slice, 'slice', 1 << 20, (s) => (s === '0' ? 0 : parseSize('slice', s, 1 << 20))),
    autoConverge: bool(b.autoConverge, 'autoConverge', true),
    compress: compress as Compression,
    newPidns: bool(b.newPidns, 'newPidns', false),
    pidnsFallback: bool(b.pidnsFallback, 'pidnsFallback', false),
    moveIps: ((b.moveIps as string[] | undefined) ?? []).map((c) => parseCidr(c)),
  };
}
