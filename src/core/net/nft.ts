// libnftables, in process: a batch of nft commands goes to the kernel as one transaction (all of
// it or none), in well under a millisecond, where spawning `nft` per rule costs tens of them.
import koffi from 'koffi';
import { GodwitError } from '../errors.js';

interface Lib {
  ctxNew: (flags: number) => unknown;
  bufferOutput: (ctx: unknown) => number;
  bufferError: (ctx: unknown) => number;
  run: (ctx: unknown, cmd: string) => number;
  outputBuffer: (ctx: unknown) => string | null;
  errorBuffer: (ctx: unknown) => string | null;
}

let lib: Lib | undefined;

/** The library, loaded once; throws (with the package to install) where it is missing. */
export function loadNft(): Lib {
  if (lib) return lib;
  let l: ReturnType<typeof koffi.load>;
  try {
    l = koffi.load('libnftables.so.1');
  } catch (e) {
    throw new GodwitError(`libnftables.so.1 cannot be loaded (${(e as Error).message.replace(/\s+/g, ' ').trim()}); install the Debian package libnftables1`);
  }
  lib = {
    ctxNew: l.func('void *nft_ctx_new(uint32_t)'),
    bufferOutput: l.func('int nft_ctx_buffer_output(void *)'),
    bufferError: l.func('int nft_ctx_buffer_error(void *)'),
    run: l.func('int nft_run_cmd_from_buffer(void *, const char *)'),
    outputBuffer: l.func('const char *nft_ctx_get_output_buffer(void *)'),
    errorBuffer: l.func('const char *nft_ctx_get_error_buffer(void *)'),
  };
  return lib;
}

export class NftError extends GodwitError {}

// One context for the process, made at the first use: it holds the netlink socket, and the
// library waits on it with select(), which aborts the process when that fd is above 1023. Made
// early, it keeps a low number however many sockets come later.
let ctx: unknown;

/**
 * Run `commands` (one per line) as one transaction in the network namespace the context was made
 * in (this process's, at its first call); returns what nft printed.
 */
export function nft(commands: string): string {
  const n = loadNft();
  if (!ctx) {
    const c = n.ctxNew(0);
    if (!c) throw new NftError('nft_ctx_new failed');
    n.bufferOutput(c);
    n.bufferError(c);
    ctx = c;
  }
  const ok = n.run(ctx, commands) === 0;
  // both buffers are read every time: reading one empties it for the next command
  const out = n.outputBuffer(ctx) ?? '', err = (n.errorBuffer(ctx) ?? '').replace(/\s+/g, ' ').trim();
  if (!ok) throw new NftError(`nftables refused the batch: ${err || 'no message'}`);
  return out;
}
