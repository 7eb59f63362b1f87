// The dump's own refusals, asked of a running tree without freezing it (a migration's
// preflight): each process's isolation (task/isolation.ts), its mappings (mem/vma.ts) and its
// fds (files/fdtable.ts), then what its restore would refuse of such an image
// (image/restorable.ts). What is refused here would be refused by the dump after the freeze.
import { readStatus } from '../proc/status.js';
import { readMaps } from '../proc/smaps.js';
import { listTree } from '../proc/tree.js';
import { refuseIsolation } from '../task/isolation.js';
import { toVmaEntry } from '../mem/vma.js';
import { FdTableDumper } from '../files/fdtable.js';
import { GhostDumper } from '../files/ghost.js';
import type { FdEntry, GhostEntry } from '../image/format.js';
import { checkRestorable } from '../image/restorable.js';
import { sharedSegments } from '../ipc/index.js';
import { GodwitError, errorMessage } from '../errors.js';

/** Ghost files are only counted, never copied: nothing is written anywhere. */
class CountedGhosts extends GhostDumper {
  constructor() { super('/nonexistent'); }
  override add(_source: string, shownPath: string): GhostEntry {
    const g: GhostEntry = { id: this.ghosts.length + 1, kind: 'deleted', dev: 0, ino: 0, path: shownPath, size: 0, mode: 0, seals: 0 };
    this.ghosts.push(g);
    return g;
  }
}

/**
 * The reasons a dump of the tree of `root` would be refused (one at most per process), or none;
 * and its external peers (what a migration leaves behind on the source), one line each.
 */
export function dumpRefusals(root: number): { refusals: string[]; external: string[] } {
  const out: string[] = [];
  let external: string[] = [];
  const ghosts = new CountedGhosts();
  const fds = new FdTableDumper(ghosts, false, false, true);
  const cores: Array<{ pid: number; fds: FdEntry[] }> = [];
  const pids = listTree(root);
  out.push(...sharedSegments(pids));
  try {
    for (const pid of pids) {
      try {
        refuseIsolation(pid, readStatus(pid));
        for (const v of readMaps(pid)) toVmaEntry(pid, v, ghosts);
        cores.push({ pid, fds: fds.dumpProcess(pid) });
      } catch (e) {
        if (!(e instanceof GodwitError)) throw e;
        out.push(errorMessage(e));
      }
    }
    // finish() also lets go of the fds in flight it took in
    const files = fds.finish();
    external = (files.external ?? []).map((o) => `${o.kind} ${o.key} (${o.users.map((u) => `process ${u.pid} fd ${u.fd}`).join(', ')}${o.peerName ? `, peer ${o.peerName}` : ''})`);
    if (out.length) return { refusals: out, external };
    try {
      checkRestorable({ files, cores });
    } catch (e) {
      if (!(e instanceof GodwitError)) throw e;
      out.push(errorMessage(e));
    }
  } finally {
    fds.endRepair(false);
  }
  return { refusals: out, external };
}
