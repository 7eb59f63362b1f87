// Probes for how godwit reads open files and mappings from outside a process: pidfd_getfd (a
// duplicate of the very same open file), kcmp (is this fd shared with another?), and
// /proc/PID/map_files (the file behind a mapping, even a deleted or anonymous shared one).
import { closeSync, openSync, readdirSync, readlinkSync } from 'node:fs';
import { pidfdOpen, pidfdGetfd, kcmpFile } from '../sys/process.js';
import { attempt, ProbeFailure, type Probe } from './probe.js';

export function probePidfdGetfd(): Probe {
  return attempt({
    id: 'pidfd_getfd', name: 'pidfd_open + pidfd_getfd',
    yes: 'open files are taken for inspection as duplicates of the very same file (pipes, sockets, offsets)',
    no: 'open files of a process cannot be taken from outside: dump cannot save pipes, sockets or offsets',
    hint: (e) => (e === 38 ? 'the kernel lacks pidfd_getfd (Linux 5.6+)' : undefined),
  }, () => {
    const fd = openSync('/dev/null', 'r');
    let pidfd = -1, dup = -1;
    try {
      pidfd = pidfdOpen(process.pid);
      dup = pidfdGetfd(pidfd, fd);
      if (kcmpFile(process.pid, process.pid, fd, dup) !== 0) throw new ProbeFailure('the duplicate is not the same open file');
      return `pidfd_open(self) and pidfd_getfd (syscall 438) duplicated fd ${fd} as fd ${dup}, the same open file`;
    } finally {
      for (const f of [dup, pidfd, fd]) if (f >= 0) closeSync(f);
    }
  });
}

export function probeKcmp(): Probe {
  return attempt({
    id: 'kcmp', name: 'kcmp',
    yes: 'a file shared by several fds or processes is restored shared',
    no: 'files shared between fds or processes cannot be recognised: dump refuses them',
    hint: (e) => (e === 38 ? 'CONFIG_KCMP (or CONFIG_CHECKPOINT_RESTORE) is not set' : undefined),
  }, () => {
    const a = openSync('/dev/null', 'r'), b = openSync('/dev/null', 'r');
    try {
      if (kcmpFile(process.pid, process.pid, a, a) !== 0) throw new ProbeFailure('KCMP_FILE: an fd does not compare equal to itself');
      if (kcmpFile(process.pid, process.pid, a, b) === 0) throw new ProbeFailure('KCMP_FILE: two separate opens compare equal');
      return 'KCMP_FILE tells the same open file from another open of the same path';
    } finally {
      closeSync(a);
      closeSync(b);
    }
  });
}

export function probeMapFiles(): Probe {
  return attempt({
    id: 'map_files', name: '/proc/PID/map_files',
    yes: 'the file behind each mapping is found (deleted files, shared anonymous memory)',
    no: 'mappings of deleted files and shared anonymous memory cannot be dumped',
  }, () => {
    const entries = readdirSync('/proc/self/map_files');
    if (!entries.length) throw new ProbeFailure('/proc/self/map_files is empty');
    const first = entries[0]!;
    const path = `/proc/self/map_files/${first}`;
    try {
      const target = readlinkSync(path);
      closeSync(openSync(path, 'r')); // what dump does: open the file behind the mapping
      return `${entries.length} entries; opened ${first} (${target})`;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ProbeFailure(`${(e as NodeJS.ErrnoException).syscall ?? 'open'} ${path}: ${code ?? (e as Error).message}` +
        `${code === 'EPERM' || code === 'EACCES' ? ' (needs CAP_CHECKPOINT_RESTORE: godwit needs root)' : ''}`);
    }
  });
}
