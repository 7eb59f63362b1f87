// Page data passes through large Buffers whose memory lives outside V8's heap; V8 frees it only
// when a collection finds them dead, and it starts one late when the JS heap itself stays small.
// A stream of gigabytes would then hold hundreds of megabytes of dead chunks. So the streams ask
// for a young-generation collection every 32 MiB and a full one every 256 MiB, then for malloc to
// hand back what that freed (lz4's output and the socket's messages come in many sizes, and the
// heap fragments): some 60 ms per gigabyte, and the agent's memory stays flat whatever the size
// of the process.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { trimHeap } from '../core/sys/libc.js';

/** a young-generation collection (a fraction of a millisecond): the chunks' Buffers die young */
const MINOR_BYTES = 32 << 20;
/** a full one, and malloc_trim (some 12 ms) */
const MAJOR_BYTES = 256 << 20;

type Gc = (opts?: { type: 'minor' | 'major' }) => void;
let gc: Gc | null | undefined;

function collector(): Gc | null {
  if (gc !== undefined) return gc;
  try {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as Gc;
  } catch {
    gc = null;
  }
  return gc;
}

/** Counts bytes that went through; collects once enough have. */
export class Reclaimer {
  private minor = 0;
  private major = 0;
  /** `bytes` of data went through, and `garbage` bytes of short-lived Buffers were made for it */
  add(bytes: number, garbage = 0): void {
    // lz4's output lives in its own allocator, which only a collection frees: it counts 4 times
    const n = bytes + 3 * garbage;
    this.minor += n;
    this.major += n;
    if (this.major >= MAJOR_BYTES) {
      this.major = this.minor = 0;
      collector()?.();
      trimHeap();
    } else if (this.minor >= MINOR_BYTES) {
      this.minor = 0;
      collector()?.({ type: 'minor' });
    }
  }
}
