// `predump` and `dump` on the source: one link of a migration's chain, streamed straight to the
// destination agent. The records of each link stay here too (the next link needs the trackers
// the last one parked); pages do not. A link that fails leaves the process as it was before the
// migration began: running, untraced, without a tracker.
import { mkdirSync, rmSync, existsSync } from 'node:fs';
import { preDump } from '../../core/predump.js';
import { dump } from '../../core/dump.js';
import { untrackDir } from '../../core/untrack.js';
import { GodwitError, errorMessage } from '../../core/errors.js';
import { AgentClient, AgentError } from '../../pageserver/client.js';
import { LinkSender, type StreamStats } from '../../pageserver/sender.js';
import type { OpArgs } from '../../pageserver/protocol.js';
import { progressReporter, type OpCall } from '../context.js';
import type { Running } from '../registry.js';
import { bindToTracer, type FrozenTree } from '../../core/ptrace/freeze.js';
import { killTry, SIG } from '../../core/sys/process.js';
import { liftThrottle } from './throttle.js';
import { collectGarbage } from '../../core/gc.js';
import { MIGRATION_LOCK } from '../../core/net/lock.js';

export interface LinkResult {
  migration: string;
  link: string;
  pid: number;
  /** bytes of the process's pages in the link; all bytes sent (pages and records), and on the wire */
  pagesBytes: number;
  bytes: number;
  zeroBytes: number;
  wireBytes: number;
  freezeMs: number;
  totalMs: number;
  /** page data per second of streaming, bytes */
  throughput: number;
  /** page bytes this link left for the next one (a capped first pass) */
  owedBytes: number;
}

type Kind = 'pre-dump' | 'dump';

export async function sendLink(call: OpCall, run: Running, kind: Kind, args: OpArgs['predump'] & { leaveRunning?: boolean; hold?: boolean }): Promise<LinkResult> {
  const { ctx } = call;
  const mid = args.peer.migration;
  const out = ctx.registry.outgoingFor(mid, args.pid, args.peer.url);
  if (out.links.includes('final')) throw new GodwitError(`migration ${mid} has already sent its final dump`);
  const link = kind === 'dump' ? 'final' : `pre-${out.links.length + 1}`;
  const parent = out.links[out.links.length - 1];
  const dir = ctx.state.link('outgoing', mid, link);
  const prevDir = parent ? ctx.state.link('outgoing', mid, parent) : undefined;
  const log = ctx.log.child({ op: kind, migration: mid, link, target: args.pid });
  const t0 = performance.now();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  run.progress.phase = 'connecting';
  let client: AgentClient;
  try {
    client = await AgentClient.connect(args.peer.url, { token: ctx.token, ...(ctx.tls ? { tls: ctx.tls } : {}), host: ctx.host });
  } catch (e) {
    // unreachable destination: like any failed link, the process goes back to how it was
    abandon(call, mid, prevDir);
    throw e;
  }
  const report = progressReporter(call, run.progress);
  let peerError: Error | null = null;
  let ready!: () => void;
  const readyP = new Promise<void>((r) => { ready = r; });
  const done = client.call('receive', { migration: mid, key: args.peer.key, link, kind, ...(parent ? { parent } : {}) }, (e) => {
    if (e.kind === 'ready') ready();
  });
  done.catch((e: Error) => { peerError = e; ready(); });
  // a held dump asks the destination before anything closes: see holdUntilSettled
  let holding = false;
  const onAbort = () => { if (!holding) client.close(); };
  run.abort.signal.addEventListener('abort', onAbort);
  const sender = new LinkSender(client.channel, args.compress ?? 'auto', run.abort.signal, (s: StreamStats) => {
    run.progress.done = s.raw;
    run.progress.total = s.planned;
    run.progress.wire = s.wire;
    report();
  }, args.bandwidth ?? 0);
  let tStream = 0;
  const finishStream = async (): Promise<void> => {
    run.progress.phase = 'records';
    await sender.sendDir(dir);
    await sender.end();
    run.progress.phase = 'confirming';
    await done;
  };
  // the destination's own words explain a failure better than "connection closed"
  const why = async (e: unknown): Promise<Error> => {
    if (run.abort.signal.aborted) return new GodwitError(`${kind} cancelled`);
    await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
    const pe = peerError as Error | null;
    if (pe) return new GodwitError(`destination: ${pe instanceof AgentError ? pe.message : errorMessage(pe)}`);
    return e instanceof Error ? e : new Error(String(e));
  };

  try {
    await readyP;
    if (peerError) throw peerError;
    if (kind === 'dump') collectGarbage(); // not in the freeze that follows
    run.progress.phase = kind === 'dump' ? 'freezing' : 'tracking';
    report(true);
    tStream = performance.now();
    let freezeMs: number;
    let owedBytes = 0;
    if (kind === 'pre-dump') {
      // the throttle is lifted while frozen (see Throttle.pause), and back once the tree runs
      const throttle = call.ctx.registry.throttles.get(mid);
      throttle?.pause();
      const r = await preDump({
        pid: args.pid, dir, ...(prevDir ? { prev: prevDir } : {}), pages: sender, onThawed: () => throttle?.resume(),
        ...(args.maxBytes ? { maxBytes: args.maxBytes } : {}),
      });
      freezeMs = r.freezeMs;
      owedBytes = r.owedBytes;
      await finishStream();
    } else {
      // the tree stays frozen until the destination holds the whole image (and, held, until the
      // destination runs it); then it is killed
      const commit = async (tree: FrozenTree, frozenAt: number): Promise<void> => {
        const tDumped = performance.now();
        await finishStream();
        if (!args.hold) return;
        holding = true;
        const t = performance.now();
        await holdUntilSettled(call, run, client, tree, mid, {
          dumpMs: round(tDumped - frozenAt), transferMs: round(t - tDumped), pagesBytes: sender.stats.pages, bytes: sender.stats.raw, wireBytes: sender.stats.wire,
        });
      };
      // no limit for the final freeze: the tree does not run again here unless rolled back
      call.ctx.registry.throttles.get(mid)?.pause();
      const r = await dump({
        pid: args.pid, dir, ...(prevDir ? { prev: prevDir } : {}), pages: sender, leaveRunning: !!args.leaveRunning, commit,
        // the tree's TCP connections go too: the destination takes the same lock before it makes
        // their sockets, so this one goes once the tree is killed
        tcpEstablished: true, lock: { tag: `${MIGRATION_LOCK}${mid.slice(0, 24)}`, releaseAfterKill: true },
      });
      freezeMs = r.freezeMs;
    }
    out.links.push(link);
    out.touched = Date.now();
    run.progress.phase = 'done';
    report(true);
    const streamMs = performance.now() - tStream;
    const res: LinkResult = {
      migration: mid, link, pid: args.pid, pagesBytes: sender.stats.pages, bytes: sender.stats.raw, zeroBytes: sender.stats.zero, wireBytes: sender.stats.wire,
      freezeMs: round(freezeMs), totalMs: Math.round(performance.now() - t0),
      throughput: Math.round(sender.stats.raw / (streamMs / 1000)), owedBytes,
    };
    log.info({ bytes: res.pagesBytes, zeroBytes: res.zeroBytes, wireBytes: res.wireBytes, freezeMs: res.freezeMs, totalMs: res.totalMs, throughput: res.throughput, owedBytes }, 'link sent');
    if (kind === 'dump') forget(call, mid);
    return res;
  } catch (e) {
    const err = await why(e);
    log.warn({ err: err.message }, 'link failed; the process runs on as before the migration');
    abandon(call, mid, kind === 'pre-dump' ? dir : prevDir);
    throw err;
  } finally {
    run.abort.signal.removeEventListener('abort', onAbort);
    client.close();
  }
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

/** The settle that ends a held dump: rolling back is an error that thaws the tree. */
class RolledBack extends GodwitError {}

/**
 * A held dump: the destination holds the whole image and the tree stays frozen, bound to us
 * (it dies with this agent), until the coordinator settles it. Should the coordinator go away
 * (or the migration be cancelled here) first, the destination's answer to a cancel decides: it
 * discarded the tree, so this one resumes; it already runs it, so this one is killed. With no
 * answer at all the tree is left stopped (SIGSTOP), never running twice and never lost.
 */
async function holdUntilSettled(
  call: OpCall, run: Running, client: AgentClient, tree: FrozenTree, mid: string, data: Record<string, number>,
): Promise<void> {
  const { ctx } = call;
  const log = ctx.log.child({ migration: mid });
  bindToTracer(tree);
  run.progress.phase = 'held';
  const decision = await new Promise<'kill' | 'resume' | 'ask'>((resolve) => {
    const ask = () => resolve('ask');
    ctx.registry.holds.set(mid, resolve);
    if (run.abort.signal.aborted || call.gone.aborted) ask();
    run.abort.signal.addEventListener('abort', ask, { once: true });
    call.gone.addEventListener('abort', ask, { once: true });
    call.emit({ kind: 'held', data });
  });
  ctx.registry.holds.delete(mid);
  let outcome: 'kill' | 'resume' | 'stop' = decision === 'ask' ? 'stop' : decision;
  if (decision === 'ask') {
    try {
      const r = (await Promise.race([
        client.call('cancel', { migration: mid }),
        new Promise((_, reject) => setTimeout(() => reject(new GodwitError('no answer in 10 s')), 10_000)),
      ])) as { outcome?: string };
      outcome = r.outcome === 'resumed' ? 'kill' : 'resume';
      log.warn({ destination: r.outcome ?? 'nothing held' }, `the migration was called off while held; the destination says ${r.outcome ?? 'it holds nothing'}`);
    } catch (e) {
      log.error({ pid: tree.root, err: errorMessage(e) }, 'the migration was called off while held and the destination cannot say what it did: the tree is left stopped here (SIGCONT resumes it)');
    }
  }
  if (outcome === 'kill') return;
  if (outcome === 'stop') for (const p of tree.procs.values()) if (!p.zombie) killTry(p.pid, SIG.STOP);
  throw new RolledBack(outcome === 'stop' ? 'migration called off with its outcome unknown: the process is left stopped on the source' : 'migration rolled back: the process runs on the source');
}

/**
 * Give up a migration on the source: take back the tracker the newest link parked (the process
 * is then as it was before the chain began) and forget the links.
 */
export function abandon(call: OpCall, mid: string, trackerDir: string | undefined): void {
  liftThrottle(call.ctx, mid);
  const out = call.ctx.registry.outgoing.get(mid);
  if (out && trackerDir && existsSync(trackerDir) && existsSync(`/proc/${out.pid}`)) {
    try {
      untrackDir(out.pid, trackerDir);
    } catch (e) {
      // no parked tracker (the link failed before arming one) is the usual reason
      call.ctx.log.debug({ migration: mid, pid: out.pid, err: errorMessage(e) }, 'untrack after failure');
    }
  }
  forget(call, mid);
}

function forget(call: OpCall, mid: string): void {
  liftThrottle(call.ctx, mid);
  call.ctx.registry.outgoing.delete(mid);
  call.ctx.state.remove('outgoing', mid);
}
