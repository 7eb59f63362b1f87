// System V message queues: every message in queue order with its type, read without taking it
// (msgrcv with MSG_COPY, which reads the n-th message and leaves the queue as it was), and the
// queue's owners, permissions and size limit (msg_qbytes).
import { readFileSync } from 'node:fs';
import { sys, sysTry, addr } from '../sys/libc.js';
import { NR } from '../sys/nr.js';
import { IPC, MSG, msgStat, msgSet, msgRemove } from '../sys/ipc.js';
import { SCRATCH_SIZE, type Injection } from '../ptrace/inject.js';
import type { SysvMsgEntry } from '../image/format.js';
import { GodwitError, UnsupportedError } from '../errors.js';
import { logger } from '../log.js';
import { asCreator, describeObject, setNextId } from './sysvipc.js';

const E2BIG = 7, ENOMSG = 42;
/** A message of this type is godwit's own, in the queue only while the tree is restored (see claimMsg). */
const MARKER = 0x7fffffffffffffffn;

function msgmax(): number {
  try { return Number(readFileSync('/proc/sys/kernel/msgmax', 'utf8').trim()); } catch { return 8192; }
}

export function dumpMsg(id: number, tree: ReadonlySet<number>, who: string): SysvMsgEntry {
  const st = msgStat(id);
  const what = describeObject('msg', st.perm.key, id);
  const buf = Buffer.alloc(8 + Math.max(msgmax(), 1));
  const messages: SysvMsgEntry['messages'] = [];
  for (let n = 0; n < st.qnum; n++) {
    const r = sysTry(NR.msgrcv, id, addr(buf), buf.length - 8, n, IPC.NOWAIT | MSG.COPY);
    if (r === -ENOMSG) break; // taken meanwhile by a process outside the tree
    if (r === -E2BIG) throw new UnsupportedError(`${who}: ${what} holds a message larger than msgmax (/proc/sys/kernel/msgmax)`);
    if (r < 0) throw new GodwitError(`${who}: cannot read ${what} (msgrcv MSG_COPY: errno ${-r}); the kernel needs CONFIG_CHECKPOINT_RESTORE`);
    messages.push({ type: buf.readBigInt64LE(0).toString(16), data: Buffer.from(buf.subarray(8, 8 + r)) });
  }
  return {
    id, key: st.perm.key, uid: st.perm.uid, gid: st.perm.gid, cuid: st.perm.cuid, cgid: st.perm.cgid, mode: st.perm.mode & 0o777,
    qbytes: st.qbytes, messages, lspid: tree.has(st.lspid) ? st.lspid : 0, lrpid: tree.has(st.lrpid) ? st.lrpid : 0,
  };
}

function encode(type: bigint, data: Uint8Array): Buffer {
  const b = Buffer.alloc(8 + data.length);
  b.writeBigInt64LE(type, 0);
  Buffer.from(data.buffer, data.byteOffset, data.length).copy(b, 8);
  return b;
}

/**
 * How the last sender and receiver come back (msgsnd and msgrcv set msg_lspid and msg_lrpid, so
 * the restorer would otherwise be both): the last message is sent by the process that was the
 * last sender, by remote syscall, and the last receiver takes a marker message of godwit's. A
 * later dump then still finds the queue the tree's.
 */
interface Claims { lastByTree: boolean; marker: boolean }
function claims(q: SysvMsgEntry): Claims {
  const lastByTree = q.lspid !== 0 && (q.messages.at(-1)?.data.length ?? 0) + 8 <= SCRATCH_SIZE - 64;
  const marker = q.lrpid !== 0 && !q.messages.some((m) => BigInt(`0x${m.type}`) === MARKER);
  return { lastByTree, marker };
}

export function createMsg(q: SysvMsgEntry): void {
  setNextId('msg', q.id);
  const id = asCreator(q.cuid, q.cgid, () => sys(`msgget(${describeObject('msg', q.key, q.id)})`, NR.msgget, q.key, IPC.CREAT | IPC.EXCL | q.mode));
  if (id !== q.id) {
    msgRemove(id);
    throw new GodwitError(`${describeObject('msg', q.key, q.id)} came back with id ${id}: its id is taken on this host`, 6);
  }
  msgSet(id, q.uid, q.gid, q.mode, q.qbytes);
  const c = claims(q);
  const upTo = c.lastByTree ? q.messages.length - 1 : q.messages.length;
  for (const m of q.messages.slice(0, upTo)) send(id, BigInt(`0x${m.type}`), m.data);
  // a marker sent now, before the last message, changes nothing once taken
  if (c.marker && !(c.lastByTree && !q.messages.length)) send(id, MARKER, new Uint8Array(0));
}

function send(id: number, type: bigint, data: Uint8Array): void {
  const b = encode(type, data);
  sys(`msgsnd(${id}, ${data.length} bytes)`, NR.msgsnd, id, addr(b), data.length, IPC.NOWAIT);
}

/**
 * Phase 1 in the last sender (`pid`: its PID in the image): its message, or for an empty queue
 * the marker. Should the process be refused, godwit sends the message itself: never lost.
 */
export function claimSend(inj: Injection, pid: number, q: SysvMsgEntry): void {
  if (q.lspid !== pid || !claims(q).lastByTree) return;
  const last = q.messages.at(-1);
  const b = last ? encode(BigInt(`0x${last.type}`), last.data) : encode(MARKER, new Uint8Array(0));
  inj.reset(16);
  const r = inj.thread().callRaw(NR.msgsnd, q.id, inj.put(b), b.length - 8, IPC.NOWAIT);
  if (r >= 0) return;
  logger('ipc').warn({ pid, id: q.id, errno: -r }, 'the last sender cannot send its message again; godwit sends it');
  sys(`msgsnd(${q.id})`, NR.msgsnd, q.id, addr(b), b.length - 8, IPC.NOWAIT);
}

/** Phase 2 in the last receiver: it takes the marker. */
export function claimReceive(inj: Injection, pid: number, q: SysvMsgEntry): void {
  if (q.lrpid !== pid || !claims(q).marker) return;
  inj.reset(16);
  const r = inj.thread().callRaw(NR.msgrcv, q.id, inj.space(16), 0, MARKER, IPC.NOWAIT);
  if (r < 0) logger('ipc').warn({ pid: inj.pid, id: q.id, errno: -r }, 'cannot make the process the last receiver of its queue');
}

/** After both phases: a marker still there (nobody in the tree took it, or its taker was refused) goes. */
export function finishMsg(q: SysvMsgEntry): void {
  const c = claims(q);
  if (!c.marker && !(c.lastByTree && !q.messages.length)) return;
  const b = Buffer.alloc(16);
  sysTry(NR.msgrcv, q.id, addr(b), 0, MARKER, IPC.NOWAIT);
}

export function removeMsg(id: number): number { return msgRemove(id); }
