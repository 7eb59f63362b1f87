// The PIDs and thread IDs a tree needs, kept free on the destination from preflight on: each is
// held by a child of godwit-pidhold (native/), which does nothing but exist. Whatever else
// starts on the host meanwhile (the agent's helpers, the hooks, other migrations, Node's own
// threads) is given other IDs. The restorer frees an ID right before it makes the process or
// thread that needs it (`release`): the holder is killed and reaped at once.
//
// The holder and its children die with the process that started it (its stdin closes, its
// children have PR_SET_PDEATHSIG): a restorer that fails or is killed frees every ID it held.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { nativeHelper } from './native.js';
import { lineReader } from './pidns.js';
import { killTry, SIG } from './sys/process.js';
import { GodwitError } from './errors.js';

export interface TakenId { id: number; by: string }

/** Who has `id` here, in words: `sleep (PID 31)`, `a thread of memcached (PID 40)`. */
export function takenBy(id: number): string {
  try {
    const status = readFileSync(`/proc/${id}/status`, 'utf8');
    const tgid = Number(/^Tgid:\s+(\d+)/m.exec(status)?.[1]);
    const comm = (pid: number) => { try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return '?'; } };
    const zombie = /^State:\s+Z/m.test(status) ? ', a zombie nobody reaped' : '';
    return tgid && tgid !== id ? `a thread of ${comm(tgid)} (PID ${tgid})` : `${comm(id)} (PID ${id}${zombie})`;
  } catch {
    return 'a process that has gone since';
  }
}

/** `IDs 31 by sleep (PID 31), 40 by a thread of …`, a few of them */
export function describeTaken(taken: TakenId[]): string {
  const few = taken.slice(0, 6).map((t) => `${t.id} by ${t.by}`).join(', ');
  return `ID${taken.length > 1 ? 's' : ''} ${few}${taken.length > 6 ? ` and ${taken.length - 6} more` : ''}`;
}

export class PidHolder {
  private held = new Set<number>();
  private next: () => Promise<string | null>;

  private constructor(private proc: ChildProcess) {
    this.next = lineReader(createInterface({ input: proc.stdout! }));
    proc.stderr!.resume();
  }

  static start(): PidHolder {
    const p = spawn(nativeHelper('godwit-pidhold'), [], { stdio: ['pipe', 'pipe', 'pipe'] });
    // it must not outlive us, nor keep our event loop alive
    p.unref();
    (p.stdout as unknown as { unref?: () => void }).unref?.();
    (p.stderr as unknown as { unref?: () => void }).unref?.();
    return new PidHolder(p);
  }

  /** Hold these IDs (those held already are skipped); the ones taken here, and by what. */
  async hold(ids: number[]): Promise<TakenId[]> {
    const want = [...new Set(ids)].filter((id) => id > 0 && !this.held.has(id));
    if (!want.length) return [];
    this.proc.stdin!.write(`HOLD ${want.join(' ')}\n`);
    const line = await this.next();
    const m = line && /^HELD([\d ]*) ; TAKEN([\d ]*)$/.exec(line);
    if (!m) throw new GodwitError(`godwit-pidhold did not answer (${line ?? 'it exited'})`);
    for (const id of m[1]!.trim().split(/\s+/).filter(Boolean).map(Number)) this.held.add(id);
    return m[2]!.trim().split(/\s+/).filter(Boolean).map(Number).map((id) => ({ id, by: takenBy(id) }));
  }

  /** How many IDs are held now. */
  get size(): number { return this.held.size; }

  /**
   * Free these IDs for the caller to take, now: their holders are killed, and this returns once
   * each is reaped (microseconds: the holder reaps on SIGCHLD). IDs not held are ignored.
   */
  release(ids: Iterable<number>): void {
    const freeing: number[] = [];
    for (const id of ids) {
      if (!this.held.delete(id)) continue;
      killTry(id, SIG.KILL);
      freeing.push(id);
    }
    const deadline = Date.now() + 2000;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (const id of freeing) {
      while (this.holds(id) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 0.2);
    }
  }

  /** Every ID free again, the holder gone. */
  close(): void {
    this.held.clear();
    this.proc.stdin?.destroy();
    if (this.proc.pid) killTry(this.proc.pid, SIG.KILL);
  }

  /** `id` is still one of our holder's children (alive or not yet reaped). */
  private holds(id: number): boolean {
    try {
      const s = readFileSync(`/proc/${id}/stat`, 'utf8');
      return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === this.proc.pid;
    } catch {
      return false;
    }
  }
}
