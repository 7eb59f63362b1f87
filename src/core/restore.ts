// Restore a process tree from an image: seeds grow into the tree's processes (seeds.ts), then
// each seed's address space, files, signals, threads and credentials are replaced with the
// image's, the registers set last, and the tree let go. Until the final detach every seed is
// traced with PTRACE_O_EXITKILL: a failure or a crash of godwit leaves nothing half-built behind.
import { readFileSync, writeFileSync } from 'node:fs';
import { readImage, type Image } from './image/image.js';
import type { ShmemObject } from './image/format.js';
import { Injection, SCRATCH_SIZE } from './ptrace/inject.js';
import { ptrace, ptraceTry, PTRACE, setSigmask } from './sys/ptrace.js';
import { wait } from './sys/wait.js';
import { sys, sysTry, addr } from './sys/libc.js';
import { NR } from './sys/nr.js';
import { killTry, SIG } from './sys/process.js';
import { restoreMm } from './mem/mm.js';
import { SeedTree } from './seeds.js';
import type { Prebuild } from './prebuild.js';
import { FileOpener } from './files/fdtable.js';
import { FdSender } from './files/transfer.js';
import { setControllingTerminal, setForegroundGroup } from './files/tty.js';
import { rearmEpolls } from './files/epoll.js';
import { restoreLocks } from './files/locks.js';
import { restoreSigactions, requeue } from './task/signals.js';
import { restoreMisc, restoreCreds, restoreRlimits } from './task/creds.js';
import { restoreThreadState, finishThread } from './task/thread.js';
import { restoreItimers, restorePosixTimers } from './task/timers.js';
import { requireRoot } from './privileges.js';
import { GodwitError, PidTakenError } from './errors.js';
import { NetworkLock } from './net/lock.js';
import { logger } from './log.js';
import { cstr } from './sys/libc.js';
import { checkRestorable } from './image/restorable.js';
import { checkInherit } from './files/peers.js';
import type { ExternalPeer, RestorePeerOptions } from './files/external.js';
import { IpcRestore } from './ipc/index.js';
import { takenBy } from './pidhold.js';

export interface RestoreOptions {
  dir: string;
  /** return once the tree runs; otherwise wait for the root to exit */
  detach?: boolean;
  pidfile?: string;
  /** how long to wait for a PID held by a zombie that init has not reaped yet */
  pidWaitMs?: number;
  /** attach the tree's terminal fds to this terminal, in this session (CRIU's --shell-job) */
  shellJob?: boolean;
  /** seeds and memory a migration built while its pre-copy ran */
  prebuilt?: Prebuild;
  /** the page files were checked as they arrived (an agent's incoming links): not read whole again */
  pagesChecked?: boolean;
  /** the image at `dir`, already read and checked */
  image?: Image;
  /** what the tree's external peers become (`--inherit-fd`, `--ext-unix-sk`, where captures go) */
  peers?: RestorePeerOptions;
  /** frees IDs held for the tree (pidhold.ts) right before they are needed */
  claim?: (ids: number[]) => void;
}

export interface RestoreResult {
  root: number;
  processes: number;
  restoreMs: number;
  exit?: { code: number } | { signal: number };
  /** a shell job's terminal goes back to godwit when the job ends */
  giveTerminalBack?: () => void;
  /** each object whose other end was outside the tree at dump, and what it became */
  external: ExternalPeer[];
}

const PR_SET_CHILD_SUBREAPER = 36;
const CLONE_THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000; // VM FS FILES SIGHAND THREAD SYSVSEM

function procState(pid: number): { state: string; comm: string } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return { state: s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3), comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')) };
  } catch {
    return null;
  }
}

/** Every PID and TID the image needs must be free (or held by our own seeds); a zombie's is waited for, boundedly. */
function ensurePidsFree(img: Image, waitMs: number, ours: Set<number>): void {
  const log = logger('restore');
  const ids = img.pstree.entries.flatMap((e) => [e.pid, ...e.threads]).filter((id) => !ours.has(id));
  const deadline = Date.now() + waitMs;
  for (const id of new Set(ids)) {
    for (let said = false; ; ) {
      const st = procState(id);
      if (!st) break;
      if (st.state !== 'Z' || Date.now() > deadline) {
        throw new PidTakenError(`PID ${id} is taken by ${takenBy(id)}; the tree needs its original PIDs. Stop that process, or restore on another host or into a new PID namespace.`);
      }
      if (!said) { log.info({ pid: id }, 'PID held by a zombie; waiting for it to be reaped'); said = true; }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
}

/**
 * A tree rebuilt but not yet let go: every thread is stopped under our ptrace (with EXITKILL, so
 * it dies with us), its registers set. `run` lets it go; `discard` kills it. A migration holds
 * a tree like this until the source is known to be frozen for good.
 */
export interface BuiltTree {
  root: number;
  processes: number;
  /** from the start of the restore until the tree was built */
  buildMs: number;
  /** memory built during pre-copy (see prebuild.ts) that the tree kept */
  keptBytes: number;
  /** its external peers and what each became */
  external: ExternalPeer[];
  run(): RestoreResult;
  discard(): void;
}

export async function buildTree(opts: RestoreOptions): Promise<BuiltTree> {
  requireRoot('restore');
  const log = logger('restore');
  const t0 = performance.now();
  const img = opts.image ?? readImage(opts.dir);
  // what the image alone makes impossible, the dump refused already (image/restorable.ts)
  checkRestorable({ files: img.files, cores: img.cores.values() });
  if (opts.peers) checkInherit(opts.peers.inherit, img.files.external ?? []);
  const phase = { readMs: performance.now() - t0, seedsMs: 0, mmMs: 0 };
  let keptBytes = 0;
  // seeds grown during pre-copy, if the tree kept its shape; otherwise they are gone by now
  const ipc = new IpcRestore(img.ipc);
  // like a PID: an id or key taken here refuses the restore before anything is built
  ipc.check();
  const pre = opts.prebuilt?.adopt(img) ?? null;
  // the threads' IDs (and, without seeds, every PID) come free at once: then each is taken
  opts.claim?.(img.pstree.entries.flatMap((e) => [e.pid, ...e.threads]));
  ensurePidsFree(img, opts.pidWaitMs ?? 10_000, new Set(pre?.seeds.created));
  const files = new FileOpener(img.files, img.dir, opts.shellJob, opts.peers);
  const sender = new FdSender();
  const b = pre?.seeds ?? new SeedTree(img.pstree.entries, [...img.cores.values()].map((c) => c.mm.vmas), opts.claim);
  const root = img.pstree.entries[0]!;
  if (!opts.detach) sys('prctl(PR_SET_CHILD_SUBREAPER)', NR.prctl, PR_SET_CHILD_SUBREAPER, 1);
  // before any socket exists: on another host than the dump's, a packet of the connections
  // would otherwise meet a port with nothing behind it, or a socket still in repair
  const held = img.inventory.netLock ? NetworkLock.hold(img.inventory.netLock) : null;
  try {
    // before any task: the tasks attach them as their memory is rebuilt
    ipc.create();
    files.openAll();
    let t = performance.now();
    if (!pre) b.grow((inj) => takeTerminal_(inj, files, sender));
    phase.seedsMs = performance.now() - t;
    const shmemObjects = new Map<number, ShmemObject>(img.shmem.objects.map((o) => [o.id, o]));
    const shmemOwners = new Map<number, { pid: number; start: number; end: number }>();
    for (const e of img.pstree.entries) {
      if (e.zombie) continue;
      const core = img.cores.get(e.pid)!;
      const inj = b.injs.get(e.pid)!;
      const layers = [
        ...img.chain.flatMap((l) => (l.pagemaps.has(e.pid) ? [{ dir: l.dir, pagemap: l.pagemaps.get(e.pid)! }] : [])),
        { dir: img.dir, pagemap: img.pagemaps.get(e.pid)! },
      ];
      t = performance.now();
      const held = pre?.memory(e.pid);
      keptBytes += await restoreMm(inj, core.mm, layers, {
        dir: img.dir, hop: b.hop, shmemObjects, shmemOwners, ghostPath: (id) => files.ghosts.procPath(id), sysvSizes: ipc.shmSizes,
        ...(held ? { held } : {}), ...(opts.pagesChecked ? { pagesChecked: true } : {}),
      });
      phase.mmMs += performance.now() - t;
      sender.install(inj, core.fds.map((f) => ({ agentFd: files.fd(f.fileId), target: f.fd, cloexec: f.cloexec })));
      rearmEpolls(inj, core.fds, files.entries);
      restoreLocks(inj, core.locks, core.fds);
      if (e.sid === e.pid) setForeground(inj, core.fds, files, sender);
      inj.reset(16);
      inj.call(`chdir(${core.cwd})`, NR.chdir, inj.put(cstr(core.cwd)));
      if (core.root !== '/') {
        inj.reset(16);
        inj.call(`chroot(${core.root})`, NR.chroot, inj.put(cstr(core.root)));
      }
      restoreSigactions(inj, core.sigactions);
      restoreMisc(inj, core);
      for (const t of core.threads.slice(1)) b.cloneFrom(inj, t.tid, CLONE_THREAD_FLAGS, 0);
      for (const t of core.threads) restoreThreadState(inj, t);
      for (const t of core.threads) requeue(inj, t.tid, t.pending, false);
      requeue(inj, e.pid, core.sharedPending, true);
      restoreRlimits(e.pid, core.rlimits);
      restoreItimers(inj, core.itimers);
      restorePosixTimers(inj, core.posixTimers);
      restoreCreds(inj, core);
    }
    ipc.claim(img.pstree.entries.filter((e) => !e.zombie).map((e) => ({ pid: e.pid, inj: b.injs.get(e.pid)! })));
    // every process attached its segments: those that were marked removed can be again
    ipc.finish();
    for (const e of img.pstree.entries) if (e.zombie) makeZombie(b.injs.get(e.pid)!, e.zombie);
    // last remote call in each address space: the scratch area unmaps itself
    for (const e of img.pstree.entries) {
      if (e.zombie) continue;
      const inj = b.injs.get(e.pid)!;
      inj.call('munmap(scratch)', NR.munmap, b.scratch, SCRATCH_SIZE);
      inj.scratch = 0;
      for (const t of img.cores.get(e.pid)!.threads) finishThread(inj, t);
    }
  } catch (e) {
    log.debug({ err: (e as Error).message }, 'restore failed; removing what was built');
    files.dropTcp();
    b.killAll();
    ipc.remove();
    dropLock(held);
    throw e;
  } finally {
    files.close();
    sender.close();
  }
  const buildMs = performance.now() - t0;
  log.debug({ root: root.pid, buildMs, ...phase, keptBytes }, 'tree built');
  let settled = false;
  const settle = (): void => {
    if (settled) throw new GodwitError('the restored tree was already let go or discarded');
    settled = true;
  };
  return {
    root: root.pid, processes: img.pstree.entries.length, buildMs, keptBytes, external: files.peers.result,
    discard: () => {
      settle();
      files.dropTcp();
      b.killAll();
      ipc.remove();
      dropLock(held);
      log.debug({ root: root.pid }, 'built tree discarded');
    },
    run: () => {
      settle();
      const fg = opts.shellJob && root.foreground && root.pgid === root.pid ? takeTerminal(root.pid) : null;
      // a process that was stopped gets its SIGSTOP while still ours: it stops before any instruction
      for (const e of img.pstree.entries) if (e.stopped && !e.zombie) killTry(e.pid, SIG.STOP);
      // the connections go on before the tree does, and then their packets may pass again
      files.finishTcp();
      const lock = held?.lock;
      lock?.open();
      for (const e of img.pstree.entries) {
        if (e.zombie) continue;
        for (const tid of e.threads) ptraceTry(PTRACE.DETACH, tid, 0, 0);
        b.injs.get(e.pid)!.close();
      }
      const restoreMs = performance.now() - t0;
      // the tree runs: removing the lock's table (a grace period long) no longer holds anyone up
      try { lock?.release(); } catch (e) { log.warn({ table: lock?.table, err: (e as Error).message }, 'cannot remove the network lock\'s table (its rules let everything through)'); }
      if (opts.pidfile) writeFileSync(opts.pidfile, `${root.pid}\n`);
      log.debug({ root: root.pid, processes: img.pstree.entries.length, ms: restoreMs }, 'tree restored');
      const res: RestoreResult = { root: root.pid, processes: img.pstree.entries.length, restoreMs, external: files.peers.result };
      if (fg) res.giveTerminalBack = fg.giveBack;
      return res;
    },
  };
}

/**
 * A restore that fails lets go of the lock it took itself (on a migration's destination, the
 * connections go on from the source). A lock the dump left here stays: the tree is gone either
 * way, and a second restore can still save its connections.
 */
function dropLock(held: { lock: NetworkLock; took: boolean } | null): void {
  if (!held?.took) return;
  try { held.lock.release(); } catch (e) { logger('restore').warn({ table: held.lock.table, err: (e as Error).message }, 'cannot remove the network lock\'s table'); }
}

export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const res = (await buildTree(opts)).run();
  if (!opts.detach) {
    const st = wait(res.root, 0);
    res.giveTerminalBack?.();
    if (st.kind === 'exited') res.exit = { code: st.code };
    else if (st.kind === 'signaled') res.exit = { signal: st.signal };
  }
  delete res.giveTerminalBack;
  return res;
}

/**
 * A shell job that was in the foreground of its terminal is put in the foreground of ours; when
 * it ends, godwit takes the terminal back, as a shell does (SIGTTOU blocked meanwhile, since
 * godwit is then a background group).
 */
function takeTerminal(pgid: number): { giveBack: () => void } | null {
  const fd = [0, 1, 2].find((f) => sysTry(NR.ioctl, f, TIOCGPGRP, addr(Buffer.alloc(4))) >= 0);
  if (fd === undefined) return null;
  const mine = Buffer.alloc(4);
  sys('ioctl(TIOCGPGRP)', NR.ioctl, fd, TIOCGPGRP, addr(mine));
  const want = Buffer.alloc(4);
  want.writeInt32LE(pgid, 0);
  if (sysTry(NR.ioctl, fd, TIOCSPGRP, addr(want)) < 0) return null;
  return {
    giveBack: () => {
      const block = Buffer.alloc(8);
      block.writeBigUInt64LE(1n << BigInt(SIGTTOU - 1), 0);
      sysTry(NR.rt_sigprocmask, 0 /* SIG_BLOCK */, addr(block), 0, 8);
      sysTry(NR.ioctl, fd, TIOCSPGRP, addr(mine));
      sysTry(NR.rt_sigprocmask, 1 /* SIG_UNBLOCK */, addr(block), 0, 8);
    },
  };
}
const TIOCGPGRP = 0x540f, TIOCSPGRP = 0x5410, SIGTTOU = 22;

/**
 * A session leader whose controlling terminal is one of the tree's ptys (or a new one in place of
 * an external terminal) gets it back as its seed is made, before the processes of its session
 * are forked from it: they inherit it then, or never. Its fd table is empty then; the agent's
 * slave is lent to it at fd 0 for the moment.
 */
function takeTerminal_(inj: Injection, files: FileOpener, sender: FdSender): void {
  const ctty = files.controllingTerminal(inj.pid);
  if (!ctty) return;
  sender.install(inj, [{ agentFd: ctty.slave, target: 0, cloexec: false }]);
  try { setControllingTerminal(inj, 0, ctty.pty); } finally { inj.call('close', NR.close, 0); }
}

/**
 * Once every group exists, the terminal's foreground group as it was, set by its session leader
 * (TIOCSPGRP works only on one's own controlling terminal).
 */
function setForeground(inj: Injection, fds: Array<{ fd: number; fileId: number }>, files: FileOpener, sender: FdSender): void {
  const ctty = files.controllingTerminal(inj.pid);
  if (!ctty || ctty.pty.foreground === undefined) return;
  const own = fds.find((f) => {
    const fe = files.entries.get(f.fileId);
    return fe?.kind === 'pty' && fe.end === 'slave' && fe.ptyId === ctty.pty.id;
  });
  if (own) { setForegroundGroup(inj, own.fd, ctty.pty); return; }
  const tmp = Math.max(2, ...fds.map((f) => f.fd)) + 1;
  sender.install(inj, [{ agentFd: ctty.slave, target: tmp, cloexec: true }]);
  try { setForegroundGroup(inj, tmp, ctty.pty); } finally { inj.call('close', NR.close, tmp); }
}

/** A zombie comes back as a seed that exits with the saved status, left for its parent to reap. */
function makeZombie(inj: Injection, z: { exitCode: number; comm: string }): void {
  const t = inj.thread();
  const status = z.exitCode;
  inj.reset(16);
  t.call('prctl(PR_SET_NAME)', NR.prctl, 15, inj.put(cstr(z.comm.slice(0, 15))));
  if ((status & 0x7f) === 0) {
    try { t.callRaw(NR.exit_group, (status >> 8) & 0xff); } catch { /* it exits: that is the point */ }
  } else {
    setSigmask(inj.pid, 0n);
    ptrace(PTRACE.CONT, inj.pid, 0, status & 0x7f);
    try { wait(inj.pid); } catch { /* gone */ }
  }
  inj.close();
}

