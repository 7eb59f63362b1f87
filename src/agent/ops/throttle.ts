// `throttle` on the source: auto-converge's step. Only a process this agent is moving can be
// slowed down, and the throttle goes when the migration ends, whichever way it ends.
import { GodwitError } from '../../core/errors.js';
import { NotFoundError } from '../registry.js';
import { Throttle } from '../throttle.js';
import type { AgentContext } from '../context.js';
import type { OpArgs } from '../../pageserver/protocol.js';

export async function throttle(ctx: AgentContext, args: OpArgs['throttle']): Promise<{ percent: number }> {
  const out = ctx.registry.outgoing.get(args.migration);
  if (!out) throw new NotFoundError(`no migration ${args.migration} is being sent from here`);
  if (out.pid !== args.pid) throw new GodwitError(`migration ${args.migration} moves process ${out.pid}, not ${args.pid}`);
  let t = ctx.registry.throttles.get(args.migration);
  if (args.percent === 0) {
    if (t) liftThrottle(ctx, args.migration);
    return { percent: 0 };
  }
  if (!t) {
    t = await Throttle.create(args.migration, args.pid);
    ctx.registry.throttles.set(args.migration, t);
  }
  t.set(args.percent);
  ctx.log.info({ migration: args.migration, pid: args.pid, percent: args.percent }, 'tree throttled');
  return { percent: args.percent };
}

export function liftThrottle(ctx: AgentContext, migration: string): void {
  const t = ctx.registry.throttles.get(migration);
  if (!t) return;
  ctx.registry.throttles.delete(migration);
  for (const p of t.lift()) ctx.log.warn({ migration, problem: p }, 'throttle not fully lifted');
}
