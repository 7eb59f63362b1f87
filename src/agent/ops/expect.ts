// `expect`: the destination side of a migration begins. The key it answers goes to the source
// (through whoever runs the migration); no stream is accepted without it. The migration's builder
// starts now and holds the tree's PIDs and thread IDs from here on (core/builder/): nothing that
// starts on this host meanwhile can take them. An ID that is taken already refuses the migration,
// or, where the caller allows it, sends the tree into a new PID namespace.
import { mkdirSync } from 'node:fs';
import { peerPolicy } from './restore.js';
import type { AgentContext } from '../context.js';
import type { OpArgs } from '../../pageserver/protocol.js';
import { Builder } from '../../core/builder/client.js';
import { describeTaken, type TakenId } from '../../core/pidhold.js';
import { PidTakenError, errorMessage } from '../../core/errors.js';

export interface ExpectAnswer {
  migration: string; key: string;
  /** the tree goes into a new PID namespace (asked for, or the fallback) */
  pidns: boolean;
  /** the IDs of the tree taken here, and by what (why it fell back) */
  taken: TakenId[];
}

export async function expect(ctx: AgentContext, args: OpArgs['expect']): Promise<ExpectAnswer> {
  const r = ctx.registry.expect(args.label ?? '', args.buildAhead !== false);
  const m = ctx.registry.incoming.get(r.migration)!;
  const dir = ctx.state.migration('incoming', r.migration);
  mkdirSync(dir, { mode: 0o700 });
  const start = (pidns: boolean) => Builder.start({
    label: r.migration, dir, pidns, ids: args.ids ?? [], ...peerPolicy(ctx, r.migration),
  });
  try {
    let pidns = !!args.pidns;
    let { builder, taken } = await start(pidns);
    const takenHere = taken;
    if (taken.length && !pidns) {
      builder.close();
      if (!args.pidnsFallback) throw new PidTakenError(`${describeTaken(taken)} of the tree are taken on ${ctx.host.hostname} (the tree needs its own IDs: free them there, or allow a new PID namespace)`);
      ctx.log.warn({ migration: r.migration, taken }, 'IDs of the tree are taken here: it goes into a new PID namespace');
      pidns = true;
      ({ builder, taken } = await start(true));
    }
    m.builder = builder;
    m.pidns = pidns;
    ctx.log.info({ migration: r.migration, label: args.label, pidns, held: (args.ids ?? []).length - taken.length }, 'migration expected');
    return { ...r, pidns, taken: takenHere };
  } catch (e) {
    ctx.registry.incoming.delete(r.migration);
    ctx.state.remove('incoming', r.migration);
    ctx.log.warn({ migration: r.migration, err: errorMessage(e) }, 'migration refused');
    throw e;
  }
}
