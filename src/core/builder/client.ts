// The agent's end of a builder (serve.ts): the process is started when a migration is expected,
// in this host's PID namespace or in a new one, holds the tree's IDs at once, and is told about
// each link as it is checked; the final build and the tree's fate go through it too. A builder
// that dies takes the seeds and the held IDs with it: every command still waiting fails.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { spawnInNewPidns, spawnRestorer, outerPid, clearOfIds, lineReader, innerReason } from '../pidns.js';
import type { ExternalPeer } from '../files/external.js';
import type { TakenId } from '../pidhold.js';
import { GodwitError, PidTakenError } from '../errors.js';
import { logger } from '../log.js';
import type { FromBuilder, ToBuilder } from './protocol.js';

export interface BuilderOptions {
  /** the migration, for the logs */
  label: string;
  /** the migration's directory of links */
  dir: string;
  /** in a new PID namespace (the tree keeps its PIDs whatever holds them here) */
  pidns: boolean;
  /** where what the tree writes to its external peers is captured; connect unix peers again by name */
  captureDir: string;
  reconnectUnix: boolean;
  /** the PIDs and thread IDs the tree has now (preflight's survey): held from the start */
  ids: number[];
}

export interface BuildStats { links: number; bytes: number; ms: number }

/** The tree built and stopped, waiting for run() or discard(). */
export interface BuiltByBuilder {
  /** its root's PID on this host (not its own, in a new PID namespace) */
  root: number;
  restoreMs: number;
  keptBytes: number;
  external: ExternalPeer[];
  /** the builder, which holds the tree stopped, is still there (the tree dies with it) */
  alive(): boolean;
  run(): Promise<void>;
  discard(): Promise<void>;
}

export class Builder {
  private waiting: Array<(m: FromBuilder) => void> = [];
  private exited = false;
  private exitWhy = '';
  private built = false;
  private why = '';
  private log = logger('builder');
  readonly stats: BuildStats = { links: 0, bytes: 0, ms: 0 };
  /** links sent and not answered yet */
  pending = 0;
  private tail: Promise<void> = Promise.resolve();

  private constructor(private proc: ChildProcess, readonly pidns: boolean, private label: string) {
    const next = lineReader(createInterface({ input: proc.stdout! }));
    void (async () => {
      for (;;) {
        const line = await next();
        if (line === null) break;
        let m: FromBuilder;
        try { m = JSON.parse(line) as FromBuilder; } catch { this.log.warn({ migration: label, line: line.slice(0, 200) }, 'the builder said something that is not an answer'); continue; }
        this.waiting.shift()?.(m);
      }
    })();
    // its log lines go on with the agent's; the last of them say why it ended, if it did
    let tail = '';
    proc.stderr!.on('data', (d: Buffer) => { process.stderr.write(d); tail = (tail + d.toString()).slice(-4000); });
    proc.on('close', (code, signal) => {
      this.exited = true;
      this.exitWhy = `${signal ? `was killed by ${signal}` : `exited with ${code}`}${tail.trim() ? ` (${innerReason(tail)})` : ''}`;
      for (const w of this.waiting.splice(0)) w({ op: 'failed', why: `the builder ${this.exitWhy}` });
    });
    proc.stdin!.on('error', () => undefined);
  }

  /** Start a builder that holds `ids`; answers it and the IDs it could not hold, with who has them. */
  static async start(o: BuilderOptions): Promise<{ builder: Builder; taken: TakenId[] }> {
    const args = ['--builder', o.label, '-D', o.dir, '--capture-dir', o.captureDir, ...(o.reconnectUnix ? ['--ext-unix-sk'] : [])];
    const stdio: ['pipe', 'pipe', 'pipe'] = ['pipe', 'pipe', 'pipe'];
    const proc = o.pidns ? spawnInNewPidns(args, stdio, clearOfIds(o.ids)) : spawnRestorer(args, stdio);
    const b = new Builder(proc, o.pidns, o.label);
    const r = await b.ask({ op: 'hold', ids: o.ids });
    if (r.op !== 'held') { b.close(); throw new GodwitError(`the builder did not start: ${r.op === 'failed' ? r.why : r.op}`); }
    return { builder: b, taken: r.taken };
  }

  get dropped(): boolean { return this.why !== ''; }
  get whyDropped(): string { return this.why; }

  /** Build this checked pre-dump link into the seeds, after the ones before it. */
  add(dir: string): void {
    this.pending++;
    const answer = this.ask({ op: 'link', dir });
    this.tail = answer.then((m) => {
      this.pending--;
      if (m.op === 'linked') {
        Object.assign(this.stats, { links: m.links, bytes: m.bytes, ms: m.ms });
        if (m.dropped && !this.why) this.why = m.dropped;
      } else if (!this.why) this.why = m.op === 'failed' ? m.why : `unexpected answer ${m.op}`;
    });
  }

  /** Every link added so far is built, or the build was dropped. */
  settled(): Promise<void> { return this.tail; }

  /** Give up what was built ahead, now (a link being built stops at its next step). */
  drop(why: string): void {
    if (!this.why) this.why = why;
    this.tell({ op: 'drop', why });
  }

  /** The tree from this checked final dump, built with what was built ahead, and held. */
  async build(dir: string): Promise<BuiltByBuilder> {
    if (this.built) throw new GodwitError('this builder has built its tree already');
    this.built = true;
    const r = await this.ask({ op: 'final', dir });
    if (r.op !== 'built') {
      const why = r.op === 'failed' ? r.why : `unexpected answer ${r.op}`;
      this.close();
      throw r.op === 'failed' && r.pidTaken ? new PidTakenError(why) : new GodwitError(why);
    }
    const root = this.pidns ? outerPid(this.proc.pid!, r.root, true) : r.root;
    this.log.debug({ migration: this.label, root: r.root, outerRoot: root, restoreMs: r.restoreMs, keptBytes: r.keptBytes }, 'tree built');
    let settled = false;
    const end = async (op: 'run' | 'discard', want: 'ran' | 'discarded'): Promise<void> => {
      if (settled) throw new GodwitError('the restored tree was already let go or discarded');
      settled = true;
      const a = await this.ask({ op });
      this.close(false);
      if (a.op !== want) throw new GodwitError(`the builder: ${a.op === 'failed' ? a.why : a.op}`);
    };
    return {
      root, restoreMs: r.restoreMs, keptBytes: r.keptBytes, external: r.external, alive: () => !this.exited,
      run: () => end('run', 'ran'), discard: () => end('discard', 'discarded'),
    };
  }

  /**
   * Let the builder go: its stdin closes, which discards whatever it still holds. `kill`: do not
   * wait for it to see that (the agent stops, the migration is cancelled).
   */
  close(kill = true): void {
    this.proc.stdin?.end();
    this.proc.stdout?.resume();
    this.proc.unref();
    // in a new PID namespace the process here is unshare: its stdin closing is what ends the builder
    if (kill && !this.exited && !this.pidns) this.proc.kill('SIGTERM');
  }

  private tell(c: ToBuilder): void {
    if (this.exited || !this.proc.stdin?.writable) return;
    this.proc.stdin.write(`${JSON.stringify(c)}\n`);
  }

  private ask(c: ToBuilder): Promise<FromBuilder> {
    if (this.exited) return Promise.resolve({ op: 'failed', why: `the builder ${this.exitWhy}` });
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.tell(c);
    });
  }
}
