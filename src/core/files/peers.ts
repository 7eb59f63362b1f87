// A restore's external peers (see external.ts): which of the image's objects had their other end
// outside the tree, what the restorer chose for each, and the far ends handed to godwit-sink.
// The makers of each kind (pipe.ts, fifo.ts, net/unix.ts) ask here and report what they made; the
// inheriting of a restorer's fd is generic (FileOpener), by the object's key.
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { sys } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { GodwitError } from '../errors.js';
import { logger } from '../log.js';
import { startSink, type SinkEnd } from './sink.js';
import type { ExternalObject, ExternalPeer, PeerFate, RestorePeerOptions } from './external.js';

const F_DUPFD_CLOEXEC = 1030, F_GETFD = 1;

export class Peers {
  private byKey = new Map<string, ExternalObject>();
  private ends: SinkEnd[] = [];
  private fates = new Map<string, ExternalPeer>();

  constructor(objects: ExternalObject[], readonly policy: RestorePeerOptions) {
    for (const o of objects) this.byKey.set(o.key, o);
  }

  get(key: string): ExternalObject | undefined { return this.byKey.get(key); }

  /** `--inherit-fd`: a copy of the restorer's fd for the object `key`, or undefined. */
  inherited(key: string): number | undefined {
    const n = this.policy.inherit.get(key);
    const o = this.byKey.get(key);
    if (n === undefined || !o) return undefined;
    const fd = sys(`fcntl(${n}, F_DUPFD_CLOEXEC)`, NR.fcntl, n, F_DUPFD_CLOEXEC, 3);
    this.became(o, 'inherited', String(n));
    return fd;
  }

  /**
   * Give `fd` (ours; this class closes it once the sink has its copy) to godwit-sink: captured
   * into a file named after the object, `head` first (what the tree wrote that nobody read), or
   * only held open.
   */
  toSink(o: ExternalObject, fd: number, capture: boolean, head?: Uint8Array): void {
    if (!capture) {
      this.ends.push({ fd });
      this.became(o, 'held');
      return;
    }
    // a terminal's key is its path: /dev/pts/3 is captured as pts-3.log
    const file = join(this.policy.captureDir, `${o.key.replace(/^\/dev\//, '').replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '')}.log`);
    mkdirSync(this.policy.captureDir, { recursive: true, mode: 0o750 });
    const out = openSync(file, 'a', 0o640);
    try { if (head?.length) writeSync(out, head); } finally { closeSync(out); }
    this.ends.push({ fd, capture: file });
    this.became(o, 'captured', undefined, file);
  }

  became(o: ExternalObject, fate: PeerFate, detail?: string, capture?: string): void {
    this.fates.set(o.key, { key: o.key, kind: o.kind, users: o.users, became: fate, ...(capture ? { capture } : {}), ...(detail ? { detail } : {}) });
  }

  /** Every object opened: the sink takes its ends (before any task gets a file). */
  start(): void {
    try {
      startSink(this.ends);
    } finally {
      for (const e of this.ends) closeSync(e.fd);
      this.ends = [];
    }
    for (const p of this.fates.values()) logger('restore').debug({ ...p }, 'external peer');
  }

  /** What each external object became, in the image's order. */
  get result(): ExternalPeer[] {
    return [...this.byKey.keys()].flatMap((k) => (this.fates.has(k) ? [this.fates.get(k)!] : []));
  }
}

/**
 * Check a restorer's `--inherit-fd` choices against an image before anything is built: each key
 * must name one of its external objects, each fd must be open here. Bad input: exit code 2.
 */
export function checkInherit(inherit: ReadonlyMap<string, number>, objects: ExternalObject[]): void {
  for (const [key, fd] of inherit) {
    if (!objects.some((o) => o.key === key)) {
      const have = objects.map((o) => o.key).join(', ') || 'none';
      throw new GodwitError(`--inherit-fd fd[${fd}]:${key}: the image has no external object ${key} (it has: ${have}; see godwit inspect)`, 2);
    }
    try { sys('fcntl(F_GETFD)', NR.fcntl, fd, F_GETFD); } catch {
      throw new GodwitError(`--inherit-fd fd[${fd}]:${key}: fd ${fd} is not open in this restore (give it to godwit, e.g. ${fd}<&... in a shell)`, 2);
    }
  }
}
