// One authenticated WebSocket, either end: control messages in and out, binary chunks out with
// backpressure (a sender waits while more than HIGH_WATER bytes are queued on the socket), and the
// handshake that must come before anything else.
import { WebSocket, type RawData } from 'ws';
import { GodwitError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { nonce, proof, proofMatches } from './auth.js';
import {
  AUTH_TIMEOUT_MS, CLOSE, PROTOCOL_VERSION, ProtocolError, decodeControl, encodeControl,
  type Control, type HostInfo, type Hello,
} from './protocol.js';

const HIGH_WATER = 16 << 20;
const LOW_WATER = 4 << 20;

export function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** A msgpack map starts with 0x80-0x8f, 0xde or 0xdf; a page chunk starts with "GWPG". */
export function isControl(b: Buffer): boolean {
  const x = b[0] ?? 0;
  return (x & 0xf0) === 0x80 || x === 0xde || x === 0xdf;
}

/**
 * Pings go out this often; a peer silent for DEAD_AFTER_MS is gone (a cut link, a frozen host).
 * Generous: an agent restoring gigabytes on a slow host may not answer for seconds.
 */
const PING_MS = 1000;
const DEAD_AFTER_MS = 30_000;

export class Channel {
  private queued = 0;
  private waiters: Array<() => void> = [];
  private closedWith: Error | null = null;
  private heard = Date.now();
  private silent = false;

  constructor(readonly ws: WebSocket) {
    ws.on('close', (code, reason) => {
      this.closedWith = this.silent
        ? new GodwitError(`connection lost: no answer for ${DEAD_AFTER_MS / 1000} s`)
        : new GodwitError(`connection closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`);
      for (const w of this.waiters.splice(0)) w();
    });
    // TCP alone notices a cut link only after minutes of retransmits: both ends ping
    const hear = () => { this.heard = Date.now(); };
    ws.on('pong', hear);
    ws.on('ping', hear);
    ws.on('message', hear);
    const timer = setInterval(() => {
      if (Date.now() - this.heard > DEAD_AFTER_MS) {
        this.silent = true;
        ws.terminate();
      } else if (this.open) {
        ws.ping();
      }
    }, PING_MS);
    timer.unref();
    ws.on('close', () => clearInterval(timer));
  }

  get open(): boolean { return this.ws.readyState === WebSocket.OPEN; }
  get closeError(): Error | null { return this.closedWith; }

  send(m: Control): void {
    if (!this.open) return;
    this.ws.send(encodeControl(m), { binary: true, compress: false });
  }

  /**
   * Queue a binary message; resolves once the socket's queue is below the high-water mark.
   * `written` runs when the socket has taken the bytes (the buffer may be reused then).
   */
  async sendBinary(b: Buffer, written?: () => void): Promise<void> {
    if (this.closedWith || !this.open) throw this.closedWith ?? new GodwitError('connection is not open');
    this.queued += b.length;
    this.ws.send(b, { binary: true, compress: false }, () => {
      written?.();
      this.queued -= b.length;
      // below the low-water mark every completion wakes the waiters: drained() waits for zero
      if (this.queued <= LOW_WATER) for (const w of this.waiters.splice(0)) w();
    });
    while (this.queued > HIGH_WATER && !this.closedWith) await new Promise<void>((r) => this.waiters.push(r));
    if (this.closedWith) throw this.closedWith;
  }

  /** Resolves when every queued message has gone to the socket. */
  async drained(): Promise<void> {
    while (this.queued > 0 && !this.closedWith) await new Promise<void>((r) => this.waiters.push(r));
    if (this.closedWith) throw this.closedWith;
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason.slice(0, 120));
  }
}

/**
 * Messages of a socket from the moment it exists: a peer's first message can come in the same
 * packet as the upgrade, before anyone awaits it. Control messages only, during the handshake.
 */
export class Inbox {
  private queue: Array<{ data: Buffer; isBinary: boolean }> = [];
  private wake: (() => void) | null = null;
  private closed: Error | null = null;
  private onMsg = (data: RawData, isBinary: boolean) => { this.queue.push({ data: toBuffer(data), isBinary }); this.wake?.(); };
  private onClose = (code: number, reason: Buffer) => {
    this.closed = new GodwitError(`connection closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`);
    this.wake?.();
  };

  constructor(private ws: WebSocket) {
    ws.on('message', this.onMsg);
    ws.on('close', this.onClose);
  }

  async next(timeoutMs: number): Promise<Control> {
    const end = Date.now() + timeoutMs;
    while (!this.queue.length) {
      if (this.closed) throw this.closed;
      const left = end - Date.now();
      if (left <= 0) throw new ProtocolError('no answer in time', CLOSE.unauthorized);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((r) => { this.wake = r; timer = setTimeout(r, left); });
      clearTimeout(timer);
      this.wake = null;
    }
    const m = this.queue.shift()!;
    if (!m.isBinary || !isControl(m.data)) throw new ProtocolError('expected a control message', CLOSE.unauthorized);
    return decodeControl(m.data);
  }

  /** Stop buffering; what came after the handshake goes to `handler` first, in order. */
  handOver(handler: (data: Buffer, isBinary: boolean) => void): void {
    this.ws.off('message', this.onMsg);
    this.ws.off('close', this.onClose);
    this.ws.on('message', (d: RawData, b: boolean) => handler(toBuffer(d), b));
    for (const m of this.queue.splice(0)) handler(m.data, m.isBinary);
  }
}

/** Server side: hello, check the client's proof, welcome. Returns what the client said of itself. */
export async function serverHandshake(ws: WebSocket, inbox: Inbox, token: Buffer, host: HostInfo): Promise<HostInfo> {
  const serverNonce = nonce();
  ws.send(encodeControl({ t: 'hello', protocol: PROTOCOL_VERSION, godwit: VERSION, host, nonce: serverNonce }));
  const m = await inbox.next(AUTH_TIMEOUT_MS);
  if (m.t !== 'auth') throw new ProtocolError(`'${m.t}' before authentication`, CLOSE.unauthorized);
  if (m.protocol !== PROTOCOL_VERSION) throw new ProtocolError(`client speaks protocol ${m.protocol}, this agent ${PROTOCOL_VERSION}`, CLOSE.version);
  if (!proofMatches(proof(token, 'client', serverNonce, m.nonce), m.proof)) throw new ProtocolError('wrong token', CLOSE.unauthorized);
  ws.send(encodeControl({ t: 'welcome', proof: proof(token, 'server', serverNonce, m.nonce) }));
  return m.host;
}

/** Client side: answer the hello and check that the server holds the token too. */
export async function clientHandshake(ws: WebSocket, inbox: Inbox, token: Buffer, host: HostInfo): Promise<Hello> {
  const hello = await inbox.next(AUTH_TIMEOUT_MS);
  if (hello.t !== 'hello') throw new ProtocolError(`expected hello, got '${hello.t}'`);
  if (hello.protocol !== PROTOCOL_VERSION) {
    throw new GodwitError(`the agent speaks protocol ${hello.protocol} (godwit ${hello.godwit}); this godwit speaks ${PROTOCOL_VERSION}`);
  }
  const clientNonce = nonce();
  ws.send(encodeControl({ t: 'auth', protocol: PROTOCOL_VERSION, godwit: VERSION, host, nonce: clientNonce, proof: proof(token, 'client', hello.nonce, clientNonce) }));
  const w = await inbox.next(AUTH_TIMEOUT_MS).catch((e: Error) => {
    throw new GodwitError(`the agent refused us: ${e.message.replace(/^connection closed \(\d+: ?/, '').replace(/\)$/, '') || 'no reason given'}`);
  });
  if (w.t !== 'welcome') throw new ProtocolError(`expected welcome, got '${w.t}'`);
  if (!proofMatches(proof(token, 'server', hello.nonce, clientNonce), w.proof)) throw new GodwitError('the agent does not hold our token: not talking to it');
  return hello;
}
