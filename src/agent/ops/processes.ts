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
}

const PF_KTHREAD = 0x200000, PAGE = 4096, MAX_COMMAND = 512;

export function processes(): { processes: ProcessInfo[] } {
  const out: ProcessInfo[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = parseStat(readFileSync(`/proc/${d}/stat`, 'utf8'));
      if (st.flags & PF_KTHREAD) continue;
      const statm = readFileSync(`/proc/${d}/statm`, 'utf8').split(' ');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${d}/status`, 'utf8'))?.[1] ?? -1);
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      out.push({
        pid: st.pid, ppid: st.ppid, comm: st.comm, command: (argv || `[${st.comm}]`).slice(0, MAX_COMMAND),
        rssBytes: Number(statm[1] ?? 0) * PAGE, threads: st.numThreads, uid, state: st.state,
      });
    } catch { /* gone meanwhile */ }
  }
  return { processes: out.sort((a, b) => a.pid - b.pid) };
}
