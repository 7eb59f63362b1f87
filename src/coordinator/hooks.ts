// The operator's hook scripts: where a load balancer or a cloud API moves a service address,
// godwit cannot do it itself, so it runs the operator's script at the moment the move must happen
// and tells it what moves through environment variables (documented in the README).
//   pre-restore: the tree is frozen on the source and built, not yet running, on the
//     destination; its addresses must reach the destination now. A failure rolls back.
//   post-resume: the tree runs on the destination and the source's copy is gone. A failure is
//     only reported: nothing can be undone any more.
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { GodwitError } from '../core/errors.js';
import { logger } from '../core/log.js';

export type HookPhase = 'pre-restore' | 'post-resume';

export interface HookContext {
  migration: string;
  pid: number;
  from: { name: string; url: string };
  to: { name: string; url: string };
  /** `--move-ip` addresses (CIDR), moved by godwit itself before the pre-restore hook runs */
  moveIps: string[];
  /** the local addresses of the tree's TCP connections and listeners (not loopback, not the wildcard) */
  addresses: string[];
  connections: number;
  destinationPid?: number;
}

/** A hook must be an executable file: checked when the command is given, not mid-migration. */
export function checkHook(option: string, path: string): string {
  try {
    if (!statSync(path).isFile()) throw new Error('not a file');
    accessSync(path, constants.X_OK);
  } catch (e) {
    throw new GodwitError(`--${option} ${path}: not an executable file (${(e as Error).message.replace(/^[A-Z]+: /, '')})`, 2);
  }
  return path;
}

export function hookEnv(phase: HookPhase, c: HookContext): Record<string, string> {
  return {
    GODWIT_HOOK: phase,
    GODWIT_MIGRATION: c.migration,
    GODWIT_PID: String(c.pid),
    GODWIT_FROM: c.from.name, GODWIT_FROM_URL: c.from.url,
    GODWIT_TO: c.to.name, GODWIT_TO_URL: c.to.url,
    GODWIT_MOVE_IP: c.moveIps.join(' '),
    GODWIT_ADDRESSES: c.addresses.join(' '),
    GODWIT_CONNECTIONS: String(c.connections),
    ...(c.destinationPid !== undefined ? { GODWIT_DESTINATION_PID: String(c.destinationPid) } : {}),
  };
}

/**
 * Run a hook to its end. It fails on a non-zero exit, a signal, or `timeoutMs` (then it is
 * killed); the error carries the last line it wrote. Its output goes to the log, line by line.
 */
export function runHook(path: string, phase: HookPhase, c: HookContext, timeoutMs: number, signal?: AbortSignal): Promise<number> {
  const log = logger('hook');
  const t0 = performance.now();
  return new Promise<number>((resolve, reject) => {
    const p = spawn(path, [], { env: { ...process.env, ...hookEnv(phase, c) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let last = '';
    const take = (stream: 'stdout' | 'stderr') => (b: Buffer) => {
      for (const line of b.toString().split('\n').filter((l) => l.trim())) {
        last = line.trim().slice(0, 300);
        log.info({ hook: phase, stream, line: last }, 'hook output');
      }
    };
    p.stdout.on('data', take('stdout'));
    p.stderr.on('data', take('stderr'));
    const timer = setTimeout(() => { p.kill('SIGKILL'); }, timeoutMs);
    let timedOut = false;
    timer.unref();
    // a migration called off does not leave its hook behind
    const stop = (): void => { p.kill('SIGKILL'); };
    signal?.addEventListener('abort', stop, { once: true });
    p.on('close', () => signal?.removeEventListener('abort', stop));
    p.on('error', (e) => { clearTimeout(timer); reject(new GodwitError(`the ${phase} hook ${path} did not start: ${e.message}`)); });
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      timedOut = signal === 'SIGKILL' && ms >= timeoutMs;
      if (code === 0) { log.info({ hook: phase, ms: Math.round(ms) }, 'hook done'); resolve(ms); return; }
      const why = timedOut ? `did not end in ${timeoutMs / 1000} s` : code !== null ? `exited with ${code}` : `was killed by ${signal}`;
      reject(new GodwitError(`the ${phase} hook ${path} ${why}${last ? `: ${last}` : ''}`));
    });
  });
}
