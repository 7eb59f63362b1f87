// The agent's state directory: the only place where anything that arrives over the network is
// written. Every path is built here from names the protocol module has already checked, and is
// checked again to lie inside the directory.
import { rm } from 'node:fs/promises';
import { mkdirSync, rmSync, existsSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { GodwitError } from '../core/errors.js';
import { isLinkName, isMigrationId } from '../pageserver/protocol.js';

export class StateDir {
  readonly root: string;

  constructor(dir: string) {
    this.root = resolve(dir);
    try {
      mkdirSync(this.root, { recursive: true, mode: 0o700 });
      if (!statSync(this.root).isDirectory()) throw new Error('not a directory');
    } catch (e) {
      throw new GodwitError(`state directory ${this.root}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2);
    }
    // what an earlier run received is of no use: its migrations died with it (outgoing links
    // first give their parked trackers back: see recover.ts)
    rmSync(join(this.root, 'incoming'), { recursive: true, force: true });
    mkdirSync(join(this.root, 'incoming'), { mode: 0o700 });
    mkdirSync(join(this.root, 'outgoing'), { recursive: true, mode: 0o700 });
  }

  /** Forget every outgoing migration of an earlier run. */
  clearOutgoing(): void {
    rmSync(join(this.root, 'outgoing'), { recursive: true, force: true });
    mkdirSync(join(this.root, 'outgoing'), { mode: 0o700 });
  }

  private inside(...parts: string[]): string {
    const p = resolve(this.root, ...parts);
    if (!p.startsWith(this.root + sep)) throw new GodwitError(`refusing path ${p}: outside the state directory`);
    return p;
  }

  migration(side: 'incoming' | 'outgoing', id: string): string {
    if (!isMigrationId(id)) throw new GodwitError(`bad migration id ${JSON.stringify(id).slice(0, 40)}`);
    return this.inside(side, id);
  }

  link(side: 'incoming' | 'outgoing', id: string, link: string, partial = false): string {
    if (!isLinkName(link)) throw new GodwitError(`bad link name ${JSON.stringify(link).slice(0, 40)}`);
    return this.inside(side, id, partial ? `${link}.partial` : link);
  }

  remove(side: 'incoming' | 'outgoing', id: string): void {
    const p = this.migration(side, id);
    if (existsSync(p)) rmSync(p, { recursive: true, force: true });
  }

  /** The same off the event loop: a GiB of images takes tens of milliseconds to delete. */
  async removeLater(side: 'incoming' | 'outgoing', id: string): Promise<void> {
    await rm(this.migration(side, id), { recursive: true, force: true });
  }
}
