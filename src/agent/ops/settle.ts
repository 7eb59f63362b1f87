// `settle` on the source and `resume` on the destination: the two halves of a migration's end.
// Each wakes the operation that holds the tree; neither does anything on its own.
import { NotFoundError } from '../registry.js';
import type { AgentContext } from '../context.js';
import type { OpArgs } from '../../pageserver/protocol.js';

export function settle(ctx: AgentContext, args: OpArgs['settle']): { outcome: 'kill' | 'resume' } {
  const wake = ctx.registry.holds.get(args.migration);
  if (!wake) throw new NotFoundError(`no held dump for migration ${args.migration} here`);
  wake(args.outcome);
  return { outcome: args.outcome };
}

export function resume(ctx: AgentContext, args: OpArgs['resume']): { resumed: boolean } {
  const wake = ctx.registry.built.get(args.migration);
  if (!wake) {
    if (ctx.registry.outcome(args.migration) === 'resumed') return { resumed: true };
    throw new NotFoundError(`no built tree for migration ${args.migration} here`);
  }
  wake();
  return { resumed: true };
}
