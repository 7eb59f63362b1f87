// `godwit agent`: the per-host daemon. An HTTP(S) server that only upgrades to WebSocket on the
// protocol's path; every connection authenticates first, then sends requests (and, for a
// receive, a link's stream). A bad message closes that connection, never the agent.
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { isIP } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { GodwitError, PidTakenError, errorMessage } from '../core/errors.js';
import { logger } from '../core/log.js';
import { checkHost } from '../core/check.js';
import { Channel, Inbox, isControl, serverHandshake } from '../pageserver/channel.js';
import { hostInfo } from '../pageserver/host.js';
import type { TlsMaterial } from '../pageserver/client.js';
import {
  CLOSE, MAX_MESSAGE, ProtocolError, WS_PATH, decodeControl,
  type Control, type Event, type OpArgs, type Progress, type Request,
} from '../pageserver/protocol.js';
import { StateDir } from './state.js';
import { recoverOutgoing, releaseStaleLocks } from './recover.js';
import { Registry, BusyError, NotFoundError } from './registry.js';
import type { AgentContext, OpCall, StreamHandler } from './context.js';
import { check } from './ops/check.js';
import { status } from './ops/status.js';
import { expect } from './ops/expect.js';
import { sendLink } from './ops/send.js';
import { receive } from './ops/receive.js';
import { restore } from './ops/restore.js';
import { cancel } from './ops/cancel.js';
import { probe, admit } from './ops/survey.js';
import { throttle } from './ops/throttle.js';
import { address } from './ops/address.js';
import { processes } from './ops/processes.js';
import { settle, resume } from './ops/settle.js';

export interface AgentOptions {
  host: string;
  port: number;
  token: Buffer;
  tls?: TlsMaterial;
  stateDir: string;
  /** a migration nobody touched for this long is cancelled (its coordinator is gone), seconds */
  expireAfter?: number;
}

/** Whether an address given to --listen stays on this host. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

function errorCode(e: unknown): string {
  if (e instanceof BusyError) return 'busy';
  if (e instanceof PidTakenError) return 'pid-taken';
  if (e instanceof NotFoundError) return 'not-found';
  if (e instanceof ProtocolError) return 'bad-request';
  if (/ENOSPC|state directory is full/.test(errorMessage(e))) return 'no-space';
  return 'failed';
}

/** One authenticated connection. */
class Session {
  private stream: StreamHandler | null = null;
  private gone = new AbortController();

  constructor(private agent: Agent, private ch: Channel, inbox: Inbox) {
    inbox.handOver((data, isBinary) => this.onMessage(data, isBinary));
    ch.ws.on('close', () => {
      this.gone.abort();
      this.stream?.lost(new GodwitError('the sender went away before the end of the link'));
      agent.unfollow(this.ch);
    });
  }

  private fail(e: unknown): void {
    const pe = e instanceof ProtocolError ? e : new ProtocolError(errorMessage(e));
    this.agent.log.warn({ err: pe.message }, 'closing a connection: bad message');
    this.stream?.lost(pe);
    this.ch.close(pe.code, pe.message);
  }

  private onMessage(b: Buffer, isBinary: boolean): void {
    try {
      if (!isBinary) throw new ProtocolError('text messages are not part of the protocol');
      if (!isControl(b)) {
        if (!this.stream) throw new ProtocolError('page data outside a receive');
        this.stream.chunk(b);
        return;
      }
      const m: Control = decodeControl(b);
      if (m.t === 'req') void this.request(m);
      else if (m.t === 'file' && this.stream) this.stream.file(m.index, m.name);
      else if (m.t === 'end' && this.stream) this.stream.end(m.files);
      else throw new ProtocolError(`unexpected '${m.t}' message`);
    } catch (e) {
      this.fail(e);
    }
  }

  private async request(req: Request): Promise<void> {
    const emit = (e: Omit<Event, 't' | 'id'>) => this.ch.send({ t: 'event', id: req.id, ...e } as Event);
    const call: OpCall = {
      ctx: this.agent.ctx,
      gone: this.gone.signal,
      emit,
      takeStream: (h) => {
        if (this.stream) throw new GodwitError('a link is already being received on this connection');
        this.stream = h;
        return { pause: () => this.ch.ws.pause(), resume: () => this.ch.ws.resume() };
      },
      releaseStream: () => { this.stream = null; this.ch.ws.resume(); },
    };
    try {
      const value = await this.agent.run(call, req, () => this.agent.follow(this.ch, req.id));
      this.ch.send({ t: 'res', id: req.id, ok: true, value: value ?? null });
    } catch (e) {
      this.ch.send({ t: 'res', id: req.id, ok: false, error: { code: errorCode(e), message: errorMessage(e) } });
      // a failed receive leaves the rest of its stream in flight: nothing more can be read from it
      if (req.op === 'receive') this.ch.close(CLOSE.badMessage, errorMessage(e));
    }
  }
}

export class Agent {
  readonly log = logger('agent');
  readonly ctx: AgentContext;
  private server: Server | null = null;
  private wss: WebSocketServer | null = null;
  private stopping = false;
  private followers = new Map<Channel, number>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(readonly opts: AgentOptions) {
    const state = new StateDir(opts.stateDir);
    recoverOutgoing(state, this.log);
    releaseStaleLocks(this.log);
    const report = checkHost();
    this.ctx = {
      state, registry: new Registry(), token: opts.token, ...(opts.tls ? { tls: opts.tls } : {}),
      host: hostInfo(report.cpu), log: this.log,
      broadcast: (p: Progress) => { for (const [ch, id] of this.followers) ch.send({ t: 'event', id, kind: 'progress', progress: p }); },
    };
  }

  follow(ch: Channel, id: number): void { this.followers.set(ch, id); }
  unfollow(ch: Channel): void { this.followers.delete(ch); }

  async run(call: OpCall, req: Request, follow: () => void): Promise<unknown> {
    if (this.stopping && req.op !== 'status') throw new GodwitError('the agent is shutting down');
    const r = this.ctx.registry;
    switch (req.op) {
      case 'check': return check();
      case 'status': {
        if ((req.args as OpArgs['status']).follow) follow();
        return status(this.ctx);
      }
      case 'expect': return expect(this.ctx, req.args as OpArgs['expect']);
      case 'cancel': return cancel(call, req.args as OpArgs['cancel']);
      case 'predump':
      case 'dump': {
        const a = req.args as OpArgs['dump'];
        const run = r.start(req.op, a.peer.migration, a.pid);
        return this.track(run, sendLink(call, run, req.op === 'dump' ? 'dump' : 'pre-dump', a));
      }
      case 'receive': {
        const a = req.args as OpArgs['receive'];
        const m = r.claim(a.migration, a.key);
        const run = r.start('receive', m.id);
        return this.track(run, receive(call, run, m, a));
      }
      case 'restore': {
        const a = req.args as OpArgs['restore'];
        const run = r.start('restore', a.migration);
        return this.track(run, restore(call, run, a));
      }
      case 'probe': return probe(this.ctx, req.args as OpArgs['probe']);
      case 'admit': return admit(this.ctx, req.args as OpArgs['admit']);
      case 'throttle': return throttle(this.ctx, req.args as OpArgs['throttle']);
      case 'settle': return settle(this.ctx, req.args as OpArgs['settle']);
      case 'resume': return resume(this.ctx, req.args as OpArgs['resume']);
      case 'address': return address(this.ctx, req.args as OpArgs['address']);
      case 'processes': return processes();
    }
  }

  private async track<T>(run: ReturnType<Registry['start']>, p: Promise<T>): Promise<T> {
    run.done = p;
    try {
      return await p;
    } finally {
      this.ctx.registry.finish(run);
    }
  }

  /**
   * Cancel migrations left idle: a destination's images and key, a source's parked tracker. A
   * coordinator that died between two links would otherwise leave them forever.
   */
  private sweep(): void {
    const limit = (this.opts.expireAfter ?? 1800) * 1000;
    const now = Date.now();
    const r = this.ctx.registry;
    const stale = [
      ...[...r.incoming.values()].filter((m) => !m.receiving && now - m.touched > limit).map((m) => m.id),
      ...[...r.outgoing.values()].filter((m) => now - m.touched > limit).map((m) => m.id),
    ];
    for (const mid of new Set(stale)) {
      if (r.busyWith(mid)) continue;
      this.log.warn({ migration: mid, idleSeconds: limit / 1000 }, 'migration idle too long: cancelled');
      void cancel(this.quietCall(), { migration: mid });
    }
  }

  private quietCall(): OpCall {
    return { ctx: this.ctx, gone: new AbortController().signal, emit: () => undefined, takeStream: () => { throw new GodwitError('no stream here'); }, releaseStream: () => undefined };
  }

  async listen(): Promise<{ host: string; port: number }> {
    const every = Math.min(60, Math.max(1, (this.opts.expireAfter ?? 1800) / 4)) * 1000;
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
    const { host, port, tls } = this.opts;
    const server = tls
      ? createHttps({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true })
      : createHttp();
    server.on('request', (_req, res) => { res.writeHead(426, { 'content-type': 'text/plain' }).end('godwit agent: WebSocket only\n'); });
    server.on('clientError', (_e, socket) => socket.destroy());
    if (tls) server.on('tlsClientError', (e) => this.log.warn({ err: e.message }, 'TLS handshake refused'));
    const wss = new WebSocketServer({ server, path: WS_PATH, maxPayload: MAX_MESSAGE, perMessageDeflate: false });
    wss.on('connection', (ws, req) => void this.accept(ws, req.socket.remoteAddress ?? '?'));
    this.server = server;
    this.wss = wss;
    await new Promise<void>((resolve, reject) => {
      // the WebSocket server re-emits the HTTP server's errors: both must be heard
      const fail = (e: NodeJS.ErrnoException) => reject(new GodwitError(`cannot listen on ${host}:${port}: ${e.code ?? e.message}`, 2));
      server.once('error', fail);
      wss.once('error', fail);
      server.listen(port, host, () => { server.off('error', fail); resolve(); });
    });
    wss.on('error', (e) => this.log.error({ err: e.message }, 'server error'));
    const a = server.address();
    const bound = typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port };
    this.log.info({ ...bound, tls: !!tls, stateDir: this.ctx.state.root }, 'agent listening');
    if (!tls && !isLoopback(host)) this.log.warn({ host }, 'listening beyond loopback without TLS: the token guards access, but pages cross the network in clear');
    return bound;
  }

  private async accept(ws: WebSocket, peer: string): Promise<void> {
    ws.on('error', (e) => this.log.debug({ peer, err: e.message }, 'connection error'));
    if (this.stopping) { ws.close(CLOSE.shuttingDown, 'shutting down'); return; }
    const inbox = new Inbox(ws);
    try {
      const who = await serverHandshake(ws, inbox, this.ctx.token, this.ctx.host);
      this.log.info({ peer, host: who.hostname, kernel: who.kernel }, 'client authenticated');
      new Session(this, new Channel(ws), inbox);
    } catch (e) {
      // before authentication every failure is the same: not authenticated (or not our version)
      const code = e instanceof ProtocolError && e.code === CLOSE.version ? CLOSE.version : CLOSE.unauthorized;
      this.log.warn({ peer, err: errorMessage(e) }, 'connection refused');
      if (ws.readyState === ws.OPEN) ws.close(code, errorMessage(e).slice(0, 120));
    }
  }

  /** Stop taking work, cancel what runs (a frozen tree is thawed by the failure path), close. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.sweeper) clearInterval(this.sweeper);
    const running = [...this.ctx.registry.running];
    this.log.info({ running: running.length }, 'stopping');
    for (const r of running) r.abort.abort();
    await Promise.race([
      Promise.allSettled(running.map((r) => r.done)),
      new Promise((r) => setTimeout(r, 30_000).unref()),
    ]);
    // pre-copy chains that were left between links: their trackers go back
    for (const mid of [...this.ctx.registry.outgoing.keys()]) {
      await cancel(this.quietCall(), { migration: mid });
    }
    for (const c of this.wss?.clients ?? []) c.close(CLOSE.shuttingDown, 'agent stopping');
    await new Promise<void>((r) => { this.wss?.close(() => r()); if (!this.wss) r(); });
    await new Promise<void>((r) => { this.server?.close(() => r()); this.server?.closeAllConnections?.(); if (!this.server) r(); });
    this.log.info('stopped');
  }
}
