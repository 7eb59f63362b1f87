// Probes for moving TCP connections: TCP repair mode, and nftables through libnftables (the
// network lock that holds a connection's packets while it moves).
import { spawnSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import koffi from 'koffi';
import { sys, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { attempt, kernelConfig, ProbeFailure, type Probe } from './probe.js';

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

interface Nft {
  ctxNew: (flags: number) => unknown;
  ctxFree: (ctx: unknown) => void;
  bufferOutput: (ctx: unknown) => number;
  bufferError: (ctx: unknown) => number;
  run: (ctx: unknown, cmd: string) => number;
  errorBuffer: (ctx: unknown) => string | null;
}

let nft: Nft | undefined;

function loadNft(): Nft {
  if (nft) return nft;
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load('libnftables.so.1');
  } catch (e) {
    throw new ProbeFailure(`libnftables.so.1 cannot be loaded (${(e as Error).message.replace(/\s+/g, ' ').trim()}); install the Debian package libnftables1`);
  }
  nft = {
    ctxNew: lib.func('void *nft_ctx_new(uint32_t)'),
    ctxFree: lib.func('void nft_ctx_free(void *)'),
    bufferOutput: lib.func('int nft_ctx_buffer_output(void *)'),
    bufferError: lib.func('int nft_ctx_buffer_error(void *)'),
    run: lib.func('int nft_run_cmd_from_buffer(void *, const char *)'),
    errorBuffer: lib.func('const char *nft_ctx_get_error_buffer(void *)'),
  };
  return nft;
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
    const n = loadNft();
    const ctx = n.ctxNew(0);
    if (!ctx) throw new ProbeFailure('nft_ctx_new failed');
    try {
      n.bufferOutput(ctx);
      n.bufferError(ctx);
      const lib = `libnftables.so.1${packageVersion()} loaded`;
      if (n.run(ctx, 'list tables') !== 0) {
        const err = (n.errorBuffer(ctx) ?? '').replace(/\s+/g, ' ').trim();
        const cfg = kernelConfig('CONFIG_NF_TABLES');
        throw new ProbeFailure(`${lib}, but the kernel refused "list tables": ${err || 'no message'}` +
          (/not permitted/i.test(err) ? ' (needs CAP_NET_ADMIN: godwit needs root)' : cfg === 'n' ? ' (CONFIG_NF_TABLES is not set)' : ''));
      }
      return `${lib}; the kernel's nf_tables answers`;
    } finally {
      n.ctxFree(ctx);
    }
  });
}
