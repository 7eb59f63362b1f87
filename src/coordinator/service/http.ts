// The coordinator's front door: the JSON API, the event stream (WebSocket), /metrics and the
// dashboard's files, on one HTTP(S) server. Loopback is open; anyone else shows the cluster token
// (a Bearer header, or the cookie a browser got by opening /?token=...). Requests that change
// something must be JSON (a cross-site form cannot send that without a CORS preflight, which is
// never granted), and the Host header must name this service (no DNS rebinding onto loopback).
import { createServer as createHttp, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { proofMatches } from '../../pageserver/auth.js';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { GodwitError, errorMessage } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { AgentClient, type ClientOptions } from '../../pageserver/client.js';
import type { HostEntry } from '../hosts.js';
import type { History, MigrationRecord } from '../store/history.js';
import { parseRequest } from '../request.js';
import { renderMetrics } from './metrics.js';
import { ConflictError, type Runner, type ServiceEvent } from './runner.js';
import type { HostWatcher, HostView } from './health.js';

export interface ServerOptions {
  host: string;
  port: number;
  /** the cluster token: required of everyone but loopback; without it only loopback gets in */
  token?: Buffer;
  tls?: { cert: Buffer; key: Buffer };
  hosts: Map<string, HostEntry>;
  credentials: (h: HostEntry) => ClientOptions;
  history: History;
  runner: Runner;
  watcher: HostWatcher;
}

class HttpError extends GodwitError {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

const DASHBOARD = new URL('../dashboard/', import.meta.url);
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};
const MAX_BODY = 64 * 1024, MAX_BUFFERED = 1 << 20, MAX_STREAMS = 100, PING_MS = 30_000, AGENT_CALL_MS = 10_000, SESSION_S = 12 * 3600;

const same = (a: Buffer, b: Buffer): boolean => proofMatches(b, a);


const isLoopback = (a: string | undefined): boolean => !!a && (/^(::ffff:)?127\./.test(a) || a === '::1');

function withoutReport(m: MigrationRecord): MigrationRecord {
  const { report: _r, ...rest } = m;
  return rest;
}

export class CoordinatorServer {
  private server: Server | null = null;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private readonly log = logger('coordinator');
  private readonly names: ReadonlySet<string>;

  constructor(private readonly o: ServerOptions) {
    this.names = new Set(o.hosts.keys());
  }

  /** Push an event to every open event stream. */
  broadcast(e: ServiceEvent | { type: 'hosts'; hosts: HostView[] }): void {
    const text = JSON.stringify(e);
    for (const ws of this.wss.clients) {
      if (ws.readyState !== ws.OPEN) continue;
      // a reader that does not keep up is let go rather than buffered without end
      if (ws.bufferedAmount > MAX_BUFFERED) { ws.terminate(); continue; }
      ws.send(text);
    }
  }

  async listen(): Promise<AddressInfo> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((e: unknown) => { this.log.warn({ err: errorMessage(e) }, 'request dropped'); res.destroy(); });
    };
    this.server = this.o.tls ? createHttps({ cert: this.o.tls.cert, key: this.o.tls.key }, handler) : createHttp(handler);
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.o.port, this.o.host, () => { this.server!.off('error', reject); resolve(); });
    });
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.close(1001, 'coordinator stopping');
    await new Promise<void>((r) => { if (this.server) this.server.close(() => r()); else r(); this.server?.closeAllConnections(); });
  }

  // ---- access

  private tokenOk(given: string | undefined): boolean {
    if (!this.o.token || !given) return false;
    return same(Buffer.from(given), this.o.token);
  }

  /**
   * A browser's cookie is not the token (root on every agent, which would then sit in its cookie
   * store): a MAC of it, good for this service's life, which opens the API and nothing else.
   */
  private session(): string {
    return createHmac('sha256', this.o.token!).update(`godwit-dashboard\0${this.started}`).digest('hex');
  }
  private readonly started = `${process.pid}-${Date.now()}`;

  private credentialsOk(req: IncomingMessage): boolean {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) return this.tokenOk(auth.slice(7).trim());
    const cookie = /(?:^|;\s*)godwit_session=([0-9a-f]{64})/.exec(req.headers.cookie ?? '')?.[1];
    return !!this.o.token && !!cookie && same(Buffer.from(cookie), Buffer.from(this.session()));
  }

  /** Throws a 401 unless the request may go on. */
  private admit(req: IncomingMessage): void {
    const host = (req.headers.host ?? '').toLowerCase();
    const port = String((this.server?.address() as AddressInfo | null)?.port ?? this.o.port);
    const mine = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${this.o.host}:${port}`, `[${this.o.host}]:${port}`];
    // a reverse proxy on this host speaks from loopback for whoever it serves
    const proxied = req.headers.forwarded !== undefined || req.headers['x-forwarded-for'] !== undefined || req.headers['x-real-ip'] !== undefined;
    if (isLoopback(req.socket.remoteAddress) && !proxied) {
      // open to loopback, but only under a name of this service: a page elsewhere cannot reach
      // it through a DNS name that points at 127.0.0.1
      if (!mine.includes(host) && !this.credentialsOk(req)) throw new HttpError(401, 'unauthorized', `Host ${host || '(none)'} is not this service`);
      return;
    }
    if (!this.credentialsOk(req)) throw new HttpError(401, 'unauthorized', 'give the cluster token (Authorization: Bearer TOKEN, or open /?token=TOKEN once)');
  }

  // ---- HTTP

  private send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
    const text = type === 'application/json' ? JSON.stringify(body) : String(body);
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(text);
  }

  private async body(req: IncomingMessage): Promise<unknown> {
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(400, 'bad-request', 'send JSON (Content-Type: application/json)');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) throw new HttpError(400, 'bad-request', `a request body is at most ${MAX_BODY} bytes`);
      chunks.push(c as Buffer);
    }
    try { return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'); } catch { throw new HttpError(400, 'bad-request', 'the body is not JSON'); }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let path = req.url ?? '/';
    try {
      let url: URL;
      try { url = new URL(req.url ?? '/', 'http://x'); } catch { throw new HttpError(400, 'bad-request', 'not a URL'); }
      path = url.pathname;
      // a browser's way in from elsewhere: the token once in the URL, then a cookie
      const t = url.searchParams.get('token');
      if (req.method === 'GET' && path === '/' && t !== null) {
        if (!this.tokenOk(t)) throw new HttpError(401, 'unauthorized', 'wrong token');
        res.writeHead(302, { location: '/', 'set-cookie': `godwit_session=${this.session()}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_S}${this.o.tls ? '; Secure' : ''}` });
        res.end();
        return;
      }
      this.admit(req);
      // every write is JSON, a cancel too: a cross-site form cannot send that
      if (req.method === 'POST' && !/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(400, 'bad-request', 'send JSON (Content-Type: application/json)');
      const out = await this.route(req, path, url);
      if (out === undefined) throw new HttpError(404, 'not-found', `no ${req.method} ${path}`);
      if (out.file) {
        res.writeHead(200, {
          'content-type': out.type!, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY',
          'content-security-policy': "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        });
        res.end(out.file);
        return;
      }
      this.send(res, out.status ?? 200, out.json ?? out.text, out.text !== undefined ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json');
    } catch (e) {
      const [status, code] = e instanceof HttpError ? [e.status, e.code]
        : e instanceof ConflictError ? [409, 'conflict']
        : e instanceof GodwitError && e.exitCode === 2 ? [400, 'bad-request'] : [500, 'failed'];
      if (status === 500) this.log.warn({ method: req.method, path, err: errorMessage(e) }, 'request failed');
      this.send(res, status, { error: { code, message: errorMessage(e) } });
    }
  }

  private async route(req: IncomingMessage, path: string, url: URL): Promise<{ status?: number; json?: unknown; text?: string; file?: Buffer; type?: string } | undefined> {
    const m = req.method ?? 'GET';
    const { runner, history, watcher } = this.o;
    if (m === 'GET' && FILES[path]) return { file: readFileSync(new URL(FILES[path]!.file, DASHBOARD)), type: FILES[path]!.type };
    if (m === 'GET' && path === '/metrics') return { text: renderMetrics(history, runner.running().length, watcher.list()) };
    if (m === 'GET' && path === '/api/hosts') return { json: { hosts: watcher.list() } };
    let p = /^\/api\/hosts\/([^/]+)\/processes$/.exec(path);
    if (m === 'GET' && p) {
      let name: string;
      try { name = decodeURIComponent(p[1]!); } catch { throw new HttpError(400, 'bad-request', 'not a host name'); }
      const h = this.o.hosts.get(name);
      if (!h) throw new HttpError(404, 'not-found', `no host ${name} in the hosts file`);
      const client = await AgentClient.connect(h.url, { ...this.o.credentials(h), connectTimeoutMs: 3000 });
      try {
        return { json: { host: name, ...(await client.callWithin('processes', {}, AGENT_CALL_MS) as object) } };
      } finally {
        client.close();
      }
    }
    if (m === 'POST' && path === '/api/preflight') return { json: { report: await runner.preflight(parseRequest(await this.body(req), this.names)) } };
    if (m === 'POST' && path === '/api/migrations') {
      const raw = await this.body(req);
      const s = parseRequest(raw, this.names);
      return { status: 202, json: { migration: runner.start(s, raw as Record<string, unknown>) } };
    }
    if (m === 'GET' && path === '/api/migrations') {
      const l = url.searchParams.get('limit') ?? '100';
      if (!/^\d{1,4}$/.test(l) || Number(l) < 1 || Number(l) > 1000) throw new HttpError(400, 'bad-request', 'limit: give a count from 1 to 1000');
      const limit = Number(l);
      return { json: { migrations: history.list({ limit }).map(withoutReport) } };
    }
    p = /^\/api\/migrations\/([0-9a-f]{1,64})(\/cancel)?$/.exec(path);
    if (p) {
      const id = p[1]!;
      const rec = history.get(id);
      if (!rec) throw new HttpError(404, 'not-found', `no migration ${id}`);
      if (m === 'GET' && !p[2]) {
        const progress = runner.progress(id);
        return { json: { migration: rec, ...(progress ? { progress } : {}), events: history.events(id) } };
      }
      if (m === 'POST' && p[2]) {
        const c = runner.cancel(id);
        if (c === 'committed') throw new HttpError(409, 'conflict', `migration ${id} is past its commit point: the process runs on ${rec.to}`);
        if (c !== 'cancelled') throw new HttpError(409, 'conflict', `migration ${id} is not running (${rec.outcome ?? rec.state})`);
        return { json: { cancelled: true } };
      }
    }
    return undefined;
  }

  // ---- events

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    try {
      if (new URL(req.url ?? '/', 'http://x').pathname !== '/api/events') throw new HttpError(404, 'not-found', 'no such stream');
      this.admit(req);
      // a page from elsewhere may not open the stream with this service's cookie
      const origin = req.headers.origin;
      if (origin && new URL(origin).host !== req.headers.host) throw new HttpError(401, 'unauthorized', `origin ${origin} is not this service`);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 400;
      socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Unauthorized'}\r\nConnection: close\r\n\r\n`);
      return;
    }
    if (this.wss.clients.size >= MAX_STREAMS) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.send(JSON.stringify({ type: 'hello', hosts: this.o.watcher.list(), running: this.o.runner.running() }));
      ws.on('message', () => ws.close(1008, 'this stream only speaks'));
      // a peer gone without a word is found by its missing pong
      let alive = true;
      ws.on('pong', () => { alive = true; });
      const ping = setInterval(() => { if (!alive) { ws.terminate(); return; } alive = false; ws.ping(); }, PING_MS);
      ping.unref();
      ws.on('close', () => clearInterval(ping));
    });
  }
}
