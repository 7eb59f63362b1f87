// The agent protocol, in one place: what a third-party client needs to speak to a godwit agent.
// docs/protocol.md describes the same in prose. Control messages are msgpack maps with a `t`
// field; page data travels in binary WebSocket messages with the fixed header below. Everything
// that arrives is checked here before anyone acts on it: a message that does not fit is refused
// with a ProtocolError, never half-used.
import { Packr } from 'msgpackr';
import { CHUNK_BYTES } from '../core/image/format.js';
import { isIP } from 'node:net';
import type { TreeSurvey } from '../core/survey/tree.js';

export type { TreeSurvey };

export const PROTOCOL_VERSION = 1;
/** The agent's port unless --listen says otherwise ("GW" on a phone keypad, 4-9). */
export const DEFAULT_PORT = 7749;
export const WS_PATH = '/godwit/v1';
/** Largest binary message: a header plus one chunk (raw, or a sparse map with its pages). */
export const MAX_MESSAGE = CHUNK_BYTES + 64 * 1024;
/** Largest control message: they carry names and numbers, never data. */
export const MAX_CONTROL = 256 * 1024;
export const NONCE_BYTES = 32;
/** Seconds a client has to authenticate before the connection is closed. */
export const AUTH_TIMEOUT_MS = 10_000;

/** WebSocket close codes the agent uses (4000-4999 are the application's). */
export const CLOSE = {
  badMessage: 4400,
  unauthorized: 4401,
  version: 4426,
  shuttingDown: 4503,
} as const;

export class ProtocolError extends Error {
  constructor(message: string, readonly code: number = CLOSE.badMessage) {
    super(message);
    this.name = 'ProtocolError';
  }
}

// -------------------------------------------------------------------------------------------
// Handshake

export interface HostInfo {
  hostname: string;
  kernel: string;
  arch: string;
  /** register-state features that matter for a move (see godwit check) */
  cpu: { model: string; flags: string[]; xsaveSize: number; xsaveFeatures: string };
}

/** server → client, first message on every connection */
export interface Hello { t: 'hello'; protocol: number; godwit: string; host: HostInfo; nonce: Uint8Array }
/** client → server: proof = HMAC-SHA256(token, "godwit-client\0" ‖ server nonce ‖ client nonce) */
export interface Auth { t: 'auth'; protocol: number; godwit: string; host: HostInfo; nonce: Uint8Array; proof: Uint8Array }
/** server → client: proof = HMAC-SHA256(token, "godwit-server\0" ‖ server nonce ‖ client nonce) */
export interface Welcome { t: 'welcome'; proof: Uint8Array }

// -------------------------------------------------------------------------------------------
// Requests

export interface PeerRef {
  /** ws:// or wss:// URL of the destination agent */
  url: string;
  migration: string;
  /** the one-time key the destination handed out for this migration, hex */
  key: string;
}

export interface OpArgs {
  check: Record<string, never>;
  status: { follow?: boolean };
  /** destination: get ready to receive a migration; answers its id and one-time key */
  /**
   * `ids`: the tree's PIDs and thread IDs (preflight's survey), held here from now on; `pidns`:
   * the tree is built in a new PID namespace; `pidnsFallback`: into one if some ID is taken here
   * (else that refuses the migration); `buildAhead: false`: nothing is built until the final dump
   */
  expect: { label?: string; buildAhead?: boolean; ids?: number[]; pidns?: boolean; pidnsFallback?: boolean };
  /** source: copy the memory of a running tree to the peer (one link of the pre-copy chain) */
  /** `maxBytes`: carry at most this many bytes of pages never sent (written ones all go), the rest is owed to the next link (a first pass in slices) */
  predump: { pid: number; peer: PeerRef; compress?: Compression; bandwidth?: number; maxBytes?: number };
  /**
   * source: freeze, copy what changed and all other state to the peer, then kill or resume. With
   * `hold` the tree stays frozen once the peer holds the whole image (event `held`) until a
   * `settle` says kill or resume; should the caller go away meanwhile, the peer's answer to a
   * `cancel` decides (discarded: resume; resumed there: kill).
   */
  dump: { pid: number; peer: PeerRef; leaveRunning?: boolean; compress?: Compression; hold?: boolean; bandwidth?: number };
  /** agent to agent: the stream of one link; pages follow as binary messages */
  receive: { migration: string; key: string; link: string; kind: 'pre-dump' | 'dump'; parent?: string };
  /**
   * destination: rebuild the tree from the last link received. With `hold` the built tree waits,
   * not yet running (event `built`), for `resume`; a `cancel` or the caller going away discards it.
   */
  /** `pidns`: into a fresh PID namespace, where the tree's PIDs are free whatever holds them here */
  restore: { migration: string; keepImages?: boolean; hold?: boolean; pidns?: boolean };
  /** either side: stop what runs for this migration and forget it; answers what became of it */
  cancel: { migration: string };
  /** source: what moving this tree needs of a destination (PIDs, files, memory), read without stopping it */
  probe: { pid: number };
  /** destination: could a tree described by `probe` be restored here? */
  admit: { survey: TreeSurvey };
  /** source: slow the tree down to converge (cgroup CPU bandwidth); 0 lifts it */
  throttle: { migration: string; pid: number; percent: number };
  /** source: the end of a held dump: `kill` once the destination runs the tree, `resume` to roll back */
  settle: { migration: string; outcome: 'kill' | 'resume' };
  /** destination: let a held, built tree run */
  resume: { migration: string };
  /**
   * either side: this host's addresses (`list`), or one address moved (`godwit migrate --move-ip`):
   * `remove` takes it off the interface that holds it, `add` puts it on the interface whose network
   * holds it and announces it (gratuitous ARP, unsolicited neighbour advertisement)
   */
  address: { action: 'list' | 'add' | 'remove'; cidr?: string };
  /** any: the processes of this host (its PID namespace), kernel threads left out */
  processes: Record<string, never>;
}

export type OpName = keyof OpArgs;
export const OPS: readonly OpName[] = [
  'check', 'status', 'expect', 'predump', 'dump', 'receive', 'restore', 'cancel', 'probe', 'admit', 'throttle', 'settle', 'resume', 'address', 'processes',
];
export type Compression = 'auto' | 'lz4' | 'none';

export interface Request<K extends OpName = OpName> { t: 'req'; id: number; op: K; args: OpArgs[K] }
export interface ErrorBody { code: string; message: string }
export type Result = { t: 'res'; id: number; ok: true; value: unknown } | { t: 'res'; id: number; ok: false; error: ErrorBody };

/** Progress of a running operation, sent to the connection that asked for it (and to followers). */
export interface Progress {
  op: OpName;
  migration: string;
  phase: string;
  /** bytes of page data sent or received so far, and in all (0: not known yet) */
  done: number;
  total: number;
  /** bytes on the wire after zero-page removal and compression */
  wire: number;
}
export type EventKind = 'progress' | 'ready' | 'held' | 'built';
/**
 * `held`: a held dump's tree is frozen and the peer holds the whole image; `data` has the
 * phases' times (dumpMs, transferMs) and byte counts (pagesBytes, bytes, wireBytes). `built`: a held restore's tree is
 * built; `data` has pid, restoreMs and keptBytes (memory built during pre-copy and kept).
 */
export interface Event { t: 'event'; id: number; kind: EventKind; progress?: Progress; data?: Record<string, number> }

// -------------------------------------------------------------------------------------------
// A link's stream (after a `receive` request): each file is declared, then its chunks follow.

/** sender → receiver: the file `index` of this link is called `name` */
export interface FileDecl { t: 'file'; index: number; name: string }
/** sender → receiver: every file is complete, with these sizes; the receiver checks and answers */
export interface End { t: 'end'; files: Array<{ index: number; size: number }> }

export type Control = Hello | Auth | Welcome | Request | Result | Event | FileDecl | End;

const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number', mapsAsObjects: true });

export function encodeControl(m: Control): Buffer {
  return packr.pack(m);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
const isInt = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
const isStr = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max;
const isBytes = (v: unknown, len?: number): v is Uint8Array => v instanceof Uint8Array && (len === undefined || v.length === len);

function need(ok: boolean, what: string): asserts ok {
  if (!ok) throw new ProtocolError(`malformed message: ${what}`);
}

function checkHost(h: unknown): HostInfo {
  need(isObj(h) && isStr(h.hostname, 256) && isStr(h.kernel, 256) && isStr(h.arch, 32) && isObj(h.cpu), 'host');
  const c = (h as { cpu: Record<string, unknown> }).cpu;
  need(isStr(c.model, 256) && Array.isArray(c.flags) && c.flags.every((f) => isStr(f, 64)) && isInt(c.xsaveSize) && isStr(c.xsaveFeatures, 64), 'host.cpu');
  return h as unknown as HostInfo;
}

/** Decode one control message, checking its shape and every field a receiver will use. */
export function decodeControl(data: Buffer): Control {
  if (data.length > MAX_CONTROL) throw new ProtocolError(`control message of ${data.length} bytes (limit ${MAX_CONTROL})`);
  let m: unknown;
  try {
    m = packr.unpack(data);
  } catch {
    throw new ProtocolError('malformed message: not msgpack');
  }
  need(isObj(m) && typeof m.t === 'string', 'no type');
  switch (m.t) {
    case 'hello':
      need(isInt(m.protocol) && isStr(m.godwit, 64) && isBytes(m.nonce, NONCE_BYTES), 'hello');
      checkHost(m.host);
      break;
    case 'auth':
      need(isInt(m.protocol) && isStr(m.godwit, 64) && isBytes(m.nonce, NONCE_BYTES) && isBytes(m.proof, 32), 'auth');
      checkHost(m.host);
      break;
    case 'welcome':
      need(isBytes(m.proof, 32), 'welcome');
      break;
    case 'req':
      need(isInt(m.id, 1) && OPS.includes(m.op as OpName) && isObj(m.args), 'req');
      checkArgs(m.op as OpName, m.args as Record<string, unknown>);
      break;
    case 'res':
      need(isInt(m.id, 1) && typeof m.ok === 'boolean', 'res');
      if (!m.ok) need(isObj(m.error) && isStr(m.error.code, 64) && isStr(m.error.message, 8192), 'res.error');
      break;
    case 'event':
      need(isInt(m.id, 0) && ['progress', 'ready', 'held', 'built'].includes(m.kind as string), 'event');
      need(m.data === undefined || (isObj(m.data) && Object.values(m.data).every((v) => typeof v === 'number')), 'event.data');
      break;
    case 'file':
      need(isInt(m.index, 0, 0xffff) && isStr(m.name, 128), 'file');
      break;
    case 'end':
      need(Array.isArray(m.files) && m.files.length <= 0x10000 && m.files.every((f) => isObj(f) && isInt(f.index, 0, 0xffff) && isInt(f.size)), 'end');
      break;
    default:
      throw new ProtocolError(`unknown message type '${String(m.t).slice(0, 32)}'`);
  }
  return m as unknown as Control;
}

const MIGRATION_ID = /^[0-9a-f]{32}$/;
const LINK = /^(pre-[1-9][0-9]{0,3}|final)$/;
export const isMigrationId = (s: unknown): s is string => typeof s === 'string' && MIGRATION_ID.test(s);
export const isLinkName = (s: unknown): s is string => typeof s === 'string' && LINK.test(s);

function checkPeer(p: unknown): void {
  need(isObj(p) && isStr(p.url, 512) && /^wss?:\/\//.test(p.url as string) && isMigrationId(p.migration) && isStr(p.key, 128) && /^[0-9a-f]{64}$/.test(p.key as string), 'peer');
}
const MAX_IDS = 1 << 16, MAX_FILES = 1 << 14;
/** Paths are only looked at (stat, an ELF note), never opened for writing or run: still, no NUL, absolute. */
const isPath = (p: unknown): boolean => isStr(p, 4096) && (p as string).startsWith('/') && !(p as string).includes('\0');

function checkSurvey(s: unknown): void {
  need(isObj(s) && isInt(s.root, 1, 1 << 30) && isInt(s.processes) && isInt(s.threads) && isInt(s.memoryBytes), 'survey');
  const v = s as Record<string, unknown>;
  need(Array.isArray(v.ids) && v.ids.length <= MAX_IDS && v.ids.every((i) => isInt(i, 1, 1 << 30)), 'survey.ids');
  need(Array.isArray(v.files) && v.files.length <= MAX_FILES && v.files.every((f) => isObj(f) && isPath(f.path) && isInt(f.size)
    && typeof f.mtimeMs === 'number' && (f.written === undefined || typeof f.written === 'boolean') && (f.buildId === undefined || (isStr(f.buildId, 128) && /^[0-9a-f]*$/.test(f.buildId as string)))), 'survey.files');
  need(isStr(v.xsaveFeatures, 64) && Array.isArray(v.cpuFlags) && v.cpuFlags.length <= 1024 && v.cpuFlags.every((f) => isStr(f, 64)), 'survey.cpu');
  need(v.connections === undefined || isInt(v.connections), 'survey.connections');
  need(v.addresses === undefined || (Array.isArray(v.addresses) && v.addresses.length <= 1024 && v.addresses.every((x) => isStr(x, 64) && isIP(x as string) !== 0)), 'survey.addresses');
  need(v.loopbackPeers === undefined || (Array.isArray(v.loopbackPeers) && v.loopbackPeers.length <= 1 << 16 && v.loopbackPeers.every((x) => isStr(x, 128))), 'survey.loopbackPeers');
  need(v.external === undefined || (Array.isArray(v.external) && v.external.length <= 1 << 16 && v.external.every((x) => isStr(x, 4096))), 'survey.external');
  need(v.refusals === undefined || (Array.isArray(v.refusals) && v.refusals.length <= 1 << 16 && v.refusals.every((x) => isStr(x, 4096))), 'survey.refusals');
  need(v.terminals === undefined || (Array.isArray(v.terminals) && v.terminals.length <= 1 << 12 && v.terminals.every((x) => isStr(x, 32) && /^\/dev\/pts\/\d+$/.test(x as string))), 'survey.terminals');
  need(v.ipc === undefined || (Array.isArray(v.ipc) && v.ipc.length <= 1 << 16 && v.ipc.every((o) => isObj(o) && (o.kind === 'shm' || o.kind === 'sem' || o.kind === 'msg')
    && Number.isInteger(o.key) && (o.key as number) >= -(2 ** 31) && (o.key as number) < 2 ** 31 && isInt(o.id, 0, 2 ** 31 - 1))), 'survey.ipc');
}

const isCompression = (c: unknown): boolean => c === undefined || c === 'auto' || c === 'lz4' || c === 'none';

function checkArgs(op: OpName, a: Record<string, unknown>): void {
  switch (op) {
    case 'check': return;
    case 'status': need(a.follow === undefined || typeof a.follow === 'boolean', 'status.follow'); return;
    case 'expect':
      need(a.label === undefined || isStr(a.label, 128), 'expect.label');
      need(a.buildAhead === undefined || typeof a.buildAhead === 'boolean', 'expect.buildAhead');
      need(a.ids === undefined || (Array.isArray(a.ids) && a.ids.length <= 1 << 16 && a.ids.every((x) => isInt(x, 1, 1 << 22))), 'expect.ids');
      need(a.pidns === undefined || typeof a.pidns === 'boolean', 'expect.pidns');
      need(a.pidnsFallback === undefined || typeof a.pidnsFallback === 'boolean', 'expect.pidnsFallback');
      return;
    case 'predump':
    case 'dump':
      need(isInt(a.pid, 1, 1 << 30) && isCompression(a.compress), `${op}.pid`);
      need(a.leaveRunning === undefined || typeof a.leaveRunning === 'boolean', `${op}.leaveRunning`);
      need(a.hold === undefined || typeof a.hold === 'boolean', `${op}.hold`);
      need(a.bandwidth === undefined || isInt(a.bandwidth, 1), `${op}.bandwidth`);
      need(a.maxBytes === undefined || (op === 'predump' && isInt(a.maxBytes, 1 << 20)), `${op}.maxBytes`);
      checkPeer(a.peer);
      return;
    case 'receive':
      need(isMigrationId(a.migration) && isStr(a.key, 128) && isLinkName(a.link) && (a.kind === 'pre-dump' || a.kind === 'dump'), 'receive');
      need(a.parent === undefined || isLinkName(a.parent), 'receive.parent');
      return;
    case 'restore':
      need(isMigrationId(a.migration) && (a.keepImages === undefined || typeof a.keepImages === 'boolean'), 'restore');
      need(a.hold === undefined || typeof a.hold === 'boolean', 'restore.hold');
      need(a.pidns === undefined || typeof a.pidns === 'boolean', 'restore.pidns');
      return;
    case 'cancel': case 'resume': need(isMigrationId(a.migration), op); return;
    case 'probe': need(isInt(a.pid, 1, 1 << 30), 'probe.pid'); return;
    case 'admit': checkSurvey(a.survey); return;
    case 'throttle': need(isMigrationId(a.migration) && isInt(a.pid, 1, 1 << 30) && isInt(a.percent, 0, 99), 'throttle'); return;
    case 'settle': need(isMigrationId(a.migration) && (a.outcome === 'kill' || a.outcome === 'resume'), 'settle'); return;
    case 'processes': return;
    case 'address':
      need(a.action === 'list' || ((a.action === 'add' || a.action === 'remove') && isStr(a.cidr, 64)), 'address');
      return;
  }
}

// -------------------------------------------------------------------------------------------
// Page chunks: binary messages. Little-endian header of CHUNK_HEADER bytes, then the payload.
//
//   0  u32 magic "GWPG"         16 u64 offset in the file
//   4  u8  version (1)          24 u32 crc32 of the raw bytes (zero pages included)
//   5  u8  encoding: 0 raw,     28 u32 payload length (must be what follows the header)
//          1 lz4 block          32 u32 length of the payload once lz4 is undone
//   6  u16 flags: 1 sparse      36 u32 reserved, 0
//          (a page bitmap, then the non-zero pages), 2 all zero (no payload)
//   8  u32 file index (declared by a `file` message)
//  12  u32 raw length (bytes of the file this chunk covers, at most CHUNK_BYTES)

export const CHUNK_MAGIC = 0x47505747; // "GWPG" read as little-endian u32
export const CHUNK_HEADER = 40;
export const ENC_RAW = 0, ENC_LZ4 = 1;
export const FLAG_SPARSE = 1, FLAG_ZERO = 2;

export interface ChunkHeader {
  encoding: number; flags: number; file: number; rawLength: number; offset: number; crc: number; payloadLength: number; plainLength: number;
}

export function writeChunkHeader(b: Buffer, h: ChunkHeader): void {
  b.writeUInt32LE(CHUNK_MAGIC, 0);
  b.writeUInt8(PROTOCOL_VERSION, 4);
  b.writeUInt8(h.encoding, 5);
  b.writeUInt16LE(h.flags, 6);
  b.writeUInt32LE(h.file, 8);
  b.writeUInt32LE(h.rawLength, 12);
  b.writeBigUInt64LE(BigInt(h.offset), 16);
  b.writeUInt32LE(h.crc >>> 0, 24);
  b.writeUInt32LE(h.payloadLength, 28);
  b.writeUInt32LE(h.plainLength, 32);
  b.writeUInt32LE(0, 36);
}

/** Largest file offset a chunk may name: 1 TiB, far beyond any segment we write. */
const MAX_OFFSET = 2 ** 40;

export function readChunkHeader(b: Buffer): ChunkHeader {
  if (b.length < CHUNK_HEADER) throw new ProtocolError(`truncated page chunk: ${b.length} bytes, the header alone is ${CHUNK_HEADER}`);
  if (b.readUInt32LE(0) !== CHUNK_MAGIC) throw new ProtocolError('binary message is not a page chunk (bad magic)');
  if (b.readUInt8(4) !== PROTOCOL_VERSION) throw new ProtocolError(`page chunk of protocol version ${b.readUInt8(4)}`);
  const offset = Number(b.readBigUInt64LE(16));
  const h: ChunkHeader = {
    encoding: b.readUInt8(5), flags: b.readUInt16LE(6), file: b.readUInt32LE(8), rawLength: b.readUInt32LE(12),
    offset, crc: b.readUInt32LE(24), payloadLength: b.readUInt32LE(28), plainLength: b.readUInt32LE(32),
  };
  if (h.encoding > ENC_LZ4 || (h.flags & ~(FLAG_SPARSE | FLAG_ZERO)) !== 0) throw new ProtocolError('page chunk with unknown encoding or flags');
  if (h.rawLength === 0 || h.rawLength > CHUNK_BYTES) throw new ProtocolError(`page chunk of ${h.rawLength} bytes (limit ${CHUNK_BYTES})`);
  if (offset > MAX_OFFSET || offset % 4096 !== 0) throw new ProtocolError(`page chunk at offset ${offset}`);
  if (h.payloadLength !== b.length - CHUNK_HEADER) {
    throw new ProtocolError(`truncated page chunk: header says ${h.payloadLength} payload bytes, ${b.length - CHUNK_HEADER} came`);
  }
  if (h.plainLength > MAX_MESSAGE) throw new ProtocolError('page chunk expands beyond the message limit');
  if (h.flags & FLAG_ZERO && h.payloadLength !== 0) throw new ProtocolError('all-zero page chunk with a payload');
  return h;
}
