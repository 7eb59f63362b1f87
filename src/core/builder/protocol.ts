// What an agent and the builder of one incoming migration say to each other (see serve.ts): one
// JSON object a line, on the builder's stdin and stdout. The builder answers every command but
// `drop` exactly once, in the order the commands came.
import type { ExternalPeer } from '../files/external.js';
import type { TakenId } from '../pidhold.js';
import { GodwitError } from '../errors.js';

export type ToBuilder =
  /** keep these PIDs and thread IDs free for the tree (answer: held) */
  | { op: 'hold'; ids: number[] }
  /** a pre-dump link arrived and was checked: build it into the seeds (answer: linked) */
  | { op: 'link'; dir: string }
  /** give up what was built (no answer): the final build starts from the images */
  | { op: 'drop'; why: string }
  /** the final dump arrived and was checked: build the tree, held (answer: built or failed) */
  | { op: 'final'; dir: string }
  | { op: 'run' }
  | { op: 'discard' };

export type FromBuilder =
  | { op: 'held'; taken: TakenId[] }
  /** `dropped`: the memory built ahead is given up, and why */
  | { op: 'linked'; links: number; bytes: number; ms: number; dropped?: string }
  /** `root`: the tree's own PID (in its namespace) */
  | { op: 'built'; root: number; restoreMs: number; keptBytes: number; external: ExternalPeer[] }
  /** `pidTaken`: a PID or thread ID the tree needs is taken (a new PID namespace would do) */
  | { op: 'failed'; why: string; pidTaken?: boolean }
  | { op: 'ran' }
  | { op: 'discarded' };

const OPS = new Set(['hold', 'link', 'drop', 'final', 'run', 'discard']);

/** A command line from the agent; anything else is a bug of ours, refused loudly. */
export function parseCommand(line: string): ToBuilder {
  let m: unknown;
  try { m = JSON.parse(line); } catch { throw new GodwitError(`builder: not a command: ${line.slice(0, 80)}`); }
  const c = m as { op?: unknown; ids?: unknown; dir?: unknown; why?: unknown };
  if (typeof c.op !== 'string' || !OPS.has(c.op)) throw new GodwitError(`builder: unknown command ${String(c.op)}`);
  if (c.op === 'hold' && !(Array.isArray(c.ids) && c.ids.every((x) => Number.isInteger(x)))) throw new GodwitError('builder: hold needs ids');
  if ((c.op === 'link' || c.op === 'final') && typeof c.dir !== 'string') throw new GodwitError(`builder: ${c.op} needs dir`);
  return m as ToBuilder;
}
