// The processes a restore grows into the tree: a seed with the root's PID is seized, then every
// process is forked from its parent by remote clone3 (with set_tid), so PIDs, parents, groups and
// sessions come back as they were. Every seed is traced with PTRACE_O_EXITKILL until it is let
// go: a failure or a crash of godwit leaves nothing half-built behind. A migration grows the
// seeds at its first link and builds their memory while pre-copy goes on (see prebuild.ts).
import { spawnSync } from 'node:child_process';
import type { PstreeEntry } from './image/format.js';
import { Injection, findSyscallInsn, SCRATCH_SIZE } from './ptrace/inject.js';
import { ProcMem } from './ptrace/memory.js';
import { ptrace, PTRACE, PTRACE_O, PTRACE_EVENT } from './sys/ptrace.js';
import { wait } from './sys/wait.js';
import { NR } from './sys/nr.js';
import { PROT, MAP } from './sys/mman.js';
import { killTry, SIG } from './sys/process.js';
import { readMaps } from './proc/smaps.js';
import { freeArea } from './mem/mm.js';
import { nativeHelper } from './native.js';
import { GodwitError, PidTakenError } from './errors.js';
import { errnoName } from './sys/errno.js';
import { logger } from './log.js';
import { takenBy } from './pidhold.js';

/** After the scratch area: where the seed's vDSO hops on its way to the image's address. */
export const HOP_SIZE = 1 << 20;

function waitStop(pid: number): void {
  for (;;) {
    const st = wait(pid);
    if (st.kind === 'stopped' && (st.event === PTRACE_EVENT.STOP || st.signal === SIG.STOP)) return;
    if (st.kind !== 'stopped') throw new GodwitError(`seed ${pid} died while being restored (${st.kind})`);
    ptrace(PTRACE.CONT, pid, 0, 0);
  }
}

/** The first seed, created by the C helper with the root's PID and orphaned to us or to init. */
function spawnRootSeed(pid: number): number {
  const r = spawnSync(nativeHelper('godwit-seed'), [String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) {
    const why = r.status === 17 ? `PID ${pid} is taken by ${takenBy(pid)}` : (r.stderr || '').trim() || `exit ${r.status}`;
    throw r.status === 17 ? new PidTakenError(`cannot create a process with PID ${pid}: ${why}`) : new GodwitError(`cannot create a process with PID ${pid}: ${why}`, 6);
  }
  const got = Number(r.stdout.trim());
  if (got !== pid) throw new GodwitError(`seed came up with PID ${got}, not ${pid}`);
  ptrace(PTRACE.SEIZE, pid, 0, PTRACE_O.TRACEFORK | PTRACE_O.TRACECLONE | PTRACE_O.EXITKILL);
  ptrace(PTRACE.INTERRUPT, pid);
  waitStop(pid);
  return pid;
}

/** The shape of a tree that seeds depend on: who is whose child, and the groups and sessions. */
const key = (e: PstreeEntry) => `${e.pid}:${e.ppid}:${e.pgid}:${e.sid}:${e.zombie ? 'z' : ''}`;

function descendantsOf(entries: PstreeEntry[], pid: number): number[] {
  const out: number[] = [];
  for (const c of entries.filter((x) => x.ppid === pid && x.pid !== pid)) out.push(c.pid, ...descendantsOf(entries, c.pid));
  return out;
}

export function sameShape(a: PstreeEntry[], b: PstreeEntry[]): boolean {
  const ka = a.map(key).sort(), kb = b.map(key).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]);
}

export class SeedTree {
  readonly injs = new Map<number, Injection>();
  readonly created: number[] = [];
  /** one address for every seed: a range free in each layout the tree had when it was grown */
  scratch = 0;
  hop = 0;
  private onSession: ((inj: Injection) => void) | undefined;

  /**
   * `layouts`: the address ranges of the tree's processes, which the scratch area must avoid;
   * `claim`: frees IDs held for the tree (pidhold.ts) right before they are taken
   */
  constructor(public entries: PstreeEntry[], private layouts: Array<Array<{ start: number; end: number }>>, readonly claim: (ids: number[]) => void = () => undefined) {}

  /**
   * Every process, PIDs, parents, groups and sessions as in `entries`, each stopped and ours.
   * `onSession`: called in each session leader right after its setsid, before any process of its
   * session exists: what they must inherit from it (a controlling terminal) is given there.
   */
  grow(onSession?: (inj: Injection) => void): void {
    this.onSession = onSession;
    this.claim(this.entries.map((e) => e.pid));
    this.createProcess(this.entries[0]!, null);
    this.setGroups(this.entries);
  }

  /**
   * The seeds made to fit `entries`, a later shape of the same tree: the seeds that still fit
   * (same PID, parent, group, session, and every ancestor fits too) are kept with what they
   * hold; the others are killed, and the processes new to the tree are forked from their
   * parents. Returns the PIDs of the seeds made (empty ones), or null when the root itself
   * changed: nothing can be kept.
   */
  reshape(entries: PstreeEntry[]): { made: number[]; killed: number[] } | null {
    const root = entries[0];
    if (!root || root.pid !== this.entries[0]!.pid || key(root) !== key(this.entries[0]!)) return null;
    const want = new Map(entries.map((e) => [e.pid, e]));
    const have = new Map(this.entries.map((e) => [e.pid, e]));
    const fits = new Map<number, boolean>();
    const fit = (e: PstreeEntry): boolean => {
      const known = fits.get(e.pid);
      if (known !== undefined) return known;
      const w = want.get(e.pid);
      const ok = !!w && key(w) === key(e) && (e.pid === root.pid || (have.has(e.ppid) && fit(have.get(e.ppid)!)));
      fits.set(e.pid, ok);
      return ok;
    };
    const killed = this.entries.filter((e) => !fit(e)).map((e) => e.pid);
    for (const pid of killed) killTry(pid, SIG.KILL);
    for (const pid of killed) {
      try { wait(pid); } catch { /* reaped already */ }
      this.injs.get(pid)?.close();
      this.injs.delete(pid);
    }
    this.created.splice(0, this.created.length, ...this.created.filter((p) => !killed.includes(p)));
    const kept = new Set(this.entries.filter((e) => fit(e)).map((e) => e.pid));
    this.entries = entries;
    const fresh = entries.filter((e) => !kept.has(e.pid));
    this.claim(fresh.map((e) => e.pid));
    const made: number[] = [];
    // top-down: a new process's parent is a seed by the time it is forked
    const grow = (e: PstreeEntry) => {
      for (const c of entries.filter((x) => x.ppid === e.pid && x.pid !== e.pid)) {
        if (!kept.has(c.pid)) {
          this.createProcess(c, this.injs.get(e.pid)!);
          for (const d of descendantsOf(entries, c.pid)) made.push(d);
          made.push(c.pid);
        } else grow(c);
      }
    };
    grow(root);
    this.setGroups(entries.filter((e) => made.includes(e.pid)));
    return { made, killed };
  }

  /** fork (or clone a thread) from `parent` with the given id, by a remote clone3 */
  cloneFrom(parent: Injection, tid: number, flags: number, exitSignal: number, viaTid = parent.pid): number {
    this.claim([tid]);
    parent.reset(16);
    const setTid = Buffer.alloc(8);
    setTid.writeBigUInt64LE(BigInt(tid), 0);
    const setTidAt = parent.put(setTid);
    const ca = Buffer.alloc(88);
    ca.writeBigUInt64LE(BigInt(flags), 0);
    ca.writeBigUInt64LE(BigInt(exitSignal), 32);
    ca.writeBigUInt64LE(BigInt(setTidAt), 64);
    ca.writeBigUInt64LE(1n, 72);
    const r = parent.thread(viaTid).callRaw(NR.clone3, parent.put(ca), 88);
    if (r < 0) {
      const what = `cannot create ${flags ? 'thread' : 'process'} ${tid}`;
      throw -r === 17 ? new PidTakenError(`${what}: the ID is taken by ${takenBy(tid)}`) : new GodwitError(`${what}: ${errnoName(-r)}`, 6);
    }
    if (r !== tid) throw new GodwitError(`clone3 gave ${r}, wanted ${tid}`);
    this.created.push(tid);
    waitStop(tid);
    return tid;
  }

  private createProcess(e: PstreeEntry, parent: Injection | null): void {
    let inj: Injection;
    if (!parent) {
      this.created.push(spawnRootSeed(e.pid));
      const probe = new ProcMem(e.pid);
      inj = new Injection(e.pid, findSyscallInsn(e.pid, probe), false);
      probe.close();
      const area = freeArea([...this.layouts, readMaps(e.pid)], SCRATCH_SIZE + HOP_SIZE);
      this.scratch = area;
      this.hop = area + SCRATCH_SIZE;
      inj.call('mmap(scratch)', NR.mmap, area, SCRATCH_SIZE, PROT.READ | PROT.WRITE | PROT.EXEC, MAP.PRIVATE | MAP.ANONYMOUS | MAP.FIXED_NOREPLACE, -1, 0);
      inj.mem.write(area, Buffer.from([0x0f, 0x05]));
      inj.scratch = area;
      inj.insn = area;
      inj.thread().insn = area;
      // the seed's own fds (the helper's stdio) are not the tree's
      inj.call('close_range', NR.close_range, 0, 0xffffffff, 0);
    } else {
      this.cloneFrom(parent, e.pid, 0, SIG.CHLD);
      inj = new Injection(e.pid, this.scratch, false);
      inj.scratch = this.scratch;
    }
    this.injs.set(e.pid, inj);
    if (e.sid === e.pid) {
      inj.call('setsid', NR.setsid);
      this.onSession?.(inj);
    }
    for (const c of this.entries.filter((x) => x.ppid === e.pid && x.pid !== e.pid)) {
      this.createProcess(c, inj);
    }
  }

  private setGroups(which: PstreeEntry[]): void {
    const log = logger('restore');
    const pids = new Set(this.entries.map((e) => e.pid));
    for (const e of which) {
      const inj = this.injs.get(e.pid)!;
      if (e.sid === e.pid) continue; // a session leader leads its group too
      if (e.pgid === e.pid || pids.has(e.pgid)) {
        inj.call(`setpgid(${e.pgid})`, NR.setpgid, 0, e.pgid);
      } else {
        log.warn({ pid: e.pid, pgid: e.pgid }, 'process group leader is outside the tree; the process joins the restorer\'s group');
      }
    }
  }

  /** Whether the scratch area and the hop stay clear of every range of these layouts. */
  clearOf(layouts: Array<Array<{ start: number; end: number }>>): boolean {
    const end = this.scratch + SCRATCH_SIZE + HOP_SIZE;
    return !layouts.flat().some((v) => v.start < end && v.end > this.scratch);
  }

  killAll(): void {
    for (const pid of this.created) killTry(pid, SIG.KILL);
    for (const pid of this.created) {
      try { wait(pid); } catch { /* reaped already */ }
    }
    for (const inj of this.injs.values()) inj.close();
  }
}
