// `restore` on the destination: rebuild the tree from the final link of a migration, detached
// (it runs on when the agent stops), then drop the images unless asked to keep them. Held, the
// built tree waits stopped for `resume`; a cancel, the agent stopping or the caller going away
// discards it. Whichever happens first is recorded as the migration's outcome, which is what a
// source asks about when it lost its coordinator. The migration's builder (core/builder/, started
// by `expect`) builds it, in this host's PID namespace or in a new one; `pidns` on a migration
// whose builder is in this host's builds it again in a new one (a PID was taken after all).
import { join } from 'node:path';
import { Builder, type BuiltByBuilder } from '../../core/builder/client.js';
import type { ExternalPeer } from '../../core/files/external.js';
import { GodwitError, PidTakenError, errorMessage } from '../../core/errors.js';
import type { OpArgs } from '../../pageserver/protocol.js';
import type { OpCall } from '../context.js';
import { NotFoundError, type HeldTree, type Incoming, type Running } from '../registry.js';

/** `pid`: the root's PID on this host (in a new PID namespace, not the tree's own) */
export interface RestoreAnswer {
  pid: number; restoreMs: number; resumeMs: number; keptBytes: number;
  /** the tree's external peers (their other end stayed on the source) and what each became here */
  external: ExternalPeer[];
}

/**
 * A migration's external peers stay behind on the source: what the tree writes to them is
 * captured here, under this agent's state directory (the migration's id, which this agent
 * handed out, names the folder: nothing from the network chooses the path), and a unix socket
 * connected to a named listener is connected again to the same name here where something
 * listens there (journald's stdout stream, /dev/log).
 */
export function peerPolicy(ctx: OpCall['ctx'], migration: string): { captureDir: string; reconnectUnix: boolean } {
  return { captureDir: join(ctx.state.root, 'captured', migration), reconnectUnix: true };
}

/**
 * What is being built ahead must be finished before the restore uses it. A build that takes too
 * long is dropped (its seeds killed), and still waited for: a write of it still in flight must not
 * land in the new seeds, which take the same PIDs.
 */
async function settle(m: Incoming, log: OpCall['ctx']['log']): Promise<void> {
  const b = m.builder;
  if (!b) return;
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([
    b.settled().then(() => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), SETTLE_MS); }),
  ]);
  clearTimeout(timer);
  if (!late) return;
  log.warn({ migration: m.id, seconds: SETTLE_MS / 1000 }, 'the memory built ahead is not finished: the restore builds from the images');
  b.drop(`not finished after ${SETTLE_MS / 1000} s`);
  await b.settled();
}
const SETTLE_MS = 30_000;

/**
 * Build the tree as soon as the final link is in, before anyone asks: the `restore` that follows
 * (after the source said it holds the tree frozen) takes it over, and a `cancel` discards it.
 * Nothing runs and nothing is decided until that `restore` resumes it.
 */
export function buildEarly(ctx: OpCall['ctx'], m: Incoming): void {
  const dir = ctx.state.link('incoming', m.id, 'final');
  m.early = (async () => {
    await settle(m, ctx.log);
    if (!m.builder) throw new GodwitError(`migration ${m.id} has no builder`);
    return held(await m.builder.build(dir));
  })();
  m.early.catch((e: unknown) => ctx.log.debug({ migration: m.id, err: errorMessage(e) }, 'the early build failed; the restore says so'));
}

function held(t: BuiltByBuilder): HeldTree {
  return { root: t.root, keptBytes: t.keptBytes, buildMs: t.restoreMs, external: t.external, alive: () => t.alive(), run: () => t.run(), discard: () => t.discard() };
}

/**
 * A tree whose builder could not have one of its PIDs here, built again in a new PID namespace
 * from the images (the coordinator asks for it only where the operator allowed it): nothing of
 * what was built ahead carries over, the IDs in the namespace are the tree's.
 */
async function buildInNewPidns(ctx: OpCall['ctx'], m: Incoming): Promise<HeldTree> {
  m.builder?.close();
  const entries = m.image?.pstree.entries ?? [];
  const { builder } = await Builder.start({
    label: m.id, dir: ctx.state.migration('incoming', m.id), pidns: true, ids: entries.flatMap((e) => [e.pid, ...e.threads]), ...peerPolicy(ctx, m.id),
  });
  m.builder = builder;
  m.pidns = true;
  return held(await builder.build(ctx.state.link('incoming', m.id, 'final')));
}

export async function restore(call: OpCall, run: Running, args: OpArgs['restore']): Promise<RestoreAnswer> {
  const { ctx } = call;
  const reg = ctx.registry;
  const m = reg.incoming.get(args.migration);
  if (!m) throw new NotFoundError(`no migration ${args.migration} here`);
  if (!m.links.includes('final')) throw new GodwitError(`migration ${m.id} has no final dump yet (links received: ${m.links.join(', ') || 'none'})`);
  run.progress.phase = 'restoring';
  const t0 = performance.now();
  let tree: HeldTree;
  try {
    const early = m.early;
    m.early = undefined;
    if (args.pidns && !m.pidns) {
      await (await early?.catch(() => null))?.discard();
      tree = await buildInNewPidns(ctx, m);
    } else {
      tree = await (early ?? Promise.reject(new GodwitError(`migration ${m.id} is not being built`)));
    }
    if (m.builder) ctx.log.debug({ migration: m.id, ...m.builder.stats, dropped: m.builder.whyDropped || undefined }, 'memory built ahead');
  } catch (e) {
    // a PID taken here: the coordinator may ask for the tree in a new PID namespace, which it
    // may resume; a cancel decides otherwise
    if (!(e instanceof PidTakenError)) reg.decide(m.id, 'discarded');
    throw e;
  }
  // from the ask: the build began when the final link was in, a moment before (its start is in
  // the transfer's share of the downtime, which ends when the source hears the link is whole)
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
      await tree.discard().catch((e: unknown) => ctx.log.warn({ migration: m.id, err: errorMessage(e) }, 'discarding the built tree'));
      reg.decide(m.id, 'discarded');
      ctx.log.warn({ migration: m.id }, 'built tree discarded: the migration was called off before it resumed');
      throw new GodwitError('the restored tree was discarded before it resumed');
    }
  }
  const t1 = performance.now();
  // a tree whose builder died died with it: the source may run again
  if (!tree.alive()) {
    reg.decide(m.id, 'discarded');
    throw new GodwitError('the restored tree died before it resumed (its builder is gone)');
  }
  // from here a copy may run on this host: the source must never run again
  reg.decide(m.id, 'resumed');
  try {
    await tree.run();
  } catch (e) {
    ctx.log.error({ migration: m.id, err: errorMessage(e) }, 'resume failed');
    throw e;
  }
  const resumeMs = Math.round((performance.now() - t1) * 10) / 10;
  ctx.log.info({ migration: m.id, pid: tree.root, restoreMs, buildMs: Math.round(tree.buildMs), resumeMs, external: tree.external.length }, 'restored');
  // the migration is over here: its key is spent
  reg.incoming.delete(m.id);
  // after the answer: deleting a GiB of images takes longer than the whole freeze did
  if (!args.keepImages) void ctx.state.removeLater('incoming', m.id).catch((e: unknown) => ctx.log.warn({ migration: m.id, err: errorMessage(e) }, 'cannot delete the images'));
  return { pid: tree.root, restoreMs, resumeMs, keptBytes: tree.keptBytes, external: tree.external };
}
