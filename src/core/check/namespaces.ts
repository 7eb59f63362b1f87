// Namespaces: simulated hosts (tests, demo) are network + PID + mount namespaces, and a restore
// can put a tree in a fresh PID namespace when its PIDs are taken on the destination. Probed with
// `unshare` in a child, never in this process (unsharing here would move godwit itself).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { attempt, ProbeFailure, type Probe } from './probe.js';

const KINDS = ['net', 'pid', 'mnt', 'uts', 'ipc', 'user', 'time', 'cgroup'];
const NEEDED = ['net', 'pid', 'mnt'];

export function probeNamespaces(): Probe {
  return attempt({
    id: 'namespaces', name: 'namespaces',
    yes: 'hosts can be simulated on one machine; a tree can be restored into a PID namespace of its own',
    no: 'no simulated hosts, and no restore into a fresh PID namespace when the PIDs are taken',
  }, () => {
    const have = KINDS.filter((k) => existsSync(`/proc/self/ns/${k}`));
    const missing = KINDS.filter((k) => !have.includes(k));
    const listed = `${have.join(', ')}${missing.length ? ` (missing: ${missing.join(', ')})` : ''}`;
    const lacking = NEEDED.filter((k) => !have.includes(k));
    if (lacking.length) throw new ProbeFailure(`${listed}: the kernel lacks ${lacking.join(', ')} namespaces`);
    const r = spawnSync('unshare', ['--net', '--pid', '--fork', '--mount-proc', 'true'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) {
      const code = (r.error as NodeJS.ErrnoException).code;
      throw new ProbeFailure(`${listed}; ${code === 'ENOENT' ? 'unshare is not installed (Debian package util-linux)' : `unshare: ${r.error.message}`}`);
    }
    if (r.status !== 0) {
      const err = r.stderr.trim().replace(/\s+/g, ' ');
      throw new ProbeFailure(`${listed}; unshare --net --pid --fork --mount-proc failed: ${err || `exit ${r.status ?? r.signal}`}` +
        (/not permitted/i.test(err) ? ' (godwit needs root)' : ''));
    }
    return `${listed}; unshare --net --pid --fork --mount-proc works`;
  });
}
