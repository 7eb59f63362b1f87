// `expect`: the destination side of a migration begins. The key it answers goes to the source
// (through whoever runs the migration); no stream is accepted without it.
import { mkdirSync } from 'node:fs';
import type { AgentContext } from '../context.js';
import type { OpArgs } from '../../pageserver/protocol.js';

export function expect(ctx: AgentContext, args: OpArgs['expect']): { migration: string; key: string } {
  const r = ctx.registry.expect(args.label ?? '', args.buildAhead !== false);
  mkdirSync(ctx.state.migration('incoming', r.migration), { mode: 0o700 });
  ctx.log.info({ migration: r.migration, label: args.label }, 'migration expected');
  return r;
}
