// An agent is root and can read any process's memory: nobody talks to it without the cluster
// token, nothing that arrives can crash it, write outside its state directory, or start a stream
// it was not told to expect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { request } from 'node:http';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { simulatedHosts, type Cluster } from '../lib/hosts.js';
import { buildProgram, sleep } from '../lib/harness.js';
import { AgentClient, AgentError } from '../../src/pageserver/client.js';
import { Inbox } from '../../src/pageserver/channel.js';
import { proof } from '../../src/pageserver/auth.js';
import { hostInfo } from '../../src/pageserver/host.js';
import {
  CHUNK_HEADER, MAX_MESSAGE, PROTOCOL_VERSION, WS_PATH, encodeControl, writeChunkHeader,
  type Control, type Hello, type OpArgs,
} from '../../src/pageserver/protocol.js';
import { VERSION } from '../../src/core/version.js';
import { probeTracking } from '../../src/core/check.js';

interface Raw { ws: WebSocket; inbox: Inbox; closed: Promise<{ code: number; reason: string }> }

/** A WebSocket to a host's agent with nothing done on it yet. */
async function raw(c: Cluster, host: string): Promise<Raw> {
  const ws = new WebSocket(`${c.hosts[host]!.url}${WS_PATH}`, { perMessageDeflate: false, maxPayload: 2 * MAX_MESSAGE });
  const inbox = new Inbox(ws);
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  ws.on('error', () => undefined);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  return { ws, inbox, closed };
}

const send = (r: Raw, m: Control) => r.ws.send(encodeControl(m));

/** Authenticate by hand, as a third-party client would. */
async function authenticate(r: Raw, token: Buffer): Promise<void> {
  const hello = (await r.inbox.next(5000)) as Hello;
  const nonce = randomBytes(32);
  send(r, { t: 'auth', protocol: PROTOCOL_VERSION, godwit: VERSION, host: hostInfo(), nonce, proof: proof(token, 'client', hello.nonce, nonce) });
  assert.equal((await r.inbox.next(5000)).t, 'welcome');
}

async function stillServes(c: Cluster, host: string): Promise<void> {
  const cl = await c.client(host);
  const st = (await cl.call('status', {})) as { godwit: string };
  assert.equal(st.godwit, VERSION);
  cl.close();
}

test('a client without the token, with a wrong one, or replaying an old answer is refused before anything runs', async (t) => {
  const c = await simulatedHosts(t, ['a']);
  // wrong token
  const wrong = await AgentClient.connect(c.hosts.a!.url, { token: Buffer.from('not the cluster token at all') }).then(() => null, (e: Error) => e);
  assert.ok(wrong);
  assert.match(wrong.message, /refused us: wrong token/);
  // no token: a request straight after hello
  const r = await raw(c, 'a');
  await r.inbox.next(5000);
  send(r, { t: 'req', id: 1, op: 'expect', args: {} });
  const closed = await r.closed;
  assert.equal(closed.code, 4401);
  assert.match(closed.reason, /before authentication/);
  // replay: an answer that worked once does not work on another connection
  const r1 = await raw(c, 'a');
  const hello = (await r1.inbox.next(5000)) as Hello;
  const nonce = randomBytes(32);
  const auth: Control = { t: 'auth', protocol: PROTOCOL_VERSION, godwit: VERSION, host: hostInfo(), nonce, proof: proof(c.token, 'client', hello.nonce, nonce) };
  send(r1, auth);
  assert.equal((await r1.inbox.next(5000)).t, 'welcome');
  r1.ws.close();
  const r2 = await raw(c, 'a');
  await r2.inbox.next(5000);
  send(r2, auth);
  assert.equal((await r2.closed).code, 4401);
  // nothing ran: no migration was created by the refused request
  const cl = await c.client('a');
  assert.deepEqual(((await cl.call('status', {})) as { incoming: unknown[] }).incoming, []);
  cl.close();
});

test('garbage, oversize, truncated and damaged frames are refused without crashing the agent', async (t) => {
  const c = await simulatedHosts(t, ['a']);
  const cases: Array<[string, (r: Raw) => void, number]> = [
    ['random bytes', (r) => r.ws.send(randomBytes(1000)), 4400],
    ['a text message', (r) => r.ws.send('{"t":"req"}'), 4400],
    ['a message of an unknown type', (r) => r.ws.send(encodeControl({ t: 'shutdown' } as unknown as Control)), 4400],
    ['a request with bad arguments', (r) => send(r, { t: 'req', id: 1, op: 'predump', args: { pid: -1 } as unknown as OpArgs['predump'] }), 4400],
    ['page data outside a receive', (r) => r.ws.send(Buffer.alloc(CHUNK_HEADER + 10)), 4400],
    ['a message over the size limit', (r) => r.ws.send(Buffer.alloc(MAX_MESSAGE + 1)), 1009],
  ];
  for (const [what, act, code] of cases) {
    const r = await raw(c, 'a');
    await authenticate(r, c.token);
    act(r);
    const closed = await r.closed;
    assert.equal(closed.code, code, `${what}: closed with ${closed.code} ${closed.reason}`);
  }
  // before authentication too
  const pre = await raw(c, 'a');
  pre.ws.send(randomBytes(64));
  assert.equal((await pre.closed).code, 4401);
  // not even WebSocket: raw bytes, then plain HTTP
  await new Promise<void>((resolve) => {
    const s = tcpConnect(7749, c.hosts.a!.ip, () => s.write(randomBytes(4096)));
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  });
  const status = await new Promise<number>((resolve, reject) => {
    request({ host: c.hosts.a!.ip, port: 7749, path: '/' }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject).end();
  });
  assert.equal(status, 426);

  // inside a receive: a chunk shorter than its header says, and one whose bytes do not match its checksum
  const b = await c.client('a');
  for (const [what, damage, want] of [
    ['truncated', (f: Buffer) => f.subarray(0, CHUNK_HEADER + 100), /truncated page chunk/],
    ['damaged', (f: Buffer) => { f[CHUNK_HEADER + 5]! ^= 1; return f; }, /checksum mismatch/],
  ] as const) {
    const { migration, key } = (await b.call('expect', {})) as { migration: string; key: string };
    const s = await c.client('a');
    let ready!: () => void;
    const isReady = new Promise<void>((r) => { ready = r; });
    const res = s.call('receive', { migration, key, link: 'pre-1', kind: 'pre-dump' }, (e) => { if (e.kind === 'ready') ready(); }).then(() => null, (e: Error) => e);
    await isReady;
    s.channel.send({ t: 'file', index: 0, name: 'pages-1.0.img' });
    const frame = Buffer.alloc(CHUNK_HEADER + 4096, 7);
    writeChunkHeader(frame, { encoding: 0, flags: 0, file: 0, rawLength: 4096, offset: 0, crc: (await import('node:zlib')).crc32(frame.subarray(CHUNK_HEADER)), payloadLength: 4096, plainLength: 4096 });
    await s.channel.sendBinary(damage(frame));
    s.channel.send({ t: 'end', files: [{ index: 0, size: 4096 }] });
    const err = await res;
    assert.ok(err, `${what} chunk accepted`);
    assert.match(err.message, want);
    assert.deepEqual(readdirSync(join(c.hosts.a!.stateDir, 'incoming', migration)), [], `${what}: the partial link is gone`);
    s.close();
  }
  b.close();
  await stillServes(c, 'a');
});

test('a stream is taken only for an expected migration with its key, and names from the network stay inside the state directory', async (t) => {
  const c = await simulatedHosts(t, ['a']);
  const cl = await c.client('a');
  const { migration, key } = (await cl.call('expect', {})) as { migration: string; key: string };
  const attempt = async (args: OpArgs['receive'], files: string[] = []): Promise<Error> => {
    const s = await c.client('a');
    const res = s.call('receive', args, (e) => {
      if (e.kind !== 'ready') return;
      files.forEach((name, index) => s.channel.send({ t: 'file', index, name }));
    }).then(() => null, (e: Error) => e);
    const err = await res;
    s.close();
    assert.ok(err, `receive ${JSON.stringify(args)} ${files.join(',')} was accepted`);
    return err;
  };
  const other = randomBytes(16).toString('hex');
  for (const [args, want] of [
    [{ migration: other, key, link: 'pre-1', kind: 'pre-dump' }, /no migration is expected/],
    [{ migration, key: randomBytes(32).toString('hex'), link: 'pre-1', kind: 'pre-dump' }, /no migration is expected/],
    [{ migration, key, link: 'pre-2', kind: 'pre-dump', parent: 'pre-1' }, /last link received is none/],
    [{ migration, key, link: 'final', kind: 'pre-dump' }, /cannot be a pre-dump/],
  ] as const) {
    const e = await attempt(args as OpArgs['receive']);
    assert.match(e.message, want);
    assert.equal((e as AgentError).code === 'not-found' || (e as AgentError).code === 'failed', true);
  }
  // a link name that is a path is not even a well-formed message
  const r = await raw(c, 'a');
  await authenticate(r, c.token);
  send(r, { t: 'req', id: 1, op: 'receive', args: { migration, key, link: '../../../../tmp/evil', kind: 'pre-dump' } });
  assert.equal((await r.closed).code, 4400);
  for (const name of ['../../../../../tmp/godwit-evil', '/etc/passwd', 'inventory.mpk/../../x', 'pages-1.0.img\0x']) {
    const e = await attempt({ migration, key, link: 'pre-1', kind: 'pre-dump' }, [name]);
    assert.match(e.message, /not part of an image|malformed/);
  }
  assert.equal(existsSync('/tmp/godwit-evil'), false);
  assert.deepEqual(readdirSync(join(c.hosts.a!.stateDir, 'incoming', migration)), []);
  // the key still works for the real stream after all that, and a cancel spends it
  assert.deepEqual(await cl.call('cancel', { migration }), { cancelled: true, outcome: 'discarded' });
  const spent = await attempt({ migration, key, link: 'pre-1', kind: 'pre-dump' });
  assert.match(spent.message, /no migration is expected/);
  cl.close();
  await stillServes(c, 'a');
});

test('with certificates, agents speak TLS both ways and refuse a client without one', async (t) => {
  const c = await simulatedHosts(t, ['a', 'b'], { tls: true });
  assert.match(c.hosts.a!.url, /^wss:/);
  // no client certificate
  const noCert = await AgentClient.connect(c.hosts.a!.url, { token: c.token, tls: { ...c.tls!, cert: Buffer.alloc(0), key: Buffer.alloc(0) } }).then(() => null, (e: Error) => e);
  assert.ok(noCert, 'a client without a certificate got in');
  // plain WebSocket to a TLS agent
  const plain = await AgentClient.connect(c.hosts.a!.url.replace('wss:', 'ws:'), { token: c.token }).then(() => null, (e: Error) => e);
  assert.ok(plain, 'plain ws reached a TLS agent');
  await stillServes(c, 'a');
  // agent to agent over TLS: a pre-dump link
  if (!probeTracking().uffd) { t.diagnostic('pre-dump over TLS skipped: this kernel lacks userfaultfd WP_ASYNC with PAGEMAP_SCAN'); return; }
  const target = await c.launch('a', 'tls', [buildProgram('bigcounter'), '32']);
  const a = await c.client('a'), b = await c.client('b');
  const { migration, key } = (await b.call('expect', {})) as { migration: string; key: string };
  const link = (await a.call('predump', { pid: target.nsPid!, peer: { url: c.hosts.b!.url, migration, key } })) as { pagesBytes: number };
  assert.ok(link.pagesBytes >= 32 << 20);
  await a.call('cancel', { migration });
  await b.call('cancel', { migration });
  a.close(); b.close();
  await sleep(10);
});
