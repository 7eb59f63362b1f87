// One migration, as an explicit sequence of states. Each state that changes something on a host
// pushes the rollback that undoes it; a failure or an interrupt before the destination resumes
// runs those rollbacks newest first, so the source runs on and the destination keeps nothing.
// The destination resuming is the commit point: after it, the source is killed and nothing is
// rolled back. Neither end decides alone: the destination's outcome (resumed or discarded) is
// the one fact both act on.
//
//   connect → preflight → expect → pre-copy (links, auto-converge) → final dump, held
//     → restore, held → resume (commit) → kill the source → done
import { GodwitError, errorMessage } from '../core/errors.js';
import { logger } from '../core/log.js';
import { AgentClient, AgentError, type ClientOptions } from '../pageserver/client.js';
import type { Compression, Event, OpArgs, PeerRef, Progress } from '../pageserver/protocol.js';
import type { LinkResult } from '../agent/ops/send.js';
import type { ExternalPeer } from '../core/files/external.js';
import type { RestoreAnswer } from '../agent/ops/restore.js';
import type { ExpectAnswer } from '../agent/ops/expect.js';
import { describeTaken } from '../core/pidhold.js';
import type { StatusReport } from '../agent/ops/status.js';
import type { HostEntry } from './hosts.js';
import { preflight, type PreflightReport } from './preflight.js';
import { Convergence, type Estimate } from './converge.js';
import { collectGarbage } from '../core/gc.js';
import { runHook, type HookContext } from './hooks.js';
import type { Cidr } from '../core/net/address.js';

export interface MigrateOptions {
  pid: number;
  from: HostEntry;
  to: HostEntry;
  /** their credentials, read before anything starts */
  fromClient: ClientOptions;
  toClient: ClientOptions;
  maxDowntimeMs: number;
  maxIterations: number;
  maxPrecopyMs: number;
  autoConverge: boolean;
  /** bytes per second on the wire, 0: no limit */
  bandwidth: number;
  /** the first pass goes in links of this many bytes (see DEFAULT_SLICE); 0: one link */
  sliceBytes?: number;
  compress: Compression;
  dryRun: boolean;
  /** restore into a fresh PID namespace on the destination, where the tree's PIDs are free */
  newPidns?: boolean;
  /** into a new PID namespace only if some PID or thread ID of the tree is taken on the destination (else that refuses) */
  pidnsFallback?: boolean;
  /** addresses moved from the source's interface to the destination's while the tree is frozen */
  moveIps?: Cidr[];
  /** the operator's scripts (hooks.ts): before the tree runs on the destination, and after */
  hookPreRestore?: string;
  hookPostResume?: string;
  /** how long a hook may run (default 30 s) */
  hookTimeoutMs?: number;
  /** Ctrl-C: rolls back while the destination has not resumed */
  signal?: AbortSignal;
  onProgress?: (p: MigrationProgress) => void;
}

export type Phase = 'connect' | 'preflight' | 'expect' | 'precopy' | 'freeze' | 'restore' | 'resume' | 'cleanup' | 'rollback' | 'done';

export interface MigrationProgress {
  phase: Phase;
  iteration: number;
  /** bytes of the current link sent, and still to send (0 when not known) */
  sent: number;
  left: number;
  /** pages the tree dirties per second, page data per second on the link, bytes */
  dirtyRate: number;
  bandwidth: number;
  expectedDowntimeMs: number;
  throttle: number;
  message?: string;
}

/** `owedBytes`: a link of the first pass, which goes in slices, leaves that much for the next */
export interface IterationReport { link: string; pagesBytes: number; wireBytes: number; ms: number; freezeMs: number; throughput: number; throttle: number; owedBytes: number }

export interface MigrationReport {
  migration: string;
  pid: number;
  /** the PID on the destination (the same unless a PID namespace was made) */
  destinationPid?: number;
  from: string;
  to: string;
  outcome: 'migrated' | 'dry-run' | 'refused' | 'rolled-back' | 'unknown';
  preflight?: PreflightReport;
  totalMs: number;
  precopyMs: number;
  convergedBecause?: string;
  iterations: IterationReport[];
  /** `handoverMs`: the addresses moved and the pre-restore hook, while frozen */
  downtime?: { totalMs: number; dumpMs: number; transferMs: number; restoreMs: number; handoverMs: number; resumeMs: number; otherMs: number };
  /** TCP connections carried, and the addresses moved with them */
  network?: { connections: number; movedIps: string[] };
  final?: { pagesBytes: number; bytes: number; wireBytes: number };
  /** memory the destination built while pre-copy ran and kept: the restore did not write it again */
  builtAheadBytes?: number;
  /** the tree's pipes and sockets whose other end stayed on the source, and what each became on the destination */
  external?: ExternalPeer[];
  /** wire bytes over page bytes, all links */
  compressionRatio: number;
  warnings: string[];
  error?: string;
}

/** A migration that did not happen: the report says what became of the process. */
export class MigrationError extends GodwitError {
  constructor(message: string, readonly report: MigrationReport, exitCode: number) {
    super(message, exitCode);
  }
}

export const EXIT = { refused: 3, rolledBack: 4, unknown: 5, interrupted: 130 } as const;

type Undo = { what: string; run: () => Promise<void> };

class Interrupted extends GodwitError {}

/** `p`, unless the signal fires first. */
function unlessInterrupted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new Interrupted('interrupted'));
  return new Promise<T>((resolve, reject) => {
    const on = () => reject(new Interrupted('interrupted'));
    signal.addEventListener('abort', on, { once: true });
    p.then((v) => { signal.removeEventListener('abort', on); resolve(v); }, (e) => { signal.removeEventListener('abort', on); reject(e); });
  });
}

/**
 * A held operation: `call` is its whole run, `hold` resolves with the data of its `kind` event
 * (`held`, `built`) and rejects if the call ends first.
 */
function holding<K extends 'dump' | 'restore'>(
  client: AgentClient, op: K, args: OpArgs[K], kind: 'held' | 'built', onProgress?: (p: Progress) => void,
): { call: Promise<unknown>; hold: Promise<Record<string, number>> } {
  let got!: (d: Record<string, number>) => void;
  const event = new Promise<Record<string, number>>((r) => { got = r; });
  const call = client.call(op, args, (e: Event) => {
    if (e.kind === kind && e.data) got(e.data);
    else if (e.progress) onProgress?.(e.progress);
  });
  call.catch(() => undefined);
  const ended = call.then(() => { throw new GodwitError(`${op} ended before its hold`); });
  ended.catch(() => undefined);
  return { call, hold: Promise.race([event, ended]) };
}

export async function migrate(o: MigrateOptions): Promise<MigrationReport> {
  const log = logger('migrate');
  const t0 = performance.now();
  const undo: Undo[] = [];
  const progress: MigrationProgress = { phase: 'connect', iteration: 0, sent: 0, left: 0, dirtyRate: 0, bandwidth: 0, expectedDowntimeMs: 0, throttle: 0 };
  const report: MigrationReport = {
    migration: '', pid: o.pid, from: o.from.name, to: o.to.name, outcome: 'rolled-back', totalMs: 0, precopyMs: 0, iterations: [],
    compressionRatio: 1, warnings: [],
  };
  // a message goes with the one update that carries it, not with every one after
  const show = ({ message, ...patch }: Partial<MigrationProgress>) => {
    Object.assign(progress, patch);
    o.onProgress?.({ ...progress, ...(message ? { message } : {}) });
  };
  const clients: AgentClient[] = [];
  let committed = false, ended = false;

  try {
    show({ phase: 'connect' });
    // a connection that completes after the migration ended (interrupted while connecting) is closed at once
    const keep = (c: AgentClient): AgentClient => { if (ended) c.close(); else clients.push(c); return c; };
    const [src, dst] = await unlessInterrupted(Promise.all([
      AgentClient.connect(o.from.url, o.fromClient).then(keep),
      AgentClient.connect(o.to.url, o.toClient).then(keep),
    ]), o.signal).catch((e: unknown) => {
      if (e instanceof Interrupted) throw e;
      report.outcome = 'refused';
      throw new MigrationError(`${errorMessage(e)}; nothing was done`, report, EXIT.refused);
    });

    show({ phase: 'preflight' });
    const { report: pf, ids } = await unlessInterrupted(preflight(src, dst, o.pid, { newPidns: !!o.newPidns, pidnsFallback: !!o.pidnsFallback, moveIps: o.moveIps ?? [], hookPreRestore: !!o.hookPreRestore }), o.signal).catch((e: unknown) => {
      if (e instanceof Interrupted) throw e;
      report.outcome = 'refused';
      throw new MigrationError(`preflight: ${errorMessage(e)}; nothing was done`, report, EXIT.refused);
    });
    report.preflight = pf;
    report.warnings.push(...pf.warnings);
    if (!pf.ok) {
      report.outcome = 'refused';
      throw new MigrationError(`preflight refused the migration:\n  - ${pf.problems.join('\n  - ')}`, report, EXIT.refused);
    }
    if (o.dryRun) { report.outcome = 'dry-run'; return report; }
    const moves = o.moveIps ?? [];

    show({ phase: 'expect' });
    // the last step of preflight: from here the destination holds the tree's IDs
    const expected = (await unlessInterrupted(dst.call('expect', {
      label: `pid ${o.pid} from ${o.from.name}`, ids, ...(o.newPidns ? { pidns: true } : {}), ...(o.pidnsFallback ? { pidnsFallback: true } : {}),
    }), o.signal).catch((e: unknown) => {
      if (e instanceof Interrupted) throw e;
      report.outcome = 'refused';
      throw new MigrationError(`the destination: ${errorMessage(e)}; nothing was done`, report, EXIT.refused);
    })) as ExpectAnswer;
    const { migration, key } = expected;
    let pidns = expected.pidns;
    if (pidns && !o.newPidns) report.warnings.push(`${describeTaken(expected.taken)} of the tree are taken on ${o.to.name}: it is restored into a new PID namespace there (--pidns-fallback)`);
    report.migration = migration;
    const peer: PeerRef = { url: o.to.url, migration, key };
    undo.push({ what: 'the destination discards what it received', run: async () => { await dst.call('cancel', { migration }); } });
    const common = { pid: o.pid, peer, compress: o.compress, ...(o.bandwidth ? { bandwidth: o.bandwidth } : {}) };

    // ---- pre-copy
    const tPre = performance.now();
    const conv = new Convergence({ maxDowntimeMs: o.maxDowntimeMs, maxIterations: o.maxIterations, maxPrecopyMs: o.maxPrecopyMs, autoConverge: o.autoConverge });
    if (pf.precopy) {
      undo.push({ what: 'the source takes its dirty tracker back', run: async () => { await src.call('cancel', { migration }); } });
      const slice = o.sliceBytes ?? DEFAULT_SLICE;
      let firstPass = slice > 0;
      for (let k = 1; ; k++) {
        show({ phase: 'precopy', iteration: k, sent: 0, left: 0 });
        const tl = performance.now();
        const r = (await unlessInterrupted(src.call('predump', { ...common, ...(firstPass ? { maxBytes: slice } : {}) }, (e: Event) => {
          if (e.progress) show({ sent: e.progress.done, left: Math.max(0, e.progress.total - e.progress.done) });
        }), o.signal)) as LinkResult;
        const ms = performance.now() - tl;
        report.iterations.push({
          link: r.link, pagesBytes: r.pagesBytes, wireBytes: r.wireBytes, ms: Math.round(ms), freezeMs: r.freezeMs, throughput: r.throughput, throttle: conv.throttle, owedBytes: r.owedBytes,
        });
        if (r.owedBytes > 0) {
          // the first pass goes in slices: the destination builds one while the next one streams.
          // Slices say nothing about the dirty rate; convergence starts with the link that ends the pass
          show({ sent: r.bytes, left: r.owedBytes, message: `first pass: ${(r.owedBytes / 2 ** 20).toFixed(0)} MiB still to copy` });
          if (conv.leftMs() > 0) continue;
          report.convergedBecause = `pre-copy ran ${(o.maxPrecopyMs / 1000).toFixed(0)} s without finishing its first pass; the final dump carries the rest`;
          break;
        }
        firstPass = false;
        const v = conv.add({ bytes: r.pagesBytes, ms, bandwidth: r.throughput });
        const est: Estimate = conv.estimate();
        show({ dirtyRate: est.dirtyRate, bandwidth: est.bandwidth, expectedDowntimeMs: est.expectedDowntimeMs, sent: r.bytes, left: 0 });
        if (v.action === 'freeze' && !v.bound) {
          // the restore waits until every link is built into the tree on the destination: while
          // it still builds older ones, pre-copy goes on, and freezes once it has caught up
          const waited = await waitForBuild(dst, migration, 1, conv.leftMs(), o.signal, () => show({ message: 'the destination is still building the memory it received; pre-copy goes on' }));
          if (waited > 0) { conv.waited(waited); log.info({ migration, waitedMs: Math.round(waited) }, 'waited for the destination to build'); continue; }
          // and the last link, small by now: building it must not share the CPU with the freeze
          await waitForBuild(dst, migration, 0, conv.leftMs(), o.signal, () => undefined);
        }
        if (v.action === 'freeze') { report.convergedBecause = v.why; break; }
        if (v.throttle) {
          await unlessInterrupted(src.call('throttle', { migration, pid: o.pid, percent: v.throttle }), o.signal);
          show({ throttle: v.throttle, message: `auto-converge: the process is slowed down by ${v.throttle}%` });
          log.info({ migration, throttle: v.throttle }, 'auto-converge step');
        }
      }
    }
    report.precopyMs = Math.round(performance.now() - tPre);

    // ---- freeze and final dump: the source holds the frozen tree until told
    show({ phase: 'freeze', sent: 0, left: 0 });
    collectGarbage(); // the hops of the freeze go through this process too
    const dump = holding(src, 'dump', { ...common, hold: true }, 'held', (p) => show({ sent: p.done, left: Math.max(0, p.total - p.done) }));
    const dumpCall = dump.call;
    let sentResume = false;
    // this rollback stands for the earlier ones: it cancels on the destination, and the held
    // dump (or its failure) gives the source its tracker back
    undo.length = 0;
    undo.push({
      what: 'the source resumes (or is killed, if the destination already runs the tree)',
      run: async () => {
        // the destination's answer is the one fact: ask it before telling the source anything
        let outcome: string | undefined;
        try {
          outcome = ((await dst.call('cancel', { migration })) as { outcome?: string }).outcome;
        } catch (e) {
          if (sentResume) {
            report.outcome = 'unknown';
            log.error({ migration, err: errorMessage(e) }, 'the destination cannot say whether it resumed; the source decides by asking it itself, else leaves the process stopped');
            src.close();
            return;
          }
          outcome = 'discarded'; // never told to resume: the destination cannot have run it
        }
        try { await src.call('settle', { migration, outcome: outcome === 'resumed' ? 'kill' : 'resume' }); } catch { /* the dump ended already */ }
        await dumpCall.catch(() => undefined);
        if (outcome === 'resumed') report.outcome = 'migrated';
      },
    });
    const heldData = await unlessInterrupted(dump.hold, o.signal);
    const tHeld = performance.now();

    // ---- restore on the destination, held
    show({ phase: 'restore' });
    let restore = holding(dst, 'restore', { migration, hold: true, ...(pidns ? { pidns: true } : {}) }, 'built');
    // the source agent lost while held: its tree died with it (bound to it), the image is whole here
    const srcLost = dumpCall.then(() => null, (e: unknown) => e);
    const builtData = await unlessInterrupted(restore.hold, o.signal).catch(async (e: unknown) => {
      // an ID taken after all (a process new since preflight, whose ID nobody held): a new PID
      // namespace where the operator allowed it, never silently
      if (!(o.pidnsFallback && !pidns && e instanceof AgentError && e.code === 'pid-taken')) throw e;
      report.warnings.push(`${errorMessage(e)}: the tree was built again in a new PID namespace on ${o.to.name} (--pidns-fallback)`);
      pidns = true;
      restore = holding(dst, 'restore', { migration, hold: true, pidns: true }, 'built');
      return unlessInterrupted(restore.hold, o.signal);
    });
    const restoreCall = restore.call as Promise<RestoreAnswer>;

    // ---- the handover: frozen here, built there; the tree's addresses go to the destination
    const tHand = performance.now();
    const hook: HookContext = {
      migration, pid: o.pid, from: { name: o.from.name, url: o.from.url }, to: { name: o.to.name, url: o.to.url },
      moveIps: moves.map(cidrText), addresses: pf.tcp.addresses, connections: pf.tcp.connections,
    };
    if (moves.length || o.hookPreRestore) show({ message: moves.length ? `moving ${hook.moveIps.join(', ')} to ${o.to.name}` : 'running the pre-restore hook' });
    for (const m of moves) {
      // before it leaves: should anything fail from here, it comes back before the source resumes
      undo.push({
        what: `${cidrText(m)} goes back to the source`,
        run: async () => {
          await dst.call('address', { action: 'remove', cidr: cidrText(m) });
          await src.call('address', { action: 'add', cidr: cidrText(m) });
        },
      });
    }
    // all at once: both ends drop the connections' packets meanwhile, so an address on both
    // hosts for a moment is harmless, and the announcement points the peers at the destination
    const moved = await unlessInterrupted(Promise.allSettled(moves.flatMap((m) => [
      src.call('address', { action: 'remove', cidr: cidrText(m) }), dst.call('address', { action: 'add', cidr: cidrText(m) }),
    ])), o.signal);
    const failed = moved.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw failed.reason;
    if (o.hookPreRestore) await unlessInterrupted(runHook(o.hookPreRestore, 'pre-restore', hook, o.hookTimeoutMs ?? HOOK_TIMEOUT_MS, o.signal), o.signal);
    const handoverMs = performance.now() - tHand;

    // ---- resume: the commit point
    show({ phase: 'resume' });
    if (o.signal?.aborted) throw new Interrupted('interrupted');
    sentResume = true;
    const resumed = await Promise.race([
      dst.call('resume', { migration }).then(() => restoreCall),
      new Promise<never>((_, reject) => setTimeout(() => reject(new GodwitError('the destination did not resume in 30 s')), 30_000).unref()),
    ]);
    committed = true;
    const tResumed = performance.now();
    report.destinationPid = resumed.pid;
    report.external = resumed.external ?? [];

    // ---- the source is killed
    show({ phase: 'cleanup' });
    const lost = await Promise.race([srcLost, new Promise((r) => setTimeout(() => r(null), 0))]);
    if (lost) {
      report.warnings.push(`the source agent was lost while holding the tree (${errorMessage(lost)}); the tree died with it`);
    } else {
      try {
        await src.call('settle', { migration, outcome: 'kill' });
        await dumpCall;
      } catch (e) {
        report.warnings.push(`the source did not confirm the kill (${errorMessage(e)}); its tree was bound to its agent and dies with it`);
      }
    }
    if (o.hookPostResume) {
      show({ message: 'running the post-resume hook' });
      try {
        await runHook(o.hookPostResume, 'post-resume', { ...hook, destinationPid: resumed.pid }, o.hookTimeoutMs ?? HOOK_TIMEOUT_MS);
      } catch (e) {
        report.warnings.push(`${errorMessage(e)} (the process runs on the destination)`);
      }
    }
    const down = {
      dumpMs: heldData.dumpMs ?? 0, transferMs: heldData.transferMs ?? 0,
      restoreMs: builtData.restoreMs ?? 0, handoverMs, resumeMs: resumed.resumeMs,
    };
    const totalDown = down.dumpMs + down.transferMs + (tResumed - tHeld);
    report.downtime = {
      totalMs: r1(totalDown), dumpMs: r1(down.dumpMs), transferMs: r1(down.transferMs), restoreMs: r1(down.restoreMs), handoverMs: r1(down.handoverMs), resumeMs: r1(down.resumeMs),
      otherMs: r1(Math.max(0, totalDown - down.dumpMs - down.transferMs - down.restoreMs - down.handoverMs - down.resumeMs)),
    };
    report.network = { connections: pf.tcp.connections, movedIps: hook.moveIps };
    report.builtAheadBytes = builtData.keptBytes ?? resumed.keptBytes;
    report.final = { pagesBytes: heldData.pagesBytes ?? 0, bytes: heldData.bytes ?? 0, wireBytes: heldData.wireBytes ?? 0 };
    report.outcome = 'migrated';
    show({ phase: 'done' });
    return report;
  } catch (e) {
    if (committed) {
      report.outcome = 'migrated';
      report.warnings.push(`after the destination resumed: ${errorMessage(e)}`);
      return report;
    }
    const interrupted = e instanceof Interrupted;
    if (report.outcome !== 'refused') {
      show({ phase: 'rollback', message: errorMessage(e) });
      for (const u of undo.reverse()) {
        try { await u.run(); } catch (err) { log.warn({ step: u.what, err: errorMessage(err) }, 'rollback step failed'); }
      }
    }
    report.error = errorMessage(e);
    if (e instanceof MigrationError) throw e;
    if (report.outcome === 'migrated') return report;
    const code = report.outcome === 'unknown' ? EXIT.unknown : interrupted ? EXIT.interrupted : e instanceof GodwitError && e.exitCode === 2 ? 2 : EXIT.rolledBack;
    const what = report.outcome === 'unknown'
      ? 'the outcome is unknown: the process is either running on the destination or left stopped on the source (SIGCONT resumes it)'
      : 'rolled back: the process runs on the source, the destination keeps nothing';
    throw new MigrationError(`${interrupted ? 'interrupted' : `migration failed: ${errorMessage(e)}`}; ${what}`, report, code);
  } finally {
    report.totalMs = Math.round(performance.now() - t0);
    const pages = report.iterations.reduce((s, i) => s + i.pagesBytes, 0) + (report.final?.pagesBytes ?? 0);
    const wire = report.iterations.reduce((s, i) => s + i.wireBytes, 0) + (report.final?.wireBytes ?? 0);
    report.compressionRatio = pages ? Math.round((wire / pages) * 1000) / 1000 : 1;
    ended = true;
    for (const c of clients) c.close();
  }
}

const r1 = (x: number): number => Math.round(x * 10) / 10;
const cidrText = (c: Cidr): string => `${c.addr}/${c.prefix}`;
const HOOK_TIMEOUT_MS = 30_000;

/**
 * The first pass (every present page) goes in links of this many bytes, so that the destination
 * builds one into the tree while the next one streams: building no longer waits for the whole
 * memory to arrive, and the tail it leaves is one slice's build.
 */
export const DEFAULT_SLICE = 512 * 2 ** 20;

/** What a migration does when not told otherwise, whoever asks (the command line, the coordinator's API). */
export const DEFAULTS = { maxDowntimeMs: 300, maxIterations: 30, maxPrecopyS: 600 } as const;

/**
 * Wait while the destination has more than `left` links still to build into the tree. Returns how
 * long it waited: 0 when it had no more than that.
 */
async function waitForBuild(dst: AgentClient, migration: string, left: number, maxMs: number, signal: AbortSignal | undefined, onWait: () => void): Promise<number> {
  const t0 = performance.now();
  for (let first = true; ; first = false) {
    const st = (await unlessInterrupted(dst.call('status', {}), signal)) as StatusReport;
    const b = st.incoming.find((m) => m.migration === migration)?.building;
    if (!b || b.dropped || b.pendingLinks <= left || performance.now() - t0 > maxMs) return first ? 0 : performance.now() - t0;
    if (first) onWait();
    await new Promise((r) => setTimeout(r, 100));
  }
}
