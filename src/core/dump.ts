// Checkpoint a process tree: freeze, collect every task's state into an image directory, then
// kill the tree or let it run on. Any failure before the end leaves the tree running exactly as
// it was: registers and masks are put back and every thread is detached.
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { release } from "node:os";
import { freezeTree, thawTree, killTree, unbindFromTracer, type FrozenTree } from './ptrace/freeze.js';
import { Injection, findSyscallInsn } from './ptrace/inject.js';
import { ProcMem } from './ptrace/memory.js';
import { readStat } from './proc/stat.js';
import { readStatus } from './proc/status.js';
import { readSmapsBefore } from './proc/smaps.js';
import { listTree } from './proc/tree.js';
import { dumpThread } from './task/thread.js';
import { dumpSigactions, dumpSharedPending } from './task/signals.js';
import { dumpCreds, dumpRlimits, dumpPrctl } from './task/creds.js';
import { dumpMm } from './mem/mm.js';
import { ShmemDumper } from './mem/shmem.js';
import { FdTableDumper } from './files/fdtable.js';
import { dumpItimers, dumpPosixTimers } from './task/timers.js';
import { refuseIsolation } from './task/isolation.js';
import { dumpLocks } from './files/locks.js';
import { GhostDumper } from './files/ghost.js';
import { resolvePrev, readTrack, adoptTracker } from './predump.js';
import type { DirtyTracker } from './mem/track/tracker.js';
import { relative } from 'node:path';
import { writeRecord } from './image/store.js';
import { localPages, type PageWriter } from './image/page-streams.js';
import { IMAGE_ARCH, IMAGE_FORMAT_VERSION, type Inventory, type ProcessCore } from './image/format.js';
import { pstreeOf } from './pstree.js';
import { GodwitError } from './errors.js';
import { logger } from './log.js';
import { requireRoot } from './privileges.js';
import { VERSION } from './version.js';
import { NetworkLock } from './net/lock.js';
import { lockTargets, countConnections } from './net/tcp.js';
import { drainAcceptQueues, pidsHere, livePids } from './net/backlog.js';
import { fdTable } from './proc/fd.js';
import { cpuFlags } from './cpu.js';
import { checkRestorable } from './image/restorable.js';
import { dumpIpc, removeDumped } from './ipc/index.js';
import type { Ipc, VmaEntry } from './image/format.js';

export interface DumpOptions {
  pid: number;
  dir: string;
  leaveRunning?: boolean;
  /** the tree is a job of a shell: its controlling terminal and session may lie outside it */
  shellJob?: boolean;
  /** the last link of a pre-dump chain: only what changed since goes into this image */
  prev?: string;
  /** where page data goes; the image directory by default */
  pages?: PageWriter;
  /**
   * Move established TCP connections (CRIU's --tcp-established): their packets are dropped by a
   * network lock from the freeze on, which a tree that is killed leaves for the restore to lift.
   */
  tcpEstablished?: boolean;
  /**
   * The lock's tag (a migration's `m…`: an agent that starts removes those it finds), and whether
   * it goes once the tree is killed: in a migration the destination holds the same lock itself,
   * and nothing here will restore the connections.
   */
  lock?: { tag: string; releaseAfterKill: boolean };
  /**
   * Runs once the image is complete, while the tree is still frozen (a page server sends the
   * records and waits for the destination to confirm). If it throws, the dump fails and the tree
   * runs on as it was. A migration also waits here for the destination to run the tree.
   * `frozenAt` (performance.now()) is when the freeze began: where downtime starts.
   */
  commit?: (tree: FrozenTree, frozenAt: number) => Promise<void>;
}

export interface DumpResult {
  root: number;
  processes: number;
  threads: number;
  pagesBytes: number;
  freezeMs: number;
  totalMs: number;
}

function prepareDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const stale = readdirSync(dir).filter((f) => /\.(img|mpk)$/.test(f));
  for (const f of stale) rmSync(join(dir, f));
}

export async function dump(opts: DumpOptions): Promise<DumpResult> {
  requireRoot('dump');
  const log = logger('dump');
  const t0 = performance.now();
  if (!Number.isInteger(opts.pid) || opts.pid <= 0) throw new GodwitError(`bad PID ${opts.pid}`, 2);
  if (!existsSync(`/proc/${opts.pid}`)) throw new GodwitError(`no process with PID ${opts.pid}`, 2);
  if (opts.pid === process.pid) throw new GodwitError('godwit cannot dump itself', 2);
  const prev = opts.prev ? resolvePrev(opts.dir, opts.prev) : undefined;
  prepareDir(opts.dir);
  // smaps walks every page: read while the tree still runs, checked against maps once frozen
  const smapsBefore = readSmapsBefore(listTree(opts.pid));
  const tFreeze = performance.now();
  let tree = freezeTree(opts.pid);
  const trackers: DirtyTracker[] = [];
  const tFrozen = performance.now();
  const injections: Injection[] = [];
  let pagesBytes = 0;
  let files: FdTableDumper | undefined;
  let lock: NetworkLock | undefined;
  let fdTables: Map<number, Map<number, string>> | undefined;
  let ipc: Ipc | undefined;
  try {
    // first: no packet of a connection may arrive once its queues have been read
    if (opts.tcpEstablished) {
      // read once, for the lock and for the fds (a thousand sockets, a thousand readlinks)
      fdTables = tablesOf(tree);
      const locked = lockConnections(tree, opts.lock?.tag, fdTables);
      lock = locked.lock;
      if (locked.queued && locked.held) {
        tree = await drainAcceptQueues(tree, opts.pid);
        fdTables = tablesOf(tree);
      }
    }
    const ghosts = new GhostDumper(opts.dir);
    files = new FdTableDumper(ghosts, opts.shellJob, !!opts.tcpEstablished);
    const pages = opts.pages ?? localPages(opts.dir);
    const shmem = new ShmemDumper(pages);
    const pstree = pstreeOf(tree);
    let xsaveSize = 0;
    const cores: ProcessCore[] = [];
    const vmas = new Map<number, VmaEntry[]>();
    for (const p of tree.order()) {
      if (p.zombie) continue;
      const stat = readStat(p.pid);
      const status = readStatus(p.pid);
      refuseIsolation(p.pid, status);
      const probe = new ProcMem(p.pid);
      const insn = findSyscallInsn(p.pid, probe);
      probe.close();
      const inj = new Injection(p.pid, insn);
      injections.push(inj);
      for (const t of p.threads) inj.thread(t.tid); // save every thread's registers before we touch any
      inj.mapScratch();
      const threads = p.threads.map((t) => dumpThread(inj, t.tid));
      xsaveSize = Math.max(xsaveSize, ...threads.map((t) => t.xstate.length));
      // the chain's tracker was parked in the process: taking it back also removes that fd
      const track = prev ? readTrack(prev, p.pid) : undefined;
      const tracker = prev ? adoptTracker(inj, track) : undefined;
      if (tracker) trackers.push(tracker);
      const mmDump = await dumpMm(pages, inj, stat, shmem, ghosts, tracker && { tracker, owed: track?.owed }, smapsBefore.get(p.pid));
      pagesBytes += mmDump.bytes;
      const core: ProcessCore = {
        pid: p.pid, comm: status.name, cwd: readlinkSync(`/proc/${p.pid}/cwd`), root: readlinkSync(`/proc/${p.pid}/root`),
        umask: status.umask, personality: parseInt(readFileSync(`/proc/${p.pid}/personality`, 'utf8'), 16),
        creds: dumpCreds(p.pid, status), rlimits: dumpRlimits(inj), sigactions: dumpSigactions(inj, status),
        sharedPending: dumpSharedPending(p.pid), prctl: dumpPrctl(inj), itimers: dumpItimers(inj), posixTimers: dumpPosixTimers(inj), threads, mm: mmDump.mm,
        fds: files.dumpProcess(p.pid, fdTables?.get(p.pid)), locks: [],
      };
      core.locks = dumpLocks(files.lastFds);
      cores.push(core);
      vmas.set(p.pid, core.mm.vmas);
      inj.unmapScratch();
      writeRecord(opts.dir, `core-${p.pid}.mpk`, 'core', core);
      writeRecord(opts.dir, `pagemap-${p.pid}.mpk`, 'pagemap', mmDump.pagemap);
      log.debug({ pid: p.pid, threads: threads.length, vmas: core.mm.vmas.length, bytes: mmDump.bytes }, 'process dumped');
    }
    const fileRecord = files.finish();
    // before anything is killed or committed: what its restore would refuse, the dump refuses
    checkRestorable({ files: fileRecord, cores });
    writeRecord(opts.dir, 'files.mpk', 'files', fileRecord);
    writeRecord(opts.dir, 'shmem.mpk', 'shmem', { objects: shmem.objects });
    // read frozen, after every process: which segments the tree attaches is in its VMAs
    ipc = dumpIpc(tree.root, vmas);
    writeRecord(opts.dir, 'ipc.mpk', 'ipc', ipc);
    writeRecord(opts.dir, 'pstree.mpk', 'pstree', { entries: pstree });
    const inv: Inventory = {
      format: IMAGE_FORMAT_VERSION, godwit: VERSION, arch: IMAGE_ARCH, kernel: release(),
      created: new Date().toISOString(), root: tree.root, pageSize: 4096, xsaveSize,
      cpuFlags: cpuFlags(), kind: 'dump', ...(prev ? { parent: relative(opts.dir, prev) } : {}),
      ...(lock ? { netLock: lock.record() } : {}),
    };
    // the inventory goes last: an image without one is incomplete and restore refuses it
    writeRecord(opts.dir, 'inventory.mpk', 'inventory', inv);
    await opts.commit?.(tree, tFreeze);
  } catch (e) {
    // tracking ends with a failed dump: the process is left as it was before the chain began
    for (const t of trackers) { try { t.stop(); } catch { /* already stopped */ } }
    files?.endRepair(false);
    try { lock?.open(); } catch (err) { log.error({ table: lock?.table, err: (err as Error).message }, 'cannot lift the network lock'); }
    release_(injections);
    unbindFromTracer(tree);
    thawTree(tree);
    try { lock?.release(); } catch (err) { log.warn({ table: lock?.table, err: (err as Error).message }, 'cannot remove the network lock\'s table'); }
    log.debug({ err: (e as Error).message }, 'dump failed; tree left running');
    throw e;
  }
  release_(injections);
  const freezeMs = performance.now() - tFrozen;
  // tracking ends after the freeze: unregistering walks every page table (30 ms a GiB), and a
  // tree that is killed needs no unregistering at all
  if (opts.leaveRunning) {
    for (const t of trackers) t.stop();
    files!.endRepair(false);
    lock?.open();
    thawTree(tree);
    lock?.release();
  } else {
    killTree(tree);
    // in the image now; left here they would collide with its restore on this host, and leak
    if (ipc) removeDumped(ipc);
    for (const t of trackers) t.release();
    files!.endRepair(true);
    if (lock && opts.lock?.releaseAfterKill) {
      try { lock.release(); } catch (err) { log.warn({ table: lock.table, err: (err as Error).message }, 'cannot remove the network lock\'s table'); }
    } else if (lock) {
      log.info({ table: lock.table }, 'the network stays locked for the tree\'s TCP connections until they are restored');
    }
  }
  const threads = [...tree.threads()].length;
  return { root: tree.root, processes: tree.procs.size, threads, pagesBytes, freezeMs, totalMs: performance.now() - t0 };
}

/** Lock the tree's established TCP connections, if it has any (they must be in our network namespace). */
const tablesOf = (tree: FrozenTree): Map<number, Map<number, string>> => new Map(livePids(tree).map((p) => [p, fdTable(p)]));

function lockConnections(tree: FrozenTree, tag: string | undefined, tables: ReadonlyMap<number, ReadonlyMap<number, string>>): { lock?: NetworkLock; queued: number; held: boolean } {
  const here = pidsHere(tree);
  for (const p of livePids(tree).filter((x) => !here.includes(x))) {
    if (countConnections([p])) throw new GodwitError(`process ${p} has TCP connections in another network namespace than godwit's: run godwit inside it (nsenter --net) to move them`);
  }
  if (!here.length) return { queued: 0, held: true };
  const what = lockTargets(here, tables);
  if (!what.count && !what.ports.length) return { queued: 0, held: true };
  return { lock: NetworkLock.take(tag ?? `d${tree.root}_${Date.now().toString(36)}`, what.conns, what.endpoints, what.ports), queued: what.queued, held: what.held };
}




function release_(injections: Injection[]): void {
  for (const inj of injections) {
    try {
      if (inj.scratch) inj.unmapScratch();
    } catch { /* the task is gone */ }
    try { inj.releaseThreads(); } catch { /* ditto */ }
    inj.close();
  }
}

export type { FrozenTree };
