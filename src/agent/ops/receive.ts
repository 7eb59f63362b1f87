// `receive` on the destination: one link of an expected migration, written into the state
// directory as it arrives and read back whole before it counts. Only the link that follows the
// last one received is accepted, and its records may name nothing outside it.
import { renameSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { GodwitError, errorMessage } from '../../core/errors.js';
import { readRecord } from '../../core/image/store.js';
import { readImage, type Image, type KnownLinks } from '../../core/image/image.js';
import { checkSegments } from '../../core/image/page-streams.js';
import type { Inventory, Pagemap, Shmem } from '../../core/image/format.js';
import { FileSink, LinkReceiver, isImageFileName, type ReceiveStats } from '../../pageserver/receiver.js';
import type { OpArgs } from '../../pageserver/protocol.js';
import { progressReporter, type OpCall } from '../context.js';
import type { Incoming, Running } from '../registry.js';
import { buildEarly } from './restore.js';
import { collectGarbage } from '../../core/gc.js';

export async function receive(call: OpCall, run: Running, m: Incoming, args: OpArgs['receive']): Promise<ReceiveStats> {
  const { ctx } = call;
  const expectedParent = m.links[m.links.length - 1];
  if (m.links.includes('final')) throw new GodwitError(`migration ${m.id} already holds its final dump`);
  if (m.links.includes(args.link)) throw new GodwitError(`migration ${m.id} already holds link ${args.link}`);
  if (args.parent !== expectedParent) {
    throw new GodwitError(`link ${args.link} names parent ${args.parent ?? 'none'}, but the last link received is ${expectedParent ?? 'none'}`);
  }
  if ((args.kind === 'dump') !== (args.link === 'final')) throw new GodwitError(`link ${args.link} cannot be a ${args.kind}`);
  const partial = ctx.state.link('incoming', m.id, args.link, true);
  const final = ctx.state.link('incoming', m.id, args.link);
  const log = ctx.log.child({ op: 'receive', migration: m.id, link: args.link });
  const report = progressReporter(call, run.progress);
  m.receiving = args.link;
  const sink = new FileSink(partial);
  let settle!: (e: Error | null, files?: Array<{ index: number; size: number }>) => void;
  const ended = new Promise<Array<{ index: number; size: number }>>((resolve, reject) => {
    settle = (e, files) => (e ? reject(e) : resolve(files!));
  });
  let receiver!: LinkReceiver;
  const flow = call.takeStream({
    file: (index, name) => receiver.declare(index, name),
    chunk: (frame) => receiver.chunk(frame),
    end: (files) => settle(null, files),
    lost: (why) => settle(why),
  });
  receiver = new LinkReceiver(sink, flow, (s) => { run.progress.done = s.raw; run.progress.wire = s.wire; report(); });
  const onAbort = () => settle(new GodwitError('receive cancelled'));
  run.abort.signal.addEventListener('abort', onAbort);
  try {
    run.progress.phase = 'receiving';
    // the final link comes while the source is frozen: no collection of ours may fall in it
    if (args.kind === 'dump') collectGarbage();
    call.emit({ kind: 'ready' });
    const files = await ended;
    run.progress.phase = 'checking';
    await receiver.end(files);
    const read = verifyLink(partial, args.kind, expectedParent, m.known);
    renameSync(partial, final);
    // each link is read whole once: the final one's check and the restore start from these
    if (read.image) m.image = { ...read.image, dir: final };
    if (read.link) m.known.set(resolve(final), read.link);
    m.links.push(args.link);
    // built in the background while the next link streams; the restore waits for it
    if (read.link && m.buildAhead) m.builder?.add(final);
    if (args.kind === 'dump') buildEarly(ctx, m);
    m.touched = Date.now();
    run.progress.phase = 'done';
    report(true);
    log.info({ ...receiver.stats }, 'link received');
    return receiver.stats;
  } catch (e) {
    receiver.discard();
    // a link that fails ends the migration (a coordinator rolls back, it does not retry), and a
    // cut link may never bring the cancel: the seeds and their memory are not kept for it
    m.builder?.drop(`link ${args.link} failed`);
    log.warn({ err: errorMessage(e) }, 'link discarded');
    throw e;
  } finally {
    run.abort.signal.removeEventListener('abort', onAbort);
    m.receiving = null;
    call.releaseStream();
  }
}

/** Read the link back: a complete image of its kind whose records name only its own files. */
function verifyLink(
  dir: string, kind: 'pre-dump' | 'dump', parent: string | undefined, known: KnownLinks,
): { image?: Image; link?: { inventory: Inventory; pagemaps: Map<number, Pagemap> } } {
  const inv = readRecord<Inventory>(dir, 'inventory.mpk', 'inventory');
  if ((inv.kind ?? 'dump') !== kind) throw new GodwitError(`the link holds a ${inv.kind ?? 'dump'}, the sender said ${kind}`);
  const wantParent = parent ? `../${parent}` : undefined;
  if (inv.parent !== wantParent) throw new GodwitError(`the link's parent is ${inv.parent ?? 'none'}, expected ${wantParent ?? 'none'}`);
  const files = new Set(readdirSync(dir));
  const named = (f: string) => {
    if (!isImageFileName(f) || !files.has(f)) throw new GodwitError(`the link's records name a file '${f.slice(0, 80)}' it does not hold`);
  };
  const pagemaps = readdirSync(dir).filter((f) => /^pagemap-\d+\.mpk$/.test(f)).map((f) => readRecord<Pagemap>(dir, f, 'pagemap'));
  for (const pm of pagemaps) for (const s of pm.segments) named(s.file);
  if (kind === 'pre-dump') {
    for (const pm of pagemaps) checkSegments(dir, pm.segments);
    return { link: { inventory: inv, pagemaps: new Map(pagemaps.map((pm) => [pm.pid, pm])) } };
  }
  for (const o of readRecord<Shmem>(dir, 'shmem.mpk', 'shmem').objects) for (const s of o.segments) named(s.file);
  return { image: readImage(dir, known) }; // every record and segment, and the chain behind it
}
