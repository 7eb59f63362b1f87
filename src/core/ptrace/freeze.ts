// Freezing a process tree: seize and interrupt every thread of every process under the root,
// walking /proc again until no new task appears (a task may fork or clone while we walk).
// Thawing detaches everything, so the tree runs on exactly as before.
import { readFileSync } from 'node:fs';
import { ptraceTry, ptrace, PTRACE, PTRACE_EVENT, PTRACE_O } from '../sys/ptrace.js';
import { wait } from '../sys/wait.js';
import { listChildren, listTids } from '../proc/tree.js';
import { GodwitError } from '../errors.js';
import { errnoName, EPERM, ESRCH } from '../sys/errno.js';
import { kill, SIG } from '../sys/process.js';
import { logger } from '../log.js';

export interface FrozenThread {
  tid: number;
  /** a signal the thread had dequeued when it stopped; it is re-delivered on thaw */
  pendingStopSignal: number;
}

export interface FrozenProcess {
  pid: number;
  ppid: number;
  threads: FrozenThread[];
  children: number[];
  /** exited but not reaped by its parent: restored as a zombie with this wait status */
  zombie?: { exitCode: number; comm: string };
  /** stopped by a signal (SIGSTOP, SIGTSTP...) before we came: it must stay stopped */
  stopped?: boolean;
}

export class FrozenTree {
  readonly procs = new Map<number, FrozenProcess>();
  constructor(readonly root: number) {}

  /** Parents before children: the order a restore creates them in. */
  order(): FrozenProcess[] {
    const out: FrozenProcess[] = [];
    const visit = (pid: number) => {
      const p = this.procs.get(pid);
      if (!p) return;
      out.push(p);
      p.children.forEach(visit);
    };
    visit(this.root);
    return out;
  }

  *threads(): Iterable<[FrozenProcess, FrozenThread]> {
    for (const p of this.procs.values()) for (const t of p.threads) yield [p, t];
  }
}

function procState(pid: number): string {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

function readExitCode(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).trim().split(' ');
  return Number(f[52 - 3]);
}

/** Seize and interrupt one thread; returns false when it vanished meanwhile. */
function seizeThread(tid: number): FrozenThread | null {
  const r = ptraceTry(PTRACE.SEIZE, tid, 0, 0);
  if (r === -ESRCH) return null;
  // a task already exiting cannot be attached (EPERM): a shell's short-lived child, say
  if (r === -EPERM && ['Z', 'X', ''].includes(procState(tid))) return null;
  if (r < 0) {
    if (r === -EPERM) {
      throw new GodwitError(`cannot trace task ${tid}: ${errnoName(-r)} (already traced by another program, or godwit is not root)`, 5);
    }
    throw new GodwitError(`cannot trace task ${tid}: ${errnoName(-r)}`, 5);
  }
  ptrace(PTRACE.INTERRUPT, tid);
  let pendingStopSignal = 0;
  for (;;) {
    const st = wait(tid);
    if (st.kind === 'exited' || st.kind === 'signaled') return null;
    if (st.kind !== 'stopped') continue;
    if (st.event === PTRACE_EVENT.STOP) break;
    if (st.event === 0) {
      // A signal-delivery-stop came before our interrupt: the signal is ours to give back.
      pendingStopSignal = st.signal;
      break;
    }
    // fork/clone/exec events need no action here: resume to reach the interrupt stop
    ptrace(PTRACE.CONT, tid, 0, 0);
  }
  return { tid, pendingStopSignal };
}

export function freezeTree(root: number): FrozenTree {
  const log = logger('freeze');
  const tree = new FrozenTree(root);
  const seized = new Set<number>();
  try {
    for (let round = 0; ; round++) {
      let grew = false;
      const queue = [root];
      const seen = new Set<number>();
      while (queue.length) {
        const pid = queue.shift()!;
        if (seen.has(pid)) continue;
        seen.add(pid);
        let p = tree.procs.get(pid);
        const state = procState(pid);
        if (!p) {
          if (!state) {
            if (pid === root) throw new GodwitError(`no process with PID ${root}`, 2);
            continue;
          }
          p = { pid, ppid: 0, threads: [], children: [] };
          if (state === 'T') p.stopped = true;
          if (state === 'Z') p.zombie = { exitCode: readExitCode(pid), comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim() };
          tree.procs.set(pid, p);
          grew = true;
        }
        if (!p.zombie) {
          for (const tid of listTids(pid)) {
            if (seized.has(tid)) continue;
            const t = seizeThread(tid);
            seized.add(tid);
            if (t) { p.threads.push(t); grew = true; }
          }
          if (!p.threads.length) {
            // it exited as we came: a zombie now (its parent is frozen: nobody reaps it), or gone
            const now = procState(pid);
            if (now === 'Z') p.zombie = { exitCode: readExitCode(pid), comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim() };
            else if (now === '' || now === 'X') { tree.procs.delete(pid); continue; }
          }
        }
        const children = p.zombie ? [] : listChildren(pid);
        for (const c of children) if (!p.children.includes(c)) { p.children.push(c); grew = true; }
        for (const c of p.children) {
          queue.push(c);
        }
      }
      if (!grew) break;
      if (round > 50) throw new GodwitError(`process tree ${root} keeps changing; cannot freeze it`);
    }
    for (const p of tree.procs.values()) {
      for (const c of p.children) {
        const cp = tree.procs.get(c);
        if (cp) cp.ppid = p.pid;
      }
      p.threads = p.threads.filter((t) => listTids(p.pid).includes(t.tid) || p.zombie);
      // keep the thread-group leader first: it is the one restored as the process
      p.threads.sort((a, b) => (a.tid === p.pid ? -1 : b.tid === p.pid ? 1 : a.tid - b.tid));
      if (!p.zombie && p.threads[0]?.tid !== p.pid) {
        throw new GodwitError(`process ${p.pid}: its main thread has exited while other threads run; godwit cannot checkpoint that yet`, 4);
      }
    }
    log.debug({ root, processes: tree.procs.size, threads: seized.size }, 'tree frozen');
    return tree;
  } catch (e) {
    for (const tid of seized) ptraceTry(PTRACE.DETACH, tid, 0, 0);
    throw e;
  }
}

/** Let the tree run on as it was: every thread detached, held-back signals re-delivered. */
export function thawTree(tree: FrozenTree): void {
  for (const [, t] of tree.threads()) {
    ptraceTry(PTRACE.DETACH, t.tid, 0, t.pendingStopSignal);
  }
}

/**
 * From here on the tree dies with us: should godwit die while the destination may already run
 * the tree, the kernel must not let this copy run on as well. Thawing still works as before.
 */
export function bindToTracer(tree: FrozenTree): void {
  for (const [, t] of tree.threads()) ptraceTry(PTRACE.SETOPTIONS, t.tid, 0, PTRACE_O.EXITKILL);
}

/** Undo bindToTracer: a rolled-back tree must survive godwit dying before it is thawed. */
export function unbindFromTracer(tree: FrozenTree): void {
  for (const [, t] of tree.threads()) ptraceTry(PTRACE.SETOPTIONS, t.tid, 0, 0);
}

/** The dump succeeded and the tree must not run again here. */
export function killTree(tree: FrozenTree): void {
  for (const p of tree.procs.values()) if (!p.zombie) kill(p.pid, SIG.KILL);
  // As the tracer we get each thread's exit first; collecting it hands the zombie on to the
  // real parent instead of leaving it stuck behind us in a long-running agent.
  // A leader's exit is reported only after its other threads are reaped: those go first.
  for (const p of tree.procs.values()) {
    for (const t of [...p.threads.slice(1), ...p.threads.slice(0, 1)]) {
      try { wait(t.tid); } catch { /* already gone */ }
    }
  }
}

