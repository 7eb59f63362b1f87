// godwit traces other users' processes and rebuilds them with chosen PIDs: it needs root (or at
// least CAP_SYS_ADMIN + CAP_SYS_PTRACE + CAP_CHECKPOINT_RESTORE). Say so plainly up front.
import { readFileSync } from 'node:fs';
import { GodwitError } from './errors.js';

const CAP_SYS_PTRACE = 19n, CAP_SYS_ADMIN = 21n;

export function requireRoot(what: string): void {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const eff = m ? BigInt('0x' + m[1]) : 0n;
  const need = (1n << CAP_SYS_PTRACE) | (1n << CAP_SYS_ADMIN);
  if ((eff & need) !== need) {
    throw new GodwitError(`${what} needs root (CAP_SYS_ADMIN and CAP_SYS_PTRACE); you are uid ${process.getuid?.() ?? '?'}. Run it as root, e.g. with sudo.`, 13);
  }
}
