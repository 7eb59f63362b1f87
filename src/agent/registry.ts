// What an agent is doing: migrations it expects to receive (with their one-time keys), migrations
// it sends, the operations running now, and which processes are being moved. One process is
// moved by one migration at a time, and a migration runs one operation at a time.
import type { ExternalPeer } from '../core/files/external.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { GodwitError } from '../core/errors.js';
import type { OpName, Progress } from '../pageserver/protocol.js';
import type { Throttle } from './throttle.js';
import type { Builder } from '../core/builder/client.js';
import type { Image, KnownLinks } from '../core/image/image.js';

export class BusyError extends GodwitError {}
export class NotFoundError extends GodwitError {}

export interface Incoming {
  id: string;
  label: string;
  keyHash: Buffer;
  /** committed links, oldest first */
  links: string[];
  receiving: string | null;
  /** whether to build the tree while pre-copy runs (core/prebuild.ts) */
  buildAhead: boolean;
  /** the migration's restorer, from `expect` on: it holds the tree's IDs and builds it (core/builder/) */
  builder?: Builder;
  /** the tree is built in a new PID namespace */
  pidns: boolean;
  /** the final link, read and checked whole when it arrived */
  image?: Image;
  /** the tree, built as soon as the final link arrived, for the `restore` that follows */
  early?: Promise<HeldTree>;
  /** the pre-dump links, read and checked as they arrived */
  known: KnownLinks;
  created: number;
  touched: number;
}

/** A tree built on the destination and waiting, whichever way it was built. */
export interface HeldTree {
  root: number; keptBytes: number;
  /** how long its build took (it may have started before the restore was asked for) */
  buildMs: number;
  /** the tree's external peers and what each became */
  external: ExternalPeer[];
  run(): Promise<void>; discard(): Promise<void>;
}

export interface Outgoing { id: string; pid: number; peer: string; links: string[]; created: number; touched: number }

export interface Running {
  seq: number;
  op: OpName;
  migration: string;
  pid?: number;
  started: number;
  progress: Progress;
  abort: AbortController;
  done: Promise<unknown>;
}

const sideOf = (op: OpName): 'in' | 'out' => (op === 'predump' || op === 'dump' ? 'out' : 'in');
const hashKey = (key: string): Buffer => createHash('sha256').update(key).digest();

/** What became of a migration on the destination: the one answer both ends act on. */
export type Outcome = 'resumed' | 'discarded';

export class Registry {
  readonly incoming = new Map<string, Incoming>();
  readonly outgoing = new Map<string, Outgoing>();
  readonly running = new Set<Running>();
  /** source: held dumps waiting for `settle` */
  readonly holds = new Map<string, (o: 'kill' | 'resume') => void>();
  /** destination: built trees waiting for `resume` */
  readonly built = new Map<string, () => void>();
  /** source: trees slowed down for auto-converge */
  readonly throttles = new Map<string, Throttle>();
  private outcomes = new Map<string, { outcome: Outcome; at: number }>();
  private seq = 0;

  /** Recorded once; kept a day, so that a source asking late still gets the answer. */
  decide(id: string, outcome: Outcome): void {
    const now = Date.now();
    for (const [k, v] of this.outcomes) if (now - v.at > 86_400_000) this.outcomes.delete(k);
    if (!this.outcomes.has(id)) this.outcomes.set(id, { outcome, at: now });
  }

  outcome(id: string): Outcome | undefined { return this.outcomes.get(id)?.outcome; }

  expect(label: string, buildAhead = true): { migration: string; key: string } {
    const id = randomBytes(16).toString('hex');
    const key = randomBytes(32).toString('hex');
    const now = Date.now();
    this.incoming.set(id, { id, label, keyHash: hashKey(key), links: [], receiving: null, created: now, touched: now, known: new Map(), buildAhead, pidns: false });
    return { migration: id, key };
  }

  /** The migration a stream claims, if its key is the one handed out for it. */
  claim(id: string, key: string): Incoming {
    const m = this.incoming.get(id);
    // the same answer for an unknown migration and a wrong key: neither tells a prober anything
    if (!m || !timingSafeEqual(m.keyHash, hashKey(key))) throw new NotFoundError('no migration is expected with this id and key');
    m.touched = Date.now();
    return m;
  }

  outgoingFor(id: string, pid: number, peer: string): Outgoing {
    for (const o of this.outgoing.values()) {
      if (o.pid === pid && o.id !== id) throw new BusyError(`process ${pid} is already being moved (migration ${o.id})`);
    }
    let o = this.outgoing.get(id);
    if (o && o.pid !== pid) throw new BusyError(`migration ${id} moves process ${o.pid}, not ${pid}`);
    if (o) o.touched = Date.now();
    if (!o) {
      o = { id, pid, peer, links: [], created: Date.now(), touched: Date.now() };
      this.outgoing.set(id, o);
    }
    return o;
  }

  /** The operation running for this migration (on the given side: one agent may be both ends). */
  busyWith(migration: string, side?: 'in' | 'out'): Running | undefined {
    for (const r of this.running) if (r.migration === migration && (!side || sideOf(r.op) === side)) return r;
    return undefined;
  }

  /** Register an operation; refused while another runs for the same migration. */
  start(op: OpName, migration: string, pid?: number): Running {
    const other = this.busyWith(migration, sideOf(op));
    if (other) throw new BusyError(`migration ${migration} is busy with ${other.op}`);
    const r: Running = {
      seq: ++this.seq, op, migration, ...(pid ? { pid } : {}), started: Date.now(), abort: new AbortController(), done: Promise.resolve(),
      progress: { op, migration, phase: 'starting', done: 0, total: 0, wire: 0 },
    };
    this.running.add(r);
    return r;
  }

  finish(r: Running): void { this.running.delete(r); }
}
