// What every operation of an agent can reach.
import type { Logger } from '../core/log.js';
import type { HostInfo, Event, Progress } from '../pageserver/protocol.js';
import type { TlsMaterial } from '../pageserver/client.js';
import type { StateDir } from './state.js';
import type { Registry } from './registry.js';

export interface AgentContext {
  state: StateDir;
  registry: Registry;
  token: Buffer;
  tls?: TlsMaterial;
  host: HostInfo;
  log: Logger;
  /** progress of every operation goes here too, for `status --follow` */
  broadcast(p: Progress): void;
}

/** A link's stream, once a `receive` has been accepted on a connection. */
export interface StreamHandler {
  file(index: number, name: string): void;
  chunk(frame: Buffer): void;
  end(files: Array<{ index: number; size: number }>): void;
  /** the connection went away */
  lost(why: Error): void;
}

export interface OpCall {
  ctx: AgentContext;
  /** aborted when the caller's connection is gone */
  gone: AbortSignal;
  /** send an event tied to this request */
  emit(e: Omit<Event, 't' | 'id'>): void;
  /** route the rest of this connection's stream to `h` (receive only) */
  takeStream(h: StreamHandler): { pause(): void; resume(): void };
  releaseStream(): void;
}

/** Throttled progress: to the caller and to followers, at most every 200 ms and at the end. */
export function progressReporter(call: OpCall, p: Progress): (force?: boolean) => void {
  let last = 0;
  return (force = false) => {
    const now = Date.now();
    if (!force && now - last < 200) return;
    last = now;
    call.emit({ kind: 'progress', progress: { ...p } });
    call.ctx.broadcast({ ...p });
  };
}
