// An agent that starts after a crash: the pre-copy chains its predecessor was sending left dirty
// trackers parked in their processes. Each one whose fd is still a userfaultfd in that process is
// taken back, so the process is as it was before the migration began; then the old state goes.
// So do the network locks its migrations held: the trees they held connections for died with it.
import { readdirSync, readlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { untrackDir } from '../core/untrack.js';
import { readTrack } from '../core/predump.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { StateDir } from './state.js';
import { NetworkLock, MIGRATION_LOCK } from '../core/net/lock.js';

const linkNo = (l: string): number => (l === 'final' ? 1e9 : Number(/^pre-(\d+)$/.exec(l)?.[1] ?? -1));

function parkedHere(pid: number, dir: string): boolean {
  const rec = readTrack(dir, pid);
  if (rec?.parkedFd === undefined) return false;
  try { return readlinkSync(`/proc/${pid}/fd/${rec.parkedFd}`).includes('userfaultfd'); } catch { return false; }
}

export function recoverOutgoing(state: StateDir, log: Logger): void {
  const root = join(state.root, 'outgoing');
  for (const mid of existsSync(root) ? readdirSync(root) : []) {
    const links = readdirSync(join(root, mid)).filter((l) => linkNo(l) >= 0 && linkNo(l) < 1e9).sort((a, b) => linkNo(b) - linkNo(a));
    const newest = links[0];
    if (!newest) continue;
    const dir = join(root, mid, newest);
    const roots = readdirSync(dir).map((f) => Number(/^track-(\d+)\.mpk$/.exec(f)?.[1] ?? 0)).filter((p) => p > 0);
    // a tree's root takes its children's trackers back with its own; a child found still
    // holding one afterwards is done on its own
    for (const pid of roots.sort((a, b) => a - b)) {
      if (!parkedHere(pid, dir)) continue;
      try {
        const n = untrackDir(pid, dir);
        log.warn({ migration: mid, pid, trackers: n }, 'took back the dirty trackers a crashed agent left in a process');
      } catch (e) {
        log.warn({ migration: mid, pid, err: errorMessage(e) }, 'could not take back a tracker a crashed agent left');
      }
    }
  }
  state.clearOutgoing();
}

/**
 * Remove the network locks of migrations (tag `m…`) in this host's network namespace. A lock a
 * `godwit dump` left for a later `godwit restore` (tag `d…`) is not the agent's, and stays.
 */
export function releaseStaleLocks(log: Logger): void {
  let tables: string[];
  try {
    tables = NetworkLock.present(MIGRATION_LOCK);
  } catch (e) {
    log.debug({ err: errorMessage(e) }, 'no nftables here: no network lock to look for');
    return;
  }
  for (const t of tables) {
    try {
      NetworkLock.named(t).release();
      log.warn({ table: t }, 'removed the network lock a migration left (its agent stopped before it could)');
    } catch (e) {
      log.error({ table: t, err: errorMessage(e) }, 'cannot remove a network lock a migration left');
    }
  }
}
