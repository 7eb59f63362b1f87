// `cancel`: stop whatever runs for a migration and forget it, on either side. On the source the
// process is left as it was before the migration (tracker taken back); on the destination every
// byte received is deleted and the key no longer opens anything.
import type { OpCall } from '../context.js';
import type { OpArgs } from '../../pageserver/protocol.js';
import { abandon } from './send.js';

export async function cancel(call: OpCall, args: OpArgs['cancel']): Promise<{ cancelled: boolean }> {
  const { ctx } = call;
  const mid = args.migration;
  const running = ctx.registry.busyWith(mid);
  if (running) {
    running.abort.abort();
    await running.done.catch(() => undefined);
  }
  let found = !!running;
  const out = ctx.registry.outgoing.get(mid);
  if (out) {
    found = true;
    const last = out.links[out.links.length - 1];
    abandon(call, mid, last ? ctx.state.link('outgoing', mid, last) : undefined);
  }
  if (ctx.registry.incoming.delete(mid)) found = true;
  ctx.state.remove('incoming', mid);
  ctx.log.info({ migration: mid, found }, 'migration cancelled');
  return { cancelled: found };
}
