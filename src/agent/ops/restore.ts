// `restore` on the destination: rebuild the tree from the final link of a migration, detached
// (it runs on when the agent stops), then drop the images unless asked to keep them.
import { restore as restoreTree } from '../../core/restore.js';
import { GodwitError } from '../../core/errors.js';
import type { OpArgs } from '../../pageserver/protocol.js';
import type { OpCall } from '../context.js';
import { NotFoundError, type Running } from '../registry.js';

export async function restore(call: OpCall, run: Running, args: OpArgs['restore']): Promise<{ pid: number; restoreMs: number }> {
  const { ctx } = call;
  const m = ctx.registry.incoming.get(args.migration);
  if (!m) throw new NotFoundError(`no migration ${args.migration} here`);
  if (!m.links.includes('final')) throw new GodwitError(`migration ${m.id} has no final dump yet (links received: ${m.links.join(', ') || 'none'})`);
  run.progress.phase = 'restoring';
  const t0 = performance.now();
  const r = await restoreTree({ dir: ctx.state.link('incoming', m.id, 'final'), detach: true });
  const restoreMs = Math.round(performance.now() - t0);
  ctx.log.info({ migration: m.id, pid: r.root, restoreMs }, 'restored');
  // the migration is over here: its key is spent
  ctx.registry.incoming.delete(m.id);
  if (!args.keepImages) ctx.state.remove('incoming', m.id);
  return { pid: r.root, restoreMs };
}
