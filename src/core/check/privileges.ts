// Who we run as: godwit traces other users' processes, gives processes chosen PIDs and sets
// network locks, so it needs root (CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_NET_ADMIN).
import { readFileSync } from 'node:fs';
import type { Probe } from './probe.js';

const CAPS = { CAP_NET_ADMIN: 12, CAP_SYS_PTRACE: 19, CAP_SYS_ADMIN: 21, CAP_CHECKPOINT_RESTORE: 40 } as const;
type Cap = keyof typeof CAPS;
const NEEDED: Cap[] = ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_NET_ADMIN'];

export interface Privileges {
  uid: number;
  euid: number;
  /** the capabilities godwit needs that are not effective */
  missing: Cap[];
  /** what dump and restore need at the least (the core refuses to start without them) */
  canTrace: boolean;
}

export function privileges(): Privileges {
  let eff = 0n;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) eff = BigInt('0x' + m[1]);
  } catch { /* no /proc: nothing is effective as far as we can tell */ }
  const has = (c: Cap) => ((eff >> BigInt(CAPS[c])) & 1n) === 1n;
  return {
    uid: process.getuid?.() ?? -1,
    euid: process.geteuid?.() ?? -1,
    missing: NEEDED.filter((c) => !has(c)),
    canTrace: has('CAP_SYS_ADMIN') && has('CAP_SYS_PTRACE'),
  };
}

export function probePrivileges(p: Privileges): Probe {
  const ok = p.euid === 0 && p.missing.length === 0;
  const who = `uid ${p.uid}, euid ${p.euid}`;
  return {
    id: 'root', name: 'root privileges', ok,
    detail: ok
      ? `${who}; ${NEEDED.join(', ')} effective`
      : `${who}; ${p.missing.length ? `${p.missing.join(', ')} not effective` : 'capabilities effective but not euid 0'}`,
    consequence: ok
      ? 'godwit can trace, rebuild and network-lock any process'
      : 'godwit needs root: run it as root (e.g. sudo godwit ...)',
  };
}
