// The round trip every protocol program gets: start it, dump it (the tree is killed), wait until
// its PIDs are free, restore it detached, ask it to check itself, expect PASS.
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { askVerdict, buildProgram, launch, needCheckpointRestore, roundTrip, treePids, type Target } from './harness.js';
import { assertPass } from './asserts.js';

export interface RoundTripOptions {
  /** The command to start (default: the compiled test/programs/NAME.c). */
  cmd?: string[];
  /** Time to get to READY, and to give a verdict (default 20 s each). */
  timeoutMs?: number;
  /** Reads the READY line: a reason to skip (a kernel feature the program found missing), or null. */
  skipIf?: (readyLine: string) => string | null;
  /** Runs between the restore and the verdict (the image is in target.dir/img). */
  afterRestore?: (target: Target) => void;
}

export async function roundTripProgram(t: TestContext, name: string, opts: RoundTripOptions = {}): Promise<void> {
  if (!needCheckpointRestore(t)) return;
  const cmd = opts.cmd ?? [buildProgram(name)];
  const target = await launch(t, name, cmd, { timeoutMs: opts.timeoutMs ?? 20_000 });
  const ready = /^READY .*$/m.exec(readFileSync(target.log, 'utf8'))?.[0] ?? '';
  const why = opts.skipIf?.(ready);
  if (why) { t.skip(why); return; }
  await roundTrip(target, treePids(target));
  opts.afterRestore?.(target);
  assertPass(await askVerdict(target, opts.timeoutMs ?? 20_000));
}
