// The builder of one incoming migration: a restorer process of its own (`godwit restore
// --builder`), started by the destination's agent when the migration is expected and driven by
// it over stdin/stdout (protocol.ts). It holds the tree's PIDs from then on (pidhold.ts), grows
// the seeds at the first link and builds their memory link after link while pre-copy runs
// (prebuild.ts), builds the tree from the final dump and holds it stopped until told to run it.
//
// Why a process and not the agent: ptrace ties a tree to the thread that traces it and building
// a large tree takes seconds of that thread, which the agent's event loop cannot give (its pings
// would stop); and a builder can live in a new PID namespace, where the tree keeps its PIDs
// whatever holds them on the host, with everything built ahead all the same. Its stdin closing
// (the agent gone) discards everything: the seeds die with it (PTRACE_O_EXITKILL), the held PIDs
// are free again.
import { createInterface } from 'node:readline';
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { lineReader } from '../pidns.js';
import { PidHolder } from '../pidhold.js';
import { Prebuild } from '../prebuild.js';
import { buildTree, type BuiltTree } from '../restore.js';
import { readImage, type KnownLinks } from '../image/image.js';
import { readRecord } from '../image/store.js';
import type { Inventory, Pagemap, Pstree } from '../image/format.js';
import type { RestorePeerOptions } from '../files/external.js';
import { errorMessage, PidTakenError } from '../errors.js';
import { logger } from '../log.js';
import { parseCommand, type FromBuilder } from './protocol.js';

export async function serveBuilder(label: string, peers: RestorePeerOptions, input: Readable, say: (m: FromBuilder) => void): Promise<number> {
  const log = logger('builder');
  const holder = PidHolder.start();
  const claim = (ids: number[]) => holder.release(ids);
  const prebuild = new Prebuild(label, claim);
  const known: KnownLinks = new Map();
  let linked = false, ran = false;
  let tree: BuiltTree | null = null;
  // every answer in the order of its command: each waits for the one before, and a command that
  // fails still gets its answer (the agent waits for one per command)
  let chain: Promise<void> = Promise.resolve();
  const then = (f: () => Promise<void>) => { chain = chain.then(f).catch((e: unknown) => say({ op: 'failed', why: errorMessage(e) })); };
  const lines = createInterface({ input });
  const next = lineReader(lines);
  let ended = false;
  try {
    while (!ended) {
      const line = await next();
      if (line === null) break;
      const c = parseCommand(line);
      switch (c.op) {
        case 'hold':
          then(async () => { say({ op: 'held', taken: await holder.hold(c.ids) }); });
          break;
        case 'link':
          then(async () => {
            const dir = resolve(c.dir);
            try {
              const link = readLink(dir);
              known.set(dir, link);
              // IDs new in this link (threads, backends) are kept free too; the seeds hold theirs
              const seeds = new Set(prebuild.seedPids);
              await holder.hold(link.entries.flatMap((e) => [e.pid, ...e.threads]).filter((id) => !seeds.has(id)));
              linked = true;
              await prebuild.add(dir, link.pagemaps);
            } catch (e) {
              prebuild.drop(`link ${dir} could not be read: ${errorMessage(e)}`);
            }
            say({ op: 'linked', ...prebuild.stats, ...(prebuild.dropped ? { dropped: prebuild.whyDropped } : {}) });
          });
          break;
        case 'drop':
          // now, not after the link being built: that is what a late build is dropped for
          prebuild.drop(c.why);
          break;
        case 'final':
          then(async () => {
            try {
              const dir = resolve(c.dir);
              tree = await buildTree({ dir, detach: true, pagesChecked: true, peers, claim, image: readImage(dir, known), ...(linked ? { prebuilt: prebuild } : {}) });
              say({ op: 'built', root: tree.root, restoreMs: tree.buildMs, keptBytes: tree.keptBytes, external: tree.external });
            } catch (e) {
              log.debug({ migration: label, err: errorMessage(e) }, 'the tree could not be built');
              say({ op: 'failed', why: errorMessage(e), ...(e instanceof PidTakenError ? { pidTaken: true } : {}) });
            }
          });
          break;
        case 'run':
        case 'discard': {
          const op = c.op;
          then(async () => {
            if (!tree) { say({ op: 'failed', why: 'there is no tree built to run' }); return; }
            if (op === 'run') {
              try { tree.run(); } catch (e) { say({ op: 'failed', why: errorMessage(e) }); return; }
              ran = true;
              say({ op: 'ran' });
            } else {
              tree.discard();
              say({ op: 'discarded' });
            }
            tree = null;
            ended = true;
          });
          await chain;
          break;
        }
      }
    }
    await chain;
  } finally {
    // the agent gone, or the tree let go or discarded: nothing of ours stays
    if (tree) (tree as BuiltTree).discard();
    if (!ran) prebuild.drop('the builder ends');
    holder.close();
    lines.close();
    input.destroy();
  }
  return 0;
}

/** A pre-dump link as the agent checked it: its inventory, its tree, its pages per process. */
function readLink(dir: string): { inventory: Inventory; entries: Pstree['entries']; pagemaps: Map<number, Pagemap> } {
  const pagemaps = new Map<number, Pagemap>();
  for (const f of readdirSync(dir).filter((x) => /^pagemap-\d+\.mpk$/.test(x))) {
    const pm = readRecord<Pagemap>(dir, f, 'pagemap');
    pagemaps.set(pm.pid, pm);
  }
  return { inventory: readRecord<Inventory>(dir, 'inventory.mpk', 'inventory'), entries: readRecord<Pstree>(dir, 'pstree.mpk', 'pstree').entries, pagemaps };
}
