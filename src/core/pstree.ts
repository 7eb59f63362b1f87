// The pstree record of a frozen tree: PIDs, parents, groups, sessions and threads, as a restore
// needs them to grow its seeds. A dump writes it, and so does each pre-dump link, which lets a
// destination grow the seeds while pre-copy still runs.
import type { FrozenTree } from './ptrace/freeze.js';
import type { PstreeEntry } from './image/format.js';
import { readStat } from './proc/stat.js';

export function pstreeOf(tree: FrozenTree): PstreeEntry[] {
  return tree.order().map((p) => {
    const stat = readStat(p.pid);
    return {
      pid: p.pid, ppid: p.pid === tree.root ? stat.ppid : p.ppid, pgid: stat.pgid, sid: stat.sid,
      threads: p.threads.map((t) => t.tid), ...(p.zombie ? { zombie: p.zombie } : {}),
      ...(stat.ttyNr && stat.tpgid === stat.pgid ? { foreground: true } : {}),
      ...(p.stopped ? { stopped: true } : {}),
    };
  });
}
