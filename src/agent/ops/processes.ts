// `processes`: what runs on this host, for an operator choosing what to move (the coordinator's
// dashboard): every process the agent sees in its PID namespace, kernel threads left out.
import { readdirSync, readFileSync } from 'node:fs';
import { parseStat } from '../../core/proc/stat.js';

export interface ProcessInfo {
  pid: number; ppid: number;
  /** the command line, or [comm] when it has none */
  command: string;
  comm: string;
  rssBytes: number;
  threads: number;
  uid: number;
  state: string;
  /** the agent itself, or an ancestor of it (a simulated host's init): not something to move */
  godwit?: boolean;
}

const PF_KTHREAD = 0x200000, PAGE = 4096, MAX_COMMAND = 512;

export function processes(): { processes: ProcessInfo[] } {
  const out: ProcessInfo[] = [];
  const mine = new Set<number>();
  for (let p = process.pid; p > 0 && !mine.has(p); ) {
    mine.add(p);
    try { p = parseStat(readFileSync(`/proc/${p}/stat`, 'utf8')).ppid; } catch { break; }
  }
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = parseStat(readFileSync(`/proc/${d}/stat`, 'utf8'));
      if (st.flags & PF_KTHREAD) continue;
      const statm = readFileSync(`/proc/${d}/statm`, 'utf8').split(' ');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${d}/status`, 'utf8'))?.[1] ?? -1);
      // reading a command line takes the process's memory map lock, which one in D state may
      // hold for good: its name will do
      const argv = st.state === 'D' ? '' : readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      out.push({
        pid: st.pid, ppid: st.ppid, comm: st.comm, command: (argv || `[${st.comm}]`).slice(0, MAX_COMMAND),
        rssBytes: Number(statm[1] ?? 0) * PAGE, threads: st.numThreads, uid, state: st.state, ...(mine.has(st.pid) ? { godwit: true } : {}),
      });
    } catch { /* gone meanwhile */ }
  }
  return { processes: out.sort((a, b) => a.pid - b.pid) };
}
