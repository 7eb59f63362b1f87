// The far end of an external peer, after a restore: a pipe, socket or terminal whose other end
// stayed behind (on the dump's host, or gone with it) is given a new other end, held by
// godwit-sink (native/), a small process of its own that outlives the restorer. It keeps every
// end open, so the tree meets no EOF, EPIPE or SIGPIPE it did not have before, and appends what
// the tree writes to a capture file the report names.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { nativeHelper } from '../native.js';
import { GodwitError } from '../errors.js';
import { logger } from '../log.js';

export interface SinkEnd {
  /** an fd of this process: the sink gets its own copy, the caller still owns this one */
  fd: number;
  /** append what is read from it to this file; without one the end is only held open */
  capture?: string;
}

/** Hand `ends` to a new godwit-sink; returns its PID. It exits once every end has hung up. */
export function startSink(ends: SinkEnd[]): number {
  if (!ends.length) return 0;
  for (const e of ends) if (e.capture) mkdirSync(dirname(e.capture), { recursive: true, mode: 0o750 });
  // the child's fds 3, 4, ... are the ends, in order
  const args = ends.map((e, i) => (e.capture ? `${i + 3}:c:${e.capture}` : `${i + 3}:h`));
  const r = spawnSync(nativeHelper('godwit-sink'), args, {
    encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe', ...ends.map((e) => e.fd)],
  });
  const pid = Number(r.stdout?.trim());
  if (r.status !== 0 || !(pid > 0)) {
    throw new GodwitError(`cannot start godwit-sink for the tree's external peers: ${r.error?.message ?? (r.stderr.trim() || `exit ${r.status}`)}`);
  }
  logger('sink').debug({ pid, ends: args }, 'external peers held by godwit-sink');
  return pid;
}
