// Page data passes through large Buffers whose memory lives outside V8's heap; V8 frees it only
// when a collection finds them dead, and it starts one late when the JS heap itself stays small.
// A stream of gigabytes would then hold hundreds of megabytes of dead chunks. So the streams ask
// for a collection every RECLAIM_BYTES, and then for malloc to hand back what that freed (lz4's
// output and the socket's messages come in many sizes, and the heap fragments): a few
// milliseconds per gigabyte, and the agent's memory stays flat whatever the size of the process.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { trimHeap } from '../core/sys/libc.js';

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
  /** `bytes` of data went through, and `garbage` bytes of short-lived Buffers were made for it */
  add(bytes: number, garbage = 0): void {
    // lz4's output lives in its own allocator, which only a collection frees: it counts 4 times
    this.since += bytes + 3 * garbage;
    if (this.since < RECLAIM_BYTES) return;
    this.since = 0;
    collector()?.();
    trimHeap();
  }
}
