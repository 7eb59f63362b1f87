// When pre-copy stops: after each link, the pages dirtied since it began are what the next link
// (or the final dump) must carry. Freeze when they fit the downtime target at the bandwidth
// measured (QEMU's rule), once links stop halving or the rest is a few milliseconds; when the tree dirties memory faster than the link carries it, ask for
// it to be slowed down step by step (auto-converge: 20%, then +10% a step, as QEMU does); stop
// iterating at the bounds whatever happens, and say why.

export interface ConvergeOptions {
  maxDowntimeMs: number;
  maxIterations: number;
  /** pre-copy gives up converging after this long and freezes anyway */
  maxPrecopyMs: number;
  autoConverge: boolean;
}

export interface LinkSample {
  /** page bytes the link carried */
  bytes: number;
  /** from the start of the link (its short freeze) to the destination holding it */
  ms: number;
  /** page data per second while streaming */
  bandwidth: number;
}

export type Verdict =
  /** `bound`: a limit (iterations, time) says so, not the estimate */
  | { action: 'freeze'; why: string; bound?: true }
  | { action: 'iterate'; throttle?: number };

export interface Estimate {
  /** bytes per second the tree dirties, seen over the last link */
  dirtyRate: number;
  bandwidth: number;
  /** what the final dump would carry if frozen now, and how long that would take */
  expectedBytes: number;
  expectedDowntimeMs: number;
}

export const THROTTLE_INITIAL = 20, THROTTLE_STEP = 10, THROTTLE_MAX = 99;
/** a final dump this quick to carry is not worth another link */
export const QUICK_MS = 10;

export class Convergence {
  private links: LinkSample[] = [];
  private highDirty = 0;
  throttle = 0;

  constructor(private o: ConvergeOptions, private started = performance.now()) {}

  /**
   * The dirty rate of link k is what it carried over the time since link k-1 began (the pages
   * written meanwhile); the next link carries about that rate times link k's own duration.
   */
  estimate(): Estimate {
    const n = this.links.length;
    const last = this.links[n - 1]!;
    const prev = this.links[n - 2];
    const bandwidth = Math.max(1, last.bandwidth || (prev?.bandwidth ?? 1));
    const dirtyRate = prev ? last.bytes / Math.max(0.001, prev.ms / 1000) : 0;
    const expectedBytes = n === 1 ? last.bytes : Math.round(dirtyRate * (last.ms / 1000));
    return { dirtyRate, bandwidth, expectedBytes, expectedDowntimeMs: (expectedBytes / bandwidth) * 1000 };
  }

  /**
   * Pre-copy paused `ms` after the last link (the destination was still building): the next link
   * carries what was dirtied meanwhile too, which says nothing about converging.
   */
  waited(ms: number): void {
    const last = this.links[this.links.length - 1];
    if (last) last.ms += ms;
    this.highDirty = 0;
  }

  /** Time left before --max-precopy. */
  leftMs(): number { return this.o.maxPrecopyMs - (performance.now() - this.started); }

  add(link: LinkSample): Verdict {
    this.links.push(link);
    const n = this.links.length;
    if (n < 2) return { action: 'iterate' }; // the first link is everything; only the second shows the dirty rate
    const e = this.estimate();
    if (e.expectedDowntimeMs <= this.o.maxDowntimeMs) {
      // the destination builds each link into the tree as it comes, and the restore waits for the
      // last one: it has to be small too, or building it becomes downtime
      const lastMs = (link.bytes / e.bandwidth) * 1000;
      // QEMU freezes as soon as the rest fits; while links still halve, one more is cheap and
      // shrinks the freeze further, down to a few milliseconds of transfer
      const halving = e.expectedBytes < link.bytes / 2 && e.expectedDowntimeMs > QUICK_MS;
      if (lastMs <= this.o.maxDowntimeMs && !halving) {
        return { action: 'freeze', why: `the rest fits the downtime target (${e.expectedDowntimeMs.toFixed(1)} ms ≤ ${this.o.maxDowntimeMs} ms)` };
      }
    }
    if (n >= this.o.maxIterations) return { action: 'freeze', bound: true, why: `${n} iterations, the most allowed (--max-iterations); expected downtime ${e.expectedDowntimeMs.toFixed(0)} ms` };
    if (performance.now() - this.started > this.o.maxPrecopyMs) return { action: 'freeze', bound: true, why: `pre-copy ran ${(this.o.maxPrecopyMs / 1000).toFixed(0)} s without converging; expected downtime ${e.expectedDowntimeMs.toFixed(0)} ms` };
    // QEMU's test: the link carried more than half of what the one before it did, twice in a row
    const prev = this.links[n - 2]!;
    this.highDirty = link.bytes > prev.bytes / 2 ? this.highDirty + 1 : 0;
    // once throttling, every link that still fails the test takes another step
    if (this.o.autoConverge && this.highDirty >= (this.throttle ? 1 : 2) && this.throttle < THROTTLE_MAX) {
      this.highDirty = 0;
      this.throttle = this.throttle === 0 ? THROTTLE_INITIAL : Math.min(THROTTLE_MAX, this.throttle + THROTTLE_STEP);
      return { action: 'iterate', throttle: this.throttle };
    }
    return { action: 'iterate' };
  }
}
