// A connection to an agent, as a coordinator, a CLI or another agent holds it: authenticate, then
// call operations and follow their events. Pages for a `receive` go through `channel`.
import { WebSocket } from 'ws';
import { GodwitError } from '../core/errors.js';
import { Channel, Inbox, clientHandshake, isControl } from './channel.js';
import { hostInfo } from './host.js';
import {
  MAX_MESSAGE, WS_PATH, decodeControl, CLOSE,
  type Event, type Hello, type HostInfo, type OpArgs, type OpName,
} from './protocol.js';

export interface TlsMaterial { cert: Buffer; key: Buffer; ca: Buffer }
export interface ClientOptions { token: Buffer; tls?: TlsMaterial; host?: HostInfo; connectTimeoutMs?: number }

/** The error an agent answered with: its code says what kind (busy, not-found, ...). */
export class AgentError extends GodwitError {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'AgentError';
  }
}

export class AgentClient {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** event listeners by request id; a `status` with `follow` keeps its listener after the answer */
  private listeners = new Map<number, { onEvent: (e: Event) => void; keep: boolean }>();

  private constructor(readonly url: string, readonly channel: Channel, readonly peer: Hello, inbox: Inbox) {
    inbox.handOver((data) => this.onMessage(data));
    channel.ws.on('close', () => {
      const err = channel.closeError ?? new GodwitError('connection closed');
      for (const p of this.pending.values()) p.reject(new GodwitError(`agent ${url}: ${err.message}`));
      this.pending.clear();
    });
  }

  static async connect(url: string, opts: ClientOptions): Promise<AgentClient> {
    const u = new URL(url);
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new GodwitError(`agent address ${url}: use ws://HOST:PORT or wss://HOST:PORT`, 2);
    if (u.pathname === '/' || u.pathname === '') u.pathname = WS_PATH;
    if (u.protocol === 'wss:' && !opts.tls) throw new GodwitError(`agent address ${url} is wss://: give the certificates (--tls-cert, --tls-key, --tls-ca)`, 2);
    const ws = new WebSocket(u, {
      maxPayload: MAX_MESSAGE, perMessageDeflate: false, handshakeTimeout: opts.connectTimeoutMs ?? 10_000,
      // masking protects browsers' proxies; agents talk directly and the payload is not chosen by a page
      generateMask: (m: Buffer) => { m.fill(0); },
      ...(opts.tls ? { cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, rejectUnauthorized: true } : {}),
    });
    const inbox = new Inbox(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', (e) => reject(new GodwitError(`cannot reach agent ${url}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
      ws.once('unexpected-response', (_req, res) => reject(new GodwitError(`agent ${url} answered HTTP ${res.statusCode}: not a godwit agent, or a wrong path`)));
    });
    ws.on('error', () => { /* reported through close */ });
    try {
      const hello = await clientHandshake(ws, inbox, opts.token, opts.host ?? hostInfo());
      return new AgentClient(url, new Channel(ws), hello, inbox);
    } catch (e) {
      ws.terminate();
      throw e;
    }
  }

  private onMessage(b: Buffer): void {
    try {
      if (!isControl(b)) throw new Error('unexpected binary message');
      const m = decodeControl(b);
      if (m.t === 'res') {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (!this.listeners.get(m.id)?.keep) this.listeners.delete(m.id);
        if (m.ok) p.resolve(m.value);
        else p.reject(new AgentError(m.error.code, m.error.message));
      } else if (m.t === 'event') {
        this.listeners.get(m.id)?.onEvent(m);
      }
    } catch (e) {
      this.channel.close(CLOSE.badMessage, (e as Error).message);
    }
  }

  /** Run an operation on the agent; resolves with its result, rejects with AgentError. */
  call<K extends OpName>(op: K, args: OpArgs[K], onEvent?: (e: Event) => void): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.channel.open) { reject(new GodwitError(`agent ${this.url}: connection closed`)); return; }
      this.pending.set(id, { resolve, reject });
      if (onEvent) this.listeners.set(id, { onEvent, keep: op === 'status' && !!(args as OpArgs['status']).follow });
      this.channel.send({ t: 'req', id, op, args } as never);
    });
  }

  /**
   * `call` for a quick question, given up after `ms`: an agent that accepts and then stalls is
   * otherwise noticed only by the heartbeat, after 30 s.
   */
  async callWithin<K extends OpName>(op: K, args: OpArgs[K], ms: number): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new GodwitError(`agent ${this.url}: no answer to ${op} in ${ms / 1000} s`)), ms);
    });
    try {
      return await Promise.race([this.call(op, args), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.channel.close(1000, 'done');
  }
}

