// A full garbage collection on demand, before a freeze. Streaming a link allocates hundreds of
// 4 MiB buffers, and V8 answers that external memory with mark-compact collections whose pauses
// (5 to 25 ms on these machines) would otherwise fall inside the downtime. Collecting just before
// the freeze leaves none due until long after the tree runs again.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null | undefined;

/** Collect now; does nothing where the runtime will not expose its collector. */
export function collectGarbage(): void {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    } catch {
      gc = null;
    }
  }
  gc?.();
}
