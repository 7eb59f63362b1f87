// An image directory read as a whole, every record checked before a restore starts.
import { existsSync, statSync } from 'node:fs';
import { readRecord } from './store.js';
import { IMAGE_ARCH, type Files, type Inventory, type Pagemap, type ProcessCore, type Pstree, type Shmem } from './format.js';
import { GodwitError, ImageError } from '../errors.js';
import { checkSegments } from './page-streams.js';

export interface Image {
  dir: string;
  inventory: Inventory;
  pstree: Pstree;
  cores: Map<number, ProcessCore>;
  pagemaps: Map<number, Pagemap>;
  files: Files;
  shmem: Shmem;
}

export function readImage(dir: string): Image {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new GodwitError(`image directory ${dir} does not exist`, 2);
  if (!existsSync(`${dir}/inventory.mpk`)) {
    throw new ImageError(`${dir}/inventory.mpk`, 'missing: this is not a godwit image, or its dump did not finish');
  }
  const inventory = readRecord<Inventory>(dir, 'inventory.mpk', 'inventory');
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
  return { dir, inventory, pstree, cores, pagemaps, files: readRecord<Files>(dir, 'files.mpk', 'files'), shmem };
}
