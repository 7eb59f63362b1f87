// `restore` on the destination: rebuild the tree from the final link of a migration, detached
// (it runs on when the agent stops), then drop the images unless asked to keep them. Held, the
// built tree waits stopped for `resume`; a cancel, the agent stopping or the caller going away
// discards it. Whichever happens first is recorded as the migration's outcome, which is what a
// source asks about when it lost its coordinator. With `pidns`, the tree is built in a fresh PID
// namespace by a restorer of its own (core/pidns.ts): its PIDs may be taken here.
import { buildTree } from '../../core/restore.js';
import { buildInNewPidns } from '../../core/pidns.js';
import { join } from 'node:path';
import type { ExternalPeer, RestorePeerOptions } from '../../core/files/external.js';
import { GodwitError, errorMessage } from '../../core/errors.js';
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
function peerPolicy(ctx: OpCall['ctx'], m: Incoming): RestorePeerOptions {
  return { inherit: new Map(), captureDir: join(ctx.state.root, 'captured', m.id), reconnectUnix: true };
}


/**
 * What is being built ahead must be finished before the restore uses it. A build that takes too
 * long is dropped (its seeds killed), and still waited for: a write of it still in flight must not
 * land in the new seeds, which take the same PIDs.
 */
async function settle(m: Incoming, log: OpCall['ctx']['log']): Promise<void> {
  const p = m.prebuild!;
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([
    p.settled().then(() => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), SETTLE_MS); }),
  ]);
  clearTimeout(timer);
  if (!late) return;
  log.warn({ migration: m.id, seconds: SETTLE_MS / 1000 }, 'the memory built ahead is not finished: the restore builds from the images');
  p.drop(`not finished after ${SETTLE_MS / 1000} s`);
  await p.settled();
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
    if (m.prebuild) await settle(m, ctx.log);
    return build(m, dir, false, peerPolicy(ctx, m));
  })();
  m.early.catch((e: unknown) => ctx.log.debug({ migration: m.id, err: errorMessage(e) }, 'the early build failed; the restore says so'));
}

async function build(m: Incoming, dir: string, pidns: boolean, peers: RestorePeerOptions): Promise<HeldTree> {
  if (pidns) {
    // the seeds grown during pre-copy live in this namespace, not the new one
    m.prebuild?.drop('the tree is restored into a new PID namespace');
    const t = await buildInNewPidns(dir, m.id, ['--capture-dir', peers.captureDir, ...(peers.reconnectUnix ? ['--ext-unix-sk'] : [])]);
    return { root: t.outerRoot, keptBytes: 0, external: t.external, run: () => t.run(), discard: () => t.discard() };
  }
  const t = await buildTree({ dir, detach: true, pagesChecked: true, peers, ...(m.prebuild ? { prebuilt: m.prebuild } : {}), ...(m.image ? { image: m.image } : {}) });
  return { root: t.root, keptBytes: t.keptBytes, external: t.external, run: async () => { t.run(); }, discard: async () => { t.discard(); } };
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
    if (early && args.pidns) await (await early.catch(() => null))?.discard();
    if (early && !args.pidns) {
      tree = await early;
    } else {
      if (m.prebuild) await settle(m, ctx.log);
      tree = await build(m, ctx.state.link('incoming', m.id, 'final'), !!args.pidns, peerPolicy(ctx, m));
    }
    if (m.prebuild) ctx.log.debug({ migration: m.id, ...m.prebuild.stats }, 'memory built ahead');
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
      await tree.discard().catch((e: unknown) => ctx.log.warn({ migration: m.id, err: errorMessage(e) }, 'discarding the built tree'));
      reg.decide(m.id, 'discarded');
      ctx.log.warn({ migration: m.id }, 'built tree discarded: the migration was called off before it resumed');
      throw new GodwitError('the restored tree was discarded before it resumed');
    }
  }
  const t1 = performance.now();
  // from here a copy may run on this host: the source must never run again
  reg.decide(m.id, 'resumed');
  try {
    await tree.run();
  } catch (e) {
    ctx.log.error({ migration: m.id, err: errorMessage(e) }, 'resume failed');
    throw e;
  }
  const resumeMs = Math.round((performance.now() - t1) * 10) / 10;
  ctx.log.info({ migration: m.id, pid: tree.root, restoreMs, resumeMs, external: tree.external.length }, 'restored');
  // the migration is over here: its key is spent
  reg.incoming.delete(m.id);
  // after the answer: deleting a GiB of images takes longer than the whole freeze did
  if (!args.keepImages) void ctx.state.removeLater('incoming', m.id).catch((e: unknown) => ctx.log.warn({ migration: m.id, err: errorMessage(e) }, 'cannot delete the images'));
  return { pid: tree.root, restoreMs, resumeMs, keptBytes: tree.keptBytes, external: tree.external };
}
