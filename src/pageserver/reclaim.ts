// Page data passes through large Buffers whose memory lives outside V8's heap; V8 frees it only
// when a collection finds them dead, and it starts one late when the JS heap itself stays small.
// A stream of gigabytes would then hold hundreds of megabytes of dead chunks. So the streams ask
// for a collection every RECLAIM_BYTES: a few milliseconds per gigabyte, and the agent's memory
// stays flat whatever the size of the process being moved.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const RECLAIM_BYTES = 128 << 20;

let gc: (() => void) | null | undefined;

function collector(): (() => void) | null {
  if (gc !== undefined) return gc;
  try {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  } catch {
    gc = null;
  }
  return gc;
}

/** Counts bytes that went through; collects once enough have. */
export class Reclaimer {
  private since = 0;
  add(bytes: number): void {
    this.since += bytes;
    if (this.since < RECLAIM_BYTES) return;
    this.since = 0;
    collector()?.();
  }
}
