// `cancel`: stop whatever runs for a migration and forget it, on either side. On the source the
// process is left as it was before the migration (tracker taken back, throttle lifted); on the
// destination every byte received is deleted and the key no longer opens anything. The answer
// says what became of the migration here: a source that lost its coordinator acts on it.
import type { OpCall } from '../context.js';
import type { OpArgs } from '../../pageserver/protocol.js';
import type { Outcome } from '../registry.js';
import { abandon } from './send.js';

export async function cancel(call: OpCall, args: OpArgs['cancel']): Promise<{ cancelled: boolean; outcome?: Outcome }> {
  const { ctx } = call;
  const mid = args.migration;
  for (;;) {
    const running = ctx.registry.busyWith(mid);
    if (!running) break;
    running.abort.abort();
    await running.done.catch(() => undefined);
  }
  let found = ctx.registry.outcome(mid) !== undefined;
  const out = ctx.registry.outgoing.get(mid);
  if (out) {
    found = true;
    const last = out.links[out.links.length - 1];
    abandon(call, mid, last ? ctx.state.link('outgoing', mid, last) : undefined);
  }
  const incoming = ctx.registry.incoming.get(mid);
  if (incoming?.early) {
    const early = incoming.early;
    incoming.early = undefined;
    await (await early.catch(() => null))?.discard().catch(() => undefined);
  }
  // its seeds and held IDs go with it
  incoming?.builder?.close();
  if (ctx.registry.incoming.delete(mid)) {
    found = true;
    ctx.registry.decide(mid, 'discarded');
  }
  ctx.state.remove('incoming', mid);
  const outcome = ctx.registry.outcome(mid);
  ctx.log.info({ migration: mid, found, outcome }, 'migration cancelled');
  return { cancelled: found, ...(outcome ? { outcome } : {}) };
}
