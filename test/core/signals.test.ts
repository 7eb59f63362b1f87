// Signals and rseq (test/programs/signals.c): handlers and their flags, the blocked mask, pending
// and queued signals with their values, the alternate stack, an interval timer, rseq per thread.
import { test } from 'node:test';
import { roundTripProgram } from '../lib/programs.js';

test('signals: handlers, masks, pending and queued signals, rseq come back', (t) =>
  roundTripProgram(t, 'signals', {
    skipIf: (ready) => (/rseq=0/.test(ready) ? 'rseq is not available (glibc could not register it: CONFIG_RSEQ?)' : null),
  }));
