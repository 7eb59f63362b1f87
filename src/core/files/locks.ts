// File locks, from the "lock:" lines of each fd's fdinfo: flock(2) locks belong to an open file,
// POSIX record locks to a process, OFD locks to an open file. fdinfo shows exactly the locks taken
// through that open file by this process (or by the open file itself), where /proc/locks lists
// every lock of the host, to be matched by PID and inode. Each is taken again from inside the
// task that held it, on the same fd, once its fds are in place.
import { NR } from '../sys/nr.js';
import type { Injection } from '../ptrace/inject.js';
import type { FdEntry, LockEntry } from '../image/format.js';
import type { ProcFd } from '../proc/fd.js';
import { GodwitError } from '../errors.js';

const LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4;
const F_SETLK = 6, F_OFD_SETLK = 37, F_RDLCK = 0, F_WRLCK = 1;

/** Locks held through the fds of a process (blocked waiters, "->", are not held). */
export function dumpLocks(fds: ProcFd[]): LockEntry[] {
  const out: LockEntry[] = [];
  for (const fd of fds) {
    if (!fd.raw.includes('lock:')) continue;
    for (const line of fd.raw.split('\n')) {
      // "lock:\t1: POSIX  ADVISORY  WRITE 13433 fe:00:2146381 10 14"
      const m = /^lock:\s+\d+:\s+(FLOCK|POSIX|OFDLCK)\s+(ADVISORY|MANDATORY)\s+(READ|WRITE)\s+(-?\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s+(\d+)\s+(\d+|EOF)/.exec(line);
      if (!m || !fd.link.startsWith('/')) continue;
      out.push({
        kind: m[1] === 'FLOCK' ? 'flock' : m[1] === 'POSIX' ? 'posix' : 'ofd', fd: fd.fd, write: m[3] === 'WRITE',
        start: Number(m[6]), end: m[7] === 'EOF' ? -1 : Number(m[7]),
      });
    }
  }
  return out;
}

export function restoreLocks(inj: Injection, locks: LockEntry[], fds: FdEntry[]): void {
  for (const l of locks) {
    if (!fds.some((f) => f.fd === l.fd)) continue;
    if (l.kind === 'flock') {
      const r = inj.thread().callRaw(NR.flock, l.fd, (l.write ? LOCK_EX : LOCK_SH) | LOCK_NB);
      if (r < 0) throw new GodwitError(`process ${inj.pid}: cannot take its flock on fd ${l.fd} again (errno ${-r}): someone else holds the file locked`);
      continue;
    }
    inj.reset(16);
    const fl = Buffer.alloc(32); // struct flock: type, whence (shorts), start, len, pid
    fl.writeInt16LE(l.write ? F_WRLCK : F_RDLCK, 0);
    fl.writeInt16LE(0, 2);
    fl.writeBigInt64LE(BigInt(l.start), 8);
    fl.writeBigInt64LE(BigInt(l.end < 0 ? 0 : l.end - l.start + 1), 16);
    const r = inj.thread().callRaw(NR.fcntl, l.fd, l.kind === 'posix' ? F_SETLK : F_OFD_SETLK, inj.put(fl));
    if (r < 0) throw new GodwitError(`process ${inj.pid}: cannot take its ${l.kind} lock on fd ${l.fd} again (errno ${-r}): someone else holds it`);
  }
}
