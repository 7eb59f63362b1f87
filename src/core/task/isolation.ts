// What godwit cannot carry yet and must refuse before touching anything: seccomp filters (they
// cannot be read back into a new process here) and namespaces other than godwit's own (paths,
// PIDs and addresses would be read in the wrong namespace).
import { readlinkSync } from 'node:fs';
import type { ProcStatus } from '../proc/status.js';
import { UnsupportedError } from '../errors.js';

const KINDS = ['pid', 'mnt', 'net', 'ipc', 'uts', 'user', 'cgroup', 'time'] as const;

export function refuseIsolation(pid: number, st: ProcStatus): void {
  if (st.seccomp === 2) {
    throw new UnsupportedError(`process ${pid} (${st.name}): seccomp filters are not supported yet`);
  }
  for (const k of KINDS) {
    let mine: string, theirs: string;
    try {
      mine = readlinkSync(`/proc/self/ns/${k}`);
      theirs = readlinkSync(`/proc/${pid}/ns/${k}`);
    } catch {
      continue; // this kernel has no such namespace
    }
    if (mine !== theirs) {
      throw new UnsupportedError(`process ${pid} (${st.name}) lives in another ${k} namespace (${theirs}); processes in containers are not supported yet`);
    }
  }
}
