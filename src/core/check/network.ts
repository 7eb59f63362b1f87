// Probes for moving TCP connections: TCP repair mode, and nftables through libnftables (the
// network lock that holds a connection's packets while it moves).
import { spawnSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import { sys, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { attempt, kernelConfig, ProbeFailure, type Probe } from './probe.js';
import { loadNft, nft } from '../net/nft.js';

const AF_INET = 2, SOCK_STREAM = 1, IPPROTO_TCP = 6, TCP_REPAIR = 19;

export function probeTcpRepair(): Probe {
  return attempt({
    id: 'tcp_repair', name: 'TCP repair',
    yes: 'established TCP connections can be checkpointed and restored',
    no: 'live TCP connections cannot be migrated',
    hint: (e) => (e === 1 ? 'needs CAP_NET_ADMIN (godwit needs root)' : e === 92 ? 'the kernel has no TCP_REPAIR' : undefined),
  }, () => {
    const s = sys('socket(AF_INET, SOCK_STREAM)', NR.socket, AF_INET, SOCK_STREAM, 0);
    try {
      const one = Buffer.alloc(4);
      one.writeInt32LE(1, 0);
      sys('setsockopt(IPPROTO_TCP, TCP_REPAIR, 1)', NR.setsockopt, s, IPPROTO_TCP, TCP_REPAIR, addr(one), 4);
      return 'setsockopt(TCP_REPAIR, 1) accepted on a fresh TCP socket';
    } finally {
      closeSync(s);
    }
  });
}

function loadLib(): ReturnType<typeof loadNft> {
  try {
    return loadNft();
  } catch (e) {
    throw new ProbeFailure((e as Error).message);
  }
}

function packageVersion(): string {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'libnftables1'], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 && r.stdout.trim() ? ` ${r.stdout.trim()}` : '';
}

/** The library loads, a context is made, and the kernel's nf_tables answers a read-only listing. */
export function probeNftables(): Probe {
  return attempt({
    id: 'nftables', name: 'nftables (libnftables)',
    yes: 'the network lock during a migration is set in one transaction, in process',
    no: 'no network lock during a migration: live TCP connections cannot be migrated safely',
  }, () => {
    loadLib();
    const lib = `libnftables.so.1${packageVersion()} loaded`;
    try {
      nft('list tables');
    } catch (e) {
      const err = (e as Error).message.replace(/^nftables refused the batch: /, '');
      const cfg = kernelConfig('CONFIG_NF_TABLES');
      throw new ProbeFailure(`${lib}, but the kernel refused "list tables": ${err}` +
        (/not permitted/i.test(err) ? ' (needs CAP_NET_ADMIN: godwit needs root)' : cfg === 'n' ? ' (CONFIG_NF_TABLES is not set)' : ''));
    }
    return `${lib}; the kernel's nf_tables answers`;
  });
}
