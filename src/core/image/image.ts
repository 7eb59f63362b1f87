// An image directory read as a whole, every record checked before a restore starts.
import { existsSync, statSync, readdirSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { readRecord } from './store.js';
import { IMAGE_ARCH, type Files, type Inventory, type Pagemap, type ProcessCore, type Pstree, type Shmem, type Ipc } from './format.js';
import { GodwitError, ImageError } from '../errors.js';
import { checkSegments } from './page-streams.js';

/** An older link of a pre-dump chain: its directory and the pages it holds per process. */
export interface Layer { dir: string; pagemaps: Map<number, Pagemap> }

/** A pre-dump link already read and checked, by its resolved directory: not read again. */
export type KnownLinks = Map<string, { inventory: Inventory; pagemaps: Map<number, Pagemap> }>;

export interface Image {
  /** older links first; the image's own pagemaps are not among them */
  chain: Layer[];
  dir: string;
  inventory: Inventory;
  pstree: Pstree;
  cores: Map<number, ProcessCore>;
  pagemaps: Map<number, Pagemap>;
  files: Files;
  shmem: Shmem;
  ipc: Ipc;
}

export function readImage(dir: string, known?: KnownLinks): Image {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new GodwitError(`image directory ${dir} does not exist`, 2);
  if (!existsSync(`${dir}/inventory.mpk`)) {
    throw new ImageError(`${dir}/inventory.mpk`, 'missing: this is not a godwit image, or its dump did not finish');
  }
  const inventory = readRecord<Inventory>(dir, 'inventory.mpk', 'inventory');
  if (inventory.kind === 'pre-dump') {
    throw new ImageError(`${dir}/inventory.mpk`, 'is a pre-dump (memory only): restore from the final dump of its chain');
  }
  if (inventory.arch !== IMAGE_ARCH) throw new ImageError(`${dir}/inventory.mpk`, `made on ${inventory.arch}, this host is ${IMAGE_ARCH}`);
  const pstree = readRecord<Pstree>(dir, 'pstree.mpk', 'pstree');
  const cores = new Map<number, ProcessCore>();
  const pagemaps = new Map<number, Pagemap>();
  for (const e of pstree.entries) {
    if (e.zombie) continue;
    const core = readRecord<ProcessCore>(dir, `core-${e.pid}.mpk`, 'core');
    if (core.pid !== e.pid) throw new ImageError(`${dir}/core-${e.pid}.mpk`, `describes PID ${core.pid}`);
    cores.set(e.pid, core);
    pagemaps.set(e.pid, readRecord<Pagemap>(dir, `pagemap-${e.pid}.mpk`, 'pagemap'));
  }
  const shmem = readRecord<Shmem>(dir, 'shmem.mpk', 'shmem');
  for (const pm of pagemaps.values()) checkSegments(dir, pm.segments);
  for (const o of shmem.objects) checkSegments(dir, o.segments);
  const ipc = readIpc(dir, cores);
  return { dir, inventory, pstree, cores, pagemaps, files: readRecord<Files>(dir, 'files.mpk', 'files'), shmem, ipc, chain: readChain(dir, inventory, known) };
}

/** ipc.mpk, checked: every segment a VMA attaches is there, and contents fit their segment. */
function readIpc(dir: string, cores: Map<number, ProcessCore>): Ipc {
  const file = `${dir}/ipc.mpk`;
  const ipc = readRecord<Ipc>(dir, 'ipc.mpk', 'ipc');
  if (!Array.isArray(ipc.shm) || !Array.isArray(ipc.sem) || !Array.isArray(ipc.msg)) throw new ImageError(file, 'is not a list of System V objects');
  const sizes = new Map(ipc.shm.map((s) => [s.id, s.size]));
  for (const s of ipc.shm) {
    for (const p of s.pages) if (p.offset < 0 || p.offset + p.data.length > s.size) throw new ImageError(file, `segment ${s.id}: contents at ${p.offset} beyond its ${s.size} bytes`);
  }
  for (const c of cores.values()) {
    for (const v of c.mm.vmas) {
      if (v.kind === 'sysv' && (!v.sysv || !sizes.has(v.sysv.id))) throw new ImageError(file, `process ${c.pid} attaches System V segment ${v.sysv?.id ?? '?'}, which it does not hold`);
    }
  }
  return ipc;
}

/** Follow the parent links of a dump down to the first pre-dump, checking every file on the way. */
function readChain(dir: string, inv: Inventory, known?: KnownLinks): Layer[] {
  const layers: Layer[] = [];
  const seen = new Set<string>([resolve(dir)]);
  for (let parent = inv.parent, from = dir; parent; ) {
    const d = resolve(from, parent);
    if (seen.has(d)) throw new ImageError(join(from, 'inventory.mpk'), 'its parent chain loops');
    seen.add(d);
    const k = known?.get(d);
    if (k) {
      layers.unshift({ dir: d, pagemaps: k.pagemaps });
      from = d;
      parent = k.inventory.parent;
      continue;
    }
    const pinv = readRecord<Inventory>(d, 'inventory.mpk', 'inventory');
    if (pinv.kind !== 'pre-dump') throw new ImageError(join(d, 'inventory.mpk'), 'is a parent link but not a pre-dump');
    const pagemaps = new Map<number, Pagemap>();
    for (const f of readdirSync(d).filter((x) => /^pagemap-\d+\.mpk$/.test(x))) {
      const pm = readRecord<Pagemap>(d, f, 'pagemap');
      checkSegments(d, pm.segments);
      pagemaps.set(pm.pid, pm);
    }
    layers.unshift({ dir: d, pagemaps });
    from = d;
    parent = pinv.parent;
  }
  return layers;
}
