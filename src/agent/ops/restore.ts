// `restore` on the destination: rebuild the tree from the final link of a migration, detached
// (it runs on when the agent stops), then drop the images unless asked to keep them. Held, the
// built tree waits stopped for `resume`; a cancel, the agent stopping or the caller going away
// discards it. Whichever happens first is recorded as the migration's outcome, which is what a
// source asks about when it lost its coordinator.
import { buildTree } from '../../core/restore.js';
import { GodwitError, errorMessage } from '../../core/errors.js';
import type { OpArgs } from '../../pageserver/protocol.js';
import type { OpCall } from '../context.js';
import { NotFoundError, type Running } from '../registry.js';

export interface RestoreAnswer { pid: number; restoreMs: number; resumeMs: number; keptBytes: number }

export async function restore(call: OpCall, run: Running, args: OpArgs['restore']): Promise<RestoreAnswer> {
  const { ctx } = call;
  const reg = ctx.registry;
  const m = reg.incoming.get(args.migration);
  if (!m) throw new NotFoundError(`no migration ${args.migration} here`);
  if (!m.links.includes('final')) throw new GodwitError(`migration ${m.id} has no final dump yet (links received: ${m.links.join(', ') || 'none'})`);
  run.progress.phase = 'restoring';
  const t0 = performance.now();
  let tree;
  try {
    const tWait = performance.now();
    await m.prebuild?.settled();
    if (m.prebuild) ctx.log.debug({ migration: m.id, waitedMs: performance.now() - tWait, ...m.prebuild.stats }, 'memory built ahead');
    tree = await buildTree({ dir: ctx.state.link('incoming', m.id, 'final'), detach: true, pagesChecked: true,
      ...(m.prebuild ? { prebuilt: m.prebuild } : {}), ...(m.image ? { image: m.image } : {}),
    });
  } catch (e) {
    reg.decide(m.id, 'discarded');
    throw e;
  }
  const restoreMs = Math.round(performance.now() - t0);
  if (args.hold) {
    run.progress.phase = 'held';
    const go = await new Promise<boolean>((resolve) => {
      const stop = () => resolve(false);
      reg.built.set(m.id, () => resolve(true));
      if (run.abort.signal.aborted || call.gone.aborted) stop();
      run.abort.signal.addEventListener('abort', stop, { once: true });
      call.gone.addEventListener('abort', stop, { once: true });
      call.emit({ kind: 'built', data: { pid: tree.root, restoreMs, keptBytes: tree.keptBytes } });
    });
    reg.built.delete(m.id);
    if (!go) {
      tree.discard();
      reg.decide(m.id, 'discarded');
      ctx.log.warn({ migration: m.id }, 'built tree discarded: the migration was called off before it resumed');
      throw new GodwitError('the restored tree was discarded before it resumed');
    }
  }
  const t1 = performance.now();
  // from here a copy may run on this host: the source must never run again
  reg.decide(m.id, 'resumed');
  try {
    tree.run();
  } catch (e) {
    ctx.log.error({ migration: m.id, err: errorMessage(e) }, 'resume failed');
    throw e;
  }
  const resumeMs = Math.round((performance.now() - t1) * 10) / 10;
  ctx.log.info({ migration: m.id, pid: tree.root, restoreMs, resumeMs }, 'restored');
  // the migration is over here: its key is spent
  reg.incoming.delete(m.id);
  // after the answer: deleting a GiB of images takes longer than the whole freeze did
  if (!args.keepImages) void ctx.state.removeLater('incoming', m.id).catch((e: unknown) => ctx.log.warn({ migration: m.id, err: errorMessage(e) }, 'cannot delete the images'));
  return { pid: tree.root, restoreMs, resumeMs, keptBytes: tree.keptBytes };
}
