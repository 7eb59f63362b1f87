// Connections that completed their handshake before the freeze wait in a listener's accept
// queue, where no restore can put them back (the kernel offers no way to queue a connection on a
// listener). The network lock holds the listener's port from the freeze on, so no new handshake
// completes: the tree is let run a moment to accept those that wait, and frozen again.
import { readlinkSync } from 'node:fs';
import { freezeTree, thawTree, type FrozenTree } from '../ptrace/freeze.js';
import { acceptBacklog } from './tcp.js';
import { logger } from '../log.js';

export const livePids = (tree: FrozenTree): number[] => [...tree.procs.values()].filter((p) => !p.zombie).map((p) => p.pid);

/** The tree's processes in godwit's own network namespace (the only ones whose sockets it moves). */
export function pidsHere(tree: FrozenTree): number[] {
  const mine = readlinkSync('/proc/thread-self/ns/net');
  return livePids(tree).filter((p) => readlinkSync(`/proc/${p}/ns/net`) === mine);
}

/**
 * Thaw the tree until its accept queues are empty (at most DRAIN_MS a round, DRAIN_ROUNDS rounds),
 * and freeze it again. Returns the tree frozen anew; one that did not accept meanwhile is left
 * for the dump to refuse, naming the listener.
 */
export async function drainAcceptQueues(tree: FrozenTree, root: number): Promise<FrozenTree> {
  const log = logger('dump');
  for (let round = 1; round <= DRAIN_ROUNDS; round++) {
    const t0 = performance.now();
    thawTree(tree);
    while (performance.now() - t0 < DRAIN_MS && acceptBacklog(pidsHere(tree)) > 0) await new Promise((r) => setTimeout(r, 1));
    tree = freezeTree(root);
    const left = acceptBacklog(pidsHere(tree));
    log.debug({ round, left, ms: Math.round(performance.now() - t0) }, 'accept queues drained');
    if (!left) break;
  }
  return tree;
}
const DRAIN_ROUNDS = 3, DRAIN_MS = 100;
