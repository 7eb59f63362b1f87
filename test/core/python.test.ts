// A real interpreter (test/programs/bigpy.py): Python 3 holding a 200 MB structure and a counter
// thread keeps both.
import { test } from 'node:test';
import { join } from 'node:path';
import { PROGRAMS } from '../lib/harness.js';
import { roundTripProgram } from '../lib/programs.js';

test('python: 200 MB of objects and a counting thread come back', (t) =>
  roundTripProgram(t, 'python', { cmd: ['python3', join(PROGRAMS, 'bigpy.py')], timeoutMs: 60_000 }));
